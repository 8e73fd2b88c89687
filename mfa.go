package authv2

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/user"
)

// This file holds the management of second factors: enrolling TOTP,
// registering WebAuthn credentials, recovery codes, listing and removing
// them. mfalogin.go holds their use: the second step of a login and
// step-up.

// MFA carries the dependencies of multi-factor authentication; pass it
// with WithMFA. Its values (how long a pending login lasts, which actions
// need a step-up) are Config.MFA.
type MFA struct {
	// Store keeps the factor credentials (memory.NewMFAStore, or
	// postgres.Stores.MFA).
	Store mfa.Store
	// Challenges keeps pending logins between the password and the
	// second factor (memory, PostgreSQL or Redis; share one between
	// instances).
	Challenges mfa.ChallengeStore
	// TOTP enables authenticator apps: totp.New(cfg, keyRing, store,
	// replayGuard). nil: no TOTP.
	TOTP mfa.TOTP
	// WebAuthn enables passkeys and security keys:
	// webauthn.New(rpConfig, store, challenges) then its JSON method. nil:
	// no WebAuthn.
	WebAuthn mfa.WebAuthn
	// RecoveryKey (at least 32 random bytes, kept like the key ring's
	// keys) keys the hashes of recovery codes. nil: no recovery codes.
	RecoveryKey []byte
	// Policies, when set, lets tenants require a second factor of their
	// members: a member without one who logs in to such a tenant gets a
	// pending login that only enrolling TOTP completes
	// (MFAChallenge.Enroll). nil: no tenant requires one.
	Policies MFAPolicies
}

// WithMFA enables multi-factor authentication: Login asks users with a
// factor for it, sessions carry their assurance level, and the MFA
// methods work (without it they fail with ErrInvalidConfig).
func WithMFA(c MFA) Option { return optionFunc(func(o *options) { o.mfa = &c }) }

// mfaDeps is WithMFA's dependencies, checked.
type mfaDeps struct {
	store      mfa.Store
	challenges mfa.ChallengeStore
	totp       mfa.TOTP
	webauthn   mfa.WebAuthn
	recovery   *mfa.RecoveryCodes // nil without a RecoveryKey
	policies   MFAPolicies
	log        *slog.Logger
}

// newMFA checks WithMFA's dependencies; nil without the option.
func newMFA(c *MFA, log *slog.Logger) (*mfaDeps, error) {
	if c == nil {
		return nil, nil
	}
	if c.Store == nil || c.Challenges == nil || (c.TOTP == nil && c.WebAuthn == nil) {
		return nil, &ConfigError{Field: "MFA", Reason: "needs a Store, Challenges and at least one of TOTP and WebAuthn"}
	}
	if c.Policies != nil && c.TOTP == nil {
		return nil, &ConfigError{Field: "MFA.Policies", Reason: "members are sent to enroll TOTP: needs TOTP"}
	}
	d := &mfaDeps{store: c.Store, challenges: c.Challenges, totp: c.TOTP, webauthn: c.WebAuthn, policies: c.Policies, log: log}
	if c.RecoveryKey != nil {
		r, err := mfa.NewRecoveryCodes(c.RecoveryKey, c.Store)
		if err != nil {
			return nil, &ConfigError{Field: "MFA.RecoveryKey", Reason: err.Error()}
		}
		d.recovery = r
	}
	return d, nil
}

// errNoMFA is what an MFA method returns without WithMFA.
var errNoMFA = &ConfigError{Field: "MFA", Reason: "needs WithMFA"}

// MFAStatus is what a user has enrolled.
type MFAStatus struct {
	// TOTP is true once an authenticator app is confirmed;
	// TOTPPending while an enrollment awaits its first code.
	TOTP, TOTPPending bool
	// WebAuthn lists the registered passkeys and security keys, oldest
	// first.
	WebAuthn []*mfa.WebAuthnCredential
	// RecoveryCodes is how many unused recovery codes are left.
	RecoveryCodes int
}

// Enabled reports whether the user has a factor a login asks for: a
// confirmed TOTP or a WebAuthn credential (recovery codes only stand in
// for those).
func (s *MFAStatus) Enabled() bool { return s.TOTP || len(s.WebAuthn) > 0 }

// Factors are the factors that can complete a login of this user.
func (s *MFAStatus) Factors() []mfa.Factor {
	if !s.Enabled() {
		return nil
	}
	var fs []mfa.Factor
	if s.TOTP {
		fs = append(fs, mfa.FactorTOTP)
	}
	if len(s.WebAuthn) > 0 {
		fs = append(fs, mfa.FactorWebAuthn)
	}
	if s.RecoveryCodes > 0 {
		fs = append(fs, mfa.FactorRecoveryCode)
	}
	return fs
}

// MFAStatus returns what the user has enrolled.
func (m *Manager) MFAStatus(ctx context.Context, userID string) (*MFAStatus, error) {
	if m.mfa == nil {
		return nil, errNoMFA
	}
	var st MFAStatus
	if m.mfa.totp != nil {
		c, err := m.mfa.store.GetTOTP(ctx, userID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, translate("mfa.get_totp", err)
		default:
			st.TOTP, st.TOTPPending = c.Confirmed(), !c.Confirmed()
		}
	}
	if m.mfa.webauthn != nil {
		cs, err := m.mfa.store.ListWebAuthn(ctx, userID)
		if err != nil {
			return nil, translate("mfa.list_webauthn", err)
		}
		st.WebAuthn = cs
	}
	if m.mfa.recovery != nil {
		n, err := m.mfa.recovery.Remaining(ctx, userID)
		if err != nil {
			return nil, translate("mfa.list_recovery", err)
		}
		st.RecoveryCodes = n
	}
	return &st, nil
}

// factorChange checks that the principal may change its user's factors:
// a user with a factor must have proven AAL2 within ReauthWindow (a
// stolen password alone cannot add or remove a factor), a user without
// one a credential within ReauthWindow (RequireFreshAuth). It returns the
// user's status.
func (m *Manager) factorChange(ctx context.Context, p *Principal) (*MFAStatus, error) {
	if err := personOnly(p); err != nil {
		return nil, err
	}
	st, err := m.MFAStatus(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	if st.Enabled() {
		return st, m.CheckAssurance(p, Assurance{Level: mfa.AAL2, MaxAge: m.cfg.ReauthWindow})
	}
	return st, m.RequireFreshAuth(p)
}

// personOnly refuses a principal that is no signed-in person acting as
// themselves: none (ErrUnauthenticated), an API key (ErrSessionRequired),
// which proves no credential of its owner and so changes none, or an
// impersonation session (ErrImpersonation), whose actor is not the user.
// Every flow that changes a credential, a factor or who holds the
// account's sessions and keys goes through it (or notImpersonating or
// ownSession, for flows called with a context or a token).
func personOnly(p *Principal) error {
	switch {
	case p == nil:
		return ErrUnauthenticated
	case p.APIKey != nil:
		return ErrSessionRequired
	case p.Impersonator != nil:
		return ErrImpersonation
	}
	return nil
}

// mfaEvent is an MFA event of the principal's user.
func mfaEvent(p *Principal, typ audit.Type, outcome audit.Outcome, factor mfa.Factor) audit.Event {
	return audit.Event{Type: typ, Outcome: outcome, ActorUserID: p.UserID, ActorSessionID: p.SessionID, TenantID: p.TenantID,
		Target: p.UserID, IP: p.Client.IP, UserAgent: p.Client.UserAgent, Attributes: map[string]string{audit.AttrFactor: string(factor)}}
}

// EnrollTOTP starts an authenticator-app enrollment for the principal's
// user: show the secret (QR code) once, then ConfirmTOTP with the first
// code the app shows. A pending enrollment is replaced;
// ErrMFAAlreadyEnrolled when one is confirmed (remove it first).
func (m *Manager) EnrollTOTP(ctx context.Context, p *Principal) (*mfa.TOTPEnrollment, error) {
	if m.mfa == nil || m.mfa.totp == nil {
		return nil, errNoMFA
	}
	if _, err := m.factorChange(ctx, p); err != nil {
		return nil, err
	}
	u, err := m.users.Get(ctx, p.UserID)
	if err != nil {
		return nil, translate("user.get", err)
	}
	e, err := m.mfa.totp.Enroll(ctx, u.ID, u.Email, m.clock.Now())
	if err != nil {
		return nil, m.mfaError("mfa.enroll_totp", err)
	}
	if err := m.emit(ctx, mfaEvent(p, audit.TypeMFAEnrollStarted, audit.Success, mfa.FactorTOTP)); err != nil {
		return nil, err
	}
	return e, nil
}

// ConfirmTOTP completes the principal's pending TOTP enrollment with a
// code from the app: ErrInvalidSecondFactor for a wrong one (counted in
// the user's second-factor throttle), ErrMFANotEnrolled without a
// pending enrollment, ErrSessionRequired for an API key.
func (m *Manager) ConfirmTOTP(ctx context.Context, p *Principal, code string) error {
	if m.mfa == nil || m.mfa.totp == nil {
		return errNoMFA
	}
	if err := personOnly(p); err != nil {
		return err
	}
	_, err := m.verifyFactor(ctx, p.UserID, func(now time.Time) (mfa.Proof, error) {
		return m.mfa.totp.Confirm(ctx, p.UserID, code, now)
	})
	if err != nil {
		_ = m.emit(ctx, withReason(mfaEvent(p, audit.TypeMFAEnrolled, audit.Failure, mfa.FactorTOTP), err))
		return err
	}
	return m.emit(ctx, mfaEvent(p, audit.TypeMFAEnrolled, audit.Success, mfa.FactorTOTP))
}

// RemoveTOTP removes the principal's TOTP credential (confirmed or
// pending). With a confirmed factor it needs AAL2 within ReauthWindow.
func (m *Manager) RemoveTOTP(ctx context.Context, p *Principal) error {
	if m.mfa == nil || m.mfa.totp == nil {
		return errNoMFA
	}
	st, err := m.factorChange(ctx, p)
	if err != nil {
		return err
	}
	if !st.TOTP && !st.TOTPPending {
		return ErrMFANotEnrolled
	}
	if err := m.mfa.store.DeleteTOTP(ctx, p.UserID); errors.Is(err, store.ErrNotFound) {
		return ErrMFANotEnrolled
	} else if err != nil {
		return translate("mfa.delete_totp", err)
	}
	return m.afterRemoval(ctx, p, mfaEvent(p, audit.TypeMFARemoved, audit.Success, mfa.FactorTOTP))
}

// afterRemoval records a removal and, when it took the user's last
// factor, voids the recovery codes, which only stand in for a factor.
func (m *Manager) afterRemoval(ctx context.Context, p *Principal, e audit.Event) error {
	if err := m.emit(ctx, e); err != nil {
		return err
	}
	st, err := m.MFAStatus(ctx, p.UserID)
	if err != nil {
		return err
	}
	if !st.Enabled() && st.RecoveryCodes > 0 {
		if err := m.mfa.store.DeleteRecoveryCodes(ctx, p.UserID); err != nil {
			return translate("mfa.delete_recovery", err)
		}
	}
	return nil
}

// GenerateRecoveryCodes makes the principal's user a new set of ten
// recovery codes, voiding the old set: show them once. The user must
// have a factor (ErrMFANotEnrolled otherwise) and have proven AAL2 within
// ReauthWindow.
func (m *Manager) GenerateRecoveryCodes(ctx context.Context, p *Principal) ([]string, error) {
	if m.mfa == nil || m.mfa.recovery == nil {
		return nil, errNoMFA
	}
	st, err := m.factorChange(ctx, p)
	if err != nil {
		return nil, err
	}
	if !st.Enabled() {
		return nil, ErrMFANotEnrolled
	}
	codes, err := m.mfa.recovery.Generate(ctx, p.UserID, m.clock.Now())
	if err != nil {
		return nil, translate("mfa.generate_recovery", err)
	}
	if err := m.emit(ctx, mfaEvent(p, audit.TypeMFARecoveryCodes, audit.Success, mfa.FactorRecoveryCode)); err != nil {
		return nil, err
	}
	return codes, nil
}

// BeginWebAuthnRegistration starts registering a passkey or security key
// for the principal's user: hand the options (JSON) to
// navigator.credentials.create and the result to
// FinishWebAuthnRegistration with the challenge ID.
func (m *Manager) BeginWebAuthnRegistration(ctx context.Context, p *Principal) (options json.RawMessage, challengeID string, err error) {
	if m.mfa == nil || m.mfa.webauthn == nil {
		return nil, "", errNoMFA
	}
	if _, err := m.factorChange(ctx, p); err != nil {
		return nil, "", err
	}
	u, err := m.users.Get(ctx, p.UserID)
	if err != nil {
		return nil, "", translate("user.get", err)
	}
	options, challengeID, err = m.mfa.webauthn.BeginRegistration(ctx, webAuthnUser(u), m.clock.Now())
	if err != nil {
		return nil, "", m.mfaError("mfa.begin_webauthn", err)
	}
	if err := m.emit(ctx, mfaEvent(p, audit.TypeMFAEnrollStarted, audit.Success, mfa.FactorWebAuthn)); err != nil {
		return nil, "", err
	}
	return options, challengeID, nil
}

// FinishWebAuthnRegistration verifies the authenticator's response and
// stores the credential under name.
func (m *Manager) FinishWebAuthnRegistration(ctx context.Context, p *Principal, challengeID string, response []byte, name string) (*mfa.WebAuthnCredential, error) {
	if m.mfa == nil || m.mfa.webauthn == nil {
		return nil, errNoMFA
	}
	if err := personOnly(p); err != nil {
		return nil, err
	}
	if err := checkText("Name", name); err != nil {
		return nil, err
	}
	u, err := m.users.Get(ctx, p.UserID)
	if err != nil {
		return nil, translate("user.get", err)
	}
	c, err := m.mfa.webauthn.FinishRegistration(ctx, webAuthnUser(u), challengeID, response, name, m.clock.Now())
	if err != nil {
		err = m.mfaError("mfa.finish_webauthn", err)
		_ = m.emit(ctx, withReason(mfaEvent(p, audit.TypeMFAEnrolled, audit.Failure, mfa.FactorWebAuthn), err))
		return nil, err
	}
	e := mfaEvent(p, audit.TypeMFAEnrolled, audit.Success, mfa.FactorWebAuthn)
	e.Attributes[audit.AttrCredential] = credentialID(c.ID)
	if err := m.emit(ctx, e); err != nil {
		return nil, err
	}
	return c, nil
}

// RenameWebAuthn renames one of the principal's WebAuthn credentials (id
// as base64url, as listed).
func (m *Manager) RenameWebAuthn(ctx context.Context, p *Principal, id, name string) error {
	if m.mfa == nil || m.mfa.webauthn == nil {
		return errNoMFA
	}
	if err := personOnly(p); err != nil {
		return err
	}
	raw, err := parseCredentialID(id)
	if err != nil {
		return err
	}
	if err := checkText("Name", name); err != nil {
		return err
	}
	if err := m.mfa.store.RenameWebAuthn(ctx, p.UserID, raw, name); err != nil {
		return translate("mfa.rename_webauthn", err)
	}
	e := mfaEvent(p, audit.TypeMFARenamed, audit.Success, mfa.FactorWebAuthn)
	e.Attributes[audit.AttrCredential] = id
	return m.emit(ctx, e)
}

// RemoveWebAuthn deletes one of the principal's WebAuthn credentials. It
// needs AAL2 within ReauthWindow.
func (m *Manager) RemoveWebAuthn(ctx context.Context, p *Principal, id string) error {
	if m.mfa == nil || m.mfa.webauthn == nil {
		return errNoMFA
	}
	raw, err := parseCredentialID(id)
	if err != nil {
		return err
	}
	if _, err := m.factorChange(ctx, p); err != nil {
		return err
	}
	if err := m.mfa.store.DeleteWebAuthn(ctx, p.UserID, raw); err != nil {
		return translate("mfa.delete_webauthn", err)
	}
	e := mfaEvent(p, audit.TypeMFARemoved, audit.Success, mfa.FactorWebAuthn)
	e.Attributes[audit.AttrCredential] = id
	return m.afterRemoval(ctx, p, e)
}

// credentialID spells a WebAuthn credential ID as the API takes it.
func credentialID(raw []byte) string { return base64.RawURLEncoding.EncodeToString(raw) }

func parseCredentialID(id string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) == 0 || len(raw) > 1023 {
		return nil, &ValidationError{Fields: []FieldError{{Field: "ID", Reason: "must be a credential ID in base64url"}}}
	}
	return raw, nil
}

func webAuthnUser(u *user.User) mfa.WebAuthnUser {
	return mfa.WebAuthnUser{ID: u.ID, Name: u.Email, DisplayName: cmp.Or(u.DisplayName, u.Email)}
}

// withReason sets the audit reason of a failed MFA step.
func withReason(e audit.Event, err error) audit.Event {
	e.Reason = audit.ReasonMFAInvalid
	if errors.Is(err, ErrThrottled) {
		e.Reason = audit.ReasonMFAThrottled
	}
	return e
}

// mfaError maps a factor's errors to what callers see: a wrong code or a
// refused ceremony is ErrInvalidSecondFactor, enrollment states keep
// their sentinels, the rest is a store's.
func (m *Manager) mfaError(op string, err error) error {
	switch {
	case errors.Is(err, mfa.ErrInvalidCode), errors.Is(err, mfa.ErrCodeReused),
		errors.Is(err, mfa.ErrChallengeNotFound), errors.Is(err, mfa.ErrCeremonyRejected),
		errors.Is(err, mfa.ErrUserNotVerified), errors.Is(err, mfa.ErrSignCountRegression),
		errors.Is(err, mfa.ErrUnknownCredential):
		return ErrInvalidSecondFactor
	case errors.Is(err, mfa.ErrNotEnrolled), errors.Is(err, mfa.ErrAlreadyEnrolled):
		return err
	case errors.Is(err, mfa.ErrCredentialExists):
		return ErrConflict
	case errors.Is(err, mfa.ErrTampered), errors.Is(err, mfa.ErrUnknownKey):
		// The key ring cannot open a stored secret: the application's
		// configuration, not the client's input.
		m.log.Error("authv2: a stored TOTP secret does not open with the key ring", "error", err)
		return &ConfigError{Field: "MFA.TOTP", Reason: "the key ring cannot open a stored secret"}
	}
	return translate(op, err)
}

// mfaBudgets are a user's second-factor failure budgets: AfterFailures
// per MaxDelay and MaxFailures per FailureWindow, so that no more than
// MaxFailures codes are checked per FailureWindow (a six-digit code has a
// million values; NIST SP 800-63B 5.2.2 caps consecutive failures at 100).
func (m *Manager) mfaBudgets(userID string) []budget {
	t := m.cfg.Throttle
	return []budget{{"mfa:" + userID, t.AfterFailures, t.MaxDelay}, {"mfa-long:" + userID, t.MaxFailures, t.FailureWindow}}
}

// verifyFactor runs check under the user's second-factor throttle: one
// place in each budget is reserved before the check and given back when
// it succeeds, like verifyPassword's.
func (m *Manager) verifyFactor(ctx context.Context, userID string, check func(now time.Time) (mfa.Proof, error)) (mfa.Proof, error) {
	now := m.clock.Now()
	budgets := m.mfaBudgets(userID)
	if retry, err := m.reserveAll(ctx, budgets, now); err != nil {
		return mfa.Proof{}, err
	} else if retry > 0 {
		return mfa.Proof{}, m.throttledFactor(retry)
	}
	proof, err := check(now)
	if err != nil {
		return mfa.Proof{}, m.mfaError("mfa.verify", err)
	}
	m.releaseAll(ctx, budgets, now)
	return proof, nil
}

// throttledFactor is a throttled second factor: the caller already proved
// the password (or holds a session), so the retry time tells nothing
// about the account and is always given.
func (m *Manager) throttledFactor(retry time.Duration) error {
	return &ThrottledError{RetryAfter: retry}
}

// hasFactor reports whether fs lists f.
func hasFactor(fs []mfa.Factor, f mfa.Factor) bool { return slices.Contains(fs, f) }

// DisableMFA removes every factor of a user (TOTP, WebAuthn credentials,
// recovery codes): an administrator's action for a user who lost them,
// audited with the actor (WithActor, or the principal Middleware put in
// ctx). Authorize it with Require like the other administrative calls.
// The user's sessions stay; their next login is password-only.
func (m *Manager) DisableMFA(ctx context.Context, userID string) error {
	if m.mfa == nil {
		return errNoMFA
	}
	if err := cmp.Or(notImpersonating(ctx), checkText("UserID", userID)); err != nil {
		return err
	}
	if err := m.mfa.store.DeleteTOTP(ctx, userID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return translate("mfa.delete_totp", err)
	}
	cs, err := m.mfa.store.ListWebAuthn(ctx, userID)
	if err != nil {
		return translate("mfa.list_webauthn", err)
	}
	removed := make([]string, 0, len(cs))
	for _, c := range cs {
		if err := m.mfa.store.DeleteWebAuthn(ctx, userID, c.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return translate("mfa.delete_webauthn", err)
		}
		removed = append(removed, credentialID(c.ID))
	}
	if err := m.mfa.store.DeleteRecoveryCodes(ctx, userID); err != nil {
		return translate("mfa.delete_recovery", err)
	}
	return m.emit(ctx, withActor(ctx, audit.Event{Type: audit.TypeMFADisabled, Outcome: audit.Success, Target: userID,
		Attributes: map[string]string{audit.AttrCredential: strings.Join(removed, ",")}}))
}

// TenantMFAPolicy says whether a tenant requires a second factor of its
// members: of all of them, or of those holding one of Roles there.
type TenantMFAPolicy struct {
	All   bool
	Roles []string
}

// MFAPolicies looks up tenants' MFA policies (MFA.Policies). The
// application keeps them where it keeps its tenant settings;
// StaticMFAPolicies serves a fixed map.
type MFAPolicies interface {
	// MFAPolicy returns the tenant's policy; the zero policy requires
	// nothing.
	MFAPolicy(ctx context.Context, tenantID string) (TenantMFAPolicy, error)
}

// StaticMFAPolicies is a fixed set of tenant policies.
type StaticMFAPolicies map[string]TenantMFAPolicy

// MFAPolicy implements MFAPolicies.
func (s StaticMFAPolicies) MFAPolicy(_ context.Context, tenantID string) (TenantMFAPolicy, error) {
	return s[tenantID], nil
}

// mfaRequired reports whether the tenant's policy requires a second
// factor of the user.
func (m *Manager) mfaRequired(ctx context.Context, userID, tenantID string) (bool, error) {
	if m.mfa == nil || m.mfa.policies == nil || tenantID == "" {
		return false, nil
	}
	pol, err := m.mfa.policies.MFAPolicy(ctx, tenantID)
	if err != nil {
		return false, translate("mfa.policy", err)
	}
	if pol.All {
		return true, nil
	}
	if len(pol.Roles) == 0 {
		return false, nil
	}
	bs, err := m.permissions.ListBindings(ctx, tenantID, userID)
	if err != nil {
		return false, translate("binding.list", err)
	}
	now := m.clock.Now()
	for _, b := range bs {
		if b.ActiveAt(now) && slices.Contains(pol.Roles, b.Role) {
			return true, nil
		}
	}
	return false, nil
}

// tenantAssurance refuses, with a *StepUpError, access for userID to a
// tenant whose policy requires a second factor of them through p (a
// session switched into it, a key minted for it) when p has not proven
// one: Login enforces the policy, and no other way in may go round it.
func (m *Manager) tenantAssurance(ctx context.Context, userID, tenantID string, p *Principal) error {
	required, err := m.mfaRequired(ctx, userID, tenantID)
	if err != nil || !required {
		return err
	}
	return m.CheckAssurance(p, Assurance{Level: mfa.AAL2})
}

// expiredDeleter is a store that keeps expired records until told to
// delete them (the PostgreSQL challenge store and replay guard); the
// memory and Redis ones expire records themselves.
type expiredDeleter interface {
	DeleteExpired(ctx context.Context, before time.Time) (int, error)
}

// deleteExpired purges expired pending logins and ceremonies, and the
// TOTP replay guard's records past their window (totp.Factor.DeleteExpired),
// for the cleanup loop: stores that keep them until asked (PostgreSQL's)
// would otherwise only grow.
func (d *mfaDeps) deleteExpired(ctx context.Context, now time.Time) {
	if p, ok := d.challenges.(expiredDeleter); ok {
		if _, err := p.DeleteExpired(ctx, now); err != nil {
			d.log.Warn("authv2: purging expired MFA challenges failed", "error", err)
		}
	}
	if p, ok := d.totp.(expiredDeleter); ok {
		if _, err := p.DeleteExpired(ctx, now); err != nil {
			d.log.Warn("authv2: purging the TOTP replay guard failed", "error", err)
		}
	}
}
