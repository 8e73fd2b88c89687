package webauthn_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/internal/mfatest"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/mfa/webauthn"
	"github.com/authv2/authv2/store/memory"
)

var (
	rp    = virtualwebauthn.RelyingParty{ID: "example.com", Name: "Example", Origin: "https://login.example.com"}
	alice = webauthn.User{ID: "user-alice-0001", Name: "alice@example.com", DisplayName: "Alice"}
)

// ceremony is one relying party (mfa.WebAuthn over memory stores) and
// one virtual authenticator holding one credential.
type ceremony struct {
	t    *testing.T
	w    *webauthn.RelyingParty
	s    *memory.MFAStore
	auth virtualwebauthn.Authenticator
	cred virtualwebauthn.Credential
}

func newCeremony(t *testing.T, opts virtualwebauthn.AuthenticatorOptions) *ceremony {
	t.Helper()
	s := memory.NewMFAStore()
	w, err := webauthn.New(webauthn.Config{RPID: "example.com", RPDisplayName: "Example", RPOrigins: []string{rp.Origin}}, s, memory.NewChallengeStore())
	require.NoError(t, err)
	opts.UserHandle = []byte(alice.ID)
	return &ceremony{t: t, w: w, s: s, auth: virtualwebauthn.NewAuthenticatorWithOptions(opts), cred: newCredential(t)}
}

func newCredential(t *testing.T) virtualwebauthn.Credential { return mfatest.VirtualCredential(t) }

func (c *ceremony) register(party virtualwebauthn.RelyingParty) (*mfa.WebAuthnCredential, error) {
	c.t.Helper()
	creation, id, err := c.w.BeginRegistration(c.t.Context(), alice, time.Now())
	require.NoError(c.t, err)
	js, err := json.Marshal(creation)
	require.NoError(c.t, err)
	opts, err := virtualwebauthn.ParseAttestationOptions(string(js))
	require.NoError(c.t, err)
	resp := virtualwebauthn.CreateAttestationResponse(party, c.auth, c.cred, *opts)
	return c.w.FinishRegistration(c.t.Context(), alice, id, []byte(resp), "YubiKey", time.Now())
}

func (c *ceremony) mustRegister() *mfa.WebAuthnCredential {
	c.t.Helper()
	wc, err := c.register(rp)
	require.NoError(c.t, err)
	c.auth.AddCredential(c.cred)
	return wc
}

// beginLogin starts a second-factor (passkey false) or passwordless login
// and returns the challenge ID and the options the authenticator sees.
func (c *ceremony) beginLogin(passkey bool) (string, *virtualwebauthn.AssertionOptions) {
	c.t.Helper()
	begin := func() (any, string, error) { return c.w.BeginLogin(c.t.Context(), alice, time.Now()) }
	if passkey {
		begin = func() (any, string, error) { return c.w.BeginPasskeyLogin(c.t.Context(), time.Now()) }
	}
	assertion, id, err := begin()
	require.NoError(c.t, err)
	js, err := json.Marshal(assertion)
	require.NoError(c.t, err)
	opts, err := virtualwebauthn.ParseAssertionOptions(string(js))
	require.NoError(c.t, err)
	return id, opts
}

// assert signs the options with the credential at its counter.
func (c *ceremony) assert(party virtualwebauthn.RelyingParty, opts *virtualwebauthn.AssertionOptions) []byte {
	return []byte(virtualwebauthn.CreateAssertionResponse(party, c.auth, c.cred, *opts))
}

func (c *ceremony) login(party virtualwebauthn.RelyingParty) (*webauthn.Login, []byte, error) {
	c.t.Helper()
	id, opts := c.beginLogin(false)
	resp := c.assert(party, opts)
	l, err := c.w.FinishLogin(c.t.Context(), alice, id, resp, time.Now())
	return l, resp, err
}

func TestWebAuthnRegisterAndLogin(t *testing.T) {
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{})
	wc := c.mustRegister()
	assert.Equal(t, c.cred.ID, wc.ID)
	assert.Equal(t, alice.ID, wc.UserID)
	assert.Equal(t, "YubiKey", wc.Name)
	assert.Equal(t, c.auth.Aaguid[:], wc.AAGUID)
	assert.True(t, wc.Flags.UserPresent)
	assert.True(t, wc.Flags.UserVerified)
	assert.NotEmpty(t, wc.PublicKey)
	listed, err := c.s.ListWebAuthn(t.Context(), alice.ID)
	require.NoError(t, err)
	require.Len(t, listed, 1)

	c.cred.Counter = 1
	l, _, err := c.login(rp)
	require.NoError(t, err)
	assert.Equal(t, alice.ID, l.UserID)
	assert.Equal(t, uint32(1), l.Credential.SignCount)
	assert.False(t, l.Credential.LastUsedAt.IsZero())
	assert.Equal(t, mfa.FactorWebAuthn, l.Proof.Factor)
	assert.True(t, l.Proof.UserVerified)
	assert.Equal(t, mfa.AAL2, mfa.Proofs{l.Proof}.Level(), "a user-verifying key is two factors")

	_, err = c.register(rp)
	assert.ErrorIs(t, err, webauthn.ErrCredentialExists, "the same credential twice")
}

func TestWebAuthnSecondFactorWithoutUserVerification(t *testing.T) {
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{UserNotVerified: true})
	c.mustRegister()
	l, _, err := c.login(rp)
	require.NoError(t, err, "user verification is preferred, not required, for a second factor")
	assert.False(t, l.Proof.UserVerified)
	assert.Equal(t, mfa.AAL1, mfa.Proofs{l.Proof}.Level())
	assert.Equal(t, mfa.AAL2, mfa.Proofs{{Factor: mfa.FactorPassword}, l.Proof}.Level())
}

func TestWebAuthnPasskeyLogin(t *testing.T) {
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{})
	c.mustRegister()
	id, opts := c.beginLogin(true)
	assert.Empty(t, opts.AllowCredentials, "discoverable: no user named")
	l, err := c.w.FinishPasskeyLogin(t.Context(), id, c.assert(rp, opts), time.Now())
	require.NoError(t, err)
	assert.Equal(t, alice.ID, l.UserID)
	assert.True(t, l.Proof.UserVerified)
}

func TestWebAuthnPasskeyLoginNeedsUserVerification(t *testing.T) {
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{})
	c.mustRegister()
	c.auth.Options.UserNotVerified = true
	id, opts := c.beginLogin(true)
	_, err := c.w.FinishPasskeyLogin(t.Context(), id, c.assert(rp, opts), time.Now())
	assert.ErrorIs(t, err, webauthn.ErrUserNotVerified)
}

func TestWebAuthnPasskeyLoginUnknownCredential(t *testing.T) {
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{})
	c.mustRegister()
	require.NoError(t, c.s.DeleteWebAuthn(t.Context(), alice.ID, c.cred.ID))
	id, opts := c.beginLogin(true)
	_, err := c.w.FinishPasskeyLogin(t.Context(), id, c.assert(rp, opts), time.Now())
	assert.ErrorIs(t, err, webauthn.ErrUnknownCredential)
}

func TestWebAuthnPasskeyLoginUserHandleMustBeTheOwner(t *testing.T) {
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{})
	c.mustRegister()
	c.auth.Options.UserHandle = []byte("user-mallory")
	id, opts := c.beginLogin(true)
	_, err := c.w.FinishPasskeyLogin(t.Context(), id, c.assert(rp, opts), time.Now())
	assert.ErrorIs(t, err, webauthn.ErrUnknownCredential)
}

func TestWebAuthnReplayedAssertion(t *testing.T) {
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{})
	c.mustRegister()
	c.cred.Counter = 1
	id, opts := c.beginLogin(false)
	resp := c.assert(rp, opts)
	_, err := c.w.FinishLogin(t.Context(), alice, id, resp, time.Now())
	require.NoError(t, err)

	_, err = c.w.FinishLogin(t.Context(), alice, id, resp, time.Now())
	assert.ErrorIs(t, err, webauthn.ErrChallengeNotFound, "the challenge was used")

	fresh, _ := c.beginLogin(false)
	_, err = c.w.FinishLogin(t.Context(), alice, fresh, resp, time.Now())
	assert.ErrorIs(t, err, webauthn.ErrCeremonyRejected, "signed over another challenge")
}

func TestWebAuthnWrongOrigin(t *testing.T) {
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{})
	evil := virtualwebauthn.RelyingParty{ID: rp.ID, Name: rp.Name, Origin: "https://login.example.com.evil.test"}
	_, err := c.register(evil)
	assert.ErrorIs(t, err, webauthn.ErrCeremonyRejected, "registration from another origin")

	c.mustRegister()
	_, _, err = c.login(evil)
	assert.ErrorIs(t, err, webauthn.ErrCeremonyRejected)
	var ce *webauthn.CeremonyError
	require.True(t, errors.As(err, &ce))
	assert.Error(t, ce.Unwrap(), "the library's reason is kept for logs")
}

func TestWebAuthnWrongRPID(t *testing.T) {
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{})
	other := virtualwebauthn.RelyingParty{ID: "evil.test", Name: rp.Name, Origin: rp.Origin}
	_, err := c.register(other)
	assert.ErrorIs(t, err, webauthn.ErrCeremonyRejected)

	c.mustRegister()
	_, _, err = c.login(other)
	assert.ErrorIs(t, err, webauthn.ErrCeremonyRejected)
}

func TestWebAuthnClonedAuthenticatorSignCount(t *testing.T) {
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{})
	c.mustRegister()
	c.cred.Counter = 5
	_, _, err := c.login(rp)
	require.NoError(t, err)

	// A clone of the key, behind the original: its counter is lower.
	c.cred.Counter = 3
	_, _, err = c.login(rp)
	require.ErrorIs(t, err, webauthn.ErrSignCountRegression)
	var sce *webauthn.SignCountError
	require.True(t, errors.As(err, &sce))
	assert.Equal(t, uint32(5), sce.Stored)
	assert.Equal(t, uint32(3), sce.Got)
	assert.Equal(t, c.cred.ID, sce.CredentialID)
	assert.Contains(t, err.Error(), "stored 5, got 3")

	c.cred.Counter = 5
	_, _, err = c.login(rp)
	assert.ErrorIs(t, err, webauthn.ErrSignCountRegression, "an equal count is a regression too")
	stored, err := c.s.GetWebAuthn(t.Context(), c.cred.ID)
	require.NoError(t, err)
	assert.Equal(t, uint32(5), stored.SignCount, "a refused assertion changes nothing")
}

func TestWebAuthnSameAssertionOnTwoInstances(t *testing.T) {
	// Two instances finishing two ceremonies with the same counter at
	// once (a cloned key racing the original): the store's compare-and-set
	// lets one through.
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{})
	c.mustRegister()
	c.cred.Counter = 9
	id1, o1 := c.beginLogin(false)
	id2, o2 := c.beginLogin(false)
	r1, r2 := c.assert(rp, o1), c.assert(rp, o2)
	_, err1 := c.w.FinishLogin(t.Context(), alice, id1, r1, time.Now())
	_, err2 := c.w.FinishLogin(t.Context(), alice, id2, r2, time.Now())
	require.NoError(t, err1)
	assert.ErrorIs(t, err2, webauthn.ErrSignCountRegression)
}

func TestWebAuthnChallengeBoundToCeremonyAndUser(t *testing.T) {
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{})
	c.mustRegister()
	id, opts := c.beginLogin(false)
	resp := c.assert(rp, opts)
	_, err := c.w.FinishPasskeyLogin(t.Context(), id, resp, time.Now())
	assert.ErrorIs(t, err, webauthn.ErrChallengeNotFound, "a second-factor challenge cannot finish a passkey login")

	id, opts = c.beginLogin(false)
	bob := webauthn.User{ID: "user-bob", Name: "bob"}
	_, err = c.w.FinishLogin(t.Context(), bob, id, c.assert(rp, opts), time.Now())
	assert.ErrorIs(t, err, webauthn.ErrChallengeNotFound, "alice's challenge is not bob's")

	_, err = c.w.FinishLogin(t.Context(), alice, "unknown", resp, time.Now())
	assert.ErrorIs(t, err, webauthn.ErrChallengeNotFound)
}

func TestWebAuthnChallengeExpires(t *testing.T) {
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{})
	c.mustRegister()
	id, opts := c.beginLogin(false)
	_, err := c.w.FinishLogin(t.Context(), alice, id, c.assert(rp, opts), time.Now().Add(6*time.Minute))
	assert.ErrorIs(t, err, webauthn.ErrChallengeNotFound, "past the five-minute TTL")
}

func TestWebAuthnBeginLoginWithoutCredentials(t *testing.T) {
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{})
	_, _, err := c.w.BeginLogin(t.Context(), alice, time.Now())
	assert.ErrorIs(t, err, mfa.ErrNotEnrolled)
	_, _, err = c.w.BeginLogin(t.Context(), webauthn.User{ID: string(make([]byte, 65))}, time.Now())
	assert.ErrorIs(t, err, mfa.ErrInvalidConfig)
}

func TestWebAuthnMalformedResponses(t *testing.T) {
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{})
	_, id, err := c.w.BeginRegistration(t.Context(), alice, time.Now())
	require.NoError(t, err)
	_, err = c.w.FinishRegistration(t.Context(), alice, id, []byte("{}"), "k", time.Now())
	assert.ErrorIs(t, err, webauthn.ErrCeremonyRejected)
	c.mustRegister()
	lid, _ := c.beginLogin(false)
	_, err = c.w.FinishLogin(t.Context(), alice, lid, []byte("not json"), time.Now())
	assert.ErrorIs(t, err, webauthn.ErrCeremonyRejected)
	pid, _ := c.beginLogin(true)
	_, err = c.w.FinishPasskeyLogin(t.Context(), pid, []byte("not json"), time.Now())
	assert.ErrorIs(t, err, webauthn.ErrCeremonyRejected)
}

func TestWebAuthnConfigValidation(t *testing.T) {
	s := memory.NewMFAStore()
	for name, cfg := range map[string]webauthn.Config{
		"no RP ID":   {RPDisplayName: "x", RPOrigins: []string{"https://x"}},
		"no name":    {RPID: "x", RPOrigins: []string{"https://x"}},
		"no origins": {RPID: "x", RPDisplayName: "x"},
		"short TTL":  {RPID: "x", RPDisplayName: "x", RPOrigins: []string{"https://x"}, ChallengeTTL: time.Millisecond},
		"bad RP ID":  {RPID: "not a domain!", RPDisplayName: "x", RPOrigins: []string{"https://x"}},
	} {
		_, err := webauthn.New(cfg, s, memory.NewChallengeStore())
		assert.ErrorIs(t, err, mfa.ErrInvalidConfig, name)
	}
}

// Bob, who has a key of his own, finishes his second-factor login with
// an assertion of Alice's key: the credential is not his.
func TestWebAuthnLoginWithAnotherUsersCredential(t *testing.T) {
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{})
	c.mustRegister()
	bob := webauthn.User{ID: "user-bob-0002", Name: "bob@example.com", DisplayName: "Bob"}
	bobKey := newCredential(t)
	require.NoError(t, c.s.CreateWebAuthn(t.Context(), &mfa.WebAuthnCredential{ID: bobKey.ID, UserID: bob.ID, PublicKey: []byte{1}}))
	assertion, id, err := c.w.BeginLogin(t.Context(), bob, time.Now())
	require.NoError(t, err)
	js, err := json.Marshal(assertion)
	require.NoError(t, err)
	opts, err := virtualwebauthn.ParseAssertionOptions(string(js))
	require.NoError(t, err)
	c.cred.Counter = 1
	_, err = c.w.FinishLogin(t.Context(), bob, id, c.assert(rp, opts), time.Now())
	assert.ErrorIs(t, err, webauthn.ErrUnknownCredential)
	stored, err := c.s.GetWebAuthn(t.Context(), c.cred.ID)
	require.NoError(t, err)
	assert.Zero(t, stored.SignCount, "Alice's key is untouched")
}

// racingStore is a credential store where another instance records an
// assertion of the credential right after this one listed it.
type racingStore struct {
	*memory.MFAStore
	once  sync.Once
	count uint32
}

func (s *racingStore) ListWebAuthn(ctx context.Context, userID string) ([]*mfa.WebAuthnCredential, error) {
	cs, err := s.MFAStore.ListWebAuthn(ctx, userID)
	if len(cs) > 0 && s.count > 0 {
		s.once.Do(func() { _ = s.MFAStore.RecordWebAuthnUse(ctx, userID, cs[0].ID, s.count, cs[0].Flags, time.Now()) })
	}
	return cs, err
}

// When the store's compare-and-set refuses the count because another
// instance recorded a higher one meanwhile, the error reports the count
// that is stored, for the audit trail, not the one just refused.
func TestWebAuthnSignCountErrorReportsTheStoredCount(t *testing.T) {
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{})
	c.mustRegister()
	rs := &racingStore{MFAStore: c.s}
	w, err := webauthn.New(webauthn.Config{RPID: "example.com", RPDisplayName: "Example", RPOrigins: []string{rp.Origin}}, rs, memory.NewChallengeStore())
	require.NoError(t, err)
	c.w = w
	id, opts := c.beginLogin(false)
	rs.count, c.cred.Counter = 12, 10
	_, err = c.w.FinishLogin(t.Context(), alice, id, c.assert(rp, opts), time.Now())
	var sce *webauthn.SignCountError
	require.ErrorAs(t, err, &sce)
	assert.Equal(t, uint32(12), sce.Stored)
	assert.Equal(t, uint32(10), sce.Got)
}

// The stored UV flag is the credential's uvInitialized (WebAuthn §6.1):
// set at registration, and not changed by a login, which proves user
// verification in its own Proof.
func TestWebAuthnStoredUserVerifiedIsTheRegistrations(t *testing.T) {
	c := newCeremony(t, virtualwebauthn.AuthenticatorOptions{UserNotVerified: true})
	wc := c.mustRegister()
	require.False(t, wc.Flags.UserVerified)
	c.auth.Options.UserNotVerified = false
	c.cred.Counter = 1
	l, _, err := c.login(rp)
	require.NoError(t, err)
	assert.True(t, l.Proof.UserVerified, "this login verified the user")
	assert.False(t, l.Credential.Flags.UserVerified, "the record keeps its registration's flag")
}
