package redis_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/redis/rueidis"

	"github.com/authv2/authv2/internal/redistest"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/redis"
	"github.com/authv2/authv2/store/storetest"
	"github.com/authv2/authv2/user"
)

func TestMain(m *testing.M) {
	// A cluster client closes connections its topology refresh replaced
	// five seconds later, on a goroutine of its own that outlives Close.
	goleak.VerifyTestMain(m, redistest.LeakOptions()...)
}

func TestConformanceMiniredis(t *testing.T) {
	t.Run("Session", func(t *testing.T) {
		storetest.RunSessionStore(t, func(t *testing.T) session.Store {
			_, c := redistest.Mini(t)
			return redis.NewSessionStore(c)
		})
	})
	t.Run("RateLimiter", func(t *testing.T) {
		storetest.RunRateLimiter(t, func(t *testing.T) user.RateLimiter {
			_, c := redistest.Mini(t)
			return redis.NewRateLimiter(c)
		})
	})
	t.Run("Challenge", func(t *testing.T) {
		storetest.RunChallengeStore(t, func(t *testing.T) mfa.ChallengeStore {
			_, c := redistest.Mini(t)
			return redis.NewChallengeStore(c)
		})
	})
	t.Run("ReplayGuard", func(t *testing.T) {
		storetest.RunReplayGuard(t, func(t *testing.T) mfa.ReplayGuard {
			_, c := redistest.Mini(t)
			return redis.NewReplayGuard(c)
		})
	})
}

func TestConformanceRedis(t *testing.T) {
	c := redistest.Client(t, []string{redistest.Addr(t)}, false)
	// One cleanup for all subtests: a SCAN costs what the whole server holds.
	base := redistest.Prefix(t)
	redistest.Clean(t, c, base)
	run(t, func(t *testing.T, opts ...redis.Option) (*redis.SessionStore, *redis.RateLimiter) {
		opts = append(opts, redis.WithKeyPrefix(base+redistest.Prefix(t)))
		return redis.NewSessionStore(c, opts...), redis.NewRateLimiter(c, opts...)
	})
	runMFA(t, c, base)
}

func TestConformanceRedisCluster(t *testing.T) {
	c := redistest.Client(t, redistest.ClusterAddrs(t), false)
	// One cleanup for all subtests: a SCAN costs what the whole server holds.
	base := redistest.Prefix(t)
	redistest.Clean(t, c, base)
	run(t, func(t *testing.T, opts ...redis.Option) (*redis.SessionStore, *redis.RateLimiter) {
		opts = append(opts, redis.WithKeyPrefix(base+redistest.Prefix(t)))
		return redis.NewSessionStore(c, opts...), redis.NewRateLimiter(c, opts...)
	})
	runMFA(t, c, base)
}

func run(t *testing.T, mk func(t *testing.T, opts ...redis.Option) (*redis.SessionStore, *redis.RateLimiter)) {
	t.Run("Session", func(t *testing.T) {
		storetest.RunSessionStore(t, func(t *testing.T) session.Store { s, _ := mk(t); return s })
	})
	t.Run("RateLimiter", func(t *testing.T) {
		storetest.RunRateLimiter(t, func(t *testing.T) user.RateLimiter { _, l := mk(t); return l })
	})
}

// runMFA runs the challenge and replay-guard cases on c, each case under
// its own prefix below base.
func runMFA(t *testing.T, c rueidis.Client, base string) {
	prefix := func(t *testing.T) redis.Option { return redis.WithKeyPrefix(base + redistest.Prefix(t)) }
	t.Run("Challenge", func(t *testing.T) {
		storetest.RunChallengeStore(t, func(t *testing.T) mfa.ChallengeStore { return redis.NewChallengeStore(c, prefix(t)) })
	})
	t.Run("ReplayGuard", func(t *testing.T) {
		storetest.RunReplayGuard(t, func(t *testing.T) mfa.ReplayGuard { return redis.NewReplayGuard(c, prefix(t)) })
	})
}
