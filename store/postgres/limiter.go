package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/authv2/authv2/user"
)

// RateLimiter is a PostgreSQL user.RateLimiter, shared by every instance
// using the database: a sliding log of at most limit timestamps per key,
// kept in one row whose lock makes each Hit atomic.
type RateLimiter struct {
	h *handle
	q limiterQueries
}

var _ user.RateLimiter = (*RateLimiter)(nil)

type limiterQueries struct{ hit, count, reserve, retryAt, release, reset, deleteExpired string }

func newRateLimiter(h *handle) *RateLimiter {
	// $2 is now, $3 the window in microseconds.
	const since = `$2::timestamptz - $3::bigint * interval '1 microsecond'`
	const until = `$2::timestamptz + $3::bigint * interval '1 microsecond'`
	return &RateLimiter{h: h, q: limiterQueries{
		// LIMIT NULL (limit <= 0) keeps every event in the window.
		hit: h.q(`INSERT INTO {s}.rate_limits AS r (key, events, expires_at)
			VALUES ($1, ARRAY[$2::timestamptz], ` + until + `)
			ON CONFLICT (key) DO UPDATE SET
				events = ARRAY(
					SELECT e FROM (
						SELECT e FROM unnest(r.events || $2::timestamptz) AS u (e)
						WHERE e > ` + since + `
						ORDER BY e DESC LIMIT $4::bigint) newest
					ORDER BY e),
				expires_at = GREATEST(r.expires_at, ` + until + `)
			RETURNING cardinality(events)`),
		count: h.q(`SELECT count(*), min(e) FROM {s}.rate_limits r, unnest(r.events) AS u (e)
			WHERE r.key = $1 AND e > ` + since),
		// The row lock ON CONFLICT takes makes the count and the append one
		// step; a refusal (WHERE false) returns no row and writes nothing.
		reserve: h.q(`INSERT INTO {s}.rate_limits AS r (key, events, expires_at)
			VALUES ($1, ARRAY[$2::timestamptz], ` + until + `)
			ON CONFLICT (key) DO UPDATE SET
				events = ARRAY(
					SELECT e FROM unnest(r.events || $2::timestamptz) AS u (e)
					WHERE e > ` + since + ` ORDER BY e),
				expires_at = GREATEST(r.expires_at, ` + until + `)
			WHERE (SELECT count(*) FROM unnest(r.events) AS u (e) WHERE e > ` + since + `) < $4::bigint
			RETURNING true`),
		// The limit-th newest event: when it leaves, a reservation fits.
		retryAt: h.q(`SELECT min(e) FROM (
				SELECT e FROM {s}.rate_limits r, unnest(r.events) AS u (e)
				WHERE r.key = $1 AND e > ` + since + ` ORDER BY e DESC LIMIT $4::bigint) newest`),
		release: h.q(`UPDATE {s}.rate_limits
			SET events = events[:array_position(events, $2::timestamptz) - 1] || events[array_position(events, $2::timestamptz) + 1:]
			WHERE key = $1 AND array_position(events, $2::timestamptz) IS NOT NULL`),
		reset:         h.q(`DELETE FROM {s}.rate_limits WHERE key = $1`),
		deleteExpired: h.q(`DELETE FROM {s}.rate_limits WHERE expires_at < $1`),
	}}
}

// Hit implements user.RateLimiter in one statement.
func (l *RateLimiter) Hit(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (int, error) {
	var keep any
	if limit > 0 {
		keep = limit
	}
	var n int
	err := l.h.retry(ctx, "limiter.hit", func() error {
		return l.h.db.QueryRowContext(ctx, l.q.hit, key, pgTime(now), window.Microseconds(), keep).Scan(&n)
	})
	return n, err
}

// Count implements user.RateLimiter.
func (l *RateLimiter) Count(ctx context.Context, key string, _ int, window time.Duration, now time.Time) (int, time.Time, error) {
	var (
		n      int
		oldest sql.NullTime
	)
	err := l.h.retry(ctx, "limiter.count", func() error {
		return l.h.db.QueryRowContext(ctx, l.q.count, key, pgTime(now), window.Microseconds()).Scan(&n, &oldest)
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	return n, timeOf(oldest), nil
}

// Reserve implements user.RateLimiter in one statement; a refusal reads
// the retry time with a second.
func (l *RateLimiter) Reserve(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (bool, time.Time, error) {
	if limit <= 0 {
		return false, time.Time{}, nil // out of contract: nothing fits
	}
	var ok bool
	err := l.h.retry(ctx, "limiter.reserve", func() error {
		err := l.h.db.QueryRowContext(ctx, l.q.reserve, key, pgTime(now), window.Microseconds(), limit).Scan(&ok)
		if errors.Is(err, sql.ErrNoRows) {
			ok = false // refused: no row written
			return nil
		}
		return err
	})
	if err != nil || ok {
		return ok, time.Time{}, err
	}
	var oldest sql.NullTime
	err = l.h.retry(ctx, "limiter.reserve", func() error {
		return l.h.db.QueryRowContext(ctx, l.q.retryAt, key, pgTime(now), window.Microseconds(), limit).Scan(&oldest)
	})
	if err != nil {
		return false, time.Time{}, err
	}
	if !oldest.Valid {
		// Released since the refusal: the caller may try again at once.
		return false, now, nil
	}
	return false, oldest.Time.UTC().Add(window), nil
}

// Release implements user.RateLimiter.
func (l *RateLimiter) Release(ctx context.Context, key string, at time.Time) error {
	return l.h.retry(ctx, "limiter.release", func() error {
		_, err := l.h.db.ExecContext(ctx, l.q.release, key, pgTime(at))
		return err
	})
}

// Reset implements user.RateLimiter. Resetting an unknown key is not an error.
func (l *RateLimiter) Reset(ctx context.Context, key string) error {
	return l.h.retry(ctx, "limiter.reset", func() error {
		_, err := l.h.db.ExecContext(ctx, l.q.reset, key)
		return err
	})
}

// DeleteExpired drops keys with no event left in their window as of before
// (using an index), and returns how many. Keys are client IPs, so they
// accumulate: the Manager's cleanup loop calls it with the sessions' purge.
func (l *RateLimiter) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := l.h.retry(ctx, "limiter.delete_expired", func() error {
		res, err := l.h.db.ExecContext(ctx, l.q.deleteExpired, pgTime(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
