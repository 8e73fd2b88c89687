package handlers_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type sessionInfo struct {
	ID      string `json:"id"`
	IP      string `json:"ip"`
	Device  string `json:"device"`
	Current bool   `json:"current"`
}

func TestSessions(t *testing.T) {
	e := newEnv(t)
	e.register("ada@example.com")
	e.register("bob@example.com")
	laptop := e.browser()
	laptopSession := decode[sessionResp](t, laptop.must("POST", "/login",
		map[string]string{"email": "ada@example.com", "password": password, "device": "laptop"}, http.StatusOK))
	phone, phoneSession := e.loginAPI("ada@example.com")
	bob, bobSession := e.loginAPI("bob@example.com")

	body := laptop.must("GET", "/sessions", nil, http.StatusOK)
	list := decode[[]sessionInfo](t, body)
	require.Len(t, list, 2)
	for _, s := range list {
		assert.Equal(t, s.ID == laptopSession.SessionID, s.Current)
		assert.NotEmpty(t, s.IP)
	}
	assert.NotContains(t, string(body), phoneSession.Token, "tokens are never listed")

	// Another user's session answers like an unknown one, and lives on.
	resp, out := laptop.do("DELETE", "/sessions/"+bobSession.SessionID, nil)
	requireProblem(t, resp, out, http.StatusNotFound, "not-found")
	bob.must("GET", "/me", nil, http.StatusOK)

	laptop.must("DELETE", "/sessions/"+phoneSession.SessionID, nil, http.StatusNoContent)
	phone.must("GET", "/me", nil, http.StatusUnauthorized)

	// Revoking one's own current session clears the cookie.
	resp, _ = laptop.do("DELETE", "/sessions/"+laptopSession.SessionID, nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Len(t, resp.Cookies(), 1)
	assert.Less(t, resp.Cookies()[0].MaxAge, 0)
	laptop.must("GET", "/me", nil, http.StatusUnauthorized)
}

func TestSwitchTenant(t *testing.T) {
	e := newEnv(t)
	u := e.register("ada@example.com")
	_, err := e.m.CreateTenant(t.Context(), "acme", "Acme")
	require.NoError(t, err)
	b, login := e.loginBrowser("ada@example.com")

	resp, body := b.do("POST", "/switch-tenant", map[string]string{"tenant_id": "acme"})
	requireProblem(t, resp, body, http.StatusForbidden, "not-member")

	require.NoError(t, e.m.AddMember(t.Context(), "acme", u.ID))
	resp, body = b.do("POST", "/switch-tenant", map[string]string{"tenant_id": "acme"})
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	s := decode[sessionResp](t, body)
	assert.Equal(t, "acme", s.TenantID)
	assert.NotEqual(t, login.SessionID, s.SessionID)
	assert.Empty(t, s.Token)
	require.Len(t, resp.Cookies(), 1, "the new session cookie")
	assert.Equal(t, "acme", decode[meResp](t, b.must("GET", "/me", nil, http.StatusOK)).TenantID)

	// A bearer client gets the new token in the body.
	a, _ := e.loginAPI("ada@example.com")
	s = decode[sessionResp](t, a.must("POST", "/switch-tenant", map[string]string{"tenant_id": "acme"}, http.StatusOK))
	assert.NotEmpty(t, s.Token)
	assert.Equal(t, "acme", decode[meResp](t, e.api(s.Token).must("GET", "/me", nil, http.StatusOK)).TenantID)
}
