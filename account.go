package authv2

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/randid"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/user"
)

// Notifier delivers single-use tokens to users; the application sends the
// e-mail. authv2 calls it in the background (so a request's timing does not
// depend on it) and waits for calls in flight in Close.
type Notifier interface {
	PasswordReset(ctx context.Context, u *user.User, token string) error
	EmailVerification(ctx context.Context, u *user.User, token string) error
}

// Prefixes of single-use tokens, so a leaked one is recognisable.
const (
	resetPrefix  = "av2r_"
	verifyPrefix = "av2v_"
)

var tokenPrefix = map[string]string{user.TokenPasswordReset: resetPrefix, user.TokenEmailVerification: verifyPrefix,
	deviceTokenPurpose: devicePrefix, invitationPurpose: invitationPrefix}

// newOneTimeToken makes a token naming the user and carrying a 256-bit
// secret, and the record a store keeps of it (the secret's hash).
func newOneTimeToken(purpose, userID string, expires time.Time) (string, user.OneTimeToken) {
	secret := randid.Bytes(32)
	sum := sha256.Sum256(secret)
	tok := tokenPrefix[purpose] + base64.RawURLEncoding.EncodeToString([]byte(userID)) + "." +
		base64.RawURLEncoding.EncodeToString(secret)
	return tok, user.OneTimeToken{Hash: sum[:], ExpiresAt: expires}
}

// parseOneTimeToken returns the user ID and secret hash a token carries.
func parseOneTimeToken(purpose, tok string) (userID string, hash [32]byte, ok bool) {
	rest, found := strings.CutPrefix(tok, tokenPrefix[purpose])
	if !found || len(tok) > 512 {
		return "", hash, false
	}
	idPart, secretPart, found := strings.Cut(rest, ".")
	if !found {
		return "", hash, false
	}
	id, err := base64.RawURLEncoding.DecodeString(idPart)
	if err != nil || len(id) == 0 || textProblem(string(id)) != "" {
		return "", hash, false
	}
	secret, err := base64.RawURLEncoding.DecodeString(secretPart)
	if err != nil || len(secret) != 32 {
		return "", hash, false
	}
	return string(id), sha256.Sum256(secret), true
}

// consumeToken checks a single-use token and, when valid, lets apply change
// the user in the same atomic update that deletes the token. events are
// the change's, committed with it when the user store has an outbox
// (recorded true), else left to the caller.
func (m *Manager) consumeToken(ctx context.Context, purpose, tok string, apply func(*user.User), events ...audit.Event) (_ *user.User, recorded bool, _ error) {
	userID, hash, ok := parseOneTimeToken(purpose, tok)
	if !ok {
		return nil, false, ErrInvalidToken
	}
	now := m.clock.Now()
	u, recorded, err := m.updateUser(ctx, userID, func(x *user.User) error {
		stored, ok := x.Tokens[purpose]
		if !ok || subtle.ConstantTimeCompare(stored.Hash, hash[:]) != 1 || !now.Before(stored.ExpiresAt) {
			return ErrInvalidToken
		}
		delete(x.Tokens, purpose)
		x.UpdatedAt = now
		apply(x)
		return nil
	}, events)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, false, ErrInvalidToken
	case errors.Is(err, ErrInvalidToken):
		return nil, false, err
	case err != nil:
		return nil, false, translate("user.update", err)
	}
	return u, recorded, nil
}

// issueToken stores a fresh token of purpose for the user (replacing any
// earlier one) and hands it to the notifier in the background.
func (m *Manager) issueToken(ctx context.Context, purpose string, u *user.User, ttl time.Duration) error {
	tok, rec := newOneTimeToken(purpose, u.ID, m.clock.Now().Add(ttl))
	u, err := m.users.Update(ctx, u.ID, func(x *user.User) error {
		if x.Tokens == nil {
			x.Tokens = map[string]user.OneTimeToken{}
		}
		x.Tokens[purpose] = rec
		return nil
	})
	if err != nil {
		return translate("user.update", err)
	}
	m.notify(ctx, func(ctx context.Context) error {
		if purpose == user.TokenPasswordReset {
			return m.notifier.PasswordReset(ctx, u, tok)
		}
		if u.PendingEmail != "" {
			// The token proves the new address: it goes there. The
			// notifier sees the user as they will be once it is used.
			u.Email = u.PendingEmail
		}
		return m.notifier.EmailVerification(ctx, u, tok)
	})
	return nil
}

// ExistingAccountNotifier is implemented by a Notifier that can tell the
// owner of an address that someone tried to register it again; it is
// required by Config.EnumerationSafeRegistration, under which Register
// answers the same for taken and new addresses.
type ExistingAccountNotifier interface {
	AccountExists(ctx context.Context, u *user.User) error
}

// EmailChangeNotifier is implemented by a Notifier that also tells the
// old address about an email change (OWASP: notify on account changes).
// u is the user after the change; with Config.RequireEmailVerification
// the new address is u.PendingEmail until it is verified.
type EmailChangeNotifier interface {
	EmailChanged(ctx context.Context, u *user.User, oldEmail string) error
}

// rotateStamp gives the user a new security stamp, so that sessions issued
// under the old one cannot be rotated and a login that read the old one
// cannot keep its session. voidTokens also voids outstanding reset and
// verification tokens: a change of credentials, address or status makes a
// token sent earlier stale (it may have gone to an address that is no
// longer the user's).
func rotateStamp(x *user.User, voidTokens bool) {
	x.SecurityStamp = randid.ID()
	if voidTokens {
		voidOneTimeTokens(x)
	}
}

func voidOneTimeTokens(x *user.User) {
	delete(x.Tokens, user.TokenPasswordReset)
	delete(x.Tokens, user.TokenEmailVerification)
}

// notify runs a notifier call in the background, tracked so Close waits.
func (m *Manager) notify(ctx context.Context, call func(context.Context) error) {
	m.background(ctx, func(ctx context.Context) error {
		if err := call(ctx); err != nil {
			return fmt.Errorf("notifier: %w", err)
		}
		return nil
	})
}

// background runs work off the caller's time, tracked so Close waits,
// with ctx's values but not its cancellation; a failure is logged.
func (m *Manager) background(ctx context.Context, work func(context.Context) error) {
	run := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := work(ctx); err != nil {
			m.log.Error("authv2: background work failed", "error", err)
		}
	}
	// Once Close has begun nothing would wait for a new goroutine (and
	// its done.Add would race Close's done.Wait): the work runs on the
	// caller's time instead, where timing no longer matters.
	m.closeMu.Lock()
	if m.closed {
		m.closeMu.Unlock()
		run()
		return
	}
	m.done.Add(1)
	m.inFlight.Add(1)
	m.closeMu.Unlock()
	go func() {
		defer m.done.Done()
		defer m.inFlight.Done()
		run()
	}()
}

var errNoNotifier = &ConfigError{Field: "Notifier", Reason: "WithNotifier is required for this flow"}

// RequestPasswordReset sends a reset token to the account's owner through
// the Notifier. It answers the same, in the same time, whether or not the
// email is registered: on the caller's time both paths make the same
// limiter reservations and one store read; writing the token, notifying
// and auditing happen in the background. Requests are limited per address
// (Throttle.RecoveryLimit per RecoveryWindow) and per client (ClientFrom),
// a spent budget being a *ThrottledError whatever the address.
func (m *Manager) RequestPasswordReset(ctx context.Context, email string) error {
	if err := checkText("Email", email); err != nil {
		return err
	}
	if m.notifier == nil {
		return errNoNotifier
	}
	t := m.cfg.Throttle
	if _, err := m.reserveRecovery(ctx, "reset-request", user.NormalizeEmail(email), t.RecoveryLimit, t.RecoveryWindow); err != nil {
		return err
	}
	u, err := m.users.GetByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return translate("user.get_by_email", err)
	}
	m.background(ctx, func(ctx context.Context) error {
		if u == nil {
			m.emit(ctx, audit.Event{Type: audit.TypeResetRequested, Outcome: audit.Failure, Reason: audit.ReasonUnknownUser})
			return nil
		}
		if err := m.issueToken(ctx, user.TokenPasswordReset, u, m.cfg.ResetTokenTTL); err != nil {
			return err
		}
		m.emit(ctx, audit.Event{Type: audit.TypeResetRequested, Outcome: audit.Success, ActorUserID: u.ID, Target: u.ID})
		return nil
	})
	return nil
}

// checkToken reports whether tok is, right now, the user's outstanding
// token of purpose, comparing hashes in constant time. It reads the
// user once and hashes nothing, so a forged token costs a store read
// whether or not the user it names exists.
func (m *Manager) checkToken(ctx context.Context, purpose, tok string) (*user.User, error) {
	userID, hash, ok := parseOneTimeToken(purpose, tok)
	if !ok {
		return nil, ErrInvalidToken
	}
	u, err := m.users.Get(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, translate("user.get", err)
	}
	stored, ok := u.Tokens[purpose]
	if !ok || subtle.ConstantTimeCompare(stored.Hash, hash[:]) != 1 || !m.clock.Now().Before(stored.ExpiresAt) {
		return nil, ErrInvalidToken
	}
	return u, nil
}

// reserveTokenUse reserves one use of a reset or verification token in
// the calling client's budget, which bounds the store reads one client can
// cause; a use whose token checks out gives it back. There is no budget
// per user: a 256-bit secret cannot be guessed, and such a budget would
// only let anyone who knows a user's ID block that user's real token.
func (m *Manager) reserveTokenUse(ctx context.Context, purpose, tok string) (recoveryReservation, error) {
	if _, _, ok := parseOneTimeToken(purpose, tok); !ok {
		return recoveryReservation{}, ErrInvalidToken // malformed: no store call, nothing to count
	}
	return m.reserveClientRecovery(ctx)
}

// ResetPassword consumes a reset token and sets a new password (checked
// against the password policy). The token is checked first, so a forged
// one costs neither a policy check nor a hash. It works on locked and
// throttled accounts (a lockout must not be a denial of service), clears
// the throttle, ends every session of the user, forgets the devices they
// logged in from (a thief's included) with the failures those spent, and
// does not log them in.
// Failed uses are limited per user and per client (see reserveTokenUse).
func (m *Manager) ResetPassword(ctx context.Context, tok, newPassword string) error {
	r, err := m.reserveTokenUse(ctx, user.TokenPasswordReset, tok)
	if err != nil {
		return err
	}
	u, err := m.checkToken(ctx, user.TokenPasswordReset, tok)
	if err != nil {
		return err
	}
	r.release(ctx) // the token is real: what follows is no guess
	if err := m.checkNewPassword(ctx, u, newPassword); err != nil {
		return err
	}
	hash, err := m.hasher.Hash(ctx, newPassword)
	if err != nil {
		return err
	}
	now := m.clock.Now()
	reset := audit.Event{Type: audit.TypePasswordReset, Outcome: audit.Success, ActorUserID: u.ID, Target: u.ID}
	u, recorded, err := m.consumeToken(ctx, user.TokenPasswordReset, tok, func(x *user.User) {
		x.PasswordHash, x.PasswordChangedAt = hash, now
		if x.Status == user.StatusLocked {
			x.Status = user.StatusActive
		}
		rotateStamp(x, true)
		forgetDevices(x)
	}, reset)
	if err != nil {
		return err
	}
	// The owner proved the address: their new password is not held back
	// by a guesser's failures.
	m.resetLoginThrottle(ctx, u.Email)
	m.resetTrustedThrottle(ctx, u.ID)
	// The token's holder acts as the user, as the password.reset event
	// says.
	if _, err := m.endUserSessions(WithActor(ctx, &Principal{UserID: u.ID}), u.ID, session.RevokeFilter{}, now, session.ReasonPasswordChange); err != nil {
		return err
	}
	if recorded {
		return nil
	}
	return m.emit(ctx, reset)
}

// RequestEmailVerification (re)sends a verification token to a pending
// user, or to the pending new address of one who changed it. Requests are
// limited per user and per client, like RequestPasswordReset.
func (m *Manager) RequestEmailVerification(ctx context.Context, userID string) error {
	if err := checkText("UserID", userID); err != nil {
		return err
	}
	if m.notifier == nil {
		return errNoNotifier
	}
	t := m.cfg.Throttle
	if _, err := m.reserveRecovery(ctx, "verify-request", userID, t.RecoveryLimit, t.RecoveryWindow); err != nil {
		return err
	}
	u, err := m.users.Get(ctx, userID)
	if err != nil {
		return translate("user.get", err)
	}
	if u.Status != user.StatusPendingVerification && u.PendingEmail == "" {
		return nil
	}
	return m.issueToken(ctx, user.TokenEmailVerification, u, m.cfg.VerifyTokenTTL)
}

// VerifyEmail consumes a verification token: it activates a new account,
// or makes a pending new address (ChangeEmail) the login identifier —
// ErrUserExists if another account took that address meanwhile. Failed
// uses are limited per user and per client, like ResetPassword's. When a
// tenant has verified the address's domain (AddTenantDomain) and ctx
// carries a session of the user (PrincipalFrom: the link was opened
// signed in to the account, not as an API key nor an impersonation), the
// user joins it with the domain's role, unless they hold a binding there
// already. Signed out, the address is verified and nobody is captured.
func (m *Manager) VerifyEmail(ctx context.Context, tok string) (*user.User, error) {
	r, err := m.reserveTokenUse(ctx, user.TokenEmailVerification, tok)
	if err != nil {
		return nil, err
	}
	u, _, err := m.consumeToken(ctx, user.TokenEmailVerification, tok, func(x *user.User) {
		if x.Status == user.StatusPendingVerification {
			x.Status = user.StatusActive
		}
		if x.PendingEmail != "" {
			x.Email, x.PendingEmail = x.PendingEmail, ""
			// A reset token asked for while the change was pending went
			// to the old address, which is no longer the user's.
			delete(x.Tokens, user.TokenPasswordReset)
		}
	})
	if errors.Is(err, store.ErrConflict) {
		r.release(ctx)
		return nil, ErrUserExists
	}
	if err != nil {
		return nil, err
	}
	r.release(ctx)
	if err := m.emit(ctx, audit.Event{Type: audit.TypeEmailVerified, Outcome: audit.Success, ActorUserID: u.ID, Target: u.ID}); err != nil {
		return nil, err
	}
	// The address is now proven: its domain's tenant, if one verified it,
	// takes the user in when the account's own session proved it.
	m.joinByDomain(ctx, u)
	return u, nil
}

// RequireFreshAuth returns ErrReauthRequired unless the principal proved a
// credential within Config.ReauthWindow; ErrSessionRequired for an API
// key, which proves no credential of a person.
func (m *Manager) RequireFreshAuth(p *Principal) error {
	if p != nil && (p.APIKey != nil || p.Impersonator != nil) {
		return personOnly(p)
	}
	if p == nil || m.clock.Now().Sub(p.AuthenticatedAt) > m.cfg.ReauthWindow {
		return ErrReauthRequired
	}
	return nil
}

// Reauthenticate checks the password of the session's user again and
// replaces the session with one authenticated now, for RequireFreshAuth:
// use the returned token from now on (OWASP ASVS: a new session token on
// re-authentication). A wrong password counts as a failed login.
func (m *Manager) Reauthenticate(ctx context.Context, tok, password string) (*LoginResult, error) {
	sess, now, err := m.liveSession(ctx, tok, false)
	if err != nil {
		return nil, err
	}
	if err := ownSession(sess); err != nil {
		return nil, err
	}
	if err := m.verifyPassword(ctx, sess.UserID, password, now); err != nil {
		return nil, err
	}
	res, rotated, err := m.rotateSession(ctx, sess, nil, func(next *session.Session) error {
		next.AuthenticatedAt = now
		next.Proofs = addProof(proofsOf(sess), mfa.Proof{Factor: mfa.FactorPassword, At: now})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m.recordRotation(ctx, res, rotated, audit.Event{Type: audit.TypeReauthenticate, Outcome: audit.Success, ActorUserID: sess.UserID,
		ActorSessionID: res.Session.ID, TenantID: sess.TenantID, Target: sess.ID})
}

// verifyPassword checks the current password of a session's user. A
// live session is a trusted client: it is not subject to the email's
// throttle that failures from untrusted clients spend (a guesser must not
// lock the owner out of step-up), and has its own budgets instead
// (trustedBudgets: AfterFailures per MaxDelay across the user's sessions,
// and the long budget the user's trusted clients share), reserved before
// hashing and given back by a right password.
func (m *Manager) verifyPassword(ctx context.Context, userID, password string, now time.Time) error {
	u, err := m.users.Get(ctx, userID)
	if err != nil {
		return translate("user.get", err)
	}
	budgets := m.trustedBudgets(reauthKey(userID), userID)
	if retry, err := m.reserveAll(ctx, budgets, now); err != nil {
		return err
	} else if retry > 0 {
		return m.throttledError(retry)
	}
	if _, err := m.hasher.Verify(ctx, password, u.PasswordHash); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return ErrInvalidCredentials
	}
	m.releaseAll(ctx, budgets, now)
	return nil
}

// checkNewPassword applies the length rules and the password checker.
func (m *Manager) checkNewPassword(ctx context.Context, u *user.User, password string) error {
	if reason := user.CheckPassword(password, m.cfg.PasswordMinLength, m.cfg.PasswordMaxLength); reason != "" {
		return &ValidationError{Fields: []FieldError{{Field: "Password", Reason: reason}}}
	}
	return m.runPasswordChecker(ctx, u.Email, u.DisplayName, password)
}

// ChangePassword sets a new password for the principal's user. It needs
// the current password and a fresh authentication (ErrReauthRequired),
// voids outstanding reset and verification tokens, ends every other
// session of the user (unless RevokeOnPasswordChange is off) and rotates
// the current one: use the returned token from now on.
func (m *Manager) ChangePassword(ctx context.Context, p *Principal, current, next string) (*LoginResult, error) {
	if err := m.RequireFreshAuth(p); err != nil {
		return nil, err
	}
	now := m.clock.Now()
	if err := m.verifyPassword(ctx, p.UserID, current, now); err != nil {
		return nil, err
	}
	u, err := m.users.Get(ctx, p.UserID)
	if err != nil {
		return nil, translate("user.get", err)
	}
	if err := m.checkNewPassword(ctx, u, next); err != nil {
		return nil, err
	}
	hash, err := m.hasher.Hash(ctx, next)
	if err != nil {
		return nil, err
	}
	change := audit.Event{Type: audit.TypePasswordChange, Outcome: audit.Success, ActorUserID: p.UserID, ActorSessionID: p.SessionID, Target: p.UserID}
	u, recorded, err := m.updateUser(ctx, p.UserID, func(x *user.User) error {
		x.PasswordHash, x.PasswordChangedAt, x.UpdatedAt = hash, now, now
		voidOneTimeTokens(x)
		if m.cfg.RevokeOnPasswordChange {
			// Only then: with it off, the user's other sessions are meant
			// to live on, and a stale stamp would end them at their next
			// rotation.
			rotateStamp(x, false)
		}
		return nil
	}, []audit.Event{change})
	if err != nil {
		return nil, translate("user.update", err)
	}
	var changed []audit.Event
	if m.cfg.RevokeOnPasswordChange {
		if _, changed, err = m.revokeUserSessions(WithActor(ctx, p), p.UserID, session.RevokeFilter{ExceptID: p.SessionID}, now, session.ReasonPasswordChange); err != nil {
			return nil, err
		}
	}
	if !recorded {
		changed = append(changed, change)
	}
	return m.rotateCurrent(ctx, p, u, changed...)
}

// rotateCurrent replaces the principal's session after a change the
// session's own user made (the successor carries the user's new stamp),
// and records the change's events with the rotation's in one journal
// write. The change is made: its events are recorded even when the
// rotation fails.
func (m *Manager) rotateCurrent(ctx context.Context, p *Principal, u *user.User, changed ...audit.Event) (*LoginResult, error) {
	old, err := m.sessions.Get(ctx, p.SessionID)
	if errors.Is(err, store.ErrNotFound) {
		err = ErrSessionRevoked
	} else if err != nil {
		err = translate("session.get", err)
	}
	var res *LoginResult
	var rotated audit.Event
	if err == nil {
		res, rotated, err = m.rotateSession(ctx, old, u, nil)
	}
	if err != nil {
		return nil, cmp.Or(m.emitAll(ctx, changed), err)
	}
	return m.recordRotation(ctx, res, append(changed, rotated)...)
}

// ChangeEmail changes the principal's email after a fresh authentication:
// it voids outstanding reset and verification tokens, tells the old
// address (when the Notifier is an EmailChangeNotifier), ends the user's
// other sessions and rotates the current one: use the returned token from
// now on. With RequireEmailVerification the new address waits in
// PendingEmail, and the old one stays the login identifier, until the
// token sent to the new one is used (VerifyEmail).
func (m *Manager) ChangeEmail(ctx context.Context, p *Principal, email string) (*LoginResult, error) {
	if err := m.RequireFreshAuth(p); err != nil {
		return nil, err
	}
	if err := m.inputs.email(email); err != nil {
		return nil, err
	}
	verify := m.cfg.RequireEmailVerification
	if verify {
		// A pending address is not reserved; refuse one that is taken now
		// rather than at verification.
		if other, err := m.users.GetByEmail(ctx, email); err == nil && other.ID != p.UserID {
			return nil, ErrUserExists
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, translate("user.get_by_email", err)
		}
	}
	now := m.clock.Now()
	var oldEmail string
	u, err := m.users.Update(ctx, p.UserID, func(x *user.User) error {
		oldEmail = x.Email
		if verify {
			x.PendingEmail = email
		} else {
			x.Email, x.PendingEmail = email, ""
		}
		x.UpdatedAt = now
		rotateStamp(x, true)
		return nil
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, ErrUserExists
	}
	if err != nil {
		return nil, translate("user.update", err)
	}
	_, changed, err := m.revokeUserSessions(WithActor(ctx, p), p.UserID, session.RevokeFilter{ExceptID: p.SessionID}, now, session.ReasonEmailChange)
	if err != nil {
		return nil, err
	}
	// Recorded with the rotation's event, in one journal write.
	changed = append(changed, audit.Event{Type: audit.TypeEmailChange, Outcome: audit.Success, ActorUserID: p.UserID, ActorSessionID: p.SessionID, Target: p.UserID})
	if n, ok := m.notifier.(EmailChangeNotifier); ok {
		changedUser := u.Clone()
		m.notify(ctx, func(ctx context.Context) error { return n.EmailChanged(ctx, changedUser, oldEmail) })
	}
	if verify {
		if err := m.issueToken(ctx, user.TokenEmailVerification, u, m.cfg.VerifyTokenTTL); err != nil {
			return nil, cmp.Or(m.emitAll(ctx, changed), err)
		}
	}
	return m.rotateCurrent(ctx, p, u, changed...)
}

// statusState is the part of an account a status change changes, for the
// audit trail (never the whole user: it holds the password hash).
type statusState struct {
	Status user.Status `json:"status"`
}

// deletedState is what DeleteUser removed, for the audit trail.
type deletedState struct {
	Status user.Status `json:"status"`
	// Tenants where the user had a membership or binding.
	Tenants []string `json:"tenants,omitempty"`
}
