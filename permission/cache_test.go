package permission_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
)

// A cached, shared set answers only what a fresh compilation would: each
// case first lets a check allow, so the next one comes from the cache,
// then changes what the cache must notice.
func TestCachedSetAnswersOnlyWhatAFreshOneWould(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)}
	f := newFixture(t, "acme")
	f.role("acme", "clerk", nil, allow("orders:read"))
	f.bind("acme", "u1", "clerk", "region:eu")
	e := f.engine(permission.WithClock(clock), permission.WithMaxStaleness(-1))
	ctx := f.ctx
	check := func(user, scope string) permission.Decision {
		t.Helper()
		d, err := e.Authorize(ctx, subject("acme", user), "read", resource("acme", "orders", scope), permission.Request{})
		require.NoError(t, err)
		return d
	}
	for range 3 {
		d := check("u1", "region:eu/store:1")
		require.True(t, d.Allowed)
		assert.Equal(t, "region:eu", d.Rule().Scope)
	}

	assert.False(t, check("u1", "region:us/store:1").Allowed, "the remembered allow's scope still bounds it")
	assert.False(t, check("u2", "region:eu/store:1").Allowed, "another user")
	d, err := e.Authorize(ctx, subject("acme", "u1"), "write", resource("acme", "orders", "region:eu"), permission.Request{})
	require.NoError(t, err)
	assert.False(t, d.Allowed, "another action")
	narrowed := subject("acme", "u1")
	narrowed.Scope = "region:eu/store:2"
	d, err = e.Authorize(ctx, narrowed, "read", resource("acme", "orders", "region:eu/store:1"), permission.Request{})
	require.NoError(t, err)
	assert.False(t, d.Allowed, "the session's scope still narrows")

	// A deny added to the user's roles: the version moves on.
	f.role("acme", "clerk", nil, allow("orders:read"), deny("orders:*"))
	require.NoError(t, e.PolicyChanged(ctx, "acme"))
	assert.False(t, check("u1", "region:eu/store:1").Allowed, "a policy change retires the remembered allow")

	// A binding that expires.
	f.role("acme", "clerk", nil, allow("orders:read"))
	require.NoError(t, f.store.PutBinding(ctx, permission.Binding{TenantID: "acme", UserID: "u3", Role: "clerk",
		ExpiresAt: clock.now.Add(time.Hour)}))
	require.NoError(t, e.PolicyChanged(ctx, "acme"))
	for range 3 {
		require.True(t, check("u3", "").Allowed)
	}
	clock.now = clock.now.Add(time.Hour)
	assert.False(t, check("u3", "").Allowed, "an expired binding's allow is not cached past its expiry")
}

// Many more users than the cache holds: every answer stays right while
// entries are evicted and shared sets are found again.
func TestCacheUnderPressure(t *testing.T) {
	f := newFixture(t, "acme")
	var grants []permission.Grant
	for i := range 64 {
		grants = append(grants, allow(fmt.Sprintf("res%02d:read", i)))
	}
	f.role("acme", "reader", nil, grants...)
	for u := range 64 {
		f.bind("acme", fmt.Sprintf("u%02d", u), "reader", "")
	}
	e := f.engine(permission.WithCacheSize(16)) // 16 users cached of 128
	for round := range 3 {
		for u := range 64 {
			for r := range 64 {
				res := resource("acme", fmt.Sprintf("res%02d", r), "")
				sub := subject("acme", fmt.Sprintf("u%02d", u))
				require.True(t, e.Check(f.ctx, sub, "read", res, permission.Request{}), "round %d u%02d res%02d", round, u, r)
				require.False(t, e.Check(f.ctx, sub, "write", res, permission.Request{}))
				other := subject("acme", fmt.Sprintf("x%02d", u))
				require.False(t, e.Check(f.ctx, other, "read", res, permission.Request{}))
			}
		}
	}
}
