package redis_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/authv2/authv2/internal/redistest"
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
}

func run(t *testing.T, mk func(t *testing.T, opts ...redis.Option) (*redis.SessionStore, *redis.RateLimiter)) {
	t.Run("Session", func(t *testing.T) {
		storetest.RunSessionStore(t, func(t *testing.T) session.Store { s, _ := mk(t); return s })
	})
	t.Run("RateLimiter", func(t *testing.T) {
		storetest.RunRateLimiter(t, func(t *testing.T) user.RateLimiter { _, l := mk(t); return l })
	})
}
