package storetest

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
)

// SessionStoreFactory returns a fresh, isolated session.Store.
type SessionStoreFactory func(t *testing.T) session.Store

// newSession returns a live session of userID created at `at`, idle for 30
// minutes, absolute 12 hours.
func newSession(userID string, at time.Time) *session.Session {
	return &session.Session{
		ID:                session.NewID(userID),
		SecretHash:        session.HashSecret([]byte("secret-" + userID + at.String())),
		UserID:            userID,
		TenantID:          "t1",
		Scope:             "region:eu",
		CreatedAt:         at,
		LastSeenAt:        at,
		IdleExpiresAt:     at.Add(30 * time.Minute),
		AbsoluteExpiresAt: at.Add(12 * time.Hour),
		AuthenticatedAt:   at,
		AuthLevel:         1,
		SecurityStamp:     "stamp-" + userID,
		Client:            session.ClientInfo{IP: "192.0.2.1", UserAgent: "test/1.0", DeviceLabel: "laptop"},
	}
}

func ids(ss []*session.Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	slices.Sort(out)
	return out
}

// RunSessionStore runs the session.Store conformance cases, grouped by method.
func RunSessionStore(t *testing.T, newStore SessionStoreFactory) {
	method(t, "Create", newStore, sessionCreate)
	method(t, "Get", newStore, sessionGet)
	method(t, "Touch", newStore, sessionTouch)
	method(t, "Update", newStore, sessionUpdate)
	method(t, "Revoke", newStore, sessionRevoke)
	method(t, "RevokeUser", newStore, sessionRevokeUser)
	method(t, "Rotate", newStore, sessionRotate)
	method(t, "ListByUser", newStore, sessionListByUser)
	method(t, "DeleteExpired", newStore, sessionDeleteExpired)
	method(t, "Stats", newStore, sessionStats)
}

func sessionCreate(t *testing.T, newStore SessionStoreFactory) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := newSession("u1", base)
		evicted, err := s.Create(ctx(t), in, session.Limit{}, base)
		require.NoError(t, err)
		assert.Empty(t, evicted)
		got, err := s.Get(ctx(t), in.ID)
		require.NoError(t, err)
		assertSessionEqual(t, in, got)
	})
	t.Run("KeepsProofs", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := withProofs(newSession("u1", base))
		_, err := s.Create(ctx(t), in, session.Limit{Max: 5}, base)
		require.NoError(t, err)
		got, err := s.Get(ctx(t), in.ID)
		require.NoError(t, err)
		assertSessionEqual(t, in, got)
	})
	t.Run("KeepsImpersonator", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := withImpersonator(newSession("u1", base))
		_, err := s.Create(ctx(t), in, session.Limit{Max: 5}, base)
		require.NoError(t, err)
		got, err := s.Get(ctx(t), in.ID)
		require.NoError(t, err)
		assertSessionEqual(t, in, got)
		plain := newSession("u1", base)
		_, err = s.Create(ctx(t), plain, session.Limit{}, base)
		require.NoError(t, err)
		got, err = s.Get(ctx(t), plain.ID)
		require.NoError(t, err)
		assert.Nil(t, got.Impersonator, "a user's own session has no impersonator")
	})
	t.Run("DuplicateIDConflicts", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := newSession("u1", base)
		_, err := s.Create(ctx(t), in, session.Limit{}, base)
		require.NoError(t, err)
		_, err = s.Create(ctx(t), in, session.Limit{}, base)
		assert.ErrorIs(t, err, store.ErrConflict)
	})
	t.Run("StoresOnlyTheHash", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := newSession("u1", base)
		_, err := s.Create(ctx(t), in, session.Limit{}, base)
		require.NoError(t, err)
		got, err := s.Get(ctx(t), in.ID)
		require.NoError(t, err)
		assert.Equal(t, in.SecretHash, got.SecretHash)
		assert.Len(t, got.SecretHash, 32)
	})
	t.Run("AttributesRoundTrip", func(t *testing.T) {
		// Conditions read the user's attributes from the session, so they
		// must come back from every read exactly as written, and a
		// successor carries its own.
		t.Parallel()
		s := newStore(t)
		old := newSession("u1", base)
		old.Attributes = map[string]string{"department": "sales", "": "empty key", "empty": ""}
		for _, v := range nasty {
			old.Attributes["nasty "+v] = v
		}
		_, err := s.Create(ctx(t), old, session.Limit{}, base)
		require.NoError(t, err)
		got, err := s.Get(ctx(t), old.ID)
		require.NoError(t, err)
		assert.Equal(t, old.Attributes, got.Attributes)
		got.Attributes["department"] = "changed by a caller"
		again, err := s.Get(ctx(t), old.ID)
		require.NoError(t, err)
		assert.Equal(t, "sales", again.Attributes["department"], "a caller's copy must not alias the store")

		next := newSession("u1", base.Add(time.Minute))
		next.Attributes = map[string]string{"department": "support"}
		require.NoError(t, s.Rotate(ctx(t), old.ID, next, next.CreatedAt))
		n, err := s.Get(ctx(t), next.ID)
		require.NoError(t, err)
		assert.Equal(t, next.Attributes, n.Attributes)
		o, err := s.Get(ctx(t), old.ID)
		require.NoError(t, err)
		assert.Equal(t, old.Attributes, o.Attributes, "the rotated-away session keeps its own")
		list, err := s.ListByUser(ctx(t), "u1", next.CreatedAt)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, next.Attributes, list[0].Attributes)

		upd := n.Clone()
		upd.Attributes = map[string]string{"department": "not through Update"}
		require.NoError(t, s.Update(ctx(t), upd))
		n, err = s.Get(ctx(t), next.ID)
		require.NoError(t, err)
		assert.Equal(t, next.Attributes, n.Attributes, "Update leaves Attributes alone")

		none := newSession("u2", base)
		_, err = s.Create(ctx(t), none, session.Limit{}, base)
		require.NoError(t, err)
		got, err = s.Get(ctx(t), none.ID)
		require.NoError(t, err)
		assert.Empty(t, got.Attributes)
	})
	for _, policy := range []session.EvictionPolicy{session.EvictOldest, session.EvictLeastRecentlyUsed} {
		t.Run(fmt.Sprintf("LimitEvicts/%d", policy), func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			limit := session.Limit{Max: 2, Policy: policy}
			a := newSession("u1", base)
			b := newSession("u1", base.Add(time.Minute))
			for _, x := range []*session.Session{a, b} {
				_, err := s.Create(ctx(t), x, limit, x.CreatedAt)
				require.NoError(t, err)
			}
			// a is older but used more recently than b.
			require.NoError(t, s.Touch(ctx(t), a.ID, base.Add(2*time.Minute), base.Add(32*time.Minute)))
			c := newSession("u1", base.Add(3*time.Minute))
			evicted, err := s.Create(ctx(t), c, limit, c.CreatedAt)
			require.NoError(t, err)
			want := a.ID
			if policy == session.EvictLeastRecentlyUsed {
				want = b.ID
			}
			assert.Equal(t, []string{want}, evicted)
			gone, err := s.Get(ctx(t), want)
			require.NoError(t, err)
			assert.Equal(t, session.ReasonEvicted, gone.RevokeReason)
			list, err := s.ListByUser(ctx(t), "u1", c.CreatedAt)
			require.NoError(t, err)
			assert.Len(t, list, 2)
		})
	}
	t.Run("LimitRefuses", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		limit := session.Limit{Max: 1, Policy: session.Refuse}
		_, err := s.Create(ctx(t), newSession("u1", base), limit, base)
		require.NoError(t, err)
		_, err = s.Create(ctx(t), newSession("u1", base), limit, base)
		assert.ErrorIs(t, err, store.ErrLimit)
		list, err := s.ListByUser(ctx(t), "u1", base)
		require.NoError(t, err)
		assert.Len(t, list, 1)
		_, err = s.Create(ctx(t), newSession("u2", base), limit, base)
		assert.NoError(t, err, "the limit is per user")
	})
	t.Run("LimitIgnoresDeadSessions", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		limit := session.Limit{Max: 1, Policy: session.Refuse}
		first := newSession("u1", base)
		_, err := s.Create(ctx(t), first, limit, base)
		require.NoError(t, err)
		later := base.Add(31 * time.Minute)
		_, err = s.Create(ctx(t), newSession("u1", later), limit, later)
		assert.NoError(t, err, "an idled-out session must not count")
	})
	t.Run("LimitAtomicUnderConcurrency", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for _, policy := range []session.EvictionPolicy{session.EvictOldest, session.Refuse} {
			user := fmt.Sprintf("u-%d", policy)
			limit := session.Limit{Max: 3, Policy: policy}
			const n = 1000
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Go(func() {
					x := newSession(user, base.Add(time.Duration(i)*time.Millisecond))
					if _, err := s.Create(ctx(t), x, limit, base.Add(time.Second)); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.ErrorIs(t, err, store.ErrLimit)
			}
			list, err := s.ListByUser(ctx(t), user, base.Add(time.Second))
			require.NoError(t, err)
			assert.Len(t, list, 3, "policy %d", policy)
		}
	})
}

func sessionGet(t *testing.T, newStore SessionStoreFactory) {
	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.Get(ctx(t), session.NewID("ghost"))
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

func sessionTouch(t *testing.T, newStore SessionStoreFactory) {
	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		assert.ErrorIs(t, s.Touch(ctx(t), session.NewID("ghost"), base, base.Add(time.Minute)), store.ErrNotFound)
	})
	t.Run("MovesIdleExpiry", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := newSession("u1", base)
		_, err := s.Create(ctx(t), in, session.Limit{}, base)
		require.NoError(t, err)
		seen := base.Add(10 * time.Minute)
		require.NoError(t, s.Touch(ctx(t), in.ID, seen, seen.Add(30*time.Minute)))
		got, err := s.Get(ctx(t), in.ID)
		require.NoError(t, err)
		assertTimeEqual(t, seen, got.LastSeenAt)
		assertTimeEqual(t, seen.Add(30*time.Minute), got.IdleExpiresAt)
		assertTimeEqual(t, in.AbsoluteExpiresAt, got.AbsoluteExpiresAt)
	})
	t.Run("KeepsImpersonator", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := withImpersonator(newSession("u1", base))
		_, err := s.Create(ctx(t), in, session.Limit{}, base)
		require.NoError(t, err)
		seen := base.Add(10 * time.Minute)
		require.NoError(t, s.Touch(ctx(t), in.ID, seen, seen.Add(30*time.Minute)))
		got, err := s.Get(ctx(t), in.ID)
		require.NoError(t, err)
		assert.Equal(t, in.Impersonator, got.Impersonator, "a renewal keeps who impersonates")
	})
	t.Run("RefusesAnExpiredSession", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := newSession("u1", base)
		_, err := s.Create(ctx(t), in, session.Limit{}, base)
		require.NoError(t, err)
		late := in.IdleExpiresAt // an expiry is final: no touch brings a session back
		assert.ErrorIs(t, s.Touch(ctx(t), in.ID, late, late.Add(30*time.Minute)), store.ErrNotFound)
		got, err := s.Get(ctx(t), in.ID)
		require.NoError(t, err)
		assertTimeEqual(t, in.IdleExpiresAt, got.IdleExpiresAt)
	})
	t.Run("SessionStaysIndexed", func(t *testing.T) {
		// A session renewed by use outlives its first idle deadline; it
		// must stay listed, counted by the limit and reachable by
		// RevokeUser. Real durations on the wall clock, because a TTL-based
		// store expires keys by it.
		t.Parallel()
		s := newStore(t)
		const idle = 1500 * time.Millisecond
		start := time.Now()
		x := newSession("u1", start)
		x.IdleExpiresAt = start.Add(idle)
		limit := session.Limit{Max: 1, Policy: session.Refuse}
		_, err := s.Create(ctx(t), x, limit, start)
		require.NoError(t, err)
		for time.Since(start) < idle+time.Second {
			time.Sleep(200 * time.Millisecond)
			seen := time.Now()
			require.NoError(t, s.Touch(ctx(t), x.ID, seen, seen.Add(idle)), "touched within its idle timeout")
		}
		now := time.Now()
		list, err := s.ListByUser(ctx(t), "u1", now)
		require.NoError(t, err)
		assert.Equal(t, []string{x.ID}, ids(list), "still listed past its first idle deadline")
		_, err = s.Create(ctx(t), newSession("u1", now), limit, now)
		assert.ErrorIs(t, err, store.ErrLimit, "still counted by the limit")
		got, err := s.RevokeUser(ctx(t), "u1", session.RevokeFilter{}, now, session.ReasonUserDisabled)
		require.NoError(t, err)
		assert.Equal(t, []string{x.ID}, got, "still reached by RevokeUser")
		after, err := s.Get(ctx(t), x.ID)
		require.NoError(t, err)
		assert.False(t, after.Live(now))
	})
}

func sessionUpdate(t *testing.T, newStore SessionStoreFactory) {
	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		assert.ErrorIs(t, s.Update(ctx(t), newSession("ghost", base)), store.ErrNotFound)
	})
	t.Run("ChangesMutableFields", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := newSession("u1", base)
		_, err := s.Create(ctx(t), in, session.Limit{}, base)
		require.NoError(t, err)
		next := in.Clone()
		next.TenantID, next.Scope, next.AuthLevel = "t2", "", 2
		next.AuthenticatedAt = base.Add(time.Minute)
		next.Client.IP = "198.51.100.7"
		next.Proofs = withProofs(next).Proofs
		require.NoError(t, s.Update(ctx(t), next))
		got, err := s.Get(ctx(t), in.ID)
		require.NoError(t, err)
		assert.Equal(t, "t2", got.TenantID)
		assert.Equal(t, "", got.Scope)
		assert.Equal(t, 2, got.AuthLevel)
		assert.Equal(t, "198.51.100.7", got.Client.IP)
		assertTimeEqual(t, base.Add(time.Minute), got.AuthenticatedAt)
		assertProofsEqual(t, next.Proofs, got.Proofs)
	})
}

func sessionRevoke(t *testing.T, newStore SessionStoreFactory) {
	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		assert.ErrorIs(t, s.Revoke(ctx(t), session.NewID("ghost"), base, "x"), store.ErrNotFound)
	})
	t.Run("IsVisibleAndFinal", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := newSession("u1", base)
		_, err := s.Create(ctx(t), in, session.Limit{}, base)
		require.NoError(t, err)
		at := base.Add(time.Minute)
		require.NoError(t, s.Revoke(ctx(t), in.ID, at, session.ReasonLogout))
		require.NoError(t, s.Revoke(ctx(t), in.ID, at.Add(time.Minute), "again"), "revoking twice is a no-op")
		got, err := s.Get(ctx(t), in.ID)
		require.NoError(t, err)
		assertTimeEqual(t, at, got.RevokedAt)
		assert.Equal(t, session.ReasonLogout, got.RevokeReason)
		assert.False(t, got.Live(at))
		assert.ErrorIs(t, s.Touch(ctx(t), in.ID, at, at.Add(time.Hour)), store.ErrNotFound, "a revoked session cannot be revived")
		list, err := s.ListByUser(ctx(t), "u1", at)
		require.NoError(t, err)
		assert.Empty(t, list)
	})
}

func sessionRevokeUser(t *testing.T, newStore SessionStoreFactory) {
	t.Run("ReachesSessionsPastTheirDeadline", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := newSession("u1", base)
		_, err := s.Create(ctx(t), in, session.Limit{}, base)
		require.NoError(t, err)
		// The revoking instance's clock is past the idle deadline; another
		// instance's, a little behind, still sees the session live.
		ahead := in.IdleExpiresAt.Add(time.Second)
		_, err = s.RevokeUser(ctx(t), "u1", session.RevokeFilter{}, ahead, session.ReasonUserDisabled)
		require.NoError(t, err)
		behind := in.IdleExpiresAt.Add(-time.Second)
		assert.ErrorIs(t, s.Touch(ctx(t), in.ID, behind, behind.Add(30*time.Minute)), store.ErrNotFound,
			"a session revoke-all skipped must not be renewed by a clock that lags")
		got, err := s.Get(ctx(t), in.ID)
		require.NoError(t, err)
		assert.False(t, got.RevokedAt.IsZero(), "revoke-all ends every session not yet revoked, expired or not")
	})
	t.Run("Filters", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var made []*session.Session
		for i := range 4 {
			x := newSession("u1", base)
			if i == 3 {
				x.TenantID = "t2"
			}
			_, err := s.Create(ctx(t), x, session.Limit{}, base)
			require.NoError(t, err)
			made = append(made, x)
		}
		bystander := newSession("u2", base)
		_, err := s.Create(ctx(t), bystander, session.Limit{}, base)
		require.NoError(t, err)
		at := base.Add(time.Minute)

		got, err := s.RevokeUser(ctx(t), "u1", session.RevokeFilter{TenantID: "t2"}, at, "tenant")
		require.NoError(t, err)
		assert.Equal(t, []string{made[3].ID}, got)

		got, err = s.RevokeUser(ctx(t), "u1", session.RevokeFilter{ExceptID: made[0].ID}, at, "others")
		require.NoError(t, err)
		assert.Equal(t, ids([]*session.Session{made[1], made[2]}), got)

		list, err := s.ListByUser(ctx(t), "u1", at)
		require.NoError(t, err)
		assert.Equal(t, []string{made[0].ID}, ids(list))
		x, err := s.Get(ctx(t), made[1].ID)
		require.NoError(t, err)
		assert.Equal(t, "others", x.RevokeReason)
		b, err := s.Get(ctx(t), bystander.ID)
		require.NoError(t, err)
		assert.True(t, b.Live(at), "another user's session must not be touched")
	})
	t.Run("ManySessions", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const n = 300
		for range n {
			_, err := s.Create(ctx(t), newSession("u1", base), session.Limit{}, base)
			require.NoError(t, err)
		}
		got, err := s.RevokeUser(ctx(t), "u1", session.RevokeFilter{}, base.Add(time.Second), "all")
		require.NoError(t, err)
		assert.Len(t, got, n)
		list, err := s.ListByUser(ctx(t), "u1", base.Add(time.Second))
		require.NoError(t, err)
		assert.Empty(t, list)
	})
}

func sessionRotate(t *testing.T, newStore SessionStoreFactory) {
	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		assert.ErrorIs(t, s.Rotate(ctx(t), session.NewID("ghost"), newSession("ghost", base), base), store.ErrNotFound)
	})
	t.Run("IsAtomic", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		old := newSession("u1", base)
		_, err := s.Create(ctx(t), old, session.Limit{Max: 1, Policy: session.Refuse}, base)
		require.NoError(t, err)
		next := newSession("u1", base.Add(time.Minute))
		require.NoError(t, s.Rotate(ctx(t), old.ID, next, next.CreatedAt), "rotation must not count against the limit")
		o, err := s.Get(ctx(t), old.ID)
		require.NoError(t, err)
		assert.Equal(t, session.ReasonRotated, o.RevokeReason)
		assert.Equal(t, next.ID, o.ReplacedBy, "a rotated-away session names its successor")
		n, err := s.Get(ctx(t), next.ID)
		require.NoError(t, err)
		assert.True(t, n.Live(next.CreatedAt))
		assert.ErrorIs(t, s.Rotate(ctx(t), old.ID, newSession("u1", base), next.CreatedAt), store.ErrNotFound, "a dead session cannot rotate")
	})
	t.Run("RacingRevokeUserLeavesNothingLive", func(t *testing.T) {
		// Whichever of the two lands first, the user ends with no live
		// session: a rotation before the revoke-all has its successor
		// ended by it, one after it finds the old session revoked. A
		// successor neither saw would outlive a password change or a
		// disable.
		t.Parallel()
		s := newStore(t)
		now := base.Add(time.Minute)
		for i := range 100 {
			user := fmt.Sprintf("racer-%d", i)
			old := newSession(user, base)
			_, err := s.Create(ctx(t), old, session.Limit{}, base)
			require.NoError(t, err)
			next := newSession(user, now)
			start := make(chan struct{})
			var wg sync.WaitGroup
			var rotateErr, revokeErr error
			wg.Go(func() { <-start; rotateErr = s.Rotate(ctx(t), old.ID, next, now) })
			wg.Go(func() {
				<-start
				_, revokeErr = s.RevokeUser(ctx(t), user, session.RevokeFilter{}, now, session.ReasonPasswordChange)
			})
			close(start)
			wg.Wait()
			require.NoError(t, revokeErr)
			if rotateErr != nil {
				require.ErrorIs(t, rotateErr, store.ErrNotFound, "a rotation that lost the race finds the session revoked")
			}
			list, err := s.ListByUser(ctx(t), user, now)
			require.NoError(t, err)
			require.Empty(t, ids(list), "round %d: a session outlived the revoke-all (rotation: %v)", i, rotateErr)
		}
	})
	t.Run("SuccessorKeepsImpersonator", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		old := withImpersonator(newSession("u1", base))
		_, err := s.Create(ctx(t), old, session.Limit{}, base)
		require.NoError(t, err)
		next := withImpersonator(newSession("u1", base.Add(time.Minute)))
		require.NoError(t, s.Rotate(ctx(t), old.ID, next, next.CreatedAt))
		got, err := s.Get(ctx(t), next.ID)
		require.NoError(t, err)
		assertSessionEqual(t, next, got)
		o, err := s.Get(ctx(t), old.ID)
		require.NoError(t, err)
		assert.Equal(t, old.Impersonator, o.Impersonator, "the rotated-away session keeps it too")
	})
	t.Run("SuccessorKeepsProofs", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		old := newSession("u1", base)
		_, err := s.Create(ctx(t), old, session.Limit{}, base)
		require.NoError(t, err)
		next := withProofs(newSession("u1", base.Add(time.Minute)))
		require.NoError(t, s.Rotate(ctx(t), old.ID, next, next.CreatedAt))
		got, err := s.Get(ctx(t), next.ID)
		require.NoError(t, err)
		assertSessionEqual(t, next, got)
	})
}

func sessionListByUser(t *testing.T, newStore SessionStoreFactory) {
	t.Run("OnlyLiveNewestFirst", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var made []*session.Session
		for i := range 4 {
			x := newSession("u1", base.Add(time.Duration(i)*time.Minute))
			_, err := s.Create(ctx(t), x, session.Limit{}, x.CreatedAt)
			require.NoError(t, err)
			made = append(made, x)
		}
		other := newSession("u2", base)
		_, err := s.Create(ctx(t), other, session.Limit{}, base)
		require.NoError(t, err)
		require.NoError(t, s.Revoke(ctx(t), made[1].ID, base.Add(5*time.Minute), "x"))
		now := base.Add(31 * time.Minute) // made[0] idles out at base+30m
		list, err := s.ListByUser(ctx(t), "u1", now)
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, made[3].ID, list[0].ID)
		assert.Equal(t, made[2].ID, list[1].ID)
	})
}

func sessionDeleteExpired(t *testing.T, newStore SessionStoreFactory) {
	t.Run("ForgetsOnlyExpired", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		old := newSession("u1", base)
		touched := newSession("u1", base)
		fresh := newSession("u2", base.Add(20*time.Minute))
		for _, x := range []*session.Session{old, touched, fresh} {
			_, err := s.Create(ctx(t), x, session.Limit{}, x.CreatedAt)
			require.NoError(t, err)
		}
		require.NoError(t, s.Touch(ctx(t), touched.ID, base.Add(25*time.Minute), base.Add(55*time.Minute)))
		n, err := s.DeleteExpired(ctx(t), base.Add(40*time.Minute))
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		_, err = s.Get(ctx(t), old.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
		for _, x := range []*session.Session{touched, fresh} {
			_, err := s.Get(ctx(t), x.ID)
			assert.NoError(t, err)
		}
	})
}

func sessionStats(t *testing.T, newStore SessionStoreFactory) {
	t.Run("CountsAndFilters", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a := newSession("u1", base)
		b := newSession("u1", base.Add(time.Minute))
		b.TenantID, b.Client.DeviceLabel = "t2", "phone"
		c := newSession("u2", base.Add(2*time.Minute))
		for _, x := range []*session.Session{a, b, c} {
			_, err := s.Create(ctx(t), x, session.Limit{}, x.CreatedAt)
			require.NoError(t, err)
		}
		require.NoError(t, s.Revoke(ctx(t), c.ID, base.Add(3*time.Minute), "x"))
		now := base.Add(4 * time.Minute)
		st, err := s.Stats(ctx(t), session.StatsFilter{From: base, To: now}, now)
		require.NoError(t, err)
		assert.Equal(t, 2, st.Live)
		assert.Equal(t, map[string]int{"t1": 1, "t2": 1}, st.ByTenant)
		assert.Equal(t, map[string]int{"u1": 2}, st.ByUser)
		assert.Equal(t, map[string]int{"laptop": 1, "phone": 1}, st.ByDevice)
		assert.Equal(t, 3, st.Created)
		assert.Equal(t, 1, st.Revoked)

		st, err = s.Stats(ctx(t), session.StatsFilter{UserID: "u1", TenantID: "t2"}, now)
		require.NoError(t, err)
		assert.Equal(t, 1, st.Live)
	})
	// A store may read sessions in batches (Redis reads 1,000 at a time
	// from each index shard, and one user's sessions share a shard): none
	// may be missed or counted twice at a batch's edge.
	t.Run("CountsEverySessionOfALargePopulation", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const workers, each = 10, 105 // 1,050 sessions of one user
		var revoked atomic.Int64
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					x := newSession("bulk", base.Add(time.Duration(w*each+i)*time.Millisecond))
					_, err := s.Create(ctx(t), x, session.Limit{}, x.CreatedAt)
					assert.NoError(t, err)
					if i%10 == 0 {
						assert.NoError(t, s.Revoke(ctx(t), x.ID, base.Add(time.Hour), "x"))
						revoked.Add(1)
					}
				}
			})
		}
		wg.Wait()
		all, ended := workers*each, int(revoked.Load())
		st, err := s.Stats(ctx(t), session.StatsFilter{From: base, To: base.Add(2 * time.Hour)}, base.Add(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, all-ended, st.Live)
		assert.Equal(t, map[string]int{"bulk": all - ended}, st.ByUser)
		assert.Equal(t, all, st.Created)
		assert.Equal(t, ended, st.Revoked)
		st, err = s.Stats(ctx(t), session.StatsFilter{}, base.Add(2*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, 0, st.Live, "every session is past its idle expiry")
	})
}

func assertSessionEqual(t *testing.T, want, got *session.Session) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.SecretHash, got.SecretHash)
	assert.Equal(t, want.UserID, got.UserID)
	assert.Equal(t, want.TenantID, got.TenantID)
	assert.Equal(t, want.Scope, got.Scope)
	assert.Equal(t, want.AuthLevel, got.AuthLevel)
	assert.Equal(t, want.Client, got.Client)
	assert.Equal(t, want.RevokeReason, got.RevokeReason)
	assert.Equal(t, want.SecurityStamp, got.SecurityStamp)
	assert.Equal(t, want.ReplacedBy, got.ReplacedBy)
	assert.True(t, maps.Equal(want.Attributes, got.Attributes), "attributes: want %v, got %v", want.Attributes, got.Attributes)
	assertTimeEqual(t, want.CreatedAt, got.CreatedAt)
	assertTimeEqual(t, want.LastSeenAt, got.LastSeenAt)
	assertTimeEqual(t, want.IdleExpiresAt, got.IdleExpiresAt)
	assertTimeEqual(t, want.AbsoluteExpiresAt, got.AbsoluteExpiresAt)
	assertTimeEqual(t, want.AuthenticatedAt, got.AuthenticatedAt)
	assertTimeEqual(t, want.RevokedAt, got.RevokedAt)
	assertProofsEqual(t, want.Proofs, got.Proofs)
	assert.Equal(t, want.Impersonator, got.Impersonator, "impersonator")
}

// withImpersonator makes x an impersonation session.
func withImpersonator(x *session.Session) *session.Session {
	x.Impersonator = &session.Impersonator{UserID: "actor-1", SessionID: session.NewID("actor-1"), ImpersonationID: "imp-" + x.ID[:8]}
	return x
}

// withProofs gives x the proofs of a password login completed with a
// second factor and stepped up with a passkey, at microsecond precision.
func withProofs(x *session.Session) *session.Session {
	at := x.CreatedAt
	x.AuthLevel = 2
	x.Proofs = mfa.Proofs{
		{Factor: mfa.FactorPassword, At: at},
		{Factor: mfa.FactorTOTP, At: at.Add(time.Second), CredentialID: "totp-1"},
		{Factor: mfa.FactorWebAuthn, At: at.Add(1234567 * time.Microsecond), CredentialID: "AQID-_w", UserVerified: true},
	}
	return x
}

func assertProofsEqual(t *testing.T, want, got mfa.Proofs) {
	t.Helper()
	require.Len(t, got, len(want), "proofs")
	for i := range want {
		assert.Equal(t, want[i].Factor, got[i].Factor)
		assert.Equal(t, want[i].CredentialID, got[i].CredentialID)
		assert.Equal(t, want[i].UserVerified, got[i].UserVerified)
		assertTimeEqual(t, want[i].At, got[i].At)
	}
}
