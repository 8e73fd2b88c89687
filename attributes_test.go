package authv2_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

// departmentRule lets a user read the reports of their own department:
// the condition reads the principal's attributes.
const departmentRule = "principal.attributes.department == resource.department"

// departments sets up tenants acme and globex, each with a reader role
// whose grant has departmentRule, and a user of department "sales" bound
// to it in both. It returns the user's ID and a login token.
func departments(t testing.TB, e *env) (userID, tok string) {
	t.Helper()
	ctx := context.Background()
	for _, id := range []string{"acme", "globex"} {
		_, err := e.m.CreateTenant(ctx, id, id)
		require.NoError(t, err)
		require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: id, Name: "reader", Grants: []permission.Grant{
			{Permission: "reports:read", Effect: permission.Allow, Condition: departmentRule},
		}}))
	}
	u, err := e.m.Register(ctx, authv2.RegisterInput{Email: "ann@acme.test", Password: goodPassword, TenantID: "acme",
		Attributes: map[string]string{"department": "sales"}})
	require.NoError(t, err)
	for _, id := range []string{"acme", "globex"} {
		require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: u.ID, TenantID: id, Role: "reader"}))
	}
	return u.ID, e.login(t, "ann@acme.test").Token
}

func report(tenant, department string) permission.Resource {
	return permission.Resource{Type: "reports", ID: "r-1", TenantID: tenant, Attributes: map[string]any{"department": department}}
}

// canRead authenticates tok and checks reports:read on a report of
// department in tenant.
func canRead(t *testing.T, e *env, tok, tenant, department string) bool {
	t.Helper()
	p, err := e.m.Authenticate(t.Context(), tok, session.ClientInfo{})
	require.NoError(t, err)
	d, err := e.m.Authorize(t.Context(), p, "read", report(tenant, department))
	require.NoError(t, err)
	return d.Allowed
}

// The user's attributes reach conditions as principal.attributes: fixed
// at login, so a change to the user shows only once the session rotates,
// and then in the successor.
func TestPrincipalAttributesInConditions(t *testing.T) {
	e := newEnv(t)
	userID, tok := departments(t, e)
	ctx := t.Context()

	assert.True(t, canRead(t, e, tok, "acme", "sales"), "the user's own department")
	assert.False(t, canRead(t, e, tok, "acme", "support"), "another department")

	_, err := e.stores.Users.Update(ctx, userID, func(u *user.User) error {
		u.Attributes = map[string]string{"department": "support"}
		return nil
	})
	require.NoError(t, err)
	assert.True(t, canRead(t, e, tok, "acme", "sales"), "fixed at login: Authenticate does not read the user")

	switched, err := e.m.SwitchTenant(ctx, tok, "globex", "")
	require.NoError(t, err)
	assert.True(t, canRead(t, e, switched.Token, "globex", "support"), "refreshed by the rotation")
	assert.False(t, canRead(t, e, switched.Token, "globex", "sales"))

	_, err = e.stores.Users.Update(ctx, userID, func(u *user.User) error {
		u.Attributes = nil
		return nil
	})
	require.NoError(t, err)
	rotated, err := e.m.RotateSession(ctx, switched.Token)
	require.NoError(t, err)
	p, err := e.m.Authenticate(ctx, rotated.Token, session.ClientInfo{})
	require.NoError(t, err)
	d, err := e.m.Authorize(ctx, p, "read", report("globex", "support"))
	require.NoError(t, err)
	assert.False(t, d.Allowed, "attributes removed from the user are gone after the next rotation")
}

// The Principal shows the attributes it was authorized with, and one
// built by hand (as tests do with WithPrincipal) is authorized with its
// own.
func TestPrincipalAttributesField(t *testing.T) {
	e := newEnv(t)
	userID, tok := departments(t, e)
	p, err := e.m.Authenticate(t.Context(), tok, session.ClientInfo{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"department": "sales"}, p.Attributes)

	byHand := &authv2.Principal{UserID: userID, TenantID: "acme", Attributes: map[string]string{"department": "legal"}}
	assert.True(t, e.m.Can(t.Context(), byHand, "read", report("acme", "legal")))
	assert.False(t, e.m.Can(t.Context(), byHand, "read", report("acme", "sales")))
}

// exporters adds to departments a role "exporter" in acme whose grant
// reads both the principal's and the request's attributes, and binds the
// user to it.
func exporters(t *testing.T, e *env, userID string) {
	t.Helper()
	require.NoError(t, e.m.PutRole(t.Context(), &permission.Role{TenantID: "acme", Name: "exporter", Grants: []permission.Grant{
		{Permission: "reports:export", Effect: permission.Allow, Condition: `principal.department == resource.department && request.format == "csv"`},
		{Permission: "reports:audit", Effect: permission.Allow, Condition: `request.ip == "192.0.2.7"`},
	}}))
	require.NoError(t, e.m.Bind(t.Context(), permission.Binding{UserID: userID, TenantID: "acme", Role: "exporter"}))
}

// Require decides on the principal's attributes, and with WithRequest on
// the request's.
func TestRequireWithAttributes(t *testing.T) {
	e := newEnv(t)
	userID, tok := departments(t, e)
	exporters(t, e, userID)
	reportOf := func(r *http.Request) permission.Resource { return report("acme", r.PathValue("dept")) }
	format := authv2.WithRequest(func(r *http.Request) permission.Request {
		return permission.Request{Attributes: map[string]any{"format": r.URL.Query().Get("format")}}
	})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux := http.NewServeMux()
	mux.Handle("GET /reports/{dept}", e.m.Require("read", reportOf)(ok))
	mux.Handle("GET /export/{dept}", e.m.Require("export", reportOf, format)(ok))
	mux.Handle("GET /export-without-request/{dept}", e.m.Require("export", reportOf)(ok))
	h := e.m.Middleware()(mux)
	get := func(path string) int {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}

	assert.Equal(t, http.StatusOK, get("/reports/sales"))
	assert.Equal(t, http.StatusForbidden, get("/reports/support"))
	assert.Equal(t, http.StatusOK, get("/export/sales?format=csv"))
	assert.Equal(t, http.StatusForbidden, get("/export/sales?format=pdf"))
	assert.Equal(t, http.StatusForbidden, get("/export/support?format=csv"))
	assert.Equal(t, http.StatusForbidden, get("/export-without-request/sales?format=csv"), "no request facts: the condition cannot hold")
}

// AuthorizeBatch passes one request's facts to every decision; an empty
// IP is the principal's client.
func TestAuthorizeBatchWithRequest(t *testing.T) {
	e := newEnv(t)
	userID, tok := departments(t, e)
	exporters(t, e, userID)
	p, err := e.m.Authenticate(t.Context(), tok, session.ClientInfo{IP: "192.0.2.7"})
	require.NoError(t, err)
	qs := []permission.Query{
		{Action: "read", Resource: report("acme", "sales")},
		{Action: "read", Resource: report("acme", "support")},
		{Action: "export", Resource: report("acme", "sales")},
		{Action: "audit", Resource: report("acme", "sales")},
	}
	allowed := func(req permission.Request) []bool {
		ds, err := e.m.AuthorizeBatch(t.Context(), p, qs, req)
		require.NoError(t, err)
		out := make([]bool, len(ds))
		for i, d := range ds {
			out[i] = d.Allowed
		}
		return out
	}
	assert.Equal(t, []bool{true, false, true, true}, allowed(permission.Request{Attributes: map[string]any{"format": "csv"}}))
	assert.Equal(t, []bool{true, false, false, true}, allowed(permission.Request{Attributes: map[string]any{"format": "pdf"}}))
	assert.Equal(t, []bool{true, false, false, false}, allowed(permission.Request{IP: "198.51.100.1"}), "an IP given wins over the client's")
}
