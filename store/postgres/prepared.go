package postgres

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by every store method after Stores.Close.
var ErrClosed = errors.New("authv2/postgres: stores closed")

// stmt is a statement of a hot path. Prepared, it costs one round trip per
// call (bind and execute) and no parsing or planning, where an unnamed
// statement with parameters costs lib/pq two round trips (parse and
// describe, then bind and execute) and the server a fresh plan each time.
// It is prepared on first use, not in New, which does no I/O; database/sql
// then prepares it once on each pooled connection it runs on, and re-
// prepares it there when a connection is replaced.
type stmt struct {
	h    *handle
	text string
	mu   sync.Mutex // serializes preparing
	cur  atomic.Pointer[sql.Stmt]
}

// stmt registers a hot statement; with preparation off it runs unnamed.
func (h *handle) stmt(query string) *stmt {
	s := &stmt{h: h, text: query}
	h.mu.Lock()
	h.stmts = append(h.stmts, s)
	h.mu.Unlock()
	return s
}

// prepared returns the prepared statement, preparing it if needed.
func (s *stmt) prepared(ctx context.Context) (*sql.Stmt, error) {
	if p := s.cur.Load(); p != nil {
		return p, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.cur.Load(); p != nil {
		return p, nil
	}
	if s.h.closed.Load() {
		return nil, ErrClosed
	}
	p, err := s.h.db.PrepareContext(ctx, s.text)
	if err != nil {
		return nil, err
	}
	s.cur.Store(p)
	// Close may have run meanwhile, before this statement existed.
	if s.h.closed.Load() {
		s.drop(p)
		return nil, ErrClosed
	}
	return p, nil
}

// drop forgets p, if still current, and closes it: the next call prepares
// the statement again.
func (s *stmt) drop(p *sql.Stmt) {
	if s.cur.CompareAndSwap(p, nil) {
		_ = p.Close()
	}
}

// planChanged reports the server refusing a prepared statement because a
// table it reads changed under it: "cached plan must not change result
// type" (feature_not_supported), after a migration altered the type of a
// column the statement returns. Nothing else our statements do raises
// 0A000. An added column or index, or a table rebuilt with the same
// columns, makes the server re-plan the statement by itself. A migration
// that changes the type of a column a statement compares a parameter to
// (text to uuid, say) is not handled: the parameter's type was fixed when
// the statement was prepared, so the statement fails (42883) until the
// process restarts. Our migrations change no such column; one that does
// must say so in its release notes.
func planChanged(err error) bool { return stateOf(err) == "0A000" }

// run runs the statement through direct (unprepared) or through the
// prepared statement. A statement the server no longer accepts after a
// schema change is prepared afresh and run once more; so is one that
// another call replaced while this one was using it.
func run[T any](ctx context.Context, s *stmt, direct func(q string) (T, error), prepared func(p *sql.Stmt) (T, error)) (T, error) {
	if !s.h.prepare {
		return direct(s.text)
	}
	var zero T
	for attempt := 0; ; attempt++ {
		p, err := s.prepared(ctx)
		if err != nil {
			return zero, err
		}
		v, err := prepared(p)
		if err == nil || attempt > 0 {
			return v, err
		}
		switch {
		case s.h.closed.Load():
			return zero, ErrClosed
		case planChanged(err):
			s.drop(p)
		case s.cur.Load() != p:
			// Replaced (and closed) by a concurrent call: use the new one.
		default:
			return v, err
		}
	}
}

// query runs a statement returning rows.
func (s *stmt) query(ctx context.Context, args ...any) (*sql.Rows, error) {
	return run(ctx, s,
		func(q string) (*sql.Rows, error) { return s.h.db.QueryContext(ctx, q, args...) },
		func(p *sql.Stmt) (*sql.Rows, error) { return p.QueryContext(ctx, args...) })
}

// queryRow runs a statement returning at most one row and scans it;
// sql.ErrNoRows when there is none.
func (s *stmt) queryRow(ctx context.Context, scan func(scanner) error, args ...any) error {
	rows, err := s.query(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := scan(rows); err != nil {
		return err
	}
	return rows.Close()
}

// exec runs a statement returning no rows.
func (s *stmt) exec(ctx context.Context, args ...any) (sql.Result, error) {
	return run(ctx, s,
		func(q string) (sql.Result, error) { return s.h.db.ExecContext(ctx, q, args...) },
		func(p *sql.Stmt) (sql.Result, error) { return p.ExecContext(ctx, args...) })
}

// close marks the handle closed, then releases every prepared statement; a
// statement being prepared meanwhile sees the mark and releases itself.
func (h *handle) close() error {
	if h.closed.Swap(true) {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, s := range h.stmts {
		if p := s.cur.Swap(nil); p != nil {
			errs = append(errs, p.Close())
		}
	}
	return errors.Join(errs...)
}
