package authv2

import (
	"context"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/session"
)

// Logout ends the session of tok everywhere at once. Logging out a session
// that already ended succeeds; a token that names no session is
// ErrUnauthenticated.
func (m *Manager) Logout(ctx context.Context, tok string) (err error) {
	ctx, span := m.tel.Start(ctx, "authv2.Logout")
	defer m.endSpan(span, &err)
	sess, err := m.lookup(ctx, tok)
	if err != nil {
		return err
	}
	now := m.clock.Now()
	if !sess.RevokedAt.IsZero() {
		// A logout sent with the token a rotation just replaced ends the
		// successor: the client asked to sign out of the session it holds.
		sess = m.successorInGrace(ctx, sess, now)
	}
	if !sess.RevokedAt.IsZero() {
		return nil
	}
	if sess.Impersonator != nil {
		// Signing out of an impersonation ends it.
		_, _, err := m.endImpersonation(ctx, sess, now, session.ImpersonationLoggedOut)
		return err
	}
	return m.revokeOne(ctx, sess.ID, now, session.ReasonLogout,
		audit.Event{Type: audit.TypeLogout, Outcome: audit.Success, ActorUserID: sess.UserID, ActorSessionID: sess.ID, TenantID: sess.TenantID})
}
