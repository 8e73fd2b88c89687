package permission

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/google/cel-go/cel"

	"github.com/authv2/authv2/internal/clock"
)

// Clock tells the engine the time: binding expiry and request.time read it.
type Clock interface {
	Now() time.Time
}

// Defaults of an Engine.
const (
	DefaultCacheSize    = 1 << 17
	DefaultMaxStaleness = 50 * time.Millisecond
	DefaultCostLimit    = 10000
)

type engineConfig struct {
	clock     Clock
	cacheSize int
	maxStale  time.Duration
	costLimit uint64
	bus       PolicyBus
	celOpts   []cel.EnvOption
	err       error
}

// EngineOption configures NewEngine.
type EngineOption interface{ apply(*engineConfig) }

type engineOptionFunc func(*engineConfig)

func (f engineOptionFunc) apply(c *engineConfig) { f(c) }

// WithClock sets the clock for binding expiry and request.time (the
// system clock by default). How often the store is re-read is paced by
// real time regardless, so a frozen test clock does not freeze
// invalidation.
func WithClock(c Clock) EngineOption {
	return engineOptionFunc(func(cfg *engineConfig) {
		if c == nil {
			cfg.err = errors.New("authv2/permission: WithClock(nil)")
			return
		}
		cfg.clock = c
	})
}

// WithCacheSize bounds how many users (per tenant they are checked in)
// the engine remembers (DefaultCacheSize). A remembered user is a small
// entry pointing at a compiled policy, which every user of the tenant
// with the same bindings (roles, scopes, expiries) shares; a policy lives
// while a remembered user points at it, so the bound covers policies too.
// Size it to the users active at once: a forgotten user's next check
// reads the store. Zero remembers nothing: every check loads the policy,
// which is only sensible in tests.
func WithCacheSize(n int) EngineOption {
	return engineOptionFunc(func(cfg *engineConfig) {
		if n < 0 {
			cfg.err = fmt.Errorf("authv2/permission: WithCacheSize(%d): must not be negative", n)
			return
		}
		cfg.cacheSize = n
	})
}

// WithMaxStaleness sets how long the engine trusts its idea of a tenant's
// policy version before asking the store again (DefaultMaxStaleness). It
// bounds how long a revoked permission keeps working on this instance when
// no bus message arrives. Zero asks the store on every check; a negative
// value never asks on its own, leaving invalidation to the bus,
// Invalidate and PolicyChanged (after which the next check of each
// affected tenant asks once).
func WithMaxStaleness(d time.Duration) EngineOption {
	return engineOptionFunc(func(cfg *engineConfig) { cfg.maxStale = d })
}

// WithBus connects the engine to a policy bus: it subscribes to learn of
// other instances' writes, and PolicyChanged publishes this instance's.
func WithBus(b PolicyBus) EngineOption {
	return engineOptionFunc(func(cfg *engineConfig) { cfg.bus = b })
}

// WithCostLimit caps the CEL cost of evaluating one condition
// (DefaultCostLimit). A condition over the limit fails to evaluate: an
// allow does not match, a deny denies.
func WithCostLimit(n uint64) EngineOption {
	return engineOptionFunc(func(cfg *engineConfig) {
		if n == 0 {
			cfg.err = errors.New("authv2/permission: WithCostLimit(0)")
			return
		}
		cfg.costLimit = n
	})
}

// WithFunction registers an application function for conditions, e.g.
//
//	permission.WithFunction("isWeekday",
//		cel.Overload("isWeekday_timestamp", []*cel.Type{cel.TimestampType}, cel.BoolType,
//			cel.UnaryBinding(func(v ref.Val) ref.Val { ... })))
//
// It is cel.Function under a name that reads well among engine options.
func WithFunction(name string, opts ...cel.FunctionOpt) EngineOption {
	return engineOptionFunc(func(cfg *engineConfig) { cfg.celOpts = append(cfg.celOpts, cel.Function(name, opts...)) })
}

// WithCELOptions adds any CEL environment options (extension libraries
// such as ext.Strings(), constants, more functions).
func WithCELOptions(opts ...cel.EnvOption) EngineOption {
	return engineOptionFunc(func(cfg *engineConfig) { cfg.celOpts = append(cfg.celOpts, opts...) })
}

// Engine compiles each set of bindings in a tenant once, points the users
// holding it at the compiled form, and answers checks from it. It is safe for concurrent use.
type Engine struct {
	store    Store
	clock    Clock // nil: time.Now
	conds    *conditions
	maxStale int64
	bus      PolicyBus
	stopBus  func()
	closed   atomic.Bool
	ticker   *clock.Coarse // wall and monotonic time for the hot path (time.Now costs more than a warm check)

	cache   *cache
	misses  atomic.Int64 // policy loads, for CacheMisses
	intern  *interner
	tmu     sync.RWMutex
	tenants map[string]*tenantState

	fmu     sync.Mutex
	flights map[flightKey]*flight

	idKey uint64 // mixed into decision IDs, random per engine
	usage *usage // grant use counters, for TakeGrantUse
}

// tenantState is what the engine knows of one tenant's policy version.
type tenantState struct {
	known      atomic.Int64 // highest version heard of
	checked    atomic.Int64 // engine-monotonic ns of the last store read; 0: must read
	resets     atomic.Int64 // how many times checked was reset to 0 (forced re-reads)
	refreshing atomic.Bool

	smu   sync.Mutex                           // guards sets and swept, serialises vocabulary writers
	sets  map[string]weak.Pointer[compiledSet] // by signature, see shared
	swept int                                  // len(sets) after the last sweep
	vocab atomic.Pointer[vocab]                // the exact permissions the tenant's sets name, numbered
	who   atomic.Pointer[whoIndex]
}

// mustRecheck makes the next check re-read the tenant's version.
func (ts *tenantState) mustRecheck() {
	ts.resets.Add(1)
	ts.checked.Store(0)
}

func (ts *tenantState) observe(v int64) {
	for {
		old := ts.known.Load()
		if v <= old || ts.known.CompareAndSwap(old, v) {
			return
		}
	}
}

// NewEngine returns an engine reading policy from s.
func NewEngine(s Store, opts ...EngineOption) (*Engine, error) {
	if s == nil {
		return nil, errors.New("authv2/permission: NewEngine: nil store")
	}
	cfg := engineConfig{cacheSize: DefaultCacheSize, maxStale: DefaultMaxStaleness, costLimit: DefaultCostLimit}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if cfg.err != nil {
		return nil, cfg.err
	}
	conds, err := newConditions(cfg.costLimit, cfg.celOpts)
	if err != nil {
		return nil, fmt.Errorf("authv2/permission: CEL environment: %w", err)
	}
	e := &Engine{
		store: s, clock: cfg.clock, conds: conds, bus: cfg.bus, ticker: clock.NewCoarse(time.Millisecond, 1000), intern: newInterner(),
		tenants: map[string]*tenantState{}, flights: map[flightKey]*flight{}, idKey: rand.Uint64(), usage: newUsage(),
	}
	e.maxStale = int64(cfg.maxStale)
	if cfg.maxStale < 0 {
		e.maxStale = -1
	}
	if cfg.cacheSize > 0 {
		e.cache = newCache(cfg.cacheSize)
	}
	if cfg.bus != nil {
		stop, err := cfg.bus.Subscribe(context.Background(), e.Invalidate)
		if err != nil {
			return nil, fmt.Errorf("authv2/permission: subscribe to policy bus: %w", err)
		}
		e.stopBus = stop
	}
	return e, nil
}

// Close stops listening to the bus. Checks after Close fail with
// ErrClosed. Close is idempotent.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	if e.stopBus != nil {
		e.stopBus()
	}
	e.ticker.Close()
	return nil
}

// Invalidate records that tenantID's policy is at version (or newer):
// compiled sets of older versions are recompiled at their next use. A
// bus calls it for other instances' writes. GlobalTenant (a template
// changed) makes every tenant re-read its version from the store.
func (e *Engine) Invalidate(tenantID string, version int64) {
	if tenantID == GlobalTenant {
		e.tmu.RLock()
		for _, ts := range e.tenants {
			ts.mustRecheck()
		}
		e.tmu.RUnlock()
		return
	}
	e.tenant(tenantID).observe(version)
}

// PolicyChanged is what the writer of a policy change calls afterwards: it
// reads the tenant's new version, applies it here at once and publishes
// it on the bus for other instances. A bus failure is returned, but this
// instance is already up to date and others catch up by polling.
func (e *Engine) PolicyChanged(ctx context.Context, tenantID string) error {
	v, err := e.store.Version(ctx, tenantID)
	if err != nil {
		// We cannot name the version; make sure we re-read it.
		e.forceRecheck(tenantID)
		return err
	}
	e.Invalidate(tenantID, v)
	if tenantID != GlobalTenant {
		// The version we read may already be newer than a set being
		// compiled right now; force the next check to re-read anyway.
		e.forceRecheck(tenantID)
	}
	if e.bus != nil {
		return e.bus.Publish(ctx, tenantID, v)
	}
	return nil
}

func (e *Engine) forceRecheck(tenantID string) {
	if tenantID == GlobalTenant {
		e.Invalidate(GlobalTenant, 0)
		return
	}
	e.tenant(tenantID).mustRecheck()
}

func (e *Engine) tenant(id string) *tenantState {
	e.tmu.RLock()
	ts := e.tenants[id]
	e.tmu.RUnlock()
	if ts != nil {
		return ts
	}
	e.tmu.Lock()
	defer e.tmu.Unlock()
	if ts = e.tenants[id]; ts == nil {
		ts = &tenantState{}
		e.tenants[id] = ts
	}
	return ts
}

// times returns the policy time (unix nanoseconds) and engine-monotonic
// nanoseconds (> 0), from the coarse clock unless a clock was injected.
func (e *Engine) times() (int64, int64) {
	wall, mono := e.ticker.Nanos()
	if e.clock != nil {
		return e.clock.Now().UnixNano(), mono
	}
	return wall, mono
}

// newID makes a decision ID: the engine's random key mixed with the
// coarse clock, then 64 random bits from the runtime's per-thread
// generator. Two IDs can only meet within one clock tick of one engine,
// and then only if 64 random bits repeat. A shared counter would be
// simpler, but concurrent checks would fight over its cache line.
func (e *Engine) newID(id *DecisionID, mono int64) {
	binary.BigEndian.PutUint64(id[:8], e.idKey^uint64(mono))
	binary.BigEndian.PutUint64(id[8:], rand.Uint64())
}

// fresh makes sure the engine's idea of the tenant's version is at most
// maxStale old, reading the store when it is not. Only one caller per
// tenant reads at a time; the others go on with what is known for up to
// twice maxStale.
func (e *Engine) fresh(ctx context.Context, tenant string, ts *tenantState, mono int64) error {
	// checked == 0 means "must read", whatever maxStale says: it is how
	// a template change (Invalidate(GlobalTenant)) and PolicyChanged
	// reach tenants, also on an engine that never polls.
	last := ts.checked.Load()
	if last != 0 && (e.maxStale < 0 || mono-last < e.maxStale) {
		return nil
	}
	if ts.refreshing.CompareAndSwap(false, true) {
		defer ts.refreshing.Store(false)
	} else if last != 0 && mono-last < 2*e.maxStale {
		return nil
	}
	v, err := e.store.Version(ctx, tenant)
	if err != nil {
		return err
	}
	ts.observe(v)
	ts.checked.CompareAndSwap(last, mono)
	return nil
}

// set returns the user's compiled policy, from the cache when it is
// current.
func (e *Engine) set(ctx context.Context, tenant, user string, now, mono int64) (*compiledSet, error) {
	var cs *compiledSet
	if e.cache != nil {
		cs = e.cache.get(tenant, user)
	}
	if cs == nil {
		// Loading the policy tells us the version too: no need to ask
		// the store for it first.
		return e.load(ctx, flightKey{tenant, user}, e.tenant(tenant), now, mono)
	}
	if err := e.fresh(ctx, tenant, cs.ts, mono); err != nil {
		return nil, err
	}
	if cs.version >= cs.ts.known.Load() && now < cs.validUntil {
		return cs, nil
	}
	return e.load(ctx, flightKey{tenant, user}, cs.ts, now, mono)
}

// flightKey names a policy load: one per (tenant, user) at a time.
type flightKey struct{ tenant, user string }

type flight struct {
	done chan struct{}
	cs   *compiledSet
	err  error
}

// load compiles the user's policy from the store, once for concurrent
// callers asking for the same (tenant, user).
func (e *Engine) load(ctx context.Context, k flightKey, ts *tenantState, now, mono int64) (*compiledSet, error) {
	e.misses.Add(1)
	e.fmu.Lock()
	for {
		f, ok := e.flights[k]
		if !ok {
			break
		}
		e.fmu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		// The leader's own deadline or cancellation is not ours: load
		// again rather than fail a caller whose context is fine.
		if f.err == nil || !(errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) {
			return f.cs, f.err
		}
		e.fmu.Lock()
	}
	f := &flight{done: make(chan struct{})}
	e.flights[k] = f
	e.fmu.Unlock()

	resets, last := ts.resets.Load(), ts.checked.Load()
	p, err := e.store.LoadPolicy(ctx, k.tenant, k.user)
	if err == nil {
		f.cs = e.compileShared(p, ts, now)
		ts.observe(p.Version)
		// The load read the version: it counts as a check, unless a
		// re-read was forced meanwhile (it may be about a newer version
		// than the one this load saw).
		if ts.resets.Load() == resets {
			ts.checked.CompareAndSwap(last, mono)
		}
		if e.cache != nil {
			e.cache.put(k.tenant, k.user, f.cs, mono)
		}
	}
	f.err = err
	e.fmu.Lock()
	delete(e.flights, k)
	e.fmu.Unlock()
	close(f.done)
	return f.cs, f.err
}

// compileShared returns the set for p's signature at p's version: the
// one another user of the tenant already holds, or a new one.
func (e *Engine) compileShared(p *Policy, ts *tenantState, now int64) *compiledSet {
	sig := signature(p, now)
	if cs := ts.lookupShared(sig, p.Version); cs != nil {
		return cs
	}
	cs := compileSet(p, e.conds, e.intern, now, e.usage, ts.number)
	cs.ts = ts
	return ts.shared(sig, cs)
}

// precheck refuses what no policy can allow: a subject without a user or
// tenant, a resource of another tenant, a malformed resource scope, a
// resource outside the session's scope, a request without a concrete
// action and resource type.
func precheck(subj *Subject, action string, res *Resource) (Reason, error) {
	switch {
	case action == "" || action == Wildcard || res.Type == "" || res.Type == Wildcard:
		return ReasonInvalid, ErrInvalidRequest
	case subj.UserID == "":
		return ReasonAnonymous, nil
	case subj.TenantID == "":
		return ReasonNoTenant, nil
	case res.TenantID != subj.TenantID:
		return ReasonCrossTenant, nil
	}
	// A resource scope often comes from request input; grants match it by
	// prefix, so a malformed one ("region:eu/../region:us") must never
	// reach them. The session's own scope was checked when it was set.
	if res.Scope != subj.Scope {
		if err := ValidateScope(res.Scope); err != nil {
			return ReasonInvalid, err
		}
	}
	switch {
	case !ScopeCovers(subj.Scope, res.Scope):
		return ReasonOutsideScope, nil
	}
	return "", nil
}

// Authorize decides whether subj may perform action on res. Any error
// (store unreachable, engine closed, invalid request) comes with a deny:
// callers that ignore the error still fail closed.
func (e *Engine) Authorize(ctx context.Context, subj Subject, action string, res Resource, req Request) (d Decision, err error) {
	// d is filled in place, field by field: building a Decision and then
	// copying it out costs more than the rest of a warm check.
	now, mono := e.times()
	d.Effect = Deny
	e.newID(&d.ID, mono)
	if e.closed.Load() {
		d.Reason = ReasonError
		return d, ErrClosed
	}
	if why, err := precheck(&subj, action, &res); why != "" {
		d.Reason = why
		return d, err
	}
	cs, err := e.set(ctx, subj.TenantID, subj.UserID, now, mono)
	if err != nil {
		d.Reason = ReasonError
		return d, err
	}
	q := query{subj: &subj, res: &res, req: &req, action: action, nowNs: now}
	cs.decide(&d, &q)
	q.use.add()
	return d, nil
}

// Check reports whether subj may perform action on res; any error is a
// no. Use Authorize to learn why.
func (e *Engine) Check(ctx context.Context, subj Subject, action string, res Resource, req Request) bool {
	d, err := e.Authorize(ctx, subj, action, res, req)
	return err == nil && d.Allowed
}

// Query is one (action, resource) pair of a batch.
type Query struct {
	Action   string
	Resource Resource
}

// AuthorizeBatch decides many queries for one subject and request,
// reading the subject's policy once. Decisions are in query order. An
// invalid query gets a deny with ReasonInvalid and does not fail the
// batch; a store failure fails it (every decision a deny).
func (e *Engine) AuthorizeBatch(ctx context.Context, subj Subject, req Request, qs []Query) ([]Decision, error) {
	out := make([]Decision, len(qs))
	now, mono := e.times()
	if e.closed.Load() {
		for i := range out {
			out[i] = Decision{Effect: Deny, Reason: ReasonError}
			e.newID(&out[i].ID, mono)
		}
		return out, ErrClosed
	}
	var cs *compiledSet
	for i := range qs {
		d := &out[i]
		*d = Decision{Effect: Deny}
		e.newID(&d.ID, mono)
		if why, _ := precheck(&subj, qs[i].Action, &qs[i].Resource); why != "" {
			d.Reason = why
			continue
		}
		if cs == nil {
			var err error
			if cs, err = e.set(ctx, subj.TenantID, subj.UserID, now, mono); err != nil {
				for j := range out {
					out[j].Allowed, out[j].Effect, out[j].Reason, out[j].rule = false, Deny, ReasonError, nil
					if out[j].ID.IsZero() {
						e.newID(&out[j].ID, mono)
					}
				}
				return out, err
			}
		}
		q := query{subj: &subj, res: &qs[i].Resource, req: &req, action: qs[i].Action, nowNs: now}
		cs.decide(d, &q)
		q.use.add()
	}
	return out, nil
}

// ValidateRole checks a role before it is written: its name, parents,
// permissions, effects, and that every condition compiles to a bool in
// this engine's CEL environment (with its registered functions). It
// returns an *InvalidRoleError listing every problem; a condition's comes
// with a *ConditionError giving CEL's message and position.
func (e *Engine) ValidateRole(r *Role) error {
	if r == nil {
		return &InvalidRoleError{Problems: []Problem{{Field: "Role", Reason: "is nil"}}}
	}
	ps := validateRoleShape(r)
	for i, g := range r.Grants {
		if g.Condition == "" || len(g.Condition) > maxConditionLen {
			continue
		}
		if _, err := e.conds.compile(g.Condition); err != nil {
			var ce *ConditionError
			reason := err.Error()
			if errors.As(err, &ce) && len(ce.Issues) > 0 {
				is := ce.Issues[0]
				reason = fmt.Sprintf("does not compile: %d:%d: %s", is.Line, is.Column, is.Message)
			}
			ps = append(ps, Problem{Field: fmt.Sprintf("Grants[%d].Condition", i), Reason: reason, Err: err})
		}
	}
	if len(ps) > 0 {
		return &InvalidRoleError{Role: r.Name, Problems: ps}
	}
	return nil
}

// CompileCondition type-checks one condition in this engine's CEL
// environment: nil, or a *ConditionError.
func (e *Engine) CompileCondition(src string) error {
	_, err := e.conds.compile(src)
	return err
}

// CacheMisses reports how many checks had to load and compile a user's
// policy (a cache miss), for metrics. Hits are the checks minus the
// misses; counting them here would put a shared counter on the hot path.
func (e *Engine) CacheMisses() int64 { return e.misses.Load() }
