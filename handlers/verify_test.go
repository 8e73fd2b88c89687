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

func TestEmailVerification(t *testing.T) {
	cfg := authv2test.Config()
	cfg.RequireEmailVerification = true
	e := newEnv(t, authv2.WithConfig(cfg))
	anon := e.api("")
	u := e.register("ada@example.com")
	assert.Equal(t, "pending_verification", u.Status)
	first := e.mail.token(t, "verify:ada@example.com")

	resp, body := anon.do("POST", "/login", map[string]string{"email": "ada@example.com", "password": password})
	requireProblem(t, resp, body, http.StatusForbidden, "email-not-verified")

	// A resend for the registered ID, and for an unknown one, answer alike.
	anon.must("POST", "/email-verification", map[string]string{"user_id": u.ID}, http.StatusAccepted)
	anon.must("POST", "/email-verification", map[string]string{"user_id": "no-such-user"}, http.StatusAccepted)
	resp, body = anon.do("POST", "/email-verification", map[string]string{})
	p := requireProblem(t, resp, body, http.StatusBadRequest, "validation")
	assert.Equal(t, []string{"user_id"}, fields(p))
	var tok string
	require.Eventually(t, func() bool {
		tok = e.mail.token(t, "verify:ada@example.com")
		return tok != first
	}, 5*time.Second, 5*time.Millisecond, "a new token is sent")

	resp, body = anon.do("POST", "/email-verification/complete", map[string]string{"token": first})
	requireProblem(t, resp, body, http.StatusBadRequest, "invalid-token")
	anon.must("POST", "/email-verification/complete", map[string]string{"token": tok}, http.StatusNoContent)
	anon.must("POST", "/login", map[string]string{"email": "ada@example.com", "password": password}, http.StatusOK)
}

// /email changes the caller's address after a fresh authentication; with
// verification on, the new address is pending until its token is used.
func TestChangeEmail(t *testing.T) {
	clock := authv2test.NewClock(time.Now())
	cfg := authv2test.Config()
	cfg.RequireEmailVerification = true
	e := newEnv(t, authv2.WithConfig(cfg), authv2.WithClock(clock))
	u := e.register("ada@example.com")
	anon := e.api("")
	anon.must("POST", "/email-verification/complete", map[string]string{"token": e.mail.token(t, "verify:ada@example.com")}, http.StatusNoContent)
	a, _ := e.loginAPI("ada@example.com")

	resp, body := a.do("POST", "/email", map[string]string{"email": "not an address"})
	p := requireProblem(t, resp, body, http.StatusBadRequest, "validation")
	assert.Equal(t, []string{"email"}, fields(p))

	s := decode[sessionResp](t, a.must("POST", "/email", map[string]string{"email": "ada@new.example"}, http.StatusOK))
	require.NotEmpty(t, s.Token)
	a = e.api(s.Token)
	me := decode[struct {
		Email        string `json:"email"`
		PendingEmail string `json:"pending_email"`
	}](t, a.must("GET", "/me", nil, http.StatusOK))
	assert.Equal(t, "ada@example.com", me.Email)
	assert.Equal(t, "ada@new.example", me.PendingEmail)

	// The authenticated resend is for the caller, whatever user_id says.
	// Notifications run in the background: let the change's own one land
	// first, so the mailbox ends with the resend's (the one that works).
	require.NoError(t, e.m.FlushAudit(t.Context()))
	a.must("POST", "/email-verification", map[string]string{"user_id": "someone-else"}, http.StatusAccepted)
	require.NoError(t, e.m.FlushAudit(t.Context()))
	tok := e.mail.token(t, "verify:ada@new.example")
	anon.must("POST", "/email-verification/complete", map[string]string{"token": tok}, http.StatusNoContent)
	got, err := e.m.User(t.Context(), u.ID)
	require.NoError(t, err)
	assert.Equal(t, "ada@new.example", got.Email)

	clock.Advance(cfg.ReauthWindow + time.Minute)
	resp, body = a.do("POST", "/email", map[string]string{"email": "ada@third.example"})
	requireProblem(t, resp, body, http.StatusForbidden, "reauthentication-required")
}
