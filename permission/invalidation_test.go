package permission_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
)

// revocationDelay revokes on a and measures how long b keeps allowing.
func revocationDelay(t *testing.T, f *fixture, a, b *permission.Engine, revoke func()) time.Duration {
	t.Helper()
	ctx := context.Background()
	s, r := subject("acme", "u"), resource("acme", "orders", "")
	require.True(t, a.Check(ctx, s, "read", r, noReq))
	require.True(t, b.Check(ctx, s, "read", r, noReq))
	start := time.Now()
	revoke()
	require.False(t, a.Check(ctx, s, "read", r, noReq), "the writing instance denies at once")
	for b.Check(ctx, s, "read", r, noReq) {
		if time.Since(start) > 2*time.Second {
			t.Fatal("instance B never saw the revocation")
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func TestRevocationReachesOtherInstanceThroughBus(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "r", nil, allow("orders:read"))
	f.bind("acme", "u", "r", "")
	bus := permission.NewLocalBus()
	// Polling off: only the bus can tell b.
	a := f.engine(permission.WithBus(bus), permission.WithMaxStaleness(-1))
	b := f.engine(permission.WithBus(bus), permission.WithMaxStaleness(-1))
	d := revocationDelay(t, f, a, b, func() {
		require.NoError(t, f.store.DeleteBinding(f.ctx, permission.Binding{TenantID: "acme", UserID: "u", Role: "r"}))
		require.NoError(t, a.PolicyChanged(f.ctx, "acme"))
	})
	assert.Less(t, d, 10*time.Millisecond, "bus delivery is synchronous in-process")
}

func TestRevocationReachesOtherInstanceByPolling(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "r", nil, allow("orders:read"))
	f.bind("acme", "u", "r", "")
	a := f.engine()
	b := f.engine() // no bus: default 50 ms staleness bound
	d := revocationDelay(t, f, a, b, func() {
		require.NoError(t, f.store.PutRole(f.ctx, &permission.Role{TenantID: "acme", Name: "r", Grants: []permission.Grant{deny("orders:read")}}))
		require.NoError(t, a.PolicyChanged(f.ctx, "acme"))
	})
	assert.Less(t, d, 100*time.Millisecond)
}

func TestTemplateChangeReachesEveryTenant(t *testing.T) {
	f := newFixture(t, "acme", "globex")
	f.role(permission.GlobalTenant, "viewer", nil, allow("orders:read"))
	f.bind("acme", "u", "viewer", "")
	f.bind("globex", "u", "viewer", "")
	bus := permission.NewLocalBus()
	a := f.engine(permission.WithBus(bus), permission.WithMaxStaleness(time.Hour))
	b := f.engine(permission.WithBus(bus), permission.WithMaxStaleness(time.Hour))
	ctx := context.Background()
	for _, tn := range []string{"acme", "globex"} {
		require.True(t, b.Check(ctx, subject(tn, "u"), "read", resource(tn, "orders", ""), noReq))
	}
	require.NoError(t, f.store.PutRole(ctx, &permission.Role{TenantID: permission.GlobalTenant, Name: "viewer", Grants: []permission.Grant{allow("invoices:read")}}))
	require.NoError(t, a.PolicyChanged(ctx, permission.GlobalTenant))
	for _, tn := range []string{"acme", "globex"} {
		assert.False(t, b.Check(ctx, subject(tn, "u"), "read", resource(tn, "orders", ""), noReq), tn)
		assert.True(t, b.Check(ctx, subject(tn, "u"), "read", resource(tn, "invoices", ""), noReq), tn)
	}
}

// An engine that never polls still learns of a template change through
// PolicyChanged(GlobalTenant): every tenant re-reads its version once.
func TestTemplateChangeReachesANonPollingEngine(t *testing.T) {
	f := newFixture(t, "acme")
	f.role(permission.GlobalTenant, "viewer", nil, allow("orders:read"))
	f.bind("acme", "u", "viewer", "")
	e := f.engine(permission.WithMaxStaleness(-1))
	ctx := context.Background()
	for range 2 {
		require.True(t, e.Check(ctx, subject("acme", "u"), "read", resource("acme", "orders", ""), noReq))
	}
	f.role(permission.GlobalTenant, "viewer", nil, allow("invoices:read"))
	require.NoError(t, e.PolicyChanged(ctx, permission.GlobalTenant))
	assert.False(t, e.Check(ctx, subject("acme", "u"), "read", resource("acme", "orders", ""), noReq))
	assert.True(t, e.Check(ctx, subject("acme", "u"), "read", resource("acme", "invoices", ""), noReq))
}

func TestInvalidateDirectly(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "r", nil, allow("orders:read"))
	f.bind("acme", "u", "r", "")
	e := f.engine(permission.WithMaxStaleness(-1))
	ctx := context.Background()
	require.True(t, e.Check(ctx, subject("acme", "u"), "read", resource("acme", "orders", ""), noReq))
	require.NoError(t, f.store.DeleteBinding(ctx, permission.Binding{TenantID: "acme", UserID: "u", Role: "r"}))
	assert.True(t, e.Check(ctx, subject("acme", "u"), "read", resource("acme", "orders", ""), noReq), "no polling, no message: still cached")
	v, err := f.store.Version(ctx, "acme")
	require.NoError(t, err)
	e.Invalidate("acme", v)
	assert.False(t, e.Check(ctx, subject("acme", "u"), "read", resource("acme", "orders", ""), noReq))
}

func TestLocalBusStop(t *testing.T) {
	bus := permission.NewLocalBus()
	var got []int64
	stop, err := bus.Subscribe(context.Background(), func(_ string, v int64) { got = append(got, v) })
	require.NoError(t, err)
	require.NoError(t, bus.Publish(context.Background(), "t", 1))
	stop()
	stop()
	require.NoError(t, bus.Publish(context.Background(), "t", 2))
	assert.Equal(t, []int64{1}, got)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.Error(t, bus.Publish(ctx, "t", 3))
}

func TestConcurrentChecksAndWrites(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "r", nil, allow("orders:read"))
	f.bind("acme", "u", "r", "")
	bus := permission.NewLocalBus()
	a := f.engine(permission.WithBus(bus))
	b := f.engine(permission.WithBus(bus), permission.WithCacheSize(64))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	for _, e := range []*permission.Engine{a, b} {
		go func() {
			defer func() { done <- struct{}{} }()
			for ctx.Err() == nil {
				for _, u := range []string{"u", "v", "w"} {
					_, _ = e.Authorize(ctx, subject("acme", u), "read", resource("acme", "orders", ""), noReq)
				}
			}
		}()
	}
	for i := 0; ctx.Err() == nil; i++ {
		if i%2 == 0 {
			f.bind("acme", "v", "r", "")
		} else {
			require.NoError(t, f.store.DeleteBinding(f.ctx, permission.Binding{TenantID: "acme", UserID: "v", Role: "r"}))
		}
		require.NoError(t, a.PolicyChanged(f.ctx, "acme"))
		time.Sleep(time.Millisecond)
	}
	<-done
	<-done
	// After the dust settles both agree with the store.
	_ = f.store.DeleteBinding(f.ctx, permission.Binding{TenantID: "acme", UserID: "v", Role: "r"})
	require.NoError(t, a.PolicyChanged(f.ctx, "acme"))
	for _, e := range []*permission.Engine{a, b} {
		assert.False(t, e.Check(context.Background(), subject("acme", "v"), "read", resource("acme", "orders", ""), noReq))
		assert.True(t, e.Check(context.Background(), subject("acme", "u"), "read", resource("acme", "orders", ""), noReq))
	}
}
