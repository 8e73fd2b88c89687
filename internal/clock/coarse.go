package clock

import (
	"sync"
	"sync/atomic"
	"time"
)

// Coarse is the wall clock read from a copy refreshed every Period by a
// goroutine, for hot paths that stamp every call (an audited denial):
// time.Now costs about as much as a whole warm authorization check on
// common cloud VMs, an atomic load almost nothing. A reading is at most
// one period old (more if the goroutine is starved). The goroutine runs
// only while the clock is read: after Idle periods without a read it
// exits, and the next read starts it again, paying time.Now once.
//
// The authorization engine (its binding expiry and staleness bound) and
// the Manager's decision log both read one.
type Coarse struct {
	start  time.Time
	period time.Duration
	idle   int

	nanos   atomic.Int64 // unix nanoseconds of the last refresh
	mono    atomic.Int64 // nanoseconds since start at the last refresh, + 1 so 0 means "never"
	used    atomic.Bool
	running atomic.Bool

	mu     sync.Mutex
	closed bool
	quit   chan struct{}
	done   chan struct{}
}

// NewCoarse returns a coarse clock refreshed every period, whose
// goroutine exits after idle periods without a read.
func NewCoarse(period time.Duration, idle int) *Coarse {
	return &Coarse{start: time.Now(), period: period, idle: idle}
}

// Now returns the time of the last refresh, in UTC.
func (c *Coarse) Now() time.Time {
	wall, _ := c.Nanos()
	return time.Unix(0, wall).UTC()
}

// Nanos returns the last refresh as unix nanoseconds (wall) and as
// nanoseconds since the clock was made, plus one (mono: it never goes
// back when the wall clock is set, and is never 0).
func (c *Coarse) Nanos() (wall, mono int64) {
	if c.running.Load() {
		if !c.used.Load() {
			c.used.Store(true) // a store only when it changes: no shared write per read
		}
		return c.nanos.Load(), c.mono.Load()
	}
	return c.wake()
}

func (c *Coarse) read() (wall, mono int64) {
	t := time.Now()
	return t.UnixNano(), int64(t.Sub(c.start)) + 1
}

func (c *Coarse) wake() (wall, mono int64) {
	wall, mono = c.read()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.running.Load() {
		return wall, mono
	}
	c.nanos.Store(wall)
	c.mono.Store(mono)
	c.used.Store(true)
	c.quit, c.done = make(chan struct{}), make(chan struct{})
	c.running.Store(true)
	go c.loop(c.quit, c.done)
	return wall, mono
}

func (c *Coarse) loop(quit, done chan struct{}) {
	defer close(done)
	tk := time.NewTicker(c.period)
	defer tk.Stop()
	idle := 0
	for {
		select {
		case <-quit:
			return
		case <-tk.C:
			wall, mono := c.read()
			c.nanos.Store(wall)
			c.mono.Store(mono)
			if c.used.Swap(false) {
				idle = 0
				continue
			}
			if idle++; idle < c.idle {
				continue
			}
			c.mu.Lock()
			c.running.Store(false)
			c.mu.Unlock()
			return
		}
	}
}

// Close stops the goroutine for good and waits for it; later reads call
// time.Now.
func (c *Coarse) Close() {
	c.mu.Lock()
	c.closed = true
	done := c.done
	if c.running.Load() {
		close(c.quit)
		c.running.Store(false)
	}
	c.mu.Unlock()
	if done != nil {
		<-done
	}
}
