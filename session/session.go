// Package session holds the session model, its store contract, the session
// policy (timeouts and per-user limits) and the security policy applied to
// each request's client information.
package session

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"maps"
	"slices"
	"time"

	"github.com/authv2/authv2/internal/randid"
	"github.com/authv2/authv2/mfa"
)

// ClientInfo describes the client a session was created from or is used by.
type ClientInfo struct {
	IP          string
	UserAgent   string
	DeviceLabel string
}

// Session is a server-side login. The store keys it by ID and keeps only
// SecretHash, the SHA-256 of the token's secret, never the token.
type Session struct {
	ID string
	// SecretHash never marshals: a session logged or returned as JSON
	// must not hand out what a token is checked against.
	SecretHash []byte `json:"-"`

	UserID   string
	TenantID string // "" means the session is in no tenant
	Scope    string

	CreatedAt         time.Time
	LastSeenAt        time.Time
	IdleExpiresAt     time.Time
	AbsoluteExpiresAt time.Time
	// AuthenticatedAt is when the user last proved a credential in this
	// session (login or re-authentication).
	AuthenticatedAt time.Time
	// AuthLevel is the session's assurance level (mfa.AAL: 1 password
	// only, 2 with a second factor or a user-verifying passkey): Proofs'
	// level, or 1 for a session from before sessions kept their proofs.
	AuthLevel int
	// Proofs are the factors proven in this session and when, oldest
	// first: the password (or passkey) at login, a second factor at login
	// or step-up. Stepping up rotates the session, so they never change
	// on a stored session. nil for a session from before sessions kept
	// them. Treat as read-only.
	Proofs mfa.Proofs

	// SecurityStamp is the user's security stamp when the session was
	// issued (user.User.SecurityStamp). It never changes: a session whose
	// stamp is no longer the user's outlived an account change and is
	// refused at its next privilege step.
	SecurityStamp string

	// Attributes are a copy of the user's attributes (user.User.Attributes)
	// when the session was issued, for conditions to read as
	// principal.<name>. They never change: a rotation issues a successor
	// with a fresh copy, so Authenticate need not read the user. nil when
	// the user has none. Treat as read-only.
	Attributes map[string]string

	Client ClientInfo

	RevokedAt    time.Time // zero while live
	RevokeReason string
	// ReplacedBy is the ID of the successor when the session was rotated
	// away (RevokeReason ReasonRotated): a token presented after its
	// rotation leads to the session that replaced it.
	ReplacedBy string

	// Impersonator is set on an impersonation session: UserID is the user
	// acted as, Impersonator the real actor. It never changes: a rotation's
	// successor carries it too. nil for a user's own session.
	Impersonator *Impersonator
}

// Impersonator is who acts in an impersonation session, and from where.
type Impersonator struct {
	// UserID is the real actor.
	UserID string
	// SessionID is the actor's own session, which stays live during the
	// impersonation: the impersonation session is usable only while it is.
	SessionID string
	// ImpersonationID names the Impersonation record.
	ImpersonationID string
}

// Clone returns a deep copy.
func (s *Session) Clone() *Session {
	if s == nil {
		return nil
	}
	c := *s
	c.SecretHash = append([]byte(nil), s.SecretHash...)
	c.Attributes = maps.Clone(s.Attributes)
	c.Proofs = slices.Clone(s.Proofs)
	if s.Impersonator != nil {
		imp := *s.Impersonator
		c.Impersonator = &imp
	}
	return &c
}

// ExpiresAt is the earlier of the idle and absolute expiry.
func (s *Session) ExpiresAt() time.Time {
	if s.IdleExpiresAt.Before(s.AbsoluteExpiresAt) {
		return s.IdleExpiresAt
	}
	return s.AbsoluteExpiresAt
}

// Live reports whether the session is neither revoked nor expired at now.
func (s *Session) Live(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt())
}

// HashSecret is how a token secret is stored.
func HashSecret(secret []byte) []byte {
	sum := sha256.Sum256(secret)
	return sum[:]
}

// IDLength is the length of a session ID: base64url of 24 bytes.
const IDLength = 32

// TagLength is the length of the user tag that starts every session ID.
const TagLength = 8

// UserTag derives the 8-character tag that starts the IDs of all of a user's
// sessions. Stores that shard by user (Redis Cluster hash tags) find a
// session's shard from its ID alone, without a second lookup.
func UserTag(userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return base64.RawURLEncoding.EncodeToString(sum[:6])
}

// TagOf returns the user tag of a session ID.
func TagOf(sessionID string) string {
	if len(sessionID) < TagLength {
		return sessionID
	}
	return sessionID[:TagLength]
}

// NewID returns a fresh session ID for userID: the user tag followed by 18
// random bytes. The ID is not a secret; the token's secret part is.
func NewID(userID string) string {
	return UserTag(userID) + randid.String(18)
}

// EvictionPolicy says what happens when a user at the session limit logs in.
type EvictionPolicy int

const (
	// EvictOldest revokes the sessions created first.
	EvictOldest EvictionPolicy = iota
	// EvictLeastRecentlyUsed revokes the sessions seen least recently.
	EvictLeastRecentlyUsed
	// Refuse rejects the new session with store.ErrLimit.
	Refuse
)

// Limit bounds a user's live sessions. Max <= 0 means unlimited.
type Limit struct {
	Max    int
	Policy EvictionPolicy
}

// RevokeReason values used by authv2 itself.
const (
	ReasonLogout         = "logout"
	ReasonEvicted        = "evicted"
	ReasonRotated        = "rotated"
	ReasonRevoked        = "revoked"
	ReasonPasswordChange = "password_changed"
	ReasonUserDisabled   = "user_disabled"
	ReasonEmailChange    = "email_changed"
	ReasonUserLocked     = "user_locked"
	ReasonUserDeleted    = "user_deleted"
	// ReasonTenantDeleted and ReasonMembershipRemoved end a user's
	// sessions in a tenant they can no longer use.
	ReasonTenantDeleted     = "tenant_deleted"
	ReasonMembershipRemoved = "membership_removed"
	// ReasonAccountChanged ends a session issued under a security stamp
	// the user no longer has (a login that raced an account change).
	ReasonAccountChanged = "account_changed"
	// ReasonReuse ends a session whose predecessor's token was presented
	// after its rotation: the token was copied.
	ReasonReuse = "token_reuse"
	// ReasonImpersonationEnded ends an impersonation session: ended by
	// hand, or because the impersonator lost their session or the right.
	ReasonImpersonationEnded = "impersonation_ended"
)

// RevokeFilter selects which of a user's sessions RevokeUser ends.
type RevokeFilter struct {
	ExceptID string // keep this one (sign out everywhere else)
	TenantID string // only sessions in this tenant, when set
}

// StatsFilter narrows SessionStats. Zero fields mean "any".
type StatsFilter struct {
	TenantID string
	UserID   string
	From, To time.Time // window for Created and Revoked counts
}

// Stats is a snapshot of session counts.
type Stats struct {
	Live     int
	ByTenant map[string]int
	ByUser   map[string]int
	ByDevice map[string]int
	Created  int // created in [From, To)
	Revoked  int // revoked in [From, To)
}

// NewStats returns empty Stats, ready for Count.
func NewStats() Stats {
	return Stats{ByTenant: map[string]int{}, ByUser: map[string]int{}, ByDevice: map[string]int{}}
}

// Count adds x to st if it matches f: stores that tally sessions in Go
// (memory, Redis) share this one definition of what each figure means.
func (st *Stats) Count(x *Session, f StatsFilter, now time.Time) {
	if (f.TenantID != "" && x.TenantID != f.TenantID) || (f.UserID != "" && x.UserID != f.UserID) {
		return
	}
	if x.Live(now) {
		st.Live++
		st.ByTenant[x.TenantID]++
		st.ByUser[x.UserID]++
		st.ByDevice[x.Client.DeviceLabel]++
	}
	if inWindow(x.CreatedAt, f.From, f.To) {
		st.Created++
	}
	if !x.RevokedAt.IsZero() && inWindow(x.RevokedAt, f.From, f.To) {
		st.Revoked++
	}
}

func inWindow(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
}

// Store persists sessions. Every method that depends on the time takes now
// from the caller, so one injected clock governs all stores. Implementations
// must be safe for concurrent use and translate errors to package store's
// sentinels.
type Store interface {
	// Create stores s. When limit.Max > 0, counting the user's live sessions
	// and creating s are one atomic step: with EvictOldest or
	// EvictLeastRecentlyUsed the excess sessions are revoked (reason
	// ReasonEvicted) and their IDs returned; with Refuse, store.ErrLimit is
	// returned and nothing is written. store.ErrConflict if s.ID exists.
	Create(ctx context.Context, s *Session, limit Limit, now time.Time) (evicted []string, err error)

	// Get returns the session, live, expired or revoked (until the store
	// forgets it), or store.ErrNotFound. Callers decide liveness.
	Get(ctx context.Context, id string) (*Session, error)

	// Touch records use: sets LastSeenAt and IdleExpiresAt on a session that
	// is neither revoked nor expired at lastSeen. store.ErrNotFound when
	// missing, revoked or expired: an expiry is final, so a session that a
	// revoke-all skipped as expired can never be renewed.
	Touch(ctx context.Context, id string, lastSeen, idleExpires time.Time) error

	// Update replaces the mutable fields of a live session (tenant, scope,
	// auth level, authenticated-at, proofs, client); Attributes are not
	// among them.
	// store.ErrNotFound when missing.
	Update(ctx context.Context, s *Session) error

	// Revoke marks one session revoked at `at` with reason. Revoking an
	// already revoked session is a no-op; a missing one is store.ErrNotFound.
	Revoke(ctx context.Context, id string, at time.Time, reason string) error

	// RevokeUser revokes, in one atomic step, every session of the user not
	// yet revoked that matches f — expired at `at` or not, since another
	// instance's clock may lag — and returns their IDs.
	RevokeUser(ctx context.Context, userID string, f RevokeFilter, at time.Time, reason string) ([]string, error)

	// Rotate atomically revokes oldID (reason ReasonRotated, ReplacedBy
	// next.ID) and creates next, which must belong to the same user.
	// store.ErrNotFound if oldID is missing or no longer live at now.
	Rotate(ctx context.Context, oldID string, next *Session, now time.Time) error

	// ListByUser returns the user's live sessions at now, newest first. It
	// reads a per-user index: its cost grows with that user's sessions only.
	ListByUser(ctx context.Context, userID string, now time.Time) ([]*Session, error)

	// DeleteExpired forgets sessions, revoked or not, whose ExpiresAt is
	// before `before`, using an index on expiry rather than a scan, and
	// returns how many it removed. Revoked sessions are kept until then so
	// that Get can tell "revoked" from "unknown".
	DeleteExpired(ctx context.Context, before time.Time) (int, error)

	// Stats counts sessions at now matching f, exactly: every stored
	// session counts, however many (a store must not sample or stop
	// early). It is an admin query, never on a request's path, and
	// unfiltered it may cost what every stored session costs (a walk, a
	// table aggregate, a read of each session); its memory should stay
	// bounded by the breakdowns it returns, not by the sessions it reads.
	// Callers that poll it, such as a metrics gauge, cache it: the
	// Manager reads it at most once per Config.SessionStatsMaxAge.
	Stats(ctx context.Context, f StatsFilter, now time.Time) (Stats, error)
}
