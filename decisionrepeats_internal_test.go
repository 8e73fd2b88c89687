package authv2

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/audit"
)

// A folded record that the audit queue refuses is all its decisions lost,
// and the error logged says so: an operator counting lost decisions from
// the log must not read one where a window's repeats were hundreds.
func TestLostFoldedDecisionsAreLoggedWithTheirCount(t *testing.T) {
	var logs bytes.Buffer
	m, err := New(WithInsecurePasswordHashing(), WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, m.Close(ctx)) // the audit queue refuses from now on
	logs.Reset()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	m.emitDecisions(ctx, []decisionRecord{
		{userID: "u1", at: now},
		{userID: "u1", at: now, count: 40, last: now.Add(time.Second)},
	})
	var line struct {
		Msg   string `json:"msg"`
		Count int    `json:"count"`
	}
	require.NoError(t, json.Unmarshal(logs.Bytes(), &line), "one line: %s", logs.String())
	assert.Equal(t, "authv2: authorization decisions not recorded in the audit trail", line.Msg)
	assert.Equal(t, 41, line.Count, "decisions lost, not events")
}

// The decision clock is the wall clock (clock.Coarse keeps no monotonic
// reading): set back by an hour, it must not keep a window open for an
// hour more, holding its repeats (lost on a crash) past
// DecisionRepeatWindow.
func TestRepeatWindowClosesWhenTheClockGoesBack(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rp := newRepeats(time.Second, 100, func() time.Time { return now })
	r := decisionRecord{userID: "u1", at: now}
	rp.fold([]decisionRecord{r, r})
	require.False(t, rp.due(), "just opened")
	now = now.Add(-time.Hour) // NTP steps the clock back
	assert.True(t, rp.due(), "the window cannot tell how long it has been open: close it")
}

// A folded event's Time and last_at bound every repeat it stands for.
// Callers stamp a decision before they take the log's lock, so records
// reach the buffer a little out of time order: the first repeat in the
// buffer need not be the earliest.
func TestFoldedRecordSpansEveryRepeat(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rp := newRepeats(time.Hour, 100, func() time.Time { return t0 })
	at := func(ms int) decisionRecord {
		return decisionRecord{userID: "u1", at: t0.Add(time.Duration(ms) * time.Millisecond)}
	}
	out := rp.fold([]decisionRecord{at(0), at(3), at(1), at(2)})
	require.Len(t, out, 1)
	held := rp.take()
	require.Len(t, held, 1)
	assert.Equal(t, 3, held[0].count)
	assert.Equal(t, t0.Add(time.Millisecond), held[0].at, "Time: the earliest repeat")
	assert.Equal(t, t0.Add(3*time.Millisecond), held[0].last, "last_at: the latest")
}

// A kind whose held record has folded as many decisions as one event can
// count for (audit.MaxCount, past which audit.Weight counts one) starts a
// second record: no repeat is lost to the cap.
func TestHeldRecordStopsAtMaxCount(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rp := newRepeats(time.Hour, 10, func() time.Time { return now })
	rec := decisionRecord{userID: "u", at: now}
	rp.fold([]decisionRecord{rec, rec})
	require.Len(t, rp.held, 1)
	rp.held[0].count = audit.MaxCount - 1
	rp.fold([]decisionRecord{rec, rec, rec})
	held := rp.take()
	require.Len(t, held, 2)
	assert.Equal(t, audit.MaxCount, held[0].count)
	assert.Equal(t, 2, held[1].count)
}
