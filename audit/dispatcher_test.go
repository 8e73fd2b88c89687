package audit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/audit"
)

// gateSink blocks every Write until open is closed (or its context ends),
// announcing each call on entered.
type gateSink struct {
	entered chan struct{}
	open    chan struct{}
	mem     audit.MemorySink
}

func newGateSink() *gateSink {
	return &gateSink{entered: make(chan struct{}, 1000), open: make(chan struct{})}
}

func (g *gateSink) Write(ctx context.Context, events []audit.Event) error {
	g.entered <- struct{}{}
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.mem.Write(ctx, events)
}

// flakySink fails its first `failures` writes, then records.
type flakySink struct {
	failures atomic.Int32
	mem      audit.MemorySink
	batches  atomic.Int32
}

func (f *flakySink) Write(ctx context.Context, events []audit.Event) error {
	f.batches.Add(1)
	if f.failures.Add(-1) >= 0 {
		return errors.New("boom")
	}
	return f.mem.Write(ctx, events)
}

// brokenSink always fails.
type brokenSink struct{}

func (brokenSink) Write(context.Context, []audit.Event) error { return errors.New("disk full") }

func ev(i int) audit.Event {
	return audit.Event{ID: fmt.Sprintf("e%07d", i), Type: audit.TypeLoginSuccess, Outcome: audit.Success}
}

func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func newDispatcher(t *testing.T, sinks []audit.Sink, opts ...audit.Option) *audit.Dispatcher {
	t.Helper()
	d, err := audit.NewDispatcher(sinks, append([]audit.Option{audit.WithOnError(func(error) {})}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		// Tests that need everything delivered close explicitly; this one
		// only stops the goroutines, even with a broken sink.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = d.Close(ctx)
	})
	return d
}

func closeNow(t *testing.T, d *audit.Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	require.NoError(t, d.Close(ctx))
}

func ids(events []audit.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func wantIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = ev(i).ID
	}
	return out
}

func TestEmitBlocksWhenFullAndResumes(t *testing.T) {
	sink := newGateSink()
	d := newDispatcher(t, []audit.Sink{sink}, audit.WithQueueSize(4), audit.WithBatchSize(1))
	require.NoError(t, d.Emit(t.Context(), ev(0)))
	<-sink.entered // event 0 is in flight: it keeps its slot until written
	for i := 1; i < 4; i++ {
		require.NoError(t, d.Emit(t.Context(), ev(i)))
	}
	assert.Equal(t, 4, d.Stats().Queued)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.ErrorIs(t, d.Emit(ctx, ev(99)), context.Canceled, "a full queue waits only as long as ctx")

	returned := make(chan error, 1)
	go func() { returned <- d.Emit(t.Context(), ev(4)) }()
	select {
	case err := <-returned:
		t.Fatalf("Emit returned %v while the queue was full", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(sink.open)
	require.NoError(t, <-returned, "Emit resumes once the sink frees room")
	closeNow(t, d)
	assert.Equal(t, wantIDs(5), ids(sink.mem.Events()))
	assert.Zero(t, d.Stats().Dropped)
}

func TestDropModeCountsDropsExactly(t *testing.T) {
	sink := newGateSink()
	d := newDispatcher(t, []audit.Sink{sink}, audit.WithQueueSize(8), audit.WithBatchSize(1), audit.WithDropWhenFull())
	require.NoError(t, d.Emit(t.Context(), ev(0)))
	<-sink.entered
	dropped := 0
	for i := 1; i <= 100; i++ {
		err := d.Emit(t.Context(), ev(i))
		if errors.Is(err, audit.ErrDropped) {
			dropped++
		} else {
			require.NoError(t, err)
		}
	}
	assert.Equal(t, 93, dropped, "7 free slots, the rest dropped")
	assert.Equal(t, int64(93), d.Stats().Dropped)
	close(sink.open)
	closeNow(t, d)
	assert.Equal(t, wantIDs(8), ids(sink.mem.Events()))
	assert.Equal(t, int64(8), d.Stats().Emitted)
}

func TestFailedWritesAreRetriedWithBackoffAndReported(t *testing.T) {
	sink := &flakySink{}
	sink.failures.Store(5)
	var mu sync.Mutex
	var waits []time.Duration
	var reported []error
	d, err := audit.NewDispatcher([]audit.Sink{sink},
		audit.WithBatchSize(100),
		audit.WithBackoff(10*time.Millisecond, 50*time.Millisecond),
		audit.WithSleep(func(ctx context.Context, w time.Duration) error {
			mu.Lock()
			waits = append(waits, w)
			mu.Unlock()
			return ctx.Err()
		}),
		audit.WithOnError(func(err error) {
			mu.Lock()
			reported = append(reported, err)
			mu.Unlock()
		}))
	require.NoError(t, err)
	for i := range 1000 {
		require.NoError(t, d.Emit(t.Context(), ev(i)))
	}
	closeNow(t, d)

	assert.Equal(t, wantIDs(1000), ids(sink.mem.Events()), "every event once, in order")
	assert.Equal(t, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond}, waits)
	require.Len(t, reported, 5)
	for i, err := range reported {
		var se *audit.SinkError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 0, se.Index)
		assert.Equal(t, "*audit_test.flakySink", se.Sink)
		assert.Equal(t, i+1, se.Attempt)
		assert.Positive(t, se.Events)
		assert.Contains(t, err.Error(), "boom")
	}
	st := d.Stats()
	assert.Equal(t, int64(5), st.Failed)
	assert.Equal(t, int64(5), st.Retries)
	assert.Zero(t, st.Queued)
}

func TestFailuresAreLoggedWithoutOnError(t *testing.T) {
	logs := &syncBuffer{}
	sink := &flakySink{}
	sink.failures.Store(1)
	d, err := audit.NewDispatcher([]audit.Sink{sink}, audit.WithSleep(noSleep), audit.WithLogger(jsonLogger(logs)))
	require.NoError(t, err)
	require.NoError(t, d.Emit(t.Context(), ev(0)))
	closeNow(t, d)
	assert.Contains(t, logs.String(), `"msg":"audit: sink write failed"`)
	assert.Contains(t, logs.String(), `"error":"boom"`)
	assert.Len(t, sink.mem.Events(), 1)
}

func TestEachSinkRetriesAlone(t *testing.T) {
	healthy := audit.NewMemorySink()
	flaky := &flakySink{}
	flaky.failures.Store(3)
	d := newDispatcher(t, []audit.Sink{healthy, flaky}, audit.WithSleep(noSleep), audit.WithBatchSize(10))
	for i := range 100 {
		require.NoError(t, d.Emit(t.Context(), ev(i)))
	}
	closeNow(t, d)
	assert.Equal(t, wantIDs(100), ids(healthy.Events()), "no duplicates for the sink that never failed")
	assert.Equal(t, wantIDs(100), ids(flaky.mem.Events()))
}

func TestFailingSinkDoesNotDelayOthers(t *testing.T) {
	healthy := audit.NewMemorySink()
	d := newDispatcher(t, []audit.Sink{brokenSink{}, healthy}, audit.WithBackoff(time.Millisecond, time.Millisecond))
	for i := range 10 {
		require.NoError(t, d.Emit(t.Context(), ev(i)))
	}
	require.Eventually(t, func() bool { return len(healthy.Events()) == 10 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, 10, d.Stats().Queued, "still waiting for the broken sink")
}

func TestCloseFlushesEverything(t *testing.T) {
	const writers, each = 50, 2000
	mem := audit.NewMemorySink()
	d, err := audit.NewDispatcher([]audit.Sink{mem}, audit.WithQueueSize(1024))
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				assert.NoError(t, d.Emit(t.Context(), audit.Event{ID: fmt.Sprintf("%d-%d", g, i), Type: audit.TypeLoginSuccess}))
			}
		})
	}
	wg.Wait()
	closeNow(t, d)

	events := mem.Events()
	require.Len(t, events, writers*each)
	seen := make(map[string]bool, len(events))
	for _, e := range events {
		assert.False(t, seen[e.ID], "duplicate %s", e.ID)
		seen[e.ID] = true
	}
	st := d.Stats()
	assert.Equal(t, int64(writers*each), st.Emitted)
	assert.Zero(t, st.Queued)
	assert.Zero(t, st.Undelivered)
}

func TestCloseGivesUpWhenItsContextEnds(t *testing.T) {
	healthy := audit.NewMemorySink()
	d, err := audit.NewDispatcher([]audit.Sink{brokenSink{}, healthy},
		audit.WithBackoff(time.Millisecond, 5*time.Millisecond), audit.WithOnError(func(error) {}))
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, d.Emit(t.Context(), ev(i)))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = d.Close(ctx)
	assert.Less(t, time.Since(start), 2*time.Second, "Close honours its context")

	var ue *audit.UndeliveredError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, 10, ue.Events)
	assert.Equal(t, []int{10, 0}, ue.PerSink)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "10 events not delivered")
	assert.Equal(t, wantIDs(10), ids(healthy.Events()))
	assert.Equal(t, int64(10), d.Stats().Undelivered)
	assert.Positive(t, d.Stats().Failed)

	assert.ErrorIs(t, d.Emit(t.Context(), ev(11)), audit.ErrClosed)
	assert.Equal(t, err, d.Close(t.Context()), "later calls return the first result")
}

func TestCloseAbortsAHangingWrite(t *testing.T) {
	sink := newGateSink() // never opened: Write returns only when its context ends
	d, err := audit.NewDispatcher([]audit.Sink{sink}, audit.WithWriteTimeout(0), audit.WithOnError(func(error) {}))
	require.NoError(t, err)
	require.NoError(t, d.Emit(t.Context(), ev(0)))
	<-sink.entered
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	var ue *audit.UndeliveredError
	require.ErrorAs(t, d.Close(ctx), &ue)
	assert.Equal(t, 1, ue.Events)
}

func TestCloseWakesBlockedEmitters(t *testing.T) {
	sink := newGateSink()
	d, err := audit.NewDispatcher([]audit.Sink{sink}, audit.WithQueueSize(1), audit.WithOnError(func(error) {}))
	require.NoError(t, err)
	require.NoError(t, d.Emit(t.Context(), ev(0)))
	<-sink.entered
	blocked := make(chan error, 1)
	go func() { blocked <- d.Emit(t.Context(), ev(1)) }()
	time.Sleep(10 * time.Millisecond) // let it block; the outcome is the same if it has not yet
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	var ue *audit.UndeliveredError
	require.ErrorAs(t, d.Close(ctx), &ue)
	assert.Equal(t, 1, ue.Events, "the blocked event was never accepted")
	assert.ErrorIs(t, <-blocked, audit.ErrClosed)
}

func TestBatchesAreBoundedAndLinger(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	sink := sinkFunc(func(_ context.Context, events []audit.Event) error {
		mu.Lock()
		sizes = append(sizes, len(events))
		mu.Unlock()
		return nil
	})
	// A latency far longer than the test: batches are written only when
	// full, or by Close.
	d := newDispatcher(t, []audit.Sink{sink}, audit.WithBatchSize(10), audit.WithMaxLatency(time.Hour))
	for i := range 25 {
		require.NoError(t, d.Emit(t.Context(), ev(i)))
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(sizes) == 2 }, 5*time.Second, time.Millisecond)
	closeNow(t, d)
	assert.Equal(t, []int{10, 10, 5}, sizes)
}

func TestMaxLatencyFlushesPartialBatch(t *testing.T) {
	mem := audit.NewMemorySink()
	d := newDispatcher(t, []audit.Sink{mem}, audit.WithBatchSize(100), audit.WithMaxLatency(5*time.Millisecond))
	require.NoError(t, d.Emit(t.Context(), ev(0)))
	require.Eventually(t, func() bool { return len(mem.Events()) == 1 }, 5*time.Second, time.Millisecond)
}

func TestFlush(t *testing.T) {
	mem := audit.NewMemorySink()
	d := newDispatcher(t, []audit.Sink{mem})
	for i := range 100 {
		require.NoError(t, d.Emit(t.Context(), ev(i)))
	}
	require.NoError(t, d.Flush(t.Context()))
	assert.Len(t, mem.Events(), 100)

	stuck := newDispatcher(t, []audit.Sink{brokenSink{}}, audit.WithSleep(noSleep))
	require.NoError(t, stuck.Emit(t.Context(), ev(0)))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, stuck.Flush(ctx), context.DeadlineExceeded)
}

func TestEmitFillsIDAndTimeAndCopiesAttributes(t *testing.T) {
	mem := audit.NewMemorySink()
	d := newDispatcher(t, []audit.Sink{mem})
	attrs := map[string]string{"k": "v"}
	local := time.FixedZone("x", 3600)
	require.NoError(t, d.Emit(t.Context(), audit.Event{Type: audit.TypeLogout, Attributes: attrs}))
	require.NoError(t, d.Emit(t.Context(), audit.Event{ID: "given", Time: time.Date(2030, 1, 1, 1, 0, 0, 0, local)}))
	attrs["k"] = "changed"
	closeNow(t, d)
	events := mem.Events()
	require.Len(t, events, 2)
	assert.Len(t, events[0].ID, 22, "128 random bits, base64url")
	assert.WithinDuration(t, time.Now(), events[0].Time, time.Minute)
	assert.Equal(t, time.UTC, events[0].Time.Location())
	assert.Equal(t, "v", events[0].Attributes["k"])
	assert.Equal(t, "given", events[1].ID)
	assert.Equal(t, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), events[1].Time)
}

func TestPanickingSinkIsReportedAndRetried(t *testing.T) {
	var calls atomic.Int32
	mem := audit.NewMemorySink()
	sink := sinkFunc(func(ctx context.Context, events []audit.Event) error {
		if calls.Add(1) == 1 {
			panic("bug")
		}
		return mem.Write(ctx, events)
	})
	var reported atomic.Value
	d := newDispatcher(t, []audit.Sink{sink}, audit.WithSleep(noSleep), audit.WithOnError(func(err error) { reported.Store(err) }))
	require.NoError(t, d.Emit(t.Context(), ev(0)))
	closeNow(t, d)
	assert.Len(t, mem.Events(), 1)
	require.NotNil(t, reported.Load())
	assert.Contains(t, reported.Load().(error).Error(), "sink panicked: bug")
}

func TestNoSinks(t *testing.T) {
	d := newDispatcher(t, nil)
	require.NoError(t, d.Emit(t.Context(), ev(0)))
	require.NoError(t, d.Flush(t.Context()))
	closeNow(t, d)
	assert.Equal(t, int64(1), d.Stats().Emitted)
}

func TestInvalidOptions(t *testing.T) {
	for name, opt := range map[string]audit.Option{
		"queue":   audit.WithQueueSize(0),
		"batch":   audit.WithBatchSize(-1),
		"latency": audit.WithMaxLatency(-time.Second),
		"timeout": audit.WithWriteTimeout(-time.Second),
		"backoff": audit.WithBackoff(time.Second, time.Millisecond),
		"zero":    audit.WithBackoff(0, time.Second),
		"sleep":   audit.WithSleep(nil),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := audit.NewDispatcher(nil, opt)
			assert.ErrorIs(t, err, audit.ErrInvalidOption)
		})
	}
	_, err := audit.NewDispatcher([]audit.Sink{nil})
	assert.ErrorIs(t, err, audit.ErrInvalidOption)
}

type sinkFunc func(context.Context, []audit.Event) error

func (f sinkFunc) Write(ctx context.Context, events []audit.Event) error { return f(ctx, events) }

// BenchmarkDeliverySlowSink is BenchmarkDelivery with a sink that takes
// sleeps 100µs a call (about 1ms with a coarse timer), like a database
// round trip: batching pays there.
func BenchmarkDeliverySlowSink(b *testing.B) {
	sink := sinkFunc(func(context.Context, []audit.Event) error { time.Sleep(100 * time.Microsecond); return nil })
	e := audit.Event{ID: "x", Time: time.Now(), Type: audit.TypeLogout}
	b.Run("sync", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = sink.Write(context.Background(), []audit.Event{e})
			}
		})
	})
	b.Run("dispatcher", func(b *testing.B) {
		d, err := audit.NewDispatcher([]audit.Sink{sink})
		require.NoError(b, err)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = d.Emit(context.Background(), e)
			}
		})
		require.NoError(b, d.Close(context.Background()))
	})
}

// BenchmarkDelivery compares the synchronous one-event write the Manager
// did before the Dispatcher (the baseline) with Emit through a Dispatcher,
// both into a JSON SlogSink writing to io.Discard. The dispatcher case
// includes the final Close, so it measures throughput, not just the
// caller's side.
func BenchmarkDelivery(b *testing.B) {
	sink := audit.NewSlogSink(slog.New(slog.NewJSONHandler(io.Discard, nil)))
	e := audit.Event{ID: "x", Time: time.Now(), Type: audit.TypeAuthorizeDecision, Outcome: audit.Success, TenantID: "t1",
		ActorUserID: "u1", Attributes: map[string]string{audit.AttrAction: "orders:read", audit.AttrResourceType: "orders"}}
	b.Run("sync", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := sink.Write(context.Background(), []audit.Event{e}); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("dispatcher", func(b *testing.B) {
		d, err := audit.NewDispatcher([]audit.Sink{sink})
		require.NoError(b, err)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := d.Emit(context.Background(), e); err != nil {
					b.Fatal(err)
				}
			}
		})
		require.NoError(b, d.Close(context.Background()))
	})
}

// TestFlushWaitsForOnDelivered: Flush returns only once onDelivered has
// returned for every event emitted before it. The Manager removes
// delivered events from its journal there, and a test (or a shutdown)
// that flushes and then reads the journal must not find them.
func TestFlushWaitsForOnDelivered(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	d := newDispatcher(t, []audit.Sink{audit.NewMemorySink()}, audit.WithOnDelivered(func([]audit.Event) {
		once.Do(func() { close(entered) })
		<-release
	}))
	require.NoError(t, d.Emit(t.Context(), audit.Event{ID: "e1", Type: audit.TypeLogout}))
	<-entered // the sink has the event; onDelivered is still running

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, d.Flush(ctx), context.DeadlineExceeded, "Flush returned while onDelivered was running")

	close(release)
	require.NoError(t, d.Flush(t.Context()))
}
