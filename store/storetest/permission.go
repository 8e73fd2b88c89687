package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

// PermissionStoreFactory returns a fresh, isolated permission.Store.
type PermissionStoreFactory func(t *testing.T) permission.Store

func roleNames(rs []*permission.Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.TenantID + "/" + r.Name
	}
	return out
}

// withTenants returns a fresh store holding the given tenants.
func withTenants(t *testing.T, newStore PermissionStoreFactory, tenants ...string) permission.Store {
	t.Helper()
	s := newStore(t)
	for _, id := range tenants {
		require.NoError(t, s.CreateTenant(ctx(t), &permission.Tenant{ID: id, Name: "Tenant " + id, CreatedAt: base}))
	}
	return s
}

// RunPermissionStore runs the permission.Store conformance cases, grouped by method.
func RunPermissionStore(t *testing.T, newStore PermissionStoreFactory) {
	method(t, "CreateTenant", newStore, permissionCreateTenant)
	method(t, "GetTenant", newStore, permissionGetTenant)
	method(t, "ListTenants", newStore, permissionListTenants)
	method(t, "DeleteTenant", newStore, permissionDeleteTenant)
	method(t, "AddMember", newStore, permissionAddMember)
	method(t, "RemoveUser", newStore, permissionRemoveUser)
	method(t, "PutRole", newStore, permissionPutRole)
	method(t, "DeleteRole", newStore, permissionDeleteRole)
	method(t, "LoadPolicy", newStore, permissionLoadPolicy)
	runMemberStore(t, newStore)
	runDomainStore(t, newStore)
}

func permissionCreateTenant(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("DuplicateConflicts", func(t *testing.T) {
		t.Parallel()
		s := withTenants(t, newStore, "t2", "t1")
		assert.ErrorIs(t, s.CreateTenant(ctx(t), &permission.Tenant{ID: "t1"}), store.ErrConflict)
	})
}

func permissionGetTenant(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := withTenants(t, newStore, "t2", "t1")
		got, err := s.GetTenant(ctx(t), "t1")
		require.NoError(t, err)
		assert.Equal(t, "Tenant t1", got.Name)
	})
	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := withTenants(t, newStore, "t1")
		_, err := s.GetTenant(ctx(t), "nope")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

func permissionListTenants(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("OrderedByID", func(t *testing.T) {
		t.Parallel()
		s := withTenants(t, newStore, "t2", "t1")
		all, err := s.ListTenants(ctx(t))
		require.NoError(t, err)
		require.Len(t, all, 2)
		assert.Equal(t, "t1", all[0].ID)
	})
}

func permissionDeleteTenant(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("SecondDeleteIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := withTenants(t, newStore, "t2", "t1")
		require.NoError(t, s.DeleteTenant(ctx(t), "t2"))
		assert.ErrorIs(t, s.DeleteTenant(ctx(t), "t2"), store.ErrNotFound)
	})
	t.Run("RemovesItsData", func(t *testing.T) {
		t.Parallel()
		s := withTenants(t, newStore, "t1")
		require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: "t1", Name: "r"}))
		require.NoError(t, s.PutBinding(ctx(t), permission.Binding{UserID: "u1", TenantID: "t1", Role: "r"}))
		require.NoError(t, s.AddMember(ctx(t), permission.Membership{UserID: "u1", TenantID: "t1"}))
		require.NoError(t, s.DeleteTenant(ctx(t), "t1"))
		require.NoError(t, s.CreateTenant(ctx(t), &permission.Tenant{ID: "t1"}))
		rs, err := s.ListRoles(ctx(t), "t1")
		require.NoError(t, err)
		assert.Empty(t, rs)
		bs, err := s.ListBindings(ctx(t), "t1", "")
		require.NoError(t, err)
		assert.Empty(t, bs)
		ms, err := s.ListMemberships(ctx(t), "u1")
		require.NoError(t, err)
		assert.Empty(t, ms)
		members, err := s.ListMembers(ctx(t), "t1")
		require.NoError(t, err)
		assert.Empty(t, members, "memberships go with the tenant")
	})
}

func permissionAddMember(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("Memberships", func(t *testing.T) {
		t.Parallel()
		s := withTenants(t, newStore, "t1", "t2")
		require.NoError(t, s.AddMember(ctx(t), permission.Membership{UserID: "u1", TenantID: "t2", CreatedAt: base}))
		require.NoError(t, s.AddMember(ctx(t), permission.Membership{UserID: "u1", TenantID: "t1", CreatedAt: base}))
		require.NoError(t, s.AddMember(ctx(t), permission.Membership{UserID: "u1", TenantID: "t1", CreatedAt: base}), "idempotent")
		assert.ErrorIs(t, s.AddMember(ctx(t), permission.Membership{UserID: "u1", TenantID: "nope"}), store.ErrNotFound)
		ms, err := s.ListMemberships(ctx(t), "u1")
		require.NoError(t, err)
		require.Len(t, ms, 2)
		assert.Equal(t, "t1", ms[0].TenantID)
		require.NoError(t, s.AddMember(ctx(t), permission.Membership{UserID: "u0", TenantID: "t1", CreatedAt: base}))
		members, err := s.ListMembers(ctx(t), "t1")
		require.NoError(t, err)
		require.Len(t, members, 2)
		assert.Equal(t, []string{"u0", "u1"}, []string{members[0].UserID, members[1].UserID}, "ordered by user")
		assert.Equal(t, "t1", members[0].TenantID)
		assert.True(t, members[0].CreatedAt.Equal(base), "created at kept")
		none, err := s.ListMembers(ctx(t), "nope")
		require.NoError(t, err)
		assert.Empty(t, none)
		require.NoError(t, s.RemoveMember(ctx(t), "t1", "u1"))
		assert.ErrorIs(t, s.RemoveMember(ctx(t), "t1", "u1"), store.ErrNotFound)
		ms, err = s.ListMemberships(ctx(t), "u1")
		require.NoError(t, err)
		assert.Len(t, ms, 1)
	})
}

func permissionRemoveUser(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("DropsMembershipsAndBindings", func(t *testing.T) {
		t.Parallel()
		s := withTenants(t, newStore, "t1", "t2", "t3")
		for _, tenant := range []string{"t1", "t3"} {
			require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: tenant, Name: "viewer", CreatedAt: base, UpdatedAt: base}))
		}
		require.NoError(t, s.AddMember(ctx(t), permission.Membership{UserID: "u1", TenantID: "t1", CreatedAt: base}))
		require.NoError(t, s.AddMember(ctx(t), permission.Membership{UserID: "u1", TenantID: "t2", CreatedAt: base}))
		require.NoError(t, s.AddMember(ctx(t), permission.Membership{UserID: "u2", TenantID: "t1", CreatedAt: base}))
		for _, b := range []permission.Binding{
			{UserID: "u1", TenantID: "t1", Role: "viewer", CreatedAt: base},
			{UserID: "u1", TenantID: "t3", Role: "viewer", Scope: "region:eu", CreatedAt: base}, // a binding without membership
			{UserID: "u2", TenantID: "t1", Role: "viewer", CreatedAt: base},
		} {
			require.NoError(t, s.PutBinding(ctx(t), b))
		}
		v1, err := s.Version(ctx(t), "t1")
		require.NoError(t, err)
		v3, err := s.Version(ctx(t), "t3")
		require.NoError(t, err)

		touched, err := s.RemoveUser(ctx(t), "u1")
		require.NoError(t, err)
		assert.Equal(t, []string{"t1", "t2", "t3"}, touched)
		ms, err := s.ListMemberships(ctx(t), "u1")
		require.NoError(t, err)
		assert.Empty(t, ms)
		for _, tenant := range []string{"t1", "t3"} {
			bs, err := s.ListBindings(ctx(t), tenant, "u1")
			require.NoError(t, err)
			assert.Empty(t, bs, tenant)
		}
		after1, err := s.Version(ctx(t), "t1")
		require.NoError(t, err)
		after3, err := s.Version(ctx(t), "t3")
		require.NoError(t, err)
		assert.Greater(t, after1, v1, "a tenant that lost a binding has a new policy version")
		assert.Greater(t, after3, v3)
		others, err := s.ListBindings(ctx(t), "t1", "u2")
		require.NoError(t, err)
		assert.Len(t, others, 1, "other users keep their bindings")
		om, err := s.ListMemberships(ctx(t), "u2")
		require.NoError(t, err)
		assert.Len(t, om, 1)
		touched, err = s.RemoveUser(ctx(t), "u1")
		require.NoError(t, err)
		assert.Empty(t, touched, "removing a user with nothing left touches nothing")
	})
}

func permissionPutRole(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("RoundTripAndVersion", func(t *testing.T) {
		t.Parallel()
		s := withTenants(t, newStore, "t1")
		v0, err := s.Version(ctx(t), "t1")
		require.NoError(t, err)
		r := &permission.Role{TenantID: "t1", Name: "clerk", Description: "'; drop", Grants: []permission.Grant{
			{Permission: "orders:read", Effect: permission.Allow},
			{Permission: "refunds:create", Effect: permission.Allow, Condition: "request.amount <= 500.0"},
			{Permission: "orders:delete", Effect: permission.Deny},
		}, CreatedAt: base, UpdatedAt: base}
		require.NoError(t, s.PutRole(ctx(t), r))
		v1, err := s.Version(ctx(t), "t1")
		require.NoError(t, err)
		assert.Greater(t, v1, v0, "a role write bumps the tenant's version")
		got, err := s.GetRole(ctx(t), "t1", "clerk")
		require.NoError(t, err)
		assert.Equal(t, r.Grants, got.Grants)
		assert.Equal(t, r.Description, got.Description)
		_, err = s.GetRole(ctx(t), "t1", "nope")
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.GetRole(ctx(t), "t2", "clerk")
		assert.ErrorIs(t, err, store.ErrNotFound, "roles are per tenant")
	})
	t.Run("ParentsMustExistAndNoCycles", func(t *testing.T) {
		t.Parallel()
		s := withTenants(t, newStore, "t1")
		assert.ErrorIs(t, s.PutRole(ctx(t), &permission.Role{TenantID: "t1", Name: "a", Parents: []string{"missing"}}), store.ErrNotFound)
		require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: "t1", Name: "c"}))
		require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: "t1", Name: "b", Parents: []string{"c"}}))
		require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: "t1", Name: "a", Parents: []string{"b"}}))
		err := s.PutRole(ctx(t), &permission.Role{TenantID: "t1", Name: "c", Parents: []string{"a"}})
		require.ErrorIs(t, err, permission.ErrCycle)
		var ce *permission.CycleError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, []string{"c", "a", "b", "c"}, ce.Path)
		err = s.PutRole(ctx(t), &permission.Role{TenantID: "t1", Name: "c", Parents: []string{"c"}})
		assert.ErrorIs(t, err, permission.ErrCycle)
		got, err := s.GetRole(ctx(t), "t1", "c")
		require.NoError(t, err)
		assert.Empty(t, got.Parents, "a rejected write changes nothing")
	})
	t.Run("TemplateWriteBumpsEveryTenant", func(t *testing.T) {
		t.Parallel()
		s := withTenants(t, newStore, "t1")
		v0, err := s.Version(ctx(t), "t1")
		require.NoError(t, err)
		require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: permission.GlobalTenant, Name: "viewer"}))
		v1, err := s.Version(ctx(t), "t1")
		require.NoError(t, err)
		assert.Greater(t, v1, v0)
	})
}

func permissionDeleteRole(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("InUseConflicts", func(t *testing.T) {
		t.Parallel()
		s := withTenants(t, newStore, "t1")
		require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: "t1", Name: "base"}))
		require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: "t1", Name: "child", Parents: []string{"base"}}))
		assert.ErrorIs(t, s.DeleteRole(ctx(t), "t1", "base"), store.ErrConflict)
		require.NoError(t, s.PutBinding(ctx(t), permission.Binding{UserID: "u1", TenantID: "t1", Role: "child"}))
		assert.ErrorIs(t, s.DeleteRole(ctx(t), "t1", "child"), store.ErrConflict)
		require.NoError(t, s.DeleteBinding(ctx(t), permission.Binding{UserID: "u1", TenantID: "t1", Role: "child"}))
		require.NoError(t, s.DeleteRole(ctx(t), "t1", "child"))
		require.NoError(t, s.DeleteRole(ctx(t), "t1", "base"))
		assert.ErrorIs(t, s.DeleteRole(ctx(t), "t1", "base"), store.ErrNotFound)
	})
}

func permissionLoadPolicy(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("BindingsAndPolicyLoad", func(t *testing.T) {
		t.Parallel()
		s := withTenants(t, newStore, "t1", "t2")
		// A five-level hierarchy mixing a global template and tenant roles.
		require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: permission.GlobalTenant, Name: "viewer",
			Grants: []permission.Grant{{Permission: "*:read", Effect: permission.Allow}}}))
		prev := "viewer"
		for _, name := range []string{"l2", "l3", "l4", "l5"} {
			require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: "t1", Name: name, Parents: []string{prev},
				Grants: []permission.Grant{{Permission: name + ":do", Effect: permission.Allow}}}))
			prev = name
		}
		require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: "t1", Name: "unrelated"}))
		require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: "t2", Name: "l5"}))
		v0, err := s.Version(ctx(t), "t1")
		require.NoError(t, err)
		exp := base.Add(time.Hour)
		require.NoError(t, s.PutBinding(ctx(t), permission.Binding{UserID: "u1", TenantID: "t1", Role: "l5", Scope: "region:eu", ExpiresAt: exp, CreatedAt: base}))
		require.NoError(t, s.PutBinding(ctx(t), permission.Binding{UserID: "u1", TenantID: "t2", Role: "l5", CreatedAt: base}))
		require.NoError(t, s.PutBinding(ctx(t), permission.Binding{UserID: "u2", TenantID: "t1", Role: "unrelated", CreatedAt: base}))
		assert.ErrorIs(t, s.PutBinding(ctx(t), permission.Binding{UserID: "u1", TenantID: "t1", Role: "nope"}), store.ErrNotFound)
		v1, err := s.Version(ctx(t), "t1")
		require.NoError(t, err)
		assert.Greater(t, v1, v0, "a binding write bumps the version")

		p, err := s.LoadPolicy(ctx(t), "t1", "u1")
		require.NoError(t, err)
		assert.Equal(t, v1, p.Version)
		require.Len(t, p.Bindings, 1)
		assert.Equal(t, "region:eu", p.Bindings[0].Scope)
		assertTimeEqual(t, exp, p.Bindings[0].ExpiresAt)
		assert.Equal(t, []string{"t1/l2", "t1/l3", "t1/l4", "t1/l5", "/viewer"}, roleNames(p.Roles))

		bs, err := s.ListBindings(ctx(t), "t1", "")
		require.NoError(t, err)
		assert.Len(t, bs, 2)
		bs, err = s.ListBindings(ctx(t), "t1", "u2")
		require.NoError(t, err)
		require.Len(t, bs, 1)
		assert.Equal(t, "unrelated", bs[0].Role)

		empty, err := s.LoadPolicy(ctx(t), "t1", "nobody")
		require.NoError(t, err)
		assert.Empty(t, empty.Bindings)
		assert.Empty(t, empty.Roles)
	})
	t.Run("DeepHierarchyWithDiamondsAndLoop", func(t *testing.T) {
		t.Parallel()
		s := withTenants(t, newStore, "t1")
		put := func(tenant, name string, parents ...string) {
			t.Helper()
			require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: tenant, Name: name, Parents: parents,
				Grants: []permission.Grant{{Permission: name + ":do", Effect: permission.Allow}}}))
		}
		// Templates: base; loop and x (no parents yet); shadowed, whose
		// template parent is never reached because the tenant's own
		// shadowed replaces it.
		put(permission.GlobalTenant, "base")
		put(permission.GlobalTenant, "loop")
		put(permission.GlobalTenant, "x")
		put(permission.GlobalTenant, "hidden")
		put(permission.GlobalTenant, "shadowed", "hidden")
		// Tenant: an eight-level chain top → l7 → … → l1 → base, with two
		// diamonds (l6 → {d1, d2} → l5 and d1 → shadowed ← d2).
		put("t1", "shadowed", "base")
		put("t1", "l1", "base", "loop")
		prev := "l1"
		for i := 2; i <= 5; i++ {
			name := "l" + string(rune('0'+i))
			put("t1", name, prev)
			prev = name
		}
		put("t1", "d1", "l5", "shadowed")
		put("t1", "d2", "l5", "shadowed")
		put("t1", "l6", "d1", "d2")
		put("t1", "l7", "l6")
		put("t1", "top", "l7")
		put("t1", "unreached", "base")
		put("t1", "x", "l1")
		// A template change closes the loop l1 → loop → x → l1 through the
		// tenant's x, which the template write cannot see: loading must
		// still terminate.
		put(permission.GlobalTenant, "loop", "x")
		require.NoError(t, s.PutBinding(ctx(t), permission.Binding{UserID: "u1", TenantID: "t1", Role: "top"}))
		require.NoError(t, s.PutBinding(ctx(t), permission.Binding{UserID: "u1", TenantID: "t1", Role: "d2", Scope: "region:eu"}))

		p, err := s.LoadPolicy(ctx(t), "t1", "u1")
		require.NoError(t, err)
		require.Len(t, p.Bindings, 2)
		assert.Equal(t, []string{"/base", "t1/d1", "t1/d2", "t1/l1", "t1/l2", "t1/l3", "t1/l4", "t1/l5", "t1/l6", "t1/l7",
			"/loop", "t1/shadowed", "t1/top", "t1/x"}, roleNames(p.Roles))
		for _, r := range p.Roles {
			assert.Equal(t, []permission.Grant{{Permission: r.Name + ":do", Effect: permission.Allow}}, r.Grants, r.Name)
		}
	})
	t.Run("TenantRoleShadowsTemplate", func(t *testing.T) {
		t.Parallel()
		s := withTenants(t, newStore, "t1")
		require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: permission.GlobalTenant, Name: "viewer",
			Grants: []permission.Grant{{Permission: "*:read", Effect: permission.Allow}}}))
		require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: "t1", Name: "viewer",
			Grants: []permission.Grant{{Permission: "orders:read", Effect: permission.Allow}}}))
		require.NoError(t, s.PutBinding(ctx(t), permission.Binding{UserID: "u1", TenantID: "t1", Role: "viewer"}))
		p, err := s.LoadPolicy(ctx(t), "t1", "u1")
		require.NoError(t, err)
		assert.Equal(t, []string{"t1/viewer"}, roleNames(p.Roles))
	})
}
