package bench

import (
	"context"
	"runtime"
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
func streamManager(tb testing.TB, w *workload, sink audit.Sink, opts ...authv2.Option) *authv2.Manager {
	tb.Helper()
	m, err := authv2.New(append([]authv2.Option{authv2.WithPermissionStore(w.memoryStore(tb)), authv2.WithAuditSink(sink)}, opts...)...)
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
	return warmManagerWith(b, w, qs, ps, res, &countingSink{})
}

// warmManagerWith is warmManager auditing to sink.
func warmManagerWith(b *testing.B, w *workload, qs []query, ps []*authv2.Principal, res []permission.Resource, sink audit.Sink, opts ...authv2.Option) *authv2.Manager {
	b.Helper()
	m := streamManager(b, w, sink, opts...)
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
// Every figure but ns/op is CPU time, read from the benchmark thread's
// CPU clock (the goroutine locked to it): the machine is shared, and wall
// time would also count the time other processes held the CPU. A caller
// blocked waiting for room in the decision log uses no CPU, so the wait
// shows in ns/op only.
//
//   - manager: the Manager alone; cpu-ns/q is the caller's thread,
//     process-cpu-ns/q every goroutine (the decision log's and the
//     garbage collector's too). B/op and allocs/op count every goroutine:
//     the caller's path itself allocates nothing
//     (TestAuditedDecisionAllocatesNothingOnTheCallersPath in the root).
//   - deny-vs-allow: the stream's allows and its denials, in turn.
//   - overhead: the engine alone and the Manager, in turn: the Manager's
//     cost over Engine.Authorize.
//   - interleaved: the engine, the Manager and CachedEnforcer, in turn.
func BenchmarkManagerStream(b *testing.B) {
	ctx := context.Background()
	for _, sz := range streamSizes {
		w := newWorkload(sz.tenants, sz.users)
		qs := newStream(w, streamLen)
		subj, res := streamRequests(qs)
		ps := streamPrincipals(qs)
		manager := func(m *authv2.Manager) func(j int) {
			return func(j int) {
				if d, _ := m.Authorize(ctx, ps[j], qs[j].action, res[j]); d.Allowed != qs[j].allow {
					b.Fatal("Manager disagrees")
				}
			}
		}
		engine := func(e *permission.Engine) func(j int) {
			return func(j int) {
				if d, _ := e.Authorize(ctx, subj[j], qs[j].action, res[j], permission.Request{}); d.Allowed != qs[j].allow {
					b.Fatal("engine disagrees")
				}
			}
		}
		b.Run("manager/"+sz.name, func(b *testing.B) {
			step := manager(warmManager(b, w, qs, ps, res))
			b.ReportAllocs()
			p0 := processCPU()
			per := timeBlocks(b, len(qs), step)
			b.ReportMetric(per[0], "cpu-ns/q")
			b.ReportMetric(float64((processCPU()-p0).Nanoseconds())/float64(b.N*blockLen), "process-cpu-ns/q")
		})
		b.Run("deny-vs-allow/"+sz.name, func(b *testing.B) {
			step := manager(warmManager(b, w, qs, ps, res))
			var allows, denials []int
			for i, q := range qs {
				if q.allow {
					allows = append(allows, i)
				} else {
					denials = append(denials, i)
				}
			}
			b.ReportAllocs()
			per := timeBlocks(b, len(qs),
				func(j int) { step(allows[j%len(allows)]) },
				func(j int) { step(denials[j%len(denials)]) })
			b.ReportMetric(per[0], "allow-cpu-ns/q")
			b.ReportMetric(per[1], "deny-cpu-ns/q")
			b.ReportMetric(per[1]/per[0], "deny/allow")
		})
		b.Run("overhead/"+sz.name, func(b *testing.B) {
			e, m := warmEngine(b, w, qs, subj, res), warmManager(b, w, qs, ps, res)
			b.ReportAllocs()
			per := timeBlocks(b, len(qs), engine(e), manager(m))
			b.ReportMetric(per[0], "engine-cpu-ns/q")
			b.ReportMetric(per[1], "manager-cpu-ns/q")
			b.ReportMetric(per[1]-per[0], "overhead-cpu-ns/q")
		})
		// process: what the whole process spends per query, the Manager's
		// decision log and audit queue and Casbin's garbage collection
		// included, which the caller's thread alone does not show: each
		// op is a pass of the stream through the Manager, then through
		// CachedEnforcer, each side's b.N passes in one stretch (so the
		// work one leaves in the background lands in its own stretch,
		// but for the last drain, which the Manager's stretch waits for).
		// With the default configuration (repeated denials folded over
		// DecisionRepeatWindow) and with every denial its own event.
		for _, v := range []struct {
			name   string
			window time.Duration
		}{{"default", authv2.DefaultConfig().DecisionRepeatWindow}, {"every-denial-an-event", 0}} {
			b.Run("process/"+v.name+"/"+sz.name, func(b *testing.B) {
				cfg := authv2.DefaultConfig()
				cfg.DecisionRepeatWindow = v.window
				sink := &countingSink{}
				m := warmManagerWith(b, w, qs, ps, res, sink, authv2.WithConfig(cfg))
				ce := warmedCasbin(b, sz.name, w, qs)
				mstep := manager(m)
				events0 := sink.n.Load()
				b.ResetTimer()
				c0, w0 := processCPU(), time.Now()
				for range b.N {
					for j := range qs {
						mstep(j)
					}
				}
				if err := m.FlushAudit(ctx); err != nil {
					b.Fatal(err)
				}
				c1, w1 := processCPU(), time.Now()
				for range b.N {
					for j := range qs {
						enforce(b, ce, &qs[j])
					}
				}
				c2, w2 := processCPU(), time.Now()
				n := float64(b.N * len(qs))
				mc, cc := float64((c1-c0).Nanoseconds())/n, float64((c2-c1).Nanoseconds())/n
				b.ReportMetric(mc, "manager-process-ns/q")
				b.ReportMetric(cc, "casbin-process-ns/q")
				b.ReportMetric(cc/mc, "x-faster-process")
				b.ReportMetric(float64(w1.Sub(w0).Nanoseconds())/n, "manager-wall-ns/q")
				b.ReportMetric(float64(w2.Sub(w1).Nanoseconds())/n, "casbin-wall-ns/q")
				b.ReportMetric(float64(sink.n.Load()-events0)/(n*denyShare(qs)), "events/denial")
			})
		}
		b.Run("interleaved/"+sz.name, func(b *testing.B) {
			e, m := warmEngine(b, w, qs, subj, res), warmManager(b, w, qs, ps, res)
			ce := warmedCasbin(b, sz.name, w, qs)
			b.ReportAllocs()
			per := timeBlocks(b, len(qs), engine(e), manager(m), func(j int) { enforce(b, ce, &qs[j]) })
			b.ReportMetric(per[0], "engine-cpu-ns/q")
			b.ReportMetric(per[1], "manager-cpu-ns/q")
			b.ReportMetric(per[2], "casbin-cpu-ns/q")
			b.ReportMetric(per[1]-per[0], "overhead-cpu-ns/q")
			b.ReportMetric(per[2]/per[1], "x-faster")
		})
	}
}

// blockLen is the queries of one block of timeBlocks; it divides
// streamLen.
const blockLen = 64

// timeBlocks runs the stream round and round in blocks of blockLen
// queries, each block through every step in turn (step(j) asks query j),
// and returns each step's CPU time per query on the benchmark's thread.
func timeBlocks(b *testing.B, n int, steps ...func(j int)) []float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t := make([]time.Duration, len(steps))
	i := 0
	b.ResetTimer()
	for b.Loop() {
		for k, step := range steps {
			t0 := threadCPU()
			for j := i; j < i+blockLen; j++ {
				step(j)
			}
			t[k] += threadCPU() - t0
		}
		if i += blockLen; i == n {
			i = 0
		}
	}
	per := make([]float64, len(steps))
	for k := range t {
		per[k] = float64(t[k].Nanoseconds()) / float64(b.N*blockLen)
	}
	return per
}
