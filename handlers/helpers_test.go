package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/handlers"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/user"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const password = "correct horse battery staple"

// mailbox is a Notifier that keeps the last token sent to each address.
type mailbox struct {
	mu     sync.Mutex
	tokens map[string]string // "reset:" or "verify:" + email → token
	exists map[string]int    // AccountExists notices per email
}

func newMailbox() *mailbox { return &mailbox{tokens: map[string]string{}, exists: map[string]int{}} }

func (b *mailbox) put(key, tok string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens[key] = tok
	return nil
}

func (b *mailbox) PasswordReset(_ context.Context, u *user.User, tok string) error {
	return b.put("reset:"+u.Email, tok)
}

func (b *mailbox) EmailVerification(_ context.Context, u *user.User, tok string) error {
	email := u.Email
	if u.PendingEmail != "" {
		email = u.PendingEmail
	}
	return b.put("verify:"+email, tok)
}

func (b *mailbox) Invitation(_ context.Context, inv *permission.Invitation, tok string) error {
	return b.put("invite:"+inv.Email, tok)
}

func (b *mailbox) AccountExists(_ context.Context, u *user.User) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.exists[u.Email]++
	return nil
}

// token waits for the token under key: the Manager notifies in the
// background.
func (b *mailbox) token(t *testing.T, key string) string {
	t.Helper()
	var tok string
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		tok = b.tokens[key]
		return tok != ""
	}, 5*time.Second, 5*time.Millisecond, "no token for %s", key)
	return tok
}

// env is a kit mounted under /auth behind the Manager's middleware, as the
// package documentation shows, served over TLS so the __Host- cookie
// travels as in production.
type env struct {
	t    *testing.T
	m    *authv2.Manager
	mail *mailbox
	ts   *httptest.Server
}

func newEnv(t *testing.T, opts ...authv2.Option) *env {
	t.Helper()
	mail := newMailbox()
	m := authv2test.NewManager(t, append([]authv2.Option{authv2.WithNotifier(mail)}, opts...)...)
	mux := http.NewServeMux()
	mux.Handle("/auth/", http.StripPrefix("/auth", m.Middleware()(handlers.New(m))))
	ts := httptest.NewTLSServer(mux)
	t.Cleanup(ts.Close)
	return &env{t: t, m: m, mail: mail, ts: ts}
}

// client talks to the kit: with a jar it is a browser, with a token (or
// bearer mode) an API client.
type client struct {
	t      *testing.T
	base   string
	hc     *http.Client
	token  string
	bearer bool // sends Authv2-Auth-Mode: bearer
}

func (e *env) browser() *client {
	jar, err := cookiejar.New(nil)
	require.NoError(e.t, err)
	hc := *e.ts.Client()
	hc.Jar = jar
	return &client{t: e.t, base: e.ts.URL + "/auth", hc: &hc}
}

func (e *env) api(token string) *client {
	hc := *e.ts.Client()
	return &client{t: e.t, base: e.ts.URL + "/auth", hc: &hc, token: token, bearer: true}
}

// do sends body (JSON-encoded unless it is a []byte or string) with header
// pairs and returns the response and its body.
func (c *client) do(method, path string, body any, header ...string) (*http.Response, []byte) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		require.NoError(c.t, err)
		rd = bytes.NewReader(j)
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

// must sends a request and requires the status.
func (c *client) must(method, path string, body any, status int, header ...string) []byte {
	c.t.Helper()
	resp, out := c.do(method, path, body, header...)
	require.Equal(c.t, status, resp.StatusCode, "%s %s: %s", method, path, out)
	return out
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(b, &v), string(b))
	return v
}

// problem is an RFC 9457 problem as clients read it.
type problem struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Errors []struct {
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"errors"`
}

// requireProblem checks a problem+json answer and returns it.
func requireProblem(t *testing.T, resp *http.Response, body []byte, status int, typ string) problem {
	t.Helper()
	require.Equal(t, status, resp.StatusCode, string(body))
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	p := decode[problem](t, body)
	require.Equal(t, "urn:authv2:problem:"+typ, p.Type)
	return p
}

func fields(p problem) []string {
	var out []string
	for _, f := range p.Errors {
		out = append(out, f.Field)
	}
	return out
}

type userResp struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Status   string `json:"status"`
	TenantID string `json:"tenant_id"`
}

type sessionResp struct {
	SessionID   string    `json:"session_id"`
	TenantID    string    `json:"tenant_id"`
	ExpiresAt   time.Time `json:"expires_at"`
	Token       string    `json:"token"`
	DeviceToken string    `json:"device_token"`
}

type meResp struct {
	userResp
	SessionID string   `json:"session_id"`
	Roles     []string `json:"roles"`
}

// register creates an account through the kit.
func (e *env) register(email string) userResp {
	e.t.Helper()
	return decode[userResp](e.t, e.api("").must("POST", "/register", map[string]string{"email": email, "password": password}, http.StatusCreated))
}

// loginAPI logs in as a bearer client and returns the client holding the token.
func (e *env) loginAPI(email string) (*client, sessionResp) {
	e.t.Helper()
	s := decode[sessionResp](e.t, e.api("").must("POST", "/login", map[string]string{"email": email, "password": password}, http.StatusOK))
	require.NotEmpty(e.t, s.Token)
	return e.api(s.Token), s
}

// loginBrowser logs in with a cookie jar.
func (e *env) loginBrowser(email string) (*client, sessionResp) {
	e.t.Helper()
	c := e.browser()
	s := decode[sessionResp](e.t, c.must("POST", "/login", map[string]string{"email": email, "password": password}, http.StatusOK))
	return c, s
}

// tenant creates a tenant with roles, each allowing one permission
// pattern (role name → pattern).
func (e *env) tenant(id string, roles map[string]string) {
	e.t.Helper()
	_, err := e.m.CreateTenant(e.t.Context(), id, id)
	require.NoError(e.t, err)
	for name, perm := range roles {
		require.NoError(e.t, e.m.PutRole(e.t.Context(), &permission.Role{TenantID: id, Name: name,
			Grants: []permission.Grant{{Permission: perm, Effect: permission.Allow}}}))
	}
}
