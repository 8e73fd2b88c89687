package authv2

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/token"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
)

// Authenticate turns a token into a Principal. It reads the session store
// once (plus, at most once per TouchInterval, a write of last-seen) and
// never the user store: everything that must end access revokes sessions.
// A malformed token fails without touching the store. An API key (token
// prefix av2k_) is read from the API key store instead, also once (see
// apikeys.go). An impersonation session costs more: the actor's own
// session is read too, and the actor's permission checked (see
// checkImpersonator).
func (m *Manager) Authenticate(ctx context.Context, tok string, client session.ClientInfo) (_ *Principal, err error) {
	ctx, span := m.tel.StartHot(ctx, "authv2.Authenticate")
	defer m.endSpan(span, &err)
	if token.IsKey(tok) {
		return m.authenticateKey(ctx, tok, client)
	}
	sess, now, err := m.liveSession(ctx, tok, true)
	if err != nil {
		return nil, err
	}
	verdict := m.security.Check(sess, client)
	if verdict.Action != session.SecurityAllow {
		outcome := audit.Success
		if verdict.Action == session.SecurityReject {
			outcome = audit.Denied
		}
		m.emit(ctx, audit.Event{Type: audit.TypeSessionSecurity, Outcome: outcome, ActorUserID: sess.UserID,
			ActorSessionID: sess.ID, ImpersonatorUserID: impersonatorOf(sess), TenantID: sess.TenantID, IP: client.IP,
			UserAgent: client.UserAgent, Reason: verdict.Reason})
		if verdict.Action == session.SecurityReject {
			return nil, ErrClientMismatch
		}
	}
	renew := now.Sub(sess.LastSeenAt) >= m.cfg.Session.TouchInterval
	if sess.Impersonator != nil {
		if err := m.checkImpersonator(ctx, sess, now, renew); err != nil {
			return nil, err
		}
	}
	if renew {
		idle := now.Add(m.cfg.Session.IdleTimeout)
		if err := m.sessions.Touch(ctx, sess.ID, now, idle); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, ErrSessionRevoked // revoked between the read and the write
			}
			return nil, translate("session.touch", err)
		}
		sess.LastSeenAt, sess.IdleExpiresAt = now, idle
		m.emit(ctx, audit.Event{Type: audit.TypeSessionRenewed, Outcome: audit.Success, ActorUserID: sess.UserID,
			ActorSessionID: sess.ID, ImpersonatorUserID: impersonatorOf(sess), TenantID: sess.TenantID, IP: client.IP,
			UserAgent: client.UserAgent})
	}
	return &Principal{
		Kind:            PrincipalUser,
		Client:          client,
		UserID:          sess.UserID,
		TenantID:        sess.TenantID,
		Scope:           sess.Scope,
		SessionID:       sess.ID,
		AuthLevel:       sess.AuthLevel,
		AuthenticatedAt: sess.AuthenticatedAt,
		ExpiresAt:       sess.ExpiresAt(),
		Risk:            verdict.Reason,
		Attributes:      sess.Attributes,
		subjectAttrs:    subjectAttributes(sess.Attributes),
		Session:         sess,
		Impersonator:    sess.Impersonator,
	}, nil
}

// impersonatorOf returns the real actor of an impersonation session, ""
// for a user's own.
func impersonatorOf(s *session.Session) string {
	if s.Impersonator == nil {
		return ""
	}
	return s.Impersonator.UserID
}

// lookup parses a token and returns its session if the secret matches,
// whatever the session's state.
func (m *Manager) lookup(ctx context.Context, tok string) (*session.Session, error) {
	id, secret, err := token.Parse(tok)
	if err != nil {
		return nil, ErrUnauthenticated
	}
	sess, err := m.sessions.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, translate("session.get", err)
	}
	sum := sha256.Sum256(secret[:])
	if subtle.ConstantTimeCompare(sum[:], sess.SecretHash) != 1 {
		return nil, ErrUnauthenticated
	}
	return sess, nil
}

// liveSession returns the session of tok if it is usable now, and now.
// With inGrace, a token rotated away moments ago stands for its successor
// (see successorInGrace).
func (m *Manager) liveSession(ctx context.Context, tok string, inGrace bool) (*session.Session, time.Time, error) {
	sess, err := m.lookup(ctx, tok)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := m.clock.Now()
	if inGrace && !sess.RevokedAt.IsZero() {
		sess = m.successorInGrace(ctx, sess, now)
	}
	if err := m.checkLive(ctx, sess, now); err != nil {
		return nil, time.Time{}, err
	}
	return sess, now, nil
}

// checkLive reports why a session can no longer be used, auditing expiry.
func (m *Manager) checkLive(ctx context.Context, sess *session.Session, now time.Time) error {
	if !sess.RevokedAt.IsZero() {
		if m.rotatedAway(sess) && now.Sub(sess.RevokedAt) > m.cfg.Session.RotationGrace {
			m.tokenReused(ctx, sess, now)
		}
		return ErrSessionRevoked
	}
	if !now.Before(sess.ExpiresAt()) {
		m.emit(ctx, audit.Event{Type: audit.TypeSessionExpired, Outcome: audit.Failure, ActorUserID: sess.UserID,
			ActorSessionID: sess.ID, ImpersonatorUserID: impersonatorOf(sess), TenantID: sess.TenantID})
		return ErrSessionExpired
	}
	return nil
}
