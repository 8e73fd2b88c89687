package authv2

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/memory"
)

// fakeDecisionSink is a decision log's emit: it records what it is
// handed, per batch, and can be held closed to stand for a full audit
// queue.
type fakeDecisionSink struct {
	mu      sync.Mutex
	users   []string // userID of each record, in emission order
	batches chan int // size of each batch
	ctxErrs []error  // ctx.Err() seen by each batch
	gate    chan struct{}
}

func newFakeDecisionSink() *fakeDecisionSink {
	s := &fakeDecisionSink{batches: make(chan int, 100), gate: make(chan struct{})}
	close(s.gate)
	return s
}

func (s *fakeDecisionSink) emit(ctx context.Context, batch []decisionRecord) {
	<-s.gate
	s.mu.Lock()
	for _, r := range batch {
		s.users = append(s.users, r.userID)
	}
	s.ctxErrs = append(s.ctxErrs, ctx.Err())
	s.mu.Unlock()
	s.batches <- len(batch)
}

func (s *fakeDecisionSink) emitted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.users...)
}

func (s *fakeDecisionSink) nextBatch(t *testing.T) int {
	t.Helper()
	select {
	case n := <-s.batches:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no batch emitted")
		return 0
	}
}

// newTestDecisionLog is a log of the given capacity whose ticks the test
// sends; it is closed when the test ends.
func newTestDecisionLog(t *testing.T, capacity int, s *fakeDecisionSink) (*decisionLog, chan time.Time) {
	tick := make(chan time.Time)
	l := newDecisionLog(capacity, tick, func() {}, s.emit, nil)
	t.Cleanup(func() { l.close(context.Background()) })
	return l, tick
}

func addUser(l *decisionLog, ctx context.Context, user string) {
	l.add(ctx, &decisionRecord{userID: user})
}

// The durability bound: a decision waits in the buffer until the next
// tick of Config.DecisionFlushInterval (here sent by hand), then reaches
// emit with every decision before it, in order.
func TestDecisionLogHandsOverAtEachTick(t *testing.T) {
	s := newFakeDecisionSink()
	l, tick := newTestDecisionLog(t, 16, s)
	for _, u := range []string{"u1", "u2", "u3"} {
		addUser(l, t.Context(), u)
	}
	l.mu.Lock()
	buffered := len(l.buf)
	l.mu.Unlock()
	assert.Equal(t, 3, buffered, "below half the buffer, decisions wait for the tick")
	assert.Empty(t, s.emitted())

	tick <- time.Now()
	assert.Equal(t, 3, s.nextBatch(t))
	assert.Equal(t, []string{"u1", "u2", "u3"}, s.emitted())

	addUser(l, t.Context(), "u4")
	tick <- time.Now()
	assert.Equal(t, 1, s.nextBatch(t), "each tick hands over what came since the last")
	assert.Equal(t, []string{"u1", "u2", "u3", "u4"}, s.emitted())
}

// fillBehindBlockedEmit fills l (capacity 2, emit blocked) with u1 and u2,
// which the goroutine takes and is stuck emitting, then u3 and u4, which
// fill the buffer.
func fillBehindBlockedEmit(t *testing.T, l *decisionLog) {
	t.Helper()
	addUser(l, t.Context(), "u1")
	addUser(l, t.Context(), "u2") // half full (2 of 2): handed over
	require.Eventually(t, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.buf) == 0
	}, 10*time.Second, time.Millisecond)
	addUser(l, t.Context(), "u3")
	addUser(l, t.Context(), "u4")
}

// The count bound: a buffer more than half full is handed over without
// waiting for the tick.
func TestDecisionLogHandsOverWhenHalfFull(t *testing.T) {
	s := newFakeDecisionSink()
	l, _ := newTestDecisionLog(t, 8, s)
	for _, u := range []string{"u1", "u2", "u3", "u4", "u5"} { // 5 of 8
		addUser(l, t.Context(), u)
	}
	assert.Equal(t, 5, s.nextBatch(t))
	assert.Equal(t, []string{"u1", "u2", "u3", "u4", "u5"}, s.emitted())
}

// A full buffer (the audit queue behind: emit blocked) makes the caller
// wait for the hand-over instead of dropping the decision, and every
// decision is emitted once, in order.
func TestDecisionLogFullBufferWaitsForRoom(t *testing.T) {
	s := newFakeDecisionSink()
	s.gate = make(chan struct{})
	l, _ := newTestDecisionLog(t, 2, s)
	fillBehindBlockedEmit(t, l)

	added := make(chan struct{})
	go func() { addUser(l, context.Background(), "u5"); close(added) }()
	require.Eventually(t, func() bool { return l.waits.Load() > 0 }, 10*time.Second, time.Millisecond)
	select {
	case <-added:
		t.Fatal("a decision was added to a full buffer")
	default:
	}

	close(s.gate) // the queue takes events again
	<-added
	require.NoError(t, l.closeAndWait(t))
	assert.Equal(t, []string{"u1", "u2", "u3", "u4", "u5"}, s.emitted())
}

// A caller whose context ends while it waits for room hands its decision
// to emit with that context, which reports it as not recorded (the
// Manager logs it): it is not dropped silently.
func TestDecisionLogCallerGivingUpIsReported(t *testing.T) {
	s := newFakeDecisionSink()
	s.gate = make(chan struct{})
	l, _ := newTestDecisionLog(t, 2, s)
	fillBehindBlockedEmit(t, l)

	ctx, cancel := context.WithCancel(t.Context())
	added := make(chan struct{})
	go func() { addUser(l, ctx, "u5"); close(added) }()
	require.Eventually(t, func() bool { return l.waits.Load() > 0 }, 10*time.Second, time.Millisecond)
	cancel()
	close(s.gate)
	<-added
	require.NoError(t, l.closeAndWait(t))
	assert.ElementsMatch(t, []string{"u1", "u2", "u3", "u4", "u5"}, s.emitted())
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Contains(t, s.ctxErrs, context.Canceled, "u5 went to emit with its ended context")
}

// close hands over what is buffered; a decision recorded after close goes
// to emit at once.
func TestDecisionLogCloseHandsOverTheBuffer(t *testing.T) {
	s := newFakeDecisionSink()
	l, _ := newTestDecisionLog(t, 16, s)
	addUser(l, t.Context(), "u1")
	addUser(l, t.Context(), "u2")
	require.NoError(t, l.closeAndWait(t))
	assert.Equal(t, []string{"u1", "u2"}, s.emitted())
	addUser(l, t.Context(), "late")
	assert.Equal(t, []string{"u1", "u2", "late"}, s.emitted())
}

// closeAndWait closes l within a test deadline.
func (l *decisionLog) closeAndWait(t *testing.T) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l.close(ctx)
	return ctx.Err()
}

// Auditing a denial allocates nothing on the caller's path: the record is
// copied into the buffer. The log's goroutine is given a buffer too large
// to hand over during the run and an emit that does nothing, because
// AllocsPerRun counts every goroutine's allocations.
func TestAuditedDecisionAllocatesNothingOnTheCallersPath(t *testing.T) {
	m, err := New(WithInsecurePasswordHashing())
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Close(context.Background())) }()
	ctx := context.Background()
	m.decisions.close(ctx)
	m.decisions = newDecisionLog(1<<16, nil, func() {}, func(context.Context, []decisionRecord) {}, nil)
	p := &Principal{UserID: "u1", TenantID: "t1", SessionID: "s1"}
	res := permission.Resource{Type: "orders", ID: "o1", TenantID: "t1"}
	allocs := testing.AllocsPerRun(1000, func() {
		if d, _ := m.Authorize(ctx, p, "delete", res); d.Allowed {
			t.Fatal("allowed")
		}
	})
	assert.Zero(t, allocs)
	m.decisions.mu.Lock()
	defer m.decisions.mu.Unlock()
	assert.Len(t, m.decisions.buf, 1001, "every denial was recorded")
}

type discardSink struct{}

func (discardSink) Write(context.Context, []audit.Event) error { return nil }

// BenchmarkDecisionEvents is the decision log goroutine's work per
// audited decision, off the caller's path: records of one batch turned
// into events and queued for a sink that keeps up. Its rate bounds the
// sustained audited denials of one process.
func BenchmarkDecisionEvents(b *testing.B) {
	m, err := New(WithInsecurePasswordHashing(), WithAuditSink(discardSink{}))
	require.NoError(b, err)
	defer func() { require.NoError(b, m.Close(context.Background())) }()
	ctx := context.Background()
	p := &Principal{UserID: "u1", TenantID: "t1", SessionID: "s1", Client: session.ClientInfo{IP: "192.0.2.1", UserAgent: "agent/1"}}
	res := permission.Resource{Type: "orders", ID: "o1", TenantID: "t1"}
	d, _ := m.Authorize(ctx, p, "delete", res)
	batch := make([]decisionRecord, 256)
	for i := range batch {
		batch[i] = decisionRecord{userID: p.UserID, tenantID: p.TenantID, sessionID: p.SessionID, ip: p.Client.IP,
			userAgent: p.Client.UserAgent, action: "delete", res: res, d: d, at: time.Now()}
	}
	b.ReportAllocs()
	p0 := processCPU()
	for b.Loop() {
		m.emitDecisions(ctx, batch)
	}
	// The process's CPU: the dispatcher's sink goroutine works too.
	b.ReportMetric(float64((processCPU()-p0).Nanoseconds())/float64(b.N*len(batch)), "cpu-ns/decision")
}

// BenchmarkAuthorizeCallersPath is an allow and an audited denial through
// the Manager and through its engine alone, in blocks in turn, with the
// decision log's goroutine given nothing to do (its emit returns at
// once): the caller's own cost of auditing a denial (audit-ns: the
// Manager's extra over the engine on a denial, less its extra on an
// allow), apart from the goroutine's work that BenchmarkDecisionEvents
// measures. Times are the benchmark thread's CPU time: wall time on a
// shared machine also counts other processes.
func BenchmarkAuthorizeCallersPath(b *testing.B) {
	ctx := context.Background()
	st := memory.NewPermissionStore()
	require.NoError(b, st.CreateTenant(ctx, &permission.Tenant{ID: "acme"}))
	require.NoError(b, st.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "clerk",
		Grants: []permission.Grant{{Permission: "orders:read", Effect: permission.Allow}}}))
	require.NoError(b, st.PutBinding(ctx, permission.Binding{UserID: "u1", TenantID: "acme", Role: "clerk"}))
	m, err := New(WithInsecurePasswordHashing(), WithPermissionStore(st))
	require.NoError(b, err)
	defer func() { require.NoError(b, m.Close(context.Background())) }()
	m.decisions.close(ctx)
	m.decisions = newDecisionLog(DefaultConfig().DecisionBufferSize, nil, func() {}, func(context.Context, []decisionRecord) {}, nil)
	p := &Principal{UserID: "u1", TenantID: "acme", SessionID: "s1"}
	res := permission.Resource{Type: "orders", ID: "o1", TenantID: "acme"}
	subj := subject(p)
	// Four blocks in turn: the engine alone allowing and denying, then
	// the Manager; t[k] sums block k's time.
	blocks := []func(){
		func() { mustDecide(b, m.engine.Check(ctx, subj, "read", res, permission.Request{}), true) },
		func() { mustDecide(b, m.engine.Check(ctx, subj, "refund", res, permission.Request{}), false) },
		func() { mustDecide(b, m.Can(ctx, p, "read", res), true) },
		func() { mustDecide(b, m.Can(ctx, p, "refund", res), false) },
	}
	const block = 64
	var t [4]time.Duration
	n := 0
	runtime.LockOSThread() // so that the thread's CPU clock is this goroutine's
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	for b.Loop() {
		for k, f := range blocks {
			t0 := threadCPU()
			for range block {
				f()
			}
			t[k] += threadCPU() - t0
		}
		n += block
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
	b.ReportMetric(per(t[0]), "engine-allow-cpu-ns")
	b.ReportMetric(per(t[1]), "engine-deny-cpu-ns")
	b.ReportMetric(per(t[2]), "allow-cpu-ns")
	b.ReportMetric(per(t[3]), "deny-cpu-ns")
	b.ReportMetric(float64(t[3])/float64(t[2]), "deny/allow")
	b.ReportMetric(per(t[3]-t[1])-per(t[2]-t[0]), "audit-cpu-ns")
	b.ReportMetric(float64(m.decisions.waits.Load())/float64(n), "waits/denial")
}

func mustDecide(b *testing.B, got, want bool) {
	if got != want {
		b.Fatalf("allowed %t, want %t", got, want)
	}
}

// A window holds at most limit kinds: past it, new kinds are emitted as
// they come (never dropped, never held without bound), repeats of held
// kinds still fold, and the window is due to close at once.
func TestRepeatsHoldAtMostLimitKinds(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rp := newRepeats(time.Hour, 2, func() time.Time { return now })
	rec := func(user string) decisionRecord { return decisionRecord{userID: user, at: now} }
	users := func(rs []decisionRecord) []string {
		var out []string
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%s×%d", r.userID, max(1, r.count)))
		}
		return out
	}
	out := rp.fold([]decisionRecord{rec("a"), rec("b"), rec("c"), rec("a"), rec("c"), rec("a")})
	assert.Equal(t, []string{"a×1", "b×1", "c×1", "c×1"}, users(out))
	assert.True(t, rp.due(), "full")
	assert.Equal(t, []string{"a×2"}, users(rp.take()))
	assert.False(t, rp.due(), "closed")
	assert.Empty(t, rp.take())
}
