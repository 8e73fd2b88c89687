package authv2_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
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
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/user"
)

// roomyThrottle lets the most logins of one account run at once: every
// attempt in flight holds a place in the email's throttle until its
// password is found right, so no more than AfterFailures can.
func roomyThrottle() authv2.ThrottleConfig {
	th := authv2.DefaultConfig().Throttle
	th.AfterFailures = 100
	return th
}

// failures counts the failed logins audited with reason.
func failures(e *env, reason string) int {
	n := 0
	for _, ev := range e.sink.OfType(audit.TypeLoginFailure) {
		if ev.Reason == reason {
			n++
		}
	}
	return n
}

// verifiedFailures counts the failed logins whose password was checked
// against the stored hash: Login reports bad_password right after the
// hasher said no, and for nothing else.
func verifiedFailures(e *env) int { return failures(e, "bad_password") }

// concurrently runs n wrong-password logins at once, the i-th as email(i)
// from ip(i).
func concurrently(e *env, n int, email, ip func(i int) string) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _ = loginAs(e, email(i), "wrong guess!", ip(i)) })
	}
	wg.Wait()
}

// TestConcurrentWrongPasswordsVerifiedAtMostTheLimit: whatever the
// concurrency, no more password verifications run than the account
// throttle and the per-client limit allow in a window.
func TestConcurrentWrongPasswordsVerifiedAtMostTheLimit(t *testing.T) {
	const attempts = 200
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Run("PerAccount", func(t *testing.T) {
				e := newEnv(t, b.opts(t)...)
				e.clock.Set(time.Now()) // Redis expires limiter keys by real time
				e.register(t, "victim@example.com")
				concurrently(e, attempts, func(int) string { return "victim@example.com" },
					func(i int) string { return fmt.Sprintf("198.51.100.%d", i) })
				assert.Equal(t, authv2.DefaultConfig().Throttle.AfterFailures, verifiedFailures(e),
					"one account: at most AfterFailures verifications, from any number of clients")
			})
			t.Run("PerClient", func(t *testing.T) {
				e := newEnv(t, b.opts(t)...)
				e.clock.Set(time.Now()) // Redis expires limiter keys by real time
				for i := range attempts {
					e.register(t, fmt.Sprintf("user%d@example.com", i))
				}
				concurrently(e, attempts, func(i int) string { return fmt.Sprintf("user%d@example.com", i) },
					func(int) string { return "192.0.2.66" })
				assert.Equal(t, authv2.DefaultConfig().Throttle.IPLimit, verifiedFailures(e),
					"one client: at most IPLimit verifications, across any number of accounts")
			})
		})
	}
}

func TestUnknownEmailReservedBeforeHashing(t *testing.T) {
	e := newEnv(t)
	concurrently(e, 200, func(int) string { return "ghost@example.com" }, func(i int) string { return fmt.Sprintf("198.51.100.%d", i) })
	require.Equal(t, authv2.DefaultConfig().Throttle.AfterFailures, failures(e, "unknown_user"), "an unknown email is hashed at most AfterFailures times per window")
}

// TestLockoutIsNoDenialOfServiceWithDeviceToken: one client sending 60
// wrong passwords an hour (under the per-IP limit) for a day keeps the
// email throttled for untrusted clients, yet the owner, logging in every
// ten minutes from a device that logged in before, gets in (OWASP's device
// cookies); the attacker stays throttled.
func TestLockoutIsNoDenialOfServiceWithDeviceToken(t *testing.T) {
	e := newEnv(t)
	e.register(t, "victim@example.com")
	owner := func(device string) (*authv2.LoginResult, error) {
		return e.m.Login(t.Context(), authv2.LoginInput{Email: "victim@example.com", Password: goodPassword,
			Client: session.ClientInfo{IP: "203.0.113.7"}, DeviceToken: device})
	}
	first, err := owner("")
	require.NoError(t, err)
	require.NotEmpty(t, first.DeviceToken, "a successful login issues a device token")
	device := first.DeviceToken

	tries, successes := 0, 0
	for minute := range 24 * 60 {
		_ = loginAs(e, "victim@example.com", "wrong guess!", "192.0.2.66")
		if minute%10 == 5 {
			tries++
			if res, err := owner(device); err == nil {
				successes++
				device = res.DeviceToken
			}
		}
		e.clock.Advance(time.Minute)
	}
	t.Logf("the owner got in %d of %d times; the attacker's guesses were checked %d times", successes, tries, verifiedFailures(e))
	assert.GreaterOrEqual(t, float64(successes), 0.99*float64(tries), "the owner's device gets in: %d of %d", successes, tries)
	assert.LessOrEqual(t, verifiedFailures(e), 100, "the attacker's guesses are checked at most MaxFailures times a day")
	_ = loginAs(e, "victim@example.com", "wrong guess!", "192.0.2.66") // the attacker takes any place freed
	require.ErrorIs(t, loginAs(e, "victim@example.com", goodPassword, "192.0.2.66"), authv2.ErrInvalidCredentials,
		"untrusted clients stay throttled, even with the right password")
}

func TestIPv6ClientsAreLimitedByPrefix(t *testing.T) {
	e := newEnv(t)
	e.register(t, "target@example.com")
	for i := range 150 { // one host rotating through its /64
		_ = loginAs(e, fmt.Sprintf("user%d@example.com", i), "Summer2026!", fmt.Sprintf("2001:db8:1:2::%x", i+1))
	}
	assert.Equal(t, 50, failures(e, "ip_throttled"), "the /64 shares one budget of IPLimit failures")
	assert.ErrorIs(t, loginAs(e, "target@example.com", goodPassword, "2001:db8:1:2:ffff::1"), authv2.ErrInvalidCredentials,
		"another address of the /64 is throttled too")
	assert.NoError(t, loginAs(e, "target@example.com", goodPassword, "2001:db8:1:3::1"), "the next /64 is another client")
}

func TestIPv6PrefixIsConfigurable(t *testing.T) {
	th := authv2.DefaultConfig().Throttle
	th.IPv6Prefix = 128
	cfg := authv2test.Config()
	cfg.Throttle = th
	e := newEnv(t, authv2.WithConfig(cfg))
	for i := range 150 {
		_ = loginAs(e, fmt.Sprintf("user%d@example.com", i), "Summer2026!", fmt.Sprintf("2001:db8:1:2::%x", i+1))
	}
	assert.Zero(t, failures(e, "ip_throttled"), "a /128 prefix limits each address alone")
}

func TestIPv4MappedIPv6IsLimitedAsIPv4(t *testing.T) {
	th := authv2.DefaultConfig().Throttle
	th.IPLimit = 20
	cfg := authv2test.Config()
	cfg.Throttle = th
	e := newEnv(t, authv2.WithConfig(cfg))
	e.register(t, "target@example.com")
	for i := range 20 {
		_ = loginAs(e, fmt.Sprintf("user%d@example.com", i), "Summer2026!", "192.0.2.66")
	}
	assert.ErrorIs(t, loginAs(e, "target@example.com", goodPassword, "::ffff:192.0.2.66"), authv2.ErrInvalidCredentials)
	assert.Equal(t, 1, failures(e, "ip_throttled"), "the mapped address is the same client")
	assert.NoError(t, loginAs(e, "target@example.com", goodPassword, "192.0.2.67"), "IPv4 is limited per address (/32)")
}

func TestNonIPClientAddressIsWarnedAboutOnce(t *testing.T) {
	e := newEnv(t)
	e.register(t, "ada@example.com")
	for range 3 {
		_ = loginAs(e, "ada@example.com", "wrong guess!", "@") // a unix socket's peer
	}
	assert.Equal(t, 1, strings.Count(e.logs.String(), "not an IP address"), "one warning, not one per login")
}

// TestSuccessGivesTheReservationBack: a login counts against the client's
// budget until its password proves right, then no longer.
func TestSuccessGivesTheReservationBack(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			th := authv2.DefaultConfig().Throttle
			th.IPLimit = 3
			cfg := authv2test.Config()
			cfg.Throttle = th
			e := newEnv(t, append(b.opts(t), authv2.WithConfig(cfg))...)
			e.clock.Set(time.Now()) // Redis expires limiter keys by real time
			e.register(t, "office@example.com")
			for i := range 10 { // an office behind one address
				require.NoError(t, loginAs(e, "office@example.com", goodPassword, "192.0.2.80"), "login %d", i+1)
			}
			for range 3 {
				require.ErrorIs(t, loginAs(e, "ghost@example.com", "wrong guess!", "192.0.2.80"), authv2.ErrInvalidCredentials)
			}
			assert.ErrorIs(t, loginAs(e, "office@example.com", goodPassword, "192.0.2.80"), authv2.ErrInvalidCredentials,
				"failures still count: the client is over its limit")
			assert.Equal(t, 1, failures(e, "ip_throttled"))
		})
	}
}

// TestReauthenticateReservesBeforeHashing: Reauthenticate (and so
// ChangePassword) reserves in a throttle of its own, and a right
// password gives back its own reservation without resetting the others.
func TestReauthenticateReservesBeforeHashing(t *testing.T) {
	cfg := authv2test.Config()
	cfg.Throttle = distinctThrottle()
	e := newEnv(t, authv2.WithConfig(cfg))
	e.register(t, "ada@example.com")
	tok := e.login(t, "ada@example.com").Token
	var wg sync.WaitGroup
	var mu sync.Mutex
	checked := 0
	for range 200 {
		wg.Go(func() {
			_, err := e.m.Reauthenticate(t.Context(), tok, "wrong guess!")
			if errors.Is(err, authv2.ErrInvalidCredentials) { // not ErrThrottled: the hash ran
				mu.Lock()
				checked++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 10, checked, "at most AfterFailures verifications, whatever the concurrency")

	assert.Zero(t, loginFailures(t, e, "ada@example.com"), "a session's budget is its own: the login throttle of untrusted clients is untouched")
	_, err := e.m.Reauthenticate(t.Context(), tok, goodPassword)
	require.ErrorIs(t, err, authv2.ErrThrottled, "the budget is spent for MaxDelay")
	e.clock.Advance(distinctThrottle().MaxDelay)
	res, err := e.m.Reauthenticate(t.Context(), e.login(t, "ada@example.com").Token, goodPassword)
	require.NoError(t, err)
	_, err = e.m.Reauthenticate(t.Context(), res.Token, goodPassword)
	require.NoError(t, err, "a right password gave back its reservation")
}

func TestASVS_2_2_1_ThrottleFailedLogins(t *testing.T) {
	cfg := authv2test.Config()
	cfg.Throttle = distinctThrottle()
	e := newEnv(t, authv2.WithConfig(cfg))
	e.register(t, "victim@example.com")
	for i := range 9 {
		require.ErrorIs(t, loginAs(e, "victim@example.com", "wrong guess!", "192.0.2.1"), authv2.ErrInvalidCredentials, "failure %d", i+1)
		e.clock.Advance(time.Minute)
	}
	require.NoError(t, loginAs(e, "victim@example.com", goodPassword, "192.0.2.1"), "nine failures do not throttle")
	assert.Equal(t, 9, loginFailures(t, e, "victim@example.com"), "a success gives back its own place, not the others'")
	require.ErrorIs(t, loginAs(e, "victim@example.com", "wrong guess!", "192.0.2.1"), authv2.ErrInvalidCredentials)
	err := loginAs(e, "victim@example.com", goodPassword, "192.0.2.1")
	var te *authv2.ThrottledError
	require.ErrorAs(t, err, &te, "ten failures within MaxDelay throttle the email: even the right password is refused")
	assert.Equal(t, 51*time.Minute, te.RetryAfter, "until the oldest failure leaves the hour")
	throttled := e.sink.OfType(audit.TypeLoginFailure)
	assert.Equal(t, audit.ReasonAccountThrottled, throttled[len(throttled)-1].Reason, "throttled attempts are audited")

	e.clock.Advance(51*time.Minute + time.Second)
	require.ErrorIs(t, loginAs(e, "victim@example.com", "wrong guess!", "192.0.2.1"), authv2.ErrInvalidCredentials,
		"one place came back: checked, and failed")
	err = loginAs(e, "victim@example.com", goodPassword, "192.0.2.1")
	require.ErrorAs(t, err, &te, "that failure took it again")
	e.clock.Advance(time.Minute)
	require.NoError(t, loginAs(e, "victim@example.com", goodPassword, "192.0.2.1"))
}

func TestNIST_5_2_2_ThrottleHoldsWhenIPsRotate(t *testing.T) {
	e := newEnv(t)
	e.register(t, "rotate@example.com")
	for i := range 10 {
		_ = loginAs(e, "rotate@example.com", "wrong guess!", fmt.Sprintf("198.51.100.%d", i))
	}
	assert.ErrorIs(t, loginAs(e, "rotate@example.com", goodPassword, "203.0.113.99"), authv2.ErrInvalidCredentials,
		"the email's throttle holds from a fresh IP, with the generic error by default")
}

// TestNIST_5_2_2_NeverHundredFailuresWithoutLock: an attacker who waits
// out every refusal gets MaxFailures (100) guesses checked, then none
// until FailureWindow after the first: the email is locked.
func TestNIST_5_2_2_NeverHundredFailuresWithoutLock(t *testing.T) {
	e, cfg := emailThrottleEnv(t)
	e.register(t, "hundred@example.com")
	start := e.clock.Now()
	var te *authv2.ThrottledError
	for range 1000 {
		err := loginAs(e, "hundred@example.com", "wrong guess!", "")
		if !errors.As(err, &te) {
			require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
			e.clock.Advance(time.Second)
			continue
		}
		if verifiedFailures(e) == cfg.Throttle.MaxFailures {
			break
		}
		e.clock.Advance(te.RetryAfter) // the attacker waits the refusal out
	}
	require.Equal(t, cfg.Throttle.MaxFailures, verifiedFailures(e))
	elapsed := e.clock.Now().Sub(start)
	require.Less(t, elapsed, cfg.Throttle.FailureWindow, "MaxFailures checked within FailureWindow")
	require.ErrorAs(t, loginAs(e, "hundred@example.com", goodPassword, ""), &te, "then locked, even for the right password")
	assert.Equal(t, cfg.Throttle.FailureWindow-elapsed, te.RetryAfter, "until FailureWindow after the first failure")
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
	e.register(t, "flood@example.com")
	const n = 500
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			assert.ErrorIs(t, loginAs(e, "flood@example.com", "wrong guess!", ""), authv2.ErrInvalidCredentials)
		})
	}
	wg.Wait()
	assert.Len(t, e.sink.OfType(audit.TypeLoginFailure), n, "every failure, throttled or not, is recorded")
	assert.Equal(t, 10, verifiedFailures(e), "AfterFailures of them checked")
	assert.Equal(t, n-10, failures(e, audit.ReasonAccountThrottled), "the others refused")
	assert.Equal(t, 10, loginFailures(t, e, "flood@example.com"))
}

// TestThrottleScheduleSameForKnownAndUnknownEmails: an attacker who guesses
// against a registered email and against an unknown one, on any schedule,
// sees the same answers at the same times. Had the two budgets different
// shapes (an account's lock growing from BaseDelay, an unknown email's
// window), a guess that one refuses fast and the other hashes would tell
// which email has an account.
func TestThrottleScheduleSameForKnownAndUnknownEmails(t *testing.T) {
	cfg := authv2test.Config()
	cfg.Throttle = distinctThrottle()
	cfg.Throttle.IPLimit = 0 // one budget per email, nothing shared between them
	e := newEnv(t, authv2.WithConfig(cfg))
	e.register(t, "real@example.com")
	outcome := func(email string) string {
		err := loginAs(e, email, "wrong guess!", "")
		if errors.Is(err, authv2.ErrThrottled) {
			return "throttled"
		}
		require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
		return "checked"
	}
	// Bursts, then pauses shorter and longer than each step a lock could
	// take (the defaults: 10 failures, then 30 s doubling to an hour).
	gaps := []time.Duration{0, 0, 0, time.Second, 0, 29 * time.Second, 0, 31 * time.Second, 0, time.Minute, 0,
		90 * time.Second, 0, 5 * time.Minute, 0, 0, 20 * time.Minute, 0, time.Hour, 0, 2 * time.Hour}
	var known, unknown []string
	for i := range 200 {
		known = append(known, outcome("real@example.com"))
		unknown = append(unknown, outcome("ghost@example.com"))
		e.clock.Advance(gaps[(i*7)%len(gaps)])
	}
	assert.Equal(t, unknown, known, "the answers over time tell the emails apart")
	assert.Contains(t, known, "throttled", "the schedule reaches the throttle")
}

// TestKnownAndUnknownEmailsMakeTheSameStoreCalls: before the hash, a wrong
// password for an account and a login with an unknown email make the same
// store calls in the same order, so that their time on a database, over a
// network, is the same too (a transaction has more round trips than one
// statement: a few milliseconds per login where the database is remote).
func TestKnownAndUnknownEmailsMakeTheSameStoreCalls(t *testing.T) {
	o := newOtelEnv(t)
	o.register(t, "real@example.com")
	calls := func(email string) []string {
		return callerStoreCalls(t, o, func() {
			require.ErrorIs(t, loginAs(o.env, email, "wrong guess!", "192.0.2.1"), authv2.ErrInvalidCredentials)
		})
	}
	known, unknown := calls("real@example.com"), calls("ghost@example.com")
	assert.NotEmpty(t, known)
	assert.Equal(t, unknown, known)
}

// TestOwnerSuccessDoesNotRevealAccount: the owner's right password gives
// back its own place only. Had it emptied the email's budgets (an unknown
// email's are never emptied), an attacker who spent part of them would get
// more guesses checked than were left, and learn that the email has an
// account, and that its owner just logged in.
func TestOwnerSuccessDoesNotRevealAccount(t *testing.T) {
	e, _ := emailThrottleEnv(t)
	e.register(t, "real@example.com")
	var known, unknown []string
	for range 9 { // the attacker spends 9 of 10 places of each email
		known = append(known, outcomeOf(t, loginAs(e, "real@example.com", "wrong guess!", "192.0.2.66")))
		unknown = append(unknown, outcomeOf(t, loginAs(e, "ghost@example.com", "wrong guess!", "192.0.2.66")))
	}
	e.clock.Advance(10 * time.Minute)
	// The owner logs in once from a new browser (no device token).
	require.NoError(t, loginAs(e, "real@example.com", goodPassword, "203.0.113.7"))
	e.clock.Advance(10 * time.Minute)
	for range 3 { // the attacker probes on
		known = append(known, outcomeOf(t, loginAs(e, "real@example.com", "wrong guess!", "192.0.2.66")))
		unknown = append(unknown, outcomeOf(t, loginAs(e, "ghost@example.com", "wrong guess!", "192.0.2.66")))
	}
	assert.Equal(t, unknown, known, "the answers tell the account's email from an unknown one")
}

// TestLongBudgetConcurrencyOnEveryBackend: when the long budget is
// the one that binds, 200 concurrent wrong passwords for one email (known
// or not) get exactly its remaining places checked, on every limiter: the
// two-reservation step with its release lets none through.
func TestLongBudgetConcurrencyOnEveryBackend(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, email := range []string{"victim@example.com", "ghost@example.com"} {
				t.Run(email, func(t *testing.T) {
					cfg := authv2test.Config()
					cfg.Throttle.IPLimit = 0
					cfg.Throttle.AfterFailures, cfg.Throttle.MaxDelay = 10, time.Minute
					cfg.Throttle.MaxFailures, cfg.Throttle.FailureWindow = 15, time.Hour
					e := newEnv(t, append(b.opts(t), authv2.WithConfig(cfg))...)
					e.clock.Set(time.Now()) // Redis expires limiter keys by real time
					e.register(t, "victim@example.com")
					concurrently(e, 10, func(int) string { return email }, func(int) string { return "" })
					e.clock.Advance(time.Minute + time.Second)
					concurrently(e, 200, func(int) string { return email }, func(int) string { return "" })
					checked := verifiedFailures(e) + failures(e, "unknown_user")
					assert.Equal(t, 15, checked, "MaxFailures checked per FailureWindow")
					e.clock.Advance(time.Minute + time.Second)
					err := loginAs(e, email, "wrong guess!", "")
					assert.ErrorIs(t, err, authv2.ErrInvalidCredentials)
					assert.Equal(t, 15, verifiedFailures(e)+failures(e, "unknown_user"), "the short budget is free, the long one is not")
				})
			}
		})
	}
}

// TestUnlockAndResetClearLongBudgetOnEveryBackend: UnlockUser and
// ResetPassword empty the long budget too, on every limiter.
func TestUnlockAndResetClearLongBudgetOnEveryBackend(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, how := range []string{"unlock", "reset"} {
				t.Run(how, func(t *testing.T) {
					cfg := authv2test.Config()
					cfg.Throttle = distinctThrottle()
					cfg.Throttle.IPLimit = 0
					cfg.Throttle.AfterFailures, cfg.Throttle.MaxDelay = 2, time.Minute
					cfg.Throttle.MaxFailures, cfg.Throttle.FailureWindow = 4, time.Hour
					n := newCaptureNotifier()
					e := newEnv(t, append(b.opts(t), authv2.WithConfig(cfg), authv2.WithNotifier(n))...)
					e.clock.Set(time.Now())
					u := e.register(t, "owner@example.com")
					for range 2 {
						for range 2 {
							require.ErrorIs(t, loginAs(e, "OWNER@example.com ", "wrong guess!", ""), authv2.ErrInvalidCredentials)
						}
						e.clock.Advance(time.Minute + time.Second)
					}
					err := loginAs(e, "owner@example.com", goodPassword, "")
					var te *authv2.ThrottledError
					require.ErrorAs(t, err, &te, "the long budget is spent")
					password := goodPassword
					switch how {
					case "unlock":
						require.NoError(t, e.m.UnlockUser(t.Context(), u.ID))
					case "reset":
						require.NoError(t, e.m.RequestPasswordReset(t.Context(), "owner@example.com"))
						password = "a fresh new passphrase"
						require.NoError(t, e.m.ResetPassword(t.Context(), n.wait(t, n.resets, "owner@example.com"), password))
					}
					require.NoError(t, loginAs(e, "owner@example.com", password, ""), "both budgets emptied")
				})
			}
		})
	}
}

// TestScheduleWithRetryAfterWhenLongBudgetBinds: known and unknown
// emails give the same answers and the same RetryAfter, the long budget
// included, with a device token (not the user's) presented.
func TestScheduleWithRetryAfterWhenLongBudgetBinds(t *testing.T) {
	cfg := authv2test.Config()
	cfg.Throttle = distinctThrottle()
	cfg.Throttle.IPLimit = 0
	cfg.Throttle.AfterFailures, cfg.Throttle.MaxDelay = 3, 10*time.Minute
	cfg.Throttle.MaxFailures, cfg.Throttle.FailureWindow = 7, time.Hour
	e := newEnv(t, authv2.WithConfig(cfg))
	e.register(t, "real@example.com")
	e.register(t, "other@example.com")
	foreign := e.login(t, "other@example.com").DeviceToken
	try := func(email string) string {
		_, err := e.m.Login(t.Context(), authv2.LoginInput{Email: email, Password: "wrong guess!", DeviceToken: foreign})
		return outcomeOf(t, err)
	}
	gaps := []time.Duration{0, time.Second, 3 * time.Minute, 0, 7 * time.Minute, 11 * time.Minute, 0, 20 * time.Minute, 90 * time.Second}
	var known, unknown []string
	for i := range 150 {
		known = append(known, try(fmt.Sprintf("%sReal@example.com", []string{"", " "}[i%2])))
		unknown = append(unknown, try("ghost@example.com"))
		e.clock.Advance(gaps[i%len(gaps)])
	}
	assert.Equal(t, unknown, known)
}

// TestConcurrentVariantsShareOneBudget: case and whitespace
// variants of one email are one budget under concurrency.
func TestConcurrentVariantsShareOneBudget(t *testing.T) {
	cfg := authv2test.Config()
	cfg.Throttle.IPLimit = 0
	e := newEnv(t, authv2.WithConfig(cfg))
	e.register(t, "victim@example.com")
	variants := []string{"victim@example.com", "VICTIM@example.com", " victim@EXAMPLE.com", "Victim@Example.Com\t"}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() { _ = loginAs(e, variants[i%len(variants)], "wrong guess!", "") })
	}
	wg.Wait()
	assert.Equal(t, 10, verifiedFailures(e))
}

// TestStoreCallsSameWhenThrottledAndWithTenant: the store calls of
// known and unknown emails match on the throttled path too, and with a
// tenant named and a device token (another user's) presented.
func TestStoreCallsSameWhenThrottledAndWithTenant(t *testing.T) {
	// With a journal, a failure's tenant is read on the caller's time, for
	// a known account and an unknown email alike (without one, a known
	// account's is read after the answer, in the background).
	j := openSpool(t, filepath.Join(t.TempDir(), "audit.spool"))
	o := newOtelEnv(t, authv2.WithAuditJournal(j))
	o.register(t, "real@example.com")
	foreign := o.login(t, "real@example.com").DeviceToken
	o.register(t, "other@example.com")
	calls := func(email, tenant string) []string {
		return callerStoreCalls(t, o, func() {
			_, err := o.m.Login(t.Context(), authv2.LoginInput{Email: email, Password: "wrong guess!", TenantID: tenant,
				DeviceToken: foreign[:len(foreign)-2] + "xx", Client: session.ClientInfo{IP: "192.0.2.1"}})
			require.Error(t, err)
		})
	}
	for i := range 12 { // past AfterFailures: the throttled path
		known, unknown := calls("real@example.com", "acme"), calls("ghost@example.com", "acme")
		assert.Equal(t, unknown, known, "attempt %d", i+1)
	}
}

// callerStoreCalls returns the store calls login makes, in order: the
// work earlier calls left in the background is waited for first, so
// that none of it lands among them.
func callerStoreCalls(t *testing.T, o *otelEnv, login func()) []string {
	t.Helper()
	require.NoError(t, o.m.FlushAudit(t.Context()))
	o.spans.Reset()
	login()
	var names []string
	for _, s := range o.spans.GetSpans() {
		if strings.HasPrefix(s.Name, "authv2.store ") {
			names = append(names, s.Name)
		}
	}
	return names
}

// longFailingLimiter fails Reserve of the long login budget, as a limiter
// that goes away between the two reservations; cancel, if set, is called
// first (the client hangs up at that moment).
type longFailingLimiter struct {
	user.RateLimiter
	cancel context.CancelFunc
}

func (l longFailingLimiter) Reserve(ctx context.Context, key string, limit int, w time.Duration, now time.Time) (bool, time.Time, error) {
	if strings.HasPrefix(key, "login-email-long:") {
		if l.cancel != nil {
			l.cancel()
			return false, time.Time{}, ctx.Err()
		}
		return false, time.Time{}, store.Unavailable("limiter", errors.New("connection refused"))
	}
	return l.RateLimiter.Reserve(ctx, key, limit, w, now)
}

// TestFailureBetweenReservationsSpendsNothing: an attempt reserves in both
// budgets or in neither: an outage of the second reservation gives the
// first back, and so does a client that hangs up at that moment (the
// give-back runs past the cancelled context).
func TestFailureBetweenReservationsSpendsNothing(t *testing.T) {
	t.Run("outage", func(t *testing.T) {
		e := newEnv(t, authv2.WithRateLimiter(longFailingLimiter{RateLimiter: memory.NewRateLimiter()}))
		e.register(t, "victim@example.com")
		require.ErrorIs(t, loginAs(e, "victim@example.com", "wrong guess!", ""), authv2.ErrStoreUnavailable)
		assert.Zero(t, loginFailures(t, e, "victim@example.com"))
	})
	t.Run("client hangs up", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		e := newEnv(t, authv2.WithRateLimiter(longFailingLimiter{RateLimiter: memory.NewRateLimiter(), cancel: cancel}))
		e.register(t, "victim@example.com")
		_, err := e.m.Login(ctx, authv2.LoginInput{Email: "victim@example.com", Password: "wrong guess!"})
		require.ErrorIs(t, err, context.Canceled)
		assert.Zero(t, loginFailures(t, e, "victim@example.com"), "no place kept by an attempt that reserved in neither")
	})
}

// outcomeOf names a login's answer: "checked" (hashed, wrong), or
// "throttled <retry>" with DistinctError on.
func outcomeOf(t *testing.T, err error) string {
	t.Helper()
	var te *authv2.ThrottledError
	if errors.As(err, &te) {
		return "throttled " + te.RetryAfter.String()
	}
	require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
	return "checked"
}

// TestTrustedClientsShareOneLongBudget: whoever holds one of the user's
// trusted clients (a live session, a device token) gets AfterFailures
// checks per MaxDelay, and MaxFailures per FailureWindow across all of
// them: a day of guessing through Reauthenticate checks MaxFailures
// passwords, and a device's failures spend the same long budget.
func TestTrustedClientsShareOneLongBudget(t *testing.T) {
	cfg := authv2test.Config()
	cfg.Throttle = distinctThrottle()
	cfg.Throttle.IPLimit = 0
	cfg.Session.AbsoluteTimeout = 48 * time.Hour
	cfg.Session.IdleTimeout = time.Hour
	e := newEnv(t, authv2.WithConfig(cfg))
	u := e.register(t, "victim@example.com")
	first := e.login(t, "victim@example.com")
	for range 10 {
		_, err := deviceLogin(e, "victim@example.com", "wrong guess!", first.DeviceToken)
		require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
	}
	assert.Equal(t, 10, trustedFailures(t, e, u.ID), "a device's failures spend the user's trusted budget")
	assert.Zero(t, loginFailures(t, e, "victim@example.com"), "not the email's")

	checked := 0
	start := e.clock.Now()
	for e.clock.Now().Sub(start) < cfg.Throttle.FailureWindow {
		_, err := e.m.Reauthenticate(t.Context(), first.Token, "wrong guess!")
		if errors.Is(err, authv2.ErrInvalidCredentials) {
			checked++
		}
		e.clock.Advance(3 * time.Minute)
		_, err = e.m.Authenticate(t.Context(), first.Token, session.ClientInfo{}) // keep the session alive
		require.NoError(t, err)
	}
	assert.Equal(t, cfg.Throttle.MaxFailures-10, checked, "what the device left of MaxFailures in the day")
}

// trustedFailures is how many failures a user's trusted clients' long
// budget holds.
func trustedFailures(t *testing.T, e *env, userID string) int {
	t.Helper()
	n, err := e.m.TrustedFailures(t.Context(), userID)
	require.NoError(t, err)
	return n
}

// emailThrottleEnv is an env whose logins meet the email's throttle alone
// (no per-IP limit), with the distinct throttled error, and its config.
func emailThrottleEnv(t *testing.T) (*env, authv2.Config) {
	cfg := authv2test.Config()
	cfg.Throttle = distinctThrottle()
	cfg.Throttle.IPLimit = 0
	return newEnv(t, authv2.WithConfig(cfg)), cfg
}
