package authv2_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/apikey"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/user"
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
	policyMember(t, e)
	res, err := e.m.Login(ctx, authv2.LoginInput{Email: "member@example.com", Password: goodPassword, TenantID: "globex"})
	require.NoError(t, err)
	require.Nil(t, res.MFA, "globex requires nothing")

	_, err = e.m.SwitchTenant(ctx, res.Token, "acme", "")
	require.ErrorIs(t, err, authv2.ErrStepUpRequired, "acme requires a second factor of every member")
	p, err := e.m.Authenticate(ctx, res.Token, keyClient)
	require.NoError(t, err, "the refused switch leaves the session as it was")
	assert.Equal(t, "globex", p.TenantID)

	// Enrolled by logging in to acme, an AAL2 session switches freely.
	res, err = e.m.Login(ctx, authv2.LoginInput{Email: "member@example.com", Password: goodPassword, TenantID: "acme"})
	require.NoError(t, err)
	en, err := e.m.EnrollTOTPForLogin(ctx, res.MFA.Token)
	require.NoError(t, err)
	done, err := e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: res.MFA.Token,
		SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, en.Secret)}})
	require.NoError(t, err)
	out, err := e.m.SwitchTenant(ctx, done.Token, "globex", "")
	require.NoError(t, err)
	back, err := e.m.SwitchTenant(ctx, out.Token, "acme", "")
	require.NoError(t, err)
	assert.Equal(t, 2, back.Session.AuthLevel)
}

// TestPendingLoginEndsWithThePasswordItProved: with
// RevokeOnPasswordChange off a password change keeps the security stamp,
// and a pending login proven with the old password must not complete
// after it (Login refuses the old password the same way).
func TestPendingLoginEndsWithThePasswordItProved(t *testing.T) {
	cfg := authv2test.Config()
	cfg.RevokeOnPasswordChange = false
	e := newMFAEnv(t, backendStores{}, cfg)
	ctx := t.Context()
	secret, _, up := e.enrollTOTP(t, "pending@example.com")
	pending := e.login(t, "pending@example.com")
	require.NotNil(t, pending.MFA)
	_, err := e.m.ChangePassword(ctx, e.principal(t, up.Token), goodPassword, "a brand new passphrase")
	require.NoError(t, err)
	_, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: pending.MFA.Token,
		SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, secret)}})
	require.ErrorIs(t, err, authv2.ErrInvalidToken, "the password it proved is no longer the user's")
}

// TestEnrollmentLoginEndsOnceTheUserHasAFactor: a pending login that a
// tenant's policy sent to enrollment (the user had no factor) cannot
// enroll TOTP and open a session once the user has registered a security
// key: whoever holds only the password would go round the key.
func TestEnrollmentLoginEndsOnceTheUserHasAFactor(t *testing.T) {
	e := newMFAEnvWith(t, backendStores{}, authv2test.Config(), func(d *authv2.MFA) {
		d.Policies = authv2.StaticMFAPolicies{"acme": {All: true}}
	})
	ctx := t.Context()
	u := policyMember(t, e)
	login := func(tenant string) *authv2.LoginResult {
		res, err := e.m.Login(ctx, authv2.LoginInput{Email: "member@example.com", Password: goodPassword, TenantID: tenant})
		require.NoError(t, err)
		return res
	}
	early, late := login("acme"), login("acme") // an attacker with the password
	require.True(t, early.MFA.Enroll)
	en, err := e.m.EnrollTOTPForLogin(ctx, early.MFA.Token)
	require.NoError(t, err)

	// The user registers a security key from a globex session.
	a := newAuthenticator(t, u.ID)
	p := e.principal(t, login("globex").Token)
	options, ch, err := e.m.BeginWebAuthnRegistration(ctx, p)
	require.NoError(t, err)
	_, err = e.m.FinishWebAuthnRegistration(ctx, p, ch, a.attest(t, options), "YubiKey")
	require.NoError(t, err)

	_, err = e.m.EnrollTOTPForLogin(ctx, late.MFA.Token)
	require.ErrorIs(t, err, authv2.ErrMFAAlreadyEnrolled)
	_, err = e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: early.MFA.Token,
		SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, en.Secret)}})
	require.ErrorIs(t, err, authv2.ErrInvalidToken, "the user has a factor now: the login must prove it")
	st, err := e.m.MFAStatus(ctx, u.ID)
	require.NoError(t, err)
	assert.False(t, st.TOTP, "no TOTP was confirmed behind the user's back")
}

// TestNoCompletedLoginOutlivesAPasswordChange: pending logins completed
// concurrently with a password change (which rotates the stamp and ends
// the user's other sessions) never leave a live session behind: each
// completion either fails or opened a session the change then ended.
func TestNoCompletedLoginOutlivesAPasswordChange(t *testing.T) {
	e := newMFAEnv(t, backendStores{}, authv2test.Config())
	ctx := t.Context()
	for round := range 20 {
		email := fmt.Sprintf("race%d@example.com", round)
		_, codes, up := e.enrollTOTP(t, email)
		pending := make([]string, len(codes))
		for i := range pending {
			res := e.login(t, email)
			require.NotNil(t, res.MFA)
			pending[i] = res.MFA.Token
		}
		var wg sync.WaitGroup
		tokens := make([]string, len(codes))
		for i := range codes {
			wg.Go(func() {
				res, err := e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: pending[i],
					SecondFactor: authv2.SecondFactor{Factor: mfa.FactorRecoveryCode, Code: codes[i]}})
				if err == nil {
					tokens[i] = res.Token
				}
			})
		}
		changed, err := e.m.ChangePassword(ctx, e.principal(t, up.Token), goodPassword, "a brand new passphrase")
		require.NoError(t, err)
		wg.Wait()
		for _, tok := range tokens {
			if tok == "" {
				continue
			}
			_, err := e.m.Authenticate(ctx, tok, session.ClientInfo{IP: "192.0.2.20"})
			require.Error(t, err, "round %d: a session completed across the change outlived it", round)
		}
		_, err = e.m.Authenticate(ctx, changed.Token, session.ClientInfo{IP: "192.0.2.20"})
		require.NoError(t, err)
	}
}

// TestTenantMFAPolicyHoldsForAPIKeys: a member of a tenant that requires
// a second factor cannot mint an API key acting there from a
// password-only session of another tenant.
func TestTenantMFAPolicyHoldsForAPIKeys(t *testing.T) {
	e := newMFAEnvWith(t, backendStores{}, authv2test.Config(), func(d *authv2.MFA) {
		d.Policies = authv2.StaticMFAPolicies{"acme": {All: true}}
	}, authv2.WithAPIKeyStore(memory.NewAPIKeyStore()))
	ctx := t.Context()
	u := policyMember(t, e)
	require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "clerk", Grants: []permission.Grant{{Permission: "orders:read", Effect: permission.Allow}}}))
	require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: u.ID, TenantID: "acme", Role: "clerk"}))
	res, err := e.m.Login(ctx, authv2.LoginInput{Email: "member@example.com", Password: goodPassword, TenantID: "globex"})
	require.NoError(t, err)
	p := e.principal(t, res.Token)

	_, err = e.m.CreateAPIKey(authv2.WithActor(ctx, p), authv2.CreateAPIKeyInput{Name: "k", TenantID: "acme", Permissions: []string{"orders:read"}})
	require.ErrorIs(t, err, authv2.ErrStepUpRequired, "acme requires a second factor of the key's owner")
}

// policyMember creates tenants acme and globex and registers
// member@example.com in globex (its default tenant), a member of acme too.
func policyMember(t *testing.T, e *mfaEnv) *user.User {
	t.Helper()
	ctx := t.Context()
	for _, id := range []string{"acme", "globex"} {
		_, err := e.m.CreateTenant(ctx, id, id)
		require.NoError(t, err)
	}
	u, err := e.m.Register(ctx, authv2.RegisterInput{Email: "member@example.com", Password: goodPassword, TenantID: "globex"})
	require.NoError(t, err)
	require.NoError(t, e.m.AddMember(ctx, "acme", u.ID))
	return u
}

// TestPendingLoginEndsWithTheMembership: a member removed from a tenant
// while their login waits for the second factor does not get a session
// in it when the factor arrives (RemoveMember keeps the security stamp).
func TestPendingLoginEndsWithTheMembership(t *testing.T) {
	e := newMFAEnv(t, backendStores{}, authv2test.Config())
	ctx := t.Context()
	_, err := e.m.CreateTenant(ctx, "acme", "Acme")
	require.NoError(t, err)
	secret, _, up := e.enrollTOTP(t, "leaver@example.com")
	require.NoError(t, e.m.AddMember(ctx, "acme", up.User.ID))
	res, err := e.m.Login(ctx, authv2.LoginInput{Email: "leaver@example.com", Password: goodPassword, TenantID: "acme"})
	require.NoError(t, err)
	require.NotNil(t, res.MFA)
	require.NoError(t, e.m.RemoveMember(ctx, "acme", up.User.ID))

	done, err := e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: res.MFA.Token,
		SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, secret)}})
	require.ErrorIs(t, err, authv2.ErrNotMember, "no session in a tenant the user has left")
	assert.Nil(t, done)
}

// TestAPIKeyCannotTouchFactors: a key proves no credential of a person,
// so it cannot confirm, register or rename a factor, nor begin a step-up
// (which only a session can take), whatever its owner's factors.
func TestAPIKeyCannotTouchFactors(t *testing.T) {
	e := newMFAEnv(t, backendStores{}, authv2test.Config())
	ctx := t.Context()
	_, _, up := e.enrollTOTP(t, "keyed@example.com")
	kp := &authv2.Principal{UserID: up.User.ID, TenantID: "acme", APIKey: &apikey.Key{ID: "k1", OwnerID: up.User.ID, Permissions: []string{"*"}}}
	require.ErrorIs(t, e.m.ConfirmTOTP(ctx, kp, "000000"), authv2.ErrSessionRequired)
	require.ErrorIs(t, e.m.RenameWebAuthn(ctx, kp, "AAAA", "mine now"), authv2.ErrSessionRequired)
	_, err := e.m.FinishWebAuthnRegistration(ctx, kp, "challenge", []byte("{}"), "mine")
	require.ErrorIs(t, err, authv2.ErrSessionRequired)
	_, _, err = e.m.BeginStepUpWebAuthn(ctx, kp)
	require.ErrorIs(t, err, authv2.ErrSessionRequired)
}

// TestAPIKeyCannotAcceptInvitations: joining a tenant is the account's
// own change, which a key (one tenant, no credential of the person)
// cannot make; the invitation stays usable for the person.
func TestAPIKeyCannotAcceptInvitations(t *testing.T) {
	o := newOrg(t)
	bob := o.register(t, "bob@example.com")
	_, tok := o.invite(t, o.adminP, "bob@example.com", "viewer", "")
	kp := &authv2.Principal{UserID: bob.ID, TenantID: "globex", APIKey: &apikey.Key{ID: "k1", OwnerID: bob.ID, Permissions: []string{"*"}}}
	_, err := o.m.AcceptInvitation(t.Context(), kp, authv2.AcceptInvitationInput{Token: tok})
	require.ErrorIs(t, err, authv2.ErrSessionRequired)
	_, err = o.m.AcceptInvitation(t.Context(), &authv2.Principal{UserID: bob.ID, SessionID: "s"}, authv2.AcceptInvitationInput{Token: tok})
	require.NoError(t, err)
}
