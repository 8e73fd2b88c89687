package authv2

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestKeyBlocksAreBounded: past its limit the per-instance block list
// makes room only from blocks that ended, and forgets a block once it
// has ended.
func TestKeyBlocksAreBounded(t *testing.T) {
	th := DefaultConfig().Throttle
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	ck := func(ip string) string { k, _ := th.clientKey(ip); return k }
	b := keyBlocks{limit: 2}
	b.block(ck("192.0.2.1"), now, now.Add(time.Minute))
	b.block(ck("192.0.2.2"), now, now.Add(2*time.Minute))
	b.block(ck("192.0.2.3"), now, now.Add(time.Minute))
	assert.EqualValues(t, 2, b.n.Load(), "full: nothing ended yet to make room")
	assert.Zero(t, b.blocked(th, "192.0.2.3", now))
	assert.Equal(t, time.Minute, b.blocked(th, "192.0.2.1", now))
	assert.Equal(t, time.Second, b.blocked(th, "192.0.2.1", now.Add(time.Minute-time.Millisecond)), "at least a second")

	later := now.Add(90 * time.Second)
	b.block(ck("192.0.2.3"), later, later.Add(time.Minute))
	assert.EqualValues(t, 2, b.n.Load(), "the ended block made room")
	assert.Positive(t, b.blocked(th, "192.0.2.3", later))
	assert.Positive(t, b.blocked(th, "192.0.2.2", later))
	assert.Zero(t, b.blocked(th, "192.0.2.2", now.Add(3*time.Minute)))
	assert.EqualValues(t, 1, b.n.Load(), "an ended block is forgotten when met")
	assert.Zero(t, b.blocked(th, "", later), "no address, no block")
}
