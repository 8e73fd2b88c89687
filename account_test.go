package authv2_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/session"
)

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
