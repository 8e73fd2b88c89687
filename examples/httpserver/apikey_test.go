package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/permission"
)

type apiKeyJSON struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// TestAPIKeyJourney drives API keys and a service account end to end over
// HTTP: create a key → call the API with it → revoke it → the call is
// refused; the same for a service account's key, ended by disabling the
// account.
func TestAPIKeyJourney(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			sink := audit.NewMemorySink()
			m, _, ts := serveExample(t, append(b.opts(t), authv2.WithAuditSink(sink)))
			ctx := t.Context()
			api := newAPIClient(t, ts, "")
			ada := decodeInto[registeredJSON](t, mustDo(t, api, "POST", "/register", map[string]any{"email": "ada@example.com", "password": password}, http.StatusCreated))
			require.NoError(t, m.AddMember(ctx, "acme", ada.ID))
			require.NoError(t, m.Bind(ctx, permission.Binding{UserID: ada.ID, TenantID: "acme", Role: roleManager}))
			login := decodeInto[loginJSON](t, mustDo(t, api, "POST", "/login", map[string]any{"email": "ada@example.com", "password": password, "tenant_id": "acme"}, http.StatusOK))
			session := newAPIClient(t, ts, login.Token)

			// A read-only key of Ada's: it lists orders, it cannot refund
			// (which Ada, a manager, can).
			k := decodeInto[apiKeyJSON](t, mustDo(t, session, "POST", "/api-keys", map[string]any{"name": "reporting", "permissions": []string{"orders:read"}}, http.StatusCreated))
			withKey := newAPIClient(t, ts, k.Key)
			orders := mustDo(t, withKey, "GET", "/orders", nil, http.StatusOK)
			assert.Contains(t, string(orders), "A-100")
			assert.NotContains(t, string(orders), "G-100", "the key's tenant only")
			assert.Equal(t, http.StatusForbidden, withKey.status("POST", "/orders/A-100/refund", nil))
			assert.Equal(t, http.StatusOK, session.status("POST", "/orders/A-200/refund", nil), "Ada herself may")

			mustDo(t, session, "DELETE", "/api-keys/"+k.ID, nil, http.StatusNoContent)
			assert.Equal(t, http.StatusUnauthorized, withKey.status("GET", "/orders", nil), "a revoked key is refused")

			// A service account bound as a clerk, with a key.
			sa := decodeInto[struct {
				ID string `json:"id"`
			}](t, mustDo(t, session, "POST", "/service-accounts", map[string]any{"name": "exporter"}, http.StatusCreated))
			require.NoError(t, m.Bind(ctx, permission.Binding{UserID: sa.ID, TenantID: "acme", Role: roleClerk}))
			sk := decodeInto[apiKeyJSON](t, mustDo(t, session, "POST", "/service-accounts/"+sa.ID+"/api-keys",
				map[string]any{"name": "nightly", "permissions": []string{"orders:*"}}, http.StatusCreated))
			bot := newAPIClient(t, ts, sk.Key)
			mustDo(t, bot, "GET", "/orders", nil, http.StatusOK)
			assert.Equal(t, http.StatusOK, bot.status("POST", "/orders/A-100/refund", nil), "a clerk refunds 120")
			assert.Equal(t, http.StatusForbidden, bot.status("POST", "/orders/A-200/refund", nil), "but not 900: the owner's condition holds for its key (authorization comes first)")
			mustDo(t, session, "POST", "/service-accounts/"+sa.ID+"/disable", nil, http.StatusNoContent)
			assert.Equal(t, http.StatusUnauthorized, bot.status("GET", "/orders", nil))

			// The trail names who created and revoked each key, and every refusal.
			require.NoError(t, m.FlushAudit(ctx))
			count := map[audit.Type]int{}
			for _, e := range sink.Events() {
				count[e.Type]++
				if e.Type == audit.TypeAPIKeyCreated {
					assert.Equal(t, ada.ID, e.ActorUserID)
				}
			}
			assert.Equal(t, 2, count[audit.TypeAPIKeyCreated])
			assert.Equal(t, 2, count[audit.TypeAPIKeyRevoked], "one by hand, one with the disabled account")
			assert.Equal(t, 2, count[audit.TypeAPIKeyDenied])
		})
	}
}
