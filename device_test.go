package authv2_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/session"
)

// deviceLogin logs in with a device token from the owner's usual IP.
func deviceLogin(e *env, email, password, device string) (*authv2.LoginResult, error) {
	return e.m.Login(context.Background(), authv2.LoginInput{Email: email, Password: password,
		Client: session.ClientInfo{IP: "203.0.113.7"}, DeviceToken: device})
}

// lockOut makes ten failures from untrusted clients: the account is locked
// for them.
func lockOut(t *testing.T, e *env, email string) {
	t.Helper()
	for range 10 {
		require.ErrorIs(t, loginAs(e, email, "wrong guess!", "192.0.2.66"), authv2.ErrInvalidCredentials)
	}
	require.ErrorIs(t, loginAs(e, email, goodPassword, "192.0.2.67"), authv2.ErrInvalidCredentials, "locked for untrusted clients")
}

func TestDeviceTokenExemptsFromTheAccountLock(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada@example.com")
	res := e.login(t, "ada@example.com")
	require.True(t, strings.HasPrefix(res.DeviceToken, "av2d_"), "device tokens are recognisable")
	lockOut(t, e, "ada@example.com")

	again, err := deviceLogin(e, "ada@example.com", goodPassword, res.DeviceToken)
	require.NoError(t, err, "the owner's device is not subject to the lock")
	assert.Equal(t, res.DeviceToken, again.DeviceToken, "a trusted device keeps its token")
	assert.ErrorIs(t, loginAs(e, "ada@example.com", goodPassword, "192.0.2.67"), authv2.ErrInvalidCredentials,
		"a trusted device's success does not unlock untrusted clients")
}

func TestDeviceTokenWithSpentBudgetIsUntrusted(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada@example.com")
	device := e.login(t, "ada@example.com").DeviceToken
	for range 10 {
		_, err := deviceLogin(e, "ada@example.com", "wrong guess!", device)
		require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
	}
	assert.Zero(t, loginFailures(t, e, "ada@example.com"), "a trusted device's failures are its own, not the email's")
	assert.Equal(t, 10, verifiedFailures(e))

	_, err := deviceLogin(e, "ada@example.com", "wrong guess!", device)
	require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
	assert.Equal(t, 1, loginFailures(t, e, "ada@example.com"), "a device past its budget counts as an untrusted client")

	lockOut(t, e, "ada@example.com")
	_, err = deviceLogin(e, "ada@example.com", goodPassword, device)
	assert.ErrorIs(t, err, authv2.ErrInvalidCredentials, "and is locked out with them")
	e.clock.Advance(time.Hour + time.Second)
	lockOut(t, e, "ada@example.com")
	_, err = deviceLogin(e, "ada@example.com", goodPassword, device)
	assert.NoError(t, err, "its budget comes back as its failures leave MaxDelay: trusted again")
}

func TestDeviceTokenIsTrustedOnlyForItsUser(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada@example.com")
	e.register(t, "bob@example.com")
	bobs := e.login(t, "bob@example.com").DeviceToken
	lockOut(t, e, "ada@example.com")
	_, err := deviceLogin(e, "ada@example.com", goodPassword, bobs)
	assert.ErrorIs(t, err, authv2.ErrInvalidCredentials, "another user's device token")
	_, err = deviceLogin(e, "ada@example.com", goodPassword, bobs[:len(bobs)-2]+"xx")
	assert.ErrorIs(t, err, authv2.ErrInvalidCredentials, "a forged device token")
}

func TestDeviceTokensAreBoundedAndSurvivePasswordChange(t *testing.T) {
	e := newEnv(t)
	u := e.register(t, "ada@example.com")
	var tokens []string
	for range 12 {
		tokens = append(tokens, e.login(t, "ada@example.com").DeviceToken)
		e.clock.Advance(time.Minute)
	}
	got, err := e.stores.Users.Get(t.Context(), u.ID)
	require.NoError(t, err)
	n := 0
	for k, tok := range got.Tokens {
		if strings.HasPrefix(k, "device:") {
			n++
			assert.Len(t, tok.Hash, 32, "only the SHA-256 is kept")
		}
	}
	assert.Equal(t, 10, n, "at most ten device tokens per user")

	p, err := e.m.Authenticate(t.Context(), e.login(t, "ada@example.com").Token, session.ClientInfo{})
	require.NoError(t, err)
	_, err = e.m.ChangePassword(t.Context(), p, goodPassword, "another fine passphrase")
	require.NoError(t, err)
	lockOut(t, e, "ada@example.com")
	_, err = deviceLogin(e, "ada@example.com", "another fine passphrase", tokens[0])
	assert.ErrorIs(t, err, authv2.ErrInvalidCredentials, "the oldest device was evicted")
	_, err = deviceLogin(e, "ada@example.com", "another fine passphrase", tokens[11])
	assert.NoError(t, err, "a password change does not void device tokens")
}

// A password reset is the owner taking the account back, possibly from
// whoever logged in with the old password: devices trusted before it are
// forgotten, so such a client gets no budget of its own afterwards. A
// voluntary change (above) keeps them: the user is signed in.
func TestPasswordResetForgetsDevices(t *testing.T) {
	for _, b := range backends()[:2] { // the user store keeps the tokens: memory and PostgreSQL
		t.Run(b.name, func(t *testing.T) {
			n := newCaptureNotifier()
			e := newEnv(t, append(b.opts(t), authv2.WithNotifier(n))...)
			e.register(t, "ada@example.com")
			before := e.login(t, "ada@example.com").DeviceToken
			require.NoError(t, e.m.RequestPasswordReset(t.Context(), "ada@example.com"))
			require.NoError(t, e.m.ResetPassword(t.Context(), n.wait(t, n.resets, "ada@example.com"), "a brand new passphrase"))
			lockOut(t, e, "ada@example.com")
			_, err := deviceLogin(e, "ada@example.com", "a brand new passphrase", before)
			assert.ErrorIs(t, err, authv2.ErrInvalidCredentials, "a device trusted before the reset is one more untrusted client")

			e.clock.Advance(25 * time.Hour) // the lock has passed
			after, err := deviceLogin(e, "ada@example.com", "a brand new passphrase", before)
			require.NoError(t, err)
			assert.NotEqual(t, before, after.DeviceToken, "the device gets a new token")
			lockOut(t, e, "ada@example.com")
			_, err = deviceLogin(e, "ada@example.com", "a brand new passphrase", after.DeviceToken)
			assert.NoError(t, err, "a device trusted after the reset is trusted")
		})
	}
}

// The failures of the devices a reset forgets go with them: the user's
// long budget, which every trusted client shares, starts afresh. Else
// whoever held the old password could log in from ten browsers, spend it
// with wrong guesses, and leave the owner's devices after the reset no
// better than untrusted clients for a day: locked out by any guesser.
func TestPasswordResetEmptiesTheTrustedBudgetOfTheDevicesItForgets(t *testing.T) {
	cfg := authv2test.Config()
	cfg.Throttle.IPLimit = 0 // the thief's guesses come from one address
	n := newCaptureNotifier()
	e := newEnv(t, authv2.WithConfig(cfg), authv2.WithNotifier(n))
	u := e.register(t, "ada@example.com")
	for range cfg.Throttle.MaxFailures / cfg.Throttle.AfterFailures {
		thief := e.login(t, "ada@example.com").DeviceToken
		for range cfg.Throttle.AfterFailures {
			_, err := deviceLogin(e, "ada@example.com", "wrong guess!", thief)
			require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
		}
	}
	require.Equal(t, cfg.Throttle.MaxFailures, trustedFailures(t, e, u.ID), "the thief's devices spent the trusted budget")

	require.NoError(t, e.m.RequestPasswordReset(t.Context(), "ada@example.com"))
	require.NoError(t, e.m.ResetPassword(t.Context(), n.wait(t, n.resets, "ada@example.com"), "a brand new passphrase"))
	assert.Zero(t, trustedFailures(t, e, u.ID), "no trusted client that spent it is left")

	owner, err := deviceLogin(e, "ada@example.com", "a brand new passphrase", "")
	require.NoError(t, err)
	lockOut(t, e, "ada@example.com")
	_, err = deviceLogin(e, "ada@example.com", "a brand new passphrase", owner.DeviceToken)
	assert.NoError(t, err, "the owner's device, trusted after the reset, is not locked out")
}

// With a second factor, the client becomes a trusted device when the login
// completes, not at the password: the password step trusts nothing (a
// holder of the password alone gets no budget of their own), and the
// completed login hands the device token back, which then keeps the owner
// in past a guesser's lock. A device presenting its token keeps it.
func TestDeviceTrustedWhenTheSecondFactorCompletesTheLogin(t *testing.T) {
	e := newMFAEnv(t, backendStores{}, authv2test.Config())
	ctx := t.Context()
	secret, _, enrolled := e.enrollTOTP(t, "dev@example.com")
	u := enrolled.User
	devices := func() int {
		x, err := e.m.User(ctx, u.ID)
		require.NoError(t, err)
		n := 0
		for k := range x.Tokens {
			if strings.HasPrefix(k, "device:") {
				n++
			}
		}
		return n
	}
	before := devices()
	from := session.ClientInfo{IP: "203.0.113.7"}
	complete := func(device string) *authv2.LoginResult {
		t.Helper()
		res, err := e.m.Login(ctx, authv2.LoginInput{Email: "dev@example.com", Password: goodPassword, Client: from, DeviceToken: device})
		require.NoError(t, err)
		require.NotNil(t, res.MFA)
		assert.Empty(t, res.DeviceToken, "no device is trusted before the second factor")
		assert.Equal(t, before, devices(), "nor recorded")
		done, err := e.m.CompleteLogin(ctx, authv2.CompleteLoginInput{PendingToken: res.MFA.Token, Client: from, DeviceToken: device,
			SecondFactor: authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: e.code(t, secret)}})
		require.NoError(t, err)
		return done
	}
	first := complete("")
	require.True(t, strings.HasPrefix(first.DeviceToken, "av2d_"), "the completed login trusts the device")
	before++

	for range 10 {
		_, err := e.m.Login(ctx, authv2.LoginInput{Email: "dev@example.com", Password: "wrong guess!", Client: session.ClientInfo{IP: "192.0.2.66"}})
		require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
	}
	_, err := e.m.Login(ctx, authv2.LoginInput{Email: "dev@example.com", Password: goodPassword, Client: session.ClientInfo{IP: "192.0.2.67"}})
	require.ErrorIs(t, err, authv2.ErrInvalidCredentials, "locked for untrusted clients")
	again := complete(first.DeviceToken)
	assert.Equal(t, first.DeviceToken, again.DeviceToken, "a trusted device keeps its token")
}
