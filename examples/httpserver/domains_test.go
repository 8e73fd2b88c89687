package main

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/permission"
)

// TestDomainCapture drives domain capture end to end on every backend:
// the owner of acme claims example.org for clerks, publishes the TXT
// record the claim answers with and verifies it; dana, registered at
// dana@home.example (in a workspace of her own, as every registrant),
// signs in, changes her address to dana@example.org and opens the link
// mailed there signed in (her session's token with it): she is then a
// clerk of acme and reads its orders. Eve, who registers
// eve@example.org and verifies it signed out, joins nobody: a link
// opened without the account's session does not capture. The audit
// trail shows the claim, its verification and dana's joining.
func TestDomainCapture(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			box := newOutbox(slog.New(slog.DiscardHandler))
			sink := audit.NewMemorySink()
			zone := &authv2test.TXTRecords{}
			cfg := authv2test.Config()
			cfg.RequireEmailVerification = true
			// The options after the stores win over serveExample's config.
			m, _, ts := serveExample(t, append(b.opts(t), authv2.WithConfig(cfg),
				authv2.WithNotifier(box), authv2.WithAuditSink(sink), authv2.WithTXTResolver(zone)))
			anon := newAPIClient(t, ts, "")
			verify := func(c *client, email string) {
				var tok string
				require.Eventually(t, func() bool { tok = box.token("verify", email); return tok != "" }, 5*time.Second, time.Millisecond)
				mustDo(t, c, "POST", "/email-verification/complete", map[string]any{"token": tok}, http.StatusNoContent)
			}
			signUp := func(email string) userJSON {
				u := decodeInto[userJSON](t, mustDo(t, anon, "POST", "/register", map[string]any{"email": email, "password": password}, http.StatusCreated))
				verify(anon, email)
				return u
			}
			login := func(email string) *client {
				l := decodeInto[loginJSON](t, mustDo(t, anon, "POST", "/login", map[string]any{"email": email, "password": password, "tenant_id": "acme"}, http.StatusOK))
				return newAPIClient(t, ts, l.Token)
			}

			bob := signUp("bob@example.com")
			require.NoError(t, m.AddMember(t.Context(), "acme", bob.ID))
			require.NoError(t, m.Bind(t.Context(), permission.Binding{UserID: bob.ID, TenantID: "acme", Role: roleOwner}))
			owner := login("bob@example.com")

			type claimJSON struct {
				Domain string `json:"domain"`
				Record struct {
					Name  string `json:"name"`
					Value string `json:"value"`
				} `json:"record"`
			}
			claim := decodeInto[claimJSON](t, mustDo(t, owner, "POST", "/domains", map[string]any{"domain": "example.org", "role": roleClerk}, http.StatusCreated))
			assert.Equal(t, http.StatusBadRequest, owner.status("POST", "/domains/example.org/verify", nil), "nothing published yet")
			zone.Publish(claim.Record.Name, claim.Record.Value)
			mustDo(t, owner, "POST", "/domains/example.org/verify", nil, http.StatusOK)

			dana := signUp("dana@home.example")
			l := decodeInto[loginJSON](t, mustDo(t, anon, "POST", "/login", map[string]any{"email": "dana@home.example", "password": password}, http.StatusOK))
			moved := decodeInto[loginJSON](t, mustDo(t, newAPIClient(t, ts, l.Token), "POST", "/email", map[string]any{"email": "dana@example.org"}, http.StatusOK))
			verify(newAPIClient(t, ts, moved.Token), "dana@example.org")
			eve := signUp("eve@example.org")
			assert.Equal(t, http.StatusForbidden, anon.status("POST", "/login", map[string]any{"email": "eve@example.org", "password": password, "tenant_id": "acme"}),
				"verified signed out: not a member of acme")
			me := decodeInto[meJSON](t, mustDo(t, login("dana@example.org"), "GET", "/me", nil, http.StatusOK))
			assert.Equal(t, []string{roleClerk}, me.Roles)
			mustDo(t, login("dana@example.org"), "GET", "/orders", nil, http.StatusOK)

			require.NoError(t, m.FlushAudit(t.Context()))
			actions := map[string]string{}
			var joined []string
			for _, ev := range sink.Events() {
				switch {
				case ev.Type == audit.TypeAdminChange && ev.TenantID == "acme":
					actions[ev.Attributes["action"]] = ev.ActorUserID
				case ev.Type == audit.TypeMemberJoined && ev.TenantID == "acme":
					joined = append(joined, ev.ActorUserID)
				}
			}
			assert.Equal(t, bob.ID, actions["domain.add"])
			assert.Equal(t, bob.ID, actions["domain.verify"])
			assert.Equal(t, []string{dana.ID}, joined)
			assert.NotContains(t, joined, eve.ID)
		})
	}
}
