package authv2_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

// refundEnv has tenants acme and globex, a role "clerk" in acme that may
// refund up to 500, and ada, a clerk of acme.
func refundEnv(t *testing.T) (*env, *authv2.LoginResult) {
	t.Helper()
	e := newEnv(t)
	ctx := t.Context()
	for _, id := range []string{"acme", "globex"} {
		_, err := e.m.CreateTenant(ctx, id, id)
		require.NoError(t, err)
	}
	u, err := e.m.Register(ctx, authv2.RegisterInput{Email: "ada@example.com", Password: goodPassword, TenantID: "acme"})
	require.NoError(t, err)
	require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "clerk", Grants: []permission.Grant{
		{Permission: "orders:refund", Effect: permission.Allow, Condition: "resource.amount <= 500.0"},
	}}))
	require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: u.ID, TenantID: "acme", Role: "clerk"}))
	return e, e.login(t, "ada@example.com")
}

// orderResource reads the amount from the query and, as an application
// would from its database, the order's tenant from the path.
func orderResource(r *http.Request) permission.Resource {
	amount, _ := strconv.ParseFloat(r.URL.Query().Get("amount"), 64)
	return permission.Resource{Type: "orders", ID: r.PathValue("id"), TenantID: r.PathValue("tenant"),
		Attributes: map[string]any{"amount": amount}}
}

func refundHandler(e *env, opts ...authv2.MiddlewareOption) http.Handler {
	mux := http.NewServeMux()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, found := authv2.DecisionFrom(r.Context())
		if !found || !d.Allowed {
			http.Error(w, "no decision", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.Handle("POST /tenants/{tenant}/orders/{id}/refund", e.m.Require("refund", orderResource, opts...)(ok))
	return e.m.Middleware()(mux)
}

func refund(h http.Handler, tok, tenant, amount string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/tenants/"+tenant+"/orders/o1/refund?amount="+amount, nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	r.Header.Set("X-Tenant-ID", "acme") // a spoofed tenant header must change nothing
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func TestRequire(t *testing.T) {
	e, res := refundEnv(t)
	h := refundHandler(e)

	rec := refund(h, res.Token, "acme", "120")
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Len(t, rec.Header().Get(authv2.DecisionIDHeader), 32)

	// Over the limit: the condition denies.
	rec = refund(h, res.Token, "acme", "900")
	assert.Equal(t, http.StatusForbidden, decodeProblem(t, rec).Status)
	id := rec.Header().Get(authv2.DecisionIDHeader)
	require.Len(t, id, 32)
	var found bool
	for _, ev := range e.sink.OfType(audit.TypeAuthorizeDecision) {
		found = found || (ev.DecisionID == id && ev.Outcome == audit.Denied)
	}
	assert.True(t, found, "the header's decision ID is the audited one")

	// Another tenant's order: denied whatever the header says.
	rec = refund(h, res.Token, "globex", "1")
	assert.Equal(t, http.StatusForbidden, rec.Code)

	// Anonymous: 401.
	rec = refund(h, "", "acme", "1")
	assert.Equal(t, http.StatusUnauthorized, decodeProblem(t, rec).Status)
	assert.Empty(t, rec.Header().Get(authv2.DecisionIDHeader))
}

func TestRequireWithoutMiddlewareIsAnonymous(t *testing.T) {
	e, _ := refundEnv(t)
	h := e.m.Require("refund", orderResource)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("handler reached without a principal")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Panics(t, func() { e.m.Require("refund", nil) })
}

// failingPolicies is a permission store whose policy reads fail.
type failingPolicies struct{ authv2.PermissionStore }

func (failingPolicies) LoadPolicy(context.Context, string, string) (*permission.Policy, error) {
	return nil, store.Unavailable("policy.load", errors.New("redis: connection refused"))
}

func TestRequireFailsClosed(t *testing.T) {
	e, res := refundEnv(t)
	m, err := authv2.New(authv2.WithConfig(authv2test.Config()), authv2.WithInsecurePasswordHashing(), authv2.WithClock(e.clock),
		authv2.WithSessionStore(e.stores.Sessions), authv2.WithUserStore(e.stores.Users),
		authv2.WithPermissionStore(failingPolicies{PermissionStore: e.stores.Permissions}))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
	h := refundHandler(&env{m: m})
	rec := refund(h, res.Token, "acme", "1")
	assert.Equal(t, http.StatusServiceUnavailable, decodeProblem(t, rec).Status)
	assert.NotContains(t, rec.Body.String(), "redis:")

	var got error
	h = refundHandler(&env{m: m}, authv2.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(599)
	}))
	assert.Equal(t, 599, refund(h, res.Token, "acme", "1").Code)
	assert.ErrorIs(t, got, authv2.ErrStoreUnavailable)
}

// TestRequireAuthenticatedReadsTheSessionOnce: behind an optional
// Middleware, RequireAuthenticated refuses anonymous requests with 401 and
// passes authenticated ones on with one session-store read per request,
// where a nested Middleware with RequireAuthentication reads it twice.
func TestRequireAuthenticatedReadsTheSessionOnce(t *testing.T) {
	e := newEnv(t)
	e.register(t, "once@example.com")
	res := e.login(t, "once@example.com")
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authv2.MustPrincipal(r.Context())
		w.WriteHeader(http.StatusNoContent)
	})
	reads := func(h http.Handler, token string) (int, int64) {
		req := httptest.NewRequest(http.MethodGet, "/private", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		before := e.sessions.gets.Load()
		rec := httptest.NewRecorder()
		e.m.Middleware()(h).ServeHTTP(rec, req)
		return rec.Code, e.sessions.gets.Load() - before
	}

	code, n := reads(authv2.RequireAuthenticated(ok), res.Token)
	assert.Equal(t, http.StatusNoContent, code)
	assert.Equal(t, int64(1), n, "one session read per request")
	code, n = reads(authv2.RequireAuthenticated(ok), "")
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Zero(t, n)

	code, n = reads(e.m.Middleware(authv2.RequireAuthentication())(ok), res.Token)
	assert.Equal(t, http.StatusNoContent, code)
	assert.Equal(t, int64(2), n, "the nested Middleware this replaces reads it again")
}

// TestRequireAuthenticatedUsesTheMiddlewaresErrorHandler: the refusal
// goes through the ErrorHandler of the Middleware in front.
func TestRequireAuthenticatedUsesTheMiddlewaresErrorHandler(t *testing.T) {
	e := newEnv(t)
	var got error
	h := e.m.Middleware(authv2.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusTeapot)
	}))(authv2.RequireAuthenticated(http.NotFoundHandler()))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/private", nil))
	assert.Equal(t, http.StatusTeapot, rec.Code)
	assert.ErrorIs(t, got, authv2.ErrUnauthenticated)

	rec = httptest.NewRecorder()
	authv2.RequireAuthenticated(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/private", nil))
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "without a Middleware, DefaultErrorHandler answers")
}
