package authv2

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/randid"
	"github.com/authv2/authv2/permission"
)

// decisionRecord is what an audited decision leaves on the caller's path:
// strings the caller and the principal already own, the decision itself
// and when it was made. Copying one into a preallocated slot is the whole
// cost of auditing a decision there; the audit.Event (its IDs as strings,
// concatenations, attribute map) is built by the decision log's goroutine.
type decisionRecord struct {
	userID, sessionID, tenantID string
	impersonatorID              string // "" unless the principal is impersonating
	apiKeyID                    string // "" unless the principal presented an API key
	ip, userAgent               string
	action                      string
	res                         permission.Resource
	d                           permission.Decision
	at                          time.Time
	traceID                     trace.TraceID
	// A record standing for decisions of one kind (decisionrepeats.go):
	// how many (0 or 1: itself alone) and when the last was made.
	count int
	last  time.Time
}

// decisionLog carries audited authorization decisions to the audit
// dispatcher off the caller's path. It has two buffers of fixed capacity:
// callers append records to one under a mutex; the other is free, or
// handed over to the goroutine, which turns its records into events. The
// goroutine takes the filling buffer every interval, or as soon as it is
// half full; a caller that fills it hands it over itself if the other is
// free, so a goroutine slow to be scheduled does not stall callers. So a
// decision reaches the dispatcher one interval after it was made at most
// (unless the dispatcher is behind), and at most two buffers of decisions
// wait in the log: on a crash, those are the decisions lost (with what the
// dispatcher had not yet delivered).
//
// When both buffers are full (the dispatcher or its sinks behind), a
// caller waits for one to be emitted, or until its context ends (the
// decision is then emitted with that context, which reports it as not
// recorded), like a full dispatcher queue: decisions are never dropped to
// keep the caller fast.
type decisionLog struct {
	emit    func(ctx context.Context, batch []decisionRecord)
	repeats *repeats // nil: every decision is its own event

	mu      sync.Mutex
	buf     []decisionRecord // the buffer callers fill
	pending []decisionRecord // a full buffer a caller handed over, or nil
	free    []decisionRecord // the other buffer when empty and unused, or nil
	room    chan struct{}    // closed and replaced when a buffer is freed: wakes callers waiting for room
	closed  bool             // after close, records go to emit one by one

	drainMu sync.Mutex // one drain at a time

	kick      chan struct{} // capacity 1: drain now
	tick      <-chan time.Time
	stopTick  func()
	quit      chan struct{}
	done      chan struct{}
	quitOnce  sync.Once
	closeOnce sync.Once
	ctx       context.Context // the goroutine's emits; canceled when close gives up
	cancel    context.CancelFunc

	waits atomic.Int64 // callers that found both buffers full
}

// newDecisionLog starts a log of two buffers of the given capacity whose
// goroutine drains it at every tick (and when half full) through emit,
// folding repeated decisions through rp unless it is nil.
func newDecisionLog(capacity int, tick <-chan time.Time, stopTick func(), emit func(context.Context, []decisionRecord), rp *repeats) *decisionLog {
	l := &decisionLog{
		emit:     emit,
		repeats:  rp,
		buf:      make([]decisionRecord, 0, capacity),
		free:     make([]decisionRecord, 0, capacity),
		room:     make(chan struct{}),
		kick:     make(chan struct{}, 1),
		tick:     tick,
		stopTick: stopTick,
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	go l.run()
	return l
}

// add records r, waiting for room when both buffers are full.
func (l *decisionLog) add(ctx context.Context, r *decisionRecord) {
	kick := false
	l.mu.Lock()
	for !l.closed && len(l.buf) == cap(l.buf) {
		if l.free != nil {
			l.pending, l.buf, l.free = l.buf, l.free, nil
			kick = true
			continue
		}
		room := l.room
		l.mu.Unlock()
		l.waits.Add(1)
		l.wake()
		select {
		case <-room:
		case <-ctx.Done():
			// Handed over anyway: emit sees the ended context and
			// reports the decision as not recorded.
			l.emit(ctx, []decisionRecord{*r})
			return
		}
		l.mu.Lock()
	}
	if l.closed {
		l.mu.Unlock()
		l.emit(ctx, []decisionRecord{*r})
		return
	}
	l.buf = append(l.buf, *r)
	kick = kick || len(l.buf) == cap(l.buf)/2+1
	l.mu.Unlock()
	if kick {
		l.wake()
	}
}

// wake asks the goroutine to drain now, without waiting.
func (l *decisionLog) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// drain hands every record buffered before the call to emit, in order,
// and returns when emit has: the handed-over buffer first, then the one
// being filled. Repeats are held back (decisionrepeats.go) until their
// window closes, or force. FlushAudit and close call it with force; so
// does the goroutine, without.
func (l *decisionLog) drain(ctx context.Context, force bool) {
	l.drainMu.Lock()
	defer l.drainMu.Unlock()
	// Between drains the buffer not being filled is pending or free.
	for range 2 {
		l.mu.Lock()
		batch := l.pending
		l.pending = nil
		if batch == nil && len(l.buf) > 0 {
			batch, l.buf, l.free = l.buf, l.free, nil
		}
		l.mu.Unlock()
		if batch == nil {
			break
		}
		if l.repeats != nil {
			l.emitSome(ctx, l.repeats.fold(batch))
		} else {
			l.emitSome(ctx, batch)
		}
		clear(batch) // the strings and rules of the batch may be freed
		l.mu.Lock()
		l.free = batch[:0]
		close(l.room)
		l.room = make(chan struct{})
		l.mu.Unlock()
	}
	if l.repeats != nil && (force || l.repeats.due()) {
		held := l.repeats.take()
		l.emitSome(ctx, held)
		clear(held)
	}
}

// emitSome emits a non-empty batch.
func (l *decisionLog) emitSome(ctx context.Context, batch []decisionRecord) {
	if len(batch) > 0 {
		l.emit(ctx, batch)
	}
}

func (l *decisionLog) run() {
	defer close(l.done)
	for {
		select {
		case <-l.quit:
			return
		case <-l.tick:
		case <-l.kick:
		}
		l.drain(l.ctx, false)
	}
}

// stopGoroutine tells the goroutine to stop after its current drain,
// without waiting: Manager.Close calls it first, so that the goroutine
// ends even when Close's context runs out before close is reached (what
// is buffered then waits for a later Close).
func (l *decisionLog) stopGoroutine() {
	l.quitOnce.Do(func() {
		close(l.quit)
		l.stopTick()
	})
}

// close drains the buffer for the last time and stops the goroutine;
// decisions recorded afterwards are emitted one by one on the caller's
// path. If ctx ends first, the goroutine's emit is abandoned and what is
// still buffered is emitted with ctx (so reported as not recorded).
func (l *decisionLog) close(ctx context.Context) {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		close(l.room) // waiting callers see closed
		l.room = make(chan struct{})
		l.mu.Unlock()
		l.stopGoroutine()
		select {
		case <-l.done:
		case <-ctx.Done():
			l.cancel()
			<-l.done
		}
		l.cancel()
		l.drain(ctx, true)
	})
}

// startDecisionLog starts the Manager's decision log, draining every
// Config.DecisionFlushInterval.
func (m *Manager) startDecisionLog() {
	t := time.NewTicker(m.cfg.DecisionFlushInterval)
	var rp *repeats
	if m.cfg.DecisionRepeatWindow > 0 {
		rp = newRepeats(m.cfg.DecisionRepeatWindow, 4*m.cfg.DecisionBufferSize, m.decisionClock.Now)
	}
	m.decisions = newDecisionLog(m.cfg.DecisionBufferSize, t.C, t.Stop, m.emitDecisions, rp)
}

// emitDecisions turns records into audit events and queues them, in
// order. Failures are logged once per batch with the number of decisions
// lost (a folded record counts as all of its): a batch refused by a closed
// queue is hundreds of events, not hundreds of lines.
func (m *Manager) emitDecisions(ctx context.Context, batch []decisionRecord) {
	// One map serves the whole batch: Emit copies the attributes.
	attrs := make(map[string]string, 6)
	lost := 0
	var first error
	for i := range batch {
		e := decisionEvent(&batch[i], attrs)
		if err := m.audit.Emit(ctx, e); err != nil {
			// A folded record is all the decisions it stands for.
			if lost += max(1, batch[i].count); first == nil {
				first = err
			}
		}
	}
	if lost > 0 {
		m.log.Error("authv2: authorization decisions not recorded in the audit trail", "count", lost, "error", first)
	}
}

// decisionEvent is the audit event of one recorded decision; attrs
// becomes its Attributes, overwritten.
func decisionEvent(r *decisionRecord, attrs map[string]string) audit.Event {
	outcome := audit.Success
	if !r.d.Allowed {
		outcome = audit.Denied
	}
	rule := r.d.Rule()
	attrs[audit.AttrAction] = r.res.Type + ":" + r.action
	attrs[audit.AttrResourceType] = r.res.Type
	attrs["resource_tenant"] = r.res.TenantID
	attrs["role"] = rule.Role
	attrs["grant"] = rule.Permission
	attrs["policy_version"] = strconv.FormatInt(r.d.Version, 10)
	if r.apiKeyID != "" {
		attrs[audit.AttrAPIKey] = r.apiKeyID
	} else {
		delete(attrs, audit.AttrAPIKey)
	}
	if r.count > 1 {
		attrs[audit.AttrCount] = strconv.Itoa(r.count)
		attrs[audit.AttrLastAt] = r.last.UTC().Format(time.RFC3339Nano)
	} else {
		delete(attrs, audit.AttrCount)
		delete(attrs, audit.AttrLastAt)
	}
	e := audit.Event{ID: randid.ID(), Time: r.at, Type: audit.TypeAuthorizeDecision, Outcome: outcome,
		ActorUserID: r.userID, ActorSessionID: r.sessionID, ImpersonatorUserID: r.impersonatorID, TenantID: r.tenantID, Scope: r.res.Scope,
		Target: r.res.Type + ":" + r.res.ID, IP: r.ip, UserAgent: r.userAgent,
		DecisionID: r.d.ID.String(), Reason: string(r.d.Reason), Attributes: attrs}
	if r.traceID.IsValid() {
		e.TraceID = r.traceID.String()
	}
	return e
}
