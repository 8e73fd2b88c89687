package permission_test

import (
	"context"
	"testing"

	"github.com/authv2/authv2/permission"
)

// BenchmarkAuthorizeWarm is the hot path: a cached policy, no condition.
func BenchmarkAuthorizeWarm(b *testing.B) {
	f := newFixture(b, "acme")
	f.role("acme", "viewer", nil, allow("orders:read"), allow("invoices:read"), deny("secrets:*"))
	f.role("acme", "clerk", []string{"viewer"}, allow("orders:write"), allow("*:list"))
	f.bind("acme", "u1", "clerk", "region:eu")
	e := f.engine()
	ctx := context.Background()
	subj := subject("acme", "u1")
	res := resource("acme", "orders", "region:eu/store:42")
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
