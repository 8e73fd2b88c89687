package authv2

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/session"
)

// endSpan ends a span with the error a flow returned; the pointer form
// lets hot paths defer it without allocating a closure.
func (m *Manager) endSpan(span trace.Span, err *error) { m.tel.End(span, *err) }

// Precomputed attribute sets keep metric recording free of allocations.
var (
	loginSuccess   = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("authv2.outcome", "success")))}
	loginFailure   = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("authv2.outcome", "failure")))}
	loginThrottled = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("authv2.outcome", "throttled")))}
)

// count turns audit events into metrics, so the two never disagree.
func (m *Manager) count(ctx context.Context, e *audit.Event) {
	t := m.tel
	switch e.Type {
	case audit.TypeLoginSuccess:
		t.LoginAttempts.Add(ctx, 1, loginSuccess...)
	case audit.TypeLoginFailure:
		if audit.IsThrottled(e.Reason) {
			t.LoginAttempts.Add(ctx, 1, loginThrottled...)
		} else {
			t.LoginAttempts.Add(ctx, 1, loginFailure...)
		}
	case audit.TypeSessionCreated:
		t.SessionsCreated.Add(ctx, 1)
	case audit.TypeSessionReuse:
		t.TokenReuse.Add(ctx, 1)
	case audit.TypeMFAEnrollStarted, audit.TypeMFAEnrolled, audit.TypeMFAVerify, audit.TypeMFARecoveryCodes, audit.TypeMFARecoveryUsed,
		audit.TypeMFARenamed, audit.TypeMFARemoved, audit.TypeMFADisabled, audit.TypeMFASignCount, audit.TypeLoginMFARequired, audit.TypeStepUp:
		// Rare next to logins: the attribute set is built per event.
		t.MFAEvents.Add(ctx, 1, metric.WithAttributes(attribute.String("authv2.event", string(e.Type)),
			attribute.String("authv2.factor", e.Attributes[audit.AttrFactor]), attribute.String("authv2.outcome", string(e.Outcome))))
	case audit.TypeSessionRevoked, audit.TypeSessionEvicted, audit.TypeLogout, audit.TypeSessionRotated, audit.TypeTenantSwitch:
		reason := e.Reason
		switch e.Type {
		case audit.TypeLogout:
			reason = session.ReasonLogout
		case audit.TypeSessionRotated, audit.TypeTenantSwitch:
			reason = session.ReasonRotated
		}
		t.SessionsRevoked.Add(ctx, 1, metric.WithAttributes(attribute.String("authv2.reason", reason)))
	}
}

// registerMetrics registers the observable instruments: live sessions and
// the audit queue.
func (m *Manager) registerMetrics() ([]metric.Registration, error) {
	t := m.tel
	var regs []metric.Registration
	add := func(r metric.Registration, err error) error {
		if err == nil {
			regs = append(regs, r)
		}
		return err
	}
	err := errors.Join(
		add(t.Gauge("authv2.sessions.active", "Live sessions.", "{session}", func(ctx context.Context) (int64, error) {
			st, err := m.stats.get(ctx, m.clock.Now())
			return int64(st.Live), err
		})),
		add(t.Gauge("authv2.audit.queue.depth", "Audit events waiting for their sinks.", "{event}", func(context.Context) (int64, error) {
			return int64(m.audit.Stats().Queued), nil
		})),
		add(t.Counter("authv2.audit.dropped", "Audit events dropped because the queue was full.", "{event}", func(context.Context) (int64, error) {
			return m.audit.Stats().Dropped, nil
		})),
		add(t.Counter("authv2.permission.cache.misses", "Authorization checks that loaded and compiled a policy; hits are authv2.authz.decisions minus these.", "{check}", func(context.Context) (int64, error) {
			return m.engine.CacheMisses(), nil
		})),
		add(t.Counter("authv2.audit.sink.failures", "Failed audit sink writes (each retried).", "{write}", func(context.Context) (int64, error) {
			return m.audit.Stats().Failed, nil
		})),
	)
	return regs, err
}
