package redis

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/authv2/authv2/user"
)

// RateLimiter is a user.RateLimiter on Redis: a sorted set of event times
// per key, trimmed to the window and to limit entries, expiring with the
// window.
type RateLimiter struct {
	c   rueidis.Client
	cfg config
}

var _ user.RateLimiter = (*RateLimiter)(nil)

// NewRateLimiter returns a rate limiter on client.
func NewRateLimiter(client rueidis.Client, opts ...Option) *RateLimiter {
	return &RateLimiter{c: client, cfg: newConfig(opts)}
}

func (l *RateLimiter) key(k string) string { return l.cfg.prefix + "rl:{" + k + "}" }

// hitScript: KEYS set; ARGV now, window start, limit, member, pexpireat.
var hitScript = rueidis.NewLuaScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
local limit = tonumber(ARGV[3])
if limit > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(limit + 1)) end
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return redis.call('ZCARD', KEYS[1])
`)

// countScript: KEYS set; ARGV window start. Returns count and oldest score.
var countScript = rueidis.NewLuaScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then return {0, '0'} end
return {redis.call('ZCARD', KEYS[1]), first[2]}
`)

// Hit implements user.RateLimiter.
func (l *RateLimiter) Hit(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (int, error) {
	// The member must be unique per event: the time plus a counter-free
	// random suffix would do, but the time in micros and the key's cardinality
	// collide only for two events in the same microsecond, which the
	// nanosecond part separates.
	member := strconv.FormatInt(now.UnixNano(), 10) + ":" + strconv.FormatInt(time.Now().UnixNano(), 36)
	n, err := hitScript.Exec(ctx, l.c, []string{l.key(key)}, []string{micros(now), micros(now.Add(-window)),
		strconv.Itoa(limit), member, pexpireAt(now.Add(window))}).AsInt64()
	if err != nil {
		return 0, translate("limiter.hit", err)
	}
	return int(n), nil
}

// Count implements user.RateLimiter.
func (l *RateLimiter) Count(ctx context.Context, key string, _ int, window time.Duration, now time.Time) (int, time.Time, error) {
	vals, err := countScript.Exec(ctx, l.c, []string{l.key(key)}, []string{micros(now.Add(-window))}).ToArray()
	if err != nil {
		return 0, time.Time{}, translate("limiter.count", err)
	}
	n, _ := vals[0].AsInt64()
	oldest, _ := vals[1].ToString()
	if n == 0 {
		return 0, time.Time{}, nil
	}
	f, _ := strconv.ParseFloat(oldest, 64)
	return int(n), time.UnixMicro(int64(f)).UTC(), nil
}

// Reset implements user.RateLimiter.
func (l *RateLimiter) Reset(ctx context.Context, key string) error {
	return translate("limiter.reset", l.c.Do(ctx, l.c.B().Del().Key(l.key(key)).Build()).Error())
}
