package session

import (
	"errors"
	"time"
)

// Policy governs session lifetimes and limits.
type Policy struct {
	// IdleTimeout ends a session not used for this long (NIST AAL2: 30 min).
	IdleTimeout time.Duration
	// AbsoluteTimeout ends a session this long after login, however active
	// (NIST AAL2: 12 h).
	AbsoluteTimeout time.Duration
	// TouchInterval throttles sliding renewal: last-seen is written only when
	// it moved by at least this much, so a busy session does not write on
	// every request. The idle timeout is measured from the last write, so a
	// session may end up to TouchInterval early, never late.
	TouchInterval time.Duration
	// MaxPerUser caps a user's live sessions; 0 means unlimited.
	MaxPerUser int
	// Eviction says what a login at the cap does.
	Eviction EvictionPolicy
	// RotationGrace is how long a token rotated away (RotateSession,
	// SwitchTenant, Reauthenticate, ChangePassword, ChangeEmail) still
	// stands for its successor, so that a browser's requests in flight
	// during the rotation pass. Presented later, the token was copied:
	// every session of the user is ended (audit.TypeSessionReuse). 0 treats any
	// reuse as theft.
	RotationGrace time.Duration
}

// DefaultPolicy follows NIST SP 800-63B at AAL2.
var DefaultPolicy = Policy{
	IdleTimeout:     30 * time.Minute,
	AbsoluteTimeout: 12 * time.Hour,
	TouchInterval:   time.Minute,
	RotationGrace:   5 * time.Second,
}

// Validate reports the first field out of range.
func (p Policy) Validate() error {
	switch {
	case p.IdleTimeout <= 0:
		return errors.New("IdleTimeout must be positive")
	case p.AbsoluteTimeout <= 0:
		return errors.New("AbsoluteTimeout must be positive")
	case p.IdleTimeout > p.AbsoluteTimeout:
		return errors.New("IdleTimeout must not exceed AbsoluteTimeout")
	case p.TouchInterval < 0 || p.TouchInterval >= p.IdleTimeout:
		return errors.New("TouchInterval must be at least 0 and below IdleTimeout")
	case p.MaxPerUser < 0:
		return errors.New("MaxPerUser must not be negative")
	case p.Eviction < EvictOldest || p.Eviction > Refuse:
		return errors.New("Eviction is not a known policy")
	case p.RotationGrace < 0 || p.RotationGrace > time.Minute:
		return errors.New("RotationGrace must be between 0 and 1m")
	}
	return nil
}

// Limit returns the store limit the policy implies.
func (p Policy) Limit() Limit { return Limit{Max: p.MaxPerUser, Policy: p.Eviction} }
