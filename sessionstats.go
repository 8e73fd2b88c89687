package authv2

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"sync"
	"time"

	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
)

// statsStaleFactor and minStatsStaleAfter bound how old the counts the
// stats cache serves may grow, and how long one read of the store may
// run: max(statsStaleFactor×maxAge, minStatsStaleAfter). Generous, since
// a read at a million sessions can take minutes, but finite, since a read
// that hangs (a PostgreSQL query without statement_timeout, a Redis
// partition) would otherwise leave the gauge showing its last counts
// through the whole outage.
const (
	statsStaleFactor   = 10
	minStatsStaleAfter = 5 * time.Minute
)

// statsStaleAfter is the bound above for a cache of maxAge.
func statsStaleAfter(maxAge time.Duration) time.Duration {
	if maxAge > math.MaxInt64/statsStaleFactor {
		return math.MaxInt64
	}
	return max(statsStaleFactor*maxAge, minStatsStaleAfter)
}

// statsCache serves the unfiltered session counts to the
// authv2.sessions.active gauge and to SessionStats(StatsFilter{}): a full
// session.Store.Stats costs what every stored session costs, and a
// metrics scrape, or several exporters scraping at once, must not pay
// that each time. The store is read at most once per maxAge, one read at
// a time, off the callers' goroutines. Once a read succeeded, callers do
// not wait while its counts are younger than staleAfter: past maxAge they
// get the last counts while the next read runs, since at a million
// sessions a read can outlast a scrape's timeout. Counts older than
// staleAfter are never served: a caller then waits for the read under
// way, as for the first read, unless that read has itself run for
// staleAfter, in which case it gets ErrStoreUnavailable at once. Each
// read is cancelled after staleAfter, so a hung read ends and the next
// caller starts a fresh one. A failed read drops the counts, so the next
// caller waits for a new read and sees its error rather than old counts
// for ever.
//
// A cache, not counters the flows maintain: sessions also end by expiry,
// which no flow sees, and a second instance's writes, which this one
// never hears of. A counter would drift; a cached read is exact as of
// its age.
type statsCache struct {
	maxAge     time.Duration
	staleAfter time.Duration // statsStaleAfter(maxAge); tests shorten it
	read       func(ctx context.Context, now time.Time) (session.Stats, error)
	// background runs a read off the caller's goroutine (the Manager's
	// untilClose, which Close waits for and which logs a failure). It
	// returns false, having started nothing, once the Manager is closed.
	background func(func(context.Context) error) bool

	mu     sync.Mutex
	st     session.Stats
	at     time.Time // when st was read; zero before the first success
	flight *statsFlight
}

// statsFlight is one store read in progress.
type statsFlight struct {
	done    chan struct{}
	started time.Time // the caller's now when it began
	st      session.Stats
	err     error
}

// errStatsStuck is the cause in the ErrStoreUnavailable get returns when
// a read has run for staleAfter and no younger counts exist.
var errStatsStuck = errors.New("the session count has not finished")

// get returns counts read at most maxAge before now, or, while a newer
// read is under way, the last ones if they are younger than staleAfter.
// The Stats it returns are shared with other callers: read them, never
// write them.
func (c *statsCache) get(ctx context.Context, now time.Time) (session.Stats, error) {
	if c.maxAge <= 0 {
		return c.read(ctx, now)
	}
	c.mu.Lock()
	age := now.Sub(c.at)
	// A clock that went back past the read also refreshes.
	if !c.at.IsZero() && age >= 0 && age < c.maxAge {
		st := c.st
		c.mu.Unlock()
		return st, nil
	}
	f := c.flight
	if f == nil {
		f = &statsFlight{done: make(chan struct{}), started: now}
		if !c.background(func(ctx context.Context) error { return c.fill(ctx, f, now) }) {
			// Closed: no goroutine may start, so read on the caller's.
			c.mu.Unlock()
			return c.read(ctx, now)
		}
		c.flight = f
	}
	if !c.at.IsZero() && age < c.staleAfter {
		st := c.st
		c.mu.Unlock()
		return st, nil
	}
	// Too old to serve: let the maps go.
	c.st, c.at = session.Stats{}, time.Time{}
	c.mu.Unlock()
	if ran := now.Sub(f.started); ran >= c.staleAfter {
		return session.Stats{}, store.Unavailable("session.stats",
			fmt.Errorf("%w after %s (the limit is %s)", errStatsStuck, ran, c.staleAfter))
	}
	select {
	case <-f.done:
		return f.st, f.err
	case <-ctx.Done():
		return session.Stats{}, ctx.Err()
	}
}

// fill runs the read of flight f, for at most staleAfter, keeps or drops
// its result and returns its error.
func (c *statsCache) fill(ctx context.Context, f *statsFlight, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, c.staleAfter)
	defer cancel()
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
