package permission_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store/memory"
)

// fixture is a memory store with tenants, roles and bindings added
// through helpers that fail the test on error.
type fixture struct {
	t     testing.TB
	ctx   context.Context
	store *memory.PermissionStore
}

func newFixture(t testing.TB, tenants ...string) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), store: memory.NewPermissionStore()}
	for _, id := range tenants {
		require.NoError(t, f.store.CreateTenant(f.ctx, &permission.Tenant{ID: id, Name: id}))
	}
	return f
}

func (f *fixture) role(tenant, name string, parents []string, grants ...permission.Grant) {
	f.t.Helper()
	require.NoError(f.t, f.store.PutRole(f.ctx, &permission.Role{TenantID: tenant, Name: name, Parents: parents, Grants: grants}))
}

func (f *fixture) bind(tenant, user, role, scope string) {
	f.t.Helper()
	require.NoError(f.t, f.store.PutBinding(f.ctx, permission.Binding{TenantID: tenant, UserID: user, Role: role, Scope: scope}))
}

func (f *fixture) engine(opts ...permission.EngineOption) *permission.Engine {
	f.t.Helper()
	e, err := permission.NewEngine(f.store, opts...)
	require.NoError(f.t, err)
	f.t.Cleanup(func() { _ = e.Close() })
	return e
}

func allow(perm string) permission.Grant {
	return permission.Grant{Permission: perm, Effect: permission.Allow}
}
func deny(perm string) permission.Grant {
	return permission.Grant{Permission: perm, Effect: permission.Deny}
}
func allowIf(perm, cond string) permission.Grant {
	return permission.Grant{Permission: perm, Effect: permission.Allow, Condition: cond}
}
func denyIf(perm, cond string) permission.Grant {
	return permission.Grant{Permission: perm, Effect: permission.Deny, Condition: cond}
}

func subject(tenant, user string) permission.Subject {
	return permission.Subject{TenantID: tenant, UserID: user}
}

func resource(tenant, typ, scope string) permission.Resource {
	return permission.Resource{TenantID: tenant, Type: typ, ID: "1", Scope: scope}
}

// fakeClock is a settable clock for expiry tests.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
