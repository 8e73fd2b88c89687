package handlers_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
)

type memberResp struct {
	UserID string `json:"user_id"`
	Owner  bool   `json:"owner"`
	Roles  []struct {
		Role  string `json:"role"`
		Scope string `json:"scope"`
	} `json:"roles"`
}

type invitationResp struct {
	ID     string `json:"id"`
	Email  string `json:"email"`
	Status string `json:"status"`
}

// TestMemberRoutesInviteAcceptChangeRemove: an owner invites through the
// kit, the invitee signs up with the token, shows up as a member with the
// role, gets another role, and is removed (their session ends); a member
// without members:* permissions is refused every admin route, and nobody
// hands out rights they lack or removes the last owner.
func TestMemberRoutesInviteAcceptChangeRemove(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.tenant("acme", map[string]string{permission.OwnerRole: "*", "viewer": "docs:read", "editor": "docs:*"})
	owner := e.register("owner@example.com")
	require.NoError(t, e.m.AddMember(ctx, "acme", owner.ID))
	require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: owner.ID, TenantID: "acme", Role: permission.OwnerRole}))
	s := decode[sessionResp](t, e.api("").must("POST", "/login", map[string]string{"email": "owner@example.com", "password": password, "tenant_id": "acme"}, http.StatusOK))
	admin := e.api(s.Token)

	inv := decode[invitationResp](t, admin.must("POST", "/invitations", map[string]string{"email": "new@example.com", "role": "viewer"}, http.StatusCreated))
	assert.Equal(t, "pending", inv.Status)
	assert.NotContains(t, inv.ID, "av2i_")
	tok := e.mail.token(t, "invite:new@example.com")
	resp, body := e.api("").do("POST", "/invitations/accept", map[string]string{"token": "av2i_forged.x"})
	requireProblem(t, resp, body, http.StatusBadRequest, "invalid-token")
	joined := decode[userResp](t, e.api("").must("POST", "/invitations/accept", map[string]string{"token": tok, "password": password}, http.StatusCreated))
	assert.Equal(t, "new@example.com", joined.Email)
	resp, body = e.api("").do("POST", "/invitations/accept", map[string]string{"token": tok, "password": password})
	requireProblem(t, resp, body, http.StatusBadRequest, "invalid-token")

	members := decode[[]memberResp](t, admin.must("GET", "/members?limit=10", nil, http.StatusOK))
	require.Len(t, members, 2)
	var got memberResp
	for _, mb := range members {
		if mb.UserID == joined.ID {
			got = mb
		}
	}
	require.Len(t, got.Roles, 1)
	assert.Equal(t, "viewer", got.Roles[0].Role)

	changed := decode[memberResp](t, admin.must("PUT", "/members/"+joined.ID+"/roles", map[string]any{"roles": []map[string]string{{"role": "editor"}}}, http.StatusOK))
	require.Len(t, changed.Roles, 1)
	assert.Equal(t, "editor", changed.Roles[0].Role)

	// The new member: no members:* permission, so no admin route.
	ms := decode[sessionResp](t, e.api("").must("POST", "/login", map[string]string{"email": "new@example.com", "password": password, "tenant_id": "acme"}, http.StatusOK))
	member := e.api(ms.Token)
	for _, r := range [][2]string{{"GET", "/members"}, {"GET", "/invitations"}, {"POST", "/invitations"}, {"DELETE", "/members/" + owner.ID}} {
		resp, body := member.do(r[0], r[1], map[string]string{"email": "x@example.com", "role": "viewer"})
		requireProblem(t, resp, body, http.StatusForbidden, "forbidden")
	}
	resp, body = member.do("POST", "/ownership", map[string]string{"user_id": owner.ID})
	requireProblem(t, resp, body, http.StatusForbidden, "exceeds-own-rights")

	resp, body = admin.do("DELETE", "/members/"+owner.ID, nil)
	requireProblem(t, resp, body, http.StatusConflict, "last-owner")
	admin.must("DELETE", "/members/"+joined.ID, nil, http.StatusNoContent)
	resp, body = member.do("GET", "/me", nil)
	requireProblem(t, resp, body, http.StatusUnauthorized, "unauthenticated")

	// Revoke and resend.
	inv = decode[invitationResp](t, admin.must("POST", "/invitations", map[string]string{"email": "later@example.com", "role": "viewer"}, http.StatusCreated))
	admin.must("POST", "/invitations/"+inv.ID+"/resend", nil, http.StatusOK)
	admin.must("DELETE", "/invitations/"+inv.ID, nil, http.StatusNoContent)
	resp, body = admin.do("DELETE", "/invitations/"+inv.ID, nil)
	requireProblem(t, resp, body, http.StatusConflict, "conflict")
	list := decode[[]invitationResp](t, admin.must("GET", "/invitations", nil, http.StatusOK))
	assert.Len(t, list, 2)
}

// A session in no tenant reaches no tenant's administration: every
// tenant-admin route answers 403 not-member before looking at the body,
// including the ones whose check the Manager makes itself (ownership).
func TestTenantAdminRoutesNeedATenant(t *testing.T) {
	e := newEnv(t)
	e.register("loner@example.com")
	c, s := e.loginAPI("loner@example.com")
	require.Empty(t, s.TenantID)
	for _, r := range [][2]string{
		{"GET", "/members"}, {"PUT", "/members/u1/roles"}, {"DELETE", "/members/u1"}, {"POST", "/ownership"},
		{"GET", "/invitations"}, {"POST", "/invitations"}, {"POST", "/invitations/i1/resend"}, {"DELETE", "/invitations/i1"},
		{"GET", "/domains"}, {"POST", "/domains"}, {"POST", "/domains/example.com/verify"}, {"DELETE", "/domains/example.com"},
	} {
		resp, body := c.do(r[0], r[1], map[string]any{"email": "x@example.com", "role": "viewer", "user_id": "u1", "domain": "example.com"})
		requireProblem(t, resp, body, http.StatusForbidden, "not-member")
	}
}

// A page's limit is a whole number of 0 or more: anything else is 400
// validation, not silently the default page; 1 is one member.
func TestPageLimitIsValidated(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.tenant("acme", map[string]string{permission.OwnerRole: "*"})
	for _, email := range []string{"owner@example.com", "second@example.com"} {
		u := e.register(email)
		require.NoError(t, e.m.AddMember(ctx, "acme", u.ID))
		require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: u.ID, TenantID: "acme", Role: permission.OwnerRole}))
	}
	s := decode[sessionResp](t, e.api("").must("POST", "/login", map[string]string{"email": "owner@example.com", "password": password, "tenant_id": "acme"}, http.StatusOK))
	admin := e.api(s.Token)
	for _, q := range []string{"abc", "-1", "1.5", "1e3", "99999999999999999999"} {
		for _, path := range []string{"/members", "/invitations", "/impersonations"} {
			resp, body := admin.do("GET", path+"?limit="+q, nil)
			requireProblem(t, resp, body, http.StatusBadRequest, "validation")
		}
	}
	assert.Len(t, decode[[]memberResp](t, admin.must("GET", "/members?limit=1", nil, http.StatusOK)), 1)
	assert.Len(t, decode[[]memberResp](t, admin.must("GET", "/members?limit=0", nil, http.StatusOK)), 2, "0 is the default page")
}
