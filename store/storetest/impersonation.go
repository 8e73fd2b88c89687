package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
)

// ImpersonationStoreFactory returns a fresh, isolated
// session.ImpersonationStore.
type ImpersonationStoreFactory func(t *testing.T) session.ImpersonationStore

// RunImpersonationStore runs the session.ImpersonationStore conformance
// cases, grouped by method.
func RunImpersonationStore(t *testing.T, newStore ImpersonationStoreFactory) {
	method(t, "CreateImpersonation", newStore, impCreate)
	method(t, "EndImpersonation", newStore, impEnd)
	method(t, "ListImpersonations", newStore, impList)
}

// impN returns a distinct record of actor acting as target in tenant,
// started n seconds after base.
func impN(n int, actor, target, tenant string) *session.Impersonation {
	start := base.Add(time.Duration(n) * time.Second)
	return &session.Impersonation{
		ID:             fmt.Sprintf("imp%019d", n),
		TenantID:       tenant,
		ActorUserID:    actor,
		ActorSessionID: session.NewID(actor),
		TargetUserID:   target,
		SessionID:      session.NewID(target),
		Reason:         fmt.Sprintf("ticket #%d é", n),
		StartedAt:      start,
		ExpiresAt:      start.Add(time.Hour),
	}
}

func assertImpersonationEqual(t *testing.T, want, got *session.Impersonation) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.TenantID, got.TenantID)
	assert.Equal(t, want.ActorUserID, got.ActorUserID)
	assert.Equal(t, want.ActorSessionID, got.ActorSessionID)
	assert.Equal(t, want.TargetUserID, got.TargetUserID)
	assert.Equal(t, want.SessionID, got.SessionID)
	assert.Equal(t, want.Reason, got.Reason)
	assert.Equal(t, want.EndReason, got.EndReason)
	assertTimeEqual(t, want.StartedAt, got.StartedAt)
	assertTimeEqual(t, want.ExpiresAt, got.ExpiresAt)
	assertTimeEqual(t, want.EndedAt, got.EndedAt)
}

func impCreate(t *testing.T, newStore ImpersonationStoreFactory) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := impN(1, "actor", "target", "t1")
		require.NoError(t, s.CreateImpersonation(ctx(t), in))
		got, err := s.GetImpersonation(ctx(t), in.ID)
		require.NoError(t, err)
		assertImpersonationEqual(t, in, got)
	})
	t.Run("DuplicateIDConflicts", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := impN(1, "actor", "target", "t1")
		require.NoError(t, s.CreateImpersonation(ctx(t), in))
		assert.ErrorIs(t, s.CreateImpersonation(ctx(t), impN(1, "other", "other", "t2")), store.ErrConflict)
	})
	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.GetImpersonation(ctx(t), "ghost")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

func impEnd(t *testing.T, newStore ImpersonationStoreFactory) {
	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.EndImpersonation(ctx(t), "ghost", base, session.ImpersonationEnded)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("FirstEndWins", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := impN(1, "actor", "target", "t1")
		require.NoError(t, s.CreateImpersonation(ctx(t), in))
		at := base.Add(time.Minute)
		got, err := s.EndImpersonation(ctx(t), in.ID, at, session.ImpersonationEnded)
		require.NoError(t, err)
		in.EndedAt, in.EndReason = at, session.ImpersonationEnded
		assertImpersonationEqual(t, in, got)
		again, err := s.EndImpersonation(ctx(t), in.ID, at.Add(time.Minute), session.ImpersonationRightRevoked)
		require.NoError(t, err)
		assertImpersonationEqual(t, in, again)
		stored, err := s.GetImpersonation(ctx(t), in.ID)
		require.NoError(t, err)
		assertImpersonationEqual(t, in, stored)
	})
	t.Run("ConcurrentEndsAgree", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := impN(1, "actor", "target", "t1")
		require.NoError(t, s.CreateImpersonation(ctx(t), in))
		const n = 16
		got := make([]*session.Impersonation, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var err error
				got[i], err = s.EndImpersonation(ctx(t), in.ID, base.Add(time.Duration(i+1)*time.Second), fmt.Sprintf("r%d", i))
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		stored, err := s.GetImpersonation(ctx(t), in.ID)
		require.NoError(t, err)
		for _, g := range got {
			if g == nil {
				continue
			}
			assert.Equal(t, stored.EndReason, g.EndReason, "every caller sees the one end that won")
			assertTimeEqual(t, stored.EndedAt, g.EndedAt)
		}
	})
}

func impList(t *testing.T, newStore ImpersonationStoreFactory) {
	t.Run("FiltersNewestFirstAndPages", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var target []*session.Impersonation
		for n := range 7 {
			i := impN(n, "actor", "target", "t1")
			if n == 3 {
				i.ActorUserID = "other-actor"
			}
			require.NoError(t, s.CreateImpersonation(ctx(t), i))
			target = append([]*session.Impersonation{i}, target...)
		}
		// Same start, two IDs: ties are broken by ID, descending.
		tie := impN(6, "actor", "target", "t1")
		tie.ID = "imp9"
		require.NoError(t, s.CreateImpersonation(ctx(t), tie))
		target = append([]*session.Impersonation{tie}, target...)
		require.NoError(t, s.CreateImpersonation(ctx(t), impN(100, "actor", "someone-else", "t1")))
		require.NoError(t, s.CreateImpersonation(ctx(t), impN(101, "actor", "target", "t2")))

		f := session.ImpersonationFilter{TargetUserID: "target", TenantID: "t1"}
		var got []*session.Impersonation
		after := ""
		for range 10 {
			page, err := s.ListImpersonations(ctx(t), f, after, 3)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), 3)
			got = append(got, page...)
			if len(page) < 3 {
				break
			}
			after = page[len(page)-1].ID
		}
		require.Len(t, got, len(target))
		for i := range target {
			assertImpersonationEqual(t, target[i], got[i])
		}

		byActor, err := s.ListImpersonations(ctx(t), session.ImpersonationFilter{ActorUserID: "other-actor"}, "", 10)
		require.NoError(t, err)
		require.Len(t, byActor, 1)
		assert.Equal(t, "other-actor", byActor[0].ActorUserID)
		all, err := s.ListImpersonations(ctx(t), session.ImpersonationFilter{TargetUserID: "target"}, "", 100)
		require.NoError(t, err)
		assert.Len(t, all, len(target)+1, "every tenant without a tenant filter")
	})
	t.Run("UnknownCursorIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateImpersonation(ctx(t), impN(1, "actor", "target", "t1")))
		require.NoError(t, s.CreateImpersonation(ctx(t), impN(2, "actor", "other", "t1")))
		_, err := s.ListImpersonations(ctx(t), session.ImpersonationFilter{TargetUserID: "target"}, "ghost", 10)
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.ListImpersonations(ctx(t), session.ImpersonationFilter{TargetUserID: "target"}, impN(2, "", "", "").ID, 10)
		assert.ErrorIs(t, err, store.ErrNotFound, "a cursor outside the filter")
	})
}
