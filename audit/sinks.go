package audit

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
)

// SlogSink writes each event as one structured log record, message
// "audit". With slog's JSON handler that is one line per event whatever the
// fields contain: the handler escapes CR, LF and every other control
// character, in attribute keys as in values, so a crafted email or user
// agent cannot forge a log line. (slog's text handler quotes such strings,
// so it too keeps one line per event.) The event's own time is logged as
// "event_time", apart from the record's "time".
type SlogSink struct {
	Logger *slog.Logger
	Level  slog.Level
}

// NewSlogSink returns a sink logging at Info to l.
func NewSlogSink(l *slog.Logger) *SlogSink { return &SlogSink{Logger: l, Level: slog.LevelInfo} }

// Write logs the events.
func (s *SlogSink) Write(ctx context.Context, events []Event) error {
	if s.Logger == nil {
		return errors.New("audit: SlogSink has no logger")
	}
	for i := range events {
		e := &events[i]
		attrs := []slog.Attr{
			slog.String("event_id", e.ID),
			slog.Time("event_time", e.Time.UTC()),
			slog.String("type", string(e.Type)),
			slog.String("outcome", string(e.Outcome)),
		}
		add := func(k, v string) {
			if v != "" {
				attrs = append(attrs, slog.String(k, v))
			}
		}
		add("actor_user_id", e.ActorUserID)
		add("actor_session_id", e.ActorSessionID)
		add("impersonator_user_id", e.ImpersonatorUserID)
		add("tenant_id", e.TenantID)
		add("scope", e.Scope)
		add("target", e.Target)
		add("ip", e.IP)
		add("user_agent", e.UserAgent)
		add("decision_id", e.DecisionID)
		add("trace_id", e.TraceID)
		add("reason", e.Reason)
		if len(e.Attributes) > 0 {
			keys := make([]string, 0, len(e.Attributes))
			for k := range e.Attributes {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			group := make([]any, 0, len(keys))
			for _, k := range keys {
				group = append(group, slog.String(k, e.Attributes[k]))
			}
			attrs = append(attrs, slog.Group("attributes", group...))
		}
		s.Logger.LogAttrs(ctx, s.Level, "audit", attrs...)
	}
	return nil
}

// MemorySink keeps events in memory, for tests and the quickstart.
type MemorySink struct {
	mu     sync.Mutex
	events []Event
}

// NewMemorySink returns an empty MemorySink.
func NewMemorySink() *MemorySink { return &MemorySink{} }

// Write appends the events.
func (m *MemorySink) Write(_ context.Context, events []Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range events {
		e.Attributes = maps.Clone(e.Attributes)
		m.events = append(m.events, e)
	}
	return nil
}

// Events returns a copy of everything written so far.
func (m *MemorySink) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events)
}

// OfType returns the events of type t.
func (m *MemorySink) OfType(t Type) []Event {
	var out []Event
	for _, e := range m.Events() {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}
