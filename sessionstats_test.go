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

func TestStatsCacheReadsOncePerMaxAge(t *testing.T) {
	var r countingStats
	c := &statsCache{maxAge: 15 * time.Second, read: r.read}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100 {
		st, err := c.get(t.Context(), t0.Add(time.Duration(i)*100*time.Millisecond))
		require.NoError(t, err)
		assert.Equal(t, 1, st.Live)
	}
	assert.Equal(t, int64(1), r.calls.Load(), "100 scrapes within maxAge read the store once")
	st, err := c.get(t.Context(), t0.Add(15*time.Second))
	require.NoError(t, err)
	assert.Equal(t, 2, st.Live, "at maxAge the store is read again")
	st, err = c.get(t.Context(), t0)
	require.NoError(t, err)
	assert.Equal(t, 3, st.Live, "a clock that went back reads again rather than trust the future")
}

func TestStatsCacheZeroMaxAgeReadsEveryTime(t *testing.T) {
	var r countingStats
	c := &statsCache{read: r.read}
	for range 3 {
		_, err := c.get(t.Context(), time.Now())
		require.NoError(t, err)
	}
	assert.Equal(t, int64(3), r.calls.Load())
}

func TestStatsCacheKeepsNoError(t *testing.T) {
	r := countingStats{err: errors.New("down")}
	c := &statsCache{maxAge: time.Hour, read: r.read}
	now := time.Now()
	_, err := c.get(t.Context(), now)
	require.ErrorIs(t, err, r.err)
	r.err = nil
	st, err := c.get(t.Context(), now)
	require.NoError(t, err, "a failed read is not served from the cache")
	assert.Equal(t, 2, st.Live)
}

func TestStatsCacheConcurrentCallersShareOneRead(t *testing.T) {
	r := countingStats{gate: make(chan struct{})}
	c := &statsCache{maxAge: time.Hour, read: r.read}
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
	defer close(r.gate)
	c := &statsCache{maxAge: time.Hour, read: r.read}
	go func() { _, _ = c.get(context.WithoutCancel(t.Context()), time.Now()) }()
	require.Eventually(t, func() bool { return r.calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := c.get(ctx, time.Now())
	assert.ErrorIs(t, err, context.DeadlineExceeded, "a scrape that gives up does not wait for another's read")
}
