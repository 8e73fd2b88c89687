package authv2

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/authv2/authv2/session"
)

// statsCache serves the unfiltered session counts to the
// authv2.sessions.active gauge and to SessionStats(StatsFilter{}): a full
// session.Store.Stats costs what every stored session costs, and a
// metrics scrape, or several exporters scraping at once, must not pay
// that each time. The store is read at most once per maxAge: callers
// that arrive during a read wait for it and share its result. Errors are
// not kept, so the next caller tries again.
//
// A cache, not counters the flows maintain: sessions also end by expiry,
// which no flow sees, and a second instance's writes, which this one
// never hears of. A counter would drift; a cached read is exact as of
// its age.
type statsCache struct {
	maxAge time.Duration
	read   func(ctx context.Context, now time.Time) (session.Stats, error)

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

// get returns counts at most maxAge old at now. The Stats it returns are
// shared with other callers: read them, never write them.
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
		c.mu.Unlock()
		f.st, f.err = c.read(ctx, now)
		c.mu.Lock()
		if f.err == nil {
			c.st, c.at = f.st, now
		}
		c.flight = nil
		c.mu.Unlock()
		close(f.done)
		return f.st, f.err
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.st, f.err
	case <-ctx.Done():
		return session.Stats{}, ctx.Err()
	}
}

// cloneStats returns st with maps of its own, for a caller that may
// change them.
func cloneStats(st session.Stats) session.Stats {
	st.ByTenant, st.ByUser, st.ByDevice = maps.Clone(st.ByTenant), maps.Clone(st.ByUser), maps.Clone(st.ByDevice)
	return st
}
