package authv2

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/session"
)

// countingStats is a statsCache read that counts its calls and answers
// Live = the call's number.
type countingStats struct {
	calls atomic.Int64
	gate  chan struct{} // when set, each read waits for it
	err   error
}

func (c *countingStats) read(ctx context.Context, _ time.Time) (session.Stats, error) {
	n := c.calls.Add(1)
	if c.gate != nil {
		select {
		case <-c.gate:
		case <-ctx.Done():
			return session.Stats{}, ctx.Err()
		}
	}
	if c.err != nil {
		return session.Stats{}, c.err
	}
	return session.Stats{Live: int(n)}, nil
}

// newStatsCache returns a cache over r whose background reads the test
// waits for before it ends.
func newStatsCache(t *testing.T, maxAge time.Duration, r *countingStats) *statsCache {
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	return &statsCache{maxAge: maxAge, staleAfter: statsStaleAfter(maxAge), read: r.read,
		background: func(f func(context.Context) error) bool {
			wg.Go(func() { _ = f(context.Background()) })
			return true
		}}
}

// settle waits until c has no read in flight.
func settle(t *testing.T, c *statsCache) {
	t.Helper()
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.flight == nil
	}, 5*time.Second, time.Millisecond)
}

func TestStatsCacheReadsOncePerMaxAge(t *testing.T) {
	var r countingStats
	c := newStatsCache(t, 15*time.Second, &r)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100 {
		st, err := c.get(t.Context(), t0.Add(time.Duration(i)*100*time.Millisecond))
		require.NoError(t, err)
		assert.Equal(t, 1, st.Live)
	}
	assert.Equal(t, int64(1), r.calls.Load(), "100 scrapes within maxAge read the store once")

	st, err := c.get(t.Context(), t0.Add(15*time.Second))
	require.NoError(t, err)
	assert.Equal(t, 1, st.Live, "at maxAge the last counts are served while the store is read again")
	settle(t, c)
	st, err = c.get(t.Context(), t0.Add(15*time.Second))
	require.NoError(t, err)
	assert.Equal(t, 2, st.Live)
	assert.Equal(t, int64(2), r.calls.Load())

	_, err = c.get(t.Context(), t0)
	require.NoError(t, err)
	settle(t, c)
	assert.Equal(t, int64(3), r.calls.Load(), "a clock that went back reads again rather than trust the future")
}

func TestStatsCacheServesTheLastCountsWhileReading(t *testing.T) {
	r := countingStats{gate: make(chan struct{}, 1)}
	r.gate <- struct{}{}
	c := newStatsCache(t, time.Second, &r)
	t0 := time.Now()
	st, err := c.get(t.Context(), t0)
	require.NoError(t, err)
	require.Equal(t, 1, st.Live)
	// The next read blocks until the gate opens: callers must not wait.
	for range 3 {
		st, err = c.get(t.Context(), t0.Add(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, 1, st.Live)
	}
	require.Eventually(t, func() bool { return r.calls.Load() == 2 }, 5*time.Second, time.Millisecond)
	time.Sleep(10 * time.Millisecond)
	assert.Equal(t, int64(2), r.calls.Load(), "one read in flight, however many callers")
	r.gate <- struct{}{}
	settle(t, c)
	st, err = c.get(t.Context(), t0.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 2, st.Live)
}

func TestStatsCacheZeroMaxAgeReadsEveryTime(t *testing.T) {
	var r countingStats
	c := newStatsCache(t, 0, &r)
	for range 3 {
		_, err := c.get(t.Context(), time.Now())
		require.NoError(t, err)
	}
	assert.Equal(t, int64(3), r.calls.Load())
}

func TestStatsCacheKeepsNoError(t *testing.T) {
	r := countingStats{err: errors.New("down")}
	c := newStatsCache(t, time.Minute, &r)
	t0 := time.Now()
	_, err := c.get(t.Context(), t0)
	require.ErrorIs(t, err, r.err)
	r.err = nil
	st, err := c.get(t.Context(), t0)
	require.NoError(t, err, "a failed read is not served from the cache")
	assert.Equal(t, 2, st.Live)

	r.err = errors.New("down again")
	st, err = c.get(t.Context(), t0.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 2, st.Live, "the last counts, while the refresh runs")
	settle(t, c)
	_, err = c.get(t.Context(), t0.Add(time.Minute))
	require.ErrorIs(t, err, r.err, "a failed refresh drops the counts: the store's failure shows, old counts do not linger")
}

func TestStatsCacheConcurrentCallersShareOneRead(t *testing.T) {
	r := countingStats{gate: make(chan struct{})}
	c := newStatsCache(t, time.Hour, &r)
	now := time.Now()
	var wg sync.WaitGroup
	got := make([]int, 8)
	for i := range got {
		wg.Go(func() {
			st, err := c.get(t.Context(), now)
			assert.NoError(t, err)
			got[i] = st.Live
		})
	}
	require.Eventually(t, func() bool { return r.calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(10 * time.Millisecond) // let the other callers reach the wait
	close(r.gate)
	wg.Wait()
	assert.Equal(t, int64(1), r.calls.Load(), "callers during a read wait for it")
	assert.Equal(t, []int{1, 1, 1, 1, 1, 1, 1, 1}, got)
}

func TestStatsCacheWaiterHonoursItsContext(t *testing.T) {
	r := countingStats{gate: make(chan struct{})}
	c := newStatsCache(t, time.Hour, &r)
	t.Cleanup(func() { close(r.gate) }) // before the cache's wait: cleanups run last first
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := c.get(ctx, time.Now())
	assert.ErrorIs(t, err, context.DeadlineExceeded, "a scrape that gives up does not wait for the read")
}

// TestStatsCacheStuckReadDoesNotServeOldCountsForever: the first read
// succeeds, the next one hangs (a store that never answers, a PostgreSQL
// query without statement_timeout, a Redis partition). Callers never wait
// once a read succeeded, so the gauge and SessionStats(StatsFilter{})
// answer the first counts, without error, however old they grow: a day
// later they still say Live=1 and nothing shows that the store is gone.
func TestStatsCacheStuckReadDoesNotServeOldCountsForever(t *testing.T) {
	r := countingStats{gate: make(chan struct{}, 1)}
	r.gate <- struct{}{} // the first read passes, the next one hangs
	c := newStatsCache(t, time.Minute, &r)
	// Cleanup runs before newStatsCache's wg.Wait (last registered, first run).
	t.Cleanup(func() { close(r.gate) })
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st, err := c.get(t.Context(), t0)
	require.NoError(t, err)
	require.Equal(t, 1, st.Live)

	_, _ = c.get(t.Context(), t0.Add(time.Minute)) // starts the read that hangs
	require.Eventually(t, func() bool { return r.calls.Load() == 2 }, 5*time.Second, time.Millisecond)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second) // so that waiting for the stuck read fails rather than hangs
	defer cancel()
	st, err = c.get(ctx, t0.Add(24*time.Hour))
	if err == nil {
		t.Fatalf("a day after the last successful read (a read stuck for 23h59m), get answers counts %+v without error", st)
	}
	require.ErrorIs(t, err, ErrStoreUnavailable, "at once, not after waiting for the stuck read")
	require.ErrorIs(t, err, errStatsStuck)

	r.gate <- struct{}{} // the stuck read ends; its counts are already too old
	settle(t, c)
	r.gate <- struct{}{}
	st, err = c.get(t.Context(), t0.Add(24*time.Hour))
	require.NoError(t, err, "a read that succeeds ends the error")
	assert.Equal(t, 3, st.Live)
}

// Counts past staleAfter are not served even with no read stuck (no
// caller for a long while): the caller waits for the fresh read.
func TestStatsCacheWaitsRatherThanServeCountsPastStaleAfter(t *testing.T) {
	var r countingStats
	c := newStatsCache(t, time.Minute, &r)
	limit := statsStaleAfter(time.Minute)
	require.Equal(t, 10*time.Minute, limit)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err := c.get(t.Context(), t0)
	require.NoError(t, err)

	st, err := c.get(t.Context(), t0.Add(limit-time.Nanosecond))
	require.NoError(t, err)
	assert.Equal(t, 1, st.Live, "just under the limit the last counts are served while the store is read")
	settle(t, c)

	st, err = c.get(t.Context(), t0.Add(limit-time.Nanosecond).Add(limit))
	require.NoError(t, err)
	assert.Equal(t, 3, st.Live, "past the limit the caller waits for the read")
}

// A read that hangs is cancelled after staleAfter, so the next caller
// starts a fresh one rather than wait behind it for ever.
func TestStatsCacheReadEndsAfterStaleAfter(t *testing.T) {
	r := countingStats{gate: make(chan struct{})}
	c := newStatsCache(t, time.Millisecond, &r)
	c.staleAfter = 50 * time.Millisecond
	t.Cleanup(func() { close(r.gate) })
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second) // the caller's, so that a hung read cannot hang the test
	defer cancel()
	_, err := c.get(ctx, now)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the read's own deadline ends it")
	settle(t, c)
	_, _ = c.get(t.Context(), now) // waits for the second read, which times out too
	assert.Equal(t, int64(2), r.calls.Load(), "the next caller started a fresh read")
}

func TestStatsCacheReadsInlineOnceClosed(t *testing.T) {
	var r countingStats
	c := &statsCache{maxAge: time.Minute, staleAfter: statsStaleAfter(time.Minute), read: r.read,
		background: func(func(context.Context) error) bool { return false }}
	for i := range 2 {
		st, err := c.get(t.Context(), time.Now())
		require.NoError(t, err)
		assert.Equal(t, i+1, st.Live, "nothing cached: no read may run in the background")
	}
	assert.Nil(t, c.flight, "no flight that nobody runs")
}
