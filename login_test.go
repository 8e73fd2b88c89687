package authv2_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

func TestLoginEndToEnd(t *testing.T) {
	e := newEnv(t)
	u := e.register(t, "alice@example.com")
	res := e.login(t, "ALICE@example.com")
	assert.Equal(t, u.ID, res.User.ID)
	assert.True(t, strings.HasPrefix(res.Token, "av2_"))

	p, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	assert.Equal(t, u.ID, p.UserID)
	assert.Equal(t, res.Session.ID, p.SessionID)
	assert.Equal(t, "", p.TenantID, "no tenant: authenticates, denied every tenant resource")

	require.NoError(t, e.m.Logout(t.Context(), res.Token))
	_, err = e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrSessionRevoked)
	assert.NoError(t, e.m.Logout(t.Context(), res.Token), "logging out twice is fine")
	assert.Len(t, e.sink.OfType(audit.TypeLogout), 1)
}

func TestLoginFailuresLookAlike(t *testing.T) {
	e := newEnv(t)
	e.register(t, "bob@example.com")
	disabled := e.register(t, "dis@example.com")
	_, err := e.stores.Users.Update(t.Context(), disabled.ID, func(u *user.User) error { u.Status = user.StatusDisabled; return nil })
	require.NoError(t, err)

	for name, in := range map[string]authv2.LoginInput{
		"unknown":  {Email: "nobody@example.com", Password: goodPassword},
		"wrong":    {Email: "bob@example.com", Password: "wrong password!"},
		"disabled": {Email: "dis@example.com", Password: goodPassword},
		"too long": {Email: "bob@example.com", Password: strings.Repeat("x", user.MaxPasswordBytes+1)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.m.Login(t.Context(), in)
			require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
			assert.Equal(t, authv2.ErrInvalidCredentials.Error(), err.Error(), "no detail may distinguish the cases")
		})
	}
	assert.Equal(t, 2, loginFailures(t, e, "bob@example.com"))
	assert.Equal(t, 1, loginFailures(t, e, "nobody@example.com"), "an unknown email counts alike")
	e.login(t, "bob@example.com")
	assert.Equal(t, 2, loginFailures(t, e, "bob@example.com"), "a success gives back its own place only")
	failures := e.sink.OfType(audit.TypeLoginFailure)
	require.Len(t, failures, 4)
	reasons := map[string]bool{}
	for _, f := range failures {
		reasons[f.Reason] = true
	}
	assert.True(t, reasons["unknown_user"] && reasons["bad_password"] && reasons["status_disabled"], "reasons stay internal: %v", reasons)
}

func TestSessionLimitUnderConcurrentLogins(t *testing.T) {
	for _, policy := range []session.EvictionPolicy{session.EvictOldest, session.EvictLeastRecentlyUsed, session.Refuse} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			p := session.DefaultPolicy
			p.MaxPerUser, p.Eviction = 3, policy
			th := roomyThrottle()
			cfg := authv2test.Config()
			cfg.Session = p
			cfg.Throttle = th
			e := newEnv(t, authv2.WithConfig(cfg))
			e.register(t, "c@example.com")
			n := th.AfterFailures
			var wg sync.WaitGroup
			var mu sync.Mutex
			refused := 0
			for range n {
				wg.Go(func() {
					_, err := e.m.Login(context.Background(), authv2.LoginInput{Email: "c@example.com", Password: goodPassword})
					if err != nil {
						mu.Lock()
						defer mu.Unlock()
						if !errors.Is(err, authv2.ErrSessionLimit) {
							t.Errorf("unexpected error: %v", err)
						}
						refused++
					}
				})
			}
			wg.Wait()
			u, err := e.stores.Users.GetByEmail(t.Context(), "c@example.com")
			require.NoError(t, err)
			list, err := e.m.ListSessions(t.Context(), u.ID)
			require.NoError(t, err)
			assert.Len(t, list, 3)
			if policy == session.Refuse {
				assert.Equal(t, n-3, refused)
			} else {
				assert.Zero(t, refused)
				assert.Len(t, e.sink.OfType(audit.TypeSessionEvicted), n-3)
			}
		})
	}
}

func TestRehashOnLogin(t *testing.T) {
	e := newEnv(t)
	u := e.register(t, "weak@example.com")
	stronger := authv2test.FastPasswordParams
	stronger.Iterations = 2
	cfg := authv2test.Config()
	cfg.Argon2 = stronger
	m2, err := authv2.New(authv2.WithConfig(cfg), authv2.WithInsecurePasswordHashing(), authv2.WithUserStore(e.stores.Users),
		authv2.WithSessionStore(e.stores.Sessions), authv2.WithPermissionStore(e.stores.Permissions))
	require.NoError(t, err)
	defer m2.Close(context.Background())
	_, err = m2.Login(t.Context(), authv2.LoginInput{Email: "weak@example.com", Password: goodPassword})
	require.NoError(t, err)
	got, err := e.stores.Users.Get(t.Context(), u.ID)
	require.NoError(t, err)
	p, _, _, err := user.DecodePHC(got.PasswordHash)
	require.NoError(t, err)
	assert.Equal(t, uint32(2), p.Iterations, "the hash was upgraded to the policy")
}

func TestImportedBcryptHashLogsInAndUpgrades(t *testing.T) {
	e := newEnv(t)
	now := t0
	// A bcrypt hash (cost 10) of goodPassword, as an older system would have stored it.
	hash := bcryptHash(t, goodPassword)
	require.NoError(t, e.stores.Users.Create(t.Context(), &user.User{ID: "legacy", Email: "old@example.com", Status: user.StatusActive,
		PasswordHash: hash, CreatedAt: now, UpdatedAt: now}))
	_, err := e.m.Login(t.Context(), authv2.LoginInput{Email: "old@example.com", Password: goodPassword})
	require.NoError(t, err)
	got, err := e.stores.Users.Get(t.Context(), "legacy")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(got.PasswordHash, "$argon2id$"))
	assert.Len(t, e.sink.OfType(audit.TypePasswordRehash), 1)
}

// pausingSessions holds the first Create after arm until the test lets it
// go, before or after the write: the window in which a login has read the
// user but has not finished opening its session.
type pausingSessions struct {
	session.Store
	after   bool
	armed   atomic.Bool
	reached chan struct{}
	resume  chan struct{}
}

func (p *pausingSessions) arm() {
	p.reached, p.resume = make(chan struct{}), make(chan struct{})
	p.armed.Store(true)
}

func (p *pausingSessions) pause() {
	if p.armed.CompareAndSwap(true, false) {
		close(p.reached)
		<-p.resume
	}
}

func (p *pausingSessions) Create(ctx context.Context, s *session.Session, limit session.Limit, now time.Time) ([]string, error) {
	if !p.after {
		p.pause()
	}
	evicted, err := p.Store.Create(ctx, s, limit, now)
	if p.after {
		p.pause()
	}
	return evicted, err
}

// raceChange is an account change run while a login is paused; it returns
// the session it left the user (ChangePassword rotates the caller's), if any.
type raceChange func(t *testing.T, m *authv2.Manager, userID string, p *authv2.Principal, n *captureNotifier) string

var raceChanges = map[string]raceChange{
	"DisableUser": func(t *testing.T, m *authv2.Manager, userID string, _ *authv2.Principal, _ *captureNotifier) string {
		require.NoError(t, m.DisableUser(t.Context(), userID))
		return ""
	},
	"LockUser": func(t *testing.T, m *authv2.Manager, userID string, _ *authv2.Principal, _ *captureNotifier) string {
		require.NoError(t, m.LockUser(t.Context(), userID))
		return ""
	},
	"DeleteUser": func(t *testing.T, m *authv2.Manager, userID string, _ *authv2.Principal, _ *captureNotifier) string {
		require.NoError(t, m.DeleteUser(t.Context(), userID))
		return ""
	},
	"ResetPassword": func(t *testing.T, m *authv2.Manager, _ string, _ *authv2.Principal, n *captureNotifier) string {
		require.NoError(t, m.ResetPassword(t.Context(), n.wait(t, n.resets, "racer@example.com"), "a brand new passphrase"))
		return ""
	},
	"ChangePassword": func(t *testing.T, m *authv2.Manager, _ string, p *authv2.Principal, _ *captureNotifier) string {
		res, err := m.ChangePassword(t.Context(), p, goodPassword, "a brand new passphrase")
		require.NoError(t, err)
		return res.Session.ID
	},
	"ChangeEmail": func(t *testing.T, m *authv2.Manager, _ string, p *authv2.Principal, _ *captureNotifier) string {
		res, err := m.ChangeEmail(t.Context(), p, "moved@example.com")
		require.NoError(t, err)
		return res.Session.ID
	},
}

// TestNoLoginOutlivesARacingAccountChange: a login that read the user
// before an account change and opens its session during or after the
// change's revocation must not end with a live session. The store pauses
// the login just before and just after its session is written, on every
// backend.
func TestNoLoginOutlivesARacingAccountChange(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, after := range []bool{false, true} {
				point := "before-create"
				if after {
					point = "after-create"
				}
				for name, change := range raceChanges {
					t.Run(point+"/"+name, func(t *testing.T) {
						stores := b.stores(t)
						if stores.sessions == nil {
							t.Fatal("backend without a session store")
						}
						pausing := &pausingSessions{Store: stores.sessions, after: after}
						stores.sessions = pausing
						n := newCaptureNotifier()
						m := authv2test.NewManager(t, append(stores.options(), authv2.WithNotifier(n))...)
						ctx := t.Context()
						u, err := m.Register(ctx, authv2.RegisterInput{Email: "racer@example.com", Password: goodPassword})
						require.NoError(t, err)
						first, err := m.Login(ctx, authv2.LoginInput{Email: "racer@example.com", Password: goodPassword})
						require.NoError(t, err)
						p, err := m.Authenticate(ctx, first.Token, session.ClientInfo{})
						require.NoError(t, err)
						require.NoError(t, m.RequestPasswordReset(ctx, "racer@example.com"))
						n.wait(t, n.resets, "racer@example.com")

						pausing.arm()
						type result struct {
							res *authv2.LoginResult
							err error
						}
						done := make(chan result, 1)
						go func() {
							res, err := m.Login(ctx, authv2.LoginInput{Email: "racer@example.com", Password: goodPassword})
							done <- result{res, err}
						}()
						<-pausing.reached
						kept := change(t, m, u.ID, p, n)
						close(pausing.resume)
						r := <-done

						require.ErrorIs(t, r.err, authv2.ErrInvalidCredentials, "the raced login must fail")
						live, err := m.ListSessions(ctx, u.ID)
						require.NoError(t, err)
						for _, s := range live {
							assert.Equal(t, kept, s.ID, "only the session the change itself issued may be live")
						}
						if r.res != nil {
							_, err := m.Authenticate(ctx, r.res.Token, session.ClientInfo{})
							assert.Error(t, err, "the raced login's token must not authenticate")
						}
					})
				}
			}
		})
	}
}

// TestRacingLoginCannotWriteBackAnOldPassword: with
// RevokeOnPasswordChange off, a login with the old password in flight
// across ChangePassword (and rehashing) must not restore the old password.
func TestRacingLoginCannotWriteBackAnOldPassword(t *testing.T) {
	for _, b := range backends()[:2] {
		t.Run(b.name, func(t *testing.T) {
			stores := b.stores(t)
			pausing := &pausingSessions{Store: stores.sessions}
			stores.sessions = pausing
			cfg := authv2test.Config()
			cfg.RevokeOnPasswordChange = false
			m, err := authv2.New(append(stores.options(), authv2.WithConfig(cfg), authv2.WithInsecurePasswordHashing())...)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
			ctx := t.Context()
			u, err := m.Register(ctx, authv2.RegisterInput{Email: "rehash@example.com", Password: goodPassword})
			require.NoError(t, err)
			first, err := m.Login(ctx, authv2.LoginInput{Email: "rehash@example.com", Password: goodPassword})
			require.NoError(t, err)
			p, err := m.Authenticate(ctx, first.Token, session.ClientInfo{})
			require.NoError(t, err)
			_, err = stores.users.Update(ctx, u.ID, func(x *user.User) error { x.PasswordHash = bcryptHash(t, goodPassword); return nil })
			require.NoError(t, err) // a legacy hash: the next login rehashes

			pausing.arm()
			done := make(chan error, 1)
			go func() {
				_, err := m.Login(ctx, authv2.LoginInput{Email: "rehash@example.com", Password: goodPassword})
				done <- err
			}()
			<-pausing.reached
			_, err = m.ChangePassword(ctx, p, goodPassword, "a brand new passphrase")
			require.NoError(t, err)
			close(pausing.resume)
			require.ErrorIs(t, <-done, authv2.ErrInvalidCredentials, "the old password stopped being right while the login ran")
			_, err = m.Login(ctx, authv2.LoginInput{Email: "rehash@example.com", Password: "a brand new passphrase"})
			require.NoError(t, err, "the new password works")
			_, err = m.Login(ctx, authv2.LoginInput{Email: "rehash@example.com", Password: goodPassword})
			require.ErrorIs(t, err, authv2.ErrInvalidCredentials, "the old one does not")
		})
	}
}

// TestSessionLimitAcrossInstances: logins of one user spread over two
// Managers sharing the stores, on every backend. Never more live
// sessions than the limit; Refuse refuses exactly the surplus and
// nothing else, the eviction policies refuse nothing.
func TestSessionLimitAcrossInstances(t *testing.T) {
	for _, b := range backends() {
		for _, policy := range []session.EvictionPolicy{session.EvictOldest, session.Refuse} {
			t.Run(fmt.Sprintf("%s/%d", b.name, policy), func(t *testing.T) {
				th := roomyThrottle()
				cfg := authv2test.Config()
				cfg.Session.MaxPerUser, cfg.Session.Eviction = 3, policy
				cfg.Throttle = th
				opts := append(b.opts(t), authv2.WithConfig(cfg))
				ms := []*authv2.Manager{authv2test.NewManager(t, opts...), authv2test.NewManager(t, opts...)}
				ctx := t.Context()
				u, err := ms[0].Register(ctx, authv2.RegisterInput{Email: "many@example.com", Password: goodPassword})
				require.NoError(t, err)
				n := th.AfterFailures // the most logins of one email in flight at once
				var wg sync.WaitGroup
				var refused atomic.Int64
				start := make(chan struct{})
				for i := range n {
					wg.Go(func() {
						<-start
						_, err := ms[i%2].Login(ctx, authv2.LoginInput{Email: "many@example.com", Password: goodPassword})
						if errors.Is(err, authv2.ErrSessionLimit) {
							refused.Add(1)
						} else if err != nil {
							t.Errorf("login %d: %v", i, err)
						}
					})
				}
				close(start)
				wg.Wait()
				list, err := ms[1].ListSessions(ctx, u.ID)
				require.NoError(t, err)
				assert.Len(t, list, 3, "live sessions")
				if policy == session.Refuse {
					assert.Equal(t, int64(n-3), refused.Load(), "exactly the surplus is refused")
				} else {
					assert.Zero(t, refused.Load())
				}
			})
		}
	}
}
