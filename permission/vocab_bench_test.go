package permission_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/authv2/authv2/permission"
)

// BenchmarkNeighbourNames measures a warm check of one tenant alone and
// after another tenant of the engine compiled a policy naming 16,000
// permissions of its own: the first tenant's check should not pay for
// its neighbour's names.
func BenchmarkNeighbourNames(b *testing.B) {
	for _, hostile := range []bool{false, true} {
		b.Run(fmt.Sprintf("hostile=%t", hostile), func(b *testing.B) {
			f := newFixture(b, "acme", "evil")
			f.role("acme", "viewer", nil, allow("orders:read"), allow("invoices:read"), deny("secrets:*"))
			f.role("acme", "clerk", []string{"viewer"}, allow("orders:write"), allow("*:list"))
			f.bind("acme", "u1", "clerk", "region:eu")
			e := f.engine()
			ctx := context.Background()
			if hostile {
				for r := range 16 {
					grants := make([]permission.Grant, 1000)
					for i := range grants {
						grants[i] = allow(fmt.Sprintf("custom%d:a%d", r, i))
					}
					name := fmt.Sprintf("r%d", r)
					f.role("evil", name, nil, grants...)
					f.bind("evil", "e", name, "")
				}
				if !e.Check(ctx, subject("evil", "e"), "a1", resource("evil", "custom3", ""), permission.Request{}) {
					b.Fatal("evil denied")
				}
			}
			subj, res := subject("acme", "u1"), resource("acme", "orders", "region:eu/store:42")
			for _, c := range []struct {
				action string
				want   bool
			}{{"read", true}, {"write", true}, {"delete", false}} {
				b.Run(c.action, func(b *testing.B) {
					for b.Loop() {
						if d, _ := e.Authorize(ctx, subj, c.action, res, permission.Request{}); d.Allowed != c.want {
							b.Fatal(d.Reason)
						}
					}
				})
			}
		})
	}
}
