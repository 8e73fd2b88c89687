package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/audit"
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func jsonLogger(w *syncBuffer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

// hostile strings an attacker controls: an email, a user agent, attribute
// keys and values, each trying to start a forged log line.
var hostile = []string{
	"victim@example.com\n{\"level\":\"INFO\",\"msg\":\"audit\",\"type\":\"login.success\"}",
	"Mozilla/5.0\r\nX-Forged: 1",
	"a\rb", "line\u2028sep\u2029", "nul\x00byte", "tab\tand\x1bescape", "\"quote\\back",
	"invalid\xffutf8",
}

func hostileEvent(i int) audit.Event {
	h := hostile[i%len(hostile)]
	return audit.Event{
		ID: "e" + string(rune('a'+i)), Time: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		Type: audit.TypeLoginFailure, Outcome: audit.Failure,
		Target: h, UserAgent: h, IP: h, Reason: h, TenantID: h,
		Attributes: map[string]string{"email": h, h: "value", "key\nwith\nnewlines": h},
	}
}

func TestSlogSinkIsSafeAgainstLogInjection(t *testing.T) {
	var out syncBuffer
	sink := audit.NewSlogSink(jsonLogger(&out))
	var events []audit.Event
	for i := range 2 * len(hostile) {
		events = append(events, hostileEvent(i))
	}
	require.NoError(t, sink.Write(t.Context(), events))

	text := out.String()
	require.True(t, strings.HasSuffix(text, "\n"))
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	require.Len(t, lines, len(events), "exactly one line per event")
	for i, line := range lines {
		require.True(t, json.Valid([]byte(line)), "line %d is valid JSON: %q", i, line)
		var rec struct {
			Msg        string            `json:"msg"`
			ID         string            `json:"event_id"`
			Type       string            `json:"type"`
			UserAgent  string            `json:"user_agent"`
			Target     string            `json:"target"`
			EventTime  time.Time         `json:"event_time"`
			Attributes map[string]string `json:"attributes"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		want := events[i]
		h := strings.ToValidUTF8(hostile[i%len(hostile)], "\uFFFD")
		assert.Equal(t, "audit", rec.Msg)
		assert.Equal(t, want.ID, rec.ID)
		assert.Equal(t, "login.failure", rec.Type)
		assert.Equal(t, h, rec.UserAgent, "the value survives, escaped")
		assert.Equal(t, h, rec.Target)
		assert.Equal(t, h, rec.Attributes["email"])
		assert.Equal(t, h, rec.Attributes["key\nwith\nnewlines"])
		assert.Equal(t, "value", rec.Attributes[h])
		assert.True(t, want.Time.Equal(rec.EventTime))
	}
}

func TestSlogSinkTextHandlerKeepsOneLinePerEvent(t *testing.T) {
	var out syncBuffer
	sink := audit.NewSlogSink(slog.New(slog.NewTextHandler(&out, nil)))
	var events []audit.Event
	for i := range len(hostile) {
		events = append(events, hostileEvent(i))
	}
	require.NoError(t, sink.Write(t.Context(), events))
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	n := 0
	for sc.Scan() {
		assert.Contains(t, sc.Text(), "msg=audit")
		n++
	}
	assert.Equal(t, len(events), n)
}

func TestSlogSinkWithoutLogger(t *testing.T) {
	assert.Error(t, (&audit.SlogSink{}).Write(t.Context(), []audit.Event{{}}))
}

func TestMemorySinkCopies(t *testing.T) {
	m := audit.NewMemorySink()
	attrs := map[string]string{"a": "1"}
	require.NoError(t, m.Write(t.Context(), []audit.Event{{Type: audit.TypeLogout, Attributes: attrs}, {Type: audit.TypeRegister}}))
	attrs["a"] = "2"
	assert.Equal(t, "1", m.Events()[0].Attributes["a"])
	assert.Len(t, m.OfType(audit.TypeRegister), 1)
}

func TestFanOutWritesToAllAndNamesFailures(t *testing.T) {
	a, b := audit.NewMemorySink(), audit.NewMemorySink()
	err := audit.FanOut(a, brokenSink{}, b).Write(t.Context(), []audit.Event{ev(0), ev(1)})
	require.Error(t, err)
	var se *audit.SinkError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 1, se.Index)
	assert.Equal(t, "audit_test.brokenSink", se.Sink)
	assert.Equal(t, 2, se.Events)
	assert.Contains(t, err.Error(), "sink 1 (audit_test.brokenSink)")
	assert.Contains(t, err.Error(), "disk full")
	assert.Equal(t, wantIDs(2), ids(a.Events()), "the healthy sinks got the events")
	assert.Equal(t, wantIDs(2), ids(b.Events()))

	require.NoError(t, audit.FanOut(a, b).Write(t.Context(), []audit.Event{ev(2)}))
	assert.Len(t, a.Events(), 3)
}

func TestFanOutJoinsEveryFailureAndRecoversPanics(t *testing.T) {
	panicky := sinkFunc(func(context.Context, []audit.Event) error { panic("oops") })
	err := audit.FanOut(brokenSink{}, panicky).Write(t.Context(), []audit.Event{ev(0)})
	require.Error(t, err)
	var joined interface{ Unwrap() []error }
	require.True(t, errors.As(err, &joined))
	assert.Len(t, joined.Unwrap(), 2)
	assert.Contains(t, err.Error(), "sink 0")
	assert.Contains(t, err.Error(), "sink 1")
	assert.Contains(t, err.Error(), "sink panicked: oops")
}
