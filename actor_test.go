package authv2_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
)

// adminCtx is the context of a request Middleware authenticated for a
// platform administrator whose session is in tenant "ops".
func adminCtx(t *testing.T) context.Context {
	return authv2.WithPrincipal(t.Context(), &authv2.Principal{UserID: "admin-1", SessionID: "admin-session", TenantID: "ops"})
}

// TestAdminChangesRecordTheActor: every administrative change and every
// session it ends names who made it, taken from the principal Middleware
// put in the context. Before, none of them did (RevokeSessions even named
// the user whose sessions ended as the actor).
func TestAdminChangesRecordTheActor(t *testing.T) {
	e := newEnv(t)
	ctx := adminCtx(t)
	u := e.register(t, "target@example.com")
	_, err := e.m.CreateTenant(ctx, "acme", "Acme")
	require.NoError(t, err)
	require.NoError(t, e.m.AddMember(ctx, "acme", u.ID))
	require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "clerk",
		Grants: []permission.Grant{{Permission: "orders:read", Effect: permission.Allow}}}))
	b := permission.Binding{UserID: u.ID, TenantID: "acme", Role: "clerk"}
	require.NoError(t, e.m.Bind(ctx, b))
	require.NoError(t, e.m.Unbind(ctx, b))
	require.NoError(t, e.m.RemoveMember(ctx, "acme", u.ID))
	require.NoError(t, e.m.RevokeSession(ctx, e.login(t, "target@example.com").Session.ID, ""))
	e.login(t, "target@example.com")
	_, err = e.m.RevokeSessions(ctx, u.ID, authv2.RevokeOptions{})
	require.NoError(t, err)
	e.login(t, "target@example.com")
	require.NoError(t, e.m.LockUser(ctx, u.ID))
	require.NoError(t, e.m.UnlockUser(ctx, u.ID))
	e.login(t, "target@example.com")
	require.NoError(t, e.m.DisableUser(ctx, u.ID))
	require.NoError(t, e.m.DeleteTenant(ctx, "acme"))
	require.NoError(t, e.m.DeleteUser(ctx, u.ID))

	administrative := map[audit.Type]bool{audit.TypeAdminChange: true, audit.TypeSessionRevoked: true,
		audit.TypeLockout: true, audit.TypeUnlock: true, audit.TypeUserDisabled: true, audit.TypeUserDeleted: true}
	seen := map[audit.Type]int{}
	for _, ev := range e.sink.Events() {
		if !administrative[ev.Type] {
			continue
		}
		seen[ev.Type]++
		assert.Equal(t, "admin-1", ev.ActorUserID, "%s %s", ev.Type, ev.Attributes["action"])
		assert.Equal(t, "admin-session", ev.ActorSessionID, ev.Type)
		assert.Equal(t, "ops", ev.Attributes[audit.AttrActorTenant], ev.Type)
	}
	for typ := range administrative {
		assert.NotZero(t, seen[typ], "no %s event: the test checks nothing for it", typ)
	}
	assert.Equal(t, 4, seen[audit.TypeSessionRevoked], "RevokeSession, RevokeSessions, LockUser, DisableUser each ended one")
	for _, ev := range e.sink.OfType(audit.TypeSessionRevoked) {
		assert.Equal(t, u.ID, ev.Attributes[audit.AttrUser], "whose session ended, beside who ended it")
	}
}

// TestWithActorNamesTheActorOfJobs: a job without Middleware names its
// actor with WithActor, which also wins over a principal in the context.
func TestWithActorNamesTheActorOfJobs(t *testing.T) {
	e := newEnv(t)
	job := authv2.WithActor(t.Context(), &authv2.Principal{UserID: "nightly-cleanup"})
	_, err := e.m.CreateTenant(job, "acme", "Acme")
	require.NoError(t, err)
	_, err = e.m.CreateTenant(authv2.WithActor(adminCtx(t), &authv2.Principal{UserID: "cli"}), "globex", "Globex")
	require.NoError(t, err)
	events := e.sink.OfType(audit.TypeAdminChange)
	require.Len(t, events, 2)
	assert.Equal(t, "nightly-cleanup", events[0].ActorUserID)
	assert.Empty(t, events[0].Attributes[audit.AttrActorTenant])
	assert.Equal(t, "cli", events[1].ActorUserID, "WithActor takes precedence over the request's principal")
}

// TestMembershipAndStatusChangesCarryBeforeAndAfter: membership changes
// and account status changes show what they changed, as role and binding
// changes do. Before, member.add and member.remove carried neither state,
// nor did DisableUser, UnlockUser or DeleteUser.
func TestMembershipAndStatusChangesCarryBeforeAndAfter(t *testing.T) {
	e := newEnv(t)
	ctx := adminCtx(t)
	_, err := e.m.CreateTenant(ctx, "acme", "Acme")
	require.NoError(t, err)
	u := e.register(t, "m@example.com")
	require.NoError(t, e.m.AddMember(ctx, "acme", u.ID))
	require.NoError(t, e.m.RemoveMember(ctx, "acme", u.ID))
	require.NoError(t, e.m.AddMember(ctx, "acme", u.ID))
	require.NoError(t, e.m.DisableUser(ctx, u.ID))
	require.NoError(t, e.m.UnlockUser(ctx, u.ID))
	require.NoError(t, e.m.DeleteUser(ctx, u.ID))

	byAction := map[string]audit.Event{}
	for _, ev := range e.sink.OfType(audit.TypeAdminChange) {
		byAction[ev.Attributes["action"]] = ev
	}
	add, remove := byAction["member.add"], byAction["member.remove"]
	assert.Contains(t, add.Attributes["after"], u.ID)
	assert.Empty(t, add.Attributes["before"])
	assert.Contains(t, remove.Attributes["before"], `"TenantID":"acme"`)
	assert.Empty(t, remove.Attributes["after"])

	disabled := e.sink.OfType(audit.TypeUserDisabled)
	require.Len(t, disabled, 1)
	assert.Equal(t, `{"status":"active"}`, disabled[0].Attributes["before"])
	assert.Equal(t, `{"status":"disabled"}`, disabled[0].Attributes["after"])
	unlocked := e.sink.OfType(audit.TypeUnlock)
	require.Len(t, unlocked, 1)
	assert.Equal(t, `{"status":"disabled"}`, unlocked[0].Attributes["before"])
	assert.Equal(t, `{"status":"active"}`, unlocked[0].Attributes["after"])
	deleted := e.sink.OfType(audit.TypeUserDeleted)
	require.Len(t, deleted, 1)
	assert.JSONEq(t, `{"status":"active","tenants":["acme"]}`, deleted[0].Attributes["before"])
	for _, ev := range e.sink.Events() {
		assert.NotContains(t, ev.Attributes["before"], "argon2", "never the password hash")
	}
}

// TestEverySessionEndedIsAuditedAndCounted: each flow that ends sessions
// records a session.revoked event with its reason for every session it
// ended, and so the authv2.sessions.revoked metric. Before, only
// RevokeSession(s), RemoveMember and DeleteTenant did: a password change
// or reset, a disable, lock, delete or email change ended sessions
// silently.
func TestEverySessionEndedIsAuditedAndCounted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reason string
		keeps  bool // the acting session lives on (rotated)
		end    func(t *testing.T, e *env, n *captureNotifier, p *authv2.Principal)
	}{
		{"disable", session.ReasonUserDisabled, false, func(t *testing.T, e *env, _ *captureNotifier, p *authv2.Principal) {
			require.NoError(t, e.m.DisableUser(adminCtx(t), p.UserID))
		}},
		{"lock", "user_locked", false, func(t *testing.T, e *env, _ *captureNotifier, p *authv2.Principal) {
			require.NoError(t, e.m.LockUser(adminCtx(t), p.UserID))
		}},
		{"delete", "user_deleted", false, func(t *testing.T, e *env, _ *captureNotifier, p *authv2.Principal) {
			require.NoError(t, e.m.DeleteUser(adminCtx(t), p.UserID))
		}},
		{"reset", session.ReasonPasswordChange, false, func(t *testing.T, e *env, n *captureNotifier, _ *authv2.Principal) {
			require.NoError(t, e.m.RequestPasswordReset(t.Context(), "s@example.com"))
			require.NoError(t, e.m.ResetPassword(t.Context(), n.wait(t, n.resets, "s@example.com"), "a fresh new passphrase"))
		}},
		{"password change", session.ReasonPasswordChange, true, func(t *testing.T, e *env, _ *captureNotifier, p *authv2.Principal) {
			_, err := e.m.ChangePassword(t.Context(), p, goodPassword, "a fresh new passphrase")
			require.NoError(t, err)
		}},
		{"email change", session.ReasonEmailChange, true, func(t *testing.T, e *env, _ *captureNotifier, p *authv2.Principal) {
			_, err := e.m.ChangeEmail(t.Context(), p, "new@example.com")
			require.NoError(t, err)
		}},
		{"tenant deletion", "tenant_deleted", false, func(t *testing.T, e *env, _ *captureNotifier, _ *authv2.Principal) {
			require.NoError(t, e.m.DeleteTenant(adminCtx(t), "acme"))
		}},
		{"member removal", "membership_removed", false, func(t *testing.T, e *env, _ *captureNotifier, p *authv2.Principal) {
			require.NoError(t, e.m.RemoveMember(adminCtx(t), "acme", p.UserID))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newCaptureNotifier()
			o := newOtelEnv(t, authv2.WithNotifier(n))
			_, err := o.m.CreateTenant(t.Context(), "acme", "Acme")
			require.NoError(t, err)
			_, err = o.m.Register(t.Context(), authv2.RegisterInput{Email: "s@example.com", Password: goodPassword, TenantID: "acme"})
			require.NoError(t, err)
			first := o.login(t, "s@example.com")
			want := []string{o.login(t, "s@example.com").Session.ID, o.login(t, "s@example.com").Session.ID}
			if !tc.keeps {
				want = append(want, first.Session.ID)
			}
			p, err := o.m.Authenticate(t.Context(), first.Token, session.ClientInfo{})
			require.NoError(t, err)

			tc.end(t, o.env, n, p)

			var got []string
			for _, ev := range o.sink.OfType(audit.TypeSessionRevoked) {
				assert.Equal(t, tc.reason, ev.Reason)
				assert.Equal(t, p.UserID, ev.Attributes[audit.AttrUser])
				got = append(got, ev.Target)
			}
			assert.ElementsMatch(t, want, got, "one event per session ended")
			revoked := sumByAttr(t, o.metrics(t)["authv2.sessions.revoked"], "authv2.reason")
			assert.Equal(t, int64(len(want)), revoked[tc.reason], "the metric follows the events")
		})
	}
}
