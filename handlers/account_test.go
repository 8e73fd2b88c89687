package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/handlers"
	"github.com/authv2/authv2/user"
)

func TestRegister(t *testing.T) {
	e := newEnv(t)
	c := e.api("")

	// A smuggled tenant or role has nowhere to go.
	u := decode[userResp](t, c.must("POST", "/register",
		map[string]any{"email": "ada@example.com", "password": password, "tenant_id": "acme", "role": "admin"}, http.StatusCreated))
	assert.Equal(t, "ada@example.com", u.Email)
	assert.Equal(t, "active", u.Status)
	assert.Empty(t, u.TenantID)
	assert.NotEmpty(t, u.ID)

	resp, body := c.do("POST", "/register", map[string]string{"email": "ada@example.com", "password": password})
	requireProblem(t, resp, body, http.StatusConflict, "conflict")

	resp, body = c.do("POST", "/register", map[string]string{"email": "not an address", "password": "short"})
	p := requireProblem(t, resp, body, http.StatusBadRequest, "validation")
	assert.ElementsMatch(t, []string{"email", "password"}, fields(p))
}

// Malformed, oversized and doubled bodies are refused before any flow runs.
func TestBodies(t *testing.T) {
	e := newEnv(t)
	c := e.api("")
	resp, body := c.do("POST", "/register", `{"email": `)
	requireProblem(t, resp, body, http.StatusBadRequest, "malformed-body")
	resp, body = c.do("POST", "/login", `{"email":"a@example.com"} {"email":"b@example.com"}`)
	requireProblem(t, resp, body, http.StatusBadRequest, "malformed-body")
	resp, body = c.do("POST", "/login", `[]`)
	requireProblem(t, resp, body, http.StatusBadRequest, "malformed-body")

	huge := `{"email":"ada@example.com","password":"` + strings.Repeat("x", 70<<10) + `"}`
	resp, body = c.do("POST", "/register", huge)
	requireProblem(t, resp, body, http.StatusRequestEntityTooLarge, "too-large")
}

func TestRegisterWithHook(t *testing.T) {
	m := authv2test.NewManager(t)
	_, err := m.CreateTenant(t.Context(), "acme", "Acme")
	require.NoError(t, err)
	var got authv2.RegisterInput
	kit := handlers.New(m, handlers.WithRegister(func(ctx context.Context, in authv2.RegisterInput) (*user.User, error) {
		got = in
		in.TenantID = "acme" // the application's decision, never the client's
		return m.Register(ctx, in)
	}))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/register", strings.NewReader(`{"email":"ada@example.com","password":"`+password+`","display_name":"Ada","tenant_id":"evil"}`))
	m.Middleware()(kit).ServeHTTP(rec, req)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.Equal(t, authv2.RegisterInput{Email: "ada@example.com", Password: password, DisplayName: "Ada"}, got)
	assert.Equal(t, "acme", decode[userResp](t, rec.Body.Bytes()).TenantID)
}

// With enumeration-safe registration a taken address answers like a new one.
func TestRegisterEnumerationSafe(t *testing.T) {
	cfg := authv2.DefaultConfig()
	cfg.RequireEmailVerification, cfg.EnumerationSafeRegistration = true, true
	e := newEnv(t, authv2.WithConfig(cfg))
	c := e.api("")
	for range 2 {
		resp, body := c.do("POST", "/register", map[string]string{"email": "ada@example.com", "password": password})
		assert.Equal(t, http.StatusAccepted, resp.StatusCode)
		assert.Empty(t, body)
	}
	e.mail.token(t, "verify:ada@example.com")
	require.Eventually(t, func() bool {
		e.mail.mu.Lock()
		defer e.mail.mu.Unlock()
		return e.mail.exists["ada@example.com"] == 1
	}, 5*time.Second, 5*time.Millisecond)
}

// A browser gets the cookies and no token in the body; a bearer client
// gets the tokens in the body and no cookie.
func TestLoginDelivery(t *testing.T) {
	e := newEnv(t)
	e.register("ada@example.com")

	b := e.browser()
	resp, body := b.do("POST", "/login", map[string]string{"email": "ada@example.com", "password": password, "device": "laptop"})
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	s := decode[sessionResp](t, body)
	assert.NotEmpty(t, s.SessionID)
	assert.Empty(t, s.Token)
	assert.Empty(t, s.DeviceToken)
	assert.NotContains(t, string(body), "av2_")
	require.Len(t, resp.Cookies(), 2)
	assert.Equal(t, "__Host-authv2", resp.Cookies()[0].Name)
	assert.True(t, resp.Cookies()[0].HttpOnly)
	assert.Equal(t, "__Host-authv2-device", resp.Cookies()[1].Name)
	me := decode[meResp](t, b.must("GET", "/me", nil, http.StatusOK))
	assert.Equal(t, "ada@example.com", me.Email)
	assert.Equal(t, s.SessionID, me.SessionID)
	assert.Equal(t, []string{}, me.Roles)

	a := e.api("")
	resp, body = a.do("POST", "/login", map[string]string{"email": "ada@example.com", "password": password})
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Empty(t, resp.Cookies())
	s = decode[sessionResp](t, body)
	assert.True(t, strings.HasPrefix(s.Token, "av2_"), s.Token)
	assert.NotEmpty(t, s.DeviceToken)
	e.api(s.Token).must("GET", "/me", nil, http.StatusOK)

	// The device token comes back in the body next time.
	e.api("").must("POST", "/login", map[string]string{"email": "ada@example.com", "password": password, "device_token": s.DeviceToken}, http.StatusOK)

	resp, body = a.do("POST", "/login", map[string]string{"email": "ada@example.com", "password": "wrong password!"})
	requireProblem(t, resp, body, http.StatusUnauthorized, "invalid-credentials")
	assert.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))
	resp, body = a.do("POST", "/login", map[string]string{"email": "nobody@example.com", "password": password})
	requireProblem(t, resp, body, http.StatusUnauthorized, "invalid-credentials")
	resp, body = a.do("POST", "/login", map[string]string{"email": "ada@example.com", "password": password, "tenant_id": "acme"})
	requireProblem(t, resp, body, http.StatusForbidden, "not-member")
}

// A request that authenticated with the session cookie is a browser,
// whatever it says: script injected into the page can add the bearer-mode
// header (or an empty "Authorization: Bearer") to a same-origin request,
// and must not read the replacing session's token that HttpOnly keeps
// from it.
func TestCookieSessionNeverGetsItsTokenInTheBody(t *testing.T) {
	e := newEnv(t)
	u := e.register("ada@example.com")
	e.tenant("acme", nil)
	require.NoError(t, e.m.AddMember(t.Context(), "acme", u.ID))
	b, _ := e.loginBrowser("ada@example.com")
	for _, header := range [][]string{{handlers.AuthModeHeader, "bearer"}, {"Authorization", "Bearer"}} {
		for _, r := range []struct {
			path string
			body any
		}{
			{"/switch-tenant", map[string]string{"tenant_id": "acme"}},
			{"/reauthenticate", map[string]string{"password": password}},
		} {
			resp, body := b.do("POST", r.path, r.body, header...)
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s %v: %s", r.path, header, body)
			s := decode[sessionResp](t, body)
			assert.Empty(t, s.Token, "%s %v", r.path, header)
			assert.NotContains(t, string(body), "av2_")
			require.Len(t, resp.Cookies(), 1, "%s %v: the new session goes in the cookie", r.path, header)
			assert.Equal(t, s.SessionID, decode[meResp](t, b.must("GET", "/me", nil, http.StatusOK)).SessionID)
		}
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	e.register("ada@example.com")
	b, _ := e.loginBrowser("ada@example.com")
	resp, _ := b.do("POST", "/logout", nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Len(t, resp.Cookies(), 1)
	assert.Less(t, resp.Cookies()[0].MaxAge, 0)
	b.must("GET", "/me", nil, http.StatusUnauthorized)

	a, _ := e.loginAPI("ada@example.com")
	a.must("POST", "/logout", nil, http.StatusNoContent)
	a.must("GET", "/me", nil, http.StatusUnauthorized)
}

// Routes for a caller answer 401 problems to anonymous requests.
func TestAnonymousRefused(t *testing.T) {
	e := newEnv(t)
	c := e.api("")
	for _, r := range []struct{ method, path string }{
		{"POST", "/logout"}, {"GET", "/me"}, {"GET", "/sessions"}, {"DELETE", "/sessions/x"},
		{"POST", "/reauthenticate"}, {"POST", "/password"}, {"POST", "/email"}, {"POST", "/switch-tenant"},
	} {
		resp, body := c.do(r.method, r.path, `{}`)
		requireProblem(t, resp, body, http.StatusUnauthorized, "unauthenticated")
	}
	// A dead bearer token is refused by the middleware, before the kit.
	e.api("av2_not-a-token").must("GET", "/me", nil, http.StatusUnauthorized)
}

// The middleware's CSRF protection covers the kit: a cross-site page can
// neither log a browser in nor out.
func TestCrossOriginRefused(t *testing.T) {
	e := newEnv(t)
	e.register("ada@example.com")
	resp, body := e.browser().do("POST", "/login", map[string]string{"email": "ada@example.com", "password": password},
		"Sec-Fetch-Site", "cross-site")
	requireProblem(t, resp, body, http.StatusForbidden, "cross-origin")
	assert.Empty(t, resp.Cookies())

	b, _ := e.loginBrowser("ada@example.com")
	resp, body = b.do("POST", "/logout", nil, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	requireProblem(t, resp, body, http.StatusForbidden, "cross-origin")
	b.must("GET", "/me", nil, http.StatusOK)
}

// Served without the middleware the kit refuses everything rather than
// run without CSRF protection.
func TestNotBehindMiddleware(t *testing.T) {
	m := authv2test.NewManager(t)
	rec := httptest.NewRecorder()
	handlers.New(m).ServeHTTP(rec, httptest.NewRequest("POST", "/login", strings.NewReader(`{}`)))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
}

// Over plain HTTP, outside development mode, a browser cannot get the
// cookie: the login fails and leaves no session behind. Bearer clients
// log in; development mode sets the cookie.
func TestPlainHTTP(t *testing.T) {
	for _, dev := range []bool{false, true} {
		cfg := authv2test.Config()
		cfg.HTTP.DevelopmentMode = dev
		m := authv2test.NewManager(t, authv2.WithConfig(cfg))
		ada, err := m.Register(t.Context(), authv2.RegisterInput{Email: "ada@example.com", Password: password})
		require.NoError(t, err)
		ts := httptest.NewServer(m.Middleware()(handlers.New(m)))
		e := &env{t: t, m: m, ts: ts}
		b := e.browser()
		b.base = ts.URL
		resp, body := b.do("POST", "/login", map[string]string{"email": "ada@example.com", "password": password})
		if dev {
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			assert.Equal(t, "authv2", resp.Cookies()[0].Name)
			b.must("GET", "/me", nil, http.StatusOK)
		} else {
			assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
			assert.Empty(t, resp.Cookies())
			list, err := m.ListSessions(t.Context(), ada.ID)
			require.NoError(t, err)
			assert.Empty(t, list, "the session nobody could hold was ended")
		}
		a := e.api("")
		a.base = ts.URL
		a.must("POST", "/login", map[string]string{"email": "ada@example.com", "password": password}, http.StatusOK)
		ts.Close()
	}
}
