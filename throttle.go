package authv2

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/user"
)

// ipKey is the rate-limiter key of a client IP.
func ipKey(ip string) string { return "login-ip:" + ip }

// unknownKey is the rate-limiter key of an email that has no account. It
// is hashed so the limiter does not collect typed-in emails.
func unknownKey(email string) string {
	sum := sha256.Sum256([]byte(user.NormalizeEmail(email)))
	return "login-unknown:" + hex.EncodeToString(sum[:16])
}

// unknownThrottled mirrors the account throttle for emails without an
// account: after AfterFailures failures within MaxDelay, attempts are
// refused without hashing until the oldest leaves that window.
func (m *Manager) unknownThrottled(ctx context.Context, email string, now time.Time) (time.Duration, error) {
	t := m.cfg.Throttle
	n, oldest, err := m.limiter.Count(ctx, unknownKey(email), t.AfterFailures, t.MaxDelay, now)
	if err != nil {
		return 0, translate("limiter.count", err)
	}
	if n < t.AfterFailures {
		return 0, nil
	}
	return oldest.Add(t.MaxDelay).Sub(now), nil
}

func (m *Manager) countUnknownFailure(ctx context.Context, email string, now time.Time) {
	t := m.cfg.Throttle
	if _, err := m.limiter.Hit(ctx, unknownKey(email), t.AfterFailures, t.MaxDelay, now); err != nil {
		m.log.Warn("authv2: counting a failed login of an unknown email failed", "error", err)
	}
}

// ipThrottled returns how long the client IP must wait, or 0.
func (m *Manager) ipThrottled(ctx context.Context, ip string, now time.Time) (time.Duration, error) {
	t := m.cfg.Throttle
	if t.IPLimit == 0 || ip == "" {
		return 0, nil
	}
	n, oldest, err := m.limiter.Count(ctx, ipKey(ip), t.IPLimit, t.IPWindow, now)
	if err != nil {
		return 0, translate("limiter.count", err)
	}
	if n < t.IPLimit {
		return 0, nil
	}
	return oldest.Add(t.IPWindow).Sub(now), nil
}

// countIPFailure records a failed attempt from ip. A limiter outage is
// logged, not fatal: the per-account throttle still holds.
func (m *Manager) countIPFailure(ctx context.Context, ip string, now time.Time) {
	t := m.cfg.Throttle
	if t.IPLimit == 0 || ip == "" {
		return
	}
	if _, err := m.limiter.Hit(ctx, ipKey(ip), t.IPLimit, t.IPWindow, now); err != nil {
		m.log.Warn("authv2: counting a failed login per IP failed", "error", err)
	}
}

// throttleDelay is the lock after the n-th consecutive failure: none below
// AfterFailures, then BaseDelay doubling per failure up to MaxDelay.
func (t ThrottleConfig) throttleDelay(n int) time.Duration {
	if n < t.AfterFailures {
		return 0
	}
	d := t.BaseDelay
	for i := t.AfterFailures; i < n && d < t.MaxDelay; i++ {
		d *= 2
	}
	return min(d, t.MaxDelay)
}

// recordFailure counts a failed attempt on the account atomically. When
// the password was checked (verified), the throttle may (re)start; a
// refused attempt during a throttle is counted but does not extend it, so
// an attacker cannot keep the owner out longer than MaxDelay at a time.
func (m *Manager) recordFailure(ctx context.Context, userID string, now time.Time, verified bool) {
	var locked time.Time
	_, err := m.users.Update(ctx, userID, func(x *user.User) error {
		x.FailedAttempts++
		if verified {
			if d := m.cfg.Throttle.throttleDelay(x.FailedAttempts); d > 0 {
				x.LockedUntil = now.Add(d)
				locked = x.LockedUntil
			}
		}
		return nil
	})
	if err != nil {
		m.log.Warn("authv2: recording a failed login failed", "user_id", userID, "error", err)
		return
	}
	if !locked.IsZero() {
		m.emit(ctx, audit.Event{Type: audit.TypeLockout, Outcome: audit.Success, ActorUserID: userID, Target: userID,
			Attributes: map[string]string{"locked_until": locked.UTC().Format(time.RFC3339)}})
	}
}

// throttledError is what a throttled login returns: the generic error
// unless the application opted into a distinct one.
func (m *Manager) throttledError(retry time.Duration) error {
	if m.cfg.Throttle.DistinctError {
		return &ThrottledError{RetryAfter: retry}
	}
	return ErrInvalidCredentials
}
