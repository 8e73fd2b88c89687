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

// Reserve implements user.RateLimiter.
func (l *RateLimiter) Reserve(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (bool, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return false, time.Time{}, err
	}
	if limit <= 0 {
		return false, time.Time{}, nil // out of contract: nothing fits
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	log := l.prune(key, window, now)
	if len(log) >= limit {
		return false, log[len(log)-limit].Add(window), nil
	}
	l.keys[key] = append(log, now)
	return true, time.Time{}, nil
}

// Release implements user.RateLimiter.
func (l *RateLimiter) Release(ctx context.Context, key string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	log := l.keys[key]
	for i, t := range log {
		if t.Equal(at) {
			log = append(log[:i:i], log[i+1:]...)
			break
		}
	}
	if len(log) == 0 {
		delete(l.keys, key)
	} else {
		l.keys[key] = log
	}
	return nil
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
