package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/internal/mfatest"
	"github.com/authv2/authv2/internal/redistest"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/store/redis"
)

// The MFA stores fail closed like the session store when Redis is gone.
func TestMFAStoresRedisDown(t *testing.T) {
	srv := redistest.NewServer(t)
	c := redistest.Client(t, []string{srv.Addr}, false)
	challenges, guard := redis.NewChallengeStore(c), redis.NewReplayGuard(c)
	srv.Kill()
	now := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, challenges.PutChallenge(ctx, &mfa.Challenge{ID: "c", ExpiresAt: now.Add(time.Minute)}, now), store.ErrUnavailable)
	_, err := challenges.TakeChallenge(ctx, "c", now)
	assert.ErrorIs(t, err, store.ErrUnavailable)
	assert.ErrorIs(t, guard.Advance(ctx, "k", 1, now.Add(time.Minute), now), store.ErrUnavailable)
}

// A challenge key that does not decode fails closed, and is gone.
func TestCorruptChallengeFailsClosed(t *testing.T) {
	_, c := redistest.Mini(t)
	s := redis.NewChallengeStore(c, redis.WithKeyPrefix("p:"))
	ctx := t.Context()
	require.NoError(t, c.Do(ctx, c.B().Set().Key("p:mfa:ch:{c1}").Value("garbage").Build()).Error())
	_, err := s.TakeChallenge(ctx, "c1", time.Now())
	assert.ErrorIs(t, err, store.ErrUnavailable)
	_, err = s.TakeChallenge(ctx, "c1", time.Now())
	assert.ErrorIs(t, err, store.ErrNotFound)
}

// Two instances, each with a client of its own, attack one TOTP code
// and its neighbours, and one challenge, on Redis and Redis Cluster.
func TestMFAReplayAcrossInstancesOnRedis(t *testing.T) {
	for name, addrs := range map[string]func(testing.TB) []string{
		"Redis":        func(t testing.TB) []string { return []string{redistest.Addr(t)} },
		"RedisCluster": redistest.ClusterAddrs,
	} {
		t.Run(name, func(t *testing.T) {
			a := addrs(t)
			c1, c2 := redistest.Client(t, a, false), redistest.Client(t, a, false)
			prefix := redistest.Prefix(t)
			redistest.Clean(t, c1, prefix)
			mfatest.TOTPReplayAcrossInstances(t, 300,
				redis.NewReplayGuard(c1, redis.WithKeyPrefix(prefix)), redis.NewReplayGuard(c2, redis.WithKeyPrefix(prefix)))
			mfatest.ChallengeRaceAcrossInstances(t, 300,
				redis.NewChallengeStore(c1, redis.WithKeyPrefix(prefix)), redis.NewChallengeStore(c2, redis.WithKeyPrefix(prefix)))
		})
	}
}

// A guard record lives until its expiresAt as of the caller's clock, as
// on the other stores: an application clock an hour behind the Redis
// server's (or a test's fake clock) must not make Redis forget the step
// at once, which would accept the same TOTP code again.
func TestReplayGuardExpiryFollowsTheCallersClock(t *testing.T) {
	c := redistest.Client(t, []string{redistest.Addr(t)}, false)
	prefix := redistest.Prefix(t)
	redistest.Clean(t, c, prefix)
	g := redis.NewReplayGuard(c, redis.WithKeyPrefix(prefix))
	for _, skew := range []time.Duration{-time.Hour, time.Hour} {
		now := time.Now().Add(skew)
		key := "totp:" + skew.String()
		require.NoError(t, g.Advance(t.Context(), key, 100, now.Add(90*time.Second), now))
		time.Sleep(50 * time.Millisecond)
		assert.ErrorIs(t, g.Advance(t.Context(), key, 100, now.Add(90*time.Second), now.Add(time.Second)), store.ErrConflict,
			"clock off by %s", skew)
	}
}
