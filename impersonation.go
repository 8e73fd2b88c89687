package authv2

import (
	"cmp"
	"context"
	"errors"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/randid"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/user"
)

// This file holds impersonation: a principal holding PermissionImpersonate
// in a tenant acts as a member of it, in a session of that member's that
// names them (session.Session.Impersonator), for a bounded time, never for
// someone holding more than they could grant, and never to change the
// member's credentials, factors, sessions or keys.

// The permission StartImpersonation checks: ImpersonateAction on a
// resource of type ImpersonateResource whose ID is the user to act as, in
// the actor's tenant. Grant it as PermissionImpersonate ("users:impersonate")
// to the roles of support staff; a condition on resource.id, or a scope,
// narrows whom they may act as.
const (
	ImpersonateAction     = "impersonate"
	ImpersonateResource   = "users"
	PermissionImpersonate = ImpersonateResource + ":" + ImpersonateAction
)

// maxImpersonationReason bounds the reason an actor gives, in bytes.
const maxImpersonationReason = 500

// StartImpersonationInput is what StartImpersonation needs.
type StartImpersonationInput struct {
	// TargetUserID is the member to act as.
	TargetUserID string
	// Reason is why, in the actor's words (a support ticket): required, at
	// most 500 bytes. The user acted as reads it (Impersonations).
	Reason string
	// Duration is how long the impersonation session lasts, from now:
	// 0 is Config.ImpersonationTTL, and it may not exceed
	// Config.ImpersonationMaxTTL.
	Duration time.Duration
}

// Impersonation is a started impersonation: Token is the impersonation
// session's token, shown this once; Session its record (UserID the user
// acted as, Impersonator the actor); Record the impersonation record.
type Impersonation struct {
	Token   string
	Session *session.Session
	User    *user.User
	Record  *session.Impersonation
}

// StartImpersonation opens a session of another member of the actor's
// tenant, for support staff to see what that member sees. The actor must
// be a user's own session (ErrSessionRequired for an API key, ErrImpersonation
// for an impersonation session: no chains) in a tenant (ErrNotMember
// otherwise) and live (ErrSessionRevoked), hold PermissionImpersonate on
// the target there (ErrForbidden),
// and hold every right the target's bindings in that tenant give
// (ErrExceedsOwnRights: never someone with more rights); the target must be
// another active member of that tenant (a *ValidationError for oneself or
// an inactive account, ErrNotFound for no such user, ErrNotMember for one
// of another tenant).
//
// The session is in the actor's tenant and scope, at assurance level 1
// with no credential proven (RequireFreshAuth and step-up checks refuse
// it), and ends at its deadline however it is used. It does not count
// against the target's session limit, so it never evicts the target's own
// sessions. Authenticate accepts it only while the actor's own session
// (the one StartImpersonation was called with) is live and the actor
// still holds the permission: signing the actor out, disabling them or
// taking the permission away ends it at its next use. The actor's session
// stays as it was; EndImpersonation, or the deadline, returns to it.
func (m *Manager) StartImpersonation(ctx context.Context, actor *Principal, in StartImpersonationInput) (*Impersonation, error) {
	if err := personOnly(actor); err != nil {
		return nil, err
	}
	if actor.SessionID == "" {
		return nil, ErrSessionRequired
	}
	ttl, err := m.checkImpersonationInput(actor, &in)
	if err != nil {
		return nil, err
	}
	if actor.TenantID == "" {
		return nil, ErrNotMember
	}
	tenantID := actor.TenantID
	own, err := m.actorSession(ctx, actor)
	if err != nil {
		return nil, err
	}
	d, err := m.Authorize(ctx, actor, ImpersonateAction, impersonationResource(tenantID, in.TargetUserID))
	if err != nil {
		return nil, err
	}
	if !d.Allowed {
		return nil, ErrForbidden
	}
	u, err := m.users.Get(ctx, in.TargetUserID)
	if err != nil {
		return nil, translate("user.get", err)
	}
	if u.Status != user.StatusActive {
		return nil, &ValidationError{Fields: []FieldError{{"TargetUserID", "the user is not active"}}}
	}
	if err := m.checkTenantAccess(ctx, u.ID, tenantID); err != nil {
		return nil, err
	}
	if err := m.targetWithinActor(ctx, actor.UserID, own.Scope, tenantID, u.ID); err != nil {
		return nil, err
	}
	return m.openImpersonation(ctx, actor, own, u, in.Reason, ttl)
}

// actorSession reads the session the actor starts from, which the
// impersonation is bound to: it must be live, the actor's, in the actor's
// tenant (a principal built by hand proves nothing). ErrSessionRevoked
// otherwise.
func (m *Manager) actorSession(ctx context.Context, actor *Principal) (*session.Session, error) {
	own, err := m.sessions.Get(ctx, actor.SessionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrSessionRevoked
	}
	if err != nil {
		return nil, translate("session.get", err)
	}
	if !own.Live(m.clock.Now()) || own.UserID != actor.UserID || own.TenantID != actor.TenantID || own.Impersonator != nil {
		return nil, ErrSessionRevoked
	}
	return own, nil
}

// checkImpersonationInput checks in and returns the session's lifetime.
func (m *Manager) checkImpersonationInput(actor *Principal, in *StartImpersonationInput) (time.Duration, error) {
	if err := checkText("TargetUserID", in.TargetUserID, "Reason", in.Reason); err != nil {
		return 0, err
	}
	var fields []FieldError
	switch {
	case in.TargetUserID == "":
		fields = append(fields, FieldError{"TargetUserID", "is required"})
	case in.TargetUserID == actor.UserID:
		fields = append(fields, FieldError{"TargetUserID", "cannot be yourself"})
	}
	if in.Reason == "" || len(in.Reason) > maxImpersonationReason || !utf8.ValidString(in.Reason) {
		fields = append(fields, FieldError{"Reason", "is required, at most 500 bytes"})
	}
	ttl := cmp.Or(in.Duration, m.cfg.ImpersonationTTL)
	if ttl < 0 || ttl > m.cfg.ImpersonationMaxTTL {
		fields = append(fields, FieldError{"Duration", "must be positive and at most " + m.cfg.ImpersonationMaxTTL.String()})
	}
	if len(fields) > 0 {
		return 0, &ValidationError{Fields: fields}
	}
	return ttl, nil
}

func impersonationResource(tenantID, targetID string) permission.Resource {
	return permission.Resource{Type: ImpersonateResource, ID: targetID, TenantID: tenantID}
}

// targetWithinActor refuses, with ErrExceedsOwnRights, a target whose
// bindings in the tenant the actor (at scope) could not hand out
// (checkGrantable), a conditioned grant counting only when the actor
// holds it unconditionally (checkCovered): acting as them must not reach
// anything the actor cannot, and a condition is evaluated against the
// target, whose roles and attributes are not the actor's.
func (m *Manager) targetWithinActor(ctx context.Context, actorID, scope, tenantID, targetID string) error {
	bs, err := m.permissions.ListBindings(ctx, tenantID, targetID)
	if err != nil {
		return translate("binding.list", err)
	}
	return m.checkCovered(ctx, &Principal{Kind: PrincipalUser, UserID: actorID, TenantID: tenantID, Scope: scope}, tenantID, bs, true)
}

// openImpersonation writes the record and the session, and records their
// events; when the journal refuses them, the session is ended.
func (m *Manager) openImpersonation(ctx context.Context, actor *Principal, own *session.Session, u *user.User, reason string, ttl time.Duration) (*Impersonation, error) {
	now := m.clock.Now()
	tenantID := actor.TenantID
	// It cannot outlive the actor's session, which it ends with anyway.
	deadline := now.Add(ttl)
	if own.AbsoluteExpiresAt.Before(deadline) {
		deadline = own.AbsoluteExpiresAt
	}
	rec := &session.Impersonation{ID: randid.ID(), TenantID: tenantID, ActorUserID: actor.UserID, ActorSessionID: own.ID,
		TargetUserID: u.ID, Reason: reason, StartedAt: now, ExpiresAt: deadline}
	// No credential was proven: RequireFreshAuth and step-up refuse it.
	sess, tok, err := m.newSession(u, tenantID, own.Scope, actor.Client, now, time.Time{}, nil)
	if err != nil {
		return nil, err
	}
	sess.AbsoluteExpiresAt = rec.ExpiresAt
	if sess.IdleExpiresAt.After(rec.ExpiresAt) {
		sess.IdleExpiresAt = rec.ExpiresAt
	}
	sess.Impersonator = &session.Impersonator{UserID: actor.UserID, SessionID: own.ID, ImpersonationID: rec.ID}
	rec.SessionID = sess.ID
	if err := m.impersonations.CreateImpersonation(ctx, rec); err != nil {
		return nil, translate("impersonation.create", err)
	}
	// No limit: an impersonation must not evict the user's own sessions.
	if _, err := m.sessions.Create(ctx, sess, session.Limit{}, now); err != nil {
		m.closeRecord(ctx, rec.ID, now, session.ImpersonationEnded)
		return nil, translate("session.create", err)
	}
	started := impersonationEvent(audit.TypeImpersonationStarted, rec, sess.ID, "")
	started.IP, started.UserAgent = actor.Client.IP, actor.Client.UserAgent
	started.Attributes["reason"] = reason
	started.Attributes["expires_at"] = rec.ExpiresAt.UTC().Format(time.RFC3339)
	created := audit.Event{Type: audit.TypeSessionCreated, Outcome: audit.Success, ActorUserID: u.ID, ActorSessionID: sess.ID,
		ImpersonatorUserID: actor.UserID, TenantID: tenantID, Scope: sess.Scope, IP: actor.Client.IP, UserAgent: actor.Client.UserAgent,
		Attributes: map[string]string{audit.AttrDevice: actor.Client.DeviceLabel, audit.AttrImpersonation: rec.ID}}
	if err := m.emitAll(ctx, []audit.Event{started, created}); err != nil {
		m.abandonSession(ctx, sess)
		m.closeRecord(ctx, rec.ID, now, session.ImpersonationEnded)
		return nil, err
	}
	return &Impersonation{Token: tok, Session: sess, User: u, Record: rec.Clone()}, nil
}

// impersonationEvent is an impersonation.started or .ended event: the
// real actor acts, on the user acted as.
func impersonationEvent(typ audit.Type, rec *session.Impersonation, sessionID, reason string) audit.Event {
	return audit.Event{Type: typ, Outcome: audit.Success, ActorUserID: rec.ActorUserID, ActorSessionID: rec.ActorSessionID,
		TenantID: rec.TenantID, Target: "user:" + rec.TargetUserID, Reason: reason,
		Attributes: map[string]string{audit.AttrUser: rec.TargetUserID, audit.AttrImpersonation: rec.ID, "session": sessionID}}
}

// closeRecord ends a record, logging a failure: the session, which is
// what grants access, has ended already (or never started), and a record
// left open reads as expired once its deadline passes.
func (m *Manager) closeRecord(ctx context.Context, id string, now time.Time, reason string) {
	if _, err := m.impersonations.EndImpersonation(context.WithoutCancel(ctx), id, now, reason); err != nil {
		m.log.Error("authv2: an impersonation record was not closed", "impersonation_id", id, "error", err)
	}
}

// EndImpersonation ends the impersonation p is in: its session is revoked
// everywhere at once, the record closed, and the end audited. It returns
// the record, whose ActorSessionID is the actor's own session, which was
// never touched: the client goes back to the token it held before. p must
// be an impersonation session (ErrNotFound otherwise). Ending one that
// ended already succeeds.
func (m *Manager) EndImpersonation(ctx context.Context, p *Principal) (*session.Impersonation, error) {
	if p == nil {
		return nil, ErrUnauthenticated
	}
	if p.Impersonator == nil || p.Session == nil {
		return nil, ErrNotFound
	}
	rec, _, err := m.endImpersonation(ctx, p.Session, m.clock.Now(), session.ImpersonationEnded)
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// endImpersonation ends the impersonation sess belongs to: the session
// it runs in now (sess, or the successor its rotations left, so that a
// principal read before a rotation ends the whole family) is revoked,
// its record closed, and impersonation.ended recorded with reason
// (committed with the revocation when the session store has an outbox).
// Only the call that ended it records the event and returns that
// session; concurrent ends (serialized per impersonation here) and later
// ones find it ended, record nothing, and return the record as it is.
func (m *Manager) endImpersonation(ctx context.Context, sess *session.Session, now time.Time, reason string) (*session.Impersonation, *session.Session, error) {
	imp := sess.Impersonator
	defer m.impEnds.lock(imp.ImpersonationID)()
	cur, err := m.currentSession(ctx, sess.ID)
	if err != nil {
		return nil, nil, err
	}
	if cur == nil || !cur.RevokedAt.IsZero() {
		// Ended already: by an earlier end, or by its session's end,
		// which the record takes when it has no end yet.
		at, why := now, reason
		if cur != nil {
			at, why = cur.RevokedAt, cur.RevokeReason
		}
		got, err := m.impersonations.EndImpersonation(context.WithoutCancel(ctx), imp.ImpersonationID, at, why)
		if err != nil {
			return nil, nil, translate("impersonation.end", err)
		}
		return got, nil, nil
	}
	rec := &session.Impersonation{ID: imp.ImpersonationID, TenantID: cur.TenantID, ActorUserID: imp.UserID,
		ActorSessionID: imp.SessionID, TargetUserID: cur.UserID}
	ended := impersonationEvent(audit.TypeImpersonationEnded, rec, cur.ID, reason)
	if a := actorFrom(ctx); a != nil {
		if a.UserID != imp.UserID {
			ended.Attributes["ended_by"] = a.UserID // an administrator, or the user acted as
		}
		if a.APIKey != nil {
			// Not audit.AttrAPIKey: the event's actor is the impersonator,
			// who did not present the key.
			ended.Attributes["ended_by_api_key"] = a.APIKey.ID
		}
	}
	if err := m.revokeOne(ctx, cur.ID, now, session.ReasonImpersonationEnded, ended); err != nil {
		return nil, nil, err
	}
	m.impChecks.forget(imp.ImpersonationID)
	got, err := m.impersonations.EndImpersonation(context.WithoutCancel(ctx), imp.ImpersonationID, now, reason)
	if err != nil {
		return nil, nil, translate("impersonation.end", err)
	}
	return got, cur, nil
}

// currentSession follows a session's rotations (an impersonation's, or
// one RevokeSession names) from the session id to the one it runs in
// now, or ended in; nil when a session along the way is gone (forgotten
// past its deadline, or a record without its session yet) or the chain
// is longer than maxImpersonationHops.
func (m *Manager) currentSession(ctx context.Context, id string) (*session.Session, error) {
	for range maxImpersonationHops {
		s, err := m.sessions.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, translate("session.get", err)
		}
		if !m.rotatedAway(s) {
			return s, nil
		}
		id = s.ReplacedBy
	}
	return nil, nil
}

// keyedLocks serializes work per key (ending one impersonation), letting
// work on other keys run. The zero value is ready.
type keyedLocks struct {
	mu sync.Mutex
	m  map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	users int // holders and waiters; the entry goes with the last
}

// lock takes key's lock and returns its release.
func (k *keyedLocks) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyedLock)
	}
	l := k.m[key]
	if l == nil {
		l = &keyedLock{}
		k.m[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// checkImpersonator is Authenticate's extra work on an impersonation
// session: the actor's own session must be live (it is renewed with the
// impersonation session, which the actor is using), the actor must
// still hold PermissionImpersonate on the user, and the user's rights
// must still be within the actor's (targetWithinActor): checked at each
// use, the verdict kept while the tenant's policy version stays the one
// it was reached at, and re-checked on renewal anyway. Failing any ends
// the impersonation (ErrSessionRevoked); a store that cannot answer
// fails the request closed and ends nothing.
func (m *Manager) checkImpersonator(ctx context.Context, sess *session.Session, now time.Time, renew bool) error {
	imp := sess.Impersonator
	actor, err := m.sessions.Get(ctx, imp.SessionID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return m.impersonationLost(ctx, sess, now, session.ImpersonationActorGone)
	case err != nil:
		return translate("session.get", err)
	case !actor.Live(now) || actor.UserID != imp.UserID:
		return m.impersonationLost(ctx, sess, now, session.ImpersonationActorGone)
	}
	subj := permission.Subject{UserID: imp.UserID, TenantID: sess.TenantID, Scope: actor.Scope, Attributes: subjectAttributes(actor.Attributes)}
	d, err := m.engine.Authorize(ctx, subj, ImpersonateAction, impersonationResource(sess.TenantID, sess.UserID), permission.Request{})
	if err != nil {
		return authzError(err)
	}
	if !d.Allowed {
		return m.impersonationLost(ctx, sess, now, session.ImpersonationRightRevoked)
	}
	// The rights comparison reads both users' bindings and roles: it is
	// repeated only when the tenant's policy changed since it last held
	// (every binding and role write bumps the version), and on renewal,
	// which also catches a binding that expired meanwhile.
	if renew || !m.impChecks.holds(imp.ImpersonationID, d.Version) {
		if err := m.targetWithinActor(ctx, imp.UserID, actor.Scope, sess.TenantID, sess.UserID); errors.Is(err, ErrExceedsOwnRights) {
			return m.impersonationLost(ctx, sess, now, session.ImpersonationRightsChanged)
		} else if err != nil {
			return err
		}
		m.impChecks.record(imp.ImpersonationID, d.Version, sess.AbsoluteExpiresAt, now)
	}
	if !renew {
		return nil
	}
	// The actor is at work: their own session must not idle out under
	// them while they use this one.
	if err := m.sessions.Touch(ctx, actor.ID, now, now.Add(m.cfg.Session.IdleTimeout)); errors.Is(err, store.ErrNotFound) {
		return m.impersonationLost(ctx, sess, now, session.ImpersonationActorGone)
	} else if err != nil {
		return translate("session.touch", err)
	}
	return nil
}

// maxImpersonationChecks bounds impersonationChecks; past it, verdicts
// of impersonations past their deadline are dropped, then all of them
// (each is recomputed at its next use).
const maxImpersonationChecks = 4096

// impersonationChecks holds, per running impersonation, the tenant
// policy version at which its target's rights were last found within its
// actor's. The zero value is ready.
type impersonationChecks struct {
	mu sync.Mutex
	m  map[string]impersonationCheck
}

type impersonationCheck struct {
	version  int64
	deadline time.Time
}

// holds reports whether impersonation id was checked at version; 0 is
// a decision that read no policy, which proves nothing.
func (c *impersonationChecks) holds(id string, version int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[id]
	return ok && version != 0 && v.version == version
}

func (c *impersonationChecks) record(id string, version int64, deadline, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxImpersonationChecks {
		for k, v := range c.m {
			if !now.Before(v.deadline) {
				delete(c.m, k)
			}
		}
		if c.m == nil || len(c.m) >= maxImpersonationChecks {
			c.m = make(map[string]impersonationCheck)
		}
	}
	c.m[id] = impersonationCheck{version: version, deadline: deadline}
}

func (c *impersonationChecks) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// impersonationLost ends an impersonation whose actor lost their session
// or right, and answers the request as for a revoked session.
func (m *Manager) impersonationLost(ctx context.Context, sess *session.Session, now time.Time, reason string) error {
	if _, _, err := m.endImpersonation(context.WithoutCancel(ctx), sess, now, reason); err != nil {
		m.log.Error("authv2: ending an impersonation failed", "session_id", sess.ID, "error", err)
	}
	return ErrSessionRevoked
}

// Impersonations returns a page of the impersonations of p's own
// account, newest first, ended, expired or running: who acted as them,
// when, for how long and why. Pass the last ID of a page as after for the
// next (see pageLimit). An impersonation session cannot read it
// (ErrImpersonation): the list is the user's own oversight.
func (m *Manager) Impersonations(ctx context.Context, p *Principal, after string, limit int) ([]*session.Impersonation, error) {
	if p == nil {
		return nil, ErrUnauthenticated
	}
	if p.Impersonator != nil {
		return nil, ErrImpersonation
	}
	return m.ListImpersonations(ctx, session.ImpersonationFilter{TargetUserID: p.UserID}, after, limit)
}

// ListImpersonations returns a page of the impersonation records f
// selects (a user's, an actor's, a tenant's: one field at least), newest
// first, for administrators' reviews; authorizing who may read which is
// the application's (Require). Pass the last ID of a page as after for
// the next; an after that is not in the list is ErrNotFound.
func (m *Manager) ListImpersonations(ctx context.Context, f session.ImpersonationFilter, after string, limit int) ([]*session.Impersonation, error) {
	if err := checkText("TargetUserID", f.TargetUserID, "ActorUserID", f.ActorUserID, "TenantID", f.TenantID, "After", after); err != nil {
		return nil, err
	}
	if f == (session.ImpersonationFilter{}) {
		return nil, &ValidationError{Fields: []FieldError{{"TargetUserID", "a user, an actor or a tenant is required"}}}
	}
	list, err := m.impersonations.ListImpersonations(ctx, f, after, pageLimit(limit))
	if err != nil {
		return nil, translate("impersonation.list", err)
	}
	now := m.clock.Now()
	for i, rec := range list {
		// Past its deadline too: an early end must not read as one that
		// ran to it.
		if rec.EndedAt.IsZero() {
			if list[i], err = m.settle(ctx, rec, now); err != nil {
				return nil, err
			}
		}
	}
	return list, nil
}

// settleImpersonationsOf settles the running impersonations of userID
// (the newest page of their records) right after their sessions were
// revoked, so each record holds its end even on a session store that
// forgets a session once past its deadline, before anyone lists it. A
// failure is logged: ListImpersonations settles them later while the
// sessions are kept.
func (m *Manager) settleImpersonationsOf(ctx context.Context, userID string, now time.Time) {
	ctx = context.WithoutCancel(ctx)
	list, err := m.impersonations.ListImpersonations(ctx, session.ImpersonationFilter{TargetUserID: userID}, "", pageLimit(0))
	if err != nil {
		m.log.Error("authv2: reading the impersonations of a user signed out failed", "user_id", userID, "error", err)
		return
	}
	for _, rec := range list {
		if !rec.EndedBy(now).IsZero() {
			continue
		}
		if _, err := m.settle(ctx, rec, now); err != nil {
			m.log.Error("authv2: an impersonation record was not closed", "impersonation_id", rec.ID, "error", err)
		}
	}
}

// maxImpersonationHops bounds the rotations currentSession follows.
const maxImpersonationHops = 64

// settle closes the record of a running impersonation whose session
// ended another way than through this file (the member signed out
// everywhere or changed their password, an administrator's
// RevokeSessions, the idle timeout), so the list tells the truth; the
// end is the session's. It follows rotations from the first session.
func (m *Manager) settle(ctx context.Context, rec *session.Impersonation, now time.Time) (*session.Impersonation, error) {
	s, err := m.currentSession(ctx, rec.SessionID)
	switch {
	case err != nil:
		return nil, err
	case s == nil:
		return rec, nil
	case !s.RevokedAt.IsZero():
		return m.closeAt(ctx, rec, s.RevokedAt, s.RevokeReason)
	case !now.Before(s.ExpiresAt()):
		return m.closeAt(ctx, rec, s.ExpiresAt(), session.ImpersonationIdle)
	}
	return rec, nil
}

// closeAt ends rec at at for reason and returns the stored record.
func (m *Manager) closeAt(ctx context.Context, rec *session.Impersonation, at time.Time, reason string) (*session.Impersonation, error) {
	if at.After(rec.ExpiresAt) {
		return rec, nil // it reached its deadline first
	}
	got, err := m.impersonations.EndImpersonation(ctx, rec.ID, at, reason)
	if err != nil {
		return nil, translate("impersonation.end", err)
	}
	return got, nil
}

// notImpersonating refuses a change whose actor (WithActor, else the
// request's principal) is an impersonation session: credential, factor,
// session, key and account changes are the user's own, or an
// administrator's acting as themselves.
func notImpersonating(ctx context.Context) error {
	if actorFrom(ctx).IsImpersonation() {
		return ErrImpersonation
	}
	return nil
}

// ownSession refuses a token flow (re-authentication, step-up, a tenant
// switch) on an impersonation session.
func ownSession(s *session.Session) error {
	if s.Impersonator != nil {
		return ErrImpersonation
	}
	return nil
}
