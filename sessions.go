package authv2

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/token"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/user"
)

// ListSessions returns the user's live sessions, newest first, from the
// store's per-user index.
func (m *Manager) ListSessions(ctx context.Context, userID string) ([]*session.Session, error) {
	if err := checkText("UserID", userID); err != nil {
		return nil, err
	}
	list, err := m.sessions.ListByUser(ctx, userID, m.clock.Now())
	if err != nil {
		return nil, translate("session.list", err)
	}
	return list, nil
}

// RevokeSession ends one session; it is rejected by Authenticate on every
// instance from the next call on.
func (m *Manager) RevokeSession(ctx context.Context, sessionID, reason string) error {
	if err := cmp.Or(notImpersonating(ctx), checkText("SessionID", sessionID, "Reason", reason)); err != nil {
		return err
	}
	if reason == "" {
		reason = session.ReasonRevoked
	}
	// Read first so the event says whose session, in which tenant, ended:
	// the actor may be an administrator.
	s, err := m.sessions.Get(ctx, sessionID)
	if err != nil {
		return translate("session.get", err)
	}
	if s.Impersonator != nil && (s.RevokedAt.IsZero() || m.rotatedAway(s)) {
		// An impersonation session revoked by hand ends its impersonation,
		// also by the ID of a session of it rotated away (the record's).
		_, _, err := m.endImpersonation(ctx, s, m.clock.Now(), session.ImpersonationEnded)
		return err
	}
	now := m.clock.Now()
	// A session rotated away lives on in its successor: an ID read (say
	// from ListSessions) before its client rotated it still names that
	// session, so the revocation follows the rotations to the one it runs
	// in now, also when one lands between that read and the write. A
	// client rotating often could otherwise never be ended by ID.
	for range maxRotationHops {
		if m.rotatedAway(s) {
			// nil: the successor is gone, nothing left to end.
			if s, err = m.currentSession(ctx, s.ReplacedBy); err != nil || s == nil {
				return err
			}
		}
		err := m.revokeOne(ctx, s.ID, now, reason, withActor(ctx, audit.Event{Type: audit.TypeSessionRevoked, Outcome: audit.Success,
			Target: s.ID, TenantID: s.TenantID, Reason: reason, Attributes: map[string]string{audit.AttrUser: s.UserID}}))
		if err != nil || !s.RevokedAt.IsZero() {
			return err
		}
		// Re-read: a rotation that committed first made the write a no-op.
		if s, err = m.sessions.Get(ctx, s.ID); err != nil {
			return translate("session.get", err)
		}
		if !m.rotatedAway(s) {
			return nil
		}
	}
	return nil
}

// revokeOne ends one session and records ev: committed with the
// revocation when the session store has an outbox, else appended after it.
func (m *Manager) revokeOne(ctx context.Context, id string, now time.Time, reason string, ev audit.Event) error {
	if so := m.sessionsOutbox; so != nil {
		return translate("session.revoke", m.recorded(ctx, []audit.Event{ev}, func(events []audit.Event) error {
			return so.RevokeRecorded(ctx, id, now, reason, events)
		}))
	}
	if err := m.sessions.Revoke(ctx, id, now, reason); err != nil {
		return translate("session.revoke", err)
	}
	return m.emit(ctx, ev)
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
	if err := cmp.Or(notImpersonating(ctx), checkText("UserID", userID, "TenantID", opts.TenantID, "Reason", opts.Reason)); err != nil {
		return nil, err
	}
	reason := opts.Reason
	if reason == "" {
		reason = session.ReasonRevoked
	}
	return m.endUserSessions(ctx, userID, session.RevokeFilter{ExceptID: opts.ExceptSessionID, TenantID: opts.TenantID}, m.clock.Now(), reason)
}

// endUserSessions ends a user's sessions that f selects, and records one
// session.revoked event per session ended (and so the metric, see count)
// naming the actor in ctx and the user in an attribute: every flow that
// ends sessions goes through it.
func (m *Manager) endUserSessions(ctx context.Context, userID string, f session.RevokeFilter, now time.Time, reason string) ([]string, error) {
	ids, events, err := m.revokeUserSessions(ctx, userID, f, now, reason)
	if err != nil {
		return nil, err
	}
	if err := m.emitAll(ctx, events); err != nil {
		return nil, err
	}
	return ids, nil
}

// revokeUserSessions is endUserSessions leaving the events to its caller,
// which records them with its own in one journal write. With a session
// store's outbox the sessions' events are committed with the revocation
// instead; only those of the API keys it ends (which live in another
// store) are left to the caller.
func (m *Manager) revokeUserSessions(ctx context.Context, userID string, f session.RevokeFilter, now time.Time, reason string) ([]string, []audit.Event, error) {
	revoked := func(ids []string) []audit.Event {
		events := make([]audit.Event, len(ids))
		for i, id := range ids {
			events[i] = withActor(ctx, audit.Event{Type: audit.TypeSessionRevoked, Outcome: audit.Success, Target: id,
				TenantID: f.TenantID, Reason: reason, Attributes: map[string]string{audit.AttrUser: userID}})
		}
		return events
	}
	var ids []string
	var events []audit.Event
	if so := m.sessionsOutbox; so != nil {
		var recorded []audit.Event
		var err error
		ids, err = so.RevokeUserRecorded(ctx, userID, f, now, reason, func(ids []string) []audit.Event {
			recorded = revoked(ids)
			m.stamp(ctx, recorded)
			return recorded
		})
		if err != nil {
			return nil, nil, translate("session.revoke_user", err)
		}
		m.queue(ctx, recorded, true)
	} else {
		var err error
		ids, err = m.sessions.RevokeUser(ctx, userID, f, now, reason)
		if err != nil {
			return nil, nil, translate("session.revoke_user", err)
		}
		events = revoked(ids)
	}
	if len(ids) > 0 {
		m.settleImpersonationsOf(ctx, userID, now)
	}
	if endsKeys(reason) {
		// The user's API keys end with the sessions (apikeys.go).
		_, keyEvents, err := m.revokeOwnerKeys(ctx, userID, f.TenantID, now, reason)
		if err != nil {
			return nil, nil, err
		}
		events = append(events, keyEvents...)
	}
	return ids, events, nil
}

// RotateSession replaces the session of tok with a new one (same user,
// tenant, scope and authentication time) and kills the old token. Call it
// on privilege changes.
func (m *Manager) RotateSession(ctx context.Context, tok string) (*LoginResult, error) {
	return m.rotate(ctx, tok, nil)
}

// SwitchTenant moves the session of tok into another tenant (and scope),
// issuing a new token and killing the old one. The user must be a member
// of, or hold a binding in, that tenant (ErrNotMember otherwise). A
// tenant whose MFA policy requires a second factor of the user is entered
// only by a session at AAL2 (a *StepUpError otherwise: StepUp first, or,
// without a factor, log in to that tenant, which enrolls one).
func (m *Manager) SwitchTenant(ctx context.Context, tok, tenantID, scope string) (*LoginResult, error) {
	if err := cmp.Or(checkText("TenantID", tenantID), checkScope("Scope", scope)); err != nil {
		return nil, err
	}
	return m.rotate(ctx, tok, func(s *session.Session) error {
		if err := ownSession(s); err != nil {
			return err // an impersonation stays in its tenant
		}
		if err := m.checkTenantAccess(ctx, s.UserID, tenantID); err != nil {
			return err
		}
		p := &Principal{UserID: s.UserID, Session: s, AuthLevel: s.AuthLevel, AuthenticatedAt: s.AuthenticatedAt}
		if err := m.tenantAssurance(ctx, s.UserID, tenantID, p); err != nil {
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
	res, rotated, err := m.rotateSession(ctx, old, nil, change)
	if err != nil {
		return nil, err
	}
	return m.recordRotation(ctx, res, rotated)
}

// recordRotation records a rotation's events (the rotation and the
// flow's own, in one journal write) and returns res; when the journal
// refuses them the successor, whose token its client will never get, is
// ended and the flow fails.
func (m *Manager) recordRotation(ctx context.Context, res *LoginResult, events ...audit.Event) (*LoginResult, error) {
	if err := m.emitAll(ctx, events); err != nil {
		m.abandonSession(ctx, res.Session)
		return nil, err
	}
	return res, nil
}

// rotateSession replaces a live session with a successor that change may
// adjust, swapping the two atomically in the store. With u nil the user is
// read, and a session issued under a security stamp the user no longer
// has is ended instead (it outlived an account change); a flow that has
// just changed the user itself passes the saved record. It returns the
// rotation's event unrecorded: the caller records it with its own
// (recordRotation), so that a refusal ends the successor.
func (m *Manager) rotateSession(ctx context.Context, old *session.Session, u *user.User, change func(*session.Session) error) (*LoginResult, audit.Event, error) {
	res, err := m.swapSession(ctx, old, u, change)
	if err != nil {
		return nil, audit.Event{}, err
	}
	typ := audit.TypeSessionRotated
	if res.Session.TenantID != old.TenantID {
		typ = audit.TypeTenantSwitch
	}
	return res, audit.Event{Type: typ, Outcome: audit.Success, ActorUserID: old.UserID, ActorSessionID: res.Session.ID,
		ImpersonatorUserID: impersonatorOf(old), TenantID: res.Session.TenantID, Scope: res.Session.Scope, Target: old.ID,
		Attributes: map[string]string{"from_tenant": old.TenantID}}, nil
}

// swapSession is rotateSession's store work.
func (m *Manager) swapSession(ctx context.Context, old *session.Session, u *user.User, change func(*session.Session) error) (*LoginResult, error) {
	now := m.clock.Now()
	if err := m.checkLive(ctx, old, now); err != nil {
		return nil, err
	}
	if u == nil {
		var err error
		if u, err = m.users.Get(ctx, old.UserID); errors.Is(err, store.ErrNotFound) {
			m.abandonSession(ctx, old)
			return nil, ErrSessionRevoked
		} else if err != nil {
			return nil, translate("user.get", err)
		}
		if u.SecurityStamp != old.SecurityStamp {
			m.abandonSession(ctx, old)
			return nil, ErrSessionRevoked
		}
	}
	// The successor takes the user's attributes as they are now: rotation
	// is when a change to them reaches the session.
	next, newTok, err := m.newSession(u, old.TenantID, old.Scope, old.Client, now, old.AuthenticatedAt, old.Proofs)
	if err != nil {
		return nil, err
	}
	next.AuthLevel = old.AuthLevel
	// The successor keeps the original absolute deadline: rotation must not
	// let a session outlive the limit set at login, nor an impersonation
	// its deadline. It stays an impersonation session of the same actor.
	next.AbsoluteExpiresAt = old.AbsoluteExpiresAt
	if next.IdleExpiresAt.After(next.AbsoluteExpiresAt) {
		next.IdleExpiresAt = next.AbsoluteExpiresAt
	}
	next.Impersonator = old.Impersonator
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
	return &LoginResult{User: u, Session: next, Token: newTok}, nil
}

// maxRotationHops bounds how far a rotated-away session's chain of
// successors is followed.
const maxRotationHops = 8

// successorInGrace returns the live session that replaced sess when sess
// was rotated away less than RotationGrace ago: a browser's requests sent
// while a rotation was under way still carry the old token. Otherwise it
// returns sess.
func (m *Manager) successorInGrace(ctx context.Context, sess *session.Session, now time.Time) *session.Session {
	cur := sess
	for range maxRotationHops {
		if !m.rotatedAway(cur) || now.Sub(cur.RevokedAt) > m.cfg.Session.RotationGrace {
			break
		}
		next, err := m.sessions.Get(ctx, cur.ReplacedBy)
		if err != nil {
			break
		}
		if next.RevokedAt.IsZero() {
			return next
		}
		cur = next
	}
	return sess
}

func (m *Manager) rotatedAway(s *session.Session) bool {
	return s.RevokeReason == session.ReasonRotated && s.ReplacedBy != "" && !s.RevokedAt.IsZero()
}

// tokenReused handles a token presented after its session was rotated
// away and the grace window passed: two parties hold copies of the
// session, and nothing tells which of the user's sessions descend from
// the copy (a thief may have rotated it any number of times), so every
// session of the user ends — as Auth0 and SuperTokens end the whole family
// of a reused refresh token — and the reuse is audited and counted. The
// owner signs in again with their password; the thief cannot. A reused
// impersonation token ends only its impersonation (impersonationReused).
func (m *Manager) tokenReused(ctx context.Context, sess *session.Session, now time.Time) {
	ctx = context.WithoutCancel(ctx)
	if sess.Impersonator != nil {
		m.impersonationReused(ctx, sess, now)
		return
	}
	ended, err := m.sessions.RevokeUser(ctx, sess.UserID, session.RevokeFilter{}, now, session.ReasonReuse)
	if err != nil {
		m.log.Error("authv2: ending the sessions of a reused token's user failed", "user_id", sess.UserID, "error", err)
	}
	events := make([]audit.Event, 0, len(ended)+1)
	for _, id := range ended {
		events = append(events, audit.Event{Type: audit.TypeSessionRevoked, Outcome: audit.Success, ActorUserID: sess.UserID,
			Target: id, Reason: session.ReasonReuse})
	}
	_ = m.emitAll(ctx, append(events, reuseEvent(sess, ended)))
}

// reuseEvent is the session.reuse_detected event of sess's token, which
// ended the sessions ended.
func reuseEvent(sess *session.Session, ended []string) audit.Event {
	return audit.Event{Type: audit.TypeSessionReuse, Outcome: audit.Denied, ActorUserID: sess.UserID, ActorSessionID: sess.ID,
		ImpersonatorUserID: impersonatorOf(sess), TenantID: sess.TenantID, Target: sess.ID, Reason: session.ReasonReuse,
		Attributes: map[string]string{"ended": strings.Join(ended, ",")}}
}

// impersonationReused handles a reused impersonation token: the copies
// are of the impersonation, not of the user's own sessions, so only the
// impersonation ends (its live session, found along the rotations, and
// its record), with reason token_reuse. Ending the user's sessions
// would let an impersonator sign the user out everywhere, which
// RevokeSessions refuses them.
func (m *Manager) impersonationReused(ctx context.Context, sess *session.Session, now time.Time) {
	var ended []string
	if _, cur, err := m.endImpersonation(ctx, sess, now, session.ImpersonationTokenReuse); err != nil {
		m.log.Error("authv2: ending a reused impersonation failed", "session_id", sess.ID, "error", err)
	} else if cur != nil {
		ended = []string{cur.ID}
	}
	_ = m.emit(ctx, reuseEvent(sess, ended))
}

// SessionStats counts live sessions per tenant, user and device, and
// sessions created and revoked in the filter's window. The unfiltered
// counts (a zero StatsFilter) are those of the authv2.sessions.active
// gauge: read from the store at most once per Config.SessionStatsMaxAge,
// and while a newer read runs, the previous one's. A filter reads the
// store on each call, at the cost session.Store.Stats documents.
func (m *Manager) SessionStats(ctx context.Context, f session.StatsFilter) (session.Stats, error) {
	var st session.Stats
	var err error
	if f == (session.StatsFilter{}) {
		st, err = m.stats.get(ctx, m.clock.Now())
		st = cloneStats(st)
	} else {
		st, err = m.sessions.Stats(ctx, f, m.clock.Now())
	}
	if err != nil {
		return session.Stats{}, translate("session.stats", err)
	}
	return st, nil
}

// newSession builds a session record and its token.
// newSession builds a session of u, which carries u's security stamp and
// a copy of u's attributes: conditions read them from the session, so
// Authenticate never reads the user.
// proofs are the factors proven (the password at authAt for a login);
// they set the session's AuthLevel.
func (m *Manager) newSession(u *user.User, tenantID, scope string, client session.ClientInfo, now, authAt time.Time, proofs mfa.Proofs) (*session.Session, string, error) {
	id := session.NewID(u.ID)
	tok, secret, err := token.New(id)
	if err != nil {
		return nil, "", err
	}
	p := m.cfg.Session
	return &session.Session{
		ID:                id,
		SecretHash:        session.HashSecret(secret),
		UserID:            u.ID,
		TenantID:          tenantID,
		Scope:             scope,
		CreatedAt:         now,
		LastSeenAt:        now,
		IdleExpiresAt:     now.Add(p.IdleTimeout),
		AbsoluteExpiresAt: now.Add(p.AbsoluteTimeout),
		AuthenticatedAt:   authAt,
		AuthLevel:         max(int(proofs.Level()), 1),
		Proofs:            proofs,
		SecurityStamp:     u.SecurityStamp,
		Attributes:        sessionAttributes(u.Attributes),
		Client:            client,
	}, tok, nil
}

// openSession creates a session under the per-user limit. It returns the
// events of what it did (sessions evicted, the session created) for the
// caller to record with its own, in one journal write.
func (m *Manager) openSession(ctx context.Context, u *user.User, tenantID, scope string, client session.ClientInfo, now, authAt time.Time, proofs mfa.Proofs) (*session.Session, string, []audit.Event, error) {
	sess, tok, err := m.newSession(u, tenantID, scope, client, now, authAt, proofs)
	if err != nil {
		return nil, "", nil, err
	}
	evicted, err := m.sessions.Create(ctx, sess, m.cfg.Session.Limit(), now)
	if errors.Is(err, store.ErrLimit) {
		return nil, "", nil, ErrSessionLimit
	}
	if err != nil {
		return nil, "", nil, translate("session.create", err)
	}
	events := make([]audit.Event, 0, len(evicted)+1)
	for _, id := range evicted {
		events = append(events, audit.Event{Type: audit.TypeSessionEvicted, Outcome: audit.Success, ActorUserID: u.ID, Target: id, Reason: session.ReasonEvicted})
	}
	events = append(events, audit.Event{Type: audit.TypeSessionCreated, Outcome: audit.Success, ActorUserID: u.ID, ActorSessionID: sess.ID,
		TenantID: tenantID, Scope: scope, IP: client.IP, UserAgent: client.UserAgent,
		Attributes: map[string]string{audit.AttrDevice: client.DeviceLabel}})
	return sess, tok, events, nil
}
