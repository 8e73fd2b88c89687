package authv2_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/internal/clock"
	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/postgres"
)

// TestJourneyOnEveryBackend drives the Manager's flows end to end on each
// real store: what the conformance suite proves per store, this proves
// through the Manager.
func TestJourneyOnEveryBackend(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			clk := clock.NewFake(time.Now().UTC().Truncate(time.Second))
			p := session.DefaultPolicy
			p.MaxPerUser, p.Eviction = 3, session.EvictOldest
			cfg := authv2test.Config()
			cfg.Session = p
			opts := append([]authv2.Option{authv2.WithClock(clk), authv2.WithInsecurePasswordHashing(), authv2.WithConfig(cfg)}, b.opts(t)...)
			m, err := authv2.New(opts...)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
			ctx := t.Context()

			_, err = m.CreateTenant(ctx, "acme", "Acme")
			require.NoError(t, err)
			_, err = m.CreateTenant(ctx, "globex", "Globex")
			require.NoError(t, err)
			u, err := m.Register(ctx, authv2.RegisterInput{Email: "journey@example.com", Password: goodPassword, TenantID: "acme"})
			require.NoError(t, err)
			_, err = m.Register(ctx, authv2.RegisterInput{Email: "JOURNEY@example.com", Password: goodPassword})
			require.ErrorIs(t, err, authv2.ErrUserExists)

			login := func() *authv2.LoginResult {
				res, err := m.Login(ctx, authv2.LoginInput{Email: "journey@example.com", Password: goodPassword,
					Client: session.ClientInfo{IP: "192.0.2.1", UserAgent: "journey", DeviceLabel: "laptop"}})
				require.NoError(t, err)
				return res
			}
			first := login()
			pr, err := m.Authenticate(ctx, first.Token, session.ClientInfo{})
			require.NoError(t, err)
			assert.Equal(t, "acme", pr.TenantID)

			// Concurrent logins under a limit of 3 leave exactly 3. They come
			// a second after the first, so the first is strictly the oldest.
			// Ten, the email throttle's default: each login in flight holds
			// a place in it until its password is found right.
			clk.Advance(time.Second)
			var wg sync.WaitGroup
			for range 10 {
				wg.Go(func() { login() })
			}
			wg.Wait()
			list, err := m.ListSessions(ctx, u.ID)
			require.NoError(t, err)
			assert.Len(t, list, 3)
			_, err = m.Authenticate(ctx, first.Token, session.ClientInfo{})
			assert.ErrorIs(t, err, authv2.ErrSessionRevoked, "the oldest was evicted")

			cur := login()
			_, err = m.SwitchTenant(ctx, cur.Token, "globex", "")
			require.ErrorIs(t, err, authv2.ErrNotMember)
			require.NoError(t, m.PutRole(ctx, &permission.Role{TenantID: "globex", Name: "viewer",
				Grants: []permission.Grant{{Permission: "*:read", Effect: permission.Allow}}}))
			require.NoError(t, m.Bind(ctx, permission.Binding{UserID: u.ID, TenantID: "globex", Role: "viewer", Scope: "region:eu"}))
			sw, err := m.SwitchTenant(ctx, cur.Token, "globex", "region:eu")
			require.NoError(t, err)
			pr, err = m.Authenticate(ctx, sw.Token, session.ClientInfo{})
			require.NoError(t, err)
			assert.Equal(t, "globex", pr.TenantID)
			pr, err = m.Authenticate(ctx, cur.Token, session.ClientInfo{})
			require.NoError(t, err, "within the grace window the old token stands for its successor")
			assert.Equal(t, sw.Session.ID, pr.SessionID)

			// Idle timeout on the store's own records.
			clk.Advance(31 * time.Minute)
			_, err = m.Authenticate(ctx, sw.Token, session.ClientInfo{})
			assert.ErrorIs(t, err, authv2.ErrSessionExpired)

			// Throttle, then sign out everywhere after a password change.
			for i := range 10 {
				_, err := m.Login(ctx, authv2.LoginInput{Email: "journey@example.com", Password: "wrong guess!",
					Client: session.ClientInfo{IP: fmt.Sprintf("198.51.100.%d", i)}})
				require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
			}
			_, err = m.Login(ctx, authv2.LoginInput{Email: "journey@example.com", Password: goodPassword})
			require.ErrorIs(t, err, authv2.ErrInvalidCredentials, "throttled")
			require.NoError(t, m.UnlockUser(ctx, u.ID))
			a, b := login(), login()
			pa, err := m.Authenticate(ctx, a.Token, session.ClientInfo{})
			require.NoError(t, err)
			next, err := m.ChangePassword(ctx, pa, goodPassword, "an entirely new passphrase")
			require.NoError(t, err)
			_, err = m.Authenticate(ctx, b.Token, session.ClientInfo{})
			assert.ErrorIs(t, err, authv2.ErrSessionRevoked)
			_, err = m.Authenticate(ctx, next.Token, session.ClientInfo{})
			require.NoError(t, err)

			ids, err := m.RevokeSessions(ctx, u.ID, authv2.RevokeOptions{})
			require.NoError(t, err)
			assert.Len(t, ids, 1)
			st, err := m.SessionStats(ctx, session.StatsFilter{UserID: u.ID})
			require.NoError(t, err)
			assert.Zero(t, st.Live)
		})
	}
}

// Two instances on one PostgreSQL database, announcing changes over
// LISTEN/NOTIFY: a binding removed on A is denied on B within 100 ms.
func TestRevocationAcrossInstancesOnPostgres(t *testing.T) {
	url := pgtest.URL(t)
	env := pgtest.New(t)
	mk := func() *authv2.Manager {
		bus, err := postgres.NewPolicyBus(env.DB, url, postgres.WithSchema(env.Schema))
		require.NoError(t, err)
		cfg := authv2test.Config()
		cfg.PolicyMaxStaleness = time.Minute
		m, err := authv2.New(authv2.WithConfig(cfg), authv2.WithInsecurePasswordHashing(), authv2.WithUserStore(env.Stores.Users),
			authv2.WithSessionStore(env.Stores.Sessions), authv2.WithPermissionStore(env.Stores.Permissions),
			authv2.WithPolicyBus(bus))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
		return m
	}
	// Staleness is set to a minute, so only the bus can deliver the
	// revocation within the 100 ms the helper allows.
	assertRevocationReaches(t, mk(), mk())
}

// A session kept alive by use past its first idle deadline is still the
// user's on Redis: the per-user limit counts it and DisableUser ends it
// (the user index once expired at the first idle deadline and lost it).
// Real durations on the system clock, because Redis expires keys by it.
func TestRenewedSessionStaysRevocableOnRedis(t *testing.T) {
	for _, b := range backends() {
		if !strings.HasPrefix(b.name, "redis") {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			p := session.Policy{IdleTimeout: 1500 * time.Millisecond, AbsoluteTimeout: time.Hour,
				TouchInterval: 100 * time.Millisecond, MaxPerUser: 1, Eviction: session.Refuse}
			cfg := authv2test.Config()
			cfg.Session = p
			opts := append([]authv2.Option{authv2.WithClock(nil), authv2.WithInsecurePasswordHashing(), authv2.WithConfig(cfg)}, b.opts(t)...)
			m, err := authv2.New(opts...)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
			ctx := t.Context()
			u, err := m.Register(ctx, authv2.RegisterInput{Email: "renewed@example.com", Password: goodPassword})
			require.NoError(t, err)
			in := authv2.LoginInput{Email: "renewed@example.com", Password: goodPassword}
			res, err := m.Login(ctx, in)
			require.NoError(t, err)
			for start := time.Now(); time.Since(start) < p.IdleTimeout+time.Second; {
				time.Sleep(200 * time.Millisecond)
				_, err := m.Authenticate(ctx, res.Token, session.ClientInfo{})
				require.NoError(t, err, "used within its idle timeout")
			}
			_, err = m.Login(ctx, in)
			require.ErrorIs(t, err, authv2.ErrSessionLimit, "the renewed session still counts")
			require.NoError(t, m.DisableUser(ctx, u.ID))
			_, err = m.Authenticate(ctx, res.Token, session.ClientInfo{})
			assert.ErrorIs(t, err, authv2.ErrSessionRevoked, "DisableUser ends the renewed session")
		})
	}
}
