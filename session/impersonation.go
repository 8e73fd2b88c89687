package session

import (
	"context"
	"time"
)

// Impersonation is the record of one impersonation: who acted as whom, in
// which tenant, why, and for how long. The user acted as reads these
// (authv2.Manager.Impersonations); they outlive the session, which the
// session store forgets once it expires.
type Impersonation struct {
	ID       string
	TenantID string
	// ActorUserID is the real actor; ActorSessionID the session they
	// started it from (and return to).
	ActorUserID    string
	ActorSessionID string
	// TargetUserID is the user acted as.
	TargetUserID string
	// SessionID is the impersonation session as started (a rotation's
	// successors follow from it through ReplacedBy).
	SessionID string
	// Reason is the actor's own words for why (a support ticket, say).
	Reason    string
	StartedAt time.Time
	// ExpiresAt is the deadline the impersonation session cannot outlive.
	ExpiresAt time.Time
	// EndedAt is when it was ended before its deadline, zero otherwise;
	// EndReason says why: one of the Impersonation… reasons below, or,
	// for a session that ended another way (the member signed out
	// everywhere, changed their password, idled out), its RevokeReason
	// or ImpersonationIdle.
	EndedAt   time.Time
	EndReason string
}

// Clone returns a copy.
func (i *Impersonation) Clone() *Impersonation {
	if i == nil {
		return nil
	}
	c := *i
	return &c
}

// EndedBy returns when the impersonation ended at now: when it was ended,
// else its deadline once passed, else zero (still running).
func (i *Impersonation) EndedBy(now time.Time) time.Time {
	switch {
	case !i.EndedAt.IsZero():
		return i.EndedAt
	case !now.Before(i.ExpiresAt):
		return i.ExpiresAt
	}
	return time.Time{}
}

// Reasons an impersonation ended (Impersonation.EndReason).
const (
	ImpersonationEnded         = "ended"          // EndImpersonation
	ImpersonationLoggedOut     = "logout"         // the impersonation session logged out
	ImpersonationActorGone     = "actor_session"  // the actor's own session ended
	ImpersonationRightRevoked  = "right_revoked"  // the actor lost the permission
	ImpersonationRightsChanged = "rights_changed" // the target now holds more than the actor could grant
	ImpersonationIdle          = "idle"           // the session passed its idle timeout
	ImpersonationTokenReuse    = ReasonReuse      // a token of it rotated away was presented again
)

// ImpersonationFilter selects impersonation records; at least one field
// is set.
type ImpersonationFilter struct {
	TargetUserID string
	ActorUserID  string
	TenantID     string
}

// ImpersonationStore keeps impersonation records. Implementations must be
// safe for concurrent use and translate errors to package store's
// sentinels.
type ImpersonationStore interface {
	// CreateImpersonation stores a record; store.ErrConflict if its ID
	// exists.
	CreateImpersonation(ctx context.Context, i *Impersonation) error
	// GetImpersonation returns one record, or store.ErrNotFound.
	GetImpersonation(ctx context.Context, id string) (*Impersonation, error)
	// EndImpersonation sets EndedAt and EndReason of a record not yet
	// ended and returns it; on one already ended it changes nothing (the
	// first end wins) and returns it as it is. store.ErrNotFound when
	// missing.
	EndImpersonation(ctx context.Context, id string, at time.Time, reason string) (*Impersonation, error)
	// ListImpersonations returns the records matching f, newest first
	// (StartedAt descending, then ID descending in byte order): those
	// after the record named after ("" for the first page), at most
	// limit. An after that names no record matching f is store.ErrNotFound.
	ListImpersonations(ctx context.Context, f ImpersonationFilter, after string, limit int) ([]*Impersonation, error)
}

// Match reports whether f selects i, for stores that filter in Go.
func (f ImpersonationFilter) Match(i *Impersonation) bool {
	return (f.TargetUserID == "" || i.TargetUserID == f.TargetUserID) &&
		(f.ActorUserID == "" || i.ActorUserID == f.ActorUserID) &&
		(f.TenantID == "" || i.TenantID == f.TenantID)
}
