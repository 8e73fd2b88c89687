package authv2_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/postgres"
)

// hostileStrings are what a SQL database refuses to store as text: NUL
// bytes and invalid UTF-8.
var hostileStrings = []string{"nul\x00byte", "bad\xffutf8", "\xc3\x28", "\x00"}

// hostileCalls drives every Manager entry point that takes caller text
// with s in one field. Each returns the error the call gave.
func hostileCalls(m *authv2.Manager, tok string, s string) map[string]error {
	ctx := context.Background()
	email := "h" + s + "@example.com"
	errs := map[string]error{}
	reg := func(in authv2.RegisterInput) error { _, err := m.Register(ctx, in); return err }
	login := func(in authv2.LoginInput) error { _, err := m.Login(ctx, in); return err }
	errs["register email"] = reg(authv2.RegisterInput{Email: email, Password: goodPassword})
	errs["register name"] = reg(authv2.RegisterInput{Email: "n@example.com", Password: goodPassword, DisplayName: s})
	errs["register tenant"] = reg(authv2.RegisterInput{Email: "t@example.com", Password: goodPassword, TenantID: s})
	errs["register attr value"] = reg(authv2.RegisterInput{Email: "v@example.com", Password: goodPassword, Attributes: map[string]string{"k": s}})
	errs["register attr key"] = reg(authv2.RegisterInput{Email: "k@example.com", Password: goodPassword, Attributes: map[string]string{s: "v"}})
	errs["login email"] = login(authv2.LoginInput{Email: email, Password: goodPassword})
	errs["login tenant"] = login(authv2.LoginInput{Email: "victim@example.com", Password: goodPassword, TenantID: s})
	errs["login scope"] = login(authv2.LoginInput{Email: "victim@example.com", Password: goodPassword, Scope: "region:" + s})
	errs["reset request"] = m.RequestPasswordReset(ctx, email)
	errs["reset"] = m.ResetPassword(ctx, oneTimeToken("av2r_", s), "a brand new passphrase")
	_, errs["verify"] = m.VerifyEmail(ctx, oneTimeToken("av2v_", s))
	errs["verify request"] = m.RequestEmailVerification(ctx, s)
	_, errs["switch tenant"] = m.SwitchTenant(ctx, tok, s, "")
	_, errs["create tenant id"] = m.CreateTenant(ctx, s, "Name")
	_, errs["create tenant name"] = m.CreateTenant(ctx, "fine", s)
	errs["add member"] = m.AddMember(ctx, s, "someone")
	errs["disable user"] = m.DisableUser(ctx, s)
	_, errs["user"] = m.User(ctx, s)
	_, errs["list sessions"] = m.ListSessions(ctx, s)
	errs["revoke session"] = m.RevokeSession(ctx, s, "")
	errs["bind"] = m.Bind(ctx, permission.Binding{UserID: s, TenantID: "acme", Role: "viewer"})
	_, errs["list bindings"] = m.ListBindings(ctx, "acme", s)
	errs["lock user"] = m.LockUser(ctx, s)
	errs["unlock user"] = m.UnlockUser(ctx, s)
	errs["delete user"] = m.DeleteUser(ctx, s)
	_, errs["api key"] = m.APIKey(ctx, s)
	errs["revoke api key"] = m.RevokeAPIKey(ctx, s)
	_, errs["revoke api keys"] = m.RevokeAPIKeys(ctx, s, "")
	_, errs["service account"] = m.ServiceAccount(ctx, s)
	_, errs["list service accounts"] = m.ListServiceAccounts(ctx, s)
	errs["disable service account"] = m.DisableServiceAccount(ctx, s)
	errs["delete service account"] = m.DeleteServiceAccount(ctx, s)
	_, errs["list members"] = m.ListMembers(ctx, s, "", 10)
	errs["remove member"] = m.RemoveMember(ctx, "acme", s)
	_, errs["list invitations"] = m.ListInvitations(ctx, s, "", 10)
	_, errs["resend invitation"] = m.ResendInvitation(ctx, "acme", s)
	errs["revoke invitation"] = m.RevokeInvitation(ctx, "acme", s)
	errs["transfer ownership"] = m.TransferOwnership(ctx, "acme", s)
	addDomain := func(in authv2.TenantDomainInput) error { _, err := m.AddTenantDomain(ctx, in); return err }
	errs["add domain tenant"] = addDomain(authv2.TenantDomainInput{TenantID: s, Domain: "example.org", Role: "viewer"})
	errs["add domain"] = addDomain(authv2.TenantDomainInput{TenantID: "acme", Domain: s + ".example.org", Role: "viewer"})
	errs["add domain role"] = addDomain(authv2.TenantDomainInput{TenantID: "acme", Domain: "example.org", Role: s})
	errs["add domain scope"] = addDomain(authv2.TenantDomainInput{TenantID: "acme", Domain: "example.org", Role: "viewer", Scope: "region:" + s})
	_, errs["list domains"] = m.ListTenantDomains(ctx, s)
	_, errs["verify domain tenant"] = m.VerifyTenantDomain(ctx, s, "example.org")
	_, errs["verify domain"] = m.VerifyTenantDomain(ctx, "acme", s)
	errs["remove domain tenant"] = m.RemoveTenantDomain(ctx, s, "example.org")
	errs["remove domain"] = m.RemoveTenantDomain(ctx, "acme", s)
	return errs
}

// TestHostileInputIsAValidationError: text a database cannot store is
// refused as bad input (400), never reported as an outage (503), on the
// memory store and on PostgreSQL.
func TestHostileInputIsAValidationError(t *testing.T) {
	stores := map[string]func(t *testing.T) []authv2.Option{
		"memory": func(*testing.T) []authv2.Option { return nil },
		"postgres": func(t *testing.T) []authv2.Option {
			env := pgtest.New(t)
			return []authv2.Option{authv2.WithUserStore(env.Stores.Users), authv2.WithSessionStore(env.Stores.Sessions),
				authv2.WithPermissionStore(env.Stores.Permissions), authv2.WithRateLimiter(env.Stores.Limiter)}
		},
	}
	for name, opts := range stores {
		t.Run(name, func(t *testing.T) {
			m := authv2test.NewManager(t, append(opts(t), authv2.WithNotifier(newCaptureNotifier()))...)
			_, err := m.CreateTenant(t.Context(), "acme", "Acme")
			require.NoError(t, err)
			_, err = m.Register(t.Context(), authv2.RegisterInput{Email: "victim@example.com", Password: goodPassword})
			require.NoError(t, err)
			res, err := m.Login(t.Context(), authv2.LoginInput{Email: "victim@example.com", Password: goodPassword})
			require.NoError(t, err)
			for _, s := range hostileStrings {
				for call, err := range hostileCalls(m, res.Token, s) {
					assert.False(t, errors.Is(err, authv2.ErrStoreUnavailable), "%s with %q: an outage: %v", call, s, err)
					if strings.HasPrefix(call, "reset") && call != "reset request" || call == "verify" {
						assert.ErrorIs(t, err, authv2.ErrInvalidToken, "%s with %q", call, s)
						continue
					}
					assert.ErrorIs(t, err, authv2.ErrValidation, "%s with %q", call, s)
				}
			}
			_, err = m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
			require.NoError(t, err, "hostile input left the victim's session alone")
		})
	}
}

// FuzzManagerOnPostgres drives the Manager's entry points with arbitrary
// text against the PostgreSQL store: whatever the input, the answer is a
// typed error or success, never an outage or a raw database error. CI
// runs it with the database; without one it skips.
func FuzzManagerOnPostgres(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s)
	}
	f.Add("ordinary")
	f.Add("region:eu/../region:us")
	env := pgtest.New(f)
	m, err := authv2.New(authv2.WithUserStore(env.Stores.Users), authv2.WithSessionStore(env.Stores.Sessions),
		authv2.WithPermissionStore(env.Stores.Permissions), authv2.WithRateLimiter(env.Stores.Limiter),
		authv2.WithConfig(authv2test.Config()), authv2.WithInsecurePasswordHashing(), authv2.WithNotifier(newCaptureNotifier()))
	require.NoError(f, err)
	f.Cleanup(func() { require.NoError(f, m.Close(context.Background())) })
	_, err = m.CreateTenant(f.Context(), "acme", "Acme")
	require.NoError(f, err)
	_, err = m.Register(f.Context(), authv2.RegisterInput{Email: "victim@example.com", Password: goodPassword})
	require.NoError(f, err)
	res, err := m.Login(f.Context(), authv2.LoginInput{Email: "victim@example.com", Password: goodPassword})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, s string) {
		for call, err := range hostileCalls(m, res.Token, s) {
			if errors.Is(err, authv2.ErrStoreUnavailable) {
				t.Fatalf("%s with %q: an outage: %v", call, s, err)
			}
			var raw *postgres.Error
			if errors.As(err, &raw) {
				t.Fatalf("%s with %q: a raw database error: %v", call, s, err)
			}
		}
	})
}
