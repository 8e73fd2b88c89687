package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/handlers"
	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/permission"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const password = "correct horse battery staple"

// backends are the store set-ups the journey runs on; PostgreSQL skips
// unless AUTHV2_TEST_POSTGRES_URL is set.
var backends = []struct {
	name string
	opts func(t *testing.T) []authv2.Option
}{
	{"memory", func(*testing.T) []authv2.Option { return nil }},
	{"postgres", func(t *testing.T) []authv2.Option {
		env := pgtest.New(t)
		return []authv2.Option{authv2.WithUserStore(env.Stores.Users), authv2.WithSessionStore(env.Stores.Sessions),
			authv2.WithPermissionStore(env.Stores.Permissions), authv2.WithRateLimiter(env.Stores.Limiter),
			authv2.WithAPIKeyStore(env.Stores.APIKeys), authv2.WithImpersonationStore(env.Stores.Impersonations)}
	}},
}

// client talks to the test server; with a jar it behaves like a browser
// (cookies), with a token like an API client (bearer). API clients ask the
// kit for the token in the body (handlers.AuthModeHeader).
type client struct {
	t      *testing.T
	base   string
	hc     *http.Client
	token  string
	bearer bool
}

func newBrowser(t *testing.T, ts *httptest.Server) *client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	hc := *ts.Client() // a copy: ts.Client() is shared by every caller
	hc.Jar = jar
	return &client{t: t, base: ts.URL, hc: &hc}
}

func newAPIClient(t *testing.T, ts *httptest.Server, token string) *client {
	hc := *ts.Client()
	return &client{t: t, base: ts.URL, hc: &hc, token: token, bearer: true}
}

// do sends a request; header pairs follow the body.
func (c *client) do(method, path string, body any, header ...string) (*http.Response, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(c.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, rd)
	require.NoError(c.t, err)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.bearer {
		req.Header.Set(handlers.AuthModeHeader, "bearer")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.hc.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp, out
}

func (c *client) status(method, path string, body any, header ...string) int {
	c.t.Helper()
	resp, _ := c.do(method, path, body, header...)
	return resp.StatusCode
}

func decodeInto[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(b, &v), string(b))
	return v
}

// userJSON, loginJSON and sessionJSON are the kit's answers as a client
// reads them.
type userJSON struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

type loginJSON struct {
	// Token is set for bearer clients only; browsers get the cookie.
	Token     string `json:"token"`
	SessionID string `json:"session_id"`
	TenantID  string `json:"tenant_id"`
}

type sessionJSON struct {
	ID      string `json:"id"`
	IP      string `json:"ip"`
	Current bool   `json:"current"`
}

type registeredJSON struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
}

type meJSON struct {
	ID        string   `json:"id"`
	Email     string   `json:"email"`
	TenantID  string   `json:"tenant_id"`
	SessionID string   `json:"session_id"`
	Roles     []string `json:"roles"`
}

// TestJourney drives the example over real HTTP (TLS, so the __Host-
// cookie travels as in production) through a cookie-jar client.
func TestJourney(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			m, _, ts := serveExample(t, b.opts(t))
			journey(t, m, ts)
		})
	}
}

// serveExample seeds a Manager on the given stores and serves the
// example over TLS.
func serveExample(t *testing.T, stores []authv2.Option) (*authv2.Manager, *orderBook, *httptest.Server) {
	opts := append([]authv2.Option{authv2.WithConfig(authv2test.Config()), authv2.WithInsecurePasswordHashing()}, stores...)
	m, err := authv2.New(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
	orders, err := seed(t.Context(), m)
	require.NoError(t, err)
	ts := httptest.NewTLSServer(newServer(m, orders, slog.New(slog.DiscardHandler)))
	t.Cleanup(ts.Close)
	return m, orders, ts
}

// serveSeeded serves the seeded example API on m over loopback HTTP
// until the test ends, then closes m.
func serveSeeded(t *testing.T, m *authv2.Manager) *httptest.Server {
	t.Helper()
	orders, err := seed(t.Context(), m)
	require.NoError(t, err)
	srv := httptest.NewServer(newServer(m, orders, slog.New(slog.DiscardHandler)))
	t.Cleanup(func() {
		srv.Close()
		require.NoError(t, m.Close(context.Background()))
	})
	return srv
}

func journey(t *testing.T, m *authv2.Manager, ts *httptest.Server) {
	ctx := t.Context()
	ada := newBrowser(t, ts)

	// Register: a smuggled role or tenant goes nowhere; an administrator
	// makes ada a clerk and bob a manager of acme.
	resp, body := ada.do("POST", "/register", map[string]any{"email": "ada@example.com", "password": password, "tenant_id": "acme", "role": "admin"})
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(body))
	adaUser := decodeInto[registeredJSON](t, body)
	assert.NotEqual(t, "acme", adaUser.TenantID)
	assert.Equal(t, http.StatusConflict, ada.status("POST", "/register", map[string]any{"email": "ada@example.com", "password": password}))
	assert.Equal(t, http.StatusBadRequest, ada.status("POST", "/register", map[string]any{"email": "bob@example.com", "password": "short"}))
	bobUser := decodeInto[userJSON](t, mustDo(t, ada, "POST", "/register", map[string]any{"email": "bob@example.com", "password": password}, http.StatusCreated))
	for _, b := range []permission.Binding{{UserID: adaUser.ID, TenantID: "acme", Role: roleClerk}, {UserID: bobUser.ID, TenantID: "acme", Role: roleManager}} {
		require.NoError(t, m.AddMember(ctx, b.TenantID, b.UserID))
		require.NoError(t, m.Bind(ctx, b))
	}
	mustDo(t, ada, "POST", "/register", map[string]any{"email": "eve@example.com", "password": password}, http.StatusCreated)

	// Wrong password: a problem, no cookie.
	resp, body = ada.do("POST", "/login", map[string]any{"email": "ada@example.com", "password": "not the password"})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	assert.Empty(t, resp.Cookies())

	// Login: the cookie's attributes; the browser gets no token in the body.
	resp, body = ada.do("POST", "/login", map[string]any{"email": "ada@example.com", "password": password, "tenant_id": "acme", "device": "laptop"})
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	login := decodeInto[loginJSON](t, body)
	assert.Empty(t, login.Token)
	require.Len(t, resp.Cookies(), 2, "the session cookie and the device cookie")
	assert.Equal(t, "__Host-authv2-device", resp.Cookies()[1].Name)
	c := resp.Cookies()[0]
	assert.Equal(t, "__Host-authv2", c.Name)
	assert.NotContains(t, string(body), c.Value)
	adaToken := c.Value
	assert.True(t, c.Secure)
	assert.True(t, c.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	assert.Equal(t, "/", c.Path)
	assert.Empty(t, c.Domain)
	assert.Greater(t, c.MaxAge, 0)
	assert.WithinDuration(t, time.Now().Add(authv2.DefaultConfig().Session.AbsoluteTimeout), c.Expires, time.Minute)

	// The jar sends the cookie: ada is a clerk of acme, the smuggled role ignored.
	me := decodeInto[meJSON](t, mustDo(t, ada, "GET", "/me", nil, http.StatusOK))
	assert.Equal(t, "ada@example.com", me.Email)
	assert.Equal(t, "acme", me.TenantID)
	assert.Equal(t, []string{roleClerk}, me.Roles)

	// Cross-origin POST riding on the cookie: refused, and the session lives on.
	resp, _ = ada.do("POST", "/logout", nil, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, http.StatusForbidden, ada.status("POST", "/orders/A-100/refund", nil, "Origin", "https://evil.example"))
	mustDo(t, ada, "GET", "/me", nil, http.StatusOK)

	// Login CSRF: a cross-site form cannot log the browser in either.
	assert.Equal(t, http.StatusForbidden, newBrowser(t, ts).status("POST", "/login",
		map[string]any{"email": "ada@example.com", "password": password}, "Sec-Fetch-Site", "cross-site"))

	// A token in the URL is no credential.
	anon := newAPIClient(t, ts, "")
	assert.Equal(t, http.StatusUnauthorized, anon.status("GET", "/me?token="+adaToken, nil))
	assert.Equal(t, http.StatusUnauthorized, anon.status("GET", "/me?session="+adaToken, nil))

	// The CEL rule: a clerk refunds 120 but not 900; a manager refunds 900.
	mustDo(t, ada, "POST", "/orders/A-100/refund", nil, http.StatusOK)
	resp, _ = ada.do("POST", "/orders/A-200/refund", nil)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Len(t, resp.Header.Get(authv2.DecisionIDHeader), 32)
	bobLogin := decodeInto[loginJSON](t, mustDo(t, anon, "POST", "/login", map[string]any{"email": "bob@example.com", "password": password, "tenant_id": "acme"}, http.StatusOK))
	bob := newAPIClient(t, ts, bobLogin.Token)
	mustDo(t, bob, "POST", "/orders/A-200/refund", nil, http.StatusOK)

	// Tenant isolation: globex's order is out of reach, whatever header is spoofed.
	for _, spoof := range []string{"X-Tenant-ID", "X-Tenant", "Tenant"} {
		assert.Equal(t, http.StatusForbidden, ada.status("POST", "/orders/G-100/refund", nil, spoof, "globex"))
		assert.Equal(t, http.StatusForbidden, bob.status("POST", "/orders/G-100/refund", nil, spoof, "globex"))
		list := decodeInto[[]order](t, mustDo(t, ada, "GET", "/orders", nil, http.StatusOK, spoof, "globex"))
		for _, o := range list {
			assert.Equal(t, "acme", o.TenantID)
		}
	}
	assert.Equal(t, http.StatusForbidden, ada.status("POST", "/orders/NOPE/refund", nil), "an unknown order looks like a foreign one")

	// Sessions: a second device, listed, then revoked from the first; the
	// revoked token is refused on its next request.
	phoneLogin := decodeInto[loginJSON](t, mustDo(t, anon, "POST", "/login", map[string]any{"email": "ada@example.com", "password": password, "tenant_id": "acme", "device": "phone"}, http.StatusOK))
	phone := newAPIClient(t, ts, phoneLogin.Token)
	mustDo(t, phone, "GET", "/me", nil, http.StatusOK)
	list := decodeInto[[]sessionJSON](t, mustDo(t, ada, "GET", "/sessions", nil, http.StatusOK))
	require.Len(t, list, 2)
	current := 0
	for _, s := range list {
		if s.Current {
			current++
			assert.Equal(t, login.SessionID, s.ID)
		}
		assert.NotEmpty(t, s.IP)
	}
	assert.Equal(t, 1, current)
	assert.NotContains(t, string(mustDo(t, ada, "GET", "/sessions", nil, http.StatusOK)), phoneLogin.Token, "tokens are never listed")

	// Own sessions only: bob's session ID answers 404 and stays alive.
	assert.Equal(t, http.StatusNotFound, ada.status("DELETE", "/sessions/"+bobLogin.SessionID, nil))
	mustDo(t, bob, "GET", "/me", nil, http.StatusOK)

	mustDo(t, ada, "DELETE", "/sessions/"+phoneLogin.SessionID, nil, http.StatusNoContent)
	assert.Equal(t, http.StatusUnauthorized, phone.status("GET", "/me", nil))

	// Switch tenant: refused without membership; then a new token and
	// cookie. For the rotation grace window (5 s) the old token stands for
	// the new session, so requests in flight during the switch pass.
	assert.Equal(t, http.StatusForbidden, ada.status("POST", "/switch-tenant", map[string]any{"tenant_id": "globex"}))
	require.NoError(t, m.AddMember(ctx, "globex", me.ID))
	resp, body = ada.do("POST", "/switch-tenant", map[string]any{"tenant_id": "globex"})
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	switched := decodeInto[loginJSON](t, body)
	assert.NotEqual(t, login.SessionID, switched.SessionID)
	require.Len(t, resp.Cookies(), 1)
	switchedToken := resp.Cookies()[0].Value
	assert.NotEqual(t, adaToken, switchedToken)
	me = decodeInto[meJSON](t, mustDo(t, ada, "GET", "/me", nil, http.StatusOK))
	assert.Equal(t, "globex", me.TenantID)
	assert.Empty(t, me.Roles)
	oldMe := decodeInto[meJSON](t, mustDo(t, newAPIClient(t, ts, adaToken), "GET", "/me", nil, http.StatusOK))
	assert.Equal(t, "globex", oldMe.TenantID, "the old token acts as its successor, never as the old session")
	// A member without a role in globex still cannot refund there.
	assert.Equal(t, http.StatusForbidden, ada.status("POST", "/orders/G-100/refund", nil))

	// Change password through the kit: the session is replaced (a new
	// cookie), the old password stops working.
	resp, body = ada.do("POST", "/password", map[string]any{"current_password": password, "new_password": "an even better passphrase"})
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Len(t, resp.Cookies(), 1)
	assert.NotEqual(t, switchedToken, resp.Cookies()[0].Value)
	assert.Equal(t, http.StatusUnauthorized, anon.status("POST", "/login", map[string]any{"email": "ada@example.com", "password": password}))
	mustDo(t, ada, "GET", "/me", nil, http.StatusOK)

	// Logout: the cookie is cleared, the response not cached, the session dead.
	resp, _ = ada.do("POST", "/logout", nil)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	require.Len(t, resp.Cookies(), 1)
	assert.Equal(t, "__Host-authv2", resp.Cookies()[0].Name)
	assert.Less(t, resp.Cookies()[0].MaxAge, 0)
	assert.Equal(t, http.StatusUnauthorized, ada.status("GET", "/me", nil))
	assert.Equal(t, http.StatusUnauthorized, newAPIClient(t, ts, switchedToken).status("GET", "/me", nil))
}

// mustDo sends a request, checks the status and returns the body. Header
// pairs may follow the status.
func mustDo(t *testing.T, c *client, method, path string, body any, status int, header ...string) []byte {
	t.Helper()
	resp, out := c.do(method, path, body, header...)
	require.Equal(t, status, resp.StatusCode, "%s %s: %s", method, path, out)
	return out
}

// Over plain HTTP the cookie is refused outside development mode (the
// browser's login fails), yet bearer clients still log in.
func TestPlainHTTP(t *testing.T) {
	for _, dev := range []bool{false, true} {
		cfg := authv2test.Config()
		cfg.HTTP.DevelopmentMode = dev
		m, err := authv2.New(authv2.WithConfig(cfg), authv2.WithInsecurePasswordHashing())
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
		orders, err := seed(t.Context(), m)
		require.NoError(t, err)
		ts := httptest.NewServer(newServer(m, orders, slog.New(slog.DiscardHandler)))
		c := newBrowser(t, ts)
		mustDo(t, c, "POST", "/register", map[string]any{"email": "dev@example.com", "password": password}, http.StatusCreated)
		resp, body := c.do("POST", "/login", map[string]any{"email": "dev@example.com", "password": password})
		if dev {
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			require.Len(t, resp.Cookies(), 2, "the session cookie and the device cookie")
			assert.Equal(t, "authv2", resp.Cookies()[0].Name)
			assert.Equal(t, "authv2-device", resp.Cookies()[1].Name)
			assert.False(t, resp.Cookies()[0].Secure)
			mustDo(t, c, "GET", "/me", nil, http.StatusOK)
		} else {
			assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
			assert.Empty(t, resp.Cookies())
			l := decodeInto[loginJSON](t, mustDo(t, newAPIClient(t, ts, ""), "POST", "/login",
				map[string]any{"email": "dev@example.com", "password": password}, http.StatusOK))
			mustDo(t, newAPIClient(t, ts, l.Token), "GET", "/me", nil, http.StatusOK)
		}
		ts.Close()
	}
}

// run serves until its context ends, then shuts down cleanly.
func TestRunShutsDown(t *testing.T) {
	addr := freeAddr(t)
	shutdown := startRun(t, map[string]string{"AUTHV2_HTTP_ADDR": addr, "AUTHV2_METRICS_ADDR": "127.0.0.1:0"})
	waitServing(t, addr, 10*time.Second)
	shutdown()
}

// waitServing waits until the example answers on addr (401 from /me for
// an anonymous request), for at most timeout.
func waitServing(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	require.Eventually(t, func() bool {
		resp, err := hc.Get("http://" + addr + "/me")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusUnauthorized
	}, timeout, 10*time.Millisecond)
}

// freeAddr returns a loopback address no one listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// startRun runs the example with env as its environment; shutdown ends
// its context and checks that it returns cleanly.
func startRun(t *testing.T, env map[string]string) (shutdown func()) {
	return startRunLog(t, env, slog.New(slog.DiscardHandler))
}

// startRunLog is startRun logging to log.
func startRunLog(t *testing.T, env map[string]string, log *slog.Logger) (shutdown func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, log, func(k string) string { return env[k] }) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("run did not return after its context ended")
		}
	}
}

// TestRegistrantCannotJoinAnotherTenant: registration is anonymous, so
// naming a tenant in it must not make one a member, let alone a clerk.
// Before the fix, eve became a clerk of acme and refunded its order.
func TestRegistrantCannotJoinAnotherTenant(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			_, orders, ts := serveExample(t, b.opts(t))

			anon := newAPIClient(t, ts, "")
			eve := decodeInto[registeredJSON](t, mustDo(t, anon, "POST", "/register",
				map[string]any{"email": "eve@example.com", "password": password, "tenant_id": "acme"}, http.StatusCreated))
			assert.NotEqual(t, "acme", eve.TenantID, "a tenant of her own")
			assert.Equal(t, http.StatusForbidden, anon.status("POST", "/login",
				map[string]any{"email": "eve@example.com", "password": password, "tenant_id": "acme"}), "not a member of acme")

			login := decodeInto[loginJSON](t, mustDo(t, anon, "POST", "/login",
				map[string]any{"email": "eve@example.com", "password": password}, http.StatusOK))
			assert.Equal(t, eve.TenantID, login.TenantID)
			c := newAPIClient(t, ts, login.Token)
			assert.Equal(t, http.StatusForbidden, c.status("POST", "/orders/A-100/refund", nil))
			assert.Equal(t, http.StatusForbidden, c.status("POST", "/switch-tenant", map[string]any{"tenant_id": "acme"}))
			assert.Equal(t, "[]\n", string(mustDo(t, c, "GET", "/orders", nil, http.StatusOK)), "her own tenant has no orders")
			o, _ := orders.get("A-100")
			assert.False(t, o.Refunded)
		})
	}
}

// TestMetricsAreNotPublic: /metrics is served on its own listener only,
// never on the API's.
func TestMetricsAreNotPublic(t *testing.T) {
	api, metrics := freeAddr(t), freeAddr(t)
	shutdown := startRun(t, map[string]string{"AUTHV2_HTTP_ADDR": api, "AUTHV2_METRICS_ADDR": metrics})
	defer shutdown()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	get := func(url string) (int, string) {
		resp, err := hc.Get(url)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	require.Eventually(t, func() bool {
		status, _ := get("http://" + metrics + "/metrics")
		return status == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond, "metrics listener")
	status, _ := get("http://" + api + "/metrics")
	assert.Equal(t, http.StatusNotFound, status, "the API does not serve metrics")
	_, body := get("http://" + metrics + "/metrics")
	assert.Contains(t, body, "authv2_")
	status, _ = get("http://" + metrics + "/me")
	assert.Equal(t, http.StatusNotFound, status, "the metrics listener serves metrics only")
}
