package authv2_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/permission"
)

// TestAPIKeyHandsOutOnlyWhatItCovers: an API key does what its owner may
// and only what the key names, so a key that may manage members cannot
// invite, promote or transfer to rights outside its own patterns (an
// owner's members key must not mint owners).
func TestAPIKeyHandsOutOnlyWhatItCovers(t *testing.T) {
	o := newOrg(t)
	ctx := t.Context()
	res, err := o.m.Login(ctx, authv2.LoginInput{Email: "owner@example.com", Password: goodPassword, TenantID: "acme", Client: keyClient})
	require.NoError(t, err)
	sess, err := o.m.Authenticate(ctx, res.Token, keyClient)
	require.NoError(t, err)
	k, err := o.m.CreateAPIKey(as(t, sess), authv2.CreateAPIKeyInput{Name: "members bot", Permissions: []string{"members:*", "invitations:*"}})
	require.NoError(t, err)
	kp, err := o.m.Authenticate(ctx, k.Secret, keyClient)
	require.NoError(t, err)

	_, err = o.m.Invite(as(t, kp), authv2.InviteInput{TenantID: "acme", Email: "x@example.com", Role: permission.OwnerRole})
	require.ErrorIs(t, err, authv2.ErrExceedsOwnRights, "the key does not cover the owner role's rights")
	_, err = o.m.Invite(as(t, kp), authv2.InviteInput{TenantID: "acme", Email: "y@example.com", Role: "billing"})
	require.ErrorIs(t, err, authv2.ErrExceedsOwnRights)
	_, err = o.m.SetMemberRoles(as(t, kp), "acme", o.admin.ID, []permission.Binding{{Role: permission.OwnerRole}})
	require.ErrorIs(t, err, authv2.ErrExceedsOwnRights)
	require.ErrorIs(t, o.m.TransferOwnership(as(t, kp), "acme", o.admin.ID), authv2.ErrExceedsOwnRights)
	bs, err := o.m.ListBindings(ctx, "acme", o.admin.ID)
	require.NoError(t, err)
	assert.False(t, hasOwner(bs), "the admin did not become an owner")

	// What the key covers it can still hand out.
	wide, err := o.m.CreateAPIKey(as(t, sess), authv2.CreateAPIKeyInput{Name: "all", Permissions: []string{"*"}})
	require.NoError(t, err)
	wp, err := o.m.Authenticate(ctx, wide.Secret, keyClient)
	require.NoError(t, err)
	_, err = o.m.Invite(as(t, kp), authv2.InviteInput{TenantID: "acme", Email: "z@example.com", Role: "admin"})
	require.ErrorIs(t, err, authv2.ErrExceedsOwnRights, "admin carries docs:*, which the key does not cover")
	_, err = o.m.Invite(as(t, wp), authv2.InviteInput{TenantID: "acme", Email: "z@example.com", Role: permission.OwnerRole})
	require.NoError(t, err)
}

func hasOwner(bs []permission.Binding) bool {
	for _, b := range bs {
		if permission.IsOwner(b) {
			return true
		}
	}
	return false
}

// TestTenantMFAPolicyHoldsOnSwitchTenant: a tenant that requires a second
// factor cannot be entered at AAL1 by switching a password-only session
// of another tenant into it.
func TestTenantMFAPolicyHoldsOnSwitchTenant(t *testing.T) {
	policies := authv2.StaticMFAPolicies{"acme": {All: true}}
	e := newMFAEnvWith(t, backendStores{}, authv2test.Config(), func(d *authv2.MFA) { d.Policies = policies })
	ctx := t.Context()
	for _, id := range []string{"acme", "globex"} {
		_, err := e.m.CreateTenant(ctx, id, id)
		require.NoError(t, err)
	}
	u, err := e.m.Register(ctx, authv2.RegisterInput{Email: "member@example.com", Password: goodPassword, TenantID: "globex"})
	require.NoError(t, err)
	require.NoError(t, e.m.AddMember(ctx, "acme", u.ID))
	res, err := e.m.Login(ctx, authv2.LoginInput{Email: "member@example.com", Password: goodPassword, TenantID: "globex"})
	require.NoError(t, err)
	require.Nil(t, res.MFA, "globex requires nothing")

	_, err = e.m.SwitchTenant(ctx, res.Token, "acme", "")
	require.ErrorIs(t, err, authv2.ErrStepUpRequired, "acme requires a second factor of every member")
	p, err := e.m.Authenticate(ctx, res.Token, keyClient)
	require.NoError(t, err, "the refused switch leaves the session as it was")
	assert.Equal(t, "globex", p.TenantID)
}
