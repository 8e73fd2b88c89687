package authv2_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
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
	for _, b := range backends()[:2] { // the user store keeps the tokens: memory and PostgreSQL
		for name, ch := range changes {
			t.Run(b.name+"/"+name, func(t *testing.T) {
				n := newCaptureNotifier()
				e := newEnv(t, append(b.opts(t), authv2.WithNotifier(n))...)
				u := e.register(t, "holder@example.com")
				p, err := e.m.Authenticate(t.Context(), e.login(t, "holder@example.com").Token, session.ClientInfo{})
				require.NoError(t, err)
				require.NoError(t, e.m.RequestPasswordReset(t.Context(), "holder@example.com"))
				reset := n.wait(t, n.resets, "holder@example.com")
				ch(t, e, u.ID, p, n)
				assert.ErrorIs(t, e.m.ResetPassword(t.Context(), reset, "yet another passphrase"), authv2.ErrInvalidToken)
			})
		}
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

// countingChecker counts password-policy checks: ResetPassword runs the
// policy (and then hashes) only for a token that checked out.
type countingChecker struct{ calls atomic.Int64 }

func (c *countingChecker) CheckPassword(context.Context, string, user.PasswordContext) (string, error) {
	c.calls.Add(1)
	return "", nil
}

// TestResetPasswordChecksTheTokenFirst: a forged reset token costs no
// policy check and no hash, and answers ErrInvalidToken whether or not
// the user ID it names exists, whatever the new password.
func TestResetPasswordChecksTheTokenFirst(t *testing.T) {
	checker := &countingChecker{}
	e := newEnv(t, authv2.WithNotifier(newCaptureNotifier()), authv2.WithPasswordChecker(checker))
	u := e.register(t, "target@example.com")
	before := checker.calls.Load()
	for _, id := range []string{u.ID, "no-such-user"} {
		for _, pw := range []string{"password", "a perfectly fine passphrase"} {
			err := e.m.ResetPassword(t.Context(), oneTimeToken("av2r_", id), pw)
			assert.ErrorIs(t, err, authv2.ErrInvalidToken, "id %s, password %q", id, pw)
		}
	}
	assert.Equal(t, before, checker.calls.Load(), "no policy check (and so no hash) for a forged token")
}

// TestRecoveryFlowsAreThrottled: reset and verification requests are
// limited per target and per client, and failed token uses too, so
// neither a mailbox nor the store can be flooded through them.
func TestRecoveryFlowsAreThrottled(t *testing.T) {
	n := newCaptureNotifier()
	cfg := authv2test.Config()
	cfg.Throttle.RecoveryLimit, cfg.Throttle.RecoveryWindow = 3, time.Hour
	cfg.Throttle.IPLimit = 10
	e := newEnv(t, authv2.WithConfig(cfg), authv2.WithNotifier(n))
	u := e.register(t, "flood@example.com")

	t.Run("requests per target", func(t *testing.T) {
		for i := range 3 {
			require.NoError(t, e.m.RequestPasswordReset(withClient("192.0.2."+string(rune('1'+i))), "flood@example.com"))
		}
		err := e.m.RequestPasswordReset(withClient("192.0.2.9"), "flood@example.com")
		assert.ErrorIs(t, err, authv2.ErrThrottled, "a fourth request for one address within the hour")
		err = e.m.RequestPasswordReset(withClient("192.0.2.9"), "nobody@example.com")
		assert.NoError(t, err, "another address is not affected")
		for range 3 {
			_ = e.m.RequestPasswordReset(withClient("192.0.2.8"), "nobody@example.com")
		}
		err = e.m.RequestPasswordReset(withClient("192.0.2.8"), "nobody@example.com")
		assert.ErrorIs(t, err, authv2.ErrThrottled, "an unknown address is limited alike: no enumeration")
		for range 3 {
			_ = e.m.RequestEmailVerification(withClient("192.0.2.7"), u.ID)
		}
		assert.ErrorIs(t, e.m.RequestEmailVerification(withClient("192.0.2.7"), u.ID), authv2.ErrThrottled)
	})
	t.Run("requests and bad tokens per client", func(t *testing.T) {
		ctx := withClient("198.51.100.1")
		var throttled int
		for i := range 12 {
			err := e.m.ResetPassword(ctx, oneTimeToken("av2r_", "user-"+string(rune('a'+i))), "a brand new passphrase")
			if errors.Is(err, authv2.ErrThrottled) {
				throttled++
				continue
			}
			require.ErrorIs(t, err, authv2.ErrInvalidToken)
		}
		assert.Equal(t, 2, throttled, "10 failed token uses per client per window")
		_, err := e.m.VerifyEmail(ctx, oneTimeToken("av2v_", "user-z"))
		assert.ErrorIs(t, err, authv2.ErrThrottled, "the client's budget is shared across the token flows")
	})
}

func TestASVS_6_2_3_ChangePasswordNeedsCurrentAndRotates(t *testing.T) {
	e := newEnv(t)
	e.register(t, "change@example.com")
	cur := e.login(t, "change@example.com")
	other := e.login(t, "change@example.com")
	p, err := e.m.Authenticate(t.Context(), cur.Token, session.ClientInfo{})
	require.NoError(t, err)

	_, err = e.m.ChangePassword(t.Context(), p, "not the current one", "a brand new passphrase")
	require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
	_, err = e.m.ChangePassword(t.Context(), p, goodPassword, "short")
	require.ErrorIs(t, err, authv2.ErrValidation)

	res, err := e.m.ChangePassword(t.Context(), p, goodPassword, "a brand new passphrase")
	require.NoError(t, err)
	_, err = e.m.Authenticate(t.Context(), other.Token, session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrSessionRevoked, "other sessions end")
	_, err = e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	cur2, err := e.m.Authenticate(t.Context(), cur.Token, session.ClientInfo{})
	require.NoError(t, err, "the current token rotates: within the grace window it stands for its successor")
	assert.Equal(t, res.Session.ID, cur2.SessionID)
	assert.ErrorIs(t, loginAs(e, "change@example.com", goodPassword, ""), authv2.ErrInvalidCredentials)
	assert.NoError(t, loginAs(e, "change@example.com", "a brand new passphrase", ""))
}

func TestASVS_7_5_1_ReauthenticationRequired(t *testing.T) {
	e := newEnv(t)
	e.register(t, "reauth@example.com")
	res := e.login(t, "reauth@example.com")
	e.clock.Advance(14 * time.Minute)
	p, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	require.NoError(t, e.m.RequireFreshAuth(p), "14 minutes after login is fresh")
	e.clock.Advance(2 * time.Minute)
	p, err = e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	_, err = e.m.ChangePassword(t.Context(), p, goodPassword, "a brand new passphrase")
	require.ErrorIs(t, err, authv2.ErrReauthRequired)
	_, err = e.m.ChangeEmail(t.Context(), p, "new@example.com")
	require.ErrorIs(t, err, authv2.ErrReauthRequired)

	_, err = e.m.Reauthenticate(t.Context(), res.Token, "wrong password!")
	require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
	fresh, err := e.m.Reauthenticate(t.Context(), res.Token, goodPassword)
	require.NoError(t, err)
	assert.NotEqual(t, res.Token, fresh.Token, "re-authentication issues a new token (ASVS 7.2.4)")
	assert.NotEqual(t, res.Session.ID, fresh.Session.ID)
	p, err = e.m.Authenticate(t.Context(), fresh.Token, session.ClientInfo{})
	require.NoError(t, err)
	assert.Equal(t, e.clock.Now(), p.AuthenticatedAt)
	e.clock.Advance(time.Minute) // past the rotation grace window
	_, err = e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.ErrorIs(t, err, authv2.ErrSessionRevoked, "the token used before re-authentication is dead")
	again, err := e.m.Reauthenticate(t.Context(), e.login(t, "reauth@example.com").Token, goodPassword)
	require.NoError(t, err)
	p, err = e.m.Authenticate(t.Context(), again.Token, session.ClientInfo{})
	require.NoError(t, err)
	changed, err := e.m.ChangeEmail(t.Context(), p, "new@example.com")
	require.NoError(t, err)
	assert.Equal(t, "new@example.com", changed.User.Email)
}

func TestASVS_6_3_8_PasswordResetDoesNotEnumerate(t *testing.T) {
	n := newCaptureNotifier()
	e := newEnv(t, authv2.WithNotifier(n))
	e.register(t, "reset@example.com")
	assert.NoError(t, e.m.RequestPasswordReset(t.Context(), "reset@example.com"))
	assert.NoError(t, e.m.RequestPasswordReset(t.Context(), "nobody@example.com"), "same outcome for an unknown email")
	tok := n.wait(t, n.resets, "reset@example.com")
	n.mu.Lock()
	assert.Len(t, n.resets, 1, "only the real account is notified")
	n.mu.Unlock()
	assert.True(t, strings.HasPrefix(tok, "av2r_"))
}

func TestASVS_7_4_3_ResetTokenLifecycle(t *testing.T) {
	n := newCaptureNotifier()
	e := newEnv(t, authv2.WithNotifier(n))
	u := e.register(t, "lifecycle@example.com")
	session1 := e.login(t, "lifecycle@example.com")
	// Throttle the account: a reset must still work (a lockout is not a denial of service).
	for range 10 {
		_ = loginAs(e, "lifecycle@example.com", "wrong guess!", "")
	}
	require.NoError(t, e.m.RequestPasswordReset(t.Context(), "lifecycle@example.com"))
	tok := n.wait(t, n.resets, "lifecycle@example.com")

	stored, err := e.stores.Users.Get(t.Context(), u.ID)
	require.NoError(t, err)
	assert.NotContains(t, fmt.Sprintf("%+v", stored), tok[len(tok)-43:], "only a hash of the token is stored")
	require.Len(t, stored.Tokens[user.TokenPasswordReset].Hash, 32)

	audited := fmt.Sprintf("%+v", e.sink.Events())
	assert.NotContains(t, audited, tok, "the reset token never reaches the audit trail")
	assert.NotContains(t, audited, tok[len(tok)-43:])
	assert.NotContains(t, e.logs.String(), tok[len(tok)-43:], "nor the logs")
	require.ErrorIs(t, e.m.ResetPassword(t.Context(), tok, "short"), authv2.ErrValidation, "the policy applies")
	require.ErrorIs(t, e.m.ResetPassword(t.Context(), tok[:len(tok)-2]+"AA", "a fresh new passphrase"), authv2.ErrInvalidToken)
	require.NoError(t, e.m.ResetPassword(t.Context(), tok, "a fresh new passphrase"))
	assert.ErrorIs(t, e.m.ResetPassword(t.Context(), tok, "another new passphrase"), authv2.ErrInvalidToken, "single use")

	_, err = e.m.Authenticate(t.Context(), session1.Token, session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrSessionRevoked, "a reset ends every session")
	list, err := e.m.ListSessions(t.Context(), u.ID)
	require.NoError(t, err)
	assert.Empty(t, list, "a reset does not log the user in")
	assert.NoError(t, loginAs(e, "lifecycle@example.com", "a fresh new passphrase", ""), "and clears the throttle")

	require.NoError(t, e.m.RequestPasswordReset(t.Context(), "lifecycle@example.com"))
	n.mu.Lock()
	delete(n.resets, "lifecycle@example.com")
	n.mu.Unlock()
	require.NoError(t, e.m.RequestPasswordReset(t.Context(), "lifecycle@example.com"))
	late := n.wait(t, n.resets, "lifecycle@example.com")
	e.clock.Advance(time.Hour + time.Second)
	assert.ErrorIs(t, e.m.ResetPassword(t.Context(), late, "yet another passphrase"), authv2.ErrInvalidToken, "expired after 1 h")
}

func TestEmailVerification(t *testing.T) {
	n := newCaptureNotifier()
	cfg := authv2test.Config()
	cfg.RequireEmailVerification = true
	e := newEnv(t, authv2.WithConfig(cfg), authv2.WithNotifier(n))
	u := e.register(t, "verify@example.com")
	assert.Equal(t, user.StatusPendingVerification, u.Status)
	assert.ErrorIs(t, loginAs(e, "verify@example.com", goodPassword, ""), authv2.ErrEmailNotVerified)
	assert.ErrorIs(t, loginAs(e, "verify@example.com", "wrong guess!", ""), authv2.ErrInvalidCredentials,
		"only a caller who knows the password learns the account is pending")
	tok := n.wait(t, n.verify, "verify@example.com")
	_, err := e.m.VerifyEmail(t.Context(), "av2v_garbage")
	assert.ErrorIs(t, err, authv2.ErrInvalidToken)
	got, err := e.m.VerifyEmail(t.Context(), tok)
	require.NoError(t, err)
	assert.Equal(t, user.StatusActive, got.Status)
	_, err = e.m.VerifyEmail(t.Context(), tok)
	assert.ErrorIs(t, err, authv2.ErrInvalidToken, "single use")
	assert.NoError(t, loginAs(e, "verify@example.com", goodPassword, ""))

	_, err = authv2.New(authv2.WithConfig(cfg))
	assert.ErrorIs(t, err, authv2.ErrInvalidConfig, "verification without a notifier fails at New")
}
