package authv2_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
)

// TestListMembersPagesWithRoles: members come in pages ordered by user
// ID, each with their bindings.
func TestListMembersPagesWithRoles(t *testing.T) {
	o := newOrg(t)
	for i := range 3 {
		o.member(t, fmt.Sprintf("m%d@example.com", i), "viewer", "region:eu")
	}
	var all []permission.Member
	after := ""
	for {
		page, err := o.m.ListMembers(t.Context(), "acme", after, 2)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		assert.LessOrEqual(t, len(page), 2)
		all = append(all, page...)
		after = page[len(page)-1].UserID
	}
	require.Len(t, all, 5)
	for i := 1; i < len(all); i++ {
		assert.Less(t, all[i-1].UserID, all[i].UserID)
	}
	roles := map[string]string{}
	for _, mb := range all {
		require.Len(t, mb.Bindings, 1)
		roles[mb.UserID] = mb.Bindings[0].Role
	}
	assert.Equal(t, permission.OwnerRole, roles[o.owner.ID])
	assert.Equal(t, "admin", roles[o.admin.ID])
}

// TestSetMemberRolesNoWiderThanTheActor: an administrator changes a
// member's roles within their own rights; they cannot add a role they
// could not give, nor take away one (an owner's), nor leave the tenant
// ownerless; the change is audited with before and after.
func TestSetMemberRolesNoWiderThanTheActor(t *testing.T) {
	o := newOrg(t)
	u := o.member(t, "m@example.com", "viewer", "")
	admin := as(t, o.adminP)

	got, err := o.m.SetMemberRoles(admin, "acme", u.ID, []permission.Binding{{Role: "admin"}, {Role: "viewer", Scope: "region:eu"}})
	require.NoError(t, err)
	require.Len(t, got.Bindings, 2)
	assert.Equal(t, "admin", got.Bindings[0].Role)
	p := &authv2.Principal{UserID: u.ID, TenantID: "acme"}
	assert.True(t, o.m.Can(t.Context(), p, "delete", permission.Resource{Type: "docs", TenantID: "acme"}), "the new role applies at the next check")

	_, err = o.m.SetMemberRoles(admin, "acme", u.ID, []permission.Binding{{Role: "billing"}})
	assert.ErrorIs(t, err, authv2.ErrExceedsOwnRights)
	_, err = o.m.SetMemberRoles(admin, "acme", o.owner.ID, []permission.Binding{{Role: "viewer"}})
	assert.ErrorIs(t, err, authv2.ErrExceedsOwnRights, "an admin cannot demote the owner")
	_, err = o.m.SetMemberRoles(as(t, o.ownerP), "acme", o.owner.ID, []permission.Binding{{Role: "viewer"}})
	assert.ErrorIs(t, err, authv2.ErrLastOwner)
	assert.Equal(t, 409, authv2.ProblemFor(err).Status)
	_, err = o.m.SetMemberRoles(admin, "acme", u.ID, []permission.Binding{{Role: "viewer"}, {Role: "viewer"}})
	assert.ErrorIs(t, err, authv2.ErrValidation)
	_, err = o.m.SetMemberRoles(admin, "acme", "nobody", []permission.Binding{{Role: "viewer"}})
	assert.ErrorIs(t, err, authv2.ErrNotFound)
	_, err = o.m.SetMemberRoles(admin, "acme", u.ID, []permission.Binding{{Role: "nosuch"}})
	assert.ErrorIs(t, err, authv2.ErrValidation)

	var changed audit.Event
	for _, ev := range o.sink.OfType(audit.TypeAdminChange) {
		if ev.Attributes["action"] == "member.roles" {
			changed = ev
		}
	}
	assert.Equal(t, o.admin.ID, changed.ActorUserID)
	assert.Contains(t, changed.Attributes["before"], `"Role":"viewer"`)
	assert.Contains(t, changed.Attributes["after"], `"Role":"admin"`)
}

// TestRemoveMemberTakesBindingsAndSessions: removal takes the membership
// and every binding (a binding alone would let the user switch back in)
// and ends the user's sessions in the tenant.
func TestRemoveMemberTakesBindingsAndSessions(t *testing.T) {
	o := newOrg(t)
	u := o.member(t, "m@example.com", "viewer", "")
	res, err := o.m.Login(t.Context(), authv2.LoginInput{Email: "m@example.com", Password: goodPassword, TenantID: "acme"})
	require.NoError(t, err)
	require.NoError(t, o.m.RemoveMember(as(t, o.adminP), "acme", u.ID))
	_, err = o.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrSessionRevoked)
	bs, err := o.m.ListBindings(t.Context(), "acme", u.ID)
	require.NoError(t, err)
	assert.Empty(t, bs)
	_, err = o.m.Login(t.Context(), authv2.LoginInput{Email: "m@example.com", Password: goodPassword, TenantID: "acme"})
	assert.Error(t, err, "no way back in")
	assert.ErrorIs(t, o.m.RemoveMember(as(t, o.adminP), "acme", u.ID), authv2.ErrNotFound)

	assert.ErrorIs(t, o.m.RemoveMember(as(t, o.adminP), "acme", o.owner.ID), authv2.ErrExceedsOwnRights,
		"a tenant administrator cannot remove an owner")
	assert.ErrorIs(t, o.m.RemoveMember(as(t, o.ownerP), "acme", o.owner.ID), authv2.ErrLastOwner)
	assert.ErrorIs(t, o.m.Unbind(t.Context(), permission.Binding{UserID: o.owner.ID, TenantID: "acme", Role: permission.OwnerRole}), authv2.ErrLastOwner)
	err = o.m.Bind(t.Context(), permission.Binding{UserID: o.owner.ID, TenantID: "acme", Role: permission.OwnerRole, ExpiresAt: t0.Add(1)})
	assert.ErrorIs(t, err, authv2.ErrValidation, "an expiring binding would replace the owner's")
}

// TestTransferOwnership: the owner hands ownership to a member and keeps
// their other roles; a non-owner cannot, nor to a non-member.
func TestTransferOwnership(t *testing.T) {
	o := newOrg(t)
	require.NoError(t, o.m.Bind(t.Context(), permission.Binding{UserID: o.owner.ID, TenantID: "acme", Role: "admin"}))
	viewer := o.member(t, "v@example.com", "viewer", "")
	assert.ErrorIs(t, o.m.TransferOwnership(as(t, o.adminP), "acme", viewer.ID), authv2.ErrExceedsOwnRights, "not an owner")
	assert.ErrorIs(t, o.m.TransferOwnership(as(t, o.ownerP), "acme", o.owner.ID), authv2.ErrValidation)
	outsider := o.register(t, "out@example.com")
	assert.ErrorIs(t, o.m.TransferOwnership(as(t, o.ownerP), "acme", outsider.ID), authv2.ErrNotMember)
	assert.ErrorIs(t, o.m.TransferOwnership(t.Context(), "acme", o.admin.ID), authv2.ErrUnauthenticated)

	require.NoError(t, o.m.TransferOwnership(as(t, o.ownerP), "acme", o.admin.ID))
	roles, err := o.m.Roles(t.Context(), o.adminP)
	require.NoError(t, err)
	assert.Equal(t, []string{"admin", permission.OwnerRole}, roles)
	roles, err = o.m.Roles(t.Context(), o.ownerP)
	require.NoError(t, err)
	assert.Equal(t, []string{"admin"}, roles)
	assert.ErrorIs(t, o.m.RemoveMember(as(t, o.adminP), "acme", o.admin.ID), authv2.ErrLastOwner)
}

// TestConcurrentRemovalsKeepAnOwnerOnEveryBackend: hundreds of owners
// removed at once through the Manager, on every permission store: exactly
// one stays, and every other removal succeeds.
func TestConcurrentRemovalsKeepAnOwnerOnEveryBackend(t *testing.T) {
	for _, b := range backends() {
		if b.name != "memory" && b.name != "postgres" {
			continue // the others keep permissions in memory
		}
		t.Run(b.name, func(t *testing.T) {
			m := authv2test.NewManager(t, b.opts(t)...)
			ctx := context.Background()
			_, err := m.CreateTenant(ctx, "acme", "Acme")
			require.NoError(t, err)
			require.NoError(t, m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: permission.OwnerRole,
				Grants: []permission.Grant{{Permission: "*", Effect: permission.Allow}}}))
			const n = 200
			ids := make([]string, n)
			for i := range n {
				u, err := m.Register(ctx, authv2.RegisterInput{Email: fmt.Sprintf("o%d@example.com", i), Password: goodPassword})
				require.NoError(t, err)
				ids[i] = u.ID
				require.NoError(t, m.AddMember(ctx, "acme", u.ID))
				require.NoError(t, m.Bind(ctx, permission.Binding{UserID: u.ID, TenantID: "acme", Role: permission.OwnerRole}))
			}
			var wg sync.WaitGroup
			var refused atomic.Int64
			for _, id := range ids {
				wg.Go(func() {
					err := m.RemoveMember(ctx, "acme", id)
					if errors.Is(err, authv2.ErrLastOwner) {
						refused.Add(1)
					} else {
						assert.NoError(t, err)
					}
				})
			}
			wg.Wait()
			assert.Equal(t, int64(1), refused.Load())
			members, err := m.ListMembers(ctx, "acme", "", 0)
			require.NoError(t, err)
			require.Len(t, members, 1)
			assert.True(t, members[0].Owner())
		})
	}
}
