package authv2_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/internal/clock"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

// TestReuseEndsEveryDescendantHoweverLongTheChain: a thief who rotates a
// copied token many times before the owner presents the original still
// loses the session: reuse ends all of the user's sessions.
func TestReuseEndsEveryDescendantHoweverLongTheChain(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			clk := clock.NewFake(time.Now().UTC().Truncate(time.Second))
			m, err := authv2.New(append(b.opts(t), authv2.WithClock(clk), authv2.WithConfig(authv2test.Config()), authv2.WithInsecurePasswordHashing())...)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
			ctx := t.Context()
			_, err = m.Register(ctx, authv2.RegisterInput{Email: "chain@example.com", Password: goodPassword})
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

// TestForgedTokensCannotBlockTheOwnersReset: forged reset tokens naming a
// user, sent from many addresses, do not stop that user's real token.
func TestForgedTokensCannotBlockTheOwnersReset(t *testing.T) {
	n := newCaptureNotifier()
	e := newEnv(t, authv2.WithNotifier(n))
	u := e.register(t, "victim@example.com")
	require.NoError(t, e.m.RequestPasswordReset(withClient("192.0.2.50"), "victim@example.com"))
	real := n.wait(t, n.resets, "victim@example.com")
	for i := range 30 {
		err := e.m.ResetPassword(withClient("203.0.113."+string(rune('a'+i))), oneTimeToken("av2r_", u.ID), "a brand new passphrase")
		require.ErrorIs(t, err, authv2.ErrInvalidToken)
	}
	require.NoError(t, e.m.ResetPassword(withClient("192.0.2.50"), real, "a brand new passphrase"))
}

// TestVerifiedEmailChangeVoidsTokensSentToTheOldAddress: once the new
// address is verified, a reset token the old mailbox received while the
// change was pending no longer works.
func TestVerifiedEmailChangeVoidsTokensSentToTheOldAddress(t *testing.T) {
	n := newCaptureNotifier()
	cfg := authv2test.Config()
	cfg.RequireEmailVerification = true
	e := newEnv(t, authv2.WithConfig(cfg), authv2.WithNotifier(n))
	ctx := t.Context()
	_, err := e.m.Register(ctx, authv2.RegisterInput{Email: "old@example.com", Password: goodPassword})
	require.NoError(t, err)
	_, err = e.m.VerifyEmail(ctx, n.wait(t, n.verify, "old@example.com"))
	require.NoError(t, err)
	p, err := e.m.Authenticate(ctx, e.login(t, "old@example.com").Token, session.ClientInfo{})
	require.NoError(t, err)
	_, err = e.m.ChangeEmail(ctx, p, "new@example.com")
	require.NoError(t, err)
	require.NoError(t, e.m.RequestPasswordReset(ctx, "old@example.com"))
	oldMailbox := n.wait(t, n.resets, "old@example.com")
	v, err := e.m.VerifyEmail(ctx, n.wait(t, n.verify, "new@example.com"))
	require.NoError(t, err)
	require.Equal(t, "new@example.com", v.Email)
	assert.ErrorIs(t, e.m.ResetPassword(ctx, oldMailbox, "attacker chosen passphrase"), authv2.ErrInvalidToken)
}

// TestGuesserCannotLockTheOwnerOutOfReauthentication: failures from other
// clients lock untrusted logins, not a live session's re-authentication.
func TestGuesserCannotLockTheOwnerOutOfReauthentication(t *testing.T) {
	e := newEnv(t)
	e.register(t, "owner@example.com")
	res := e.login(t, "owner@example.com")
	for range 10 {
		_ = loginAs(e, "owner@example.com", "wrong guess!", "203.0.113.9")
	}
	_, err := e.m.Reauthenticate(t.Context(), res.Token, goodPassword)
	require.NoError(t, err, "the owner's session re-authenticates despite the guesser's lock")
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
