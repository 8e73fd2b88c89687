package redis

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/store"
)

// ChallengeStore is an mfa.ChallengeStore on Redis: one string key per
// challenge, set with NX and a PX expiry, taken with GETDEL (atomic on a
// single node and on a cluster: one key, one slot).
type ChallengeStore struct {
	c   rueidis.Client
	cfg config
}

var _ mfa.ChallengeStore = (*ChallengeStore)(nil)

// NewChallengeStore returns a challenge store on client.
func NewChallengeStore(client rueidis.Client, opts ...Option) *ChallengeStore {
	return &ChallengeStore{c: client, cfg: newConfig(opts)}
}

func (s *ChallengeStore) key(id string) string { return s.cfg.prefix + "mfa:ch:{" + id + "}" }

// storedChallenge is the JSON a challenge is kept as. The user and kind
// are bytes (base64 in JSON): a JSON string would turn invalid UTF-8 into
// U+FFFD, so that "u\xff" came back as another user's "u\uFFFD".
type storedChallenge struct {
	UserID    []byte `json:"u"`
	Kind      []byte `json:"k"`
	Data      []byte `json:"d"`
	ExpiresAt int64  `json:"e"` // Unix microseconds
}

// PutChallenge implements mfa.ChallengeStore.
func (s *ChallengeStore) PutChallenge(ctx context.Context, c *mfa.Challenge, now time.Time) error {
	// A struct of strings and bytes always marshals.
	v, _ := json.Marshal(storedChallenge{UserID: []byte(c.UserID), Kind: []byte(c.Kind), Data: c.Data, ExpiresAt: c.ExpiresAt.UnixMicro()})
	cmd := s.c.B().Set().Key(s.key(c.ID)).Value(string(v)).Nx().Px(ttl(c.ExpiresAt, now)).Build()
	err := s.c.Do(ctx, cmd).Error()
	if rueidis.IsRedisNil(err) {
		return store.ErrConflict // NX: a live key holds the ID
	}
	return translate("mfa.put_challenge", err)
}

// TakeChallenge implements mfa.ChallengeStore.
func (s *ChallengeStore) TakeChallenge(ctx context.Context, id string, now time.Time) (*mfa.Challenge, error) {
	v, err := s.c.Do(ctx, s.c.B().Getdel().Key(s.key(id)).Build()).ToString()
	if err != nil {
		return nil, translate("mfa.take_challenge", err)
	}
	var sc storedChallenge
	if err := json.Unmarshal([]byte(v), &sc); err != nil {
		return nil, store.Unavailable("mfa.take_challenge", err) // not ours: fail closed
	}
	c := &mfa.Challenge{ID: id, UserID: string(sc.UserID), Kind: string(sc.Kind), Data: sc.Data, ExpiresAt: time.UnixMicro(sc.ExpiresAt).UTC()}
	if !c.ExpiresAt.After(now) {
		return nil, store.ErrNotFound // Redis's clock has not expired it yet; the caller's has
	}
	return c, nil
}

// ReplayGuard is an mfa.ReplayGuard on Redis: one key per guarded key
// holding the counter and its expiry, advanced by a script.
type ReplayGuard struct {
	c   rueidis.Client
	cfg config
}

var _ mfa.ReplayGuard = (*ReplayGuard)(nil)

// NewReplayGuard returns a replay guard on client.
func NewReplayGuard(client rueidis.Client, opts ...Option) *ReplayGuard {
	return &ReplayGuard{c: client, cfg: newConfig(opts)}
}

func (g *ReplayGuard) key(k string) string { return g.cfg.prefix + "mfa:rg:{" + k + "}" }

// advanceScript: KEYS guard; ARGV counter, expiresAt (µs), now (µs),
// TTL (ms). The record's own expiry is compared with the caller's now, as
// the other stores do; the TTL only collects it. Counters compare as Lua
// numbers (doubles): exact below 2^53, far above any TOTP step.
var advanceScript = rueidis.NewLuaScript(`
local cur = redis.call('HMGET', KEYS[1], 'c', 'e')
if cur[1] and tonumber(cur[2]) > tonumber(ARGV[3]) and tonumber(cur[1]) >= tonumber(ARGV[1]) then
	return 0
end
redis.call('HSET', KEYS[1], 'c', ARGV[1], 'e', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// Advance implements mfa.ReplayGuard in one script: atomic.
func (g *ReplayGuard) Advance(ctx context.Context, key string, counter int64, expiresAt, now time.Time) error {
	ok, err := advanceScript.Exec(ctx, g.c, []string{g.key(key)},
		[]string{strconv.FormatInt(counter, 10), micros(expiresAt), micros(now), strconv.FormatInt(ttl(expiresAt, now).Milliseconds(), 10)}).AsInt64()
	if err != nil {
		return translate("mfa.replay_advance", err)
	}
	if ok == 0 {
		return store.ErrConflict
	}
	return nil
}

// ttl is the time to live, in whole milliseconds (at least 1, which SET
// and PEXPIRE accept), of a key that expires at expiresAt as of the
// caller's now. Relative, not a PXAT deadline: Redis then forgets the key when the
// caller's clock reaches expiresAt, not when the server's does, which
// could be at once (a guard forgetting an accepted TOTP step) when the
// application's clock is behind the server's.
func ttl(expiresAt, now time.Time) time.Duration {
	return max(expiresAt.Sub(now)+time.Millisecond-1, time.Millisecond).Truncate(time.Millisecond)
}
