package authv2

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/randid"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

// newDispatcher builds the audit queue in front of the configured sinks.
func (m *Manager) newDispatcher(o options) (*audit.Dispatcher, error) {
	opts := []audit.Option{
		audit.WithQueueSize(o.cfg.AuditQueueSize),
		audit.WithBatchSize(o.cfg.AuditBatchSize),
		audit.WithMaxLatency(o.cfg.AuditMaxLatency),
		audit.WithBackoff(o.cfg.AuditBackoffMin, o.cfg.AuditBackoffMax),
		audit.WithWriteTimeout(o.cfg.AuditWriteTimeout),
	}
	if o.cfg.AuditDropWhenFull {
		opts = append(opts, audit.WithDropWhenFull())
	}
	// Sink failures must reach someone: the Manager's logger, which is
	// slog.Default unless the application gave one.
	opts = append(opts, audit.WithLogger(o.logger))
	if o.journal != nil {
		opts = append(opts, audit.WithOnDelivered(m.forgetDelivered))
	}
	d, err := audit.NewDispatcher(o.sinks, opts...)
	if err != nil {
		return nil, &ConfigError{Field: "Audit", Reason: err.Error()}
	}
	return d, nil
}

func (m *Manager) auditQueryStore() (audit.Store, error) {
	if m.auditStore == nil {
		return nil, ErrNoAuditStore
	}
	return m.auditStore, nil
}

// auditTenant narrows an audit read to the tenant of the actor in ctx
// (WithActor, else the request's principal): an actor whose session is in
// a tenant reads that tenant only, so a tenant administrator's query
// string cannot reach other tenants' events. An empty tenantID becomes the
// actor's tenant, another tenant is ErrNotMember. An actor in no tenant (a
// platform administrator) or none (a job) reads what it asks for.
func auditTenant(ctx context.Context, tenantID string) (string, error) {
	a := actorFrom(ctx)
	if a == nil || a.TenantID == "" {
		return tenantID, nil
	}
	if tenantID != "" && tenantID != a.TenantID {
		return "", fmt.Errorf("authv2: audit of tenant %q read from a session in tenant %q: %w", tenantID, a.TenantID, ErrNotMember)
	}
	return a.TenantID, nil
}

// QueryAudit returns one page of audit events, newest first; pass the
// returned Next as q.Cursor for the following page. An actor whose
// session is in a tenant sees only that tenant's events (see auditTenant;
// events of no tenant, such as account status changes, are not among
// them); so do the other audit reads below.
func (m *Manager) QueryAudit(ctx context.Context, q audit.Query) (audit.Page, error) {
	s, err := m.auditQueryStore()
	if err != nil {
		return audit.Page{}, err
	}
	if q.TenantID, err = auditTenant(ctx, q.TenantID); err != nil {
		return audit.Page{}, err
	}
	p, err := s.Query(ctx, q)
	return p, translate("audit.query", err)
}

// LoginCounts counts successful and failed logins per time bucket.
func (m *Manager) LoginCounts(ctx context.Context, tenantID string, from, to time.Time, bucket time.Duration) ([]audit.Bucket, error) {
	s, err := m.auditQueryStore()
	if err != nil {
		return nil, err
	}
	if tenantID, err = auditTenant(ctx, tenantID); err != nil {
		return nil, err
	}
	b, err := s.LoginCounts(ctx, tenantID, from, to, bucket)
	return b, translate("audit.login_counts", err)
}

// TopDenied ranks the permissions most often denied.
func (m *Manager) TopDenied(ctx context.Context, tenantID string, from, to time.Time, limit int) ([]audit.Count, error) {
	s, err := m.auditQueryStore()
	if err != nil {
		return nil, err
	}
	if tenantID, err = auditTenant(ctx, tenantID); err != nil {
		return nil, err
	}
	c, err := s.TopDenied(ctx, tenantID, from, to, limit)
	return c, translate("audit.top_denied", err)
}

// SessionsPerDevice counts sessions created per device label.
func (m *Manager) SessionsPerDevice(ctx context.Context, tenantID string, from, to time.Time, limit int) ([]audit.Count, error) {
	s, err := m.auditQueryStore()
	if err != nil {
		return nil, err
	}
	if tenantID, err = auditTenant(ctx, tenantID); err != nil {
		return nil, err
	}
	c, err := s.SessionsPerDevice(ctx, tenantID, from, to, limit)
	return c, translate("audit.sessions_per_device", err)
}

// UnusedGrant is a permission a role grants that no check in the window
// was allowed by: a candidate for removal in a least-privilege review.
type UnusedGrant struct {
	Role       string
	Permission string
	// Template: Role is a global template (permission.GlobalTenant) the
	// tenant binds or its roles inherit, unused in this tenant.
	Template bool
}

// UnusedGrants lists, per role, the allow grants of the tenant's roles
// and of the templates they bind or inherit that allowed no
// authorization in [from, to) in that tenant. It does not read the
// audit trail, whose allow decisions are sampled: the engine counts every
// grant's allows in memory, and the Manager writes the counts to the
// audit store every 30 seconds, on FlushAudit and on Close, so a use is
// seen at most that late, and dated to that precision. A grant of a role
// counts as used only when it allowed the check, not when another grant
// or role covering the same permission did.
func (m *Manager) UnusedGrants(ctx context.Context, tenantID string, from, to time.Time) ([]UnusedGrant, error) {
	s, err := m.auditQueryStore()
	if err != nil {
		return nil, err
	}
	if tenantID, err = auditTenant(ctx, tenantID); err != nil {
		return nil, err
	}
	roles, err := m.reviewedRoles(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	var granted []audit.Grant
	for _, r := range roles {
		for _, g := range r.Grants {
			if g.Effect == permission.Allow {
				granted = append(granted, audit.Grant{Role: r.Name, Permission: g.Permission})
			}
		}
	}
	unused, err := s.UnusedGrants(ctx, tenantID, from, to, granted)
	if err != nil {
		return nil, translate("audit.unused_grants", err)
	}
	template := map[string]bool{}
	for _, r := range roles {
		template[r.Name] = r.TenantID == permission.GlobalTenant
	}
	out := make([]UnusedGrant, 0, len(unused))
	for _, g := range unused {
		out = append(out, UnusedGrant{Role: g.Role, Permission: g.Permission, Template: template[g.Role]})
	}
	return out, nil
}

// reviewedRoles returns the tenant's roles, then the templates the tenant
// binds or its roles inherit (a tenant role shadows a template of its
// name, as in the engine).
func (m *Manager) reviewedRoles(ctx context.Context, tenantID string) ([]*permission.Role, error) {
	own, err := m.permissions.ListRoles(ctx, tenantID)
	if err != nil {
		return nil, translate("role.list", err)
	}
	templates, err := m.permissions.ListRoles(ctx, permission.GlobalTenant)
	if err != nil {
		return nil, translate("role.list", err)
	}
	bindings, err := m.permissions.ListBindings(ctx, tenantID, "")
	if err != nil {
		return nil, translate("binding.list", err)
	}
	byName := map[string]*permission.Role{}
	for _, r := range templates {
		byName[r.Name] = r
	}
	var names []string
	for _, r := range own {
		byName[r.Name] = r
		names = append(names, r.Name)
	}
	for _, b := range bindings {
		names = append(names, b.Role)
	}
	out := slices.Clone(own)
	seen := map[string]bool{}
	for len(names) > 0 {
		n := names[len(names)-1]
		names = names[:len(names)-1]
		r := byName[n]
		if r == nil || seen[n] {
			continue
		}
		seen[n] = true
		if r.TenantID == permission.GlobalTenant {
			out = append(out, r)
		}
		names = append(names, r.Parents...)
	}
	// Templates in a stable order, after the tenant's roles.
	slices.SortStableFunc(out[len(own):], func(a, b *permission.Role) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// emit records an audit event: metrics at once, the event through the
// dispatcher's bounded queue. With a Journal (WithAuditJournal), every
// event but an authorization decision is appended to it first, so that
// the flow answers only once its event is durable; an event the Journal
// refused is ErrStoreUnavailable, which a flow that changed state returns
// instead of its success (the change stays made, and the event still goes
// to the queue, best effort). Without one, a full queue makes the caller wait
// (unless the configuration drops and counts), and an event lost because
// the caller's context ended is logged, never silent.
func (m *Manager) emit(ctx context.Context, e audit.Event) error {
	return m.emitAll(ctx, []audit.Event{e})
}

// emitAll records events as emit does, appending those the Journal keeps
// in one write.
func (m *Manager) emitAll(ctx context.Context, events []audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	m.stamp(ctx, events)
	var journaled []audit.Event
	if m.journal != nil {
		journaled = make([]audit.Event, 0, len(events))
		for _, e := range events {
			if journaledType(e.Type) {
				journaled = append(journaled, e)
			}
		}
	}
	var refused error
	if len(journaled) > 0 {
		// The state changed already: its record must not depend on the
		// caller waiting for it.
		if err := m.journal.Append(context.WithoutCancel(ctx), journaled); err != nil {
			m.log.Error("authv2: audit events not made durable: the journal refused them; queued for the sinks all the same", "event_type", string(events[0].Type), "events", len(journaled), "error", err)
			refused = store.Unavailable("audit.journal_append", err)
		}
	}
	// A refused batch still goes to the queue, best effort: the change it
	// records is made (a flow answers ErrStoreUnavailable after it), and
	// the sinks would rather have its event late than never.
	m.queue(ctx, events, refused == nil)
	return refused
}

// stamp gives events their ID, time and trace where they have none, and
// names the real actor in those the actor in ctx makes while
// impersonating (see impersonatedBy).
func (m *Manager) stamp(ctx context.Context, events []audit.Event) {
	sc := trace.SpanContextFromContext(ctx)
	imp := impersonatedBy(ctx)
	for i := range events {
		e := &events[i]
		if imp != nil && e.ImpersonatorUserID == "" && e.ActorUserID == imp.actor && e.ActorSessionID == imp.session {
			e.ImpersonatorUserID = imp.by
		}
		if e.ID == "" {
			e.ID = randid.ID()
		}
		if e.Time.IsZero() {
			e.Time = m.clock.Now().UTC()
		}
		if sc.HasTraceID() {
			e.TraceID = sc.TraceID().String()
		}
	}
}

// queue counts events and hands them to the audit queue. durable says the
// journal has those it keeps (appended, or committed by an outbox write),
// so that one the queue refuses is delivered after the next start.
func (m *Manager) queue(ctx context.Context, events []audit.Event, durable bool) {
	for i := range events {
		e := &events[i]
		m.count(ctx, e)
		if err := m.audit.Emit(ctx, *e); err != nil {
			if durable && m.journal != nil && journaledType(e.Type) {
				// Durable already: the next start delivers it.
				m.log.Warn("authv2: audit event left in the journal for the next start", "event_type", string(e.Type), "event_id", e.ID, "error", err)
				continue
			}
			m.log.Error("authv2: audit event not recorded", "event_type", string(e.Type), "event_id", e.ID, "error", err)
		}
	}
}

// journaledType reports whether events of type t go through the Journal:
// every event of an account, session or administrative flow. Decisions
// stay off the caller's path (they are many, and their loss on a crash is
// bounded elsewhere).
func journaledType(t audit.Type) bool {
	// Key uses and refusals are per request, like decisions: an fsync
	// each would let any client holding a bad key load the disk.
	return t != audit.TypeAuthorizeDecision && t != audit.TypeAPIKeyUsed && t != audit.TypeAPIKeyDenied
}

// forgetDelivered removes from the Journal the events every sink has. A
// failure is logged: the events are then delivered again by the next
// replay (replayJournal), which sinks tolerate (delivery is at least once; stores skip
// known IDs).
func (m *Manager) forgetDelivered(events []audit.Event) {
	ids := make([]string, 0, len(events))
	for i := range events {
		if journaledType(events[i].Type) {
			ids = append(ids, events[i].ID)
		}
	}
	if len(ids) == 0 {
		return
	}
	if err := m.journal.Remove(context.Background(), ids); err != nil {
		m.log.Warn("authv2: removing delivered audit events from the journal failed; they will be delivered again by the next replay", "events", len(ids), "error", err)
	}
}

// replayJournal delivers, in the background, the events an earlier process
// appended to the Journal and did not see delivered to every sink (it
// crashed, or Close gave up). They go through the dispatcher like new
// events and leave the Journal once every sink has them. It reads the
// journal at start (FlushAudit waits for that pass), then again every
// AuditJournalReplayInterval until Close: a journal several instances
// share hands over the events of an instance that died meanwhile, or
// that still held its lock when this one started, and a pass that failed
// is tried again.
func (m *Manager) replayJournal(every time.Duration) {
	defer m.done.Done()
	ctx, cancel := m.stopContext()
	defer cancel()
	m.replayLeftovers(ctx)
	m.inFlight.Done()
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// The previous pass's events must have left the journal first:
		// read again before, they would be leftovers again, and
		// delivered twice.
		if m.audit.Flush(ctx) != nil {
			return // closing
		}
		m.replayLeftovers(ctx)
	}
}

// replayLeftovers is one pass of replayJournal: every page of leftovers,
// through the queue.
func (m *Manager) replayLeftovers(ctx context.Context) {
	after, replayed := "", 0
	for {
		events, next, err := m.journal.Leftover(ctx, after, m.cfg.AuditBatchSize)
		if err != nil {
			if ctx.Err() == nil {
				m.log.Error("authv2: reading the audit journal failed; its leftover events wait for the next replay", "replayed", replayed, "error", err)
			}
			return
		}
		for _, e := range events {
			if err := m.audit.Emit(ctx, e); err != nil {
				return // closing: the events stay for the next start
			}
			replayed++
		}
		if next == "" {
			if replayed > 0 {
				m.log.Info("authv2: audit events left by an earlier process replayed", "events", replayed)
			}
			return
		}
		after = next
	}
}
