package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/permission"
)

// TestInviteAcceptChangeRemove drives member management end to end on
// every backend: an owner of acme invites carol as a clerk, carol signs
// up with the token and reads orders as a member, makes an API key, calls
// with it and revokes it; a manager impersonates her (the trail names
// both of them for what is done meanwhile; the impersonation cannot make
// keys) and ends it, back in their own session; carol sees who acted as
// her and why; the owner makes her a manager (she refunds 900), then
// removes her: her session ends and she cannot log in to acme again. The
// audit trail names the actor of every step.
func TestInviteAcceptChangeRemove(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			box := newOutbox(slog.New(slog.DiscardHandler))
			sink := audit.NewMemorySink()
			opts := append([]authv2.Option{authv2.WithConfig(authv2test.Config()), authv2.WithInsecurePasswordHashing(),
				authv2.WithNotifier(box), authv2.WithAuditSink(sink)}, b.opts(t)...)
			m, err := authv2.New(opts...)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
			orders, err := seed(t.Context(), m)
			require.NoError(t, err)
			ts := httptest.NewTLSServer(newServer(m, orders, slog.New(slog.DiscardHandler)))
			t.Cleanup(ts.Close)
			anon := newAPIClient(t, ts, "")

			bob := decodeInto[userJSON](t, mustDo(t, anon, "POST", "/register", map[string]any{"email": "bob@example.com", "password": password}, http.StatusCreated))
			require.NoError(t, m.AddMember(t.Context(), "acme", bob.ID))
			require.NoError(t, m.Bind(t.Context(), permission.Binding{UserID: bob.ID, TenantID: "acme", Role: roleOwner}))
			login := func(email string) *client {
				l := decodeInto[loginJSON](t, mustDo(t, anon, "POST", "/login", map[string]any{"email": email, "password": password, "tenant_id": "acme"}, http.StatusOK))
				return newAPIClient(t, ts, l.Token)
			}
			owner := login("bob@example.com")

			mustDo(t, owner, "POST", "/invitations", map[string]any{"email": "carol@example.com", "role": roleClerk}, http.StatusCreated)
			var tok string
			require.Eventually(t, func() bool { tok = box.token("invite", "carol@example.com"); return tok != "" }, 5*time.Second, time.Millisecond)
			carolUser := decodeInto[userJSON](t, mustDo(t, anon, "POST", "/invitations/accept", map[string]any{"token": tok, "password": password}, http.StatusCreated))
			carol := login("carol@example.com")
			me := decodeInto[meJSON](t, mustDo(t, carol, "GET", "/me", nil, http.StatusOK))
			assert.Equal(t, []string{roleClerk}, me.Roles)
			mustDo(t, carol, "GET", "/orders", nil, http.StatusOK)
			assert.Equal(t, http.StatusForbidden, carol.status("POST", "/orders/A-200/refund", nil), "a clerk refunds up to 500")

			// Carol's own API key: made, used, revoked.
			key := decodeInto[apiKeyJSON](t, mustDo(t, carol, "POST", "/api-keys", map[string]any{"name": "sheet", "permissions": []string{"orders:read"}}, http.StatusCreated))
			mustDo(t, newAPIClient(t, ts, key.Key), "GET", "/orders", nil, http.StatusOK)
			mustDo(t, carol, "DELETE", "/api-keys/"+key.ID, nil, http.StatusNoContent)
			assert.Equal(t, http.StatusUnauthorized, newAPIClient(t, ts, key.Key).status("GET", "/orders", nil))

			// Dave, a manager, helps her: he acts as carol, sees what she
			// sees, cannot make keys as her, and ends it.
			dave := decodeInto[userJSON](t, mustDo(t, anon, "POST", "/register", map[string]any{"email": "dave@example.com", "password": password}, http.StatusCreated))
			require.NoError(t, m.AddMember(t.Context(), "acme", dave.ID))
			require.NoError(t, m.Bind(t.Context(), permission.Binding{UserID: dave.ID, TenantID: "acme", Role: roleManager}))
			support := login("dave@example.com")
			assert.Equal(t, http.StatusForbidden, support.status("POST", "/impersonations", map[string]any{"user_id": bob.ID, "reason": "x"}),
				"never as someone with more rights (the owner)")
			imp := decodeInto[struct {
				Token         string `json:"token"`
				Impersonation struct {
					ID             string `json:"id"`
					ActorSessionID string `json:"actor_session_id"`
				} `json:"impersonation"`
			}](t, mustDo(t, support, "POST", "/impersonations", map[string]any{"user_id": carolUser.ID, "reason": "ticket 1234: cannot see order A-100"}, http.StatusCreated))
			asCarol := newAPIClient(t, ts, imp.Token)
			me = decodeInto[meJSON](t, mustDo(t, asCarol, "GET", "/me", nil, http.StatusOK))
			assert.Equal(t, carolUser.ID, me.ID)
			mustDo(t, asCarol, "GET", "/orders", nil, http.StatusOK)
			assert.Equal(t, http.StatusForbidden, asCarol.status("POST", "/orders/A-200/refund", nil), "carol's rights, not dave's")
			assert.Equal(t, http.StatusForbidden, asCarol.status("POST", "/api-keys", map[string]any{"name": "x", "permissions": []string{"orders:read"}}))
			mustDo(t, asCarol, "POST", "/impersonations/end", nil, http.StatusOK)
			assert.Equal(t, http.StatusUnauthorized, asCarol.status("GET", "/me", nil))
			me = decodeInto[meJSON](t, mustDo(t, support, "GET", "/me", nil, http.StatusOK))
			assert.Equal(t, dave.ID, me.ID, "back in dave's own session")
			seen := decodeInto[[]struct {
				ActorUserID string `json:"actor_user_id"`
				Reason      string `json:"reason"`
			}](t, mustDo(t, carol, "GET", "/impersonations", nil, http.StatusOK))
			require.Len(t, seen, 1)
			assert.Equal(t, dave.ID, seen[0].ActorUserID)
			assert.Contains(t, seen[0].Reason, "ticket 1234")
			require.NoError(t, m.FlushAudit(t.Context()))
			both := map[audit.Type]int{}
			for _, ev := range sink.Events() {
				if ev.ActorUserID == carolUser.ID && ev.ImpersonatorUserID == dave.ID {
					both[ev.Type]++
				}
			}
			assert.Positive(t, both[audit.TypeAuthorizeDecision], "the refund refused to the impersonation names both")
			assert.Positive(t, both[audit.TypeSessionCreated])

			mustDo(t, owner, "PUT", "/members/"+carolUser.ID+"/roles", map[string]any{"roles": []map[string]string{{"role": roleManager}}}, http.StatusOK)
			me = decodeInto[meJSON](t, mustDo(t, carol, "GET", "/me", nil, http.StatusOK))
			assert.Equal(t, []string{roleManager}, me.Roles)
			mustDo(t, carol, "POST", "/orders/A-200/refund", nil, http.StatusOK)
			assert.Equal(t, http.StatusForbidden, carol.status("POST", "/invitations", map[string]any{"email": "x@example.com", "role": roleClerk}),
				"a manager has no members:invite")

			mustDo(t, owner, "DELETE", "/members/"+carolUser.ID, nil, http.StatusNoContent)
			assert.Equal(t, http.StatusUnauthorized, carol.status("GET", "/me", nil))
			assert.NotEqual(t, http.StatusOK, anon.status("POST", "/login", map[string]any{"email": "carol@example.com", "password": password, "tenant_id": "acme"}))

			require.NoError(t, m.FlushAudit(t.Context()))
			actors := map[string]string{}
			for _, ev := range sink.Events() {
				if ev.Type == audit.TypeAdminChange && ev.TenantID == "acme" {
					actors[ev.Attributes["action"]] = ev.ActorUserID
				}
			}
			assert.Equal(t, bob.ID, actors["invitation.create"])
			assert.Equal(t, carolUser.ID, actors["invitation.accept"])
			assert.Equal(t, bob.ID, actors["member.roles"])
			assert.Equal(t, bob.ID, actors["member.remove"])
		})
	}
}
