// Package apikey holds machine identities: service accounts (non-human
// principals of one tenant, bound to roles like users) and API keys (long-
// lived bearer credentials of a user or a service account), with the
// contract of their store. Like package session it needs no store to
// define its rules, and it does not import the root.
package apikey

import (
	"context"
	"slices"
	"time"

	"github.com/authv2/authv2/internal/randid"
)

// OwnerKind says what kind of principal owns a key.
type OwnerKind string

// Owner kinds.
const (
	OwnerUser           OwnerKind = "user"
	OwnerServiceAccount OwnerKind = "service_account"
)

// Key is an API key as stored: the key's secret is never kept, only its
// SHA-256 (SecretHash), as for session tokens.
type Key struct {
	// ID locates the key (the 32 characters after the prefix); it is not
	// secret and is how a key is listed and revoked.
	ID string
	// SecretHash never marshals, like session.Session's.
	SecretHash []byte `json:"-"`

	OwnerID   string
	OwnerKind OwnerKind
	// TenantID is the one tenant the key acts in.
	TenantID string
	// Scope narrows the key below the tenant ("" is the whole tenant), as
	// a session's scope does.
	Scope string
	// Permissions are the "resource:action" patterns the key may use (at
	// least one; "*" is everything its owner holds). A check is allowed
	// only when the owner's policy allows it and a pattern covers it.
	Permissions []string
	Name        string

	CreatedAt time.Time
	// CreatedBy is the user (or service account) who created the key.
	CreatedBy string
	// ExpiresAt is zero for a key that does not expire.
	ExpiresAt time.Time
	// LastUsedAt is written at most once per interval (a minute by
	// default), not on every use.
	LastUsedAt time.Time

	RevokedAt    time.Time // zero while live
	RevokeReason string
}

// Clone returns a deep copy.
func (k *Key) Clone() *Key {
	if k == nil {
		return nil
	}
	c := *k
	c.SecretHash = slices.Clone(k.SecretHash)
	c.Permissions = slices.Clone(k.Permissions)
	return &c
}

// Live reports whether the key is neither revoked nor expired at now.
func (k *Key) Live(now time.Time) bool {
	return k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt))
}

// IDLength is the length of a key ID: base64url of 24 random bytes.
const IDLength = 32

// NewID returns a fresh key ID.
func NewID() string { return randid.String(24) }

// NewServiceAccountID returns a fresh service account ID. The "sa_" prefix
// keeps it apart from user IDs in bindings, audit events and logs.
func NewServiceAccountID() string { return "sa_" + randid.ID() }

// Revoke reasons used by authv2 itself, beside the session package's
// account reasons (a disabled or deleted user, a password change...).
const (
	ReasonRevoked                = "revoked"
	ReasonServiceAccountDisabled = "service_account_disabled"
	ReasonServiceAccountDeleted  = "service_account_deleted"
)

// ServiceAccount is a non-human principal of one tenant. It holds roles
// through bindings (its ID in Binding.UserID) and authenticates only with
// API keys: it has no password.
type ServiceAccount struct {
	ID          string
	TenantID    string
	Name        string
	Description string
	Disabled    bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CreatedBy   string
}

// KeyFilter selects keys to list or revoke. Empty fields match any.
type KeyFilter struct {
	OwnerID  string
	TenantID string
}

// Match reports whether f selects k.
func (f KeyFilter) Match(k *Key) bool {
	return (f.OwnerID == "" || k.OwnerID == f.OwnerID) && (f.TenantID == "" || k.TenantID == f.TenantID)
}

// Store persists API keys and service accounts. Methods that depend on the
// time take it from the caller, so one injected clock governs every store.
// Implementations must be safe for concurrent use and translate errors to
// package store's sentinels.
type Store interface {
	// CreateKey stores k; store.ErrConflict if its ID exists.
	CreateKey(ctx context.Context, k *Key) error
	// GetKey returns the key, live or not, or store.ErrNotFound. It is
	// the one read of authenticating with a key.
	GetKey(ctx context.Context, id string) (*Key, error)
	// ListKeys returns the keys f selects, revoked and expired ones
	// included, newest first (ties by ID). f.OwnerID or f.TenantID must
	// be set.
	ListKeys(ctx context.Context, f KeyFilter) ([]*Key, error)
	// TouchKey sets LastUsedAt to at on a key neither revoked nor expired
	// at at whose LastUsedAt is before notAfter: concurrent uses of one
	// key write it once per interval. Not written (and nil) otherwise;
	// store.ErrNotFound when the key is missing.
	TouchKey(ctx context.Context, id string, at, notAfter time.Time) error
	// RevokeKey marks one key revoked at `at` with reason; revoking a
	// revoked key is a no-op. store.ErrNotFound when missing.
	RevokeKey(ctx context.Context, id string, at time.Time, reason string) error
	// RevokeKeys revokes, in one atomic step, every key f selects not yet
	// revoked, and returns their IDs. f.OwnerID must be set.
	RevokeKeys(ctx context.Context, f KeyFilter, at time.Time, reason string) ([]string, error)

	// CreateServiceAccount stores a; store.ErrConflict if its ID exists.
	CreateServiceAccount(ctx context.Context, a *ServiceAccount) error
	// GetServiceAccount returns the account or store.ErrNotFound.
	GetServiceAccount(ctx context.Context, id string) (*ServiceAccount, error)
	// ListServiceAccounts returns a tenant's accounts ordered by ID.
	ListServiceAccounts(ctx context.Context, tenantID string) ([]*ServiceAccount, error)
	// SetServiceAccountDisabled sets the account's Disabled flag and
	// UpdatedAt, returning the account as it was; store.ErrNotFound when
	// missing.
	SetServiceAccountDisabled(ctx context.Context, id string, disabled bool, at time.Time) (*ServiceAccount, error)
	// DeleteServiceAccount removes the account (not its keys: the caller
	// revokes them first); store.ErrNotFound when missing.
	DeleteServiceAccount(ctx context.Context, id string) error
}
