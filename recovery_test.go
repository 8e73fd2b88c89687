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
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

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

// withClient is a context carrying the client the middleware would derive.
func withClient(ip string) context.Context {
	return authv2.WithClient(context.Background(), session.ClientInfo{IP: ip})
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

// existsNotifier also hears of registrations with a taken address.
type existsNotifier struct {
	*captureNotifier
	exists chan string
}

func (n *existsNotifier) AccountExists(_ context.Context, u *user.User) error {
	n.exists <- u.Email
	return nil
}

// TestEnumerationSafeRegistration: with the option on, registering a
// taken address answers exactly as a new one does, and the owner of the
// address hears of it through the Notifier; the new address gets its
// verification token.
func TestEnumerationSafeRegistration(t *testing.T) {
	n := &existsNotifier{captureNotifier: newCaptureNotifier(), exists: make(chan string, 1)}
	cfg := authv2test.Config()
	cfg.RequireEmailVerification = true
	cfg.EnumerationSafeRegistration = true
	e := newEnv(t, authv2.WithConfig(cfg), authv2.WithNotifier(n))
	owner, err := e.m.Register(t.Context(), authv2.RegisterInput{Email: "owner@example.com", Password: goodPassword})
	require.NoError(t, err)
	assert.Nil(t, owner, "the answer carries nothing that differs between new and taken addresses")
	_, err = e.m.VerifyEmail(t.Context(), n.wait(t, n.verify, "owner@example.com"))
	require.NoError(t, err)

	again, err := e.m.Register(t.Context(), authv2.RegisterInput{Email: "OWNER@example.com", Password: "another fine passphrase"})
	require.NoError(t, err, "a taken address answers like a new one")
	assert.Nil(t, again)
	assert.Equal(t, "owner@example.com", <-n.exists, "the owner is told")
	e.login(t, "owner@example.com") // the owner's password is untouched
	require.ErrorIs(t, loginAs(e, "owner@example.com", "another fine passphrase", ""), authv2.ErrInvalidCredentials)

	_, err = e.m.Register(t.Context(), authv2.RegisterInput{Email: "bad address", Password: goodPassword})
	require.ErrorIs(t, err, authv2.ErrValidation, "input errors still say what is wrong")
}

// TestEnumerationSafeRegistrationNeedsVerificationAndNotifier: the option
// is refused where it could not hold (an active account answers a login
// at once; nobody could tell the owner).
func TestEnumerationSafeRegistrationNeedsVerificationAndNotifier(t *testing.T) {
	cfg := authv2.DefaultConfig()
	cfg.EnumerationSafeRegistration = true
	_, err := authv2.New(authv2.WithConfig(cfg), authv2.WithNotifier(newCaptureNotifier()))
	require.ErrorIs(t, err, authv2.ErrInvalidConfig, "without RequireEmailVerification")
	cfg.RequireEmailVerification = true
	_, err = authv2.New(authv2.WithConfig(cfg), authv2.WithNotifier(newCaptureNotifier()))
	require.ErrorIs(t, err, authv2.ErrInvalidConfig, "with a Notifier that cannot tell the owner")
}
