package authv2_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	pqtotp "github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/internal/clock"
	"github.com/authv2/authv2/internal/mfatest"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/mfa/totp"
	"github.com/authv2/authv2/mfa/webauthn"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/store/postgres"
	"github.com/authv2/authv2/user"
)

// mfaEnv is a Manager with MFA over one backend's stores, a fake clock
// and a sink.
type mfaEnv struct {
	m     *authv2.Manager
	clock *clock.Fake
	sink  *flushingSink
}

var rp = virtualwebauthn.RelyingParty{ID: "example.com", Name: "Example", Origin: "https://login.example.com"}

func newMFAEnv(t testing.TB, s backendStores, cfg authv2.Config, opts ...authv2.Option) *mfaEnv {
	t.Helper()
	return newMFAEnvWith(t, s, cfg, nil, opts...)
}

// newMFAEnvWith is newMFAEnv with tweak applied to the MFA dependencies.
func newMFAEnvWith(t testing.TB, s backendStores, cfg authv2.Config, tweak func(*authv2.MFA), opts ...authv2.Option) *mfaEnv {
	t.Helper()
	if s.mfa == nil {
		s.mfa, s.challenges, s.guard = memory.NewMFAStore(), memory.NewChallengeStore(), memory.NewReplayGuard()
	}
	tp, err := totp.New(totp.Config{Issuer: "Example"}, mfatest.Ring(t, "k1"), s.mfa, s.guard)
	require.NoError(t, err)
	w, err := webauthn.New(webauthn.Config{RPID: rp.ID, RPDisplayName: rp.Name, RPOrigins: []string{rp.Origin}}, s.mfa, s.challenges)
	require.NoError(t, err)
	e := &mfaEnv{clock: clock.NewFake(time.Now().UTC().Truncate(time.Second)), sink: &flushingSink{MemorySink: audit.NewMemorySink()}}
	deps := authv2.MFA{Store: s.mfa, Challenges: s.challenges, TOTP: tp, WebAuthn: w.JSON(), RecoveryKey: []byte(strings.Repeat("r", 32))}
	if tweak != nil {
		tweak(&deps)
	}
	base := append([]authv2.Option{authv2.WithClock(e.clock), authv2.WithConfig(cfg), authv2.WithInsecurePasswordHashing(),
		authv2.WithAuditSink(e.sink.MemorySink), authv2.WithLogger(discardLogger()), authv2.WithMFA(deps),
	}, s.options()...)
	e.m, err = authv2.New(append(base, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, e.m.Close(context.Background())) })
	e.sink.m = e.m
	return e
}

func (e *mfaEnv) login(t testing.TB, email string) *authv2.LoginResult {
	t.Helper()
	res, err := e.m.Login(t.Context(), authv2.LoginInput{Email: email, Password: goodPassword, Client: session.ClientInfo{IP: "192.0.2.20"}})
	require.NoError(t, err)
	return res
}

func (e *mfaEnv) principal(t testing.TB, tok string) *authv2.Principal {
	t.Helper()
	p, err := e.m.Authenticate(t.Context(), tok, session.ClientInfo{IP: "192.0.2.20"})
	require.NoError(t, err)
	return p
}

// code is the TOTP code of secret at the env's clock, after moving the
// clock to the next 30-second step: each code is accepted once.
func (e *mfaEnv) code(t testing.TB, secret string) string {
	t.Helper()
	e.clock.Advance(30 * time.Second)
	c, err := pqtotp.GenerateCode(secret, e.clock.Now())
	require.NoError(t, err)
	return c
}

// enrollTOTP registers email, enrolls and confirms TOTP, steps up and
// generates recovery codes; it returns the secret, the codes and the
// stepped-up session.
func (e *mfaEnv) enrollTOTP(t testing.TB, email string) (string, []string, *authv2.LoginResult) {
	t.Helper()
	ctx := t.Context()
	_, err := e.m.Register(ctx, authv2.RegisterInput{Email: email, Password: goodPassword})
	require.NoError(t, err)
	res := e.login(t, email)
	require.Nil(t, res.MFA, "no factor yet: a session at once")
	p := e.principal(t, res.Token)
	assert.Equal(t, 1, p.AuthLevel)
	en, err := e.m.EnrollTOTP(ctx, p)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(en.URI, "otpauth://totp/Example:"), en.URI)
	assert.NotEmpty(t, en.QRCodePNG)
	require.ErrorIs(t, e.m.ConfirmTOTP(ctx, p, "000000"), authv2.ErrInvalidSecondFactor)
	require.NoError(t, e.m.ConfirmTOTP(ctx, p, e.code(t, en.Secret)))
	_, err = e.m.GenerateRecoveryCodes(ctx, p)
	var su *authv2.StepUpError
	require.ErrorAs(t, err, &su, "a user with a factor needs AAL2 to change factors")
	assert.Equal(t, mfa.AAL2, su.Need.Level)
	assert.Equal(t, mfa.AAL1, su.Have)
	up, err := e.m.StepUp(ctx, res.Token, authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, en.Secret)})
	require.NoError(t, err)
	assert.NotEqual(t, res.Token, up.Token, "stepping up rotates the token")
	assert.Equal(t, 2, up.Session.AuthLevel)
	codes, err := e.m.GenerateRecoveryCodes(ctx, e.principal(t, up.Token))
	require.NoError(t, err)
	require.Len(t, codes, 10)
	return en.Secret, codes, up
}

// TestMFAJourneyOnEveryBackend: enroll TOTP, log in with it and with a
// recovery code, step up, remove; the pending token is no session, single
// use and short-lived; sessions keep their proofs on each store.
func TestMFAJourneyOnEveryBackend(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			e := newMFAEnv(t, b.stores(t), authv2test.Config())
			ctx := t.Context()
			secret, codes, _ := e.enrollTOTP(t, "mfa@example.com")

			res := e.login(t, "mfa@example.com")
			require.NotNil(t, res.MFA)
			assert.Nil(t, res.Session)
			assert.Empty(t, res.Token)
			assert.Equal(t, []mfa.Factor{mfa.FactorTOTP, mfa.FactorRecoveryCode}, res.MFA.Factors)
			_, err := e.m.Authenticate(ctx, res.MFA.Token, session.ClientInfo{})
			assert.ErrorIs(t, err, authv2.ErrUnauthenticated, "a pending token is no session")

			_, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: res.MFA.Token,
				SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: "123456"}})
			require.ErrorIs(t, err, authv2.ErrInvalidSecondFactor)
			done, err := e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: res.MFA.Token,
				SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, secret)}})
			require.NoError(t, err, "a wrong code does not void the pending login")
			p := e.principal(t, done.Token)
			assert.Equal(t, 2, p.AuthLevel)
			require.Len(t, p.Session.Proofs, 2, "read back from the store")
			assert.Equal(t, mfa.FactorPassword, p.Session.Proofs[0].Factor)
			assert.Equal(t, mfa.FactorTOTP, p.Session.Proofs[1].Factor)
			_, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: res.MFA.Token,
				SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, secret)}})
			assert.ErrorIs(t, err, authv2.ErrInvalidToken, "single use")

			// A recovery code completes a login once.
			rc := e.login(t, "mfa@example.com")
			done, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: rc.MFA.Token,
				SecondFactor: authv2.SecondFactor{Factor: mfa.FactorRecoveryCode, Code: codes[0]}})
			require.NoError(t, err)
			assert.Equal(t, 2, done.Session.AuthLevel)
			rc = e.login(t, "mfa@example.com")
			_, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: rc.MFA.Token,
				SecondFactor: authv2.SecondFactor{Factor: mfa.FactorRecoveryCode, Code: codes[0]}})
			assert.ErrorIs(t, err, authv2.ErrInvalidSecondFactor, "a recovery code is single use")
			st, err := e.m.MFAStatus(ctx, done.User.ID)
			require.NoError(t, err)
			assert.Equal(t, 9, st.RecoveryCodes)

			// The pending token expires.
			late := e.login(t, "mfa@example.com")
			e.clock.Advance(authv2test.Config().MFA.PendingTTL + time.Second)
			_, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: late.MFA.Token,
				SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, secret)}})
			assert.ErrorIs(t, err, authv2.ErrInvalidToken, "expired")

			// Step-up: AAL2 within ten minutes.
			cur := e.login(t, "mfa@example.com")
			cur, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: cur.MFA.Token,
				SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, secret)}})
			require.NoError(t, err)
			need := authv2.Assurance{Level: mfa.AAL2, MaxAge: 10 * time.Minute}
			require.NoError(t, e.m.CheckAssurance(e.principal(t, cur.Token), need))
			e.clock.Advance(11 * time.Minute)
			err = e.m.CheckAssurance(e.principal(t, cur.Token), need)
			var su *authv2.StepUpError
			require.ErrorAs(t, err, &su)
			assert.True(t, su.Stale, "AAL2, but not recent enough")
			e.clock.Advance(5 * time.Minute) // past ReauthWindow, within the idle timeout
			require.ErrorIs(t, e.m.RemoveTOTP(ctx, e.principal(t, cur.Token)), authv2.ErrStepUpRequired, "removing a factor needs a fresh AAL2")
			up, err := e.m.StepUp(ctx, cur.Token, authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, secret)})
			require.NoError(t, err)
			fresh := e.principal(t, up.Token)
			require.NoError(t, e.m.CheckAssurance(fresh, need))
			assert.Len(t, fresh.Session.Proofs, 2, "the new TOTP proof replaces the old one")

			// Removing the last factor voids the recovery codes; logins are
			// password-only again.
			require.NoError(t, e.m.RemoveTOTP(ctx, fresh))
			st, err = e.m.MFAStatus(ctx, fresh.UserID)
			require.NoError(t, err)
			assert.False(t, st.Enabled())
			assert.Zero(t, st.RecoveryCodes)
			assert.Nil(t, e.login(t, "mfa@example.com").MFA)

			types := map[audit.Type]int{}
			for _, ev := range e.sink.Events() {
				types[ev.Type]++
			}
			for _, typ := range []audit.Type{audit.TypeMFAEnrollStarted, audit.TypeMFAEnrolled, audit.TypeMFARecoveryCodes,
				audit.TypeMFARecoveryUsed, audit.TypeLoginMFARequired, audit.TypeMFAVerify, audit.TypeStepUp, audit.TypeMFARemoved} {
				assert.Positive(t, types[typ], typ)
			}
		})
	}
}

// Hundreds of concurrent completions of one pending login with a right
// code: exactly one gets a session, on every backend.
func TestPendingLoginSingleUseUnderConcurrency(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			e := newMFAEnv(t, b.stores(t), authv2test.Config())
			secret, _, _ := e.enrollTOTP(t, "race@example.com")
			res := e.login(t, "race@example.com")
			code := e.code(t, secret)
			won := mfatest.Wins(t, 200, func(int) error {
				_, err := e.m.CompleteLogin(context.Background(), authv2.CompleteLoginInput{PendingToken: res.MFA.Token,
					SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: code}})
				return err
			}, authv2.ErrInvalidToken)
			assert.Equal(t, int64(1), won)
		})
	}
}

// A pending token is refused wherever a session token is accepted.
func TestPendingTokenIsNoSession(t *testing.T) {
	e := newMFAEnv(t, backendStores{}, authv2test.Config())
	e.enrollTOTP(t, "pending@example.com")
	pending := e.login(t, "pending@example.com").MFA.Token
	ctx := t.Context()
	_, err := e.m.Authenticate(ctx, pending, session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrUnauthenticated)
	_, err = e.m.RotateSession(ctx, pending)
	assert.ErrorIs(t, err, authv2.ErrUnauthenticated)
	_, err = e.m.Reauthenticate(ctx, pending, goodPassword)
	assert.ErrorIs(t, err, authv2.ErrUnauthenticated)
	_, err = e.m.StepUp(ctx, pending, authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: "000000"})
	assert.ErrorIs(t, err, authv2.ErrUnauthenticated)
	_, err = e.m.SwitchTenant(ctx, pending, "acme", "")
	assert.ErrorIs(t, err, authv2.ErrUnauthenticated)
	assert.ErrorIs(t, e.m.Logout(ctx, pending), authv2.ErrUnauthenticated)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+pending)
	rec := httptest.NewRecorder()
	e.m.Middleware(authv2.RequireAuthentication())(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("the middleware let a pending token through")
	})).ServeHTTP(rec, req)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	// Nor is a session token a pending one.
	_, err = e.m.Register(ctx, authv2.RegisterInput{Email: "plain@example.com", Password: goodPassword})
	require.NoError(t, err)
	tok := e.login(t, "plain@example.com").Token
	_, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: tok, SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: "000000"}})
	assert.ErrorIs(t, err, authv2.ErrInvalidToken)
	_, _, err = e.m.BeginLoginWebAuthn(ctx, tok)
	assert.ErrorIs(t, err, authv2.ErrInvalidToken)
}

// Wrong second factors count: PendingAttempts of them void the pending
// login, and AfterFailures across logins throttle the user's second
// factor (a right code then fails too until the window passes).
func TestSecondFactorFailuresAreThrottled(t *testing.T) {
	cfg := authv2test.Config()
	cfg.MFA.PendingAttempts = 3
	cfg.Throttle.AfterFailures = 6 // enrollTOTP spends one on a wrong confirmation
	e := newMFAEnv(t, backendStores{}, cfg)
	secret, _, _ := e.enrollTOTP(t, "throttle@example.com")
	ctx := t.Context()
	wrong := func(tok string) error {
		_, err := e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: tok, SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: "000000"}})
		return err
	}
	first := e.login(t, "throttle@example.com").MFA.Token
	for range 3 {
		require.ErrorIs(t, wrong(first), authv2.ErrInvalidSecondFactor)
	}
	assert.ErrorIs(t, wrong(first), authv2.ErrInvalidToken, "PendingAttempts wrong factors void the pending login")
	second := e.login(t, "throttle@example.com").MFA.Token
	for range 2 {
		require.ErrorIs(t, wrong(second), authv2.ErrInvalidSecondFactor)
	}
	_, err := e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: second,
		SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, secret)}})
	var te *authv2.ThrottledError
	require.ErrorAs(t, err, &te, "the user's second-factor budget is spent")
	e.clock.Advance(cfg.Throttle.MaxDelay)
	_, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: e.login(t, "throttle@example.com").MFA.Token,
		SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, secret)}})
	require.NoError(t, err)
	fails := 0
	for _, ev := range e.sink.OfType(audit.TypeMFAVerify) {
		if ev.Outcome == audit.Failure {
			fails++
		}
	}
	assert.Equal(t, 6, fails, "every failure audited, the throttled one included")
}

// authenticator is a virtual WebAuthn authenticator with one credential.
type authenticator struct {
	auth virtualwebauthn.Authenticator
	cred virtualwebauthn.Credential
}

func newAuthenticator(t testing.TB, userID string) *authenticator {
	t.Helper()
	return &authenticator{auth: virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: []byte(userID)}),
		cred: mfatest.VirtualCredential(t)}
}

func (a *authenticator) attest(t testing.TB, options json.RawMessage) []byte {
	t.Helper()
	opts, err := virtualwebauthn.ParseAttestationOptions(string(options))
	require.NoError(t, err)
	return []byte(virtualwebauthn.CreateAttestationResponse(rp, a.auth, a.cred, *opts))
}

func (a *authenticator) sign(t testing.TB, options json.RawMessage) []byte {
	t.Helper()
	opts, err := virtualwebauthn.ParseAssertionOptions(string(options))
	require.NoError(t, err)
	a.cred.Counter++
	return []byte(virtualwebauthn.CreateAssertionResponse(rp, a.auth, a.cred, *opts))
}

// A security key registered, used as the second factor of a login,
// renamed and removed; a cloned key's sign count is refused and audited.
func TestWebAuthnSecondFactor(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			e := newMFAEnv(t, b.stores(t), authv2test.Config())
			ctx := t.Context()
			u, err := e.m.Register(ctx, authv2.RegisterInput{Email: "key@example.com", Password: goodPassword})
			require.NoError(t, err)
			a := newAuthenticator(t, u.ID)
			p := e.principal(t, e.login(t, "key@example.com").Token)
			options, ch, err := e.m.BeginWebAuthnRegistration(ctx, p)
			require.NoError(t, err)
			cred, err := e.m.FinishWebAuthnRegistration(ctx, p, ch, a.attest(t, options), "YubiKey")
			require.NoError(t, err)
			a.auth.AddCredential(a.cred)

			res := e.login(t, "key@example.com")
			require.NotNil(t, res.MFA)
			assert.Equal(t, []mfa.Factor{mfa.FactorWebAuthn}, res.MFA.Factors)
			options, ch, err = e.m.BeginLoginWebAuthn(ctx, res.MFA.Token)
			require.NoError(t, err)
			done, err := e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: res.MFA.Token,
				SecondFactor: authv2.SecondFactor{Factor: mfa.FactorWebAuthn, ChallengeID: ch, Response: a.sign(t, options)}})
			require.NoError(t, err)
			assert.Equal(t, 2, done.Session.AuthLevel)
			pr := e.principal(t, done.Token)
			require.Len(t, pr.Session.Proofs, 2)
			assert.True(t, pr.Session.Proofs[1].UserVerified)

			id := base64URL(cred.ID)
			require.NoError(t, e.m.RenameWebAuthn(ctx, pr, id, "Blue key"))
			st, err := e.m.MFAStatus(ctx, u.ID)
			require.NoError(t, err)
			require.Len(t, st.WebAuthn, 1)
			assert.Equal(t, "Blue key", st.WebAuthn[0].Name)

			// A clone signs with a counter the key already passed.
			res = e.login(t, "key@example.com")
			options, ch, err = e.m.BeginLoginWebAuthn(ctx, res.MFA.Token)
			require.NoError(t, err)
			a.cred.Counter -= 2
			_, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: res.MFA.Token,
				SecondFactor: authv2.SecondFactor{Factor: mfa.FactorWebAuthn, ChallengeID: ch, Response: a.sign(t, options)}})
			require.ErrorIs(t, err, authv2.ErrInvalidSecondFactor)
			assert.Len(t, e.sink.OfType(audit.TypeMFASignCount), 1)

			// Step up with the key; a second registration of it, or a
			// garbled one, is refused.
			options, ch, err = e.m.BeginStepUpWebAuthn(ctx, pr)
			require.NoError(t, err)
			a.cred.Counter += 5
			up, err := e.m.StepUp(ctx, done.Token, authv2.SecondFactor{Factor: mfa.FactorWebAuthn, ChallengeID: ch, Response: a.sign(t, options)})
			require.NoError(t, err)
			pr = e.principal(t, up.Token)
			options, ch, err = e.m.BeginWebAuthnRegistration(ctx, pr)
			require.NoError(t, err)
			_, err = e.m.FinishWebAuthnRegistration(ctx, pr, ch, a.attest(t, options), "Again")
			assert.ErrorIs(t, err, authv2.ErrConflict)
			_, ch, err = e.m.BeginWebAuthnRegistration(ctx, pr)
			require.NoError(t, err)
			_, err = e.m.FinishWebAuthnRegistration(ctx, pr, ch, []byte(`{"id":"x"}`), "Garbled")
			assert.ErrorIs(t, err, authv2.ErrInvalidSecondFactor)

			require.NoError(t, e.m.RemoveWebAuthn(ctx, pr, id))
			assert.Nil(t, e.login(t, "key@example.com").MFA)
		})
	}
}

// Authorize and Require demand an assurance: Config.MFA.StepUp per
// permission, WithAssurance per request; the denial says what is missing.
func TestStepUpInAuthorization(t *testing.T) {
	cfg := authv2test.Config()
	cfg.MFA.StepUp = map[string]authv2.Assurance{"orders:refund": {Level: mfa.AAL2, MaxAge: 10 * time.Minute}}
	e := newMFAEnv(t, backendStores{}, cfg)
	ctx := t.Context()
	_, err := e.m.CreateTenant(ctx, "acme", "Acme")
	require.NoError(t, err)
	secret, _, up := e.enrollTOTP(t, "refund@example.com")
	require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "clerk", Grants: []permission.Grant{
		{Permission: "orders:*", Effect: permission.Allow}}}))
	require.NoError(t, e.m.AddMember(ctx, "acme", up.User.ID))
	require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: up.User.ID, TenantID: "acme", Role: "clerk"}))
	res := e.login(t, "refund@example.com")
	res, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: res.MFA.Token,
		SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, secret)}})
	require.NoError(t, err)
	sw, err := e.m.SwitchTenant(ctx, res.Token, "acme", "")
	require.NoError(t, err)
	order := permission.Resource{Type: "orders", ID: "o-1", TenantID: "acme"}
	d, err := e.m.Authorize(ctx, e.principal(t, sw.Token), "refund", order)
	require.NoError(t, err)
	assert.True(t, d.Allowed, "AAL2 proven just now")
	e.clock.Advance(11 * time.Minute)
	p := e.principal(t, sw.Token)
	d, err = e.m.Authorize(ctx, p, "refund", order)
	assert.False(t, d.Allowed)
	var su *authv2.StepUpError
	require.ErrorAs(t, err, &su)
	assert.Equal(t, authv2.Assurance{Level: mfa.AAL2, MaxAge: 10 * time.Minute}, su.Need)
	assert.True(t, su.Stale)
	pb := authv2.ProblemFor(err)
	assert.Equal(t, 403, pb.Status)
	require.NotNil(t, pb.StepUp)
	assert.Equal(t, "aal2", pb.StepUp.Level)
	assert.Equal(t, int64(600), pb.StepUp.MaxAge)
	d, err = e.m.Authorize(ctx, p, "read", order)
	require.NoError(t, err, "other permissions need no step-up")
	assert.True(t, d.Allowed)
	up2, err := e.m.StepUp(ctx, sw.Token, authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, secret)})
	require.NoError(t, err)
	d, err = e.m.Authorize(ctx, e.principal(t, up2.Token), "refund", order)
	require.NoError(t, err)
	assert.True(t, d.Allowed)
}

func base64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Require with WithAssurance: a refund over 100 needs AAL2 within ten
// minutes; the 403 problem says so, and after StepUp the retry passes.
func TestRequireWithAssurance(t *testing.T) {
	e := newMFAEnv(t, backendStores{}, authv2test.Config())
	ctx := t.Context()
	_, err := e.m.CreateTenant(ctx, "acme", "Acme")
	require.NoError(t, err)
	secret, _, up := e.enrollTOTP(t, "clerk@example.com")
	require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "clerk", Grants: []permission.Grant{
		{Permission: "orders:refund", Effect: permission.Allow}}}))
	require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: up.User.ID, TenantID: "acme", Role: "clerk"}))
	sw, err := e.m.SwitchTenant(ctx, up.Token, "acme", "")
	require.NoError(t, err)

	bigRefunds := authv2.WithAssurance(func(r *http.Request) authv2.Assurance {
		if amount, _ := strconv.Atoi(r.URL.Query().Get("amount")); amount > 100 {
			return authv2.Assurance{Level: mfa.AAL2, MaxAge: 10 * time.Minute}
		}
		return authv2.Assurance{}
	})
	mux := http.NewServeMux()
	mux.Handle("POST /tenants/{tenant}/orders/{id}/refund", e.m.Require("refund", orderResource, bigRefunds)(
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })))
	h := e.m.Middleware()(mux)
	call := func(tok, amount string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/tenants/acme/orders/o-1/refund?amount="+amount, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	assert.Equal(t, http.StatusOK, call(sw.Token, "500").Code, "stepped up moments ago")
	e.clock.Advance(11 * time.Minute)
	assert.Equal(t, http.StatusOK, call(sw.Token, "50").Code, "a small refund needs nothing more")
	rec := call(sw.Token, "500")
	pb := decodeProblem(t, rec)
	assert.Equal(t, http.StatusForbidden, pb.Status)
	assert.Equal(t, "urn:authv2:problem:step-up-required", pb.Type)
	require.NotNil(t, pb.StepUp)
	assert.Equal(t, authv2.StepUpProblem{Level: "aal2", MaxAge: 600, Have: "aal2"}, *pb.StepUp)
	again, err := e.m.StepUp(ctx, sw.Token, authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, secret)})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, call(again.Token, "500").Code)
}

// A tenant requiring MFA of all members, or of its admins, sends members
// without a factor to enrollment: the login completes with the app's
// first code, at AAL2. An administrator disabling a user's MFA is audited
// with the actor.
func TestTenantMFAPolicy(t *testing.T) {
	policies := authv2.StaticMFAPolicies{"acme": {All: true}, "globex": {Roles: []string{"admin"}}}
	e := newMFAEnvWith(t, backendStores{}, authv2test.Config(), func(d *authv2.MFA) { d.Policies = policies })
	ctx := t.Context()
	for _, id := range []string{"acme", "globex"} {
		_, err := e.m.CreateTenant(ctx, id, id)
		require.NoError(t, err)
	}
	u, err := e.m.Register(ctx, authv2.RegisterInput{Email: "member@example.com", Password: goodPassword, TenantID: "globex"})
	require.NoError(t, err)
	require.NoError(t, e.m.AddMember(ctx, "acme", u.ID))
	login := func(tenant string) *authv2.LoginResult {
		res, err := e.m.Login(ctx, authv2.LoginInput{Email: "member@example.com", Password: goodPassword, TenantID: tenant})
		require.NoError(t, err)
		return res
	}
	assert.Nil(t, login("globex").MFA, "globex requires MFA of its admins only")

	res := login("acme")
	require.NotNil(t, res.MFA)
	assert.True(t, res.MFA.Enroll)
	assert.Nil(t, res.Session)
	en, err := e.m.EnrollTOTPForLogin(ctx, res.MFA.Token)
	require.NoError(t, err)
	_, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: res.MFA.Token, SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: "000000"}})
	require.ErrorIs(t, err, authv2.ErrInvalidSecondFactor)
	done, err := e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: res.MFA.Token,
		SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, en.Secret)}})
	require.NoError(t, err)
	assert.Equal(t, 2, done.Session.AuthLevel)
	assert.Equal(t, "acme", done.Session.TenantID)
	next := login("globex")
	require.NotNil(t, next.MFA, "enrolled: every login asks for the factor")
	assert.False(t, next.MFA.Enroll)

	// An administrator disables it.
	admin := &authv2.Principal{UserID: "admin-1", SessionID: "s-admin"}
	require.NoError(t, e.m.DisableMFA(authv2.WithActor(ctx, admin), u.ID))
	evs := e.sink.OfType(audit.TypeMFADisabled)
	require.Len(t, evs, 1)
	assert.Equal(t, "admin-1", evs[0].ActorUserID)
	assert.Equal(t, u.ID, evs[0].Target)
	assert.Nil(t, login("globex").MFA)
	assert.True(t, login("acme").MFA.Enroll, "acme sends the member back to enrollment")

	// globex's admins must enroll too.
	require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: "globex", Name: "admin"}))
	require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: u.ID, TenantID: "globex", Role: "admin"}))
	assert.True(t, login("globex").MFA.Enroll)
}

// WithMFA's dependencies are checked by New; without it the MFA methods
// fail with ErrInvalidConfig and Login is unchanged.
func TestWithMFAChecks(t *testing.T) {
	s := memory.NewMFAStore()
	tp, err := totp.New(totp.Config{Issuer: "Example"}, mfatest.Ring(t, "k1"), s, memory.NewReplayGuard())
	require.NoError(t, err)
	for name, c := range map[string]authv2.MFA{
		"no store":           {Challenges: memory.NewChallengeStore(), TOTP: tp},
		"no factor":          {Store: s, Challenges: memory.NewChallengeStore()},
		"short recovery key": {Store: s, Challenges: memory.NewChallengeStore(), TOTP: tp, RecoveryKey: []byte("short")},
	} {
		_, err := authv2.New(authv2.WithMFA(c), authv2.WithConfig(authv2test.Config()), authv2.WithInsecurePasswordHashing())
		assert.ErrorIs(t, err, authv2.ErrInvalidConfig, name)
	}
	cfg := authv2test.Config()
	cfg.MFA.StepUp = map[string]authv2.Assurance{"orders:refund": {Level: 3}}
	_, err = authv2.New(authv2.WithConfig(cfg), authv2.WithInsecurePasswordHashing())
	assert.ErrorIs(t, err, authv2.ErrInvalidConfig, "AAL3 is not a level")

	e := newEnv(t)
	ctx := t.Context()
	e.register(t, "nomfa@example.com")
	p, err := e.m.Authenticate(ctx, e.login(t, "nomfa@example.com").Token, session.ClientInfo{})
	require.NoError(t, err)
	_, err = e.m.EnrollTOTP(ctx, p)
	assert.ErrorIs(t, err, authv2.ErrInvalidConfig)
	_, err = e.m.MFAStatus(ctx, p.UserID)
	assert.ErrorIs(t, err, authv2.ErrInvalidConfig)
	_, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: "av2p_x"})
	assert.ErrorIs(t, err, authv2.ErrInvalidConfig)
	assert.ErrorIs(t, e.m.DisableMFA(ctx, p.UserID), authv2.ErrInvalidConfig)
	assert.Equal(t, 1, p.AuthLevel)
	require.Len(t, p.Session.Proofs, 1, "a password login records its proof")
	assert.Equal(t, mfa.FactorPassword, p.Session.Proofs[0].Factor)
}

// recoveryNotifier records RecoveryCodeUsed calls.
type recoveryNotifier struct {
	*captureNotifier
	used chan int
}

func (n *recoveryNotifier) RecoveryCodeUsed(_ context.Context, _ *user.User, remaining int) error {
	n.used <- remaining
	return nil
}

// The refusals of the MFA calls, each with its typed error, and the
// user told of a recovery code's use.
func TestMFARefusals(t *testing.T) {
	n := &recoveryNotifier{captureNotifier: newCaptureNotifier(), used: make(chan int, 1)}
	e := newMFAEnv(t, backendStores{}, authv2test.Config(), authv2.WithNotifier(n))
	ctx := t.Context()
	_, err := e.m.Register(ctx, authv2.RegisterInput{Email: "none@example.com", Password: goodPassword})
	require.NoError(t, err)
	bare := e.principal(t, e.login(t, "none@example.com").Token)
	assert.ErrorIs(t, e.m.RemoveTOTP(ctx, bare), authv2.ErrMFANotEnrolled)
	_, err = e.m.GenerateRecoveryCodes(ctx, bare)
	assert.ErrorIs(t, err, authv2.ErrMFANotEnrolled, "recovery codes stand in for a factor")
	assert.ErrorIs(t, e.m.ConfirmTOTP(ctx, bare, "123456"), authv2.ErrMFANotEnrolled)
	assert.ErrorIs(t, e.m.RenameWebAuthn(ctx, bare, "not base64!", "x"), authv2.ErrValidation)
	assert.ErrorIs(t, e.m.RemoveWebAuthn(ctx, bare, "AQID"), authv2.ErrNotFound)
	assert.ErrorIs(t, e.m.RenameWebAuthn(ctx, bare, "AQID", "x"), authv2.ErrNotFound)
	_, err = e.m.EnrollTOTP(ctx, nil)
	assert.ErrorIs(t, err, authv2.ErrUnauthenticated)
	assert.ErrorIs(t, e.m.CheckAssurance(nil, authv2.Assurance{Level: mfa.AAL1}), authv2.ErrStepUpRequired)
	assert.NoError(t, e.m.CheckAssurance(nil, authv2.Assurance{}))
	e.clock.Advance(20 * time.Minute)
	_, err = e.m.EnrollTOTP(ctx, e.principal(t, e.login(t, "none@example.com").Token))
	require.NoError(t, err)
	old := e.principal(t, e.login(t, "none@example.com").Token)
	e.clock.Advance(16 * time.Minute)
	_, err = e.m.EnrollTOTP(ctx, old)
	assert.ErrorIs(t, err, authv2.ErrReauthRequired, "without a factor, enrolling needs a fresh password")

	secret, codes, up := e.enrollTOTP(t, "mfa@example.com")
	p := e.principal(t, up.Token)
	_, err = e.m.EnrollTOTP(ctx, p)
	assert.ErrorIs(t, err, authv2.ErrMFAAlreadyEnrolled)
	_, err = e.m.StepUp(ctx, up.Token, authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: "000000"})
	assert.ErrorIs(t, err, authv2.ErrInvalidSecondFactor)
	_, err = e.m.StepUp(ctx, up.Token, authv2.SecondFactor{Factor: mfa.FactorWebAuthn})
	assert.ErrorIs(t, err, authv2.ErrMFANotEnrolled, "a factor the user does not have")

	pending := e.login(t, "mfa@example.com").MFA.Token
	_, _, err = e.m.BeginLoginWebAuthn(ctx, pending)
	assert.ErrorIs(t, err, authv2.ErrMFANotEnrolled, "no security key")
	_, err = e.m.EnrollTOTPForLogin(ctx, pending)
	assert.ErrorIs(t, err, authv2.ErrMFAAlreadyEnrolled, "not an enrollment-only login")
	_, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: pending,
		SecondFactor: authv2.SecondFactor{Factor: mfa.FactorRecoveryCode, Code: codes[3]}})
	require.NoError(t, err, "reading a pending login leaves it usable")
	select {
	case left := <-n.used:
		assert.Equal(t, 9, left)
	case <-time.After(5 * time.Second):
		t.Fatal("the user was not told of the recovery code's use")
	}

	// An account change voids a pending login.
	pending = e.login(t, "mfa@example.com").MFA.Token
	require.NoError(t, e.m.LockUser(ctx, up.User.ID))
	_, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: pending,
		SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, secret)}})
	assert.ErrorIs(t, err, authv2.ErrInvalidToken)
	for _, bad := range []string{"", "av2p_", "av2p_" + strings.Repeat("A", 43) + "!"} {
		_, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: bad})
		assert.ErrorIs(t, err, authv2.ErrInvalidToken, "%q", bad)
	}
}

// A passkey alone logs in at AAL2 (on every backend); without user
// verification, or replayed, it is refused like a wrong password.
func TestPasskeyLogin(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			e := newMFAEnv(t, b.stores(t), authv2test.Config())
			ctx := t.Context()
			_, err := e.m.CreateTenant(ctx, "acme", "Acme")
			require.NoError(t, err)
			u, err := e.m.Register(ctx, authv2.RegisterInput{Email: "passkey@example.com", Password: goodPassword, TenantID: "acme"})
			require.NoError(t, err)
			a := newAuthenticator(t, u.ID)
			p := e.principal(t, e.login(t, "passkey@example.com").Token)
			options, ch, err := e.m.BeginWebAuthnRegistration(ctx, p)
			require.NoError(t, err)
			_, err = e.m.FinishWebAuthnRegistration(ctx, p, ch, a.attest(t, options), "Phone")
			require.NoError(t, err)
			a.auth.AddCredential(a.cred)

			options, ch, err = e.m.BeginPasskeyLogin(ctx)
			require.NoError(t, err)
			resp := a.sign(t, options)
			res, err := e.m.PasskeyLogin(ctx, authv2.PasskeyLoginInput{ChallengeID: ch, Response: resp, Client: session.ClientInfo{IP: "192.0.2.30"}})
			require.NoError(t, err)
			assert.Equal(t, "acme", res.Session.TenantID)
			pr := e.principal(t, res.Token)
			assert.Equal(t, 2, pr.AuthLevel, "a user-verifying passkey is two factors")
			require.NoError(t, e.m.CheckAssurance(pr, authv2.Assurance{Level: mfa.AAL2, MaxAge: time.Minute}))
			_, err = e.m.PasskeyLogin(ctx, authv2.PasskeyLoginInput{ChallengeID: ch, Response: resp})
			assert.ErrorIs(t, err, authv2.ErrInvalidCredentials, "replayed")

			a.auth.Options.UserNotVerified = true
			options, ch, err = e.m.BeginPasskeyLogin(ctx)
			require.NoError(t, err)
			_, err = e.m.PasskeyLogin(ctx, authv2.PasskeyLoginInput{ChallengeID: ch, Response: a.sign(t, options)})
			assert.ErrorIs(t, err, authv2.ErrInvalidCredentials, "no user verification")
			assert.Len(t, e.sink.OfType(audit.TypeLoginFailure), 2)
		})
	}
}

// purges records DeleteExpired calls, for stores that keep expired
// records until asked (PostgreSQL's).
type purges chan time.Time

func (p purges) DeleteExpired(_ context.Context, before time.Time) (int, error) {
	select {
	case p <- before:
	default:
	}
	return 0, nil
}

// await waits for the cleanup loop's first purge of what and checks it
// purged up to now.
func (p purges) await(t *testing.T, now time.Time, what string) {
	t.Helper()
	select {
	case before := <-p:
		assert.Equal(t, now, before)
	case <-time.After(5 * time.Second):
		t.Fatal("the cleanup loop did not purge " + what)
	}
}

// purgingChallenges is a challenge store that records DeleteExpired calls.
type purgingChallenges struct {
	*memory.ChallengeStore
	purges
}

// The cleanup loop purges expired pending logins from a challenge store
// that keeps them (PostgreSQL's).
func TestCleanupPurgesExpiredChallenges(t *testing.T) {
	cfg := authv2test.Config()
	cfg.CleanupInterval = 10 * time.Millisecond
	ch := &purgingChallenges{ChallengeStore: memory.NewChallengeStore(), purges: make(purges, 1)}
	e := newMFAEnvWith(t, backendStores{}, cfg, func(d *authv2.MFA) { d.Challenges = ch })
	ch.purges.await(t, e.clock.Now(), "the challenge store")
}

// purgingGuard is a replay guard that records DeleteExpired calls.
type purgingGuard struct {
	*memory.ReplayGuard
	purges
}

// The cleanup loop also purges the TOTP replay guard through the factor
// (totp.Factor.DeleteExpired): the Manager never sees the guard itself.
func TestCleanupPurgesTheReplayGuard(t *testing.T) {
	var _ interface {
		DeleteExpired(context.Context, time.Time) (int, error)
	} = (*postgres.ReplayGuard)(nil)
	cfg := authv2test.Config()
	cfg.CleanupInterval = 10 * time.Millisecond
	g := &purgingGuard{ReplayGuard: memory.NewReplayGuard(), purges: make(purges, 1)}
	factors := memory.NewMFAStore()
	tp, err := totp.New(totp.Config{Issuer: "Example"}, mfatest.Ring(t, "k1"), factors, g)
	require.NoError(t, err)
	e := newMFAEnvWith(t, backendStores{mfa: factors, challenges: memory.NewChallengeStore(), guard: g}, cfg,
		func(d *authv2.MFA) { d.TOTP = tp })
	g.purges.await(t, e.clock.Now(), "the replay guard")
}

// outageMFA is an MFA store and challenge store that fail while down.
type outageMFA struct {
	*memory.MFAStore
	*memory.ChallengeStore
	down atomic.Bool
}

var errMFADown = store.Unavailable("mfa", errors.New("connection refused"))

func (o *outageMFA) err() error {
	if o.down.Load() {
		return errMFADown
	}
	return nil
}

func (o *outageMFA) GetTOTP(ctx context.Context, userID string) (*mfa.TOTPCredential, error) {
	if err := o.err(); err != nil {
		return nil, err
	}
	return o.MFAStore.GetTOTP(ctx, userID)
}

func (o *outageMFA) ListWebAuthn(ctx context.Context, userID string) ([]*mfa.WebAuthnCredential, error) {
	if err := o.err(); err != nil {
		return nil, err
	}
	return o.MFAStore.ListWebAuthn(ctx, userID)
}

func (o *outageMFA) DeleteTOTP(ctx context.Context, userID string) error {
	if err := o.err(); err != nil {
		return err
	}
	return o.MFAStore.DeleteTOTP(ctx, userID)
}

func (o *outageMFA) PutChallenge(ctx context.Context, c *mfa.Challenge, now time.Time) error {
	if err := o.err(); err != nil {
		return err
	}
	return o.ChallengeStore.PutChallenge(ctx, c, now)
}

func (o *outageMFA) TakeChallenge(ctx context.Context, id string, now time.Time) (*mfa.Challenge, error) {
	if err := o.err(); err != nil {
		return nil, err
	}
	return o.ChallengeStore.TakeChallenge(ctx, id, now)
}

// An MFA store outage fails every MFA call closed with
// ErrStoreUnavailable: no login passes without its second factor, no
// session is opened.
func TestMFAStoreOutageFailsClosed(t *testing.T) {
	o := &outageMFA{MFAStore: memory.NewMFAStore(), ChallengeStore: memory.NewChallengeStore()}
	e := newMFAEnv(t, backendStores{mfa: o, challenges: o, guard: memory.NewReplayGuard()}, authv2test.Config())
	ctx := t.Context()
	_, _, up := e.enrollTOTP(t, "outage@example.com")
	p := e.principal(t, up.Token)
	pending := e.login(t, "outage@example.com").MFA.Token
	o.down.Store(true)
	for name, err := range map[string]error{
		"login": func() error {
			_, err := e.m.Login(ctx, authv2.LoginInput{Email: "outage@example.com", Password: goodPassword})
			return err
		}(),
		"status":  func() error { _, err := e.m.MFAStatus(ctx, p.UserID); return err }(),
		"enroll":  func() error { _, err := e.m.EnrollTOTP(ctx, p); return err }(),
		"remove":  e.m.RemoveTOTP(ctx, p),
		"codes":   func() error { _, err := e.m.GenerateRecoveryCodes(ctx, p); return err }(),
		"begin":   func() error { _, _, err := e.m.BeginWebAuthnRegistration(ctx, p); return err }(),
		"delete":  e.m.RemoveWebAuthn(ctx, p, "AQID"),
		"disable": e.m.DisableMFA(ctx, p.UserID),
		"complete": func() error {
			_, err := e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: pending, SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: "000000"}})
			return err
		}(),
		"webauthn":        func() error { _, _, err := e.m.BeginLoginWebAuthn(ctx, pending); return err }(),
		"enroll at login": func() error { _, err := e.m.EnrollTOTPForLogin(ctx, pending); return err }(),
		"step up": func() error {
			_, err := e.m.StepUp(ctx, up.Token, authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: "000000"})
			return err
		}(),
	} {
		assert.ErrorIs(t, err, authv2.ErrStoreUnavailable, name)
	}
	o.down.Store(false)
	_, err := e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: pending, SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: "000000"}})
	assert.ErrorIs(t, err, authv2.ErrInvalidSecondFactor, "the outage did not use the pending login up")
}

// A principal built by hand, or a session from before sessions kept
// their proofs, counts as a password proven at AuthenticatedAt; the
// denial's message says what is missing.
func TestAssuranceOfLegacySessions(t *testing.T) {
	e := newMFAEnv(t, backendStores{}, authv2test.Config())
	now := e.clock.Now()
	p := &authv2.Principal{UserID: "u1", AuthLevel: 1, AuthenticatedAt: now.Add(-time.Minute)}
	require.NoError(t, e.m.CheckAssurance(p, authv2.Assurance{Level: mfa.AAL1, MaxAge: 5 * time.Minute}))
	err := e.m.CheckAssurance(p, authv2.Assurance{Level: mfa.AAL1, MaxAge: 30 * time.Second})
	assert.EqualError(t, err, "authv2: step-up required: aal1 proven within 30s")
	err = e.m.CheckAssurance(p, authv2.Assurance{Level: mfa.AAL2})
	assert.EqualError(t, err, "authv2: step-up required: aal2 needed, session is aal1")
	assert.ErrorIs(t, e.m.CheckAssurance(&authv2.Principal{UserID: "u1"}, authv2.Assurance{Level: mfa.AAL1}), authv2.ErrStepUpRequired)

	// A stored session without proofs steps up from its password.
	_, err = e.m.Register(t.Context(), authv2.RegisterInput{Email: "legacy@example.com", Password: goodPassword})
	require.NoError(t, err)
	res := e.login(t, "legacy@example.com")
	pr := e.principal(t, res.Token)
	en, err := e.m.EnrollTOTP(t.Context(), pr)
	require.NoError(t, err)
	require.NoError(t, e.m.ConfirmTOTP(t.Context(), pr, e.code(t, en.Secret)))
	options, _, err := e.m.BeginStepUpWebAuthn(t.Context(), pr)
	assert.ErrorIs(t, err, authv2.ErrMFANotEnrolled, "no security key to step up with")
	assert.Nil(t, options)
}

// A TOTP secret the key ring cannot open (its key was retired too soon)
// is the application's configuration error, not the user's wrong code.
func TestTOTPKeyRingMismatchIsAConfigError(t *testing.T) {
	s := backendStores{users: memory.NewUserStore(), mfa: memory.NewMFAStore(), challenges: memory.NewChallengeStore(), guard: memory.NewReplayGuard()}
	e := newMFAEnv(t, s, authv2test.Config())
	secret, _, _ := e.enrollTOTP(t, "rotated@example.com")
	other, err := totp.New(totp.Config{Issuer: "Example"}, mfatest.Ring(t, "k2"), s.mfa, s.guard)
	require.NoError(t, err)
	e2 := newMFAEnvWith(t, s, authv2test.Config(), func(d *authv2.MFA) { d.TOTP = other })
	e2.clock.Set(e.clock.Now())
	res, err := e2.m.Login(t.Context(), authv2.LoginInput{Email: "rotated@example.com", Password: goodPassword})
	require.NoError(t, err)
	_, err = e2.m.CompleteLogin(t.Context(), authv2.CompleteLoginInput{PendingToken: res.MFA.Token,
		SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, secret)}})
	assert.ErrorIs(t, err, authv2.ErrInvalidConfig)
}

// A passkey login names a tenant the user must belong to, and an account
// that is not active gets nothing; DisableMFA removes security keys too.
func TestPasskeyLoginRefusals(t *testing.T) {
	e := newMFAEnv(t, backendStores{}, authv2test.Config())
	ctx := t.Context()
	u, err := e.m.Register(ctx, authv2.RegisterInput{Email: "pk@example.com", Password: goodPassword})
	require.NoError(t, err)
	a := newAuthenticator(t, u.ID)
	p := e.principal(t, e.login(t, "pk@example.com").Token)
	options, ch, err := e.m.BeginWebAuthnRegistration(ctx, p)
	require.NoError(t, err)
	_, err = e.m.FinishWebAuthnRegistration(ctx, p, ch, a.attest(t, options), "Phone")
	require.NoError(t, err)
	a.auth.AddCredential(a.cred)
	passkey := func(tenant string) error {
		options, ch, err := e.m.BeginPasskeyLogin(ctx)
		require.NoError(t, err)
		_, err = e.m.PasskeyLogin(ctx, authv2.PasskeyLoginInput{ChallengeID: ch, Response: a.sign(t, options), TenantID: tenant})
		return err
	}
	assert.ErrorIs(t, passkey("globex"), authv2.ErrNotMember)
	require.NoError(t, e.m.LockUser(ctx, u.ID))
	assert.ErrorIs(t, passkey(""), authv2.ErrInvalidCredentials, "a locked account")
	require.NoError(t, e.m.UnlockUser(ctx, u.ID))
	require.NoError(t, passkey(""))

	require.NoError(t, e.m.DisableMFA(ctx, u.ID))
	st, err := e.m.MFAStatus(ctx, u.ID)
	require.NoError(t, err)
	assert.Empty(t, st.WebAuthn)
	assert.ErrorIs(t, passkey(""), authv2.ErrInvalidCredentials, "the key is gone")
	_, err = e.m.PasskeyLogin(ctx, authv2.PasskeyLoginInput{TenantID: "bad\x00tenant"})
	assert.ErrorIs(t, err, authv2.ErrValidation)
}

// The MFA audit events are counted in authv2.mfa.events by type, factor
// and outcome, so a dashboard sees enrollments, refused codes,
// recovery-code use and step-ups without reading the trail.
func TestMFAEventsAreCounted(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	e := newMFAEnv(t, backendStores{}, authv2test.Config(), authv2.WithMeterProvider(mp))
	ctx := t.Context()
	_, codes, up := e.enrollTOTP(t, "metrics@example.com")
	_, err := e.m.StepUp(ctx, up.Token, authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: "000000"})
	require.ErrorIs(t, err, authv2.ErrInvalidSecondFactor)
	res := e.login(t, "metrics@example.com")
	require.NotNil(t, res.MFA)
	_, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: res.MFA.Token,
		SecondFactor: authv2.SecondFactor{Factor: mfa.FactorRecoveryCode, Code: codes[0]}})
	require.NoError(t, err)

	data := (&otelEnv{reader: reader}).metrics(t)["authv2.mfa.events"]
	require.NotNil(t, data, "authv2.mfa.events recorded")
	byEvent := sumByAttr(t, data, "authv2.event")
	for _, typ := range []audit.Type{audit.TypeMFAEnrolled, audit.TypeStepUp, audit.TypeLoginMFARequired, audit.TypeMFARecoveryUsed} {
		assert.Positive(t, byEvent[string(typ)], typ)
	}
	assert.Positive(t, sumByAttr(t, data, "authv2.outcome")[string(audit.Failure)], "the refused code")
	assert.Positive(t, sumByAttr(t, data, "authv2.factor")[string(mfa.FactorRecoveryCode)])
}

// A passwordless login's first step stores a challenge for anyone who
// asks: one client gets MFA.PasskeyBeginLimit of them per IPWindow, then
// a *ThrottledError; another client is unaffected.
func TestPasskeyBeginIsBudgetedPerClient(t *testing.T) {
	cfg := authv2test.Config()
	cfg.MFA.PasskeyBeginLimit = 3
	e := newMFAEnv(t, backendStores{}, cfg)
	flood := authv2.WithClient(t.Context(), session.ClientInfo{IP: "203.0.113.9"})
	for range 3 {
		_, _, err := e.m.BeginPasskeyLogin(flood)
		require.NoError(t, err)
	}
	_, _, err := e.m.BeginPasskeyLogin(flood)
	var throttled *authv2.ThrottledError
	require.ErrorAs(t, err, &throttled)
	assert.Positive(t, throttled.RetryAfter)
	_, _, err = e.m.BeginPasskeyLogin(authv2.WithClient(t.Context(), session.ClientInfo{IP: "198.51.100.7"}))
	require.NoError(t, err, "another client has its own budget")
	e.clock.Advance(cfg.Throttle.IPWindow)
	_, _, err = e.m.BeginPasskeyLogin(flood)
	require.NoError(t, err, "the budget refills with the window")
}
