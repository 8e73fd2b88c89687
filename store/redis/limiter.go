package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

// reserveScript: KEYS set; ARGV now, window start, limit, member,
// pexpireat. Returns 1 and '0' when it recorded, or 0 and the score of the
// limit-th newest event (when it leaves, a reservation fits).
var reserveScript = rueidis.NewLuaScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local limit = tonumber(ARGV[3])
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then
	local r = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
	return {0, r[2]}
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return {1, '0'}
`)

// releaseScript: KEYS set; ARGV score. Removes one member of that score.
var releaseScript = rueidis.NewLuaScript(`
local m = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1], 'LIMIT', 0, 1)
if #m > 0 then redis.call('ZREM', KEYS[1], m[1]) end
return #m
`)

// uniqueMember names one event: its time and 64 random bits, so two
// events of the same instant stay two members of the set.
func uniqueMember(now time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	return strconv.FormatInt(now.UnixNano(), 10) + ":" + hex.EncodeToString(b[:])
}

// Hit implements user.RateLimiter.
func (l *RateLimiter) Hit(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (int, error) {
	member := uniqueMember(now)
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

// Reserve implements user.RateLimiter in one script, so the count and the
// record are atomic.
func (l *RateLimiter) Reserve(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (bool, time.Time, error) {
	if limit <= 0 {
		return false, time.Time{}, nil // out of contract: nothing fits
	}
	vals, err := reserveScript.Exec(ctx, l.c, []string{l.key(key)}, []string{micros(now), micros(now.Add(-window)),
		strconv.Itoa(limit), uniqueMember(now), pexpireAt(now.Add(window))}).ToArray()
	if err != nil {
		return false, time.Time{}, translate("limiter.reserve", err)
	}
	if ok, _ := vals[0].AsInt64(); ok == 1 {
		return true, time.Time{}, nil
	}
	score, _ := vals[1].ToString()
	f, _ := strconv.ParseFloat(score, 64)
	return false, time.UnixMicro(int64(f)).UTC().Add(window), nil
}

// Release implements user.RateLimiter.
func (l *RateLimiter) Release(ctx context.Context, key string, at time.Time) error {
	err := releaseScript.Exec(ctx, l.c, []string{l.key(key)}, []string{micros(at)}).Error()
	return translate("limiter.release", err)
}

// Reset implements user.RateLimiter.
func (l *RateLimiter) Reset(ctx context.Context, key string) error {
	return translate("limiter.reset", l.c.Do(ctx, l.c.B().Del().Key(l.key(key)).Build()).Error())
}
