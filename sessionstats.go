package authv2

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/authv2/authv2/session"
)

// statsCache serves the unfiltered session counts to the
// authv2.sessions.active gauge and to SessionStats(StatsFilter{}): a full
// session.Store.Stats costs what every stored session costs, and a
// metrics scrape, or several exporters scraping at once, must not pay
// that each time. The store is read at most once per maxAge, one read at
// a time, off the callers' goroutines. Once a first read succeeded,
// callers never wait: past maxAge they get the last counts while the next
// read runs, since at a million sessions a read can outlast a scrape's
// timeout. Only the first read is waited for. A failed read drops the
// counts, so the next caller waits for a new read and sees its error
// rather than old counts for ever.
//
// A cache, not counters the flows maintain: sessions also end by expiry,
// which no flow sees, and a second instance's writes, which this one
// never hears of. A counter would drift; a cached read is exact as of
// its age.
type statsCache struct {
	maxAge time.Duration
	read   func(ctx context.Context, now time.Time) (session.Stats, error)
	// background runs a read off the caller's goroutine (the Manager's
	// untilClose, which Close waits for and which logs a failure).
	background func(func(context.Context) error)

	mu     sync.Mutex
	st     session.Stats
	at     time.Time // when st was read; zero before the first success
	flight *statsFlight
}

// statsFlight is one store read in progress.
type statsFlight struct {
	done chan struct{}
	st   session.Stats
	err  error
}

// get returns counts read at most maxAge before now, or, while a newer
// read is under way, the last ones. The Stats it returns are shared with
// other callers: read them, never write them.
func (c *statsCache) get(ctx context.Context, now time.Time) (session.Stats, error) {
	if c.maxAge <= 0 {
		return c.read(ctx, now)
	}
	c.mu.Lock()
	// A clock that went back past the read also refreshes.
	if !c.at.IsZero() && !now.Before(c.at) && now.Sub(c.at) < c.maxAge {
		st := c.st
		c.mu.Unlock()
		return st, nil
	}
	f := c.flight
	if f == nil {
		f = &statsFlight{done: make(chan struct{})}
		c.flight = f
		c.background(func(ctx context.Context) error { return c.fill(ctx, f, now) })
	}
	if !c.at.IsZero() {
		st := c.st
		c.mu.Unlock()
		return st, nil
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.st, f.err
	case <-ctx.Done():
		return session.Stats{}, ctx.Err()
	}
}

// fill runs the read of flight f, keeps or drops its result and returns
// its error.
func (c *statsCache) fill(ctx context.Context, f *statsFlight, now time.Time) error {
	f.st, f.err = c.read(ctx, now)
	c.mu.Lock()
	if f.err == nil {
		c.st, c.at = f.st, now
	} else {
		c.st, c.at = session.Stats{}, time.Time{}
	}
	c.flight = nil
	c.mu.Unlock()
	close(f.done)
	if f.err != nil {
		return fmt.Errorf("counting sessions: %w", f.err)
	}
	return nil
}

// cloneStats returns st with maps of its own, for a caller that may
// change them.
func cloneStats(st session.Stats) session.Stats {
	st.ByTenant, st.ByUser, st.ByDevice = maps.Clone(st.ByTenant), maps.Clone(st.ByUser), maps.Clone(st.ByDevice)
	return st
}
