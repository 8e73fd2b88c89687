package authv2

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/user"
)

// LoginInput is what Login needs.
type LoginInput struct {
	Email    string
	Password string
	// TenantID selects the tenant of the new session; "" means the user's
	// default tenant (or none).
	TenantID string
	Scope    string
	Client   session.ClientInfo
	// DeviceToken is the device token the client presented (from the
	// device cookie: Manager.DeviceToken), "" if none. A valid one for this
	// user exempts the attempt from the email's throttle that failures from
	// other clients spend; it has its own failure budgets instead.
	DeviceToken string
}

// LoginResult is a successful login. Token is the only copy of the session
// secret: hand it to the client and do not log it. A login that waits for
// a second factor has no Session and no Token, but MFA.
type LoginResult struct {
	User    *user.User
	Session *session.Session
	Token   string
	// DeviceToken marks the client as one the user logged in from, set
	// with the session (after the second factor, when there is one):
	// hand it back (SetSessionCookie sets it as the device cookie) and
	// pass it in LoginInput.DeviceToken next time, and in
	// CompleteLoginInput and PasskeyLoginInput. Like Token, it is a
	// secret.
	DeviceToken string
	// MFA is set, and Session and Token are not, when the user has a
	// second factor (WithMFA): the password was right, and CompleteLogin
	// with MFA.Token and a second factor opens the session.
	MFA *MFAChallenge
}

// Login checks a password and opens a session. Every credential failure
// is ErrInvalidCredentials, and an unknown email costs the same time as a
// wrong password.
func (m *Manager) Login(ctx context.Context, in LoginInput) (_ *LoginResult, err error) {
	ctx, span := m.tel.Start(ctx, "authv2.Login")
	defer m.endSpan(span, &err)
	if err := cmp.Or(checkText("Email", in.Email, "TenantID", in.TenantID), checkScope("Scope", in.Scope)); err != nil {
		return nil, err
	}
	// A failure is recorded in a tenant only when the user is known and
	// belongs to it (failureTenant): in.TenantID is whatever the caller typed.
	failure := func(userID, tenantID, reason string) audit.Event {
		return audit.Event{Type: audit.TypeLoginFailure, Outcome: audit.Failure, ActorUserID: userID,
			TenantID: tenantID, IP: in.Client.IP, UserAgent: in.Client.UserAgent, Reason: reason}
	}
	fail := func(userID, tenantID, reason string) { m.emit(ctx, failure(userID, tenantID, reason)) }
	// failKnown records a known user's failure in one journal write, as
	// an unknown email's is. Finding the tenant it counts in reads the
	// permission store; without a journal that happens off the caller's
	// time, so that a wrong password for a real account takes no longer
	// than an unknown email.
	failKnown := func(u *user.User, reason string) {
		candidate := cmp.Or(in.TenantID, u.DefaultTenantID)
		if m.journal != nil {
			// The event must be durable before the answer: the tenant
			// is read on the caller's time, always with the same reads,
			// which an unknown email makes too (unknownTenantRead).
			m.emit(ctx, failure(u.ID, m.failureTenant(ctx, u.ID, candidate), reason))
			return
		}
		if candidate == "" {
			fail(u.ID, "", reason)
			return
		}
		m.background(ctx, func(ctx context.Context) error {
			m.emit(ctx, failure(u.ID, m.failureTenant(ctx, u.ID, candidate), reason))
			return nil
		})
	}
	now := m.clock.Now()
	// Each attempt reserves its place in the throttles before any hash is
	// computed (throttle.go), so a flood against one account or from one IP
	// costs almost nothing, and concurrency cannot get more hashes through.
	at, retry, err := m.reserveClient(ctx, in.Client.IP, now)
	if err != nil {
		return nil, err
	} else if retry > 0 {
		fail("", "", audit.ReasonIPThrottled)
		return nil, m.throttledError(retry)
	}
	u, err := m.users.GetByEmail(ctx, in.Email)
	if errors.Is(err, store.ErrNotFound) {
		// An unknown email is throttled like an account, in the same
		// budget by the same call (loginKey), so that neither a fast
		// "throttled" answer nor its timing reveals which emails exist.
		if retry, err := m.reserveEmail(ctx, in.Email, now); err != nil {
			return nil, err
		} else if retry > 0 {
			m.unknownTenantRead(ctx, in.TenantID)
			fail("", "", audit.ReasonUnknownUserThrottled)
			return nil, m.throttledError(retry)
		}
		// Spend a real hash's time so the response does not say the email is unknown.
		if err := m.hasher.VerifyDummy(ctx, in.Password); err != nil && !errors.Is(err, user.ErrMismatch) && !errors.Is(err, user.ErrPasswordTooLong) {
			return nil, err
		}
		m.unknownTenantRead(ctx, in.TenantID)
		fail("", "", audit.ReasonUnknownUser)
		return nil, ErrInvalidCredentials
	}
	if err != nil {
		return nil, translate("user.get_by_email", err)
	}
	if retry, err := at.reserveAccount(ctx, u, in.Email, in.DeviceToken); err != nil {
		return nil, err
	} else if retry > 0 {
		failKnown(u, audit.ReasonAccountThrottled)
		return nil, m.throttledError(retry)
	}
	rehash, err := m.hasher.Verify(ctx, in.Password, u.PasswordHash)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !errors.Is(err, user.ErrMismatch) && !errors.Is(err, user.ErrPasswordTooLong) {
			m.log.Error("authv2: stored password hash unusable", "user_id", u.ID, "error", err)
		}
		failKnown(u, audit.ReasonBadPassword)
		return nil, ErrInvalidCredentials
	}
	// Status is checked only after the password so that a correct guess
	// against a disabled account and a wrong one look the same.
	switch u.Status {
	case user.StatusActive:
	case user.StatusPendingVerification:
		if m.cfg.RequireEmailVerification {
			failKnown(u, audit.ReasonEmailNotVerified)
			return nil, ErrEmailNotVerified // the caller proved the password: no enumeration
		}
	default:
		failKnown(u, audit.ReasonStatusPrefix+string(u.Status))
		return nil, ErrInvalidCredentials
	}
	tenantID := in.TenantID
	if tenantID == "" {
		tenantID = u.DefaultTenantID
	}
	if tenantID != "" {
		if err := m.checkTenantAccess(ctx, u.ID, tenantID); err != nil {
			fail(u.ID, "", audit.ReasonNotMember)
			return nil, err
		}
	}
	var newHash string
	if rehash {
		if newHash, err = m.hasher.Hash(ctx, in.Password); err != nil {
			return nil, err
		}
	}
	// A user with a second factor gets no session yet: a pending login
	// (mfalogin.go), saved below like a session.
	factors, enroll, err := m.loginFactors(ctx, u.ID, tenantID)
	if err != nil {
		return nil, err
	}
	// The session is written before the user's record is saved, and the
	// save refuses if the security stamp read above has changed: an account
	// change either rotated the stamp before this save (the login ends its
	// own session) or after it, and so also before its own revocation of
	// the user's sessions, which then finds this one (docs/DESIGN.md).
	var sess *session.Session
	var tok string
	var opened []audit.Event
	if len(factors) == 0 && !enroll {
		sess, tok, opened, err = m.openSession(ctx, u, tenantID, in.Scope, in.Client, now, now, passwordProof(now))
		if err != nil {
			fail(u.ID, tenantID, audit.ReasonSessionFailed)
			return nil, err
		}
	}
	// The login's events: committed with the user's save when the user
	// store has an outbox, else appended in one journal write after it
	// (durability costs one sync per login, not one per event).
	// A pending login records its own events (pendingLoginResult).
	var events []audit.Event
	if sess != nil {
		events = opened
		if newHash != "" {
			events = append(events, audit.Event{Type: audit.TypePasswordRehash, Outcome: audit.Success, ActorUserID: u.ID, Target: u.ID})
		}
		events = append(events, audit.Event{Type: audit.TypeLoginSuccess, Outcome: audit.Success, ActorUserID: u.ID, ActorSessionID: sess.ID,
			TenantID: tenantID, Scope: in.Scope, IP: in.Client.IP, UserAgent: in.Client.UserAgent})
	}
	stamp, verified := u.SecurityStamp, u.PasswordHash
	saved, recorded, err := m.updateUser(ctx, u.ID, func(x *user.User) error {
		// The password checked must still be the user's: a change that
		// keeps the stamp (RevokeOnPasswordChange off) must not be undone
		// by this login's rehash, nor let the old password in.
		if x.SecurityStamp != stamp || x.PasswordHash != verified {
			return errAccountChanged
		}
		if sess != nil {
			// The client becomes a trusted device when a session opens:
			// with a second factor due, at CompleteLogin, so the password
			// alone earns no failure budget of its own.
			at.proven(x)
			x.LastLoginAt = now
		}
		if newHash != "" {
			x.PasswordHash = newHash
		}
		return nil
	}, events)
	if err != nil {
		_ = m.emitAll(ctx, opened) // the sessions evicted are gone all the same
		if sess != nil {
			m.abandonSession(ctx, sess)
		}
		if errors.Is(err, errAccountChanged) || errors.Is(err, store.ErrNotFound) {
			fail(u.ID, tenantID, audit.ReasonAccountChanged)
			return nil, ErrInvalidCredentials
		}
		fail(u.ID, tenantID, audit.ReasonSessionFailed)
		return nil, translate("user.update", err)
	}
	u = saved
	at.succeeded(ctx)
	if sess == nil {
		return m.pendingLoginResult(ctx, u, in, tenantID, newHash != "", factors, enroll, now)
	}
	if recorded {
		return &LoginResult{User: u, Session: sess, Token: tok, DeviceToken: at.issued}, nil
	}
	if err := m.emitAll(ctx, events); err != nil {
		// No login without its event: the session ends, the client gets
		// the outage.
		m.abandonSession(ctx, sess)
		return nil, err
	}
	return &LoginResult{User: u, Session: sess, Token: tok, DeviceToken: at.issued}, nil
}

// abandonSession ends a session its flow could not complete. Failing to
// end it is logged loudly: the flow fails either way, and the session's
// security stamp no longer matches its user's.
func (m *Manager) abandonSession(ctx context.Context, sess *session.Session) {
	err := m.sessions.Revoke(context.WithoutCancel(ctx), sess.ID, m.clock.Now(), session.ReasonAccountChanged)
	if err != nil {
		m.log.Error("authv2: ending a session opened during an account change failed", "session_id", sess.ID, "error", err)
		return
	}
	m.emit(ctx, audit.Event{Type: audit.TypeSessionRevoked, Outcome: audit.Success, ActorUserID: sess.UserID,
		ImpersonatorUserID: impersonatorOf(sess), TenantID: sess.TenantID, Target: sess.ID, Reason: session.ReasonAccountChanged})
}

// failureTenant is the tenant a failed login of userID is recorded in:
// candidate (the one the caller named, else the user's default), only
// when the user belongs to it. The caller types the tenant, so recording
// it as given would let anyone add failures to any tenant's figures
// (LoginCounts); a store error records none rather than fail the answer.
// It makes the same two reads whatever the user, the candidate (none) or
// the answer: with a journal they are on the caller's time, and an
// unknown email makes them too (unknownTenantRead), so the number of
// round trips does not tell an account from none.
func (m *Manager) failureTenant(ctx context.Context, userID, candidate string) string {
	ms, errM := m.permissions.ListMemberships(ctx, userID)
	bs, errB := m.permissions.ListBindings(ctx, cmp.Or(candidate, noTenant), userID)
	if candidate == "" || errM != nil || errB != nil || !hasTenantAccess(ms, bs, candidate, m.clock.Now()) {
		return ""
	}
	return candidate
}

// noTenant and noUser name no tenant and no user (IDs are never "-"):
// failureTenant's reads for a failure that has neither.
const noTenant, noUser = "-", "-"

// unknownTenantRead spends, for an unknown email, the permission store
// reads a known account's failure makes to find its tenant when a Journal
// needs that failure recorded before the answer: both answers then take
// the same time. Its result is meaningless.
func (m *Manager) unknownTenantRead(ctx context.Context, named string) {
	if m.journal != nil {
		_ = m.failureTenant(ctx, noUser, named)
	}
}

// checkTenantAccess succeeds when the user is a member of, or holds a
// binding that has not expired in, the tenant.
func (m *Manager) checkTenantAccess(ctx context.Context, userID, tenantID string) error {
	ms, err := m.permissions.ListMemberships(ctx, userID)
	if err != nil {
		return translate("membership.list", err)
	}
	if hasTenantAccess(ms, nil, tenantID, time.Time{}) {
		return nil
	}
	bs, err := m.permissions.ListBindings(ctx, tenantID, userID)
	if err != nil {
		return translate("binding.list", err)
	}
	if hasTenantAccess(nil, bs, tenantID, m.clock.Now()) {
		return nil
	}
	return ErrNotMember
}

// hasTenantAccess reports whether one of the memberships is in tenantID,
// or one of the bindings (read for tenantID) is active at now.
func hasTenantAccess(ms []permission.Membership, bs []permission.Binding, tenantID string, now time.Time) bool {
	for _, x := range ms {
		if x.TenantID == tenantID {
			return true
		}
	}
	for _, b := range bs {
		if b.ActiveAt(now) {
			return true
		}
	}
	return false
}
