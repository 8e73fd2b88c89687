package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/audit"
)

// JournalFactory returns a function that opens a fresh, empty journal
// isolated from every other factory call. Calling open again stands for a
// restart: it closes the journal it returned last and opens the same
// storage anew, as a new process would.
type JournalFactory func(t *testing.T) (open func() audit.Journal)

// RunJournal runs the audit.Journal conformance cases, grouped by method.
func RunJournal(t *testing.T, newJournal JournalFactory) {
	method(t, "Append", newJournal, journalAppend)
	method(t, "Leftover", newJournal, journalLeftover)
	method(t, "Remove", newJournal, journalRemove)
}

// leftover reads every page of j's leftover events.
func leftover(t *testing.T, j audit.Journal, limit int) []audit.Event {
	t.Helper()
	var out []audit.Event
	after := ""
	for range 1000 {
		page, next, err := j.Leftover(ctx(t), after, limit)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), limit)
		out = append(out, page...)
		if next == "" {
			return out
		}
		require.NotEmpty(t, page, "a page before the last is not empty")
		after = next
	}
	t.Fatal("Leftover never returned the last page")
	return nil
}

func journalAppend(t *testing.T, newJournal JournalFactory) {
	t.Run("KeepsEventsAcrossRestart", func(t *testing.T) {
		t.Parallel()
		open := newJournal(t)
		j := open()
		in := audit.Event{
			ID: "e1", Time: base.Add(1500 * time.Microsecond),
			Type: audit.TypeLoginSuccess, Outcome: audit.Success, ActorUserID: "u1", ActorSessionID: "s1",
			ImpersonatorUserID: "support-1", TenantID: "t1", Scope: "region:eu", Target: "u1", IP: "192.0.2.1", UserAgent: "test/1.0",
			TraceID: "0af7651916cd43dd8448eb211c80319c", Reason: "r",
			Attributes: map[string]string{"k": "v", "unicode": "é\n\"x\""},
		}
		require.NoError(t, j.Append(ctx(t), []audit.Event{in, ev("e2", time.Second, audit.TypeLogout, audit.Success, "t1", "u1")}))
		require.NoError(t, j.Append(ctx(t), []audit.Event{ev("e3", 0, audit.TypeLogout, audit.Success, "t1", "u1")}))
		got := leftover(t, open(), 10)
		require.Equal(t, []string{"e1", "e2", "e3"}, eventIDs(got), "in append order")
		assertTimeEqual(t, in.Time, got[0].Time)
		in.Time = got[0].Time
		assert.Equal(t, in, got[0])
	})
	t.Run("IsIdempotentByID", func(t *testing.T) {
		t.Parallel()
		open := newJournal(t)
		j := open()
		a, b := ev("a", 0, audit.TypeLogout, audit.Success, "t1", "u1"), ev("b", 0, audit.TypeLogout, audit.Success, "t1", "u1")
		require.NoError(t, j.Append(ctx(t), []audit.Event{a, b}))
		require.NoError(t, j.Append(ctx(t), []audit.Event{b, a, b}))
		assert.Equal(t, []string{"a", "b"}, eventIDs(leftover(t, open(), 10)))
	})
	t.Run("EventWithoutIDGetsOne", func(t *testing.T) {
		t.Parallel()
		open := newJournal(t)
		e := ev("", 0, audit.TypeLogout, audit.Success, "t1", "u1")
		require.NoError(t, open().Append(ctx(t), []audit.Event{e, e}))
		got := leftover(t, open(), 10)
		require.Len(t, got, 2)
		assert.NotEmpty(t, got[0].ID)
		assert.NotEqual(t, got[0].ID, got[1].ID)
	})
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		open := newJournal(t)
		j := open()
		const writers, each = 8, 25
		var wg sync.WaitGroup
		for g := range writers {
			wg.Go(func() {
				for i := range each {
					assert.NoError(t, j.Append(ctx(t), []audit.Event{ev(fmt.Sprintf("g%d-%02d", g, i), 0, audit.TypeLogout, audit.Success, "t1", "u1")}))
				}
			})
		}
		wg.Wait()
		got := leftover(t, open(), 7)
		require.Len(t, got, writers*each)
		seen := map[string]bool{}
		for _, e := range got {
			assert.False(t, seen[e.ID], "duplicate %s", e.ID)
			seen[e.ID] = true
		}
	})
	t.Run("CanceledContext", func(t *testing.T) {
		t.Parallel()
		open := newJournal(t)
		j := open()
		assert.Error(t, j.Append(canceled(t), []audit.Event{ev("x", 0, audit.TypeLogout, audit.Success, "t1", "u1")}))
		assert.Empty(t, leftover(t, open(), 10), "a failed Append stores nothing")
	})
}

func journalLeftover(t *testing.T, newJournal JournalFactory) {
	t.Run("OmitsEventsAppendedSinceOpen", func(t *testing.T) {
		t.Parallel()
		open := newJournal(t)
		require.NoError(t, open().Append(ctx(t), []audit.Event{ev("before", 0, audit.TypeLogout, audit.Success, "t1", "u1")}))
		j := open()
		require.NoError(t, j.Append(ctx(t), []audit.Event{ev("since", 0, audit.TypeLogout, audit.Success, "t1", "u1")}))
		assert.Equal(t, []string{"before"}, eventIDs(leftover(t, j, 10)), "this process delivers its own events")
		assert.Equal(t, []string{"before", "since"}, eventIDs(leftover(t, open(), 10)), "the next one replays both")
	})
	t.Run("Pages", func(t *testing.T) {
		t.Parallel()
		open := newJournal(t)
		j := open()
		var want []string
		for i := range 5 {
			id := fmt.Sprintf("e%d", i)
			want = append(want, id)
			require.NoError(t, j.Append(ctx(t), []audit.Event{ev(id, 0, audit.TypeLogout, audit.Success, "t1", "u1")}))
		}
		j = open()
		first, next, err := j.Leftover(ctx(t), "", 2)
		require.NoError(t, err)
		assert.Equal(t, want[:2], eventIDs(first))
		assert.NotEmpty(t, next)
		assert.Equal(t, want, eventIDs(leftover(t, j, 2)))
		assert.Equal(t, want, eventIDs(leftover(t, j, 5)), "a full last page is still the last")
	})
	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		page, next, err := newJournal(t)().Leftover(ctx(t), "", 10)
		require.NoError(t, err)
		assert.Empty(t, page)
		assert.Empty(t, next)
	})
	t.Run("RefusesBadInput", func(t *testing.T) {
		t.Parallel()
		j := newJournal(t)()
		_, _, err := j.Leftover(ctx(t), "", 0)
		assert.Error(t, err, "limit 0")
		_, _, err = j.Leftover(ctx(t), "not a position", 10)
		assert.Error(t, err)
		_, _, err = j.Leftover(canceled(t), "", 10)
		assert.Error(t, err, "canceled context")
	})
}

func journalRemove(t *testing.T, newJournal JournalFactory) {
	t.Run("ForgetsEvents", func(t *testing.T) {
		t.Parallel()
		open := newJournal(t)
		j := open()
		require.NoError(t, j.Append(ctx(t), []audit.Event{
			ev("a", 0, audit.TypeLogout, audit.Success, "t1", "u1"),
			ev("b", 0, audit.TypeLogout, audit.Success, "t1", "u1"),
			ev("c", 0, audit.TypeLogout, audit.Success, "t1", "u1"),
		}))
		require.NoError(t, j.Remove(ctx(t), []string{"a", "unknown", "c"}))
		require.NoError(t, j.Remove(ctx(t), []string{"a"}), "removing twice is no error")
		require.NoError(t, j.Remove(ctx(t), nil))
		assert.Equal(t, []string{"b"}, eventIDs(leftover(t, open(), 10)))
	})
	t.Run("RemovedIDCanBeAppendedAgain", func(t *testing.T) {
		t.Parallel()
		open := newJournal(t)
		j := open()
		a := ev("a", 0, audit.TypeLogout, audit.Success, "t1", "u1")
		require.NoError(t, j.Append(ctx(t), []audit.Event{a}))
		require.NoError(t, j.Remove(ctx(t), []string{"a"}))
		require.NoError(t, j.Append(ctx(t), []audit.Event{a}))
		assert.Equal(t, []string{"a"}, eventIDs(leftover(t, open(), 10)))
	})
	t.Run("CanceledContext", func(t *testing.T) {
		t.Parallel()
		open := newJournal(t)
		j := open()
		require.NoError(t, j.Append(ctx(t), []audit.Event{ev("a", 0, audit.TypeLogout, audit.Success, "t1", "u1")}))
		assert.Error(t, j.Remove(canceled(t), []string{"a"}))
		assert.Equal(t, []string{"a"}, eventIDs(leftover(t, open(), 10)))
	})
}

// SharedJournalFactory returns, for a fresh storage isolated from every
// other factory call, a function that opens one more journal on it, as
// one more instance of a service sharing the storage would, and a
// function that ends a journal's process (a crash, or a Close: the
// storage sees the same).
type SharedJournalFactory func(t *testing.T) (open func() audit.Journal, kill func(audit.Journal))

// RunSharedJournal runs the cases of a journal several instances share
// (store/postgres's): an instance's events are its own while it lives,
// and a dead one's are replayed once, by one instance.
func RunSharedJournal(t *testing.T, newShared SharedJournalFactory) {
	t.Run("LiveInstancesEventsAreNoLeftovers", func(t *testing.T) {
		t.Parallel()
		open, _ := newShared(t)
		a, b := open(), open()
		require.NoError(t, a.Append(ctx(t), []audit.Event{ev("a1", 0, audit.TypeLogout, audit.Success, "t1", "u1")}))
		require.NoError(t, b.Append(ctx(t), []audit.Event{ev("b1", 0, audit.TypeLogout, audit.Success, "t1", "u1")}))
		c := open()
		for name, j := range map[string]audit.Journal{"a": a, "b": b, "c": c} {
			assert.Empty(t, leftover(t, j, 10), "%s replays no live instance's events", name)
		}
	})
	t.Run("DeadInstanceReplayedOnce", func(t *testing.T) {
		t.Parallel()
		open, kill := newShared(t)
		a := open()
		var want []string
		for i := range 5 {
			id := fmt.Sprintf("e%d", i)
			want = append(want, id)
			require.NoError(t, a.Append(ctx(t), []audit.Event{ev(id, 0, audit.TypeLogout, audit.Success, "t1", "u1")}))
		}
		kill(a)
		b, c := open(), open()
		var got [2][]audit.Event
		var wg sync.WaitGroup
		for i, j := range []audit.Journal{b, c} {
			wg.Go(func() { got[i] = leftover(t, j, 2) })
		}
		wg.Wait()
		require.True(t, len(got[0]) == 0 || len(got[1]) == 0, "one instance takes a dead one's events: %v / %v", eventIDs(got[0]), eventIDs(got[1]))
		assert.Equal(t, want, eventIDs(append(got[0], got[1]...)), "in append order")
		assert.Empty(t, leftover(t, open(), 10), "the taker is alive")
	})
	t.Run("DeadTakersLeftoversReplayedAgain", func(t *testing.T) {
		t.Parallel()
		open, kill := newShared(t)
		a := open()
		require.NoError(t, a.Append(ctx(t), []audit.Event{ev("x", 0, audit.TypeLogout, audit.Success, "t1", "u1")}))
		kill(a)
		b := open()
		require.Equal(t, []string{"x"}, eventIDs(leftover(t, b, 10)))
		require.NoError(t, b.Append(ctx(t), []audit.Event{ev("y", 0, audit.TypeLogout, audit.Success, "t1", "u1")}))
		kill(b) // before delivering x or y
		assert.Equal(t, []string{"x", "y"}, eventIDs(leftover(t, open(), 10)))
	})
	t.Run("RemoveByAnyInstance", func(t *testing.T) {
		t.Parallel()
		open, kill := newShared(t)
		a, b := open(), open()
		require.NoError(t, a.Append(ctx(t), []audit.Event{
			ev("x", 0, audit.TypeLogout, audit.Success, "t1", "u1"),
			ev("y", 0, audit.TypeLogout, audit.Success, "t1", "u1"),
		}))
		require.NoError(t, b.Remove(ctx(t), []string{"x"}))
		kill(a)
		assert.Equal(t, []string{"y"}, eventIDs(leftover(t, open(), 10)))
	})
}
