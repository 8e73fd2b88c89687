package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
)

type keyResp struct {
	ID          string   `json:"id"`
	Key         string   `json:"key"`
	OwnerID     string   `json:"owner_id"`
	OwnerKind   string   `json:"owner_kind"`
	TenantID    string   `json:"tenant_id"`
	Permissions []string `json:"permissions"`
	LastUsedAt  *string  `json:"last_used_at"`
	RevokedAt   *string  `json:"revoked_at"`
}

// tenantEnv is a kit with tenant acme where Ada holds orders:read and
// administers service accounts; Bob is in no tenant.
func tenantEnv(t *testing.T) (*env, *client, *client) {
	e := newEnv(t)
	ada := e.register("ada@example.com")
	e.register("bob@example.com")
	ctx := t.Context()
	_, err := e.m.CreateTenant(ctx, "acme", "Acme")
	require.NoError(t, err)
	require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "admin", Grants: []permission.Grant{
		{Permission: "orders:read", Effect: permission.Allow},
		{Permission: "service_accounts:manage", Effect: permission.Allow},
	}}))
	require.NoError(t, e.m.AddMember(ctx, "acme", ada.ID))
	require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: ada.ID, TenantID: "acme", Role: "admin"}))
	s := decode[sessionResp](t, e.api("").must("POST", "/login",
		map[string]string{"email": "ada@example.com", "password": password, "tenant_id": "acme"}, http.StatusOK))
	bob, _ := e.loginAPI("bob@example.com")
	return e, e.api(s.Token), bob
}

func TestAPIKeyRoutes(t *testing.T) {
	e, ada, bob := tenantEnv(t)
	k := decode[keyResp](t, ada.must("POST", "/api-keys", map[string]any{"name": "ci", "permissions": []string{"orders:read"}}, http.StatusCreated))
	assert.True(t, strings.HasPrefix(k.Key, "av2k_"))
	assert.Equal(t, "acme", k.TenantID)
	assert.Equal(t, "user", k.OwnerKind)

	withKey := e.api(k.Key)
	withKey.bearer = false
	me := decode[meResp](t, withKey.must("GET", "/me", nil, http.StatusOK))
	assert.Equal(t, k.OwnerID, me.ID)
	assert.Empty(t, me.SessionID, "a key is no session")

	list := ada.must("GET", "/api-keys", nil, http.StatusOK)
	assert.NotContains(t, string(list), k.Key, "a key's secret is shown once")
	keys := decode[[]keyResp](t, list)
	require.Len(t, keys, 1)
	assert.NotNil(t, keys[0].LastUsedAt)

	// A key cannot mint keys or change credentials.
	resp, body := withKey.do("POST", "/api-keys", map[string]any{"name": "child", "permissions": []string{"orders:read"}})
	requireProblem(t, resp, body, http.StatusForbidden, "session-required")
	resp, body = withKey.do("POST", "/password", map[string]string{"current_password": password, "new_password": "another long passphrase"})
	requireProblem(t, resp, body, http.StatusForbidden, "session-required")

	// More than the owner holds; hostile bodies.
	resp, body = ada.do("POST", "/api-keys", map[string]any{"name": "x", "permissions": []string{"users:delete"}})
	p := requireProblem(t, resp, body, http.StatusBadRequest, "validation")
	assert.Equal(t, []string{"permissions"}, fields(p))
	resp, body = ada.do("POST", "/api-keys", `{"name": 1}`)
	requireProblem(t, resp, body, http.StatusBadRequest, "malformed-body")
	resp, body = ada.do("POST", "/api-keys", map[string]any{"name": "x", "permissions": []string{"orders:read"}, "expires_at": "2001-01-01T00:00:00Z"})
	requireProblem(t, resp, body, http.StatusBadRequest, "validation")
	resp, body = bob.do("POST", "/api-keys", map[string]any{"name": "x", "permissions": []string{"orders:read"}})
	requireProblem(t, resp, body, http.StatusBadRequest, "validation") // Bob's session is in no tenant

	// Another's key answers like an unknown one.
	resp, body = bob.do("DELETE", "/api-keys/"+k.ID, nil)
	requireProblem(t, resp, body, http.StatusNotFound, "not-found")
	withKey.must("GET", "/me", nil, http.StatusOK)

	ada.must("DELETE", "/api-keys/"+k.ID, nil, http.StatusNoContent)
	resp, body = withKey.do("GET", "/me", nil)
	requireProblem(t, resp, body, http.StatusUnauthorized, "unauthenticated")

	k2 := decode[keyResp](t, ada.must("POST", "/api-keys", map[string]any{"name": "ci2", "permissions": []string{"orders:read"}}, http.StatusCreated))
	all := decode[struct {
		Revoked []string `json:"revoked"`
	}](t, ada.must("DELETE", "/api-keys", nil, http.StatusOK))
	assert.Equal(t, []string{k2.ID}, all.Revoked)
}

// A key holds the patterns it was given, not its owner's account: with
// orders:read it can neither see where the owner is signed in, nor sign
// them out, nor revoke their keys (itself included: the owner does that).
func TestAPIKeyCannotManageItsOwnersSessionsOrKeys(t *testing.T) {
	e, ada, _ := tenantEnv(t)
	k := decode[keyResp](t, ada.must("POST", "/api-keys", map[string]any{"name": "ci", "permissions": []string{"orders:read"}}, http.StatusCreated))
	other := decode[keyResp](t, ada.must("POST", "/api-keys", map[string]any{"name": "ci2", "permissions": []string{"orders:read"}}, http.StatusCreated))
	sessionID := decode[meResp](t, ada.must("GET", "/me", nil, http.StatusOK)).SessionID
	withKey := e.api(k.Key)
	withKey.bearer = false
	for _, r := range []struct{ method, path string }{
		{"GET", "/sessions"}, {"DELETE", "/sessions/" + sessionID}, {"GET", "/mfa"},
		{"DELETE", "/api-keys/" + other.ID}, {"DELETE", "/api-keys/" + k.ID}, {"DELETE", "/api-keys"},
	} {
		resp, body := withKey.do(r.method, r.path, nil)
		requireProblem(t, resp, body, http.StatusForbidden, "session-required")
	}
	ada.must("GET", "/me", nil, http.StatusOK)
	e.api(other.Key).must("GET", "/me", nil, http.StatusOK)
	withKey.must("GET", "/api-keys", nil, http.StatusOK)
}

type saResp struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	Disabled bool   `json:"disabled"`
}

func TestServiceAccountRoutes(t *testing.T) {
	e, ada, bob := tenantEnv(t)
	resp, body := bob.do("POST", "/service-accounts", map[string]string{"name": "exporter"})
	requireProblem(t, resp, body, http.StatusForbidden, "forbidden")

	sa := decode[saResp](t, ada.must("POST", "/service-accounts", map[string]string{"name": "exporter"}, http.StatusCreated))
	assert.Equal(t, "acme", sa.TenantID)
	list := decode[[]saResp](t, ada.must("GET", "/service-accounts", nil, http.StatusOK))
	require.Len(t, list, 1)

	// It holds nothing yet, so no key can name orders:read.
	resp, body = ada.do("POST", "/service-accounts/"+sa.ID+"/api-keys", map[string]any{"name": "k", "permissions": []string{"orders:read"}})
	requireProblem(t, resp, body, http.StatusBadRequest, "validation")
	require.NoError(t, e.m.PutRole(t.Context(), &permission.Role{TenantID: "acme", Name: "reader",
		Grants: []permission.Grant{{Permission: "orders:read", Effect: permission.Allow}}}))
	require.NoError(t, e.m.Bind(t.Context(), permission.Binding{UserID: sa.ID, TenantID: "acme", Role: "reader"}))
	k := decode[keyResp](t, ada.must("POST", "/service-accounts/"+sa.ID+"/api-keys",
		map[string]any{"name": "k", "permissions": []string{"orders:read"}}, http.StatusCreated))
	assert.Equal(t, "service_account", k.OwnerKind)
	withKey := e.api(k.Key)
	withKey.must("GET", "/api-keys", nil, http.StatusOK)
	keys := decode[[]keyResp](t, ada.must("GET", "/service-accounts/"+sa.ID+"/api-keys", nil, http.StatusOK))
	require.Len(t, keys, 1)

	// The service account's key cannot administer service accounts: its
	// owner holds no service_accounts:manage.
	resp, body = withKey.do("GET", "/service-accounts", nil)
	requireProblem(t, resp, body, http.StatusForbidden, "forbidden")

	ada.must("POST", "/service-accounts/"+sa.ID+"/disable", nil, http.StatusNoContent)
	resp, body = withKey.do("GET", "/api-keys", nil)
	requireProblem(t, resp, body, http.StatusUnauthorized, "unauthenticated")
	ada.must("POST", "/service-accounts/"+sa.ID+"/enable", nil, http.StatusNoContent)
	resp, body = ada.do("DELETE", "/service-accounts/"+sa.ID+"/api-keys/"+k.ID, nil)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, string(body))
	resp, body = ada.do("DELETE", "/service-accounts/sa_unknown", nil)
	requireProblem(t, resp, body, http.StatusNotFound, "not-found")
	ada.must("DELETE", "/service-accounts/"+sa.ID, nil, http.StatusNoContent)
	ada.must("GET", "/service-accounts", nil, http.StatusOK)
}
