package authv2

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/randid"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/user"
)

// This file holds the use of second factors: the pending login Login
// returns to a user with a factor, CompleteLogin which turns it into a
// session at AAL2, and StepUp which proves a factor on a live session.

// MFAChallenge is Login's answer to a right password of a user with a
// second factor: no session yet, a pending token to complete the login
// with (CompleteLogin). Token is a secret, like a session token; it is
// not one and every session check refuses it.
type MFAChallenge struct {
	Token     string
	ExpiresAt time.Time
	// Factors are those that can complete the login (mfa.FactorTOTP,
	// mfa.FactorWebAuthn, mfa.FactorRecoveryCode).
	Factors []mfa.Factor
	// Enroll is true when the user has no factor and the tenant requires
	// one (MFA.Policies): EnrollTOTPForLogin shows the secret, and
	// CompleteLogin with the app's first code confirms it and opens the
	// session.
	Enroll bool
}

// pendingPrefix starts every pending-login token; it is not a session
// token's prefix, so token.Parse refuses it without a store read.
const pendingPrefix = "av2p_"

// pendingKind is the Challenge kind of a pending login: a WebAuthn
// ceremony's challenge cannot stand for one, nor the reverse.
const pendingKind = "authv2.login"

// pendingLogin is what a pending token stands for, kept as a Challenge's
// data under the SHA-256 of the token's secret: the store never holds the
// token.
type pendingLogin struct {
	TenantID string             `json:"t,omitempty"`
	Scope    string             `json:"s,omitempty"`
	Client   session.ClientInfo `json:"c"`
	// Stamp is the user's security stamp when the password was proven: an
	// account change since voids the pending login.
	Stamp string `json:"st"`
	// Password is passwordDigest of the hash the password was checked
	// against: a change that keeps the stamp (RevokeOnPasswordChange off)
	// must not let the old password in, as Login refuses it.
	Password   string       `json:"pw"`
	PasswordAt time.Time    `json:"pa"`
	Factors    []mfa.Factor `json:"f"`
	Enroll     bool         `json:"en,omitempty"`
	// Failures counts wrong second factors; at Config.MFA.PendingAttempts
	// the pending login is gone.
	Failures  int       `json:"n,omitempty"`
	ExpiresAt time.Time `json:"e"`
}

// passwordDigest stands for a password hash in a pending login: the
// challenge store is told which password was proven, never its hash.
func passwordDigest(hash string) string {
	sum := sha256.Sum256([]byte(hash))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// pendingID is the challenge ID of a pending token, "" for a string that
// is not one.
func pendingID(tok string) string {
	secret, ok := strings.CutPrefix(tok, pendingPrefix)
	if !ok {
		return ""
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(secret)
	if err != nil || len(raw) != 32 {
		return ""
	}
	sum := sha256.Sum256(raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// loginFactors decides whether a login into tenantID whose password was
// right needs a second factor: it returns the factors that can complete
// it, none when the user has none (or MFA is off), and whether the user
// must enroll one first (the tenant requires it).
func (m *Manager) loginFactors(ctx context.Context, userID, tenantID string) ([]mfa.Factor, bool, error) {
	if m.mfa == nil {
		return nil, false, nil
	}
	st, err := m.MFAStatus(ctx, userID)
	if err != nil {
		return nil, false, err
	}
	if fs := st.Factors(); len(fs) > 0 {
		return fs, false, nil
	}
	required, err := m.mfaRequired(ctx, userID, tenantID)
	if err != nil {
		return nil, false, err
	}
	if required {
		return []mfa.Factor{mfa.FactorTOTP}, true, nil
	}
	return nil, false, nil
}

// issuePending stores a pending login of u and returns its token.
func (m *Manager) issuePending(ctx context.Context, u *user.User, p *pendingLogin) (*MFAChallenge, error) {
	secret := randid.Bytes(32)
	tok := pendingPrefix + base64.RawURLEncoding.EncodeToString(secret)
	p.ExpiresAt = p.PasswordAt.Add(m.cfg.MFA.PendingTTL)
	if err := m.putPending(ctx, pendingID(tok), u.ID, p); err != nil {
		return nil, err
	}
	return &MFAChallenge{Token: tok, ExpiresAt: p.ExpiresAt, Factors: p.Factors, Enroll: p.Enroll}, nil
}

func (m *Manager) putPending(ctx context.Context, id, userID string, p *pendingLogin) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	c := &mfa.Challenge{ID: id, UserID: userID, Kind: pendingKind, Data: data, ExpiresAt: p.ExpiresAt}
	if err := m.mfa.challenges.PutChallenge(ctx, c, m.clock.Now()); err != nil {
		return translate("mfa.put_pending", err)
	}
	return nil
}

// takePending takes (reads and deletes, atomically) the pending login of
// tok: of concurrent takes exactly one gets it. ErrInvalidToken when there
// is none (unknown, used, expired, or not a pending token).
func (m *Manager) takePending(ctx context.Context, tok string) (string, string, *pendingLogin, error) {
	if m.mfa == nil {
		return "", "", nil, errNoMFA
	}
	id := pendingID(tok)
	if id == "" {
		return "", "", nil, ErrInvalidToken
	}
	c, err := m.mfa.challenges.TakeChallenge(ctx, id, m.clock.Now())
	if errors.Is(err, store.ErrNotFound) {
		return "", "", nil, ErrInvalidToken
	}
	if err != nil {
		return "", "", nil, translate("mfa.take_pending", err)
	}
	var p pendingLogin
	if c.Kind != pendingKind || json.Unmarshal(c.Data, &p) != nil {
		return "", "", nil, ErrInvalidToken
	}
	return id, c.UserID, &p, nil
}

// readPending returns the pending login of tok without using it up: it
// is taken and put back as it was (a completion racing this finds no
// pending login and fails as a replay would).
func (m *Manager) readPending(ctx context.Context, tok string) (string, *pendingLogin, error) {
	id, userID, p, err := m.takePending(ctx, tok)
	if err != nil {
		return "", nil, err
	}
	if err := m.putPending(ctx, id, userID, p); err != nil {
		return "", nil, err
	}
	return userID, p, nil
}

// EnrollTOTPForLogin starts the TOTP enrollment of a user whose login a
// tenant's policy holds until they have a second factor
// (MFAChallenge.Enroll): show the secret once, then CompleteLogin with
// the app's first code, which confirms the enrollment and opens the
// session at AAL2.
func (m *Manager) EnrollTOTPForLogin(ctx context.Context, pendingToken string) (*mfa.TOTPEnrollment, error) {
	userID, p, err := m.readPending(ctx, pendingToken)
	if err != nil {
		return nil, err
	}
	if !p.Enroll {
		return nil, ErrMFAAlreadyEnrolled
	}
	// The user may have a factor since the login began: it must prove it.
	if st, err := m.MFAStatus(ctx, userID); err != nil {
		return nil, err
	} else if st.Enabled() {
		return nil, ErrMFAAlreadyEnrolled
	}
	u, err := m.users.Get(ctx, userID)
	if err != nil {
		return nil, translate("user.get", err)
	}
	e, err := m.mfa.totp.Enroll(ctx, userID, u.Email, m.clock.Now())
	if err != nil {
		return nil, m.mfaError("mfa.enroll_totp", err)
	}
	if err := m.emit(ctx, audit.Event{Type: audit.TypeMFAEnrollStarted, Outcome: audit.Success, ActorUserID: userID, Target: userID,
		TenantID: p.TenantID, IP: p.Client.IP, UserAgent: p.Client.UserAgent, Attributes: map[string]string{audit.AttrFactor: string(mfa.FactorTOTP), "step": "login"}}); err != nil {
		return nil, err
	}
	return e, nil
}

// BeginLoginWebAuthn starts the WebAuthn assertion that completes a
// pending login: hand the options to navigator.credentials.get and the
// result to CompleteLogin with the challenge ID.
func (m *Manager) BeginLoginWebAuthn(ctx context.Context, pendingToken string) (options json.RawMessage, challengeID string, err error) {
	userID, p, err := m.readPending(ctx, pendingToken)
	if err != nil {
		return nil, "", err
	}
	if m.mfa.webauthn == nil || !hasFactor(p.Factors, mfa.FactorWebAuthn) {
		return nil, "", ErrMFANotEnrolled
	}
	options, challengeID, err = m.mfa.webauthn.BeginLogin(ctx, mfa.WebAuthnUser{ID: userID}, m.clock.Now())
	if err != nil {
		return nil, "", m.mfaError("mfa.begin_login", err)
	}
	return options, challengeID, nil
}

// SecondFactor is a proof of a second factor: a TOTP code, a recovery
// code, or a WebAuthn assertion (the JSON of the browser's
// PublicKeyCredential) for the challenge a Begin…WebAuthn call returned.
type SecondFactor struct {
	Factor      mfa.Factor
	Code        string
	ChallengeID string
	Response    []byte
}

// CompleteLoginInput is what CompleteLogin needs.
type CompleteLoginInput struct {
	PendingToken string
	SecondFactor
	Client session.ClientInfo
	// DeviceToken is the device token the client presented, as in
	// LoginInput: the completed login refreshes it, or issues a new one
	// (LoginResult.DeviceToken).
	DeviceToken string
}

// CompleteLogin completes a login that Login answered with an
// MFAChallenge: a right second factor opens the session, at AAL2, with
// the password and the factor as its proofs. The pending token is single
// use: of concurrent completions exactly one can win. A wrong factor is
// ErrInvalidSecondFactor and counts in the client's IP throttle and the
// user's second-factor throttle; after Config.MFA.PendingAttempts of them
// the pending token is void (ErrInvalidToken, as for an expired one) and
// the password must be entered again.
func (m *Manager) CompleteLogin(ctx context.Context, in CompleteLoginInput) (_ *LoginResult, err error) {
	ctx, span := m.tel.Start(ctx, "authv2.CompleteLogin")
	defer m.endSpan(span, &err)
	id, userID, p, err := m.takePending(ctx, in.PendingToken)
	if err != nil {
		return nil, err
	}
	now := m.clock.Now()
	fail := func(err error, factor mfa.Factor) error {
		_ = m.emit(ctx, withReason(audit.Event{Type: audit.TypeMFAVerify, Outcome: audit.Failure, ActorUserID: userID, TenantID: p.TenantID,
			Target: userID, IP: in.Client.IP, UserAgent: in.Client.UserAgent, Attributes: map[string]string{audit.AttrFactor: string(factor), "step": "login"}}, err))
		if errors.Is(err, ErrInvalidSecondFactor) || errors.Is(err, ErrThrottled) || errors.Is(err, ErrMFANotEnrolled) {
			if !errors.Is(err, ErrThrottled) {
				p.Failures++
			}
			if p.Failures < m.cfg.MFA.PendingAttempts {
				if perr := m.putPending(ctx, id, userID, p); perr != nil {
					m.log.Warn("authv2: keeping a pending login after a wrong second factor failed", "error", perr)
				}
			}
		}
		return err
	}
	at, retry, err := m.reserveClient(ctx, in.Client.IP, now)
	if err != nil {
		return nil, err
	} else if retry > 0 {
		return nil, fail(m.throttledFactor(retry), in.Factor)
	}
	if p.Enroll {
		// A factor registered since the login began must be the one
		// proven: enrolling another would go round it. The password is
		// entered again, and that login asks for the factor.
		if st, err := m.MFAStatus(ctx, userID); err != nil {
			if perr := m.putPending(ctx, id, userID, p); perr != nil { // an outage leaves the login usable
				m.log.Warn("authv2: keeping a pending login after a failed factor read failed", "error", perr)
			}
			return nil, err
		} else if st.Enabled() {
			return nil, ErrInvalidToken
		}
	}
	proof, extra, err := m.proveFactor(ctx, userID, p.Factors, in.SecondFactor, in.Client, p.Enroll)
	if err != nil {
		return nil, fail(err, in.Factor)
	}
	if p.Enroll {
		extra = append(extra, audit.Event{Type: audit.TypeMFAEnrolled, Outcome: audit.Success, ActorUserID: userID, Target: userID,
			TenantID: p.TenantID, IP: in.Client.IP, UserAgent: in.Client.UserAgent, Attributes: map[string]string{audit.AttrFactor: string(mfa.FactorTOTP), "step": "login"}})
	}
	at.succeeded(ctx)
	u, err := m.users.Get(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken
	} else if err != nil {
		return nil, translate("user.get", err)
	}
	if u.SecurityStamp != p.Stamp || passwordDigest(u.PasswordHash) != p.Password ||
		u.Status != user.StatusActive && u.Status != user.StatusPendingVerification {
		return nil, ErrInvalidToken // the account changed since the password was proven
	}
	if p.TenantID != "" {
		// Removal from the tenant keeps the stamp: a member who left while
		// the login waited gets no session there.
		if err := m.checkTenantAccess(ctx, u.ID, p.TenantID); err != nil {
			return nil, err
		}
	}
	proofs := mfa.Proofs{{Factor: mfa.FactorPassword, At: p.PasswordAt}, proof}
	sess, tok, opened, err := m.openSession(ctx, u, p.TenantID, p.Scope, p.Client, now, now, proofs)
	if err != nil {
		return nil, err
	}
	saved, device, err := m.saveLogin(ctx, u, sess, opened, in.DeviceToken, now, ErrInvalidToken)
	if err != nil {
		return nil, err
	}
	events := append(opened, extra...)
	events = append(events,
		audit.Event{Type: audit.TypeMFAVerify, Outcome: audit.Success, ActorUserID: u.ID, ActorSessionID: sess.ID, TenantID: sess.TenantID,
			Target: u.ID, IP: in.Client.IP, UserAgent: in.Client.UserAgent, Attributes: proofAttrs(proof, "login")},
		audit.Event{Type: audit.TypeLoginSuccess, Outcome: audit.Success, ActorUserID: u.ID, ActorSessionID: sess.ID,
			TenantID: sess.TenantID, Scope: sess.Scope, IP: in.Client.IP, UserAgent: in.Client.UserAgent, Attributes: proofAttrs(proof, "")})
	if err := m.emitAll(ctx, events); err != nil {
		m.abandonSession(ctx, sess)
		return nil, err
	}
	return &LoginResult{User: saved, Session: sess, Token: tok, DeviceToken: device}, nil
}

// proofAttrs are the audit attributes of a proven factor.
func proofAttrs(p mfa.Proof, step string) map[string]string {
	a := map[string]string{audit.AttrFactor: string(p.Factor)}
	if p.Factor == mfa.FactorWebAuthn {
		a[audit.AttrCredential] = p.CredentialID
	}
	if step != "" {
		a["step"] = step
	}
	return a
}

// proveFactor checks a second factor of userID, one of allowed, under the
// user's second-factor throttle; with confirm, a TOTP code confirms the
// pending enrollment. It returns the proof and the events of what the
// check did besides (a recovery code spent).
func (m *Manager) proveFactor(ctx context.Context, userID string, allowed []mfa.Factor, f SecondFactor, client session.ClientInfo, confirm bool) (mfa.Proof, []audit.Event, error) {
	if !hasFactor(allowed, f.Factor) {
		return mfa.Proof{}, nil, ErrMFANotEnrolled
	}
	var extra []audit.Event
	proof, err := m.verifyFactor(ctx, userID, func(now time.Time) (mfa.Proof, error) {
		switch f.Factor {
		case mfa.FactorTOTP:
			if m.mfa.totp != nil && confirm {
				return m.mfa.totp.Confirm(ctx, userID, f.Code, now)
			}
			if m.mfa.totp != nil {
				return m.mfa.totp.Verify(ctx, userID, f.Code, now)
			}
		case mfa.FactorRecoveryCode:
			if m.mfa.recovery != nil {
				return m.mfa.recovery.Use(ctx, userID, f.Code, now)
			}
		case mfa.FactorWebAuthn:
			if m.mfa.webauthn != nil {
				l, err := m.mfa.webauthn.FinishLogin(ctx, mfa.WebAuthnUser{ID: userID}, f.ChallengeID, f.Response, now)
				if errors.Is(err, mfa.ErrSignCountRegression) {
					extra = append(extra, audit.Event{Type: audit.TypeMFASignCount, Outcome: audit.Denied, ActorUserID: userID, Target: userID,
						IP: client.IP, UserAgent: client.UserAgent, Attributes: map[string]string{audit.AttrFactor: string(mfa.FactorWebAuthn)}})
				}
				if err != nil {
					return mfa.Proof{}, err
				}
				return l.Proof, nil
			}
		}
		return mfa.Proof{}, mfa.ErrNotEnrolled
	})
	if err != nil {
		// A sign-count anomaly is recorded however the check ends.
		_ = m.emitAll(ctx, extra)
		return mfa.Proof{}, nil, err
	}
	if proof.Factor == mfa.FactorRecoveryCode {
		extra = append(extra, audit.Event{Type: audit.TypeMFARecoveryUsed, Outcome: audit.Success, ActorUserID: userID, Target: userID,
			IP: client.IP, UserAgent: client.UserAgent, Attributes: map[string]string{audit.AttrFactor: string(mfa.FactorRecoveryCode)}})
		m.notifyRecoveryUse(ctx, userID)
	}
	return proof, extra, nil
}

// RecoveryCodeNotifier is implemented by a Notifier that also tells a
// user a recovery code of theirs was used (and how many are left), so
// that a stolen set is noticed.
type RecoveryCodeNotifier interface {
	RecoveryCodeUsed(ctx context.Context, u *user.User, remaining int) error
}

// notifyRecoveryUse tells the user, off the caller's time, that a
// recovery code was spent, when the Notifier can.
func (m *Manager) notifyRecoveryUse(ctx context.Context, userID string) {
	n, ok := m.notifier.(RecoveryCodeNotifier)
	if !ok {
		return
	}
	m.background(ctx, func(ctx context.Context) error {
		u, err := m.users.Get(ctx, userID)
		if err != nil {
			return err
		}
		left, err := m.mfa.recovery.Remaining(ctx, userID)
		if err != nil {
			return err
		}
		return n.RecoveryCodeUsed(ctx, u, left)
	})
}

// BeginStepUpWebAuthn starts the WebAuthn assertion of a step-up
// (StepUp) for the principal's user.
func (m *Manager) BeginStepUpWebAuthn(ctx context.Context, p *Principal) (options json.RawMessage, challengeID string, err error) {
	if m.mfa == nil || m.mfa.webauthn == nil {
		return nil, "", errNoMFA
	}
	if err := personOnly(p); err != nil {
		return nil, "", err // a key cannot step up: StepUp takes a session
	}
	options, challengeID, err = m.mfa.webauthn.BeginLogin(ctx, mfa.WebAuthnUser{ID: p.UserID}, m.clock.Now())
	if err != nil {
		return nil, "", m.mfaError("mfa.begin_login", err)
	}
	return options, challengeID, nil
}

// StepUp proves a second factor on the live session of tok and replaces
// the session with one that carries the proof (AAL2, fresh now): use the
// returned token from now on. It is how a client answers a
// *StepUpError. A wrong factor is ErrInvalidSecondFactor, counted in the
// user's second-factor throttle.
func (m *Manager) StepUp(ctx context.Context, tok string, f SecondFactor) (_ *LoginResult, err error) {
	ctx, span := m.tel.Start(ctx, "authv2.StepUp")
	defer m.endSpan(span, &err)
	if m.mfa == nil {
		return nil, errNoMFA
	}
	sess, _, err := m.liveSession(ctx, tok, false)
	if err != nil {
		return nil, err
	}
	if err := ownSession(sess); err != nil {
		return nil, err
	}
	st, err := m.MFAStatus(ctx, sess.UserID)
	if err != nil {
		return nil, err
	}
	proof, extra, err := m.proveFactor(ctx, sess.UserID, st.Factors(), f, sess.Client, false)
	if err != nil {
		_ = m.emit(ctx, withReason(audit.Event{Type: audit.TypeMFAVerify, Outcome: audit.Failure, ActorUserID: sess.UserID, ActorSessionID: sess.ID,
			TenantID: sess.TenantID, Target: sess.UserID, Attributes: map[string]string{audit.AttrFactor: string(f.Factor), "step": "step_up"}}, err))
		return nil, err
	}
	res, rotated, err := m.rotateSession(ctx, sess, nil, func(next *session.Session) error {
		next.Proofs = addProof(proofsOf(sess), proof)
		next.AuthLevel = int(next.Proofs.Level())
		next.AuthenticatedAt = proof.At
		return nil
	})
	if err != nil {
		return nil, err
	}
	events := append(extra, rotated,
		audit.Event{Type: audit.TypeMFAVerify, Outcome: audit.Success, ActorUserID: sess.UserID, ActorSessionID: res.Session.ID,
			TenantID: sess.TenantID, Target: sess.UserID, Attributes: proofAttrs(proof, "step_up")},
		audit.Event{Type: audit.TypeStepUp, Outcome: audit.Success, ActorUserID: sess.UserID, ActorSessionID: res.Session.ID,
			TenantID: sess.TenantID, Target: sess.ID, Attributes: proofAttrs(proof, "")})
	return m.recordRotation(ctx, res, events...)
}

// proofsOf returns a session's proofs; one from before sessions kept them
// stands for a password proven at AuthenticatedAt.
func proofsOf(s *session.Session) mfa.Proofs {
	if len(s.Proofs) > 0 || s.AuthenticatedAt.IsZero() {
		return s.Proofs
	}
	return mfa.Proofs{{Factor: mfa.FactorPassword, At: s.AuthenticatedAt}}
}

// addProof returns ps with p, replacing an older proof of the same factor
// and credential: a session proves each factor many times over its life,
// and only the latest matters.
func addProof(ps mfa.Proofs, p mfa.Proof) mfa.Proofs {
	out := make(mfa.Proofs, 0, len(ps)+1)
	for _, x := range ps {
		if x.Factor != p.Factor || x.CredentialID != p.CredentialID {
			out = append(out, x)
		}
	}
	return append(out, p)
}

// passwordProof is the proofs of a password login at now.
func passwordProof(now time.Time) mfa.Proofs {
	return mfa.Proofs{{Factor: mfa.FactorPassword, At: now}}
}

// pendingLoginResult ends a Login whose password was right for a user
// with a second factor: the password's work is saved (throttle places
// given back, rehash), and the answer is a pending token. No device is
// trusted yet: that comes with the session (CompleteLogin).
func (m *Manager) pendingLoginResult(ctx context.Context, u *user.User, in LoginInput, tenantID string, rehashed bool, factors []mfa.Factor, enroll bool, now time.Time) (*LoginResult, error) {
	ch, err := m.issuePending(ctx, u, &pendingLogin{TenantID: tenantID, Scope: in.Scope, Client: in.Client,
		Stamp: u.SecurityStamp, Password: passwordDigest(u.PasswordHash), PasswordAt: now, Factors: factors, Enroll: enroll})
	if err != nil {
		return nil, err
	}
	var events []audit.Event
	if rehashed {
		events = append(events, audit.Event{Type: audit.TypePasswordRehash, Outcome: audit.Success, ActorUserID: u.ID, Target: u.ID})
	}
	fs := make([]string, len(factors))
	for i, f := range factors {
		fs[i] = string(f)
	}
	events = append(events, audit.Event{Type: audit.TypeLoginMFARequired, Outcome: audit.Success, ActorUserID: u.ID, TenantID: tenantID,
		Scope: in.Scope, IP: in.Client.IP, UserAgent: in.Client.UserAgent, Attributes: map[string]string{"factors": strings.Join(fs, ","), "enroll": strconv.FormatBool(enroll)}})
	if err := m.emitAll(ctx, events); err != nil {
		return nil, err
	}
	return &LoginResult{User: u, MFA: ch}, nil
}

// BeginPasskeyLogin starts a passwordless login with a discoverable
// credential (a passkey): hand the options to navigator.credentials.get
// and the result to PasskeyLogin with the challenge ID.
func (m *Manager) BeginPasskeyLogin(ctx context.Context) (options json.RawMessage, challengeID string, err error) {
	if m.mfa == nil || m.mfa.webauthn == nil {
		return nil, "", errNoMFA
	}
	// Each begin stores a challenge for an anonymous caller: without a
	// budget per client, one client could fill the challenge store.
	if _, err := m.reserveBudgets(ctx, m.clientBudget(ctx, "passkey-begin-", m.cfg.MFA.PasskeyBeginLimit)); err != nil {
		return nil, "", err
	}
	options, challengeID, err = m.mfa.webauthn.BeginPasskeyLogin(ctx, m.clock.Now())
	if err != nil {
		return nil, "", m.mfaError("mfa.begin_passkey", err)
	}
	return options, challengeID, nil
}

// PasskeyLoginInput is what PasskeyLogin needs.
type PasskeyLoginInput struct {
	ChallengeID string
	Response    []byte
	// TenantID, Scope and DeviceToken are as in LoginInput.
	TenantID    string
	Scope       string
	Client      session.ClientInfo
	DeviceToken string
}

// PasskeyLogin opens a session from a passkey assertion alone: the
// authenticator verified the user (PIN or biometrics), so the one
// credential is two factors and the session is at AAL2 (NIST SP 800-63B
// multi-factor cryptographic authenticator). An assertion without user
// verification, unknown, replayed or cloned is ErrInvalidCredentials,
// counted in the client's IP throttle.
func (m *Manager) PasskeyLogin(ctx context.Context, in PasskeyLoginInput) (_ *LoginResult, err error) {
	ctx, span := m.tel.Start(ctx, "authv2.PasskeyLogin")
	defer m.endSpan(span, &err)
	if m.mfa == nil || m.mfa.webauthn == nil {
		return nil, errNoMFA
	}
	if err := cmp.Or(checkText("TenantID", in.TenantID), checkScope("Scope", in.Scope)); err != nil {
		return nil, err
	}
	now := m.clock.Now()
	fail := func(userID, reason string, also ...audit.Event) {
		_ = m.emitAll(ctx, append(also, audit.Event{Type: audit.TypeLoginFailure, Outcome: audit.Failure, ActorUserID: userID,
			IP: in.Client.IP, UserAgent: in.Client.UserAgent, Reason: reason, Attributes: map[string]string{audit.AttrFactor: string(mfa.FactorWebAuthn)}}))
	}
	at, retry, err := m.reserveClient(ctx, in.Client.IP, now)
	if err != nil {
		return nil, err
	} else if retry > 0 {
		fail("", audit.ReasonIPThrottled)
		return nil, m.throttledError(retry)
	}
	l, err := m.mfa.webauthn.FinishPasskeyLogin(ctx, in.ChallengeID, in.Response, now)
	if err != nil {
		if errors.Is(m.mfaError("mfa.finish_passkey", err), ErrInvalidSecondFactor) {
			var also []audit.Event
			if errors.Is(err, mfa.ErrSignCountRegression) {
				also = append(also, audit.Event{Type: audit.TypeMFASignCount, Outcome: audit.Denied, IP: in.Client.IP, UserAgent: in.Client.UserAgent,
					Attributes: map[string]string{audit.AttrFactor: string(mfa.FactorWebAuthn)}})
			}
			fail("", audit.ReasonMFAInvalid, also...)
			return nil, ErrInvalidCredentials
		}
		return nil, m.mfaError("mfa.finish_passkey", err)
	}
	u, err := m.users.Get(ctx, l.UserID)
	if errors.Is(err, store.ErrNotFound) {
		fail("", audit.ReasonUnknownUser)
		return nil, ErrInvalidCredentials
	} else if err != nil {
		return nil, translate("user.get", err)
	}
	if u.Status != user.StatusActive {
		fail(u.ID, audit.ReasonStatusPrefix+string(u.Status))
		return nil, ErrInvalidCredentials
	}
	tenantID := cmp.Or(in.TenantID, u.DefaultTenantID)
	if tenantID != "" {
		if err := m.checkTenantAccess(ctx, u.ID, tenantID); err != nil {
			fail(u.ID, audit.ReasonNotMember)
			return nil, err
		}
	}
	at.succeeded(ctx)
	sess, tok, opened, err := m.openSession(ctx, u, tenantID, in.Scope, in.Client, now, now, mfa.Proofs{l.Proof})
	if err != nil {
		return nil, err
	}
	saved, device, err := m.saveLogin(ctx, u, sess, opened, in.DeviceToken, now, ErrInvalidCredentials)
	if err != nil {
		return nil, err
	}
	events := append(opened, audit.Event{Type: audit.TypeLoginSuccess, Outcome: audit.Success, ActorUserID: u.ID, ActorSessionID: sess.ID,
		TenantID: tenantID, Scope: in.Scope, IP: in.Client.IP, UserAgent: in.Client.UserAgent, Attributes: proofAttrs(l.Proof, "passkey")})
	if err := m.emitAll(ctx, events); err != nil {
		m.abandonSession(ctx, sess)
		return nil, err
	}
	return &LoginResult{User: saved, Session: sess, Token: tok, DeviceToken: device}, nil
}

// saveLogin records a second-step or passkey login's success in the user
// (LastLoginAt) once its session is written, and trusts the client as a
// device (device: the token it presented, if any; the token to hand back
// is returned), refusing when the security stamp or the password changed
// since u was read (as Login does): the session then ends and the caller
// sees changed.
func (m *Manager) saveLogin(ctx context.Context, u *user.User, sess *session.Session, opened []audit.Event, device string, now time.Time, changed error) (*user.User, string, error) {
	stamp, hash := u.SecurityStamp, u.PasswordHash
	var issued string
	saved, err := m.users.Update(ctx, u.ID, func(x *user.User) error {
		if x.SecurityStamp != stamp || x.PasswordHash != hash {
			return errAccountChanged
		}
		x.LastLoginAt = now
		issued = trustDevice(x, device, trustedSlot(x, device, now), now)
		return nil
	})
	if err != nil {
		_ = m.emitAll(ctx, opened)
		m.abandonSession(ctx, sess)
		if errors.Is(err, errAccountChanged) || errors.Is(err, store.ErrNotFound) {
			return nil, "", changed
		}
		return nil, "", translate("user.update", err)
	}
	return saved, issued, nil
}
