package bench

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/permission"
)

// countingSink is an audit sink that keeps up with any stream: it counts
// the events it is given and keeps none.
type countingSink struct{ n atomic.Int64 }

func (s *countingSink) Write(_ context.Context, events []audit.Event) error {
	s.n.Add(int64(len(events)))
	return nil
}

// streamManager is a Manager over the workload's memory permission store,
// with the default configuration (denials audited, allows not) and the
// global OpenTelemetry providers, no-ops here.
func streamManager(tb testing.TB, w *workload, sink audit.Sink) *authv2.Manager {
	tb.Helper()
	m, err := authv2.New(authv2.WithPermissionStore(w.memoryStore(tb)), authv2.WithAuditSink(sink))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			tb.Error(err)
		}
	})
	return m
}

// streamPrincipals is the stream's subjects as the principals
// Authenticate would give the Manager, built once.
func streamPrincipals(qs []query) []*authv2.Principal {
	ps := make([]*authv2.Principal, len(qs))
	for i, q := range qs {
		ps[i] = &authv2.Principal{UserID: q.user, TenantID: q.tenant, SessionID: "s-" + q.user}
	}
	return ps
}

// warmManager is a Manager that has answered the whole stream once.
func warmManager(b *testing.B, w *workload, qs []query, ps []*authv2.Principal, res []permission.Resource) *authv2.Manager {
	b.Helper()
	m := streamManager(b, w, &countingSink{})
	ctx := context.Background()
	for i, q := range qs {
		if d, err := m.Authorize(ctx, ps[i], q.action, res[i]); d.Allowed != q.allow {
			b.Fatalf("Manager says %t to %+v: %v", d.Allowed, q, err)
		}
	}
	if err := m.FlushAudit(ctx); err != nil {
		b.Fatal(err)
	}
	return m
}

// TestManagerStreamAuditsEveryDenial runs the medium deny-heavy stream
// through Manager.Authorize and checks that every denial reaches the
// audit sink exactly once, with its own subject, resource and decision,
// and that no allow does (Config.AuditAllowRate is 0).
func TestManagerStreamAuditsEveryDenial(t *testing.T) {
	w := newWorkload(streamSizes[0].tenants, streamSizes[0].users)
	qs := newStream(w, streamLen)
	_, res := streamRequests(qs)
	ps := streamPrincipals(qs)
	sink := audit.NewMemorySink()
	m := streamManager(t, w, sink)
	ctx := context.Background()
	denied := map[string]int{} // decision ID -> query index
	for i, q := range qs {
		d, err := m.Authorize(ctx, ps[i], q.action, res[i])
		if err != nil || d.Allowed != q.allow {
			t.Fatalf("Manager says %t to %+v: %v", d.Allowed, q, err)
		}
		if !d.Allowed {
			denied[d.ID.String()] = i
		}
	}
	if err := m.FlushAudit(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ev := range sink.Events() {
		if ev.Type != audit.TypeAuthorizeDecision {
			continue
		}
		i, ok := denied[ev.DecisionID]
		if !ok {
			t.Fatalf("audited decision %s is not a denial of the stream: %+v", ev.DecisionID, ev)
		}
		if seen[ev.DecisionID] {
			t.Fatalf("decision %s audited twice", ev.DecisionID)
		}
		seen[ev.DecisionID] = true
		q := qs[i]
		if ev.Outcome != audit.Denied || ev.ActorUserID != q.user || ev.ActorSessionID != "s-"+q.user || ev.TenantID != q.tenant ||
			ev.Attributes[audit.AttrAction] != q.typ+":"+q.action || ev.Attributes[audit.AttrResourceType] != q.typ ||
			ev.Attributes["resource_tenant"] != q.resTenant || ev.Reason == "" || ev.Time.IsZero() || ev.ID == "" {
			t.Fatalf("query %+v audited as %+v", q, ev)
		}
		if _, err := strconv.ParseInt(ev.Attributes["policy_version"], 10, 64); err != nil {
			t.Fatalf("policy_version %q", ev.Attributes["policy_version"])
		}
	}
	if len(seen) != len(denied) {
		t.Fatalf("%d of %d denials audited", len(seen), len(denied))
	}
	if s := float64(len(denied)) / float64(len(qs)); s < 0.80 {
		t.Fatalf("denial share %.3f", s)
	}
}

// BenchmarkManagerStream is Manager.Authorize (memory stores, default
// configuration: every denial audited through the decision log to a sink
// that keeps up, no-op OpenTelemetry) over the warm deny-heavy streams.
//
// manager runs it alone; deny-vs-allow times the stream's allows and
// denials in blocks, in turn. interleaved asks the engine alone, the Manager
// and CachedEnforcer the same block of 64 queries in turn and reports
// each one's ns/query, the Manager's overhead over the engine and the
// ratio to CachedEnforcer, so all come from the same minutes of the same
// machine. B/op and allocs/op count every goroutine, the decision log's
// included: the caller's path itself allocates nothing
// (TestAuditedDecisionAllocatesNothingOnTheCallersPath in the root
// package).
func BenchmarkManagerStream(b *testing.B) {
	ctx := context.Background()
	for _, sz := range streamSizes {
		w := newWorkload(sz.tenants, sz.users)
		qs := newStream(w, streamLen)
		subj, res := streamRequests(qs)
		ps := streamPrincipals(qs)
		b.Run("manager/"+sz.name, func(b *testing.B) {
			m := warmManager(b, w, qs, ps, res)
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if d, _ := m.Authorize(ctx, ps[i], qs[i].action, res[i]); d.Allowed != qs[i].allow {
					b.Fatal("disagrees")
				}
				if i++; i == len(qs) {
					i = 0
				}
			}
		})
		b.Run("deny-vs-allow/"+sz.name, func(b *testing.B) {
			// The stream's allows and its denials in blocks, in turn.
			m := warmManager(b, w, qs, ps, res)
			var allows, denials []int
			for i, q := range qs {
				if q.allow {
					allows = append(allows, i)
				} else {
					denials = append(denials, i)
				}
			}
			const block = 64
			var ta, td time.Duration
			n, ia, id := 0, 0, 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				for range block {
					j := allows[ia]
					if d, _ := m.Authorize(ctx, ps[j], qs[j].action, res[j]); !d.Allowed {
						b.Fatal("denied")
					}
					ia = (ia + 1) % len(allows)
				}
				t1 := time.Now()
				for range block {
					j := denials[id]
					if d, _ := m.Authorize(ctx, ps[j], qs[j].action, res[j]); d.Allowed {
						b.Fatal("allowed")
					}
					id = (id + 1) % len(denials)
				}
				ta, td = ta+t1.Sub(t0), td+time.Since(t1)
				n += block
			}
			b.ReportMetric(float64(ta.Nanoseconds())/float64(n), "allow-ns/q")
			b.ReportMetric(float64(td.Nanoseconds())/float64(n), "deny-ns/q")
			b.ReportMetric(float64(td)/float64(ta), "deny/allow")
		})
		b.Run("interleaved/"+sz.name, func(b *testing.B) {
			e := warmEngine(b, w, qs, subj, res)
			m := warmManager(b, w, qs, ps, res)
			ce := warmedCasbin(b, sz.name, w, qs)
			const block = 64 // divides streamLen
			var te, tm, tc time.Duration
			n, i := 0, 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				for j := i; j < i+block; j++ {
					if d, _ := e.Authorize(ctx, subj[j], qs[j].action, res[j], permission.Request{}); d.Allowed != qs[j].allow {
						b.Fatal("engine disagrees")
					}
				}
				t1 := time.Now()
				for j := i; j < i+block; j++ {
					if d, _ := m.Authorize(ctx, ps[j], qs[j].action, res[j]); d.Allowed != qs[j].allow {
						b.Fatal("Manager disagrees")
					}
				}
				t2 := time.Now()
				for j := i; j < i+block; j++ {
					q := &qs[j]
					if ok, _ := ce.Enforce(q.user, q.resTenant, q.typ, q.action); ok != q.allow {
						b.Fatal("casbin disagrees")
					}
				}
				te, tm, tc = te+t1.Sub(t0), tm+t2.Sub(t1), tc+time.Since(t2)
				n += block
				if i += block; i == len(qs) {
					i = 0
				}
			}
			b.ReportMetric(float64(te.Nanoseconds())/float64(n), "engine-ns/q")
			b.ReportMetric(float64(tm.Nanoseconds())/float64(n), "manager-ns/q")
			b.ReportMetric(float64(tc.Nanoseconds())/float64(n), "casbin-ns/q")
			b.ReportMetric(float64((tm-te).Nanoseconds())/float64(n), "overhead-ns/q")
			b.ReportMetric(float64(tc)/float64(tm), "x-faster")
		})
	}
}
