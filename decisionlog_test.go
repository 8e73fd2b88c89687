package authv2_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/memory"
)

// envWithDecisionLog is newEnv with the decision log's interval and size.
func envWithDecisionLog(t *testing.T, interval time.Duration, size int) *env {
	t.Helper()
	cfg := authv2test.Config()
	cfg.DecisionFlushInterval, cfg.DecisionBufferSize = interval, size
	return newEnv(t, authv2.WithConfig(cfg))
}

// decisionsIn returns the authorization decisions a sink holds, without
// flushing the Manager first.
func decisionsIn(s *audit.MemorySink) []audit.Event {
	var out []audit.Event
	for _, ev := range s.Events() {
		if ev.Type == audit.TypeAuthorizeDecision {
			out = append(out, ev)
		}
	}
	return out
}

// A denial waits in the decision log for at most the flush interval (here
// a minute, so for the whole test): it is not in the sink until
// FlushAudit hands the buffer over. The interval's ticks themselves are
// tested in TestDecisionLogHandsOverAtEachTick.
func TestDecisionsWaitForTheFlushInterval(t *testing.T) {
	e := envWithDecisionLog(t, time.Minute, 64)
	p, _ := shop(t, e)
	assert.False(t, e.m.Can(t.Context(), p, "delete", order("region:eu/store:42")))
	require.NoError(t, e.m.FlushAudit(t.Context()))
	assert.Len(t, decisionsIn(e.sink.MemorySink), 1)

	assert.False(t, e.m.Can(t.Context(), p, "delete", order("region:eu/store:42")))
	time.Sleep(50 * time.Millisecond) // the audit queue alone would deliver in microseconds
	assert.Len(t, decisionsIn(e.sink.MemorySink), 1, "the second denial waits for the interval")
	require.NoError(t, e.m.FlushAudit(t.Context()))
	assert.Len(t, decisionsIn(e.sink.MemorySink), 2)
}

// The interval is the bound: with a short one, a denial reaches the sink
// without any flush.
func TestDecisionsReachTheSinkWithinTheFlushInterval(t *testing.T) {
	e := envWithDecisionLog(t, 10*time.Millisecond, 64)
	p, _ := shop(t, e)
	assert.False(t, e.m.Can(t.Context(), p, "delete", order("region:eu/store:42")))
	require.Eventually(t, func() bool { return len(decisionsIn(e.sink.MemorySink)) == 1 }, 10*time.Second, time.Millisecond)
}

// decisionsCounted is how many decisions events stand for (audit.Weight).
func decisionsCounted(events []audit.Event) int {
	n := 0
	for i := range events {
		n += audit.Weight(&events[i])
	}
	return n
}

// Close hands the buffered decisions over before the audit queue closes,
// the repeats held in the open window too.
func TestCloseHandsOverBufferedDecisions(t *testing.T) {
	e := envWithDecisionLog(t, time.Minute, 64)
	p, _ := shop(t, e)
	for range 3 {
		assert.False(t, e.m.Can(t.Context(), p, "delete", order("region:eu/store:42")))
	}
	require.NoError(t, e.m.Close(t.Context()))
	assert.Equal(t, 3, decisionsCounted(decisionsIn(e.sink.MemorySink)))
}

// Within Config.DecisionRepeatWindow, the first denial of a kind is its
// own event and the identical ones after it become one event with their
// count, the first repeat's ID and time, and the last one's time; a
// denial differing in any field is a kind of its own.
func TestRepeatedDecisionsFoldIntoOneEvent(t *testing.T) {
	e := envWithDecisionLog(t, time.Minute, 64)
	p, _ := shop(t, e)
	ctx := t.Context()
	deny := func(res permission.Resource) permission.Decision {
		d, err := e.m.Authorize(ctx, p, "delete", res)
		require.NoError(t, err)
		require.False(t, d.Allowed)
		return d
	}
	first := deny(order("region:eu/store:42"))
	var repeats []permission.Decision
	start := e.clock.Now()
	for range 4 {
		e.clock.Advance(time.Millisecond)
		repeats = append(repeats, deny(order("region:eu/store:42")))
	}
	other := deny(permission.Resource{Type: "orders", ID: "o-2", TenantID: "acme", Scope: "region:eu/store:42"})
	require.NoError(t, e.m.FlushAudit(ctx))

	got := decisionsIn(e.sink.MemorySink)
	require.Len(t, got, 3)
	assert.Equal(t, first.ID.String(), got[0].DecisionID)
	assert.NotContains(t, got[0].Attributes, audit.AttrCount, "a first decision is an event as before")
	assert.Equal(t, other.ID.String(), got[1].DecisionID, "another resource is another kind, emitted as it comes")
	folded := got[2]
	assert.Equal(t, repeats[0].ID.String(), folded.DecisionID)
	assert.Equal(t, start.Add(time.Millisecond).UTC(), folded.Time)
	assert.Equal(t, "4", folded.Attributes[audit.AttrCount])
	assert.Equal(t, start.Add(4*time.Millisecond).UTC().Format(time.RFC3339Nano), folded.Attributes[audit.AttrLastAt])
	assert.Equal(t, got[0].ActorSessionID, folded.ActorSessionID)
	assert.Equal(t, got[0].Target, folded.Target)
	assert.Equal(t, got[0].Reason, folded.Reason)
	assert.Equal(t, 6, decisionsCounted(got))

	// The window closed at the flush: the next denial opens a new one.
	again := deny(order("region:eu/store:42"))
	require.NoError(t, e.m.FlushAudit(ctx))
	got = decisionsIn(e.sink.MemorySink)
	require.Len(t, got, 4)
	assert.Equal(t, again.ID.String(), got[3].DecisionID)
	assert.NotContains(t, got[3].Attributes, audit.AttrCount)
}

// A window closes on its own once DecisionRepeatWindow has passed, at the
// log's next drain: no flush needed.
func TestRepeatWindowClosesOnItsOwn(t *testing.T) {
	cfg := authv2test.Config()
	cfg.DecisionFlushInterval, cfg.DecisionRepeatWindow = 5*time.Millisecond, time.Minute
	e := newEnv(t, authv2.WithConfig(cfg))
	p, _ := shop(t, e)
	for range 3 {
		assert.False(t, e.m.Can(t.Context(), p, "delete", order("region:eu/store:42")))
	}
	require.Eventually(t, func() bool { return len(decisionsIn(e.sink.MemorySink)) == 1 }, 10*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // ten drains: the window (on the Manager's clock) is still open
	require.Len(t, decisionsIn(e.sink.MemorySink), 1)
	e.clock.Advance(time.Minute)
	require.Eventually(t, func() bool { return len(decisionsIn(e.sink.MemorySink)) == 2 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, "2", decisionsIn(e.sink.MemorySink)[1].Attributes[audit.AttrCount])
}

// DecisionRepeatWindow 0: every decision is its own event.
func TestRepeatWindowZeroKeepsEveryDecision(t *testing.T) {
	cfg := authv2test.Config()
	cfg.DecisionRepeatWindow = 0
	e := newEnv(t, authv2.WithConfig(cfg))
	p, _ := shop(t, e)
	for range 3 {
		assert.False(t, e.m.Can(t.Context(), p, "delete", order("region:eu/store:42")))
	}
	require.NoError(t, e.m.FlushAudit(t.Context()))
	got := decisionsIn(e.sink.MemorySink)
	require.Len(t, got, 3)
	for _, ev := range got {
		assert.NotContains(t, ev.Attributes, audit.AttrCount)
	}
}

// Folding loses no decision and counts none twice: 300 goroutines deny
// the same few kinds 20 times each through a small buffer, with windows
// closing as the clock moves, and the events add up to every denial,
// kind by kind.
func TestRepeatedDecisionsAreCountedExactly(t *testing.T) {
	cfg := authv2test.Config()
	cfg.DecisionFlushInterval, cfg.DecisionBufferSize, cfg.DecisionRepeatWindow = time.Millisecond, 8, 10*time.Millisecond
	e := newEnv(t, authv2.WithConfig(cfg))
	p, _ := shop(t, e)
	ctx := t.Context()
	const workers, each, kinds = 300, 20, 5
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if i%5 == 0 {
					e.clock.Advance(time.Millisecond)
				}
				res := permission.Resource{Type: "orders", ID: strconv.Itoa((w + i) % kinds), TenantID: "acme", Scope: "region:eu/store:42"}
				if d, err := e.m.Authorize(ctx, p, "delete", res); err != nil || d.Allowed {
					t.Errorf("%v %v", d.Allowed, err)
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, e.m.FlushAudit(ctx))
	perKind := map[string]int{}
	for _, ev := range decisionsIn(e.sink.MemorySink) {
		perKind[ev.Target] += audit.Weight(&ev)
	}
	want := map[string]int{}
	for k := range kinds {
		want["orders:"+strconv.Itoa(k)] = workers * each / kinds
	}
	assert.Equal(t, want, perKind)
}

// Every denial reaches the audit sink exactly once, with its own fields,
// when many goroutines deny at once through a buffer far smaller than
// the stream (so callers wait for room and batches are reused).
func TestEveryDenialIsAuditedOnceWithItsFields(t *testing.T) {
	e := envWithDecisionLog(t, time.Minute, 16)
	shop(t, e)
	ctx := t.Context()
	const workers, each = 4, 500
	type want struct {
		p      *authv2.Principal
		action string
		res    permission.Resource
		d      permission.Decision
	}
	got := make([][]want, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				p := &authv2.Principal{UserID: fmt.Sprintf("u%d-%d", w, i), TenantID: "acme", SessionID: fmt.Sprintf("s%d-%d", w, i),
					Client: session.ClientInfo{IP: fmt.Sprintf("192.0.2.%d", i%250), UserAgent: fmt.Sprintf("agent/%d", w)}}
				res := permission.Resource{Type: fmt.Sprintf("type%d", i%7), ID: strconv.Itoa(i), TenantID: "acme", Scope: "region:eu"}
				action := fmt.Sprintf("act%d", i%5)
				if i%3 == 0 {
					res.TenantID = "globex"
				}
				d, err := e.m.Authorize(ctx, p, action, res)
				if err != nil || d.Allowed {
					t.Errorf("%+v: %v %v", res, d.Allowed, err)
					return
				}
				got[w] = append(got[w], want{p, action, res, d})
			}
		})
	}
	wg.Wait()
	require.NoError(t, e.m.FlushAudit(ctx))
	byDecision := map[string]audit.Event{}
	for _, ev := range decisionsIn(e.sink.MemorySink) {
		_, dup := byDecision[ev.DecisionID]
		require.False(t, dup, "decision %s audited twice", ev.DecisionID)
		byDecision[ev.DecisionID] = ev
	}
	require.Len(t, byDecision, workers*each)
	for _, ws := range got {
		for _, w := range ws {
			ev, ok := byDecision[w.d.ID.String()]
			require.True(t, ok, "decision %s not audited", w.d.ID)
			assert.Equal(t, audit.Denied, ev.Outcome)
			assert.Equal(t, w.p.UserID, ev.ActorUserID)
			assert.Equal(t, w.p.SessionID, ev.ActorSessionID)
			assert.Equal(t, w.p.TenantID, ev.TenantID)
			assert.Equal(t, w.p.Client.IP, ev.IP)
			assert.Equal(t, w.p.Client.UserAgent, ev.UserAgent)
			assert.Equal(t, w.res.Scope, ev.Scope)
			assert.Equal(t, w.res.Type+":"+w.res.ID, ev.Target)
			assert.Equal(t, string(w.d.Reason), ev.Reason)
			assert.Equal(t, e.clock.Now(), ev.Time, "stamped with the Manager's clock")
			assert.NotEmpty(t, ev.ID)
			assert.Equal(t, map[string]string{
				audit.AttrAction: w.res.Type + ":" + w.action, audit.AttrResourceType: w.res.Type, "resource_tenant": w.res.TenantID,
				"role": "", "grant": "", "policy_version": strconv.FormatInt(w.d.Version, 10),
			}, ev.Attributes)
		}
	}
}

// A decision audited inside a traced request carries the trace ID of
// its Authorize span (read on the caller's path, formatted later): with a
// tracer provider, the span's; with none, the request's.
func TestAuditedDecisionCarriesTheTraceID(t *testing.T) {
	request := trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	traced := trace.ContextWithSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: request, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled}))

	o := newOtelEnv(t)
	p, _ := shop(t, o.env)
	assert.False(t, o.m.Can(traced, p, "delete", order("region:eu/store:42")))
	evs := o.sink.OfType(audit.TypeAuthorizeDecision)
	require.Len(t, evs, 1)
	assert.Equal(t, request.String(), evs[0].TraceID)
	assert.Equal(t, o.span(t, "authv2.Authorize").SpanContext.TraceID().String(), evs[0].TraceID)

	e := newEnv(t) // the global provider, a no-op here: no span of its own
	p, _ = shop(t, e)
	assert.False(t, e.m.Can(traced, p, "delete", order("region:eu/store:42")))
	assert.False(t, e.m.Can(t.Context(), p, "delete", order("region:eu/store:42")))
	evs = e.sink.OfType(audit.TypeAuthorizeDecision)
	require.Len(t, evs, 2)
	assert.Equal(t, request.String(), evs[0].TraceID)
	assert.Empty(t, evs[1].TraceID, "no trace, no trace ID")
}

// Folding loses and double-counts nothing, and keeps each kind's time
// range, when the clock jumps back and forth between rounds of 100
// goroutines, FlushAudit runs alongside them, callers wait for room in
// buffers of 4, and Close makes the last hand-over (of a window that is
// still open: fewer kinds than the 16 it holds).
// Every decision of a round is stamped with that round's time, so each
// kind's earliest and latest stamps are known.
func TestRepeatedDecisionsSurviveClockJumpsFlushesAndClose(t *testing.T) {
	cfg := authv2test.Config()
	cfg.DecisionFlushInterval, cfg.DecisionBufferSize, cfg.DecisionRepeatWindow = time.Millisecond, 4, 5*time.Millisecond
	e := newEnv(t, authv2.WithConfig(cfg))
	shop(t, e)
	ctx := t.Context()
	const workers, each, kinds = 100, 20, 12
	phases := []time.Duration{0, time.Millisecond, -time.Hour, 2 * time.Hour, 2 * time.Hour, 3 * time.Millisecond, -48 * time.Hour, time.Second}
	type kindTimes struct {
		n        int
		min, max time.Time
		seen     map[time.Time]bool
	}
	want := map[string]*kindTimes{}
	for pi, off := range phases {
		at := t0.Add(off)
		e.clock.Set(at)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					k := (w*7 + i) % kinds
					p := &authv2.Principal{UserID: fmt.Sprintf("u%d", k%3), TenantID: "acme", SessionID: "s", Client: session.ClientInfo{IP: "192.0.2.1"}}
					res := permission.Resource{Type: "orders", ID: fmt.Sprint(k), TenantID: "acme", Scope: "region:eu"}
					if d, err := e.m.Authorize(ctx, p, "delete", res); err != nil || d.Allowed {
						t.Errorf("%v %v", d.Allowed, err)
					}
				}
			})
		}
		if pi%2 == 0 {
			for range 3 {
				wg.Go(func() { assert.NoError(t, e.m.FlushAudit(ctx)) })
			}
		}
		wg.Wait()
		for w := range workers {
			for i := range each {
				k := fmt.Sprintf("orders:%d", (w*7+i)%kinds)
				kt := want[k]
				if kt == nil {
					kt = &kindTimes{min: at, max: at, seen: map[time.Time]bool{}}
					want[k] = kt
				}
				kt.n++
				kt.seen[at] = true
				if at.Before(kt.min) {
					kt.min = at
				}
				if at.After(kt.max) {
					kt.max = at
				}
			}
		}
	}
	require.NoError(t, e.m.Close(ctx))
	got := map[string]*kindTimes{}
	for _, ev := range decisionsIn(e.sink.MemorySink) {
		kt := got[ev.Target]
		last := ev.Time
		if s, ok := ev.Attributes[audit.AttrLastAt]; ok {
			var err error
			last, err = time.Parse(time.RFC3339Nano, s)
			require.NoError(t, err)
		}
		assert.False(t, last.Before(ev.Time), "%v", ev)
		if kt == nil {
			kt = &kindTimes{min: ev.Time, max: last, seen: map[time.Time]bool{}}
			got[ev.Target] = kt
		}
		kt.n += audit.Weight(&ev)
		assert.True(t, want[ev.Target].seen[ev.Time], "time %v of %s never stamped", ev.Time, ev.Target)
		assert.True(t, want[ev.Target].seen[last], "last %v of %s never stamped", last, ev.Target)
		if ev.Time.Before(kt.min) {
			kt.min = ev.Time
		}
		if last.After(kt.max) {
			kt.max = last
		}
	}
	require.Len(t, got, kinds)
	for k, w := range want {
		g := got[k]
		assert.Equal(t, w.n, g.n, k)
		assert.Equal(t, w.min, g.min, k)
		assert.Equal(t, w.max, g.max, k)
	}
}

// Two Managers on one audit store, each folding its own repeats: TopDenied
// (which weighs an event by its count) counts every denial once, on the
// memory store and on PostgreSQL, from the events the Managers emit.
func TestTopDeniedCountsFoldedDecisionsOfTwoManagers(t *testing.T) {
	type backend struct {
		name string
		open func(t *testing.T) (audit.Store, []authv2.Option)
	}
	bs := []backend{
		{"memory", func(t *testing.T) (audit.Store, []authv2.Option) {
			st := memory.New()
			as := memory.NewAuditStore()
			return as, []authv2.Option{authv2.WithUserStore(st.Users), authv2.WithSessionStore(st.Sessions), authv2.WithPermissionStore(st.Permissions), authv2.WithAuditStore(as)}
		}},
		{"postgres", func(t *testing.T) (audit.Store, []authv2.Option) {
			env := pgtest.New(t)
			return env.Stores.Audit, []authv2.Option{authv2.WithUserStore(env.Stores.Users), authv2.WithSessionStore(env.Stores.Sessions),
				authv2.WithPermissionStore(env.Stores.Permissions), authv2.WithAuditStore(env.Stores.Audit)}
		}},
	}
	for _, b := range bs {
		t.Run(b.name, func(t *testing.T) {
			as, opts := b.open(t)
			clk := authv2test.NewClock(t0)
			cfg := authv2test.Config()
			cfg.DecisionFlushInterval, cfg.DecisionBufferSize, cfg.DecisionRepeatWindow = time.Millisecond, 8, 3*time.Millisecond
			mk := func() *authv2.Manager {
				m, err := authv2.New(append([]authv2.Option{authv2.WithConfig(cfg), authv2.WithInsecurePasswordHashing(), authv2.WithClock(clk)}, opts...)...)
				require.NoError(t, err)
				t.Cleanup(func() { _ = m.Close(context.Background()) }) // when the test stops early
				return m
			}
			ms := []*authv2.Manager{mk(), mk()}
			ctx := t.Context()
			_, err := ms[0].CreateTenant(ctx, "acme", "acme")
			require.NoError(t, err)
			const workers, each, actions = 50, 40, 6
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					m := ms[w%2]
					p := &authv2.Principal{UserID: "u", TenantID: "acme", SessionID: "s"}
					for i := range each {
						if i%10 == 0 && w%5 == 0 {
							clk.Advance(time.Millisecond)
						}
						res := permission.Resource{Type: "orders", ID: "o", TenantID: "acme"}
						if d, err := m.Authorize(ctx, p, fmt.Sprintf("act%d", (w+i)%actions), res); err != nil || d.Allowed {
							t.Errorf("%v %v", d.Allowed, err)
						}
					}
				})
			}
			wg.Wait()
			require.NoError(t, ms[0].Close(ctx))
			require.NoError(t, ms[1].Close(ctx))
			got, err := as.TopDenied(ctx, "acme", t0.Add(-time.Hour), t0.Add(time.Hour), 100)
			require.NoError(t, err)
			want := map[string]int{}
			for w := range workers {
				for i := range each {
					want[fmt.Sprintf("orders:act%d", (w+i)%actions)]++
				}
			}
			gotm := map[string]int{}
			for _, c := range got {
				gotm[c.Key] = c.N
			}
			assert.Equal(t, want, gotm)
		})
	}
}
