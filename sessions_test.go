package authv2_test

import (
	"context"
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
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/memory"
)

func TestRevokeSessions(t *testing.T) {
	e := newEnv(t)
	_, err := e.m.CreateTenant(t.Context(), "t2", "T2")
	require.NoError(t, err)
	u := e.register(t, "r@example.com")
	require.NoError(t, e.m.AddMember(t.Context(), "t2", u.ID))
	current := e.login(t, "r@example.com")
	other := e.login(t, "r@example.com")
	inT2, err := e.m.Login(t.Context(), authv2.LoginInput{Email: "r@example.com", Password: goodPassword, TenantID: "t2"})
	require.NoError(t, err)

	ids, err := e.m.RevokeSessions(t.Context(), u.ID, authv2.RevokeOptions{TenantID: "t2"})
	require.NoError(t, err)
	assert.Equal(t, []string{inT2.Session.ID}, ids)
	ids, err = e.m.RevokeSessions(t.Context(), u.ID, authv2.RevokeOptions{ExceptSessionID: current.Session.ID, Reason: "sign out elsewhere"})
	require.NoError(t, err)
	assert.Equal(t, []string{other.Session.ID}, ids)

	_, err = e.m.Authenticate(t.Context(), other.Token, session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrSessionRevoked)
	_, err = e.m.Authenticate(t.Context(), current.Token, session.ClientInfo{})
	assert.NoError(t, err)

	require.NoError(t, e.m.RevokeSession(t.Context(), current.Session.ID, ""))
	_, err = e.m.Authenticate(t.Context(), current.Token, session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrSessionRevoked)
	assert.ErrorIs(t, e.m.RevokeSession(t.Context(), "nope", ""), authv2.ErrNotFound)
}

func TestRotateAndSwitchTenant(t *testing.T) {
	e := newEnv(t)
	_, err := e.m.CreateTenant(t.Context(), "a", "A")
	require.NoError(t, err)
	_, err = e.m.CreateTenant(t.Context(), "b", "B")
	require.NoError(t, err)
	_, err = e.m.Register(t.Context(), authv2.RegisterInput{Email: "sw@example.com", Password: goodPassword, TenantID: "a"})
	require.NoError(t, err)
	res := e.login(t, "sw@example.com")

	_, err = e.m.SwitchTenant(t.Context(), res.Token, "b", "")
	assert.ErrorIs(t, err, authv2.ErrNotMember)
	_, err = e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err, "a refused switch leaves the session alone")

	require.NoError(t, e.m.AddMember(t.Context(), "b", res.User.ID))
	e.clock.Advance(time.Minute)
	sw, err := e.m.SwitchTenant(t.Context(), res.Token, "b", "region:eu")
	require.NoError(t, err)
	assert.NotEqual(t, res.Token, sw.Token)
	p, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err, "within the grace window the old token stands for its successor")
	assert.Equal(t, sw.Session.ID, p.SessionID)
	p, err = e.m.Authenticate(t.Context(), sw.Token, session.ClientInfo{})
	require.NoError(t, err)
	assert.Equal(t, "b", p.TenantID)
	assert.Equal(t, "region:eu", p.Scope)
	assert.Equal(t, res.Session.AbsoluteExpiresAt, sw.Session.AbsoluteExpiresAt, "rotation never extends the absolute deadline")
	assert.Len(t, e.sink.OfType(audit.TypeTenantSwitch), 1)

	rot, err := e.m.RotateSession(t.Context(), sw.Token)
	require.NoError(t, err)
	p, err = e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err, "the grace window follows a chain of rotations")
	assert.Equal(t, rot.Session.ID, p.SessionID)
	p, err = e.m.Authenticate(t.Context(), rot.Token, session.ClientInfo{})
	require.NoError(t, err)
	assert.Equal(t, "b", p.TenantID)
}

func TestSessionStats(t *testing.T) {
	e := newEnv(t)
	u := e.register(t, "st@example.com")
	e.login(t, "st@example.com")
	e.login(t, "st@example.com")
	st, err := e.m.SessionStats(t.Context(), session.StatsFilter{UserID: u.ID})
	require.NoError(t, err)
	assert.Equal(t, 2, st.Live)
	assert.Equal(t, map[string]int{"laptop": 2}, st.ByDevice)
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

// TestReuseEndsEveryDescendantHoweverLongTheChain: a thief who rotates a
// copied token many times before the owner presents the original still
// loses the session: reuse ends all of the user's sessions.
func TestReuseEndsEveryDescendantHoweverLongTheChain(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			clk := clock.NewFake(time.Now().UTC().Truncate(time.Second))
			m := authv2test.NewManager(t, append(b.opts(t), authv2.WithClock(clk))...)
			ctx := t.Context()
			_, err := m.Register(ctx, authv2.RegisterInput{Email: "chain@example.com", Password: goodPassword})
			require.NoError(t, err)
			res, err := m.Login(ctx, authv2.LoginInput{Email: "chain@example.com", Password: goodPassword})
			require.NoError(t, err)
			tip := res.Token
			for range 20 {
				r, err := m.RotateSession(ctx, tip)
				require.NoError(t, err)
				tip = r.Token
			}
			clk.Advance(10 * time.Second)
			_, err = m.Authenticate(ctx, res.Token, session.ClientInfo{})
			require.ErrorIs(t, err, authv2.ErrSessionRevoked)
			_, err = m.Authenticate(ctx, tip, session.ClientInfo{})
			require.ErrorIs(t, err, authv2.ErrSessionRevoked, "the thief's end of the chain must end too")
		})
	}
}

// hookedRevoke runs before, once, ahead of the next Revoke: a rotation
// landing between RevokeSession's read of a session and its write.
type hookedRevoke struct {
	session.Store
	before atomic.Pointer[func()]
}

func (h *hookedRevoke) Revoke(ctx context.Context, id string, at time.Time, reason string) error {
	if f := h.before.Swap(nil); f != nil {
		(*f)()
	}
	return h.Store.Revoke(ctx, id, at, reason)
}

// TestRevokeSessionEndsTheSessionARotationReplaced: a session's ID read
// (ListSessions) before its client rotated it still ends that session:
// RevokeSession follows the rotation to the live successor, whether the
// rotation happened before the call or between its read and its write.
// Otherwise a client rotating often could never be signed out by ID.
func TestRevokeSessionEndsTheSessionARotationReplaced(t *testing.T) {
	for _, during := range []bool{false, true} {
		t.Run(map[bool]string{false: "before", true: "during"}[during], func(t *testing.T) {
			mem := memory.New()
			hooked := &hookedRevoke{Store: mem.Sessions}
			m := authv2test.NewManager(t, authv2.WithUserStore(mem.Users), authv2.WithSessionStore(hooked),
				authv2.WithPermissionStore(mem.Permissions))
			ctx := t.Context()
			u, err := m.Register(ctx, authv2.RegisterInput{Email: "rot@example.com", Password: goodPassword})
			require.NoError(t, err)
			res, err := m.Login(ctx, authv2.LoginInput{Email: "rot@example.com", Password: goodPassword})
			require.NoError(t, err)
			listed, err := m.ListSessions(ctx, u.ID)
			require.NoError(t, err)
			require.Len(t, listed, 1)
			var rotated *authv2.LoginResult
			rotate := func() {
				var err error
				rotated, err = m.RotateSession(ctx, res.Token)
				require.NoError(t, err)
			}
			if during {
				hooked.before.Store(&rotate)
			} else {
				rotate()
			}
			require.NoError(t, m.RevokeSession(ctx, listed[0].ID, ""))
			require.NotNil(t, rotated)
			_, err = m.Authenticate(ctx, rotated.Token, session.ClientInfo{})
			assert.ErrorIs(t, err, authv2.ErrSessionRevoked, "the successor ends with the session it replaced")
			live, err := m.ListSessions(ctx, u.ID)
			require.NoError(t, err)
			assert.Empty(t, live)
		})
	}
}
