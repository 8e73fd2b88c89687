package authv2_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
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

// captureNotifier records the tokens authv2 asks the application to send.
type captureNotifier struct {
	mu     sync.Mutex
	resets map[string]string // email -> token
	verify map[string]string
}

func newCaptureNotifier() *captureNotifier {
	return &captureNotifier{resets: map[string]string{}, verify: map[string]string{}}
}

func (c *captureNotifier) PasswordReset(_ context.Context, u *user.User, tok string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resets[u.Email] = tok
	return nil
}

func (c *captureNotifier) EmailVerification(_ context.Context, u *user.User, tok string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.verify[u.Email] = tok
	return nil
}

// wait returns the token sent to email, waiting for the background notifier.
func (c *captureNotifier) wait(t *testing.T, m map[string]string, email string) string {
	t.Helper()
	var tok string
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		tok = m[email]
		return tok != ""
	}, 5*time.Second, time.Millisecond)
	return tok
}

func loginAs(e *env, email, password, ip string) error {
	_, err := e.m.Login(context.Background(), authv2.LoginInput{Email: email, Password: password, Client: session.ClientInfo{IP: ip}})
	return err
}

func distinctThrottle() authv2.ThrottleConfig {
	th := authv2.DefaultConfig().Throttle
	th.DistinctError = true
	return th
}

func TestASVS_2_2_1_ThrottleFailedLogins(t *testing.T) {
	cfg := authv2test.Config()
	cfg.Throttle = distinctThrottle()
	e := newEnv(t, authv2.WithConfig(cfg))
	u := e.register(t, "victim@example.com")
	for i := range 9 {
		require.ErrorIs(t, loginAs(e, "victim@example.com", "wrong guess!", "192.0.2.1"), authv2.ErrInvalidCredentials, "failure %d", i+1)
	}
	require.NoError(t, loginAs(e, "victim@example.com", goodPassword, "192.0.2.1"), "nine failures do not throttle")
	for range 10 {
		require.ErrorIs(t, loginAs(e, "victim@example.com", "wrong guess!", "192.0.2.1"), authv2.ErrInvalidCredentials)
	}
	err := loginAs(e, "victim@example.com", goodPassword, "192.0.2.1")
	var te *authv2.ThrottledError
	require.ErrorAs(t, err, &te, "the tenth failure starts a throttle: even the right password is refused")
	assert.Equal(t, 30*time.Second, te.RetryAfter)
	assert.NotEmpty(t, e.sink.OfType(audit.TypeLockout), "lockouts are audited")

	e.clock.Advance(31 * time.Second)
	require.ErrorIs(t, loginAs(e, "victim@example.com", "wrong guess!", "192.0.2.1"), authv2.ErrInvalidCredentials)
	err = loginAs(e, "victim@example.com", goodPassword, "192.0.2.1")
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 2*time.Minute, te.RetryAfter, "the delay doubles per failure (the refused attempt counted too)")

	e.clock.Advance(2*time.Minute + time.Second)
	require.NoError(t, loginAs(e, "victim@example.com", goodPassword, "192.0.2.1"))
	got, err := e.stores.Users.Get(t.Context(), u.ID)
	require.NoError(t, err)
	assert.Zero(t, got.FailedAttempts, "a success resets the counter")
}

func TestNIST_5_2_2_ThrottleHoldsWhenIPsRotate(t *testing.T) {
	e := newEnv(t)
	e.register(t, "rotate@example.com")
	for i := range 10 {
		_ = loginAs(e, "rotate@example.com", "wrong guess!", fmt.Sprintf("198.51.100.%d", i))
	}
	assert.ErrorIs(t, loginAs(e, "rotate@example.com", goodPassword, "203.0.113.99"), authv2.ErrInvalidCredentials,
		"the account throttle holds from a fresh IP, with the generic error by default")
}

func TestNIST_5_2_2_NeverHundredFailuresWithoutLock(t *testing.T) {
	e := newEnv(t)
	u := e.register(t, "hundred@example.com")
	locks := 0
	for range 100 {
		err := loginAs(e, "hundred@example.com", "wrong guess!", "")
		require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
		got, err := e.stores.Users.Get(t.Context(), u.ID)
		require.NoError(t, err)
		if got.LockedUntil.After(e.clock.Now()) {
			locks++
			e.clock.Set(got.LockedUntil) // the attacker waits the lock out
		}
	}
	assert.GreaterOrEqual(t, locks, 90, "every failure from the tenth on is followed by a lock")
}

func TestASVS_2_2_1_ThrottlePerIPAcrossAccounts(t *testing.T) {
	th := distinctThrottle()
	th.IPLimit, th.IPWindow = 20, time.Hour
	cfg := authv2test.Config()
	cfg.Throttle = th
	e := newEnv(t, authv2.WithConfig(cfg))
	e.register(t, "target@example.com")
	for i := range 20 { // password spraying: one guess per account
		require.ErrorIs(t, loginAs(e, fmt.Sprintf("user%d@example.com", i), "Summer2026!", "192.0.2.66"), authv2.ErrInvalidCredentials)
	}
	var te *authv2.ThrottledError
	require.ErrorAs(t, loginAs(e, "target@example.com", goodPassword, "192.0.2.66"), &te, "the IP is over its limit")
	assert.Equal(t, time.Hour, te.RetryAfter)
	assert.NoError(t, loginAs(e, "target@example.com", goodPassword, "192.0.2.67"), "other clients are unaffected")
	e.clock.Advance(time.Hour + time.Second)
	assert.NoError(t, loginAs(e, "target@example.com", goodPassword, "192.0.2.66"), "the window slides")
}

func TestUnknownEmailIsThrottledLikeAnAccount(t *testing.T) {
	cfg := authv2test.Config()
	cfg.Throttle = distinctThrottle()
	e := newEnv(t, authv2.WithConfig(cfg))
	e.register(t, "real@example.com")
	for range 10 {
		require.ErrorIs(t, loginAs(e, "real@example.com", "wrong guess!", ""), authv2.ErrInvalidCredentials)
		require.ErrorIs(t, loginAs(e, "ghost@example.com", "wrong guess!", ""), authv2.ErrInvalidCredentials)
	}
	assert.ErrorIs(t, loginAs(e, "real@example.com", "wrong guess!", ""), authv2.ErrThrottled)
	assert.ErrorIs(t, loginAs(e, "ghost@example.com", "wrong guess!", ""), authv2.ErrThrottled)
}

func TestASVS_2_2_1_ConcurrentFailuresCountedExactly(t *testing.T) {
	e := newEnv(t)
	u := e.register(t, "flood@example.com")
	const n = 500
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			assert.ErrorIs(t, loginAs(e, "flood@example.com", "wrong guess!", ""), authv2.ErrInvalidCredentials)
		})
	}
	wg.Wait()
	got, err := e.stores.Users.Get(t.Context(), u.ID)
	require.NoError(t, err)
	assert.Equal(t, n, got.FailedAttempts, "every failure, throttled or not, is recorded")
	assert.Len(t, e.sink.OfType(audit.TypeLoginFailure), n)
}

func TestAdminUnlock(t *testing.T) {
	e := newEnv(t)
	u := e.register(t, "locked@example.com")
	for range 10 {
		_ = loginAs(e, "locked@example.com", "wrong guess!", "")
	}
	require.ErrorIs(t, loginAs(e, "locked@example.com", goodPassword, ""), authv2.ErrInvalidCredentials)
	require.NoError(t, e.m.UnlockUser(t.Context(), u.ID))
	assert.NoError(t, loginAs(e, "locked@example.com", goodPassword, ""))
	assert.NotEmpty(t, e.sink.OfType(audit.TypeUnlock))
}

func TestASVS_7_4_2_DisableLockDeleteRevokeSessions(t *testing.T) {
	for name, act := range map[string]func(*authv2.Manager, context.Context, string) error{
		"disable": (*authv2.Manager).DisableUser,
		"lock":    (*authv2.Manager).LockUser,
		"delete":  (*authv2.Manager).DeleteUser,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			u := e.register(t, "gone@example.com")
			a, b := e.login(t, "gone@example.com"), e.login(t, "gone@example.com")
			require.NoError(t, act(e.m, t.Context(), u.ID))
			for _, res := range []*authv2.LoginResult{a, b} {
				_, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
				assert.ErrorIs(t, err, authv2.ErrSessionRevoked)
			}
			assert.ErrorIs(t, loginAs(e, "gone@example.com", goodPassword, ""), authv2.ErrInvalidCredentials)
		})
	}
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

func TestASVS_6_2_4_CommonPasswordsRejectedEverywhere(t *testing.T) {
	n := newCaptureNotifier()
	e := newEnv(t, authv2.WithNotifier(n))
	_, err := e.m.Register(t.Context(), authv2.RegisterInput{Email: "c@example.com", Password: "Football1"})
	var ve *authv2.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "is too common", ve.Field("Password"))

	e.register(t, "change2@example.com")
	res := e.login(t, "change2@example.com")
	p, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	_, err = e.m.ChangePassword(t.Context(), p, goodPassword, "qwertyuiop")
	require.ErrorAs(t, err, &ve, "on change")
	require.NoError(t, e.m.RequestPasswordReset(t.Context(), "change2@example.com"))
	tok := n.wait(t, n.resets, "change2@example.com")
	require.ErrorAs(t, e.m.ResetPassword(t.Context(), tok, "iloveyou1"), &ve, "on reset")
}

func TestASVS_6_2_11_ContextWordsRejected(t *testing.T) {
	e := newEnv(t, authv2.WithPasswordWords("acmecorp"))
	for _, c := range []struct{ email, name, password, reason string }{
		{"jonathan@example.com", "", "my jonathan secret", "must not contain your email address"},
		{"x1@example.com", "Margaret Hamilton", "hamilton rocks 42", "must not contain your name"},
		{"x2@example.com", "", "ACMECORP forever!", "must not contain words specific to this service"},
	} {
		_, err := e.m.Register(t.Context(), authv2.RegisterInput{Email: c.email, DisplayName: c.name, Password: c.password})
		var ve *authv2.ValidationError
		require.ErrorAs(t, err, &ve, c.password)
		assert.Equal(t, c.reason, ve.Field("Password"))
	}
}

func TestPasswordCheckerFailureFailsClosed(t *testing.T) {
	down := errors.New("breach service unreachable")
	e := newEnv(t, authv2.WithPasswordChecker(user.PasswordCheckerFunc(func(context.Context, string, user.PasswordContext) (string, error) {
		return "", down
	})))
	_, err := e.m.Register(t.Context(), authv2.RegisterInput{Email: "fc@example.com", Password: goodPassword})
	assert.ErrorIs(t, err, down)
	_, err = e.stores.Users.GetByEmail(t.Context(), "fc@example.com")
	assert.Error(t, err, "nothing was created")
}

// A Manager built without password options hashes at OWASP's argon2id
// parameters: what production gets is what the config promises.
func TestManagerHashesAtProductionDefaults(t *testing.T) {
	users := memoryUsers()
	m, err := authv2.New(authv2.WithUserStore(users))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
	_, err = m.Register(t.Context(), authv2.RegisterInput{Email: "ada@example.com", Password: goodPassword})
	require.NoError(t, err)
	u, err := users.GetByEmail(t.Context(), "ada@example.com")
	require.NoError(t, err)
	p, salt, key, err := user.DecodePHC(u.PasswordHash)
	require.NoError(t, err)
	assert.Equal(t, user.Argon2Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}, p)
	assert.Len(t, salt, 16)
	assert.Len(t, key, 32)
}
