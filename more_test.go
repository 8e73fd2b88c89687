package authv2_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/user"
)

func TestAuthorizeBatchAndTopDenied(t *testing.T) {
	as := memory.NewAuditStore()
	e := newEnv(t, authv2.WithAuditStore(as))
	p, _ := shop(t, e)
	ds, err := e.m.AuthorizeBatch(t.Context(), p, []permission.Query{
		{Action: "read", Resource: order("region:eu/store:42")},
		{Action: "delete", Resource: order("region:eu/store:42")},
		{Action: "delete", Resource: order("region:eu/store:42")},
	}, permission.Request{})
	require.NoError(t, err)
	require.Len(t, ds, 3)
	assert.True(t, ds[0].Allowed)
	assert.False(t, ds[1].Allowed)
	_, err = e.m.AuthorizeBatch(t.Context(), nil, nil, permission.Request{})
	assert.ErrorIs(t, err, authv2.ErrUnauthenticated)

	require.NoError(t, e.m.FlushAudit(t.Context()))
	top, err := e.m.TopDenied(t.Context(), "acme", t0.Add(-time.Hour), t0.Add(time.Hour), 5)
	require.NoError(t, err)
	assert.Equal(t, []audit.Count{{Key: "orders:delete", N: 2}}, top)
	_, err = e.m.Explain(t.Context(), nil, "read", order(""), permission.Request{})
	assert.ErrorIs(t, err, authv2.ErrUnauthenticated)
}

func TestSessionTimeoutsOption(t *testing.T) {
	cfg := authv2test.Config()
	cfg.Session.IdleTimeout = 5 * time.Minute
	cfg.Session.AbsoluteTimeout = time.Hour
	e := newEnv(t, authv2.WithConfig(cfg))
	e.register(t, "short@example.com")
	res := e.login(t, "short@example.com")
	e.clock.Advance(5*time.Minute + time.Second)
	_, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrSessionExpired)
}

func TestAccountEdgeCases(t *testing.T) {
	n := newCaptureNotifier()
	cfg := authv2test.Config()
	cfg.RequireEmailVerification = true
	e := newEnv(t, authv2.WithConfig(cfg), authv2.WithNotifier(n))
	u := e.register(t, "edge@example.com")
	first := n.wait(t, n.verify, "edge@example.com")
	n.mu.Lock()
	delete(n.verify, "edge@example.com")
	n.mu.Unlock()
	require.NoError(t, e.m.RequestEmailVerification(t.Context(), u.ID))
	second := n.wait(t, n.verify, "edge@example.com")
	assert.NotEqual(t, first, second)
	_, err := e.m.VerifyEmail(t.Context(), first)
	assert.ErrorIs(t, err, authv2.ErrInvalidToken, "a resend replaces the earlier token")
	_, err = e.m.VerifyEmail(t.Context(), second)
	require.NoError(t, err)
	require.NoError(t, e.m.RequestEmailVerification(t.Context(), u.ID), "an active user: nothing to send")
	assert.ErrorIs(t, e.m.RequestEmailVerification(t.Context(), "nope"), authv2.ErrNotFound)

	assert.ErrorIs(t, e.m.DeleteUser(t.Context(), "nope"), authv2.ErrNotFound)
	_, err = e.m.VerifyEmail(t.Context(), "av2v_"+"!!!.???")
	assert.ErrorIs(t, err, authv2.ErrInvalidToken)
	assert.ErrorIs(t, e.m.ResetPassword(t.Context(), "av2r_bm9wZQ.AAAA", "a fresh new passphrase"), authv2.ErrInvalidToken)

	plain := newEnv(t)
	assert.ErrorIs(t, plain.m.RequestPasswordReset(t.Context(), "x@example.com"), authv2.ErrInvalidConfig, "no notifier")
	assert.ErrorIs(t, plain.m.RequestEmailVerification(t.Context(), "x"), authv2.ErrInvalidConfig)
}

func TestChangeEmailAndReauthEdgeCases(t *testing.T) {
	e := newEnv(t)
	e.register(t, "taken@example.com")
	e.register(t, "mover@example.com")
	res := e.login(t, "mover@example.com")
	p, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	_, err = e.m.ChangeEmail(t.Context(), p, "TAKEN@example.com")
	assert.ErrorIs(t, err, authv2.ErrUserExists)
	_, err = e.m.ChangeEmail(t.Context(), p, "not an email")
	assert.ErrorIs(t, err, authv2.ErrValidation)

	require.NoError(t, e.m.Logout(t.Context(), res.Token))
	_, err = e.m.Reauthenticate(t.Context(), res.Token, goodPassword)
	assert.ErrorIs(t, err, authv2.ErrSessionRevoked)
	_, err = e.m.Reauthenticate(t.Context(), "garbage", goodPassword)
	assert.ErrorIs(t, err, authv2.ErrUnauthenticated)
	assert.ErrorIs(t, e.m.RequireFreshAuth(nil), authv2.ErrReauthRequired)
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
