package clock

import (
	"testing"
	"time"
)

// A coarse reading is at most about a period old, its goroutine exits
// after the idle periods and restarts on the next read, and Close stops
// it for good (later reads are time.Now).
func TestCoarse(t *testing.T) {
	c := NewCoarse(time.Millisecond, 5)
	before := time.Now()
	got := c.Now()
	if got.Before(before.Add(-time.Millisecond)) || got.Location() != time.UTC {
		t.Fatalf("first read %v, before it %v", got, before)
	}
	if !c.running.Load() {
		t.Fatal("the first read did not start the goroutine")
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.running.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the goroutine did not exit when idle")
		}
		time.Sleep(time.Millisecond)
	}
	w1, m1 := c.Nanos()
	if !c.running.Load() {
		t.Fatal("a read after idling did not restart the goroutine")
	}
	time.Sleep(5 * time.Millisecond)
	if w2, m2 := c.Nanos(); w2 <= w1 || m2 <= m1 || m1 <= 0 {
		t.Fatalf("readings did not move forward: wall %d then %d, mono %d then %d", w1, w2, m1, m2)
	}
	c.Close()
	if c.running.Load() {
		t.Fatal("running after Close")
	}
	before = time.Now()
	if got := c.Now(); got.Before(before) {
		t.Fatalf("after Close, read %v before %v", got, before)
	}
}
