package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/store/storetest"
)

func TestAuditConformance(t *testing.T) {
	storetest.RunAuditStore(t, func(*testing.T) audit.Store { return memory.NewAuditStore() })
}

// halfWriter writes only the first half of every third batch, then fails,
// like a connection dropped in the middle of a multi-row insert that was
// not one transaction.
type halfWriter struct {
	store *memory.AuditStore
	calls atomic.Int64
}

func (h *halfWriter) Write(ctx context.Context, events []audit.Event) error {
	if h.calls.Add(1)%3 == 0 {
		if err := h.store.Write(ctx, events[:len(events)/2]); err != nil {
			return err
		}
		return errors.New("connection reset")
	}
	return h.store.Write(ctx, events)
}

// Through a Dispatcher, a store that fails midway loses nothing and, being
// idempotent on event IDs, records nothing twice.
func TestDispatcherIntoAuditStoreLosesNothing(t *testing.T) {
	const writers, each = 50, 2000
	store := memory.NewAuditStore()
	sink := &halfWriter{store: store}
	var failures atomic.Int64
	d, err := audit.NewDispatcher([]audit.Sink{sink},
		audit.WithQueueSize(512), audit.WithBatchSize(64),
		audit.WithSleep(func(ctx context.Context, _ time.Duration) error { return ctx.Err() }),
		audit.WithOnError(func(error) { failures.Add(1) }))
	require.NoError(t, err)
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				e := audit.Event{ID: fmt.Sprintf("%02d-%04d", g, i), Time: at.Add(time.Duration(i) * time.Millisecond), Type: audit.TypeLoginSuccess, Outcome: audit.Success, TenantID: "t1"}
				assert.NoError(t, d.Emit(t.Context(), e))
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	require.NoError(t, d.Close(ctx))

	n, seen := 0, map[string]bool{}
	q := audit.Query{Limit: audit.MaxPageSize}
	for {
		page, err := store.Query(t.Context(), q)
		require.NoError(t, err)
		for _, e := range page.Events {
			require.False(t, seen[e.ID], "duplicate %s", e.ID)
			seen[e.ID] = true
			n++
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	assert.Equal(t, writers*each, n)
	assert.Positive(t, failures.Load(), "failures happened and were reported")
	assert.Equal(t, failures.Load(), d.Stats().Failed)
}

func BenchmarkAuditStoreWrite(b *testing.B) {
	s := memory.NewAuditStore()
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := make([]audit.Event, 64)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range batch {
			batch[j] = audit.Event{ID: fmt.Sprintf("%d-%d", i, j), Time: at.Add(time.Duration(i) * time.Millisecond), Type: audit.TypeLogout}
		}
		if err := s.Write(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
}
