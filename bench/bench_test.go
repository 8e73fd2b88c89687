package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/authv2/authv2/permission"
)

var sizes = []struct {
	name           string
	tenants, users int
}{
	{"10t-1k", 10, 1000},
	{"100t-10k", 100, 10000},
}

func authv2Engine(tb testing.TB, w *workload, opts ...permission.EngineOption) *permission.Engine {
	tb.Helper()
	e, err := permission.NewEngine(w.memoryStore(tb), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = e.Close() })
	return e
}

// TestWorkloadAgrees makes sure both engines allow every generated check,
// so the benchmarks compare equal work.
func TestWorkloadAgrees(t *testing.T) {
	w := newWorkload(10, 1000)
	e := authv2Engine(t, w)
	ce := w.casbin(t, false)
	ctx := context.Background()
	for _, c := range w.checks {
		if !e.Check(ctx, permission.Subject{TenantID: c.tenant, UserID: c.user}, c.action, permission.Resource{TenantID: c.tenant, Type: c.typ}, permission.Request{}) {
			t.Fatalf("authv2 denies %+v", c)
		}
		ok, err := ce.Enforce(c.user, c.tenant, c.typ, c.action)
		if err != nil || !ok {
			t.Fatalf("casbin denies %+v: %v", c, err)
		}
		// And neither allows the same request in another tenant.
		other := "tenant999"
		if e.Check(ctx, permission.Subject{TenantID: other, UserID: c.user}, c.action, permission.Resource{TenantID: other, Type: c.typ}, permission.Request{}) {
			t.Fatalf("authv2 allows %+v in %s", c, other)
		}
	}
}

// BenchmarkWarm is a check whose answer the engine has compiled (authv2)
// or cached (CachedEnforcer) before: the steady state of a busy service.
// Requests rotate over up to 4,096 users so no single cache line is hot.
func BenchmarkWarm(b *testing.B) {
	ctx := context.Background()
	for _, sz := range sizes {
		w := newWorkload(sz.tenants, sz.users)
		b.Run("authv2/"+sz.name, func(b *testing.B) {
			e := authv2Engine(b, w)
			subj, res := requests(w)
			for i := range subj {
				if !e.Check(ctx, subj[i], w.checks[i].action, res[i], permission.Request{}) {
					b.Fatal("denied")
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				d, _ := e.Authorize(ctx, subj[i], w.checks[i].action, res[i], permission.Request{})
				if !d.Allowed {
					b.Fatal("denied")
				}
				if i++; i == len(subj) {
					i = 0
				}
			}
		})
		b.Run("casbin-cached/"+sz.name, func(b *testing.B) {
			ce := w.casbin(b, true)
			for _, c := range w.checks {
				if ok, _ := ce.Enforce(c.user, c.tenant, c.typ, c.action); !ok {
					b.Fatal("denied")
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				c := w.checks[i]
				if ok, _ := ce.Enforce(c.user, c.tenant, c.typ, c.action); !ok {
					b.Fatal("denied")
				}
				if i++; i == len(w.checks) {
					i = 0
				}
			}
		})
		b.Run("casbin/"+sz.name, func(b *testing.B) {
			ce := w.casbin(b, false)
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				c := w.checks[i]
				if ok, _ := ce.Enforce(c.user, c.tenant, c.typ, c.action); !ok {
					b.Fatal("denied")
				}
				if i++; i == len(w.checks) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkHot repeats one request: both engines answer from data already
// in the CPU cache, the best case of each.
func BenchmarkHot(b *testing.B) {
	ctx := context.Background()
	for _, sz := range sizes {
		w := newWorkload(sz.tenants, sz.users)
		c := w.checks[0]
		b.Run("authv2/"+sz.name, func(b *testing.B) {
			e := authv2Engine(b, w)
			subj := permission.Subject{TenantID: c.tenant, UserID: c.user}
			res := permission.Resource{TenantID: c.tenant, Type: c.typ, ID: "1"}
			b.ReportAllocs()
			for b.Loop() {
				d, _ := e.Authorize(ctx, subj, c.action, res, permission.Request{})
				if !d.Allowed {
					b.Fatal("denied")
				}
			}
		})
		b.Run("casbin-cached/"+sz.name, func(b *testing.B) {
			ce := w.casbin(b, true)
			b.ReportAllocs()
			for b.Loop() {
				if ok, _ := ce.Enforce(c.user, c.tenant, c.typ, c.action); !ok {
					b.Fatal("denied")
				}
			}
		})
	}
}

// BenchmarkCondition is a warm check whose grant carries a CEL condition
// reading request and resource attributes.
func BenchmarkCondition(b *testing.B) {
	ctx := context.Background()
	for _, sz := range sizes {
		w := newWorkload(sz.tenants, sz.users)
		b.Run("authv2/"+sz.name, func(b *testing.B) {
			st := w.memoryStore(b)
			tn := "tenant000"
			role := &permission.Role{TenantID: tn, Name: "approver", Parents: []string{"role12"}, Grants: []permission.Grant{{
				Permission: "payments:approve", Effect: permission.Allow,
				Condition: "request.amount <= 500.0 && resource.owner != principal.id",
			}}}
			if err := st.PutRole(ctx, role); err != nil {
				b.Fatal(err)
			}
			if err := st.PutBinding(ctx, permission.Binding{TenantID: tn, UserID: "approver1", Role: "approver"}); err != nil {
				b.Fatal(err)
			}
			e, err := permission.NewEngine(st)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			subj := permission.Subject{TenantID: tn, UserID: "approver1"}
			res := permission.Resource{TenantID: tn, Type: "payments", ID: "p1", Attributes: map[string]any{"owner": "user00042"}}
			req := permission.Request{Attributes: map[string]any{"amount": 120}}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				d, _ := e.Authorize(ctx, subj, "approve", res, req)
				if !d.Allowed {
					b.Fatal("denied", d.Reason)
				}
			}
		})
	}
}

// BenchmarkCold is a check that must load and compile the user's policy
// from the memory store first (the cache is off), as after a policy change.
func BenchmarkCold(b *testing.B) {
	ctx := context.Background()
	for _, sz := range sizes {
		w := newWorkload(sz.tenants, sz.users)
		b.Run("authv2/"+sz.name, func(b *testing.B) {
			e := authv2Engine(b, w, permission.WithCacheSize(0))
			subj, res := requests(w)
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				d, _ := e.Authorize(ctx, subj[i], w.checks[i].action, res[i], permission.Request{})
				if !d.Allowed {
					b.Fatal("denied")
				}
				if i++; i == len(subj) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkCasbinLoad is, for scale, what Casbin pays up front instead of
// a cold check: building an enforcer with the whole installation's policy.
func BenchmarkCasbinLoad(b *testing.B) {
	for _, sz := range sizes {
		w := newWorkload(sz.tenants, sz.users)
		b.Run(sz.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = w.casbin(b, false)
			}
		})
	}
}

func requests(w *workload) ([]permission.Subject, []permission.Resource) {
	subj := make([]permission.Subject, len(w.checks))
	res := make([]permission.Resource, len(w.checks))
	for i, c := range w.checks {
		subj[i] = permission.Subject{TenantID: c.tenant, UserID: c.user}
		res[i] = permission.Resource{TenantID: c.tenant, Type: c.typ, ID: fmt.Sprint(i)}
	}
	return subj, res
}

// BenchmarkMemoryLoadPolicy is the store's share of a cold check: the
// in-memory store's LoadPolicy for one user.
func BenchmarkMemoryLoadPolicy(b *testing.B) {
	ctx := context.Background()
	for _, sz := range sizes {
		w := newWorkload(sz.tenants, sz.users)
		b.Run(sz.name, func(b *testing.B) {
			st := w.memoryStore(b)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c := w.checks[i]
				if _, err := st.LoadPolicy(ctx, c.tenant, c.user); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(w.checks) {
					i = 0
				}
			}
		})
	}
}
