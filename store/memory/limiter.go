package memory

import (
	"context"
	"sync"
	"time"

	"github.com/authv2/authv2/user"
)

// RateLimiter is an in-memory user.RateLimiter: a sliding log of at most
// limit timestamps per key.
type RateLimiter struct {
	mu   sync.Mutex
	keys map[string][]time.Time // oldest first
}

var _ user.RateLimiter = (*RateLimiter)(nil)

// NewRateLimiter returns an empty RateLimiter.
func NewRateLimiter() *RateLimiter { return &RateLimiter{keys: map[string][]time.Time{}} }

// prune drops events outside the window and returns what is left.
func (l *RateLimiter) prune(key string, window time.Duration, now time.Time) []time.Time {
	log := l.keys[key]
	i := 0
	for i < len(log) && !log[i].After(now.Add(-window)) {
		i++
	}
	log = log[i:]
	if len(log) == 0 {
		delete(l.keys, key)
		return nil
	}
	l.keys[key] = log
	return log
}

// Hit implements user.RateLimiter.
func (l *RateLimiter) Hit(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	log := append(l.prune(key, window, now), now)
	if limit > 0 && len(log) > limit {
		log = append([]time.Time(nil), log[len(log)-limit:]...)
	}
	l.keys[key] = log
	return len(log), nil
}

// Count implements user.RateLimiter.
func (l *RateLimiter) Count(ctx context.Context, key string, _ int, window time.Duration, now time.Time) (int, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	log := l.prune(key, window, now)
	if len(log) == 0 {
		return 0, time.Time{}, nil
	}
	return len(log), log[0], nil
}

// Reset implements user.RateLimiter.
func (l *RateLimiter) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.keys, key)
	return nil
}
