// Package telemetry holds authv2's OpenTelemetry instruments. The library
// depends on the OpenTelemetry API only; the application brings the SDK.
package telemetry

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/authv2/authv2/store"
)

// ScopeName is the instrumentation scope of every span and instrument.
const ScopeName = "github.com/authv2/authv2"

// T holds the tracer and the instruments.
type T struct {
	tracer   trace.Tracer
	tracing  bool
	metrics  bool
	explicit bool
	meter    metric.Meter

	LoginAttempts   metric.Int64Counter
	SessionsCreated metric.Int64Counter
	SessionsRevoked metric.Int64Counter
	TokenReuse      metric.Int64Counter
	Decisions       metric.Int64Counter
	MFAEvents       metric.Int64Counter
	StoreDuration   metric.Float64Histogram

	// Outcome names an expected error for span and metric attributes; the
	// root package sets it, since it owns the sentinels.
	Outcome func(error) string
}

// New builds the instruments from the providers. A no-op tracer provider
// turns span creation off entirely, which keeps Authenticate free of the
// context allocation a span would cost.
//
// explicit says the tracer provider was given by the application rather
// than taken from the global one; see StartHot.
func New(tp trace.TracerProvider, mp metric.MeterProvider, explicit bool) (*T, error) {
	_, noTrace := tp.(tracenoop.TracerProvider)
	_, noMetrics := mp.(metricnoop.MeterProvider)
	t := &T{tracer: tp.Tracer(ScopeName), tracing: !noTrace, metrics: !noMetrics, explicit: explicit, meter: mp.Meter(ScopeName), Outcome: defaultOutcome}
	var errs []error
	counter := func(name, desc, unit string) metric.Int64Counter {
		c, err := t.meter.Int64Counter(name, metric.WithDescription(desc), metric.WithUnit(unit))
		errs = append(errs, err)
		return c
	}
	t.LoginAttempts = counter("authv2.login.attempts", "Login attempts by outcome.", "{attempt}")
	t.SessionsCreated = counter("authv2.sessions.created", "Sessions created.", "{session}")
	t.SessionsRevoked = counter("authv2.sessions.revoked", "Sessions revoked, by reason.", "{session}")
	t.TokenReuse = counter("authv2.sessions.token_reuse", "Tokens presented after their session was rotated away (copied tokens).", "{token}")
	t.Decisions = counter("authv2.authz.decisions", "Authorization decisions, by effect.", "{decision}")
	t.MFAEvents = counter("authv2.mfa.events", "Multi-factor events (enrollment, verification, recovery-code use, removal, sign-count anomalies, step-ups), by event type, factor and outcome.", "{event}")
	h, err := t.meter.Float64Histogram("authv2.store.duration", metric.WithDescription("Duration of store calls."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
	errs = append(errs, err)
	t.StoreDuration = h
	return t, errors.Join(errs...)
}

// Gauge registers an observable gauge read by fn at each collection.
func (t *T) Gauge(name, desc, unit string, fn func(ctx context.Context) (int64, error)) (metric.Registration, error) {
	g, err := t.meter.Int64ObservableGauge(name, metric.WithDescription(desc), metric.WithUnit(unit))
	if err != nil {
		return nil, err
	}
	return t.observe(g, fn)
}

// Counter registers an observable monotonic counter read by fn.
func (t *T) Counter(name, desc, unit string, fn func(ctx context.Context) (int64, error)) (metric.Registration, error) {
	c, err := t.meter.Int64ObservableCounter(name, metric.WithDescription(desc), metric.WithUnit(unit))
	if err != nil {
		return nil, err
	}
	return t.observe(c, fn)
}

// observe reports fn's value for inst at each collection.
func (t *T) observe(inst metric.Int64Observable, fn func(ctx context.Context) (int64, error)) (metric.Registration, error) {
	return t.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		n, err := fn(ctx)
		if err != nil {
			return err
		}
		o.ObserveInt64(inst, n)
		return nil
	}, inst)
}

// noopSpan is boxed once, so returning it allocates nothing.
var noopSpan trace.Span = tracenoop.Span{}

// Start begins a span; with tracing off it returns ctx unchanged and a
// no-op span, allocating nothing.
func (t *T) Start(ctx context.Context, name string) (context.Context, trace.Span) {
	if !t.tracing {
		return ctx, noopSpan
	}
	return t.tracer.Start(ctx, name)
}

// StartHot begins a span on a hot path (Authenticate, Authorize). With
// the global provider it starts one only inside a recording span — a
// traced request — so that an application without an OpenTelemetry SDK
// does not pay for spans nobody records; a provider given explicitly
// always gets them.
func (t *T) StartHot(ctx context.Context, name string) (context.Context, trace.Span) {
	if !t.tracing || (!t.explicit && !trace.SpanFromContext(ctx).IsRecording()) {
		return ctx, noopSpan
	}
	return t.tracer.Start(ctx, name)
}

// End finishes span, marking it failed only for errors that are failures
// of authv2 or a store. Expected outcomes — not found, wrong password,
// expired session — are recorded as an attribute, not as span errors.
func (t *T) End(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		if IsFailure(err) {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		} else {
			span.SetAttributes(attribute.String("authv2.outcome", t.Outcome(err)))
		}
	}
	span.End()
}

// IsFailure reports whether err means something broke (a store outage, a
// cancelled context) rather than an expected refusal.
func IsFailure(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

func defaultOutcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, store.ErrNotFound):
		return "not_found"
	case errors.Is(err, store.ErrConflict):
		return "conflict"
	}
	return "error"
}
