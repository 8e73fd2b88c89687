package user

import (
	"context"
	"time"
)

// RateLimiter counts events per key in a sliding window; login throttling
// uses it to limit failed attempts per client IP across accounts.
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
	Count(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (count int, oldest time.Time, err error)

	// Reset forgets key.
	Reset(ctx context.Context, key string) error
}
