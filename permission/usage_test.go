package permission_test

import (
	"cmp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
)

func sortedUse(us []permission.GrantUse) []permission.GrantUse {
	slices.SortFunc(us, func(a, b permission.GrantUse) int {
		return cmp.Or(cmp.Compare(a.TenantID, b.TenantID), cmp.Compare(a.Role, b.Role), cmp.Compare(a.Permission, b.Permission))
	})
	return us
}

// Every allowed check counts for the grant that allowed it, per tenant and
// role: from the cache, the fast path and a condition alike, and for a
// template's grant in the tenant that used it. Denials, Explain and Who
// count nothing.
func TestTakeGrantUseCountsEveryAllow(t *testing.T) {
	f := newFixture(t, "acme", "globex")
	f.role(permission.GlobalTenant, "viewer", nil, allow("orders:read"))
	f.role("acme", "clerk", []string{"viewer"}, allowIf("orders:refund", "request.amount <= 500.0"), allow("invoices:*"), deny("secrets:read"))
	f.role("acme", "auditor", nil, allow("orders:read"))
	f.bind("acme", "u1", "clerk", "")
	f.bind("globex", "u2", "viewer", "")
	e := f.engine()
	ctx := t.Context()
	check := func(tenant, user, perm string, req permission.Request, want bool) {
		t.Helper()
		typ, action, _ := strings.Cut(perm, ":")
		d, err := e.Authorize(ctx, subject(tenant, user), action, resource(tenant, typ, ""), req)
		require.NoError(t, err)
		require.Equal(t, want, d.Allowed, perm)
	}
	for range 3 { // the second and third from the cache
		check("acme", "u1", "orders:read", permission.Request{}, true)
	}
	check("acme", "u1", "orders:refund", permission.Request{Attributes: map[string]any{"amount": 100}}, true)
	check("acme", "u1", "invoices:send", permission.Request{}, true)
	check("globex", "u2", "orders:read", permission.Request{}, true)
	check("globex", "u2", "orders:ship", permission.Request{}, false)
	check("acme", "u1", "orders:refund", permission.Request{Attributes: map[string]any{"amount": 900}}, false)
	ds, err := e.AuthorizeBatch(ctx, subject("acme", "u1"), permission.Request{}, []permission.Query{
		{Action: "read", Resource: resource("acme", "orders", "")},
		{Action: "read", Resource: resource("acme", "secrets", "")},
	})
	require.NoError(t, err)
	require.True(t, ds[0].Allowed)
	require.False(t, ds[1].Allowed)
	_, err = e.Explain(ctx, subject("acme", "u1"), "read", resource("acme", "orders", ""), permission.Request{})
	require.NoError(t, err)
	who, err := e.Who(ctx, "acme", "read", resource("acme", "orders", ""), permission.Request{})
	require.NoError(t, err)
	require.Equal(t, []string{"u1"}, who)

	assert.Equal(t, []permission.GrantUse{
		{TenantID: "acme", Role: "clerk", Permission: "invoices:*", Count: 1},
		{TenantID: "acme", Role: "clerk", Permission: "orders:refund", Count: 1},
		{TenantID: "acme", Role: "viewer", Permission: "orders:read", Count: 4},
		{TenantID: "globex", Role: "viewer", Permission: "orders:read", Count: 1},
	}, sortedUse(e.TakeGrantUse()))
	assert.Empty(t, e.TakeGrantUse(), "counting starts afresh")
	check("acme", "u1", "orders:read", permission.Request{}, true)
	assert.Equal(t, []permission.GrantUse{{TenantID: "acme", Role: "viewer", Permission: "orders:read", Count: 1}}, e.TakeGrantUse())
}

// A policy change recompiles the set; the grant keeps its counter.
func TestTakeGrantUseSurvivesRecompilation(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "clerk", nil, allow("orders:read"))
	f.bind("acme", "u1", "clerk", "")
	e := f.engine(permission.WithMaxStaleness(0))
	ctx := t.Context()
	require.True(t, e.Check(ctx, subject("acme", "u1"), "read", resource("acme", "orders", ""), permission.Request{}))
	f.role("acme", "clerk", nil, allow("orders:read"), allow("orders:ship"))
	require.True(t, e.Check(ctx, subject("acme", "u1"), "read", resource("acme", "orders", ""), permission.Request{}))
	assert.Equal(t, []permission.GrantUse{{TenantID: "acme", Role: "clerk", Permission: "orders:read", Count: 2}}, e.TakeGrantUse())
}
