package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/user"
)

// RateLimiterFactory returns a fresh, isolated user.RateLimiter.
type RateLimiterFactory func(t *testing.T) user.RateLimiter

// RunRateLimiter runs the user.RateLimiter conformance cases, grouped by method.
func RunRateLimiter(t *testing.T, newLimiter RateLimiterFactory) {
	method(t, "Hit", newLimiter, limiterHit)
	method(t, "Reserve", newLimiter, limiterReserve)
	method(t, "Release", newLimiter, limiterRelease)
	method(t, "Reset", newLimiter, limiterReset)
}

func limiterHit(t *testing.T, newLimiter RateLimiterFactory) {
	t.Run("SlidingWindow", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		w := time.Hour
		for i := range 3 {
			n, err := l.Hit(ctx(t), "ip:1", 10, w, base.Add(time.Duration(i)*10*time.Minute))
			require.NoError(t, err)
			assert.Equal(t, i+1, n)
		}
		n, oldest, err := l.Count(ctx(t), "ip:1", 10, w, base.Add(30*time.Minute))
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		assertTimeEqual(t, base, oldest)
		n, oldest, err = l.Count(ctx(t), "ip:1", 10, w, base.Add(65*time.Minute))
		require.NoError(t, err)
		assert.Equal(t, 2, n, "the first event left the window")
		assertTimeEqual(t, base.Add(10*time.Minute), oldest)
		n, _, err = l.Count(ctx(t), "ip:2", 10, w, base)
		require.NoError(t, err)
		assert.Zero(t, n, "keys are independent")
	})
	t.Run("CapsAtLimit", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		var n int
		var err error
		for i := range 8 {
			n, err = l.Hit(ctx(t), "k", 5, time.Hour, base.Add(time.Duration(i)*time.Second))
			require.NoError(t, err)
		}
		assert.Equal(t, 5, n)
		_, oldest, err := l.Count(ctx(t), "k", 5, time.Hour, base.Add(10*time.Second))
		require.NoError(t, err)
		assertTimeEqual(t, base.Add(3*time.Second), oldest)
	})
	t.Run("ConcurrentHitsAreCounted", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		const n = 300
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, err := l.Hit(ctx(t), "k", 1000, time.Hour, base.Add(time.Duration(i)*time.Microsecond))
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		got, _, err := l.Count(ctx(t), "k", 1000, time.Hour, base.Add(time.Second))
		require.NoError(t, err)
		assert.Equal(t, n, got)
	})
}

func limiterReserve(t *testing.T, newLimiter RateLimiterFactory) {
	t.Run("UpToLimit", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		w := time.Hour
		for i := range 3 {
			ok, _, err := l.Reserve(ctx(t), "k", 3, w, base.Add(time.Duration(i)*time.Minute))
			require.NoError(t, err)
			require.True(t, ok, "reservation %d is under the limit", i+1)
		}
		ok, retryAt, err := l.Reserve(ctx(t), "k", 3, w, base.Add(10*time.Minute))
		require.NoError(t, err)
		assert.False(t, ok, "the limit is reached")
		assertTimeEqual(t, base.Add(w), retryAt)
		n, _, err := l.Count(ctx(t), "k", 3, w, base.Add(10*time.Minute))
		require.NoError(t, err)
		assert.Equal(t, 3, n, "a refusal records nothing")
		ok, _, err = l.Reserve(ctx(t), "k", 3, w, base.Add(w+time.Second))
		require.NoError(t, err)
		assert.True(t, ok, "the window slides")
		ok, retryAt, err = l.Reserve(ctx(t), "k", 3, w, base.Add(w+2*time.Second))
		require.NoError(t, err)
		assert.False(t, ok)
		assertTimeEqual(t, base.Add(w+time.Minute), retryAt)
	})
	t.Run("ConcurrentReservationsNeverExceedLimit", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		const n, limit = 200, 10
		var wg sync.WaitGroup
		var mu sync.Mutex
		granted := 0
		for range n {
			wg.Go(func() {
				ok, _, err := l.Reserve(ctx(t), "k", limit, time.Hour, base)
				assert.NoError(t, err)
				if ok {
					mu.Lock()
					granted++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		assert.Equal(t, limit, granted, "exactly limit of %d racing reservations succeed", n)
		got, _, err := l.Count(ctx(t), "k", limit, time.Hour, base)
		require.NoError(t, err)
		assert.Equal(t, limit, got)
	})
}

func limiterRelease(t *testing.T, newLimiter RateLimiterFactory) {
	t.Run("GivesBackOne", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		w := time.Hour
		for i := range 2 {
			ok, _, err := l.Reserve(ctx(t), "k", 2, w, base.Add(time.Duration(i)*time.Minute))
			require.NoError(t, err)
			require.True(t, ok)
		}
		require.NoError(t, l.Release(ctx(t), "k", base.Add(time.Minute)))
		n, oldest, err := l.Count(ctx(t), "k", 2, w, base.Add(2*time.Minute))
		require.NoError(t, err)
		assert.Equal(t, 1, n, "the released event is gone")
		assertTimeEqual(t, base, oldest)
		ok, _, err := l.Reserve(ctx(t), "k", 2, w, base.Add(2*time.Minute))
		require.NoError(t, err)
		assert.True(t, ok, "the released place can be reserved again")
		require.NoError(t, l.Release(ctx(t), "k", base.Add(time.Minute)), "releasing what is gone is no error")
		require.NoError(t, l.Release(ctx(t), "unknown", base), "nor is releasing an unknown key")
	})
	t.Run("OfTwinsRemovesOne", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		for range 3 {
			ok, _, err := l.Reserve(ctx(t), "k", 5, time.Hour, base)
			require.NoError(t, err)
			require.True(t, ok)
		}
		require.NoError(t, l.Release(ctx(t), "k", base))
		n, _, err := l.Count(ctx(t), "k", 5, time.Hour, base)
		require.NoError(t, err)
		assert.Equal(t, 2, n, "events of the same instant are distinct")
	})
}

func limiterReset(t *testing.T, newLimiter RateLimiterFactory) {
	t.Run("ForgetsTheKey", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		_, err := l.Hit(ctx(t), "k", 5, time.Hour, base)
		require.NoError(t, err)
		require.NoError(t, l.Reset(ctx(t), "k"))
		n, _, err := l.Count(ctx(t), "k", 5, time.Hour, base)
		require.NoError(t, err)
		assert.Zero(t, n)
	})
}
