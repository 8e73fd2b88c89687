package permission_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
)

// benchFixture is a clerk (inheriting viewer) bound at region:eu, an
// engine, and the clerk's subject and a resource under region:eu.
func benchFixture(b *testing.B) (*fixture, *permission.Engine, permission.Subject, permission.Resource) {
	f := newFixture(b, "acme")
	f.role("acme", "viewer", nil, allow("orders:read"), allow("invoices:read"), deny("secrets:*"))
	f.role("acme", "clerk", []string{"viewer"}, allow("orders:write"), allow("*:list"))
	f.bind("acme", "u1", "clerk", "region:eu")
	return f, f.engine(), subject("acme", "u1"), resource("acme", "orders", "region:eu/store:42")
}

// BenchmarkAuthorizeWarm is the hot path: a cached policy, no condition.
func BenchmarkAuthorizeWarm(b *testing.B) {
	f, e, subj, res := benchFixture(b)
	ctx := context.Background()
	if d, err := e.Authorize(ctx, subj, "write", res, permission.Request{}); err != nil || !d.Allowed {
		b.Fatalf("warm-up: %+v %v", d, err)
	}
	b.Run("allow", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d, _ := e.Authorize(ctx, subj, "read", res, permission.Request{})
			if !d.Allowed {
				b.Fatal("denied")
			}
		}
	})
	b.Run("deny-no-match", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d, _ := e.Authorize(ctx, subj, "delete", res, permission.Request{})
			if d.Allowed {
				b.Fatal("allowed")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if d, _ := e.Authorize(ctx, subj, "read", res, permission.Request{}); !d.Allowed {
					b.Error("denied")
					return
				}
			}
		})
	})
	b.Run("condition", func(b *testing.B) {
		f.role("acme", "approver", nil, allowIf("payments:approve", "request.amount <= 500.0 && resource.owner != principal.id"))
		f.bind("acme", "u2", "approver", "")
		s2 := subject("acme", "u2")
		r2 := permission.Resource{TenantID: "acme", Type: "payments", ID: "p1", Attributes: map[string]any{"owner": "u9"}}
		req := permission.Request{Attributes: map[string]any{"amount": 120}}
		b.ReportAllocs()
		for b.Loop() {
			d, _ := e.Authorize(ctx, s2, "approve", r2, req)
			if !d.Allowed {
				b.Fatal("denied", d.Reason)
			}
		}
	})
}

// BenchmarkPolicyChange is the engine's share of a policy write and the
// write itself on the memory store: validate and put a role, or put a
// binding, then PolicyChanged.
func BenchmarkPolicyChange(b *testing.B) {
	f := newFixture(b, "acme")
	f.role("acme", "viewer", nil, allow("orders:read"), allow("invoices:read"))
	f.bind("acme", "u1", "viewer", "")
	e := f.engine()
	ctx := context.Background()
	require.True(b, e.Check(ctx, subject("acme", "u1"), "read", resource("acme", "orders", ""), noReq))
	b.Run("PutRole", func(b *testing.B) {
		r := &permission.Role{TenantID: "acme", Name: "clerk", Parents: []string{"viewer"}, Grants: []permission.Grant{allow("orders:write")}}
		b.ReportAllocs()
		for b.Loop() {
			if err := e.ValidateRole(r); err != nil {
				b.Fatal(err)
			}
			if err := f.store.PutRole(ctx, r); err != nil {
				b.Fatal(err)
			}
			if err := e.PolicyChanged(ctx, "acme"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Bind", func(b *testing.B) {
		bd := permission.Binding{TenantID: "acme", UserID: "u2", Role: "viewer"}
		b.ReportAllocs()
		for b.Loop() {
			if err := f.store.PutBinding(ctx, bd); err != nil {
				b.Fatal(err)
			}
			if err := e.PolicyChanged(ctx, "acme"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkColdAfterChange is the first check after a policy change: the
// change itself (a binding of another user, PolicyChanged) is outside the
// timer, the check loads and compiles.
func BenchmarkColdAfterChange(b *testing.B) {
	f, e, subj, res := benchFixture(b)
	ctx := context.Background()
	other := permission.Binding{TenantID: "acme", UserID: "u2", Role: "viewer"}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		require.NoError(b, f.store.PutBinding(ctx, other))
		require.NoError(b, e.PolicyChanged(ctx, "acme"))
		b.StartTimer()
		if d, _ := e.Authorize(ctx, subj, "read", res, permission.Request{}); !d.Allowed {
			b.Fatal("denied")
		}
	}
}
