package authv2_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/user"
)

// switchable stores answer normally until down is set, then fail every
// call as an unreachable server would.
type switchable struct{ down atomic.Bool }

func (s *switchable) err(op string) error {
	if s.down.Load() {
		return store.Unavailable(op, context.DeadlineExceeded)
	}
	return nil
}

type flakyUsers struct {
	user.Store
	sw *switchable
}

func (f flakyUsers) Create(ctx context.Context, u *user.User) error {
	if err := f.sw.err("user.create"); err != nil {
		return err
	}
	return f.Store.Create(ctx, u)
}

func (f flakyUsers) Get(ctx context.Context, id string) (*user.User, error) {
	if err := f.sw.err("user.get"); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, id)
}

func (f flakyUsers) GetByEmail(ctx context.Context, email string) (*user.User, error) {
	if err := f.sw.err("user.get_by_email"); err != nil {
		return nil, err
	}
	return f.Store.GetByEmail(ctx, email)
}

func (f flakyUsers) Update(ctx context.Context, id string, fn func(*user.User) error) (*user.User, error) {
	if err := f.sw.err("user.update"); err != nil {
		return nil, err
	}
	return f.Store.Update(ctx, id, fn)
}

type flakyPerms struct {
	permission.Store
	sw *switchable
}

func (f flakyPerms) GetTenant(ctx context.Context, id string) (*permission.Tenant, error) {
	if err := f.sw.err("tenant.get"); err != nil {
		return nil, err
	}
	return f.Store.GetTenant(ctx, id)
}

func (f flakyPerms) ListMembers(ctx context.Context, tenantID string) ([]permission.Membership, error) {
	if err := f.sw.err("membership.list"); err != nil {
		return nil, err
	}
	return f.Store.ListMembers(ctx, tenantID)
}

func (f flakyPerms) ListMemberships(ctx context.Context, userID string) ([]permission.Membership, error) {
	if err := f.sw.err("membership.list"); err != nil {
		return nil, err
	}
	return f.Store.ListMemberships(ctx, userID)
}

func (f flakyPerms) GetRole(ctx context.Context, tenantID, name string) (*permission.Role, error) {
	if err := f.sw.err("role.get"); err != nil {
		return nil, err
	}
	return f.Store.GetRole(ctx, tenantID, name)
}

func (f flakyPerms) DeleteBinding(ctx context.Context, b permission.Binding) error {
	if err := f.sw.err("binding.delete"); err != nil {
		return err
	}
	return f.Store.DeleteBinding(ctx, b)
}

func (f flakyPerms) RemoveMember(ctx context.Context, tenantID, userID string) error {
	if err := f.sw.err("member.remove"); err != nil {
		return err
	}
	return f.Store.RemoveMember(ctx, tenantID, userID)
}

func (f flakyPerms) UpdateMember(ctx context.Context, tenantID, userID string, fn func(*permission.Member) error) (before, after permission.Member, err error) {
	if err := f.sw.err("member.update"); err != nil {
		return before, after, err
	}
	return f.Store.UpdateMember(ctx, tenantID, userID, fn)
}

type flakySessions struct {
	session.Store
	sw *switchable
}

func (f flakySessions) Get(ctx context.Context, id string) (*session.Session, error) {
	if err := f.sw.err("session.get"); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, id)
}

func (f flakySessions) Create(ctx context.Context, s *session.Session, l session.Limit, now time.Time) ([]string, error) {
	if err := f.sw.err("session.create"); err != nil {
		return nil, err
	}
	return f.Store.Create(ctx, s, l, now)
}

type flakyLimiter struct {
	user.RateLimiter
	sw *switchable
}

func (f flakyLimiter) Reserve(ctx context.Context, key string, limit int, w time.Duration, now time.Time) (bool, time.Time, error) {
	if err := f.sw.err("limiter.reserve"); err != nil {
		return false, time.Time{}, err
	}
	return f.RateLimiter.Reserve(ctx, key, limit, w, now)
}

// TestEveryFlowFailsClosedWhenStoresAreDown: with the stores unreachable,
// each flow returns ErrStoreUnavailable (or a context error) and never
// succeeds on stale state.
func TestEveryFlowFailsClosedWhenStoresAreDown(t *testing.T) {
	sw := &switchable{}
	stores := memory.New()
	e := newEnv(t, authv2.WithUserStore(flakyUsers{stores.Users, sw}), authv2.WithPermissionStore(flakyPerms{stores.Permissions, sw}),
		authv2.WithSessionStore(flakySessions{stores.Sessions, sw}), authv2.WithRateLimiter(flakyLimiter{stores.Limiter, sw}),
		authv2.WithNotifier(newCaptureNotifier()))
	ctx := t.Context()
	_, err := e.m.CreateTenant(ctx, "acme", "Acme")
	require.NoError(t, err)
	require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "r"}))
	u, err := e.m.Register(ctx, authv2.RegisterInput{Email: "down@example.com", Password: goodPassword, TenantID: "acme"})
	require.NoError(t, err)
	binding := permission.Binding{UserID: u.ID, TenantID: "acme", Role: "r"}
	require.NoError(t, e.m.Bind(ctx, binding))
	res, err := e.m.Login(ctx, authv2.LoginInput{Email: "down@example.com", Password: goodPassword, Client: session.ClientInfo{IP: "192.0.2.1"}})
	require.NoError(t, err)
	p, err := e.m.Authenticate(ctx, res.Token, session.ClientInfo{})
	require.NoError(t, err)

	sw.down.Store(true)
	for name, call := range map[string]func() error{
		"register": func() error {
			_, err := e.m.Register(ctx, authv2.RegisterInput{Email: "x@example.com", Password: goodPassword, TenantID: "acme"})
			return err
		},
		"login": func() error {
			_, err := e.m.Login(ctx, authv2.LoginInput{Email: "down@example.com", Password: goodPassword})
			return err
		},
		"login by ip": func() error {
			_, err := e.m.Login(ctx, authv2.LoginInput{Email: "down@example.com", Password: goodPassword, Client: session.ClientInfo{IP: "192.0.2.1"}})
			return err
		},
		"authenticate":   func() error { _, err := e.m.Authenticate(ctx, res.Token, session.ClientInfo{}); return err },
		"logout":         func() error { return e.m.Logout(ctx, res.Token) },
		"rotate":         func() error { _, err := e.m.RotateSession(ctx, res.Token); return err },
		"switch tenant":  func() error { _, err := e.m.SwitchTenant(ctx, res.Token, "acme", ""); return err },
		"reauthenticate": func() error { _, err := e.m.Reauthenticate(ctx, res.Token, goodPassword); return err },
		"change password": func() error {
			_, err := e.m.ChangePassword(ctx, p, goodPassword, "another fine passphrase")
			return err
		},
		"change email":   func() error { _, err := e.m.ChangeEmail(ctx, p, "new@example.com"); return err },
		"reset request":  func() error { return e.m.RequestPasswordReset(ctx, "down@example.com") },
		"verify request": func() error { return e.m.RequestEmailVerification(ctx, u.ID) },
		"disable":        func() error { return e.m.DisableUser(ctx, u.ID) },
		"user":           func() error { _, err := e.m.User(ctx, u.ID); return err },
		"add member":     func() error { return e.m.AddMember(ctx, "acme", u.ID) },
		"remove member":  func() error { return e.m.RemoveMember(ctx, "acme", u.ID) },
		"delete tenant":  func() error { return e.m.DeleteTenant(ctx, "acme") },
		"put role":       func() error { return e.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "r2"}) },
		"delete role":    func() error { return e.m.DeleteRole(ctx, "acme", "r") },
		"bind":           func() error { return e.m.Bind(ctx, binding) },
		"unbind":         func() error { return e.m.Unbind(ctx, binding) },
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, call(), authv2.ErrStoreUnavailable)
		})
	}
}

// TestLimiterOutageFailsLoginClosed: with only the rate limiter down, a
// login is refused as unavailable before any password is checked — the
// per-client budget cannot be enforced, so no guess is checked at all —
// while sessions already open keep working.
func TestLimiterOutageFailsLoginClosed(t *testing.T) {
	sw := &switchable{}
	stores := memory.New()
	e := newEnv(t, authv2.WithRateLimiter(flakyLimiter{stores.Limiter, sw}))
	e.register(t, "limited@example.com")
	res := e.login(t, "limited@example.com")
	sw.down.Store(true)
	for _, pw := range []string{goodPassword, "a wrong password"} {
		_, err := e.m.Login(t.Context(), authv2.LoginInput{Email: "limited@example.com", Password: pw, Client: session.ClientInfo{IP: "192.0.2.7"}})
		require.ErrorIs(t, err, authv2.ErrStoreUnavailable)
	}
	assert.Zero(t, verifiedFailures(e), "no attempt got as far as the password")
	_, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err, "open sessions do not depend on the limiter")
}

// downSessions fails every call, as an unreachable server would.
type downSessions struct{ session.Store }

var errDown = store.Unavailable("session", errors.New("connection refused"))

func (downSessions) ListByUser(context.Context, string, time.Time) ([]*session.Session, error) {
	return nil, errDown
}

func (downSessions) Stats(context.Context, session.StatsFilter, time.Time) (session.Stats, error) {
	return session.Stats{}, errDown
}

func (downSessions) RevokeUser(context.Context, string, session.RevokeFilter, time.Time, string) ([]string, error) {
	return nil, errDown
}

func TestSessionStoreOutagesFailClosed(t *testing.T) {
	e := newEnv(t, authv2.WithSessionStore(downSessions{memory.NewSessionStore()}), authv2.WithRateLimiter(memory.NewRateLimiter()))
	_, err := e.m.ListSessions(t.Context(), "u")
	assert.ErrorIs(t, err, authv2.ErrStoreUnavailable)
	_, err = e.m.SessionStats(t.Context(), session.StatsFilter{})
	assert.ErrorIs(t, err, authv2.ErrStoreUnavailable)
	u := e.register(t, "down@example.com")
	assert.ErrorIs(t, e.m.DisableUser(t.Context(), u.ID), authv2.ErrStoreUnavailable, "a disable that cannot end the sessions says so")
	assert.ErrorIs(t, e.m.DeleteUser(t.Context(), u.ID), authv2.ErrStoreUnavailable)
	got, err := e.m.User(t.Context(), u.ID)
	require.NoError(t, err)
	assert.Equal(t, user.StatusDisabled, got.Status, "the status change itself stands")
}

// policyDown is a permission store whose policy reads fail, as an
// unreachable server's would.
type policyDown struct{ permission.Store }

func (policyDown) Version(context.Context, string) (int64, error) {
	return 0, store.Unavailable("policy.version", context.DeadlineExceeded)
}

func (policyDown) LoadPolicy(context.Context, string, string) (*permission.Policy, error) {
	return nil, store.Unavailable("policy.load", context.DeadlineExceeded)
}

// A store failure denies every query of a batch, and those denials are
// audited as Authorize's are: a batch must not be a way to be refused
// without a trace.
func TestAuthorizeBatchAuditsDenialsWhenThePolicyStoreIsDown(t *testing.T) {
	e := newEnv(t, authv2.WithPermissionStore(policyDown{memory.New().Permissions}))
	p := &authv2.Principal{UserID: "u1", TenantID: "acme"}
	qs := []permission.Query{{Action: "read", Resource: order("")}, {Action: "delete", Resource: order("")}}
	ds, err := e.m.AuthorizeBatch(t.Context(), p, qs, permission.Request{})
	require.ErrorIs(t, err, authv2.ErrStoreUnavailable)
	require.Len(t, ds, 2)
	require.NoError(t, e.m.FlushAudit(t.Context()))
	got := decisionsIn(e.sink.MemorySink)
	require.Len(t, got, 2)
	for i, ev := range got {
		assert.Equal(t, ds[i].ID.String(), ev.DecisionID)
		assert.Equal(t, audit.Denied, ev.Outcome)
		assert.Equal(t, string(permission.ReasonError), ev.Reason)
	}
}
