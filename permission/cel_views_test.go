package permission_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
)

// TestConditionsSeeWholeMaps exercises the ways a rule can read
// principal, resource and request beyond field access: membership,
// indexing, size, iteration, equality and the fixed keys.
func TestConditionsSeeWholeMaps(t *testing.T) {
	cases := []struct {
		cond string
		want bool
	}{
		{`'amount' in request`, true},
		{`'missing' in request`, false},
		{`request['amount'] > 1.0`, true},
		{`size(request) >= 4`, true},
		{`request.exists(k, k == 'amount')`, true},
		{`request.all(k, k != 'forbidden')`, true},
		{`request == request`, true},
		{`principal.id == resource.owner`, true},
		{`principal.tenant == resource.tenant && resource.type == 'orders' && resource.id == 'o-1'`, true},
		{`resource.scope.startsWith('region:eu')`, true},
		{`principal.scope == ''`, true},
		{`principal.roles.exists(r, r == 'clerk')`, true},
		{`principal.attributes.level >= 2`, true},
		{`principal.level >= 2 && size(principal) >= 5`, true},
		{`resource.attributes.owner == 'u1' && size(resource) >= 5 && 'owner' in resource`, true},
		{`request.ip == '192.0.2.1'`, true},
		{`request.time.getFullYear() == 2026`, true},
		{`has(request.attributes.nothere)`, false},
		{`request.amount > 500.0`, false},
	}
	for _, c := range cases {
		t.Run(c.cond, func(t *testing.T) {
			f := newFixture(t, "acme")
			f.role("acme", "clerk", nil, permission.Grant{Permission: "orders:read", Effect: permission.Allow, Condition: c.cond})
			f.bind("acme", "u1", "clerk", "")
			e, err := permission.NewEngine(f.store)
			require.NoError(t, err)
			t.Cleanup(func() { _ = e.Close() })
			subj := permission.Subject{UserID: "u1", TenantID: "acme", Attributes: map[string]any{"level": 3}}
			res := permission.Resource{Type: "orders", ID: "o-1", TenantID: "acme", Scope: "region:eu/store:1",
				Attributes: map[string]any{"owner": "u1"}}
			req := permission.Request{IP: "192.0.2.1", Time: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC),
				Attributes: map[string]any{"amount": 120.0}}
			d, err := e.Authorize(f.ctx, subj, "read", res, req)
			require.NoError(t, err)
			assert.Equal(t, c.want, d.Allowed, "%s: %s", c.cond, d.Reason)
			assert.Equal(t, permission.Allow == d.Effect, d.Allowed)
		})
	}
}

func TestEngineSmallAPI(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "clerk", nil, permission.Grant{Permission: "orders:read", Effect: permission.Allow})
	f.bind("acme", "u1", "clerk", "")
	e, err := permission.NewEngine(f.store, permission.WithCELOptions())
	require.NoError(t, err)
	defer e.Close()
	assert.Zero(t, e.CacheMisses())
	d, err := e.Authorize(f.ctx, permission.Subject{UserID: "u1", TenantID: "acme"}, "read", permission.Resource{Type: "orders", TenantID: "acme"}, permission.Request{})
	require.NoError(t, err)
	assert.True(t, d.Allowed)
	assert.Equal(t, int64(1), e.CacheMisses())
	assert.NotEmpty(t, d.ID.String())
	assert.Equal(t, "clerk", d.Rule().Role)
	var ce *permission.CycleError
	err = f.store.PutRole(f.ctx, &permission.Role{TenantID: "acme", Name: "clerk", Parents: []string{"clerk"}})
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, ce.Error(), "clerk -> clerk")
	assert.ErrorIs(t, err, permission.ErrCycle)
}
