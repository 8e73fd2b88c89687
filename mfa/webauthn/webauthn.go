// Package webauthn runs WebAuthn ceremonies (security keys as a second
// factor, passkeys for passwordless login) with
// github.com/go-webauthn/webauthn, over package mfa's stores. It is a
// package of its own so that importing mfa's contracts (as every store
// adapter does) does not link the WebAuthn library.
package webauthn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	wa "github.com/go-webauthn/webauthn/webauthn"

	"github.com/authv2/authv2/internal/randid"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/store"
)

// Errors of the WebAuthn ceremonies, for errors.Is. They are package
// mfa's sentinels, so that code holding only an mfa.WebAuthn (the
// Manager) can tell them apart without linking this package.
var (
	// ErrChallengeNotFound: the ceremony's challenge is unknown, expired,
	// already used (a replayed response) or of another ceremony or user.
	ErrChallengeNotFound = mfa.ErrChallengeNotFound
	// ErrCeremonyRejected: the authenticator's response failed
	// verification (signature, challenge, origin, relying party ID,
	// malformed data); a *CeremonyError carries the library's reason.
	ErrCeremonyRejected = mfa.ErrCeremonyRejected
	// ErrUserNotVerified: the ceremony needed user verification (PIN or
	// biometrics) and the authenticator did not perform it.
	ErrUserNotVerified = mfa.ErrUserNotVerified
	// ErrSignCountRegression: the authenticator's signature counter did not
	// grow: a cloned authenticator, or an assertion accepted elsewhere.
	ErrSignCountRegression = mfa.ErrSignCountRegression
	// ErrUnknownCredential: the response names a credential that is not
	// registered (or not the user's).
	ErrUnknownCredential = mfa.ErrUnknownCredential
	// ErrCredentialExists: the credential is already registered.
	ErrCredentialExists = mfa.ErrCredentialExists
)

// CeremonyError is ErrCeremonyRejected with the WebAuthn library's error,
// for logs; its message is ours, never the client's data.
type CeremonyError struct{ Err error }

func (e *CeremonyError) Error() string { return ErrCeremonyRejected.Error() }

// Unwrap exposes the library's error to errors.As.
func (e *CeremonyError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCeremonyRejected) true.
func (e *CeremonyError) Is(target error) bool { return target == ErrCeremonyRejected }

func rejected(err error) error { return &CeremonyError{Err: err} }

// SignCountError is ErrSignCountRegression naming the credential and the
// counts, for the audit trail.
type SignCountError struct {
	CredentialID []byte
	Stored, Got  uint32
}

func (e *SignCountError) Error() string {
	return ErrSignCountRegression.Error() + ": stored " + strconv.FormatUint(uint64(e.Stored), 10) + ", got " + strconv.FormatUint(uint64(e.Got), 10)
}

// Is makes errors.Is(err, ErrSignCountRegression) true.
func (e *SignCountError) Is(target error) bool { return target == ErrSignCountRegression }

// Config is the relying party: its ID (the registrable domain,
// "example.com"), display name and the exact origins
// ("https://login.example.com") its pages run on.
type Config struct {
	RPID          string
	RPDisplayName string
	RPOrigins     []string
	// ChallengeTTL bounds a ceremony, begin to finish; default 5 minutes.
	ChallengeTTL time.Duration
}

// RelyingParty runs registration and login ceremonies with
// github.com/go-webauthn/webauthn, keeping ceremony state in a
// ChallengeStore and credentials in a Store.
type RelyingParty struct {
	w          *wa.WebAuthn
	ttl        time.Duration
	store      mfa.Store
	challenges mfa.ChallengeStore
}

// New returns the ceremonies of the relying party cfg.
func New(cfg Config, s mfa.Store, challenges mfa.ChallengeStore) (*RelyingParty, error) {
	if cfg.ChallengeTTL == 0 {
		cfg.ChallengeTTL = 5 * time.Minute
	}
	if cfg.ChallengeTTL < time.Second || cfg.RPID == "" || cfg.RPDisplayName == "" || len(cfg.RPOrigins) == 0 || s == nil || challenges == nil {
		return nil, fmt.Errorf("%w: WebAuthn needs an RP ID, display name, origins, a positive challenge TTL and both stores", mfa.ErrInvalidConfig)
	}
	w, err := wa.New(&wa.Config{
		RPID: cfg.RPID, RPDisplayName: cfg.RPDisplayName, RPOrigins: cfg.RPOrigins,
		Timeouts: wa.TimeoutsConfig{
			Login:        wa.TimeoutConfig{Enforce: true, Timeout: cfg.ChallengeTTL, TimeoutUVD: cfg.ChallengeTTL},
			Registration: wa.TimeoutConfig{Enforce: true, Timeout: cfg.ChallengeTTL, TimeoutUVD: cfg.ChallengeTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", mfa.ErrInvalidConfig, err)
	}
	return &RelyingParty{w: w, ttl: cfg.ChallengeTTL, store: s, challenges: challenges}, nil
}

// User is the account a ceremony is for (mfa.WebAuthnUser).
type User = mfa.WebAuthnUser

// waUser adapts a User and its credentials to wa.User.
type waUser struct {
	u     User
	creds []wa.Credential
}

func (u *waUser) WebAuthnID() []byte                   { return []byte(u.u.ID) }
func (u *waUser) WebAuthnName() string                 { return u.u.Name }
func (u *waUser) WebAuthnDisplayName() string          { return u.u.DisplayName }
func (u *waUser) WebAuthnCredentials() []wa.Credential { return u.creds }

// Ceremony kinds, so a challenge begun for one cannot finish another.
const (
	kindRegister = "webauthn.register"
	kindLogin    = "webauthn.login"
	kindPasskey  = "webauthn.passkey"
)

func (w *RelyingParty) load(ctx context.Context, u User) (*waUser, error) {
	if len(u.ID) == 0 || len(u.ID) > 64 {
		return nil, fmt.Errorf("%w: a WebAuthn user ID must be 1 to 64 bytes", mfa.ErrInvalidConfig)
	}
	cs, err := w.store.ListWebAuthn(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	wu := &waUser{u: u, creds: make([]wa.Credential, len(cs))}
	for i, c := range cs {
		wu.creds[i] = libraryCredential(c)
	}
	return wu, nil
}

// BeginRegistration starts registering a new credential for u: it returns
// the options for navigator.credentials.create() and the challenge ID the
// finishing call needs. Credentials u already has are excluded; a
// discoverable credential (a passkey) and user verification are
// preferred, not required, so security keys register too.
func (w *RelyingParty) BeginRegistration(ctx context.Context, u User, now time.Time) (*protocol.CredentialCreation, string, error) {
	wu, err := w.load(ctx, u)
	if err != nil {
		return nil, "", err
	}
	creation, sd, err := w.w.BeginRegistration(wu,
		wa.WithExclusions(wa.Credentials(wu.creds).CredentialDescriptors()),
		wa.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred),
		wa.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred, UserVerification: protocol.VerificationPreferred,
		}),
	)
	if err != nil {
		return nil, "", fmt.Errorf("authv2/mfa/webauthn: %w", err)
	}
	id, err := w.put(ctx, kindRegister, u.ID, sd, now)
	return creation, id, err
}

// FinishRegistration verifies the authenticator's response (the JSON of
// the PublicKeyCredential) to the challenge challengeID and stores the new
// credential named name.
func (w *RelyingParty) FinishRegistration(ctx context.Context, u User, challengeID string, response []byte, name string, now time.Time) (*mfa.WebAuthnCredential, error) {
	sd, err := w.take(ctx, kindRegister, u.ID, challengeID, now)
	if err != nil {
		return nil, err
	}
	wu, err := w.load(ctx, u)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, rejected(err)
	}
	lc, err := w.w.CreateCredential(wu, *sd, parsed)
	if err != nil {
		return nil, rejected(err)
	}
	c := &mfa.WebAuthnCredential{
		ID: lc.ID, UserID: u.ID, PublicKey: lc.PublicKey,
		AttestationType: lc.AttestationType, AttestationFormat: lc.AttestationFormat,
		SignCount: lc.Authenticator.SignCount, Flags: flagsOf(lc.Flags.ProtocolValue()),
		AAGUID: lc.Authenticator.AAGUID, Name: name, CreatedAt: now,
	}
	for _, t := range lc.Transport {
		c.Transports = append(c.Transports, string(t))
	}
	if err := w.store.CreateWebAuthn(ctx, c); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, ErrCredentialExists
		}
		return nil, err
	}
	return c, nil
}

// BeginLogin starts a second-factor login of u, who already proved a
// password: the options for navigator.credentials.get() list u's
// credentials. mfa.ErrNotEnrolled when u has none.
func (w *RelyingParty) BeginLogin(ctx context.Context, u User, now time.Time) (*protocol.CredentialAssertion, string, error) {
	wu, err := w.load(ctx, u)
	if err != nil {
		return nil, "", err
	}
	if len(wu.creds) == 0 {
		return nil, "", mfa.ErrNotEnrolled
	}
	assertion, sd, err := w.w.BeginLogin(wu, wa.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, "", fmt.Errorf("authv2/mfa/webauthn: %w", err)
	}
	id, err := w.put(ctx, kindLogin, u.ID, sd, now)
	return assertion, id, err
}

// BeginPasskeyLogin starts a passwordless login: no user is named, the
// authenticator offers its discoverable credentials for this relying
// party, and user verification is required (the passkey is both
// factors).
func (w *RelyingParty) BeginPasskeyLogin(ctx context.Context, now time.Time) (*protocol.CredentialAssertion, string, error) {
	assertion, sd, err := w.w.BeginDiscoverableLogin(wa.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, "", fmt.Errorf("authv2/mfa/webauthn: %w", err)
	}
	id, err := w.put(ctx, kindPasskey, "", sd, now)
	return assertion, id, err
}

// Login is a verified assertion (mfa.WebAuthnLogin).
type Login = mfa.WebAuthnLogin

// FinishLogin verifies u's assertion (the JSON of the PublicKeyCredential)
// for challengeID begun by BeginLogin.
func (w *RelyingParty) FinishLogin(ctx context.Context, u User, challengeID string, response []byte, now time.Time) (*Login, error) {
	sd, err := w.take(ctx, kindLogin, u.ID, challengeID, now)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, rejected(err)
	}
	wu, err := w.load(ctx, u)
	if err != nil {
		return nil, err
	}
	if !ownsCredential(wu.creds, parsed.RawID) {
		return nil, ErrUnknownCredential
	}
	lc, err := w.w.ValidateLogin(wu, *sd, parsed)
	if err != nil {
		return nil, rejected(err)
	}
	return w.record(ctx, u.ID, wu.creds, lc, parsed, now)
}

// FinishPasskeyLogin verifies a passwordless assertion for challengeID
// begun by BeginPasskeyLogin; the user is the credential's owner, which
// the user handle the authenticator returned must name.
func (w *RelyingParty) FinishPasskeyLogin(ctx context.Context, challengeID string, response []byte, now time.Time) (*Login, error) {
	sd, err := w.take(ctx, kindPasskey, "", challengeID, now)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, rejected(err)
	}
	if !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		return nil, ErrUserNotVerified
	}
	owner, err := w.store.GetWebAuthn(ctx, parsed.RawID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownCredential
	}
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(parsed.Response.UserHandle, []byte(owner.UserID)) {
		return nil, ErrUnknownCredential
	}
	wu, err := w.load(ctx, User{ID: owner.UserID})
	if err != nil {
		return nil, err
	}
	_, lc, err := w.w.ValidatePasskeyLogin(func(_, _ []byte) (wa.User, error) { return wu, nil }, *sd, parsed)
	if err != nil {
		return nil, rejected(err)
	}
	return w.record(ctx, owner.UserID, wu.creds, lc, parsed, now)
}

// record applies a verified assertion: it refuses a sign count that did
// not grow, then stores the new count with the store's compare-and-set,
// which refuses the same assertion accepted on another instance meanwhile.
func (w *RelyingParty) record(ctx context.Context, userID string, owned []wa.Credential, lc *wa.Credential, parsed *protocol.ParsedCredentialAssertionData, now time.Time) (*Login, error) {
	got := parsed.Response.AuthenticatorData.Counter
	if lc.Authenticator.CloneWarning {
		var stored uint32
		for _, c := range owned {
			if bytes.Equal(c.ID, lc.ID) {
				stored = c.Authenticator.SignCount
			}
		}
		return nil, &SignCountError{CredentialID: lc.ID, Stored: stored, Got: got}
	}
	flags := flagsOf(lc.Flags.ProtocolValue())
	switch err := w.store.RecordWebAuthnUse(ctx, userID, lc.ID, got, flags, now); {
	case errors.Is(err, store.ErrConflict):
		// Another instance stored a count at least as high since this
		// one loaded the credential (lc's count is already got): report
		// that one, if it can be read.
		stored := got
		if c, err := w.store.GetWebAuthn(ctx, lc.ID); err == nil {
			stored = c.SignCount
		}
		return nil, &SignCountError{CredentialID: lc.ID, Stored: stored, Got: got}
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrUnknownCredential // deleted meanwhile
	case err != nil:
		return nil, err
	}
	c, err := w.store.GetWebAuthn(ctx, lc.ID)
	if err != nil {
		return nil, err
	}
	uv := parsed.Response.AuthenticatorData.Flags.HasUserVerified()
	return &Login{UserID: userID, Credential: c, Proof: mfa.Proof{
		Factor: mfa.FactorWebAuthn, At: now, CredentialID: base64.RawURLEncoding.EncodeToString(lc.ID), UserVerified: uv,
	}}, nil
}

func ownsCredential(creds []wa.Credential, id []byte) bool {
	for _, c := range creds {
		if bytes.Equal(c.ID, id) {
			return true
		}
	}
	return false
}

// put stores the ceremony state under a new random ID.
func (w *RelyingParty) put(ctx context.Context, kind, userID string, sd *wa.SessionData, now time.Time) (string, error) {
	data, err := json.Marshal(sd)
	if err != nil {
		return "", fmt.Errorf("authv2/mfa/webauthn session data: %w", err)
	}
	c := &mfa.Challenge{ID: randid.ID(), UserID: userID, Kind: kind, Data: data, ExpiresAt: now.Add(w.ttl)}
	if err := w.challenges.PutChallenge(ctx, c, now); err != nil {
		return "", err
	}
	return c.ID, nil
}

// take consumes the ceremony state: whatever happens next, a challenge is
// used once.
func (w *RelyingParty) take(ctx context.Context, kind, userID, id string, now time.Time) (*wa.SessionData, error) {
	c, err := w.challenges.TakeChallenge(ctx, id, now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrChallengeNotFound
	}
	if err != nil {
		return nil, err
	}
	if c.Kind != kind || c.UserID != userID {
		return nil, ErrChallengeNotFound
	}
	var sd wa.SessionData
	if err := json.Unmarshal(c.Data, &sd); err != nil {
		return nil, fmt.Errorf("authv2/mfa/webauthn session data: %w", err)
	}
	return &sd, nil
}

// flagsOf keeps the flags a credential record needs.
func flagsOf(f protocol.AuthenticatorFlags) mfa.WebAuthnFlags { return mfa.FlagsFromBits(uint8(f)) }

// libraryCredential is c in the WebAuthn library's form.
func libraryCredential(c *mfa.WebAuthnCredential) wa.Credential {
	lc := wa.Credential{
		ID: c.ID, PublicKey: c.PublicKey, AttestationType: c.AttestationType, AttestationFormat: c.AttestationFormat,
		Flags:         wa.NewCredentialFlags(protocol.AuthenticatorFlags(c.Flags.Bits())),
		Authenticator: wa.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount},
	}
	for _, t := range c.Transports {
		lc.Transport = append(lc.Transport, protocol.AuthenticatorTransport(t))
	}
	return lc
}

// JSON returns the relying party as an mfa.WebAuthn, whose Begin methods
// return the options as JSON: what the Manager takes (authv2.MFA).
func (w *RelyingParty) JSON() mfa.WebAuthn { return jsonRP{w} }

type jsonRP struct{ *RelyingParty }

func (j jsonRP) BeginRegistration(ctx context.Context, u User, now time.Time) (json.RawMessage, string, error) {
	return marshalBegin(j.RelyingParty.BeginRegistration(ctx, u, now))
}

func (j jsonRP) BeginLogin(ctx context.Context, u User, now time.Time) (json.RawMessage, string, error) {
	return marshalBegin(j.RelyingParty.BeginLogin(ctx, u, now))
}

func (j jsonRP) BeginPasskeyLogin(ctx context.Context, now time.Time) (json.RawMessage, string, error) {
	return marshalBegin(j.RelyingParty.BeginPasskeyLogin(ctx, now))
}

func marshalBegin[T any](options T, challengeID string, err error) (json.RawMessage, string, error) {
	if err != nil {
		return nil, "", err
	}
	b, err := json.Marshal(options)
	if err != nil {
		return nil, "", fmt.Errorf("authv2/mfa/webauthn options: %w", err)
	}
	return b, challengeID, nil
}
