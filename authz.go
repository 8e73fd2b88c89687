package authv2

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/authv2/authv2/permission"
)

// subject is who a principal is to the permission engine: its session's
// tenant and scope bound the check, and conditions see its attributes.
func subject(p *Principal) permission.Subject {
	attrs := p.subjectAttrs
	if attrs == nil && len(p.Attributes) > 0 {
		// A Principal built by hand (WithPrincipal in tests) has no
		// converted copy.
		attrs = subjectAttributes(p.Attributes)
	}
	return permission.Subject{UserID: p.UserID, TenantID: p.TenantID, Scope: p.Scope, Attributes: attrs}
}

// Prebuilt option slices: passing them with ... allocates nothing, while
// a fresh variadic argument to an interface method escapes to the heap.
var (
	decisionAllow = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("authv2.effect", "allow")))}
	decisionDeny  = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("authv2.effect", "deny")))}
)

// Authorize decides whether the principal may perform action (a verb such
// as "refund") on res; the permission checked is res.Type + ":" + action,
// e.g. "orders:refund". Deny beats allow, no matching
// grant is deny, and a resource of another tenant than the session's is
// always deny. A nil principal (anonymous) is denied. A store failure
// denies and returns the error: authorization fails closed. Every denial
// is audited, and a sample of allows (Config.AuditAllowRate): with the
// decision's ID, unless it repeats one made earlier in the
// Config.DecisionRepeatWindow, when it is counted in its kind's event
// instead.
func (m *Manager) Authorize(ctx context.Context, p *Principal, action string, res permission.Resource) (permission.Decision, error) {
	return m.AuthorizeRequest(ctx, p, action, res, permission.Request{})
}

// AuthorizeRequest is Authorize with facts about the request that
// conditions can read as request.<name> (an amount, an order total). A
// zero req.Time means now; an empty req.IP means the principal's client.
func (m *Manager) AuthorizeRequest(ctx context.Context, p *Principal, action string, res permission.Resource, req permission.Request) (d permission.Decision, err error) {
	ctx, span := m.tel.StartHot(ctx, "authv2.Authorize")
	defer m.endSpan(span, &err)
	if p == nil {
		return permission.Decision{Effect: permission.Deny}, ErrUnauthenticated
	}
	if req.IP == "" {
		req.IP = p.Client.IP
	}
	d, err = m.engine.Authorize(ctx, subject(p), action, res, req)
	if err != nil {
		err = authzError(err)
	} else {
		err = m.refine(p, action, &res, &d)
	}
	m.recordDecision(ctx, p, action, &res, &d)
	return d, err
}

// Can is the boolean shorthand of Authorize: true only for a clear allow.
func (m *Manager) Can(ctx context.Context, p *Principal, action string, res permission.Resource) bool {
	d, err := m.Authorize(ctx, p, action, res)
	return err == nil && d.Allowed
}

// AuthorizeBatch decides many (action, resource) pairs for one principal
// and one request, compiling the policy once. req is as in
// AuthorizeRequest: a zero req.Time means now, an empty req.IP the
// principal's client.
func (m *Manager) AuthorizeBatch(ctx context.Context, p *Principal, qs []permission.Query, req permission.Request) ([]permission.Decision, error) {
	if p == nil {
		return nil, ErrUnauthenticated
	}
	if req.IP == "" {
		req.IP = p.Client.IP
	}
	ds, err := m.engine.AuthorizeBatch(ctx, subject(p), req, qs)
	if err != nil {
		// Every query is denied: each denial is audited, as Authorize's
		// is on a store failure.
		for i := range ds {
			m.recordDecision(ctx, p, qs[i].Action, &qs[i].Resource, &ds[i])
		}
		return ds, authzError(err)
	}
	for i := range ds {
		// The denial's reason says a step-up is needed; CheckAssurance
		// says what is missing.
		_ = m.refine(p, qs[i].Action, &qs[i].Resource, &ds[i])
		m.recordDecision(ctx, p, qs[i].Action, &qs[i].Resource, &ds[i])
	}
	return ds, nil
}

// Explain returns the full trace of a decision: every binding and grant
// considered and why each did or did not apply.
func (m *Manager) Explain(ctx context.Context, p *Principal, action string, res permission.Resource, req permission.Request) (*permission.Explanation, error) {
	if p == nil {
		return nil, ErrUnauthenticated
	}
	if req.IP == "" {
		req.IP = p.Client.IP
	}
	x, err := m.engine.Explain(ctx, subject(p), action, res, req)
	if err != nil {
		return nil, authzError(err)
	}
	// The decision is Authorize's: the engine's, then the Manager's own
	// refinements (an API key's patterns, a step-up the session lacks),
	// whose reason the trace then explains.
	_ = m.refine(p, action, &res, &x.Decision)
	return x, nil
}

// EffectivePermissions lists what a user holds in a tenant at a scope, for
// UIs ("what can I do here?").
func (m *Manager) EffectivePermissions(ctx context.Context, userID, tenantID, scope string) ([]permission.Rule, error) {
	rules, err := m.engine.EffectivePermissions(ctx, tenantID, userID, scope)
	return rules, authzError(err)
}

// Who lists the users of a tenant allowed to perform action on res, for
// admin screens and access reviews.
func (m *Manager) Who(ctx context.Context, tenantID, action string, res permission.Resource) ([]string, error) {
	users, err := m.engine.Who(ctx, tenantID, action, res, permission.Request{})
	return users, authzError(err)
}

// recordDecision counts the decision and audits every denial and a sample
// of allows. The sample is taken from the decision ID's 64 random bits
// (its second half), so it needs no random source of its own, and rates
// down to one in billions are honoured. Auditing copies a record into the
// decision log (decisionlog.go); the event is built off the caller's path.
func (m *Manager) recordDecision(ctx context.Context, p *Principal, action string, res *permission.Resource, d *permission.Decision) {
	if d.Allowed {
		m.tel.Decisions.Add(ctx, 1, decisionAllow...)
		rate := m.cfg.AuditAllowRate
		if rate == 0 || float64(binary.BigEndian.Uint64(d.ID[8:])>>11)/(1<<53) >= rate {
			return
		}
	} else {
		m.tel.Decisions.Add(ctx, 1, decisionDeny...)
	}
	r := decisionRecord{userID: p.UserID, sessionID: p.SessionID, tenantID: p.TenantID, ip: p.Client.IP, userAgent: p.Client.UserAgent,
		action: action, res: *res, d: *d, at: m.decisionClock.Now(), traceID: trace.SpanContextFromContext(ctx).TraceID()}
	if p.Impersonator != nil {
		r.impersonatorID = p.Impersonator.UserID
	}
	if p.APIKey != nil {
		r.apiKeyID = p.APIKey.ID
	}
	m.decisions.add(ctx, &r)
}

// validateRole checks a role before it is written: names, effects,
// permission syntax, and conditions that compile (the CEL error and its
// position are in the *permission.ConditionError errors.As finds).
func (m *Manager) validateRole(r *permission.Role) error {
	if err := m.engine.ValidateRole(r); err != nil {
		return fromInvalidRole(err)
	}
	return nil
}

// validateBinding checks a binding before it is written.
func (m *Manager) validateBinding(b permission.Binding) error {
	if err := permission.ValidateBinding(b); err != nil {
		return fromInvalidRole(err)
	}
	return nil
}

// fromInvalidRole turns the engine's list of problems into a
// ValidationError that keeps the typed cause.
func fromInvalidRole(err error) error {
	var ire *permission.InvalidRoleError
	if !errors.As(err, &ire) {
		return err
	}
	ve := &ValidationError{Err: err}
	for _, pr := range ire.Problems {
		ve.Fields = append(ve.Fields, FieldError{Field: pr.Field, Reason: pr.Reason})
	}
	return ve
}

// policyChanged tells this instance's permission cache, and through the
// policy bus every other instance, that a tenant's policy changed. A bus
// failure is logged: other instances still catch up by polling.
func (m *Manager) policyChanged(ctx context.Context, tenantID string) {
	if err := m.engine.PolicyChanged(ctx, tenantID); err != nil {
		m.log.Warn("authv2: announcing a policy change failed", "tenant_id", tenantID, "error", err)
	}
}

// Roles returns the roles the principal holds in its session's tenant
// (from active bindings), sorted. Authenticate does not load them, so the
// hot path stays one store read; call this when a handler needs them.
func (m *Manager) Roles(ctx context.Context, p *Principal) ([]string, error) {
	if p == nil {
		return nil, ErrUnauthenticated
	}
	if p.TenantID == "" {
		return nil, nil
	}
	bs, err := m.permissions.ListBindings(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, translate("binding.list", err)
	}
	now := m.clock.Now()
	var roles []string
	for _, b := range bs {
		if b.ActiveAt(now) && !slices.Contains(roles, b.Role) {
			roles = append(roles, b.Role)
		}
	}
	slices.Sort(roles)
	return roles, nil
}
