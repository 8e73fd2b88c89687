// Package authv2test helps applications test code that uses authv2: a
// Manager with in-memory stores and cheap password hashing, and a clock
// the test moves by hand.
package authv2test

import (
	"context"
	"testing"
	"time"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/internal/clock"
	"github.com/authv2/authv2/user"
)

// FastPasswordParams make argon2id cheap (64 KiB, one pass) so tests stay
// fast, especially under -race. Never use them in production.
var FastPasswordParams = user.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Config returns authv2.DefaultConfig with FastPasswordParams: start a
// test's configuration from it, change the fields the test is about, and
// pass it with authv2.WithConfig (and authv2.WithInsecurePasswordHashing,
// which New demands for such cheap hashing).
func Config() authv2.Config {
	c := authv2.DefaultConfig()
	c.Argon2 = FastPasswordParams
	return c
}

// Clock is a manually advanced clock, safe for concurrent use.
type Clock struct{ f *clock.Fake }

// NewClock returns a Clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{f: clock.NewFake(t)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return c.f.Now() }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.f.Advance(d) }

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) { c.f.Set(t) }

// NewManager returns a Manager with in-memory stores and Config(), closed
// when the test ends. Options given override those defaults; a test that
// passes authv2.WithConfig starts its configuration from Config().
func NewManager(tb testing.TB, opts ...authv2.Option) *authv2.Manager {
	tb.Helper()
	m, err := authv2.New(append([]authv2.Option{authv2.WithConfig(Config()), authv2.WithInsecurePasswordHashing()}, opts...)...)
	if err != nil {
		tb.Fatalf("authv2test: %v", err)
	}
	tb.Cleanup(func() {
		if err := m.Close(context.Background()); err != nil {
			tb.Errorf("authv2test: close: %v", err)
		}
	})
	return m
}
