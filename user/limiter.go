package user

import (
	"context"
	"time"
)

// ExpiredDeleter is the optional capability of a RateLimiter whose
// entries pile up until deleted (PostgreSQL rows keyed by client IP); ones
// with TTLs (Redis) or bounded logs (memory) need not implement it. The
// Manager's cleanup loop calls it with the sessions' purge.
type ExpiredDeleter interface {
	// DeleteExpired forgets the keys with no event left as of before and
	// returns how many.
	DeleteExpired(ctx context.Context, before time.Time) (int, error)
}

// RateLimiter counts events per key in a sliding window; login throttling
// uses it to limit failed attempts per client IP across accounts, per
// email (with an account or not) and per trusted client, reserving each attempt (Reserve)
// before the password is hashed and giving it back (Release) on success.
// Implementations must be safe for concurrent use, atomic per key, and
// translate errors to package store's sentinels.
type RateLimiter interface {
	// Hit records one event for key at now and returns how many events the
	// key has in the window (now-window, now], this one included. A store
	// may keep only the newest limit events of a key: counts above limit
	// are reported as limit.
	Hit(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (count int, err error)

	// Count returns how many events key has in the window without recording
	// one, and when the oldest of them leaves the window (zero if none).
	// Count then Hit is check-then-act: to bound what may happen, use
	// Reserve.
	Count(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (count int, oldest time.Time, err error)

	// Reserve records one event for key at now if, and only if, the key
	// has fewer than limit events in the window (now-window, now]; the
	// check and the record are one atomic step, so however many callers
	// race, at most limit reservations per window succeed. When it
	// refuses, it records nothing and returns when the oldest event leaves
	// the window. limit must be positive.
	Reserve(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (ok bool, retryAt time.Time, err error)

	// Release gives back one event of key recorded at at (the now of a
	// successful Reserve or Hit), as if it had not happened. Releasing an
	// event that is no longer there is not an error.
	Release(ctx context.Context, key string, at time.Time) error

	// Reset forgets key.
	Reset(ctx context.Context, key string) error
}
