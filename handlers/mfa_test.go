package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	pqtotp "github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/internal/mfatest"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/mfa/totp"
	"github.com/authv2/authv2/mfa/webauthn"
	"github.com/authv2/authv2/store/memory"
)

var relyingParty = virtualwebauthn.RelyingParty{ID: "example.com", Name: "Example", Origin: "https://app.example.com"}

// mfaKit is the kit over a Manager with MFA and a manual clock, and a
// virtual security key.
type mfaKit struct {
	*env
	clock *authv2test.Clock
	key   virtualwebauthn.Authenticator
	cred  virtualwebauthn.Credential
}

func newMFAKit(t *testing.T, opts ...func(*authv2.MFA)) *mfaKit {
	s, challenges, guard := memory.NewMFAStore(), memory.NewChallengeStore(), memory.NewReplayGuard()
	tp, err := totp.New(totp.Config{Issuer: "Example"}, mfatest.Ring(t, "k1"), s, guard)
	require.NoError(t, err)
	w, err := webauthn.New(webauthn.Config{RPID: relyingParty.ID, RPDisplayName: relyingParty.Name, RPOrigins: []string{relyingParty.Origin}}, s, challenges)
	require.NoError(t, err)
	clk := authv2test.NewClock(time.Now().UTC().Truncate(time.Second))
	cfg := authv2.MFA{Store: s, Challenges: challenges, TOTP: tp, WebAuthn: w.JSON(), RecoveryKey: []byte(strings.Repeat("k", 32))}
	for _, o := range opts {
		o(&cfg)
	}
	e := newEnv(t, authv2.WithClock(clk), authv2.WithMFA(cfg))
	return &mfaKit{env: e, clock: clk, cred: mfatest.VirtualCredential(t)}
}

// code moves to the next 30-second step (each code is accepted once) and
// returns the authenticator app's code.
func (k *mfaKit) code(secret string) string {
	k.t.Helper()
	k.clock.Advance(30 * time.Second)
	c, err := pqtotp.GenerateCode(secret, k.clock.Now())
	require.NoError(k.t, err)
	return c
}

type ceremonyResp struct {
	Options     json.RawMessage `json:"options"`
	ChallengeID string          `json:"challenge_id"`
}

// sign answers a WebAuthn assertion ceremony with the virtual key.
func (k *mfaKit) sign(c ceremonyResp) json.RawMessage {
	k.t.Helper()
	opts, err := virtualwebauthn.ParseAssertionOptions(string(c.Options))
	require.NoError(k.t, err)
	k.cred.Counter++
	return json.RawMessage(virtualwebauthn.CreateAssertionResponse(relyingParty, k.key, k.cred, *opts))
}

// The journey of issue 16 over HTTP: enroll TOTP and a security key, log
// in with the key as second factor, step up when removing a factor needs
// a fresh AAL2, remove both.
func TestMFAEndToEnd(t *testing.T) {
	k := newMFAKit(t)
	u := k.register("mfa@example.com")
	k.key = virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: []byte(u.ID)})
	c, _ := k.loginAPI("mfa@example.com")

	// Enroll TOTP: the secret once, then the first code confirms it.
	en := decode[struct {
		Secret string `json:"secret"`
		URI    string `json:"uri"`
		QR     string `json:"qr_png"`
	}](t, c.must("POST", "/mfa/totp", nil, http.StatusOK))
	assert.True(t, strings.HasPrefix(en.URI, "otpauth://totp/"))
	assert.NotEmpty(t, en.QR)
	resp, body := c.do("POST", "/mfa/totp/confirm", map[string]string{"code": "000000"})
	requireProblem(t, resp, body, http.StatusUnauthorized, "invalid-second-factor")
	c.must("POST", "/mfa/totp/confirm", map[string]string{"code": k.code(en.Secret)}, http.StatusNoContent)

	// With a factor, changing factors needs AAL2: step up with TOTP.
	resp, body = c.do("POST", "/mfa/webauthn", nil)
	requireProblem(t, resp, body, http.StatusForbidden, "step-up-required")
	up := decode[sessionResp](t, c.must("POST", "/step-up", map[string]string{"factor": "totp", "code": k.code(en.Secret)}, http.StatusOK))
	c = k.api(up.Token)
	reg := decode[ceremonyResp](t, c.must("POST", "/mfa/webauthn", nil, http.StatusOK))
	opts, err := virtualwebauthn.ParseAttestationOptions(string(reg.Options))
	require.NoError(t, err)
	att := json.RawMessage(virtualwebauthn.CreateAttestationResponse(relyingParty, k.key, k.cred, *opts))
	cred := decode[struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}](t, c.must("POST", "/mfa/webauthn/complete", map[string]any{"challenge_id": reg.ChallengeID, "response": att, "name": "YubiKey"}, http.StatusCreated))
	k.key.AddCredential(k.cred)
	assert.Equal(t, "YubiKey", cred.Name)
	codes := decode[struct {
		Codes []string `json:"codes"`
	}](t, c.must("POST", "/mfa/recovery-codes", nil, http.StatusOK))
	assert.Len(t, codes.Codes, 10)
	c.must("POST", "/logout", nil, http.StatusNoContent)

	// Log in: the password alone opens nothing; the key completes it.
	pending := decode[struct {
		MFARequired  bool         `json:"mfa_required"`
		PendingToken string       `json:"pending_token"`
		Factors      []mfa.Factor `json:"factors"`
	}](t, k.api("").must("POST", "/login", map[string]string{"email": "mfa@example.com", "password": password}, http.StatusOK))
	require.True(t, pending.MFARequired)
	assert.ElementsMatch(t, []mfa.Factor{mfa.FactorTOTP, mfa.FactorWebAuthn, mfa.FactorRecoveryCode}, pending.Factors)
	resp, body = k.api(pending.PendingToken).do("GET", "/me", nil)
	requireProblem(t, resp, body, http.StatusUnauthorized, "unauthenticated")
	ch := decode[ceremonyResp](t, k.api("").must("POST", "/login/mfa/webauthn", map[string]string{"pending_token": pending.PendingToken}, http.StatusOK))
	s := decode[sessionResp](t, k.api("").must("POST", "/login/mfa", map[string]any{"pending_token": pending.PendingToken,
		"factor": "webauthn", "challenge_id": ch.ChallengeID, "response": k.sign(ch)}, http.StatusOK))
	c = k.api(s.Token)
	st := decode[struct {
		TOTP     bool `json:"totp"`
		WebAuthn []struct {
			ID string `json:"id"`
		} `json:"webauthn"`
		RecoveryCodes int `json:"recovery_codes"`
	}](t, c.must("GET", "/mfa", nil, http.StatusOK))
	assert.True(t, st.TOTP)
	require.Len(t, st.WebAuthn, 1)
	assert.Equal(t, 10, st.RecoveryCodes)
	c.must("PATCH", "/mfa/webauthn/"+cred.ID, map[string]string{"name": "Blue key"}, http.StatusNoContent)

	// The key is a passkey too: it logs in without the password.
	ch = decode[ceremonyResp](t, k.api("").must("POST", "/login/passkey", nil, http.StatusOK))
	pk := decode[sessionResp](t, k.api("").must("POST", "/login/passkey/complete", map[string]any{"challenge_id": ch.ChallengeID, "response": k.sign(ch)}, http.StatusOK))
	assert.NotEmpty(t, pk.Token)

	// Later, removing a factor asks for a step-up, and says so.
	k.clock.Advance(16 * time.Minute)
	resp, body = c.do("DELETE", "/mfa/totp", nil)
	requireProblem(t, resp, body, http.StatusForbidden, "step-up-required")
	var withStepUp struct {
		StepUp struct {
			Level  string `json:"level"`
			MaxAge int64  `json:"max_age"`
		} `json:"step_up"`
	}
	require.NoError(t, json.Unmarshal(body, &withStepUp))
	assert.Equal(t, "aal2", withStepUp.StepUp.Level)
	ch = decode[ceremonyResp](t, c.must("POST", "/step-up/webauthn", nil, http.StatusOK))
	up = decode[sessionResp](t, c.must("POST", "/step-up", map[string]any{"factor": "webauthn", "challenge_id": ch.ChallengeID, "response": k.sign(ch)}, http.StatusOK))
	assert.NotEqual(t, s.Token, up.Token, "stepping up rotates the token")
	c = k.api(up.Token)
	c.must("DELETE", "/mfa/totp", nil, http.StatusNoContent)
	c.must("DELETE", "/mfa/webauthn/"+cred.ID, nil, http.StatusNoContent)

	// No factor left: a password login opens a session at once.
	_, plain := k.loginAPI("mfa@example.com")
	assert.NotEmpty(t, plain.SessionID)
}

// everyTenant requires a second factor of every user of every tenant.
type everyTenant struct{}

func (everyTenant) MFAPolicy(context.Context, string) (authv2.TenantMFAPolicy, error) {
	return authv2.TenantMFAPolicy{All: true}, nil
}

type pendingResp struct {
	MFARequired  bool         `json:"mfa_required"`
	PendingToken string       `json:"pending_token"`
	Factors      []mfa.Factor `json:"factors"`
	Enroll       bool         `json:"enroll"`
}

// A tenant that requires MFA holds the login of a user without a factor
// until they enroll one: over HTTP, the pending token gets a TOTP secret
// (and nothing else: no session, no second secret once a factor exists),
// and the app's first code both confirms the enrollment and opens the
// session.
func TestEnrollmentAtLogin(t *testing.T) {
	k := newMFAKit(t, func(m *authv2.MFA) { m.Policies = everyTenant{} })
	u := k.register("new@example.com")
	k.tenant("acme", nil)
	require.NoError(t, k.m.AddMember(t.Context(), "acme", u.ID))
	login := func() pendingResp {
		return decode[pendingResp](t, k.api("").must("POST", "/login", map[string]string{"email": "new@example.com", "password": password, "tenant_id": "acme"}, http.StatusOK))
	}
	p := login()
	require.True(t, p.MFARequired)
	assert.True(t, p.Enroll)
	assert.Equal(t, []mfa.Factor{mfa.FactorTOTP}, p.Factors)

	resp, body := k.api("").do("POST", "/login/mfa/enroll-totp", map[string]string{"pending_token": p.PendingToken + "x"})
	requireProblem(t, resp, body, http.StatusBadRequest, "invalid-token")
	resp, body = k.api(p.PendingToken).do("GET", "/me", nil)
	requireProblem(t, resp, body, http.StatusUnauthorized, "unauthenticated")
	en := decode[struct {
		Secret string `json:"secret"`
		URI    string `json:"uri"`
		QR     string `json:"qr_png"`
	}](t, k.api("").must("POST", "/login/mfa/enroll-totp", map[string]string{"pending_token": p.PendingToken}, http.StatusOK))
	assert.True(t, strings.HasPrefix(en.URI, "otpauth://totp/"))
	assert.NotEmpty(t, en.QR)

	resp, body = k.api("").do("POST", "/login/mfa", map[string]string{"pending_token": p.PendingToken, "factor": "totp", "code": "000000"})
	requireProblem(t, resp, body, http.StatusUnauthorized, "invalid-second-factor")
	s := decode[sessionResp](t, k.api("").must("POST", "/login/mfa", map[string]string{"pending_token": p.PendingToken, "factor": "totp", "code": k.code(en.Secret)}, http.StatusOK))
	require.NotEmpty(t, s.Token)
	st := decode[struct {
		TOTP bool `json:"totp"`
	}](t, k.api(s.Token).must("GET", "/mfa", nil, http.StatusOK))
	assert.True(t, st.TOTP, "the first code confirmed the enrollment")

	// Enrolled: the next login asks for the factor, and its pending token
	// cannot start another enrollment.
	next := login()
	assert.False(t, next.Enroll)
	resp, body = k.api("").do("POST", "/login/mfa/enroll-totp", map[string]string{"pending_token": next.PendingToken})
	requireProblem(t, resp, body, http.StatusConflict, "mfa-already-enrolled")
}

// A browser whose login waits for a second factor gets the device cookie
// with the session, when the factor completes the login, and presents it
// at the next completion; a bearer client gets the token in the body then,
// never with the pending token.
func TestDeviceTokenComesWithTheCompletedLogin(t *testing.T) {
	k := newMFAKit(t)
	k.register("mfa@example.com")
	c, _ := k.loginAPI("mfa@example.com")
	en := decode[struct {
		Secret string `json:"secret"`
	}](t, c.must("POST", "/mfa/totp", nil, http.StatusOK))
	c.must("POST", "/mfa/totp/confirm", map[string]string{"code": k.code(en.Secret)}, http.StatusNoContent)

	b := k.browser()
	complete := func() *http.Response {
		resp, body := b.do("POST", "/login", map[string]string{"email": "mfa@example.com", "password": password})
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		assert.Empty(t, resp.Cookies(), "nothing is set before the second factor")
		assert.NotContains(t, string(body), "device_token")
		p := decode[pendingResp](t, body)
		resp, body = b.do("POST", "/login/mfa", map[string]string{"pending_token": p.PendingToken, "factor": "totp", "code": k.code(en.Secret)})
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		return resp
	}
	device := func(resp *http.Response) string {
		for _, c := range resp.Cookies() {
			if c.Name == "__Host-authv2-device" {
				return c.Value
			}
		}
		return ""
	}
	first := device(complete())
	require.True(t, strings.HasPrefix(first, "av2d_"), "the completed login sets the device cookie")
	assert.Equal(t, first, device(complete()), "the browser presented it again and keeps it")

	p := decode[pendingResp](t, k.api("").must("POST", "/login", map[string]string{"email": "mfa@example.com", "password": password}, http.StatusOK))
	s := decode[sessionResp](t, k.api("").must("POST", "/login/mfa", map[string]string{"pending_token": p.PendingToken, "factor": "totp", "code": k.code(en.Secret)}, http.StatusOK))
	assert.True(t, strings.HasPrefix(s.DeviceToken, "av2d_"), "a bearer client gets it in the body")
}

// The device token a client presents is read back where a login completes:
// a bearer client's in the body of /login/mfa and /login/passkey/complete
// keeps its token, and a browser's passkey login sets the device cookie
// and presents it the next time.
func TestCompletedLoginsReadTheDeviceTokenBack(t *testing.T) {
	k := newMFAKit(t)
	u := k.register("key@example.com")
	k.key = virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: []byte(u.ID)})
	c, _ := k.loginAPI("key@example.com")
	reg := decode[ceremonyResp](t, c.must("POST", "/mfa/webauthn", nil, http.StatusOK))
	opts, err := virtualwebauthn.ParseAttestationOptions(string(reg.Options))
	require.NoError(t, err)
	att := json.RawMessage(virtualwebauthn.CreateAttestationResponse(relyingParty, k.key, k.cred, *opts))
	c.must("POST", "/mfa/webauthn/complete", map[string]any{"challenge_id": reg.ChallengeID, "response": att, "name": "Key"}, http.StatusCreated)
	k.key.AddCredential(k.cred)

	api := k.api("")
	complete := func(device string) string {
		p := decode[pendingResp](t, api.must("POST", "/login", map[string]string{"email": "key@example.com", "password": password, "device_token": device}, http.StatusOK))
		ch := decode[ceremonyResp](t, api.must("POST", "/login/mfa/webauthn", map[string]string{"pending_token": p.PendingToken}, http.StatusOK))
		return decode[sessionResp](t, api.must("POST", "/login/mfa", map[string]any{"pending_token": p.PendingToken,
			"factor": "webauthn", "challenge_id": ch.ChallengeID, "response": k.sign(ch), "device_token": device}, http.StatusOK)).DeviceToken
	}
	device := complete("")
	require.True(t, strings.HasPrefix(device, "av2d_"))
	assert.Equal(t, device, complete(device), "a bearer client's device_token at /login/mfa")
	ch := decode[ceremonyResp](t, api.must("POST", "/login/passkey", nil, http.StatusOK))
	pk := decode[sessionResp](t, api.must("POST", "/login/passkey/complete", map[string]any{"challenge_id": ch.ChallengeID, "response": k.sign(ch), "device_token": device}, http.StatusOK))
	assert.Equal(t, device, pk.DeviceToken, "a bearer client's device_token at /login/passkey/complete")

	b := k.browser()
	passkey := func() string {
		ch := decode[ceremonyResp](t, b.must("POST", "/login/passkey", nil, http.StatusOK))
		resp, body := b.do("POST", "/login/passkey/complete", map[string]any{"challenge_id": ch.ChallengeID, "response": k.sign(ch)})
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		assert.NotContains(t, string(body), "av2d_", "no secret in a browser's body")
		for _, c := range resp.Cookies() {
			if c.Name == "__Host-authv2-device" {
				return c.Value
			}
		}
		return ""
	}
	first := passkey()
	require.True(t, strings.HasPrefix(first, "av2d_"), "a passkey login sets the device cookie")
	assert.Equal(t, first, passkey(), "the browser's device cookie at /login/passkey/complete")
}
