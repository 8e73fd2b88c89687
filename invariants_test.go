package authv2_test

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/internal/clock"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

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
						m, err := authv2.New(append(stores.options(), authv2.WithConfig(authv2test.Config()), authv2.WithInsecurePasswordHashing(), authv2.WithNotifier(n))...)
						require.NoError(t, err)
						t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
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

// TestReuseOfARotatedTokenEndsItsSuccessors: a token presented after its
// session was rotated away, once the grace window has passed, is a copied
// token: every session of the user ends (its successors among them), and
// the reuse is audited and counted. Within the window the old token
// stands for its successor.
func TestReuseOfARotatedTokenEndsItsSuccessors(t *testing.T) {
	rotations := map[string]func(e *otelEnv, tok string) (*authv2.LoginResult, error){
		"RotateSession": func(e *otelEnv, tok string) (*authv2.LoginResult, error) {
			return e.m.RotateSession(context.Background(), tok)
		},
		"SwitchTenant": func(e *otelEnv, tok string) (*authv2.LoginResult, error) {
			return e.m.SwitchTenant(context.Background(), tok, "other", "")
		},
		"Reauthenticate": func(e *otelEnv, tok string) (*authv2.LoginResult, error) {
			return e.m.Reauthenticate(context.Background(), tok, goodPassword)
		},
	}
	for name, rotate := range rotations {
		t.Run(name, func(t *testing.T) {
			e := newOtelEnv(t)
			u := e.register(t, "reuse@example.com")
			_, err := e.m.CreateTenant(t.Context(), "other", "Other")
			require.NoError(t, err)
			require.NoError(t, e.m.AddMember(t.Context(), "other", u.ID))
			first := e.login(t, "reuse@example.com")
			second, err := rotate(e, first.Token)
			require.NoError(t, err)
			third, err := e.m.RotateSession(t.Context(), second.Token)
			require.NoError(t, err)
			bystander := e.login(t, "reuse@example.com")

			e.clock.Advance(session.DefaultPolicy.RotationGrace - time.Second)
			p, err := e.m.Authenticate(t.Context(), first.Token, session.ClientInfo{})
			require.NoError(t, err, "within the grace window the old token passes")
			assert.Equal(t, third.Session.ID, p.SessionID, "as the live end of its chain")
			assert.Empty(t, e.sink.OfType(audit.TypeSessionReuse))

			e.clock.Advance(2 * time.Second)
			_, err = e.m.Authenticate(t.Context(), first.Token, session.ClientInfo{})
			require.ErrorIs(t, err, authv2.ErrSessionRevoked)
			_, err = e.m.Authenticate(t.Context(), third.Token, session.ClientInfo{})
			require.ErrorIs(t, err, authv2.ErrSessionRevoked, "the successor of a copied token ends")
			_, err = e.m.Authenticate(t.Context(), bystander.Token, session.ClientInfo{})
			require.ErrorIs(t, err, authv2.ErrSessionRevoked, "every session of the user ends: which descend from the copy is unknowable")

			reuse := e.sink.OfType(audit.TypeSessionReuse)
			require.Len(t, reuse, 1)
			assert.Equal(t, first.Session.ID, reuse[0].Target)
			assert.Equal(t, audit.Denied, reuse[0].Outcome)
			assert.ElementsMatch(t, []string{third.Session.ID, bystander.Session.ID}, strings.Split(reuse[0].Attributes["ended"], ","))
			sum, ok := e.metrics(t)["authv2.sessions.token_reuse"].(metricdata.Sum[int64])
			require.True(t, ok)
			require.Len(t, sum.DataPoints, 1)
			assert.Equal(t, int64(1), sum.DataPoints[0].Value)
		})
	}
}

// TestLogoutWithARotatedAwayTokenEndsItsSuccessor: a logout sent with
// the old cookie while a rotation's answer is still in flight signs out.
func TestLogoutWithARotatedAwayTokenEndsItsSuccessor(t *testing.T) {
	e := newEnv(t)
	e.register(t, "bye@example.com")
	first := e.login(t, "bye@example.com")
	next, err := e.m.RotateSession(t.Context(), first.Token)
	require.NoError(t, err)
	require.NoError(t, e.m.Logout(t.Context(), first.Token))
	_, err = e.m.Authenticate(t.Context(), next.Token, session.ClientInfo{})
	require.ErrorIs(t, err, authv2.ErrSessionRevoked)
}

// TestReuseWithZeroGraceIsImmediate: RotationGrace 0 treats any reuse as theft.
func TestReuseWithZeroGraceIsImmediate(t *testing.T) {
	p := session.DefaultPolicy
	p.RotationGrace = 0
	cfg := authv2test.Config()
	cfg.Session = p
	e := newEnv(t, authv2.WithConfig(cfg))
	e.register(t, "strict@example.com")
	first := e.login(t, "strict@example.com")
	next, err := e.m.RotateSession(t.Context(), first.Token)
	require.NoError(t, err)
	e.clock.Advance(time.Millisecond)
	_, err = e.m.Authenticate(t.Context(), first.Token, session.ClientInfo{})
	require.ErrorIs(t, err, authv2.ErrSessionRevoked)
	_, err = e.m.Authenticate(t.Context(), next.Token, session.ClientInfo{})
	require.ErrorIs(t, err, authv2.ErrSessionRevoked)
}

// TestOneTimeTokensDieWithTheChangesThatVoidThem: a reset or verification
// token sent before a change of email, password, status or existence of
// the account no longer works after it.
func TestOneTimeTokensDieWithTheChangesThatVoidThem(t *testing.T) {
	type change func(t *testing.T, e *env, userID string, p *authv2.Principal, n *captureNotifier)
	changes := map[string]change{
		"ChangeEmail": func(t *testing.T, e *env, _ string, p *authv2.Principal, _ *captureNotifier) {
			_, err := e.m.ChangeEmail(t.Context(), p, "elsewhere@example.com")
			require.NoError(t, err)
		},
		"ChangePassword": func(t *testing.T, e *env, _ string, p *authv2.Principal, _ *captureNotifier) {
			_, err := e.m.ChangePassword(t.Context(), p, goodPassword, "a brand new passphrase")
			require.NoError(t, err)
		},
		"DisableUser": func(t *testing.T, e *env, userID string, _ *authv2.Principal, _ *captureNotifier) {
			require.NoError(t, e.m.DisableUser(t.Context(), userID))
			require.NoError(t, e.m.UnlockUser(t.Context(), userID), "re-enabled: the old token must still be dead")
		},
		"DeleteUser": func(t *testing.T, e *env, userID string, _ *authv2.Principal, _ *captureNotifier) {
			require.NoError(t, e.m.DeleteUser(t.Context(), userID))
		},
	}
	for name, ch := range changes {
		t.Run(name, func(t *testing.T) {
			n := newCaptureNotifier()
			e := newEnv(t, authv2.WithNotifier(n))
			u := e.register(t, "holder@example.com")
			p, err := e.m.Authenticate(t.Context(), e.login(t, "holder@example.com").Token, session.ClientInfo{})
			require.NoError(t, err)
			require.NoError(t, e.m.RequestPasswordReset(t.Context(), "holder@example.com"))
			reset := n.wait(t, n.resets, "holder@example.com")
			ch(t, e, u.ID, p, n)
			assert.ErrorIs(t, e.m.ResetPassword(t.Context(), reset, "yet another passphrase"), authv2.ErrInvalidToken)
		})
	}
	t.Run("ResetPassword voids a verification token", func(t *testing.T) {
		n := newCaptureNotifier()
		cfg := authv2test.Config()
		cfg.RequireEmailVerification = true
		e := newEnv(t, authv2.WithConfig(cfg), authv2.WithNotifier(n))
		e.register(t, "pending@example.com")
		verify := n.wait(t, n.verify, "pending@example.com")
		require.NoError(t, e.m.RequestPasswordReset(t.Context(), "pending@example.com"))
		require.NoError(t, e.m.ResetPassword(t.Context(), n.wait(t, n.resets, "pending@example.com"), "a brand new passphrase"))
		_, err := e.m.VerifyEmail(t.Context(), verify)
		assert.ErrorIs(t, err, authv2.ErrInvalidToken)
	})
}

// emailChangeNotifier also records EmailChanged calls.
type emailChangeNotifier struct {
	*captureNotifier
	changed chan [2]string // old, new
}

func (n *emailChangeNotifier) EmailChanged(_ context.Context, u *user.User, oldEmail string) error {
	n.changed <- [2]string{oldEmail, cmp.Or(u.PendingEmail, u.Email)}
	return nil
}

// TestChangeEmailWithVerification: the old address stays the login until
// the new one is verified, the old address is told, other sessions end.
func TestChangeEmailWithVerification(t *testing.T) {
	n := &emailChangeNotifier{captureNotifier: newCaptureNotifier(), changed: make(chan [2]string, 1)}
	cfg := authv2test.Config()
	cfg.RequireEmailVerification = true
	e := newEnv(t, authv2.WithConfig(cfg), authv2.WithNotifier(n))
	e.register(t, "old@example.com")
	_, err := e.m.VerifyEmail(t.Context(), n.wait(t, n.verify, "old@example.com"))
	require.NoError(t, err)
	e.register(t, "taken@example.com")
	cur := e.login(t, "old@example.com")
	other := e.login(t, "old@example.com")
	p, err := e.m.Authenticate(t.Context(), cur.Token, session.ClientInfo{})
	require.NoError(t, err)

	_, err = e.m.ChangeEmail(t.Context(), p, "Taken@example.com")
	require.ErrorIs(t, err, authv2.ErrUserExists)
	res, err := e.m.ChangeEmail(t.Context(), p, "new@example.com")
	require.NoError(t, err)
	assert.Equal(t, "old@example.com", res.User.Email)
	assert.Equal(t, "new@example.com", res.User.PendingEmail)
	assert.Equal(t, [2]string{"old@example.com", "new@example.com"}, <-n.changed)
	_, err = e.m.Authenticate(t.Context(), other.Token, session.ClientInfo{})
	require.ErrorIs(t, err, authv2.ErrSessionRevoked, "other sessions end")
	_, err = e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)

	e.login(t, "old@example.com") // still the login identifier
	require.ErrorIs(t, loginAs(e, "new@example.com", goodPassword, ""), authv2.ErrInvalidCredentials)
	u, err := e.m.VerifyEmail(t.Context(), n.wait(t, n.verify, "new@example.com"))
	require.NoError(t, err)
	assert.Equal(t, "new@example.com", u.Email)
	assert.Empty(t, u.PendingEmail)
	e.login(t, "new@example.com")
	require.ErrorIs(t, loginAs(e, "old@example.com", goodPassword, ""), authv2.ErrInvalidCredentials)
}

// TestPrincipalJSONCarriesNoSecret: an application that logs or returns
// the Principal as JSON must not leak the session's secret hash.
func TestPrincipalJSONCarriesNoSecret(t *testing.T) {
	e := newEnv(t)
	e.register(t, "json@example.com")
	res := e.login(t, "json@example.com")
	p, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	require.NotEmpty(t, p.Session.SecretHash)
	b, err := json.Marshal(p)
	require.NoError(t, err)
	assert.NotContains(t, string(b), base64.StdEncoding.EncodeToString(p.Session.SecretHash))
	assert.NotContains(t, string(b), "SecretHash")
	assert.Contains(t, string(b), p.Session.ID, "the rest of the session still encodes")
}

// TestExpiredBindingDoesNotOpenATenant: a user whose only tie to a tenant
// is a binding that has expired can neither log in to it nor switch to it.
func TestExpiredBindingDoesNotOpenATenant(t *testing.T) {
	e := newEnv(t)
	u := e.register(t, "temp@example.com")
	_, err := e.m.CreateTenant(t.Context(), "acme", "Acme")
	require.NoError(t, err)
	require.NoError(t, e.m.PutRole(t.Context(), &permission.Role{TenantID: "acme", Name: "viewer",
		Grants: []permission.Grant{{Permission: "orders:read", Effect: permission.Allow}}}))
	require.NoError(t, e.m.Bind(t.Context(), permission.Binding{UserID: u.ID, TenantID: "acme", Role: "viewer", ExpiresAt: e.clock.Now().Add(time.Hour)}))
	res, err := e.m.Login(t.Context(), authv2.LoginInput{Email: "temp@example.com", Password: goodPassword, TenantID: "acme"})
	require.NoError(t, err, "a live binding opens the tenant")

	e.clock.Advance(2 * time.Hour)
	outside := e.login(t, "temp@example.com")
	_, err = e.m.Login(t.Context(), authv2.LoginInput{Email: "temp@example.com", Password: goodPassword, TenantID: "acme"})
	require.ErrorIs(t, err, authv2.ErrNotMember)
	_, err = e.m.SwitchTenant(t.Context(), outside.Token, "acme", "")
	require.ErrorIs(t, err, authv2.ErrNotMember)
	require.NotNil(t, res)
}

// TestDeleteUserRemovesMembershipsAndBindings: a deleted user is nobody's
// member, holds no binding, and Who no longer names them.
func TestDeleteUserRemovesMembershipsAndBindings(t *testing.T) {
	e := newEnv(t)
	u := e.register(t, "gone@example.com")
	stay := e.register(t, "stays@example.com")
	_, err := e.m.CreateTenant(t.Context(), "acme", "Acme")
	require.NoError(t, err)
	require.NoError(t, e.m.PutRole(t.Context(), &permission.Role{TenantID: "acme", Name: "viewer",
		Grants: []permission.Grant{{Permission: "orders:read", Effect: permission.Allow}}}))
	require.NoError(t, e.m.AddMember(t.Context(), "acme", u.ID))
	for _, id := range []string{u.ID, stay.ID} {
		require.NoError(t, e.m.Bind(t.Context(), permission.Binding{UserID: id, TenantID: "acme", Role: "viewer"}))
	}
	who, err := e.m.Who(t.Context(), "acme", "read", permission.Resource{TenantID: "acme", Type: "orders"})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{u.ID, stay.ID}, who)

	require.NoError(t, e.m.DeleteUser(t.Context(), u.ID))
	who, err = e.m.Who(t.Context(), "acme", "read", permission.Resource{TenantID: "acme", Type: "orders"})
	require.NoError(t, err)
	assert.Equal(t, []string{stay.ID}, who)
	bs, err := e.m.ListBindings(t.Context(), "acme", u.ID)
	require.NoError(t, err)
	assert.Empty(t, bs)
	ms, err := e.stores.Permissions.ListMemberships(t.Context(), u.ID)
	require.NoError(t, err)
	assert.Empty(t, ms)
}

// TestRevocationReachesEveryInstance: two Managers on one set of stores; a
// session opened and renewed through one is refused by both on their next
// request after the other ends it, however it was ended.
func TestRevocationReachesEveryInstance(t *testing.T) {
	ends := map[string]func(ctx context.Context, m *authv2.Manager, userID, tok string) error{
		"Logout":      func(ctx context.Context, m *authv2.Manager, _, tok string) error { return m.Logout(ctx, tok) },
		"DisableUser": func(ctx context.Context, m *authv2.Manager, id, _ string) error { return m.DisableUser(ctx, id) },
		"RevokeSessions": func(ctx context.Context, m *authv2.Manager, id, _ string) error {
			_, err := m.RevokeSessions(ctx, id, authv2.RevokeOptions{})
			return err
		},
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for name, end := range ends {
				t.Run(name, func(t *testing.T) {
					opts := append(b.opts(t), authv2.WithConfig(authv2test.Config()), authv2.WithInsecurePasswordHashing()) // one set of stores
					a, err := authv2.New(opts...)
					require.NoError(t, err)
					t.Cleanup(func() { require.NoError(t, a.Close(context.Background())) })
					other, err := authv2.New(opts...)
					require.NoError(t, err)
					t.Cleanup(func() { require.NoError(t, other.Close(context.Background())) })
					ctx := t.Context()
					u, err := a.Register(ctx, authv2.RegisterInput{Email: "two@example.com", Password: goodPassword})
					require.NoError(t, err)
					res, err := a.Login(ctx, authv2.LoginInput{Email: "two@example.com", Password: goodPassword})
					require.NoError(t, err)
					for _, m := range []*authv2.Manager{a, other, a} {
						_, err := m.Authenticate(ctx, res.Token, session.ClientInfo{})
						require.NoError(t, err)
					}
					require.NoError(t, end(ctx, other, u.ID, res.Token))
					for _, m := range []*authv2.Manager{a, other} {
						_, err := m.Authenticate(ctx, res.Token, session.ClientInfo{})
						require.ErrorIs(t, err, authv2.ErrSessionRevoked)
					}
				})
			}
		})
	}
}

// TestRevocationReachesSessionsAcrossClockSkew: two instances whose clocks
// are 2 s apart. The one ahead disables the user when, by its clock, the
// session has just passed its idle deadline; by the other's it is still
// live. The session must end all the same: revoke-all skips nothing that
// is not revoked, and no touch renews a session past its deadline.
func TestRevocationReachesSessionsAcrossClockSkew(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			stores := b.stores(t)
			start := time.Now().UTC().Truncate(time.Second)
			behind, ahead := clock.NewFake(start), clock.NewFake(start.Add(2*time.Second))
			instance := func(c *clock.Fake) *authv2.Manager {
				m, err := authv2.New(append(stores.options(), authv2.WithClock(c),
					authv2.WithConfig(authv2test.Config()), authv2.WithInsecurePasswordHashing())...)
				require.NoError(t, err)
				t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
				return m
			}
			app, admin := instance(behind), instance(ahead)
			ctx := t.Context()
			u, err := app.Register(ctx, authv2.RegisterInput{Email: "skew@example.com", Password: goodPassword})
			require.NoError(t, err)
			res, err := app.Login(ctx, authv2.LoginInput{Email: "skew@example.com", Password: goodPassword})
			require.NoError(t, err)
			idle := session.DefaultPolicy.IdleTimeout
			behind.Advance(idle - time.Second)
			ahead.Advance(idle - time.Second) // 1 s past the idle deadline by the admin's clock
			require.NoError(t, admin.DisableUser(ctx, u.ID))
			_, err = app.Authenticate(ctx, res.Token, session.ClientInfo{})
			require.ErrorIs(t, err, authv2.ErrSessionRevoked, "the lagging instance must not renew it")
			behind.Advance(10 * time.Minute)
			_, err = app.Authenticate(ctx, res.Token, session.ClientInfo{})
			require.Error(t, err)
			live, err := app.ListSessions(ctx, u.ID)
			require.NoError(t, err)
			assert.Empty(t, live)
		})
	}
}
