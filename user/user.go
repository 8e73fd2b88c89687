// Package user holds the user model, its store contract, password hashing
// and input validation.
package user

import (
	"context"
	"maps"
	"strings"
	"time"
)

// Status is the lifecycle state of an account.
type Status string

// Account states. Only StatusActive may log in; StatusPendingVerification may
// when the application allows unverified logins.
const (
	StatusActive              Status = "active"
	StatusPendingVerification Status = "pending_verification"
	StatusLocked              Status = "locked"
	StatusDisabled            Status = "disabled"
)

// Valid reports whether s is one of the known states.
func (s Status) Valid() bool {
	switch s {
	case StatusActive, StatusPendingVerification, StatusLocked, StatusDisabled:
		return true
	}
	return false
}

// User is a global identity: its email is unique across the installation
// (case-insensitively) and it joins tenants through memberships.
type User struct {
	ID          string
	Email       string // as entered; uniqueness is case-insensitive
	DisplayName string
	Status      Status

	// PasswordHash is a PHC string (argon2id) or a bcrypt hash imported from
	// an older system. Empty means the account has no password.
	PasswordHash      string
	PasswordChangedAt time.Time

	// FailedAttempts was the account's count of consecutive failed logins.
	//
	// Deprecated: the Manager no longer reads or writes it. The login
	// throttle is a failure budget per email in the RateLimiter, the same
	// for emails with and without an account, so that neither its answers
	// nor its timing tell them apart. Stores keep the field until it is
	// removed in a later release.
	FailedAttempts int
	// LockedUntil was when the account's login throttle ended.
	//
	// Deprecated: unused, like FailedAttempts.
	LockedUntil time.Time
	LastLoginAt time.Time

	// DefaultTenantID is where a login lands when it names no tenant.
	DefaultTenantID string

	// SecurityStamp changes with every security-relevant change to the
	// account (password, email, status, deletion), before its sessions
	// are ended. A login compares the stamp it read with the one it
	// saves, so a login that raced such a change cannot keep its session.
	SecurityStamp string

	// PendingEmail is a new address awaiting verification. Until it is
	// verified, Email stays the login identifier.
	PendingEmail string

	Attributes map[string]string

	// Tokens holds the stored half (a SHA-256) of outstanding single-use
	// tokens, by purpose (TokenPasswordReset, TokenEmailVerification).
	Tokens map[string]OneTimeToken

	CreatedAt time.Time
	UpdatedAt time.Time
}

// Clone returns a deep copy, so a store never shares maps with its callers.
func (u *User) Clone() *User {
	if u == nil {
		return nil
	}
	c := *u
	c.Attributes = maps.Clone(u.Attributes)
	if u.Tokens != nil {
		c.Tokens = make(map[string]OneTimeToken, len(u.Tokens))
		for k, t := range u.Tokens {
			t.Hash = append([]byte(nil), t.Hash...)
			c.Tokens[k] = t
		}
	}
	return &c
}

// Purposes of single-use tokens.
const (
	TokenPasswordReset     = "password_reset"
	TokenEmailVerification = "email_verification"
)

// OneTimeToken is what a store keeps of a single-use token: never the
// token, only the SHA-256 of its secret, and when it stops being valid.
type OneTimeToken struct {
	Hash      []byte
	ExpiresAt time.Time
}

// NormalizeEmail is the key email uniqueness is decided on. Stores must
// treat two emails as equal when their NormalizeEmail values are equal.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Store persists users. Implementations must be safe for concurrent use and
// translate their errors to the sentinels of package store.
type Store interface {
	// Create inserts u. It returns store.ErrConflict when u.ID or an email
	// equal under NormalizeEmail already exists. The store keeps a copy.
	Create(ctx context.Context, u *User) error

	// Get returns the user with the given ID, or store.ErrNotFound.
	Get(ctx context.Context, id string) (*User, error)

	// GetByEmail finds a user by email, compared under NormalizeEmail, or
	// returns store.ErrNotFound.
	GetByEmail(ctx context.Context, email string) (*User, error)

	// Update applies fn to the current record and saves the result
	// atomically: concurrent Updates of one user are serialized, so a
	// read-modify-write never loses another's change.
	// If fn returns an error, nothing is written and that error is returned.
	// fn must not change ID. It returns the saved record, store.ErrNotFound,
	// or store.ErrConflict when the new email is taken.
	Update(ctx context.Context, id string, fn func(*User) error) (*User, error)

	// Delete removes the user, or returns store.ErrNotFound.
	Delete(ctx context.Context, id string) error
}
