package authv2_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/user"
)

// TestUnknownUserTimingMatchesWrongPassword checks that an attacker cannot
// tell registered emails by response time: the median time of a login with
// an unknown email is within 15% of one with a wrong password. The hash
// cost is raised above the test default so the hash dominates as it does
// in production; samples are interleaved so drift affects both alike.
func TestUnknownUserTimingMatchesWrongPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("timing comparison skipped in -short mode")
	}
	params := user.Argon2Params{Memory: 4096, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	// The throttle would answer fast for both after 10 failures; this test
	// is about the hash path, so it starts the throttle beyond the samples.
	th := authv2.DefaultConfig().Throttle
	th.AfterFailures = 100
	e := newEnv(t, authv2.WithPasswordParams(params), authv2.WithThrottle(th))
	e.register(t, "known@example.com")
	measure := func(email string) time.Duration {
		start := time.Now()
		_, err := e.m.Login(t.Context(), authv2.LoginInput{Email: email, Password: "not the password"})
		require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
		return time.Since(start)
	}
	const n = 41
	var unknown, wrong []time.Duration
	for range 3 { // warm up
		measure("known@example.com")
		measure("unknown@example.com")
	}
	for i := range n {
		if i%2 == 0 {
			wrong = append(wrong, measure("known@example.com"))
			unknown = append(unknown, measure("unknown@example.com"))
		} else {
			unknown = append(unknown, measure("unknown@example.com"))
			wrong = append(wrong, measure("known@example.com"))
		}
	}
	slices.Sort(unknown)
	slices.Sort(wrong)
	mu, mw := unknown[n/2], wrong[n/2]
	ratio := float64(mu) / float64(mw)
	t.Logf("median unknown %v, wrong password %v, ratio %.3f", mu, mw, ratio)
	assert.InDelta(t, 1.0, ratio, 0.15)
}
