package authv2_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
)

// roomyThrottle lets the most logins of one account run at once: every
// attempt in flight holds a place in the account throttle until its
// password is found right, so no more than AfterFailures can.
func roomyThrottle() authv2.ThrottleConfig {
	th := authv2.DefaultConfig().Throttle
	th.AfterFailures = 100
	return th
}

// verifiedFailures counts the failed logins whose password was checked
// against the stored hash: Login reports bad_password right after the
// hasher said no, and for nothing else.
func verifiedFailures(e *env) int {
	n := 0
	for _, ev := range e.sink.OfType(audit.TypeLoginFailure) {
		if ev.Reason == "bad_password" {
			n++
		}
	}
	return n
}

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
	n := 0
	for _, ev := range e.sink.OfType(audit.TypeLoginFailure) {
		if ev.Reason == "unknown_user" {
			n++
		}
	}
	require.Equal(t, authv2.DefaultConfig().Throttle.AfterFailures, n, "an unknown email is hashed at most AfterFailures times per window")
}
