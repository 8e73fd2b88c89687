package authv2

import (
	"context"
	"errors"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
)

// ListSessions returns the user's live sessions, newest first, from the
// store's per-user index.
func (m *Manager) ListSessions(ctx context.Context, userID string) ([]*session.Session, error) {
	list, err := m.sessions.ListByUser(ctx, userID, m.clock.Now())
	if err != nil {
		return nil, translate("session.list", err)
	}
	return list, nil
}

// RevokeSession ends one session; it is rejected by Authenticate on every
// instance from the next call on.
func (m *Manager) RevokeSession(ctx context.Context, sessionID, reason string) error {
	if reason == "" {
		reason = session.ReasonRevoked
	}
	if err := m.sessions.Revoke(ctx, sessionID, m.clock.Now(), reason); err != nil {
		return translate("session.revoke", err)
	}
	m.emit(ctx, audit.Event{Type: audit.TypeSessionRevoked, Outcome: audit.Success, Target: sessionID, Reason: reason})
	return nil
}

// RevokeOptions select which of a user's sessions RevokeSessions ends.
type RevokeOptions struct {
	// ExceptSessionID keeps one session: "sign out everywhere else".
	ExceptSessionID string
	// TenantID, when set, ends only the sessions in that tenant.
	TenantID string
	Reason   string
}

// RevokeSessions ends a user's sessions in one atomic store operation and
// returns the IDs it ended.
func (m *Manager) RevokeSessions(ctx context.Context, userID string, opts RevokeOptions) ([]string, error) {
	reason := opts.Reason
	if reason == "" {
		reason = session.ReasonRevoked
	}
	ids, err := m.sessions.RevokeUser(ctx, userID, session.RevokeFilter{ExceptID: opts.ExceptSessionID, TenantID: opts.TenantID}, m.clock.Now(), reason)
	if err != nil {
		return nil, translate("session.revoke_user", err)
	}
	for _, id := range ids {
		m.emit(ctx, audit.Event{Type: audit.TypeSessionRevoked, Outcome: audit.Success, Target: id, ActorUserID: userID, TenantID: opts.TenantID, Reason: reason})
	}
	return ids, nil
}

// RotateSession replaces the session of tok with a new one (same user,
// tenant, scope and authentication time) and kills the old token. Call it
// on privilege changes.
func (m *Manager) RotateSession(ctx context.Context, tok string) (*LoginResult, error) {
	return m.rotate(ctx, tok, nil)
}

// SwitchTenant moves the session of tok into another tenant (and scope),
// issuing a new token and killing the old one. The user must be a member
// of, or hold a binding in, that tenant (ErrNotMember otherwise).
func (m *Manager) SwitchTenant(ctx context.Context, tok, tenantID, scope string) (*LoginResult, error) {
	return m.rotate(ctx, tok, func(s *session.Session) error {
		if err := m.checkTenantAccess(ctx, s.UserID, tenantID); err != nil {
			return err
		}
		s.TenantID, s.Scope = tenantID, scope
		return nil
	})
}

// rotate authenticates tok, lets change adjust the successor, and swaps
// the two atomically in the store.
func (m *Manager) rotate(ctx context.Context, tok string, change func(*session.Session) error) (*LoginResult, error) {
	old, err := m.lookup(ctx, tok)
	if err != nil {
		return nil, err
	}
	return m.rotateSession(ctx, old, change)
}

// rotateSession replaces a live session with a successor that change may
// adjust, swapping the two atomically in the store.
func (m *Manager) rotateSession(ctx context.Context, old *session.Session, change func(*session.Session) error) (*LoginResult, error) {
	now := m.clock.Now()
	if err := m.checkLive(ctx, old, now); err != nil {
		return nil, err
	}
	next, newTok, err := m.newSession(old.UserID, old.TenantID, old.Scope, old.Client, now, old.AuthenticatedAt)
	if err != nil {
		return nil, err
	}
	next.AuthLevel = old.AuthLevel
	// The successor keeps the original absolute deadline: rotation must not
	// let a session outlive the limit set at login.
	next.AbsoluteExpiresAt = old.AbsoluteExpiresAt
	if change != nil {
		if err := change(next); err != nil {
			return nil, err
		}
	}
	if err := m.sessions.Rotate(ctx, old.ID, next, now); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrSessionRevoked
		}
		return nil, translate("session.rotate", err)
	}
	typ := audit.TypeSessionRotated
	if next.TenantID != old.TenantID {
		typ = audit.TypeTenantSwitch
	}
	m.emit(ctx, audit.Event{Type: typ, Outcome: audit.Success, ActorUserID: old.UserID, ActorSessionID: next.ID,
		TenantID: next.TenantID, Scope: next.Scope, Target: old.ID,
		Attributes: map[string]string{"from_tenant": old.TenantID}})
	u, err := m.users.Get(ctx, old.UserID)
	if err != nil {
		return nil, translate("user.get", err)
	}
	return &LoginResult{User: u, Session: next, Token: newTok}, nil
}

// SessionStats counts live sessions per tenant, user and device, and
// sessions created and revoked in the filter's window.
func (m *Manager) SessionStats(ctx context.Context, f session.StatsFilter) (session.Stats, error) {
	st, err := m.sessions.Stats(ctx, f, m.clock.Now())
	if err != nil {
		return session.Stats{}, translate("session.stats", err)
	}
	return st, nil
}
