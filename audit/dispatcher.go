package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authv2/authv2/internal/randid"
)

// Defaults of a Dispatcher.
const (
	DefaultQueueSize    = 4096
	DefaultBatchSize    = 256
	DefaultBackoffMin   = 100 * time.Millisecond
	DefaultBackoffMax   = 30 * time.Second
	DefaultWriteTimeout = 10 * time.Second
)

var (
	// ErrClosed is returned by Emit once Close has begun, and by Flush
	// when Close gave up before the events it waited for were delivered.
	ErrClosed = errors.New("audit: dispatcher closed")
	// ErrDropped is returned by Emit in drop mode (WithDropWhenFull) when
	// the queue is full: the event was not recorded, and Stats counts it.
	ErrDropped = errors.New("audit: queue full, event dropped")
	// ErrInvalidOption reports an option value NewDispatcher refuses.
	ErrInvalidOption = errors.New("audit: invalid dispatcher option")
)

// SinkError reports a failed write of a batch to one sink. The Dispatcher
// retries the batch; the error is reported, never swallowed.
type SinkError struct {
	Index   int    // position of the sink in the list given to NewDispatcher or FanOut
	Sink    string // the sink's Go type, e.g. "*audit.SlogSink"
	Events  int    // events in the batch
	Attempt int    // 1 for the first try of a batch; 0 in FanOut, which does not retry
	Err     error
}

func (e *SinkError) Error() string {
	if e.Attempt > 0 {
		return fmt.Sprintf("audit: sink %d (%s): writing %d events failed (attempt %d): %v", e.Index, e.Sink, e.Events, e.Attempt, e.Err)
	}
	return fmt.Sprintf("audit: sink %d (%s): writing %d events failed: %v", e.Index, e.Sink, e.Events, e.Err)
}

// Unwrap returns the sink's error.
func (e *SinkError) Unwrap() error { return e.Err }

// UndeliveredError is returned by Close when its context ended before every
// queued event reached every sink.
type UndeliveredError struct {
	// Events is the number of events that did not reach every sink.
	Events int
	// PerSink is, for each sink, the number of events it did not receive.
	PerSink []int
	// Err is the context's error.
	Err error
}

func (e *UndeliveredError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "audit: %d events not delivered to every sink (", e.Events)
	for i, n := range e.PerSink {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "sink %d: %d", i, n)
	}
	fmt.Fprintf(&b, "): %v", e.Err)
	return b.String()
}

// Unwrap returns the context's error, so errors.Is(err,
// context.DeadlineExceeded) holds.
func (e *UndeliveredError) Unwrap() error { return e.Err }

// DispatcherStats is a snapshot of a Dispatcher's counters, for metrics.
type DispatcherStats struct {
	Queued      int   // events not yet delivered to every sink
	Emitted     int64 // events accepted by Emit
	Dropped     int64 // events refused because the queue was full (drop mode)
	Failed      int64 // failed sink writes (each one reported)
	Retries     int64 // writes that re-sent a batch after a failure
	Undelivered int64 // events given up on when Close's context ended
}

// Option configures a Dispatcher. Options are sealed: only this package
// implements them, so new ones can be added without breaking callers.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	queueSize    int
	drop         bool
	batchSize    int
	maxLatency   time.Duration
	backoffMin   time.Duration
	backoffMax   time.Duration
	writeTimeout time.Duration
	onError      func(error)
	onDelivered  func([]Event)
	logger       *slog.Logger
	sleep        func(context.Context, time.Duration) error
}

// WithQueueSize bounds the queue (DefaultQueueSize). Memory held is at
// most this many events, whatever the number of sinks.
func WithQueueSize(n int) Option { return optionFunc(func(c *config) { c.queueSize = n }) }

// WithDropWhenFull makes Emit drop the event and return ErrDropped when the
// queue is full, instead of blocking until there is room. Drops are counted
// in DispatcherStats.Dropped. Blocking is the default: an audit trail that
// loses events under load proves little.
func WithDropWhenFull() Option { return optionFunc(func(c *config) { c.drop = true }) }

// WithBatchSize caps the events given to one Sink.Write (DefaultBatchSize).
func WithBatchSize(n int) Option { return optionFunc(func(c *config) { c.batchSize = n }) }

// WithMaxLatency lets a sink wait up to d for a batch to fill before
// writing a partial one. The default, 0, writes as soon as the sink is
// free: batches then grow by themselves under load, from the events queued
// during the previous write.
func WithMaxLatency(d time.Duration) Option { return optionFunc(func(c *config) { c.maxLatency = d }) }

// WithBackoff sets the wait after a failed write: min after the first
// failure, doubling up to max (DefaultBackoffMin, DefaultBackoffMax).
func WithBackoff(minWait, maxWait time.Duration) Option {
	return optionFunc(func(c *config) { c.backoffMin, c.backoffMax = minWait, maxWait })
}

// WithWriteTimeout bounds one Sink.Write call (DefaultWriteTimeout); 0
// means no bound beyond Close's context.
func WithWriteTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.writeTimeout = d })
}

// WithOnError sets a function called with a *SinkError after every failed
// write. It runs on the sink's delivery goroutine, so it must be safe for
// concurrent use and return quickly.
func WithOnError(f func(error)) Option { return optionFunc(func(c *config) { c.onError = f }) }

// WithOnDelivered sets a function called with the events every sink has
// received, in the order they were emitted, each event once: the Manager
// removes them from its Journal. It runs on a delivery goroutine, outside
// the Dispatcher's lock, before Flush calls waiting for these events
// return; it must not keep the slice.
func WithOnDelivered(f func(delivered []Event)) Option {
	return optionFunc(func(c *config) { c.onDelivered = f })
}

// WithLogger logs every failed write at Error level to l. Without this
// option and WithOnError, failures go to slog.Default(): they are never
// silent.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

// WithSleep replaces the backoff wait, for tests. sleep must return early
// with ctx's error when ctx ends.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return optionFunc(func(c *config) { c.sleep = sleep })
}

// Dispatcher delivers audit events to sinks asynchronously, losing none.
//
// Events wait in one bounded ring buffer; each sink has its own goroutine
// and its own position in the ring, so a slow or failing sink neither
// delays the others nor makes them receive an event twice. A slot is freed
// once every sink has passed it; when the slowest sink is a full queue
// behind, Emit blocks (or, with WithDropWhenFull, drops and counts). A
// failed write is reported and retried, with exponential backoff, until it
// succeeds or Close gives up: delivery is at least once per sink, in order.
//
// Sinks receive batches that they must not modify or keep after Write
// returns, and Write must return when its context ends.
//
// A Dispatcher is safe for concurrent use.
type Dispatcher struct {
	cfg     config
	workers []*worker

	// advancing serializes advance, so onDelivered sees the events in
	// order and reported only grows past what it has seen.
	advancing sync.Mutex
	mu        sync.Mutex
	ring      []Event
	head      uint64 // sequence number of the next event Emit stores
	tail      uint64 // oldest sequence number some sink still needs
	// reported: events before it have been through onDelivered (when set)
	// too. Flush waits for it, not for tail: the Manager forgets delivered
	// events in its journal there, and a flush must see that done.
	reported uint64
	space    chan struct{} // closed, then replaced, whenever tail moves
	closing  bool
	flushes  []flushWaiter

	closingCh   chan struct{} // closed when Close begins
	ctx         context.Context
	cancel      context.CancelFunc // aborts writes and backoffs when Close gives up
	live        atomic.Int32
	workersDone chan struct{}
	finished    chan struct{} // closed when Close has its result
	closeErr    error

	emitted, dropped, failed, retries, undelivered atomic.Int64
}

type flushWaiter struct {
	seq  uint64
	done chan struct{}
}

type worker struct {
	d     *Dispatcher
	index int
	name  string
	sink  Sink
	pos   uint64 // guarded by d.mu
	wake  chan struct{}
	batch []Event
}

// NewDispatcher starts a Dispatcher delivering to sinks. Close it to flush
// and stop its goroutines.
func NewDispatcher(sinks []Sink, opts ...Option) (*Dispatcher, error) {
	cfg := config{
		queueSize:    DefaultQueueSize,
		batchSize:    DefaultBatchSize,
		backoffMin:   DefaultBackoffMin,
		backoffMax:   DefaultBackoffMax,
		writeTimeout: DefaultWriteTimeout,
		sleep:        sleepContext,
	}
	for _, o := range opts {
		o.apply(&cfg)
	}
	switch {
	case cfg.queueSize <= 0:
		return nil, fmt.Errorf("%w: queue size %d", ErrInvalidOption, cfg.queueSize)
	case cfg.batchSize <= 0:
		return nil, fmt.Errorf("%w: batch size %d", ErrInvalidOption, cfg.batchSize)
	case cfg.maxLatency < 0 || cfg.writeTimeout < 0:
		return nil, fmt.Errorf("%w: negative duration", ErrInvalidOption)
	case cfg.backoffMin <= 0 || cfg.backoffMax < cfg.backoffMin:
		return nil, fmt.Errorf("%w: backoff %v..%v", ErrInvalidOption, cfg.backoffMin, cfg.backoffMax)
	case cfg.sleep == nil:
		return nil, fmt.Errorf("%w: nil sleep", ErrInvalidOption)
	}
	if cfg.onError == nil && cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	for i, s := range sinks {
		if s == nil {
			return nil, fmt.Errorf("%w: sink %d is nil", ErrInvalidOption, i)
		}
	}
	d := &Dispatcher{
		cfg:         cfg,
		ring:        make([]Event, cfg.queueSize),
		space:       make(chan struct{}),
		closingCh:   make(chan struct{}),
		workersDone: make(chan struct{}),
		finished:    make(chan struct{}),
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for i, s := range sinks {
		d.workers = append(d.workers, &worker{d: d, index: i, name: fmt.Sprintf("%T", s), sink: s, wake: make(chan struct{}, 1)})
	}
	d.live.Store(int32(len(d.workers)))
	if len(d.workers) == 0 {
		close(d.workersDone)
	}
	for _, w := range d.workers {
		go w.run()
	}
	return d, nil
}

// Emit queues e for every sink. An empty ID is filled with a random one and
// a zero Time with the current UTC time; Attributes is copied, so the
// caller may reuse its map. When the queue is full Emit waits for room
// until ctx ends (returning ctx's error: the event was not queued), or, in
// drop mode, returns ErrDropped at once. After Close it returns ErrClosed.
func (d *Dispatcher) Emit(ctx context.Context, e Event) error {
	if e.ID == "" {
		e.ID = randid.ID()
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	e.Attributes = maps.Clone(e.Attributes)

	d.mu.Lock()
	for {
		if d.closing {
			d.mu.Unlock()
			return ErrClosed
		}
		if d.head-d.tail < uint64(len(d.ring)) {
			break
		}
		if d.cfg.drop {
			d.mu.Unlock()
			d.dropped.Add(1)
			return ErrDropped
		}
		space := d.space
		d.mu.Unlock()
		select {
		case <-space:
		case <-d.closingCh:
		case <-ctx.Done():
			return ctx.Err()
		}
		d.mu.Lock()
	}
	d.emitted.Add(1)
	if len(d.workers) == 0 {
		d.mu.Unlock()
		if d.cfg.onDelivered != nil {
			d.cfg.onDelivered([]Event{e}) // every sink (none) has it
		}
		return nil
	}
	d.ring[d.head%uint64(len(d.ring))] = e
	d.head++
	d.mu.Unlock()
	for _, w := range d.workers {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Flush waits until every event emitted before the call has reached every
// sink, or ctx ends, or Close gives up.
func (d *Dispatcher) Flush(ctx context.Context) error {
	d.mu.Lock()
	if d.reported >= d.head {
		d.mu.Unlock()
		return nil
	}
	w := flushWaiter{seq: d.head, done: make(chan struct{})}
	d.flushes = append(d.flushes, w)
	d.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-d.workersDone:
		// Workers stop early only when Close gave up.
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.reported >= w.seq {
			return nil
		}
		return ErrClosed
	case <-ctx.Done():
		d.mu.Lock()
		for i := range d.flushes {
			if d.flushes[i].done == w.done {
				d.flushes = append(d.flushes[:i], d.flushes[i+1:]...)
				break
			}
		}
		d.mu.Unlock()
		return ctx.Err()
	}
}

// Close stops accepting events (Emit returns ErrClosed, and callers blocked
// in Emit wake up with it), delivers everything queued, retrying failed
// sinks, and stops the goroutines. If ctx ends first, Close aborts the
// writes in flight and returns an *UndeliveredError counting the events
// that did not reach every sink. Later calls wait for and return the
// first call's result.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	first := !d.closing
	if first {
		d.closing = true
		close(d.closingCh)
	}
	d.mu.Unlock()
	if !first {
		select {
		case <-d.finished:
			return d.closeErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	var err error
	select {
	case <-d.workersDone:
	case <-ctx.Done():
		d.cancel()
		<-d.workersDone // Write and backoff honour the canceled context
		d.mu.Lock()
		if lost := d.head - d.tail; lost > 0 {
			ue := &UndeliveredError{Events: int(lost), Err: ctx.Err()}
			for _, w := range d.workers {
				ue.PerSink = append(ue.PerSink, int(d.head-w.pos))
			}
			d.undelivered.Add(int64(lost))
			err = ue
		}
		d.mu.Unlock()
	}
	d.cancel()
	d.closeErr = err
	close(d.finished)
	return err
}

// Stats returns a snapshot of the counters.
func (d *Dispatcher) Stats() DispatcherStats {
	d.mu.Lock()
	queued := int(d.head - d.tail)
	d.mu.Unlock()
	return DispatcherStats{
		Queued:      queued,
		Emitted:     d.emitted.Load(),
		Dropped:     d.dropped.Load(),
		Failed:      d.failed.Load(),
		Retries:     d.retries.Load(),
		Undelivered: d.undelivered.Load(),
	}
}

func (w *worker) run() {
	defer func() {
		if w.d.live.Add(-1) == 0 {
			close(w.d.workersDone)
		}
	}()
	for {
		batch, ok := w.next()
		if !ok || !w.deliver(batch) {
			return
		}
		w.d.advance(w, len(batch))
	}
}

// next waits for a batch; false means there is nothing more to deliver:
// Close drained the queue, or gave up.
func (w *worker) next() ([]Event, bool) {
	d := w.d
	var linger *time.Timer
	defer func() {
		if linger != nil {
			linger.Stop()
		}
	}()
	lingered := false
	for {
		d.mu.Lock()
		n := d.head - w.pos
		closing := d.closing
		if n >= uint64(d.cfg.batchSize) || (n > 0 && (closing || lingered || d.cfg.maxLatency == 0)) {
			n = min(n, uint64(d.cfg.batchSize))
			w.batch = w.batch[:0]
			size := uint64(len(d.ring))
			for seq := w.pos; seq < w.pos+n; seq++ {
				w.batch = append(w.batch, d.ring[seq%size])
			}
			d.mu.Unlock()
			return w.batch, true
		}
		d.mu.Unlock()
		if n == 0 && closing {
			return nil, false
		}
		var timeout <-chan time.Time
		if n > 0 {
			if linger == nil {
				linger = time.NewTimer(d.cfg.maxLatency)
			}
			timeout = linger.C
		}
		select {
		case <-w.wake:
		case <-timeout:
			lingered = true
		case <-d.closingCh:
		case <-d.ctx.Done():
			return nil, false
		}
	}
}

// deliver writes batch until it succeeds; false means Close gave up.
func (w *worker) deliver(batch []Event) bool {
	d := w.d
	wait := d.cfg.backoffMin
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			d.retries.Add(1)
		}
		err := w.write(batch)
		if err == nil {
			return true
		}
		if d.ctx.Err() != nil {
			return false
		}
		d.failed.Add(1)
		d.report(&SinkError{Index: w.index, Sink: w.name, Events: len(batch), Attempt: attempt, Err: err})
		if d.cfg.sleep(d.ctx, wait) != nil || d.ctx.Err() != nil {
			return false
		}
		wait = min(wait*2, d.cfg.backoffMax)
	}
}

// write calls the sink, turning a panic into an error: a sink bug must not
// take the application down from a background goroutine.
func (w *worker) write(batch []Event) (err error) {
	ctx := w.d.ctx
	if t := w.d.cfg.writeTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sink panicked: %v", r)
		}
	}()
	return w.sink.Write(ctx, batch)
}

func (d *Dispatcher) report(err *SinkError) {
	if d.cfg.onError != nil {
		d.cfg.onError(err)
	}
	if d.cfg.logger != nil {
		d.cfg.logger.Error("audit: sink write failed", "sink", err.Sink, "sink_index", err.Index,
			"events", err.Events, "attempt", err.Attempt, "error", err.Err)
	}
}

// advance records that w delivered k events, frees the slots every sink
// has passed and wakes whoever waits for them.
func (d *Dispatcher) advance(w *worker, k int) {
	d.advancing.Lock()
	defer d.advancing.Unlock()
	d.mu.Lock()
	w.pos += uint64(k)
	tail := w.pos
	for _, o := range d.workers {
		tail = min(tail, o.pos)
	}
	if tail == d.tail {
		d.mu.Unlock()
		return
	}
	size := uint64(len(d.ring))
	var delivered []Event
	if d.cfg.onDelivered != nil {
		delivered = make([]Event, 0, tail-d.tail)
	}
	for seq := d.tail; seq < tail; seq++ {
		if delivered != nil {
			delivered = append(delivered, d.ring[seq%size])
		}
		d.ring[seq%size] = Event{} // let the attribute maps go
	}
	d.tail = tail
	close(d.space)
	d.space = make(chan struct{})
	d.mu.Unlock()
	// Outside d.mu: the callback may be slow (a journal's fsync) and
	// Emit must not wait for it.
	if delivered != nil {
		d.cfg.onDelivered(delivered)
	}
	d.mu.Lock()
	d.reported = tail
	kept := d.flushes[:0]
	var ready []chan struct{}
	for _, f := range d.flushes {
		if f.seq <= tail {
			ready = append(ready, f.done)
		} else {
			kept = append(kept, f)
		}
	}
	clear(d.flushes[len(kept):])
	d.flushes = kept
	d.mu.Unlock()
	for _, done := range ready {
		close(done)
	}
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
