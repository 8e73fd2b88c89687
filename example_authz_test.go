package authv2_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
)

// exampleClerk creates tenant acme with a clerk role (read orders,
// refund up to 500), binds a new user to it at store 42 and returns the
// user's session token.
func exampleClerk(ctx context.Context, m *authv2.Manager) string {
	if _, err := m.CreateTenant(ctx, "acme", "Acme Inc."); err != nil {
		panic(err)
	}
	u, err := m.Register(ctx, authv2.RegisterInput{Email: "clerk@example.com", Password: "correct horse battery staple", TenantID: "acme"})
	if err != nil {
		panic(err)
	}
	err = m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "clerk", Grants: []permission.Grant{
		{Permission: "orders:read", Effect: permission.Allow},
		{Permission: "orders:refund", Effect: permission.Allow, Condition: "resource.amount <= 500.0"},
	}})
	if err != nil {
		panic(err)
	}
	if err := m.Bind(ctx, permission.Binding{UserID: u.ID, TenantID: "acme", Role: "clerk", Scope: "store:42"}); err != nil {
		panic(err)
	}
	res, err := m.Login(ctx, authv2.LoginInput{Email: "clerk@example.com", Password: "correct horse battery staple"})
	if err != nil {
		panic(err)
	}
	return res.Token
}

// Define a role with PutRole, give it to a user at a scope with Bind,
// and ask Authorize: the grant applies at the bound scope and below, a
// condition reads the resource's attributes, and nothing else is allowed.
func ExampleManager_Authorize() {
	ctx := context.Background()
	m := exampleManager()
	defer m.Close(ctx)
	token := exampleClerk(ctx, m)
	p, err := m.Authenticate(ctx, token, session.ClientInfo{})
	if err != nil {
		panic(err)
	}

	for _, c := range []struct {
		action string
		res    permission.Resource
	}{
		{"read", permission.Resource{Type: "orders", ID: "o-1", TenantID: "acme", Scope: "store:42"}},
		{"refund", permission.Resource{Type: "orders", ID: "o-1", TenantID: "acme", Scope: "store:42",
			Attributes: map[string]any{"amount": 120.0}}},
		{"refund", permission.Resource{Type: "orders", ID: "o-2", TenantID: "acme", Scope: "store:42",
			Attributes: map[string]any{"amount": 900.0}}},
		{"read", permission.Resource{Type: "orders", ID: "o-3", TenantID: "acme", Scope: "store:7"}},
		{"read", permission.Resource{Type: "orders", ID: "o-4", TenantID: "globex", Scope: "store:42"}},
	} {
		d, err := m.Authorize(ctx, p, c.action, c.res)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s %s (%s %s): %v, %s\n", c.action, c.res.ID, c.res.TenantID, c.res.Scope, d.Allowed, d.Reason)
	}
	// Output:
	// read o-1 (acme store:42): true, allowed by grant
	// refund o-1 (acme store:42): true, allowed by grant
	// refund o-2 (acme store:42): false, no grant matches
	// read o-3 (acme store:7): false, no grant matches
	// read o-4 (globex store:42): false, resource belongs to another tenant
}

// Protect a route with Require behind Middleware: 401 for anonymous
// requests, 403 when the policy denies, the handler when it allows. The
// resource comes from where the order lives, never from the client.
func ExampleManager_Require() {
	ctx := context.Background()
	m := exampleManager()
	defer m.Close(ctx)
	token := exampleClerk(ctx, m)

	amounts := map[string]float64{"o-1": 120, "o-2": 900} // the orders "table"
	order := func(r *http.Request) permission.Resource {
		return permission.Resource{Type: "orders", ID: r.PathValue("id"), TenantID: "acme", Scope: "store:42",
			Attributes: map[string]any{"amount": amounts[r.PathValue("id")]}}
	}
	refund := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "refunded") })
	mux := http.NewServeMux()
	mux.Handle("POST /orders/{id}/refund", m.Middleware()(m.Require("refund", order)(refund)))

	for _, c := range []struct{ id, token string }{{"o-1", ""}, {"o-1", token}, {"o-2", token}} {
		req := httptest.NewRequest("POST", "/orders/"+c.id+"/refund", nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(c.id, c.token != "", rec.Code, rec.Header().Get("Authv2-Decision-Id") != "")
	}
	// Output:
	// o-1 false 401 false
	// o-1 true 200 true
	// o-2 true 403 true
}
