package authv2_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
)

func TestUserLookup(t *testing.T) {
	e := newEnv(t)
	u := e.register(t, "lookup@example.com")
	got, err := e.m.User(t.Context(), u.ID)
	require.NoError(t, err)
	assert.Equal(t, "lookup@example.com", got.Email)
	_, err = e.m.User(t.Context(), "nope")
	assert.ErrorIs(t, err, authv2.ErrNotFound)
	assert.ErrorIs(t, e.m.AddMember(t.Context(), "acme", "nope"), authv2.ErrNotFound)
	assert.ErrorIs(t, e.m.Bind(t.Context(), permission.Binding{}), authv2.ErrValidation)
}

func TestAdminUnlock(t *testing.T) {
	e := newEnv(t)
	u := e.register(t, "locked@example.com")
	for range 10 {
		_ = loginAs(e, "locked@example.com", "wrong guess!", "")
	}
	require.ErrorIs(t, loginAs(e, "locked@example.com", goodPassword, ""), authv2.ErrInvalidCredentials)
	require.NoError(t, e.m.UnlockUser(t.Context(), u.ID))
	assert.NoError(t, loginAs(e, "locked@example.com", goodPassword, ""))
	assert.NotEmpty(t, e.sink.OfType(audit.TypeUnlock))
}

func TestASVS_7_4_2_DisableLockDeleteRevokeSessions(t *testing.T) {
	for name, act := range map[string]func(*authv2.Manager, context.Context, string) error{
		"disable": (*authv2.Manager).DisableUser,
		"lock":    (*authv2.Manager).LockUser,
		"delete":  (*authv2.Manager).DeleteUser,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			u := e.register(t, "gone@example.com")
			a, b := e.login(t, "gone@example.com"), e.login(t, "gone@example.com")
			require.NoError(t, act(e.m, t.Context(), u.ID))
			for _, res := range []*authv2.LoginResult{a, b} {
				_, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
				assert.ErrorIs(t, err, authv2.ErrSessionRevoked)
			}
			assert.ErrorIs(t, loginAs(e, "gone@example.com", goodPassword, ""), authv2.ErrInvalidCredentials)
		})
	}
}

// TestDeleteUserRemovesMembershipsAndBindings: a deleted user is nobody's
// member, holds no binding, and Who no longer names them.
func TestDeleteUserRemovesMembershipsAndBindings(t *testing.T) {
	e := newEnv(t)
	u := e.register(t, "gone@example.com")
	stay := e.register(t, "stays@example.com")
	_, err := e.m.CreateTenant(t.Context(), "acme", "Acme")
	require.NoError(t, err)
	require.NoError(t, e.m.PutRole(t.Context(), &permission.Role{TenantID: "acme", Name: "viewer",
		Grants: []permission.Grant{{Permission: "orders:read", Effect: permission.Allow}}}))
	require.NoError(t, e.m.AddMember(t.Context(), "acme", u.ID))
	for _, id := range []string{u.ID, stay.ID} {
		require.NoError(t, e.m.Bind(t.Context(), permission.Binding{UserID: id, TenantID: "acme", Role: "viewer"}))
	}
	who, err := e.m.Who(t.Context(), "acme", "read", permission.Resource{TenantID: "acme", Type: "orders"})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{u.ID, stay.ID}, who)

	require.NoError(t, e.m.DeleteUser(t.Context(), u.ID))
	who, err = e.m.Who(t.Context(), "acme", "read", permission.Resource{TenantID: "acme", Type: "orders"})
	require.NoError(t, err)
	assert.Equal(t, []string{stay.ID}, who)
	bs, err := e.m.ListBindings(t.Context(), "acme", u.ID)
	require.NoError(t, err)
	assert.Empty(t, bs)
	ms, err := e.stores.Permissions.ListMemberships(t.Context(), u.ID)
	require.NoError(t, err)
	assert.Empty(t, ms)
}
