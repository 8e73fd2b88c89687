package handlers_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/permission"
)

type impersonationResp struct {
	ID             string `json:"id"`
	ActorUserID    string `json:"actor_user_id"`
	ActorSessionID string `json:"actor_session_id"`
	TargetUserID   string `json:"target_user_id"`
	Reason         string `json:"reason"`
	EndReason      string `json:"end_reason"`
}

// TestImpersonationRoutes: support staff signed in with a browser start
// an impersonation, get its token in the body (their cookie keeps their
// own session), act as the member with it, cannot change the member's
// password, end it, and are themselves again; the member lists it.
func TestImpersonationRoutes(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	_, err := e.m.CreateTenant(ctx, "acme", "Acme")
	require.NoError(t, err)
	for _, r := range []*permission.Role{
		{TenantID: "acme", Name: permission.OwnerRole, Grants: []permission.Grant{{Permission: "*", Effect: permission.Allow}}},
		{TenantID: "acme", Name: "support", Grants: []permission.Grant{
			{Permission: "docs:*", Effect: permission.Allow}, {Permission: authv2.PermissionImpersonate, Effect: permission.Allow}}},
		{TenantID: "acme", Name: "viewer", Grants: []permission.Grant{{Permission: "docs:read", Effect: permission.Allow}}},
	} {
		require.NoError(t, e.m.PutRole(ctx, r))
	}
	ids := map[string]string{}
	for email, role := range map[string]string{"owner@example.com": permission.OwnerRole, "support@example.com": "support", "viewer@example.com": "viewer"} {
		u := e.register(email)
		ids[email] = u.ID
		require.NoError(t, e.m.AddMember(ctx, "acme", u.ID))
		require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: u.ID, TenantID: "acme", Role: role}))
	}
	b := e.browser()
	own := decode[sessionResp](t, b.must("POST", "/login", map[string]string{"email": "support@example.com", "password": password, "tenant_id": "acme"}, http.StatusOK))
	assert.Empty(t, own.Token, "a browser's token is in its cookie")

	resp, body := b.do("POST", "/impersonations", map[string]any{"user_id": ids["owner@example.com"], "reason": "ticket #7"})
	requireProblem(t, resp, body, http.StatusForbidden, "exceeds-own-rights")
	resp, body = b.do("POST", "/impersonations", map[string]any{"user_id": ids["viewer@example.com"]})
	requireProblem(t, resp, body, http.StatusBadRequest, "validation")

	started := decode[struct {
		sessionResp
		Impersonation impersonationResp `json:"impersonation"`
	}](t, b.must("POST", "/impersonations", map[string]any{"user_id": ids["viewer@example.com"], "reason": "ticket #7", "duration_seconds": 900}, http.StatusCreated))
	require.NotEmpty(t, started.Token, "in the body, even for a browser")
	assert.Equal(t, own.SessionID, started.Impersonation.ActorSessionID)

	as := e.api(started.Token)
	me := decode[struct {
		meResp
		Impersonator string `json:"impersonator_user_id"`
	}](t, as.must("GET", "/me", nil, http.StatusOK))
	assert.Equal(t, ids["viewer@example.com"], me.ID)
	assert.Equal(t, ids["support@example.com"], me.Impersonator)
	resp, body = as.do("POST", "/password", map[string]string{"current_password": password, "new_password": "another correct horse staple"})
	requireProblem(t, resp, body, http.StatusForbidden, "impersonation")
	resp, body = as.do("POST", "/impersonations", map[string]any{"user_id": ids["owner@example.com"], "reason": "chain"})
	requireProblem(t, resp, body, http.StatusForbidden, "impersonation")

	ended := decode[impersonationResp](t, as.must("POST", "/impersonations/end", nil, http.StatusOK))
	assert.Equal(t, own.SessionID, ended.ActorSessionID, "back to this session")
	resp, body = as.do("GET", "/me", nil)
	requireProblem(t, resp, body, http.StatusUnauthorized, "unauthenticated")
	back := decode[meResp](t, b.must("GET", "/me", nil, http.StatusOK))
	assert.Equal(t, ids["support@example.com"], back.ID, "the cookie still holds the actor's own session")
	resp, body = b.do("POST", "/impersonations/end", nil)
	requireProblem(t, resp, body, http.StatusNotFound, "not-found")

	viewer, _ := e.loginAPI("viewer@example.com")
	list := decode[[]impersonationResp](t, viewer.must("GET", "/impersonations", nil, http.StatusOK))
	require.Len(t, list, 1)
	assert.Equal(t, ids["support@example.com"], list[0].ActorUserID)
	assert.Equal(t, "ticket #7", list[0].Reason)
	assert.Equal(t, "ended", list[0].EndReason)
}

// TestLogoutOfAnImpersonationKeepsTheActorsCookie: a browser app
// that uses the impersonation token as a bearer (its cookie holds the
// actor's own session) and signs out of the impersonation with POST
// /logout ends the impersonation, and the kit leaves the session cookie
// alone: the browser returns to the actor's own session.
func TestLogoutOfAnImpersonationKeepsTheActorsCookie(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.tenant("acme", map[string]string{"viewer": "docs:read"})
	require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "support", Grants: []permission.Grant{
		{Permission: "docs:*", Effect: permission.Allow}, {Permission: authv2.PermissionImpersonate, Effect: permission.Allow}}}))
	ids := map[string]string{}
	for email, role := range map[string]string{"support@example.com": "support", "viewer@example.com": "viewer"} {
		u := e.register(email)
		ids[email] = u.ID
		require.NoError(t, e.m.AddMember(ctx, "acme", u.ID))
		require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: u.ID, TenantID: "acme", Role: role}))
	}
	b := e.browser()
	b.must("POST", "/login", map[string]string{"email": "support@example.com", "password": password, "tenant_id": "acme"}, http.StatusOK)
	started := decode[sessionResp](t, b.must("POST", "/impersonations",
		map[string]any{"user_id": ids["viewer@example.com"], "reason": "ticket #7"}, http.StatusCreated))

	b.token = started.Token // the same browser, acting as the viewer
	b.must("POST", "/logout", nil, http.StatusNoContent)
	b.token = ""
	me := decode[meResp](t, b.must("GET", "/me", nil, http.StatusOK))
	require.Equal(t, ids["support@example.com"], me.ID, "back to the actor's own session")
}
