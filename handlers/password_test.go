package handlers_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
)

const newPassword = "a brand new passphrase"

func TestChangePassword(t *testing.T) {
	clock := authv2test.NewClock(time.Now())
	e := newEnv(t, authv2.WithClock(clock))
	e.register("ada@example.com")
	other, _ := e.loginAPI("ada@example.com")
	b, login := e.loginBrowser("ada@example.com")

	resp, body := b.do("POST", "/password", map[string]string{"current_password": password, "new_password": "short"})
	p := requireProblem(t, resp, body, http.StatusBadRequest, "validation")
	assert.Equal(t, []string{"new_password"}, fields(p), "the client's field name")
	resp, body = b.do("POST", "/password", map[string]string{"current_password": "not the password", "new_password": newPassword})
	requireProblem(t, resp, body, http.StatusUnauthorized, "invalid-credentials")

	// Past the re-authentication window the password must be proven again.
	clock.Advance(authv2.DefaultConfig().ReauthWindow + time.Minute)
	resp, body = b.do("POST", "/password", map[string]string{"current_password": password, "new_password": newPassword})
	requireProblem(t, resp, body, http.StatusForbidden, "reauthentication-required")
	resp, body = b.do("POST", "/reauthenticate", map[string]string{"password": "not the password"})
	requireProblem(t, resp, body, http.StatusUnauthorized, "invalid-credentials")
	reauth := decode[sessionResp](t, b.must("POST", "/reauthenticate", map[string]string{"password": password}, http.StatusOK))
	assert.NotEqual(t, login.SessionID, reauth.SessionID)

	resp, body = b.do("POST", "/password", map[string]string{"current_password": password, "new_password": newPassword})
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	changed := decode[sessionResp](t, body)
	assert.Empty(t, changed.Token)
	require.Len(t, resp.Cookies(), 1, "the replacing session's cookie")
	assert.Equal(t, changed.SessionID, decode[meResp](t, b.must("GET", "/me", nil, http.StatusOK)).SessionID)
	other.must("GET", "/me", nil, http.StatusUnauthorized) // other sessions end

	e.api("").must("POST", "/login", map[string]string{"email": "ada@example.com", "password": password}, http.StatusUnauthorized)
	e.api("").must("POST", "/login", map[string]string{"email": "ada@example.com", "password": newPassword}, http.StatusOK)
}

func TestPasswordReset(t *testing.T) {
	e := newEnv(t)
	e.register("ada@example.com")
	a, _ := e.loginAPI("ada@example.com")
	anon := e.api("")

	// Known and unknown addresses answer alike.
	for _, email := range []string{"ada@example.com", "nobody@example.com"} {
		resp, body := anon.do("POST", "/password-reset", map[string]string{"email": email})
		assert.Equal(t, http.StatusAccepted, resp.StatusCode, email)
		assert.Empty(t, body)
	}
	tok := e.mail.token(t, "reset:ada@example.com")

	resp, body := anon.do("POST", "/password-reset/complete", map[string]string{"token": "av2r_forged", "password": newPassword})
	requireProblem(t, resp, body, http.StatusBadRequest, "invalid-token")
	resp, body = anon.do("POST", "/password-reset/complete", map[string]string{"token": tok, "password": "short"})
	p := requireProblem(t, resp, body, http.StatusBadRequest, "validation")
	assert.Equal(t, []string{"password"}, fields(p))

	anon.must("POST", "/password-reset/complete", map[string]string{"token": tok, "password": newPassword}, http.StatusNoContent)
	a.must("GET", "/me", nil, http.StatusUnauthorized) // every session ends
	resp, body = anon.do("POST", "/password-reset/complete", map[string]string{"token": tok, "password": newPassword})
	requireProblem(t, resp, body, http.StatusBadRequest, "invalid-token")
	anon.must("POST", "/login", map[string]string{"email": "ada@example.com", "password": newPassword}, http.StatusOK)
}

// Requests beyond Throttle.RecoveryLimit answer 429 with Retry-After,
// whether or not the address is registered.
func TestPasswordResetThrottled(t *testing.T) {
	cfg := authv2test.Config()
	cfg.Throttle.RecoveryLimit = 2
	e := newEnv(t, authv2.WithConfig(cfg))
	anon := e.api("")
	for range 2 {
		anon.must("POST", "/password-reset", map[string]string{"email": "nobody@example.com"}, http.StatusAccepted)
	}
	resp, body := anon.do("POST", "/password-reset", map[string]string{"email": "nobody@example.com"})
	requireProblem(t, resp, body, http.StatusTooManyRequests, "throttled")
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
}
