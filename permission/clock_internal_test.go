package permission

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCoarseClockSleepsWhenIdleAndWakes(t *testing.T) {
	c := newCoarseClock()
	c.idle = 5
	w1, m1 := c.now()
	require.True(t, c.running.Load())
	assert.InDelta(t, time.Now().UnixNano(), w1, float64(50*time.Millisecond))
	require.Eventually(t, func() bool { return !c.running.Load() }, 2*time.Second, time.Millisecond, "goroutine exits when unused")
	w2, m2 := c.now()
	assert.True(t, c.running.Load(), "a read wakes it")
	assert.Greater(t, w2, w1)
	assert.Greater(t, m2, m1)
	c.close()
	assert.False(t, c.running.Load())
	w3, _ := c.now()
	assert.False(t, c.running.Load(), "closed clocks stay asleep")
	assert.GreaterOrEqual(t, w3, w2)
}
