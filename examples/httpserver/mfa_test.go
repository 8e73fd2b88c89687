package main

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	pqtotp "github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/store/memory"
)

// mfaEnv is the environment that turns the example's MFA on.
var mfaEnv = map[string]string{
	"AUTHV2_MFA_KEY":          base64.StdEncoding.EncodeToString([]byte(strings.Repeat("s", 32))),
	"AUTHV2_MFA_RECOVERY_KEY": base64.StdEncoding.EncodeToString([]byte(strings.Repeat("r", 32))),
}

// TestMFAJourney drives the example's second factor end to end over HTTP
// (issue 16): enroll TOTP → log in with the password and a code → step up
// with a recovery code (the token rotates) → remove the factor → the
// password alone opens a session again. The handler kit's own test does
// the same with a WebAuthn security key and passkey.
func TestMFAJourney(t *testing.T) {
	for _, b := range []struct {
		name   string
		stores func(t *testing.T) ([]authv2.Option, mfaStores)
	}{
		{"memory", func(*testing.T) ([]authv2.Option, mfaStores) {
			return nil, mfaStores{memory.NewMFAStore(), memory.NewChallengeStore(), memory.NewReplayGuard()}
		}},
		{"postgres", func(t *testing.T) ([]authv2.Option, mfaStores) {
			env := pgtest.New(t)
			return []authv2.Option{authv2.WithUserStore(env.Stores.Users), authv2.WithSessionStore(env.Stores.Sessions),
					authv2.WithPermissionStore(env.Stores.Permissions), authv2.WithRateLimiter(env.Stores.Limiter)},
				mfaStores{env.Stores.MFA, env.Stores.Challenges, env.Stores.ReplayGuard}
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			opts, second := b.stores(t)
			withMFA, err := mfaOption(func(k string) string { return mfaEnv[k] }, second)
			require.NoError(t, err)
			require.NotNil(t, withMFA)
			sink := audit.NewMemorySink()
			m, _, ts := serveExample(t, append(opts, withMFA, authv2.WithAuditSink(sink)))
			anon := newAPIClient(t, ts, "")
			creds := map[string]any{"email": "grace@example.com", "password": password}
			mustDo(t, anon, "POST", "/register", creds, http.StatusCreated)
			login := decodeInto[loginJSON](t, mustDo(t, anon, "POST", "/login", creds, http.StatusOK))
			c := newAPIClient(t, ts, login.Token)

			// Enroll: the secret is shown once; the app's first code confirms it.
			en := decodeInto[struct {
				Secret string `json:"secret"`
				URI    string `json:"uri"`
			}](t, mustDo(t, c, "POST", "/mfa/totp", nil, http.StatusOK))
			assert.True(t, strings.HasPrefix(en.URI, "otpauth://totp/"))
			mustDo(t, c, "POST", "/mfa/totp/confirm", map[string]any{"code": code(t, en.Secret, 0)}, http.StatusNoContent)
			// Recovery codes need AAL2 now that there is a factor: the
			// password session is refused and says what it lacks.
			assert.Contains(t, string(mustDo(t, c, "POST", "/mfa/recovery-codes", nil, http.StatusForbidden)), "step-up-required")
			mustDo(t, c, "POST", "/logout", nil, http.StatusNoContent)

			// The password alone opens nothing; the pending token is no session.
			pending := decodeInto[struct {
				MFARequired  bool   `json:"mfa_required"`
				PendingToken string `json:"pending_token"`
			}](t, mustDo(t, anon, "POST", "/login", creds, http.StatusOK))
			require.True(t, pending.MFARequired)
			assert.Equal(t, http.StatusUnauthorized, newAPIClient(t, ts, pending.PendingToken).status("GET", "/me", nil))
			assert.Equal(t, http.StatusUnauthorized, anon.status("POST", "/login/mfa",
				map[string]any{"pending_token": pending.PendingToken, "factor": "totp", "code": "000000"}))
			// The next step's code: the confirming one was accepted once.
			s := decodeInto[loginJSON](t, mustDo(t, anon, "POST", "/login/mfa",
				map[string]any{"pending_token": pending.PendingToken, "factor": "totp", "code": code(t, en.Secret, 30*time.Second)}, http.StatusOK))
			assert.Contains(t, string(mustDo(t, anon, "POST", "/login/mfa",
				map[string]any{"pending_token": pending.PendingToken, "factor": "totp", "code": code(t, en.Secret, 60*time.Second)}, http.StatusBadRequest)),
				"invalid-token", "single use")
			c = newAPIClient(t, ts, s.Token)
			codes := decodeInto[struct {
				Codes []string `json:"codes"`
			}](t, mustDo(t, c, "POST", "/mfa/recovery-codes", nil, http.StatusOK))
			require.Len(t, codes.Codes, 10)

			// Step up with a recovery code: the token rotates (the old one
			// stands for its successor only during the rotation grace).
			up := decodeInto[loginJSON](t, mustDo(t, c, "POST", "/step-up", map[string]any{"factor": "recovery_code", "code": codes.Codes[0]}, http.StatusOK))
			assert.NotEqual(t, s.Token, up.Token)
			assert.NotEqual(t, s.SessionID, up.SessionID, "stepping up rotates the session")
			c = newAPIClient(t, ts, up.Token)
			assert.Contains(t, string(mustDo(t, c, "POST", "/step-up", map[string]any{"factor": "recovery_code", "code": codes.Codes[0]}, http.StatusUnauthorized)),
				"invalid-second-factor", "a recovery code is spent once")

			// Remove the only factor (fresh AAL2): the password suffices again.
			mustDo(t, c, "DELETE", "/mfa/totp", nil, http.StatusNoContent)
			plain := decodeInto[loginJSON](t, mustDo(t, anon, "POST", "/login", creds, http.StatusOK))
			assert.NotEmpty(t, plain.Token)

			require.NoError(t, m.FlushAudit(t.Context()))
			seen := map[audit.Type]int{}
			for _, e := range sink.Events() {
				seen[e.Type]++
			}
			for _, typ := range []audit.Type{audit.TypeLoginMFARequired, audit.TypeMFAEnrolled, audit.TypeMFARecoveryUsed, audit.TypeMFARemoved} {
				assert.Positive(t, seen[typ], typ)
			}
		})
	}
}

// code is the authenticator app's code at now+offset.
func code(t *testing.T, secret string, offset time.Duration) string {
	t.Helper()
	c, err := pqtotp.GenerateCode(secret, time.Now().Add(offset))
	require.NoError(t, err)
	return c
}

// Without keys MFA stays off; a key that is not 32 bytes of base64 is
// refused with the variable's name.
func TestMFAOptionFromEnv(t *testing.T) {
	s := mfaStores{memory.NewMFAStore(), memory.NewChallengeStore(), memory.NewReplayGuard()}
	opt, err := mfaOption(func(string) string { return "" }, s)
	require.NoError(t, err)
	assert.Nil(t, opt)
	_, err = mfaOption(func(k string) string {
		if k == "AUTHV2_MFA_KEY" {
			return "c2hvcnQ="
		}
		return mfaEnv[k]
	}, s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AUTHV2_MFA_KEY")
}
