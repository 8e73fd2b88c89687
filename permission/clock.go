package permission

import (
	"sync"
	"sync/atomic"
	"time"
)

// coarseClock keeps a copy of the clock, refreshed every millisecond by
// a goroutine, so a check reads two atomics instead of calling time.Now,
// which costs more than half the check's budget on common cloud VMs. The
// goroutine runs only while checks use it: after a second without a read
// it exits, and the next read starts it again (paying time.Now once).
type coarseClock struct {
	start  time.Time
	period time.Duration
	idle   int // ticks without a read before the goroutine exits

	wall    atomic.Int64 // unix nanoseconds
	mono    atomic.Int64 // nanoseconds since start, + 1 so 0 means "never"
	used    atomic.Bool
	running atomic.Bool

	mu     sync.Mutex
	closed bool
	quit   chan struct{}
	done   chan struct{}
}

func newCoarseClock() *coarseClock {
	return &coarseClock{start: time.Now(), period: time.Millisecond, idle: 1000}
}

// now returns the wall time in unix nanoseconds and the monotonic time
// since the clock was made, both at most one period old.
func (c *coarseClock) now() (wall, mono int64) {
	if c.running.Load() {
		if !c.used.Load() {
			c.used.Store(true)
		}
		return c.wall.Load(), c.mono.Load()
	}
	return c.wake()
}

func (c *coarseClock) read() (int64, int64) {
	t := time.Now()
	return t.UnixNano(), int64(t.Sub(c.start)) + 1
}

func (c *coarseClock) wake() (int64, int64) {
	w, m := c.read()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.running.Load() {
		return w, m
	}
	c.wall.Store(w)
	c.mono.Store(m)
	c.used.Store(true)
	c.quit, c.done = make(chan struct{}), make(chan struct{})
	c.running.Store(true)
	go c.loop(c.quit, c.done)
	return w, m
}

func (c *coarseClock) loop(quit, done chan struct{}) {
	defer close(done)
	tk := time.NewTicker(c.period)
	defer tk.Stop()
	idle := 0
	for {
		select {
		case <-quit:
			return
		case <-tk.C:
			w, m := c.read()
			c.wall.Store(w)
			c.mono.Store(m)
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

// close stops the goroutine for good and waits for it; later reads call
// time.Now.
func (c *coarseClock) close() {
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
