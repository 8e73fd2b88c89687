package authv2_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/user"
)

// org is a tenant "acme" with roles and two people: an owner (role owner:
// everything) and an admin (members and documents, no billing).
type org struct {
	*env
	n              *captureNotifier
	owner, admin   *user.User
	ownerP, adminP *authv2.Principal
}

func newOrg(t *testing.T, opts ...authv2.Option) *org {
	t.Helper()
	n := newCaptureNotifier()
	o := &org{env: newEnv(t, append([]authv2.Option{authv2.WithNotifier(n)}, opts...)...), n: n}
	ctx := t.Context()
	_, err := o.m.CreateTenant(ctx, "acme", "Acme")
	require.NoError(t, err)
	for _, r := range []*permission.Role{
		{TenantID: "acme", Name: permission.OwnerRole, Grants: []permission.Grant{{Permission: "*", Effect: permission.Allow}}},
		{TenantID: "acme", Name: "admin", Grants: []permission.Grant{
			{Permission: "members:*", Effect: permission.Allow}, {Permission: "docs:*", Effect: permission.Allow}}},
		{TenantID: "acme", Name: "viewer", Grants: []permission.Grant{{Permission: "docs:read", Effect: permission.Allow}}},
		{TenantID: "acme", Name: "billing", Grants: []permission.Grant{{Permission: "billing:*", Effect: permission.Allow}}},
	} {
		require.NoError(t, o.m.PutRole(ctx, r))
	}
	o.owner, o.admin = o.member(t, "owner@example.com", permission.OwnerRole, ""), o.member(t, "admin@example.com", "admin", "")
	o.ownerP = &authv2.Principal{UserID: o.owner.ID, TenantID: "acme", SessionID: "owner-session"}
	o.adminP = &authv2.Principal{UserID: o.admin.ID, TenantID: "acme", SessionID: "admin-session"}
	return o
}

// member registers a user, makes them a member of acme with role at scope.
func (o *org) member(t *testing.T, email, role, scope string) *user.User {
	t.Helper()
	u := o.register(t, email)
	require.NoError(t, o.m.AddMember(t.Context(), "acme", u.ID))
	require.NoError(t, o.m.Bind(t.Context(), permission.Binding{UserID: u.ID, TenantID: "acme", Role: role, Scope: scope}))
	return u
}

func as(t *testing.T, p *authv2.Principal) context.Context { return authv2.WithActor(t.Context(), p) }

// invite invites email as role at scope and returns the token sent.
func (o *org) invite(t *testing.T, p *authv2.Principal, email, role, scope string) (*permission.Invitation, string) {
	t.Helper()
	inv, err := o.m.Invite(as(t, p), authv2.InviteInput{TenantID: "acme", Email: email, Role: role, Scope: scope})
	require.NoError(t, err)
	return inv, o.n.wait(t, o.n.invites, email)
}

// TestInvitationSignsUpAMemberWithTheRole: an invitation's token signs up
// an active account with the invited address, a member of the tenant with
// the role at the scope, in one step; the token works once, is never
// stored, and every step is audited with its actor.
func TestInvitationSignsUpAMemberWithTheRole(t *testing.T) {
	o := newOrg(t)
	inv, tok := o.invite(t, o.adminP, "new@example.com", "viewer", "region:eu")
	assert.True(t, strings.HasPrefix(tok, "av2i_"), tok)
	assert.Nil(t, inv.TokenHash, "callers never see the hash")
	assert.Equal(t, permission.InvitationPending, inv.Status)
	assert.Equal(t, o.admin.ID, inv.InvitedBy)
	assert.Equal(t, t0.Add(authv2test7Days), inv.ExpiresAt)

	u, err := o.m.AcceptInvitation(withClient("192.0.2.50"), nil, authv2.AcceptInvitationInput{Token: tok, Password: goodPassword, DisplayName: "New"})
	require.NoError(t, err)
	assert.Equal(t, "new@example.com", u.Email)
	assert.Equal(t, user.StatusActive, u.Status, "the token proved the address")
	assert.Equal(t, "acme", u.DefaultTenantID)
	bs, err := o.m.ListBindings(t.Context(), "acme", u.ID)
	require.NoError(t, err)
	require.Len(t, bs, 1)
	assert.Equal(t, "viewer", bs[0].Role)
	assert.Equal(t, "region:eu", bs[0].Scope)
	res := o.login(t, "new@example.com")
	assert.Equal(t, "acme", res.Session.TenantID)

	_, err = o.m.AcceptInvitation(t.Context(), nil, authv2.AcceptInvitationInput{Token: tok, Password: goodPassword})
	assert.ErrorIs(t, err, authv2.ErrInvalidToken, "single use")
	list, err := o.m.ListInvitations(t.Context(), "acme", "", 0)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, permission.InvitationAccepted, list[0].Status)
	assert.Equal(t, u.ID, list[0].AcceptedBy)

	actions := map[string]audit.Event{}
	for _, ev := range o.sink.OfType(audit.TypeAdminChange) {
		actions[ev.Attributes["action"]] = ev
	}
	assert.Equal(t, o.admin.ID, actions["invitation.create"].ActorUserID)
	assert.NotContains(t, actions["invitation.create"].Attributes["after"], "Hash")
	assert.Equal(t, u.ID, actions["invitation.accept"].ActorUserID)
	assert.Equal(t, "acme", actions["invitation.accept"].TenantID)
	registered := o.sink.OfType(audit.TypeRegister)
	require.NotEmpty(t, registered)
	assert.Equal(t, inv.ID, registered[len(registered)-1].Attributes["invitation"])
}

const authv2test7Days = 7 * 24 * time.Hour

// TestInvitationLinksAVerifiedAccountWithTheSameEmail: a signed-in
// account accepts an invitation to its own, verified address; another
// address is ErrInvitationMismatch, an address awaiting verification
// ErrEmailNotVerified, and a taken address without a session
// ErrUserExists (no second account).
func TestInvitationLinksAVerifiedAccountWithTheSameEmail(t *testing.T) {
	cfg := authv2test.Config()
	cfg.RequireEmailVerification = true
	o := newOrg(t, authv2.WithConfig(cfg))
	ctx := t.Context()

	pending, err := o.m.Register(ctx, authv2.RegisterInput{Email: "pending@example.com", Password: goodPassword})
	require.NoError(t, err)
	_, tok := o.invite(t, o.ownerP, "pending@example.com", "viewer", "")
	_, err = o.m.AcceptInvitation(ctx, &authv2.Principal{UserID: pending.ID}, authv2.AcceptInvitationInput{Token: tok})
	assert.ErrorIs(t, err, authv2.ErrEmailNotVerified)
	_, err = o.m.AcceptInvitation(ctx, nil, authv2.AcceptInvitationInput{Token: tok, Password: goodPassword})
	assert.ErrorIs(t, err, authv2.ErrUserExists, "the address has an account: its owner signs in")

	// Verified: the owner of the address verifies it, then accepts.
	_, err = o.m.VerifyEmail(ctx, o.n.wait(t, o.n.verify, "pending@example.com"))
	require.NoError(t, err)
	other := o.register(t, "other@example.com")
	_, err = o.m.AcceptInvitation(ctx, &authv2.Principal{UserID: other.ID}, authv2.AcceptInvitationInput{Token: tok})
	assert.ErrorIs(t, err, authv2.ErrInvitationMismatch)
	u, err := o.m.AcceptInvitation(ctx, &authv2.Principal{UserID: pending.ID, SessionID: "s"}, authv2.AcceptInvitationInput{Token: tok})
	require.NoError(t, err)
	assert.Equal(t, pending.ID, u.ID)
	roles, err := o.m.Roles(ctx, &authv2.Principal{UserID: pending.ID, TenantID: "acme"})
	require.NoError(t, err)
	assert.Equal(t, []string{"viewer"}, roles)
}

// TestInvitationTokensRefusedWhenExpiredRevokedResentOrForged: every dead
// or forged token is ErrInvalidToken (a 400), never a 500.
func TestInvitationTokensRefusedWhenExpiredRevokedResentOrForged(t *testing.T) {
	o := newOrg(t)
	ctx := as(t, o.ownerP)
	accept := func(tok string) error {
		_, err := o.m.AcceptInvitation(t.Context(), nil, authv2.AcceptInvitationInput{Token: tok, Password: goodPassword})
		return err
	}

	_, expired := o.invite(t, o.ownerP, "late@example.com", "viewer", "")
	o.clock.Advance(authv2test7Days)
	assert.ErrorIs(t, accept(expired), authv2.ErrInvalidToken, "expired")

	inv, revoked := o.invite(t, o.ownerP, "revoked@example.com", "viewer", "")
	require.NoError(t, o.m.RevokeInvitation(ctx, "acme", inv.ID))
	assert.ErrorIs(t, accept(revoked), authv2.ErrInvalidToken, "revoked")
	assert.ErrorIs(t, o.m.RevokeInvitation(ctx, "acme", inv.ID), authv2.ErrConflict)
	_, err := o.m.ResendInvitation(ctx, "acme", inv.ID)
	assert.ErrorIs(t, err, authv2.ErrConflict, "a revoked invitation is not re-armed")

	inv, old := o.invite(t, o.ownerP, "resent@example.com", "viewer", "")
	o.n.mu.Lock()
	delete(o.n.invites, "resent@example.com")
	o.n.mu.Unlock()
	o.clock.Advance(authv2test7Days) // expired: a resend is how it comes back
	resent, err := o.m.ResendInvitation(ctx, "acme", inv.ID)
	require.NoError(t, err)
	assert.True(t, resent.ExpiresAt.After(inv.ExpiresAt))
	fresh := o.n.wait(t, o.n.invites, "resent@example.com")
	assert.NotEqual(t, old, fresh)
	assert.ErrorIs(t, accept(old), authv2.ErrInvalidToken, "the resend voided the old token")
	require.NoError(t, accept(fresh))

	for _, forged := range []string{"", "av2i_", "av2i_x.y", oneTimeToken("av2i_", inv.ID), oneTimeToken("av2i_", "nope"),
		oneTimeToken("av2r_", inv.ID), "av2i_" + strings.Repeat("A", 600), "av2i_\x00.\x00"} {
		err := accept(forged)
		assert.ErrorIs(t, err, authv2.ErrInvalidToken, "%q", forged)
		assert.Equal(t, 400, authv2.ProblemFor(err).Status)
	}
	_, err = o.m.ResendInvitation(authv2.WithActor(t.Context(), &authv2.Principal{UserID: o.owner.ID}), "other", inv.ID)
	assert.ErrorIs(t, err, authv2.ErrNotFound, "another tenant's invitation")
	assert.ErrorIs(t, o.m.RevokeInvitation(ctx, "other", inv.ID), authv2.ErrNotFound)
}

// TestInviteNoWiderThanTheInviterHolds: an inviter hands out only rights
// they hold, at a scope they hold them, inside their session's scope:
// not a role with more grants, not a scope above their binding, not a
// grant they are denied anywhere below, not a condition-free grant they
// hold under a condition.
func TestInviteNoWiderThanTheInviterHolds(t *testing.T) {
	o := newOrg(t)
	ctx := t.Context()
	require.NoError(t, o.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "nobilling", Grants: []permission.Grant{
		{Permission: "*", Effect: permission.Allow}, {Permission: "billing:*", Effect: permission.Deny}}}))
	require.NoError(t, o.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "eu-reader", Parents: []string{"viewer"}}))
	require.NoError(t, o.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "no-delete", Grants: []permission.Grant{
		{Permission: "docs:delete", Effect: permission.Deny}}}))
	require.NoError(t, o.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "docs-admin", Grants: []permission.Grant{
		{Permission: "docs:*", Effect: permission.Allow}}}))
	require.NoError(t, o.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "office-hours", Grants: []permission.Grant{
		{Permission: "docs:read", Effect: permission.Allow, Condition: "request.time.getHours() < 18"}}}))
	scoped := o.member(t, "eu@example.com", "admin", "region:eu")
	limited := o.member(t, "limited@example.com", "nobilling", "")
	denied := o.member(t, "denied@example.com", "docs-admin", "")
	require.NoError(t, o.m.Bind(ctx, permission.Binding{UserID: denied.ID, TenantID: "acme", Role: "no-delete", Scope: "region:eu"}))
	cond := o.member(t, "cond@example.com", "office-hours", "")
	require.NoError(t, o.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "approver", Grants: []permission.Grant{
		{Permission: "orders:approve", Effect: permission.Allow, Condition: `"senior" in principal.roles`}}}))
	approver := o.member(t, "approver@example.com", "approver", "")

	for _, tc := range []struct {
		name        string
		actor       *authv2.Principal
		role, scope string
		want        error
	}{
		{"owner gives anything", o.ownerP, permission.OwnerRole, "", nil},
		{"admin gives its own role", o.adminP, "admin", "", nil},
		{"admin gives a narrower role", o.adminP, "viewer", "region:eu", nil},
		{"admin cannot make an owner", o.adminP, permission.OwnerRole, "", authv2.ErrExceedsOwnRights},
		{"admin cannot give billing", o.adminP, "billing", "", authv2.ErrExceedsOwnRights},
		{"inherited grants count", o.adminP, "eu-reader", "", nil},
		{"a scoped admin gives inside its scope", &authv2.Principal{UserID: scoped.ID, TenantID: "acme"}, "viewer", "region:eu/store:1", nil},
		{"a scoped admin cannot give the whole tenant", &authv2.Principal{UserID: scoped.ID, TenantID: "acme"}, "viewer", "", authv2.ErrExceedsOwnRights},
		{"nor a sibling scope", &authv2.Principal{UserID: scoped.ID, TenantID: "acme"}, "viewer", "region:eu2", authv2.ErrExceedsOwnRights},
		{"a narrowed session gives inside it only", &authv2.Principal{UserID: o.owner.ID, TenantID: "acme", Scope: "region:eu"}, "viewer", "", authv2.ErrExceedsOwnRights},
		{"a narrowed session gives below it", &authv2.Principal{UserID: o.owner.ID, TenantID: "acme", Scope: "region:eu"}, "viewer", "region:eu/store:1", nil},
		{"a deny of the inviter's stops *", &authv2.Principal{UserID: limited.ID, TenantID: "acme"}, permission.OwnerRole, "", authv2.ErrExceedsOwnRights},
		{"unless the role denies as much", &authv2.Principal{UserID: limited.ID, TenantID: "acme"}, "nobilling", "", nil},
		{"a deny below the scope stops it", &authv2.Principal{UserID: denied.ID, TenantID: "acme"}, "docs-admin", "", authv2.ErrExceedsOwnRights},
		{"but not a grant it does not touch", &authv2.Principal{UserID: denied.ID, TenantID: "acme"}, "viewer", "", nil},
		{"a conditional grant is no unconditional one", &authv2.Principal{UserID: cond.ID, TenantID: "acme"}, "viewer", "", authv2.ErrExceedsOwnRights},
		{"the same condition is", &authv2.Principal{UserID: cond.ID, TenantID: "acme"}, "office-hours", "", nil},
		// Evaluated as the invitee, who may be a senior: the inviter is not.
		{"not one that reads the principal", &authv2.Principal{UserID: approver.ID, TenantID: "acme"}, "approver", "", authv2.ErrExceedsOwnRights},
		{"someone with no binding gives nothing", &authv2.Principal{UserID: "stranger", TenantID: "acme"}, "viewer", "", authv2.ErrExceedsOwnRights},
		{"a session in another tenant", &authv2.Principal{UserID: o.owner.ID, TenantID: "globex"}, "viewer", "", authv2.ErrNotMember},
		{"no actor", nil, "viewer", "", authv2.ErrUnauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := t.Context()
			if tc.actor != nil {
				c = as(t, tc.actor)
			}
			_, err := o.m.Invite(c, authv2.InviteInput{TenantID: "acme", Email: "x@example.com", Role: tc.role, Scope: tc.scope})
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.want)
			assert.Less(t, authv2.ProblemFor(err).Status, 500)
		})
	}
}

// TestInviteHostileInput: bad input is a typed 4xx, never a 500.
func TestInviteHostileInput(t *testing.T) {
	o := newOrg(t)
	ctx := as(t, o.ownerP)
	for name, in := range map[string]authv2.InviteInput{
		"bad email":     {TenantID: "acme", Email: "not an email", Role: "viewer"},
		"no role":       {TenantID: "acme", Email: "a@example.com", Role: "nosuch"},
		"bad role":      {TenantID: "acme", Email: "a@example.com", Role: "../x"},
		"bad scope":     {TenantID: "acme", Email: "a@example.com", Role: "viewer", Scope: "/x"},
		"control chars": {TenantID: "ac\x00me", Email: "a@example.com", Role: "viewer"},
	} {
		_, err := o.m.Invite(ctx, in)
		assert.ErrorIs(t, err, authv2.ErrValidation, name)
	}
	_, err := o.m.Invite(as(t, &authv2.Principal{UserID: o.owner.ID}), authv2.InviteInput{TenantID: "gone", Email: "a@example.com", Role: "viewer"})
	assert.Less(t, authv2.ProblemFor(err).Status, 500, "%v", err)
	_, err = o.m.ListInvitations(t.Context(), "acme", "\x00", 0)
	assert.ErrorIs(t, err, authv2.ErrValidation)
	assert.ErrorIs(t, o.m.RevokeInvitation(ctx, "acme", "nope"), authv2.ErrNotFound)

	noInvites := newEnv(t, authv2.WithNotifier(plainNotifier{}))
	_, err = noInvites.m.Invite(ctx, authv2.InviteInput{TenantID: "acme", Email: "a@example.com", Role: "viewer"})
	assert.ErrorIs(t, err, authv2.ErrInvalidConfig, "a Notifier that cannot deliver invitations")
}

type plainNotifier struct{}

func (plainNotifier) PasswordReset(context.Context, *user.User, string) error     { return nil }
func (plainNotifier) EmailVerification(context.Context, *user.User, string) error { return nil }

// TestFailedAcceptLeavesNoAccount: the account an acceptance signs up is
// deleted again when the invitation's step fails (its role is gone), and
// no membership exists without its binding.
func TestFailedAcceptLeavesNoAccount(t *testing.T) {
	o := newOrg(t)
	require.NoError(t, o.m.PutRole(t.Context(), &permission.Role{TenantID: "acme", Name: "temp", Grants: []permission.Grant{{Permission: "docs:read", Effect: permission.Allow}}}))
	_, tok := o.invite(t, o.ownerP, "temp@example.com", "temp", "")
	require.NoError(t, o.m.DeleteRole(t.Context(), "acme", "temp"))
	_, err := o.m.AcceptInvitation(t.Context(), nil, authv2.AcceptInvitationInput{Token: tok, Password: goodPassword})
	require.ErrorIs(t, err, authv2.ErrNotFound)
	_, err = o.stores.Users.GetByEmail(t.Context(), "temp@example.com")
	assert.ErrorIs(t, err, authv2.ErrNotFound, "the account was deleted again")
	members, err := o.m.ListMembers(t.Context(), "acme", "", 0)
	require.NoError(t, err)
	assert.Len(t, members, 2, "owner and admin only")
}
