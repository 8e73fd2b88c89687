package authv2_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
)

// seen records what a handler behind the middleware observed.
type seen struct {
	called    bool
	principal *authv2.Principal
	client    session.ClientInfo
	token     string
	w         http.ResponseWriter
}

func recordingHandler(s *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.called = true
		s.principal, _ = authv2.PrincipalFrom(r.Context())
		s.client, _ = authv2.ClientFrom(r.Context())
		s.token, _ = authv2.TokenFrom(r.Context())
		s.w = w
		w.WriteHeader(http.StatusNoContent)
	})
}

// serve runs one request through m.Middleware(opts...) and returns the
// recorder and what the handler saw.
func serve(m *authv2.Manager, r *http.Request, opts ...authv2.MiddlewareOption) (*httptest.ResponseRecorder, *seen) {
	s := &seen{}
	rec := httptest.NewRecorder()
	m.Middleware(opts...)(recordingHandler(s)).ServeHTTP(rec, r)
	return rec, s
}

// httpConfig is WithConfig with authv2test.Config whose HTTP values set
// changes: the middleware's values are the Manager's Config.HTTP.
func httpConfig(set func(*authv2.HTTPConfig)) authv2.Option {
	c := authv2test.Config()
	set(&c.HTTP)
	return authv2.WithConfig(c)
}

// withHTTP returns a second Manager over e's stores and clock with
// Config.HTTP changed by set, for a test that takes a session of e.m
// through other HTTP values.
func (e *env) withHTTP(t testing.TB, set func(*authv2.HTTPConfig)) *authv2.Manager {
	t.Helper()
	m, err := authv2.New(authv2.WithClock(e.clock), httpConfig(set), authv2.WithInsecurePasswordHashing(),
		authv2.WithUserStore(e.stores.Users), authv2.WithSessionStore(e.sessions),
		authv2.WithPermissionStore(e.stores.Permissions), authv2.WithLogger(discardLogger()))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
	return m
}

func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) authv2.Problem {
	t.Helper()
	require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	var p authv2.Problem
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	assert.Equal(t, rec.Code, p.Status)
	assert.NotEmpty(t, p.Type)
	assert.NotEmpty(t, p.Title)
	return p
}

func TestMiddlewareBearerToken(t *testing.T) {
	e := newEnv(t)
	u := e.register(t, "ada@example.com")
	res := e.login(t, "ada@example.com")

	r := httptest.NewRequest(http.MethodGet, "/me", nil)
	r.Header.Set("Authorization", "Bearer "+res.Token)
	r.Header.Set("User-Agent", "test-agent/1")
	rec, s := serve(e.m, r, authv2.RequireAuthentication())
	require.Equal(t, http.StatusNoContent, rec.Code)
	require.NotNil(t, s.principal)
	assert.Equal(t, u.ID, s.principal.UserID)
	assert.Equal(t, res.Session.ID, s.principal.SessionID)
	assert.Equal(t, res.Token, s.token)
	assert.Equal(t, "test-agent/1", s.client.UserAgent)
	assert.Equal(t, "192.0.2.1", s.client.IP, "httptest's RemoteAddr")
	assert.Same(t, rec, s.w, "the response writer is passed through unwrapped")

	// The scheme is case-insensitive (RFC 9110 11.1).
	r = httptest.NewRequest(http.MethodGet, "/me", nil)
	r.Header.Set("Authorization", "bearer "+res.Token)
	_, s = serve(e.m, r)
	require.NotNil(t, s.principal)
}

func TestMiddlewareCookie(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada@example.com")
	res := e.login(t, "ada@example.com")

	r := httptest.NewRequest(http.MethodGet, "/me", nil)
	r.AddCookie(&http.Cookie{Name: "__Host-authv2", Value: res.Token})
	rec, s := serve(e.m, r, authv2.RequireAuthentication())
	require.Equal(t, http.StatusNoContent, rec.Code)
	require.NotNil(t, s.principal)

	// Turned off, the cookie is ignored.
	rec, s = serve(e.m, r, authv2.RequireAuthentication(), authv2.WithoutCookie())
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.False(t, s.called)

	// Development mode reads the cookie without its __Host- prefix.
	r = httptest.NewRequest(http.MethodGet, "/me", nil)
	r.AddCookie(&http.Cookie{Name: "authv2", Value: res.Token})
	_, s = serve(e.withHTTP(t, func(c *authv2.HTTPConfig) { c.DevelopmentMode = true }), r)
	require.NotNil(t, s.principal)
}

func TestMiddlewareWithoutBearer(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada@example.com")
	res := e.login(t, "ada@example.com")
	r := httptest.NewRequest(http.MethodGet, "/me", nil)
	r.Header.Set("Authorization", "Bearer "+res.Token)
	rec, s := serve(e.m, r, authv2.WithoutBearer())
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.True(t, s.called)
	assert.Nil(t, s.principal)
}

// Tokens never come from the URL (ASVS 4.0.3 3.1.1).
func TestMiddlewareIgnoresTokenInURL(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada@example.com")
	res := e.login(t, "ada@example.com")
	for _, q := range []string{"session", "token", "access_token", "authv2", "__Host-authv2"} {
		r := httptest.NewRequest(http.MethodGet, "/me?"+q+"="+res.Token, nil)
		rec, s := serve(e.m, r)
		assert.Equal(t, http.StatusNoContent, rec.Code, q)
		assert.Nil(t, s.principal, "?%s= must leave the request anonymous", q)

		rec, s = serve(e.m, r, authv2.RequireAuthentication())
		assert.Equal(t, http.StatusUnauthorized, rec.Code, q)
		assert.False(t, s.called)
	}
	// Nor from a form body.
	r := httptest.NewRequest(http.MethodPost, "/me", strings.NewReader("token="+res.Token))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, s := serve(e.m, r)
	assert.Nil(t, s.principal)
}

func TestMiddlewareUnauthenticated(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada@example.com")
	res := e.login(t, "ada@example.com")
	require.NoError(t, e.m.Logout(t.Context(), res.Token))

	// No token, optional: anonymous.
	rec, s := serve(e.m, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.True(t, s.called)
	assert.Nil(t, s.principal)

	// No token, required: 401 problem.
	rec, s = serve(e.m, httptest.NewRequest(http.MethodGet, "/", nil), authv2.RequireAuthentication())
	assert.False(t, s.called)
	p := decodeProblem(t, rec)
	assert.Equal(t, http.StatusUnauthorized, p.Status)
	assert.Contains(t, rec.Header().Get("WWW-Authenticate"), "Bearer")

	// A stale cookie on an optional route: anonymous, not refused.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: "__Host-authv2", Value: res.Token})
	rec, s = serve(e.m, r)
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.Nil(t, s.principal)

	// A revoked bearer token is refused even on an optional route.
	for _, tok := range []string{res.Token, "av2_garbage", strings.Repeat("x", 4096)} {
		r = httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		rec, s = serve(e.m, r)
		assert.False(t, s.called)
		assert.Equal(t, http.StatusUnauthorized, decodeProblem(t, rec).Status)
	}
}

// failingSessions is a session store whose every read fails the way a
// driver does, with the driver's text inside.
type failingSessions struct{ session.Store }

func (failingSessions) Get(context.Context, string) (*session.Session, error) {
	return nil, store.Unavailable("session.get", errors.New(`pq: password authentication failed for user "secret_admin"`))
}

func TestMiddlewareStoreOutageFailsClosed(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada@example.com")
	res := e.login(t, "ada@example.com")
	e.sessions.Store = failingSessions{Store: e.stores.Sessions}

	for _, required := range []bool{false, true} {
		var opts []authv2.MiddlewareOption
		if required {
			opts = append(opts, authv2.RequireAuthentication())
		}
		for _, viaCookie := range []bool{false, true} {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if viaCookie {
				r.AddCookie(&http.Cookie{Name: "__Host-authv2", Value: res.Token})
			} else {
				r.Header.Set("Authorization", "Bearer "+res.Token)
			}
			rec, s := serve(e.m, r, opts...)
			assert.False(t, s.called, "an outage must not pass the request on anonymous")
			p := decodeProblem(t, rec)
			assert.Equal(t, http.StatusServiceUnavailable, p.Status)
			assert.NotContains(t, rec.Body.String(), "pq:")
			assert.NotContains(t, rec.Body.String(), "secret_admin")
			assert.NotContains(t, rec.Body.String(), "session.get")
		}
	}
}

func TestMiddlewareErrorHandler(t *testing.T) {
	e := newEnv(t)
	var got error
	h := authv2.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusTeapot)
	})
	rec, _ := serve(e.m, httptest.NewRequest(http.MethodGet, "/", nil), authv2.RequireAuthentication(), h)
	assert.Equal(t, http.StatusTeapot, rec.Code)
	assert.ErrorIs(t, got, authv2.ErrUnauthenticated)
}

func TestMiddlewareClientIP(t *testing.T) {
	proxies, err := authv2.ParseTrustedProxies("10.0.0.0/8, 2001:db8:ffff::/48, 192.0.2.200")
	require.NoError(t, err)
	e := newEnv(t, httpConfig(func(c *authv2.HTTPConfig) { c.TrustedProxies = proxies }))
	tests := []struct {
		name    string
		remote  string
		headers map[string]string
		want    string
	}{
		{"direct", "203.0.113.5:4000", nil, "203.0.113.5"},
		{"untrusted peer's XFF ignored", "203.0.113.5:4000", map[string]string{"X-Forwarded-For": "198.51.100.1"}, "203.0.113.5"},
		{"untrusted peer's Forwarded ignored", "203.0.113.5:4000", map[string]string{"Forwarded": "for=198.51.100.1"}, "203.0.113.5"},
		{"trusted proxy", "10.1.2.3:4000", map[string]string{"X-Forwarded-For": "198.51.100.1"}, "198.51.100.1"},
		{"spoofed left entries skipped", "10.1.2.3:4000", map[string]string{"X-Forwarded-For": "1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", "10.1.2.3:4000", map[string]string{"X-Forwarded-For": "6.6.6.6, 198.51.100.1, 10.9.9.9, 192.0.2.200"}, "198.51.100.1"},
		{"all hops trusted", "10.1.2.3:4000", map[string]string{"X-Forwarded-For": "10.0.0.7"}, "10.0.0.7"},
		{"garbage hop stops the walk", "10.1.2.3:4000", map[string]string{"X-Forwarded-For": "198.51.100.1, nonsense"}, "10.1.2.3"},
		{"no header from trusted proxy", "10.1.2.3:4000", nil, "10.1.2.3"},
		{"Forwarded", "10.1.2.3:4000", map[string]string{"Forwarded": `for=6.6.6.6, for="198.51.100.1:8080";proto=https;by=10.0.0.1`}, "198.51.100.1"},
		{"Forwarded IPv6", "[2001:db8:ffff::1]:443", map[string]string{"Forwarded": `for="[2001:db8:1::7]:4711"`}, "2001:db8:1::7"},
		{"Forwarded wins over XFF", "10.1.2.3:4000", map[string]string{"Forwarded": "for=198.51.100.1", "X-Forwarded-For": "6.6.6.6"}, "198.51.100.1"},
		{"Forwarded unknown", "10.1.2.3:4000", map[string]string{"Forwarded": "for=unknown"}, "10.1.2.3"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:4000", map[string]string{"X-Forwarded-For": "198.51.100.1"}, "198.51.100.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			_, s := serve(e.m, r)
			assert.Equal(t, tt.want, s.client.IP)
		})
	}
	_, err = authv2.ParseTrustedProxies("10.0.0.0/8, not-an-ip")
	assert.ErrorIs(t, err, authv2.ErrInvalidConfig)
}

// The client IP the middleware derives is the one sessions and audit
// events record.
func TestMiddlewarePassesClientToAuthenticate(t *testing.T) {
	e := newEnv(t, authv2.WithSecurityPolicy(session.RejectIPChange(32, 128)),
		httpConfig(func(c *authv2.HTTPConfig) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} }))
	e.register(t, "ada@example.com")
	res := e.login(t, "ada@example.com") // from 192.0.2.10

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.0.0.1:555"
	r.Header.Set("X-Forwarded-For", "192.0.2.10")
	r.Header.Set("Authorization", "Bearer "+res.Token)
	r.Header.Set("User-Agent", "test-agent/1")
	rec, s := serve(e.m, r)
	require.Equal(t, http.StatusNoContent, rec.Code)
	require.NotNil(t, s.principal)

	r.Header.Set("X-Forwarded-For", "198.51.100.99")
	rec, s = serve(e.m, r)
	assert.False(t, s.called)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
}

func TestMiddlewareCSRF(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada@example.com")
	res := e.login(t, "ada@example.com")

	post := func(headers map[string]string, cookie bool) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "https://api.example.com/orders", strings.NewReader("{}"))
		for k, v := range headers {
			r.Header.Set(k, v)
		}
		if cookie {
			r.AddCookie(&http.Cookie{Name: "__Host-authv2", Value: res.Token})
		}
		return r
	}
	crossSite := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
	oldBrowser := map[string]string{"Origin": "https://evil.example"}

	rec, s := serve(e.m, post(crossSite, true))
	assert.False(t, s.called)
	assert.Equal(t, http.StatusForbidden, decodeProblem(t, rec).Status)

	rec, s = serve(e.m, post(oldBrowser, true))
	assert.False(t, s.called)
	assert.Equal(t, http.StatusForbidden, rec.Code)

	// Anonymous unsafe requests too (login CSRF).
	rec, s = serve(e.m, post(crossSite, false))
	assert.False(t, s.called)
	assert.Equal(t, http.StatusForbidden, rec.Code)

	// Same origin passes.
	rec, s = serve(e.m, post(map[string]string{"Sec-Fetch-Site": "same-origin"}, true))
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.NotNil(t, s.principal)

	// Safe methods are not checked.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	rec, _ = serve(e.m, r)
	assert.Equal(t, http.StatusNoContent, rec.Code)

	// Bearer requests are not affected: a browser cannot attach one cross-origin without CORS.
	r = post(crossSite, false)
	r.Header.Set("Authorization", "Bearer "+res.Token)
	rec, s = serve(e.m, r)
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.NotNil(t, s.principal)

	// Trusted origins pass.
	trusting := e.withHTTP(t, func(c *authv2.HTTPConfig) { c.TrustedOrigins = []string{"https://evil.example"} })
	rec, s = serve(trusting, post(crossSite, true))
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.NotNil(t, s.principal)

	// And the protection can be turned off.
	rec, _ = serve(e.m, post(crossSite, true), authv2.WithoutCSRFProtection())
	assert.Equal(t, http.StatusNoContent, rec.Code)
}

// Invalid HTTP values are Config's and refused by New, before any
// Middleware is built.
func TestNewRefusesInvalidHTTPConfig(t *testing.T) {
	for name, tt := range map[string]struct {
		set   func(*authv2.HTTPConfig)
		field string
	}{
		"cookie name":    {func(c *authv2.HTTPConfig) { c.CookieName = "bad name;" }, "HTTP.CookieName"},
		"empty name":     {func(c *authv2.HTTPConfig) { c.CookieName = "" }, "HTTP.CookieName"},
		"SameSite none":  {func(c *authv2.HTTPConfig) { c.SameSite = http.SameSiteNoneMode }, "HTTP.SameSite"},
		"trusted origin": {func(c *authv2.HTTPConfig) { c.TrustedOrigins = []string{"evil.example"} }, "HTTP.TrustedOrigins"},
	} {
		_, err := authv2.New(httpConfig(tt.set), authv2.WithInsecurePasswordHashing())
		var ce *authv2.ConfigError
		require.ErrorAs(t, err, &ce, name)
		assert.Equal(t, tt.field, ce.Field, name)
	}
	m, err := authv2.New(httpConfig(func(c *authv2.HTTPConfig) { c.SameSite = http.SameSiteStrictMode }), authv2.WithInsecurePasswordHashing())
	require.NoError(t, err)
	require.NoError(t, m.Close(context.Background()))
}

func TestContextHelpers(t *testing.T) {
	ctx := t.Context()
	_, ok := authv2.PrincipalFrom(ctx)
	assert.False(t, ok)
	assert.Panics(t, func() { authv2.MustPrincipal(ctx) })
	_, ok = authv2.TokenFrom(ctx)
	assert.False(t, ok)
	_, ok = authv2.ClientFrom(ctx)
	assert.False(t, ok)

	p := &authv2.Principal{UserID: "u1", TenantID: "acme"}
	ctx = authv2.WithPrincipal(ctx, p)
	got, ok := authv2.PrincipalFrom(ctx)
	require.True(t, ok)
	assert.Same(t, p, got)
	assert.Same(t, p, authv2.MustPrincipal(ctx))

	_, ok = authv2.PrincipalFrom(authv2.WithPrincipal(t.Context(), nil))
	assert.False(t, ok, "a nil principal is no principal")
}

func TestSetSessionCookie(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada@example.com")
	res := e.login(t, "ada@example.com")

	// Over TLS: every attribute.
	r := httptest.NewRequest(http.MethodPost, "https://api.example.com/login", nil)
	r.TLS = &tls.ConnectionState{}
	rec := httptest.NewRecorder()
	require.NoError(t, e.m.SetSessionCookie(rec, r, res))
	cs := rec.Result().Cookies()
	require.Len(t, cs, 2, "the session cookie and the device cookie")
	c := cs[0]
	assert.Equal(t, "__Host-authv2", c.Name)
	assert.Equal(t, res.Token, c.Value)
	assert.True(t, c.Secure)
	assert.True(t, c.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	assert.Equal(t, "/", c.Path)
	assert.Empty(t, c.Domain)
	assert.True(t, c.Expires.Equal(res.Session.AbsoluteExpiresAt.Truncate(1e9)), "expires %v, want %v", c.Expires, res.Session.AbsoluteExpiresAt)
	assert.Equal(t, int(res.Session.AbsoluteExpiresAt.Sub(t0).Seconds()), c.MaxAge)
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	// The device cookie: the same attributes, the device's own lifetime,
	// and a login handler reads it back with DeviceToken.
	d := cs[1]
	assert.Equal(t, "__Host-authv2-device", d.Name)
	assert.Equal(t, res.DeviceToken, d.Value)
	assert.True(t, d.Secure)
	assert.True(t, d.HttpOnly)
	assert.Equal(t, "/", d.Path)
	assert.Equal(t, 90*24*3600, d.MaxAge)
	next := httptest.NewRequest(http.MethodPost, "https://api.example.com/login", nil)
	next.AddCookie(d)
	assert.Equal(t, res.DeviceToken, e.m.DeviceToken(next))
	assert.Empty(t, e.m.DeviceToken(r), "no device cookie, no token")

	// Plain HTTP: refused with a typed error, nothing sent.
	r = httptest.NewRequest(http.MethodPost, "http://api.example.com/login", nil)
	rec = httptest.NewRecorder()
	err := e.m.SetSessionCookie(rec, r, res)
	var ie *authv2.InsecureCookieError
	require.ErrorAs(t, err, &ie)
	assert.ErrorIs(t, err, authv2.ErrInsecureCookie)
	assert.Empty(t, rec.Result().Cookies())

	// X-Forwarded-Proto from an untrusted peer changes nothing...
	r.Header.Set("X-Forwarded-Proto", "https")
	assert.ErrorIs(t, e.m.SetSessionCookie(httptest.NewRecorder(), r, res), authv2.ErrInsecureCookie)

	// ...but from a trusted proxy, seen through the middleware, it does.
	r.RemoteAddr = "10.0.0.1:1234"
	var setErr error
	rec = httptest.NewRecorder()
	proxied := e.withHTTP(t, func(c *authv2.HTTPConfig) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		c.SameSite = http.SameSiteStrictMode
	})
	proxied.Middleware()(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { setErr = proxied.SetSessionCookie(w, r, res) }),
	).ServeHTTP(rec, r)
	require.NoError(t, setErr)
	require.Len(t, rec.Result().Cookies(), 2)
	assert.Equal(t, http.SameSiteStrictMode, rec.Result().Cookies()[0].SameSite, "Config.HTTP's SameSite applies")

	// Development mode: plain HTTP allowed, without prefix and Secure.
	r = httptest.NewRequest(http.MethodPost, "http://localhost:8080/login", nil)
	rec = httptest.NewRecorder()
	dev := e.withHTTP(t, func(c *authv2.HTTPConfig) { c.DevelopmentMode = true })
	dev.Middleware()(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { setErr = dev.SetSessionCookie(w, r, res) }),
	).ServeHTTP(rec, r)
	require.NoError(t, setErr)
	c = rec.Result().Cookies()[0]
	assert.Equal(t, "authv2", c.Name)
	assert.False(t, c.Secure)
	assert.True(t, c.HttpOnly)

	assert.Error(t, e.m.SetSessionCookie(httptest.NewRecorder(), r, nil))
}

func TestClearSessionCookie(t *testing.T) {
	e := newEnv(t)
	rec := httptest.NewRecorder()
	e.m.ClearSessionCookie(rec, nil)
	cs := rec.Result().Cookies()
	require.Len(t, cs, 1, "the device cookie stays: logging out does not make the device a stranger")
	assert.Equal(t, "__Host-authv2", cs[0].Name)
	assert.Empty(t, cs[0].Value)
	assert.Less(t, cs[0].MaxAge, 0)
	assert.True(t, cs[0].Secure, "browsers ignore a __Host- cookie without Secure, even to delete it")
	assert.Equal(t, "/", cs[0].Path)
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
}

func TestProblemFor(t *testing.T) {
	tests := []struct {
		err    error
		status int
	}{
		{authv2.ErrUnauthenticated, 401},
		{authv2.ErrSessionRevoked, 401},
		{authv2.ErrSessionExpired, 401},
		{authv2.ErrInvalidCredentials, 401},
		{authv2.ErrForbidden, 403},
		{authv2.ErrCrossOrigin, 403},
		{authv2.ErrNotMember, 403},
		{&authv2.ThrottledError{}, 429},
		{&authv2.ValidationError{Fields: []authv2.FieldError{{Field: "Email", Reason: "is required"}}}, 400},
		{authv2.ErrUserExists, 409},
		{authv2.ErrNotFound, 404},
		{store.Unavailable("x", errors.New("redis: i/o timeout")), 503},
		{context.DeadlineExceeded, 503},
		{errors.New("pq: relation users does not exist"), 500},
	}
	for _, tt := range tests {
		p := authv2.ProblemFor(tt.err)
		assert.Equal(t, tt.status, p.Status, "%v", tt.err)
		assert.True(t, strings.HasPrefix(p.Type, "urn:authv2:problem:"))
		assert.Empty(t, p.Detail)
		rec := httptest.NewRecorder()
		authv2.DefaultErrorHandler(rec, httptest.NewRequest(http.MethodGet, "/", nil), tt.err)
		body := rec.Body.String()
		assert.NotContains(t, body, "pq:")
		assert.NotContains(t, body, "redis:")
		assert.Equal(t, tt.status, decodeProblem(t, rec).Status)
	}
	rec := httptest.NewRecorder()
	authv2.DefaultErrorHandler(rec, httptest.NewRequest(http.MethodGet, "/", nil), &authv2.ThrottledError{RetryAfter: 1500e6})
	assert.Equal(t, "2", rec.Header().Get("Retry-After"))
}
