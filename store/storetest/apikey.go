package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/apikey"
	"github.com/authv2/authv2/store"
)

// APIKeyStoreFactory returns a fresh, isolated apikey.Store.
type APIKeyStoreFactory func(t *testing.T) apikey.Store

// RunAPIKeyStore runs the apikey.Store conformance cases, grouped by method.
func RunAPIKeyStore(t *testing.T, newStore APIKeyStoreFactory) {
	method(t, "CreateKey", newStore, keyCreate)
	method(t, "GetKey", newStore, keyGet)
	method(t, "ListKeys", newStore, keyList)
	method(t, "TouchKey", newStore, keyTouch)
	method(t, "RevokeKey", newStore, keyRevoke)
	method(t, "RevokeKeys", newStore, keyRevokeAll)
	method(t, "CreateServiceAccount", newStore, saCreate)
	method(t, "ListServiceAccounts", newStore, saList)
	method(t, "SetServiceAccountDisabled", newStore, saSetDisabled)
	method(t, "DeleteServiceAccount", newStore, saDelete)
}

// keyN returns a distinct, well-formed key record owned by owner in tenant.
func keyN(n int, owner, tenant string) *apikey.Key {
	return &apikey.Key{
		ID:          fmt.Sprintf("key%029d", n),
		SecretHash:  []byte(fmt.Sprintf("hash-%d-\x00\xff", n)),
		OwnerID:     owner,
		OwnerKind:   apikey.OwnerUser,
		TenantID:    tenant,
		Scope:       "region:eu",
		Permissions: []string{"orders:read", "invoices:*"},
		Name:        fmt.Sprintf("key %d é", n),
		CreatedAt:   base.Add(time.Duration(n) * time.Second),
		CreatedBy:   "admin",
		ExpiresAt:   base.Add(24 * time.Hour),
	}
}

func assertKeyEqual(t *testing.T, want, got *apikey.Key) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.SecretHash, got.SecretHash)
	assert.Equal(t, want.OwnerID, got.OwnerID)
	assert.Equal(t, want.OwnerKind, got.OwnerKind)
	assert.Equal(t, want.TenantID, got.TenantID)
	assert.Equal(t, want.Scope, got.Scope)
	assert.Equal(t, want.Permissions, got.Permissions)
	assert.Equal(t, want.Name, got.Name)
	assert.Equal(t, want.CreatedBy, got.CreatedBy)
	assert.Equal(t, want.RevokeReason, got.RevokeReason)
	assertTimeEqual(t, want.CreatedAt, got.CreatedAt)
	assertTimeEqual(t, want.ExpiresAt, got.ExpiresAt)
	assertTimeEqual(t, want.LastUsedAt, got.LastUsedAt)
	assertTimeEqual(t, want.RevokedAt, got.RevokedAt)
}

func keyCreate(t *testing.T, newStore APIKeyStoreFactory) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := keyN(1, "u1", "t1")
		require.NoError(t, s.CreateKey(ctx(t), in))
		got, err := s.GetKey(ctx(t), in.ID)
		require.NoError(t, err)
		assertKeyEqual(t, in, got)
	})
	t.Run("NoExpiryStaysZero", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := keyN(1, "u1", "t1")
		in.ExpiresAt, in.Scope = time.Time{}, ""
		require.NoError(t, s.CreateKey(ctx(t), in))
		got, err := s.GetKey(ctx(t), in.ID)
		require.NoError(t, err)
		assertKeyEqual(t, in, got)
		assert.True(t, got.Live(base.Add(100*365*24*time.Hour)))
	})
	t.Run("DuplicateIDConflicts", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateKey(ctx(t), keyN(1, "u1", "t1")))
		other := keyN(1, "u2", "t2")
		assert.ErrorIs(t, s.CreateKey(ctx(t), other), store.ErrConflict)
		got, err := s.GetKey(ctx(t), other.ID)
		require.NoError(t, err)
		assert.Equal(t, "u1", got.OwnerID, "the first key is untouched")
	})
	t.Run("CanceledContext", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		assert.Error(t, s.CreateKey(canceled(t), keyN(1, "u1", "t1")))
	})
}

func keyGet(t *testing.T, newStore APIKeyStoreFactory) {
	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		_, err := newStore(t).GetKey(ctx(t), "nope")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("RevokedStillReadable", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		k := keyN(1, "u1", "t1")
		require.NoError(t, s.CreateKey(ctx(t), k))
		require.NoError(t, s.RevokeKey(ctx(t), k.ID, base.Add(time.Minute), "revoked"))
		got, err := s.GetKey(ctx(t), k.ID)
		require.NoError(t, err)
		assertTimeEqual(t, base.Add(time.Minute), got.RevokedAt)
		assert.Equal(t, "revoked", got.RevokeReason)
		assert.False(t, got.Live(base.Add(2*time.Minute)))
	})
	t.Run("CallerCopyIsIndependent", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		k := keyN(1, "u1", "t1")
		require.NoError(t, s.CreateKey(ctx(t), k))
		k.Permissions[0], k.SecretHash[0] = "changed:x", 'X'
		got, err := s.GetKey(ctx(t), k.ID)
		require.NoError(t, err)
		assert.Equal(t, "orders:read", got.Permissions[0], "CreateKey keeps its own copy")
		assert.Equal(t, byte('h'), got.SecretHash[0])
	})
}

func keyList(t *testing.T, newStore APIKeyStoreFactory) {
	t.Run("ByOwnerNewestFirstWithRevoked", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for i, o := range []string{"u1", "u2", "u1", "u1"} {
			require.NoError(t, s.CreateKey(ctx(t), keyN(i, o, "t1")))
		}
		require.NoError(t, s.RevokeKey(ctx(t), keyN(2, "", "").ID, base, "revoked"))
		got, err := s.ListKeys(ctx(t), apikey.KeyFilter{OwnerID: "u1"})
		require.NoError(t, err)
		require.Len(t, got, 3)
		assert.Equal(t, []string{keyN(3, "", "").ID, keyN(2, "", "").ID, keyN(0, "", "").ID},
			[]string{got[0].ID, got[1].ID, got[2].ID})
		assert.False(t, got[1].RevokedAt.IsZero(), "revoked keys are listed")
	})
	t.Run("ByTenantAndOwner", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateKey(ctx(t), keyN(1, "u1", "t1")))
		require.NoError(t, s.CreateKey(ctx(t), keyN(2, "u1", "t2")))
		require.NoError(t, s.CreateKey(ctx(t), keyN(3, "u2", "t2")))
		got, err := s.ListKeys(ctx(t), apikey.KeyFilter{TenantID: "t2"})
		require.NoError(t, err)
		assert.Len(t, got, 2)
		got, err = s.ListKeys(ctx(t), apikey.KeyFilter{TenantID: "t2", OwnerID: "u1"})
		require.NoError(t, err)
		require.Len(t, got, 1)
		assertKeyEqual(t, keyN(2, "u1", "t2"), got[0])
	})
	t.Run("NoneIsEmpty", func(t *testing.T) {
		t.Parallel()
		got, err := newStore(t).ListKeys(ctx(t), apikey.KeyFilter{OwnerID: "nobody"})
		require.NoError(t, err)
		assert.Empty(t, got)
	})
}

func keyTouch(t *testing.T, newStore APIKeyStoreFactory) {
	t.Run("WritesOncePerInterval", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		k := keyN(1, "u1", "t1")
		require.NoError(t, s.CreateKey(ctx(t), k))
		at := base.Add(time.Hour)
		require.NoError(t, s.TouchKey(ctx(t), k.ID, at, at.Add(-time.Minute)))
		// A second use within the interval: LastUsedAt (at) is not before
		// its notAfter, so nothing is written.
		require.NoError(t, s.TouchKey(ctx(t), k.ID, at.Add(30*time.Second), at.Add(-30*time.Second)))
		got, err := s.GetKey(ctx(t), k.ID)
		require.NoError(t, err)
		assertTimeEqual(t, at, got.LastUsedAt)
		later := at.Add(2 * time.Minute)
		require.NoError(t, s.TouchKey(ctx(t), k.ID, later, later.Add(-time.Minute)))
		got, err = s.GetKey(ctx(t), k.ID)
		require.NoError(t, err)
		assertTimeEqual(t, later, got.LastUsedAt)
	})
	t.Run("ConcurrentUsesWriteOnce", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		k := keyN(1, "u1", "t1")
		require.NoError(t, s.CreateKey(ctx(t), k))
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				at := base.Add(time.Hour + time.Duration(i)*time.Millisecond)
				assert.NoError(t, s.TouchKey(ctx(t), k.ID, at, base.Add(time.Hour-time.Minute)))
			})
		}
		wg.Wait()
		got, err := s.GetKey(ctx(t), k.ID)
		require.NoError(t, err)
		assert.False(t, got.LastUsedAt.IsZero())
		// Whichever use won, a use that saw its write was not written.
		require.NoError(t, s.TouchKey(ctx(t), k.ID, base.Add(2*time.Hour), base.Add(time.Hour-time.Minute)))
		again, err := s.GetKey(ctx(t), k.ID)
		require.NoError(t, err)
		assertTimeEqual(t, got.LastUsedAt, again.LastUsedAt)
	})
	t.Run("RevokedOrExpiredNotWritten", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		rk, ek := keyN(1, "u1", "t1"), keyN(2, "u1", "t1")
		ek.ExpiresAt = base.Add(time.Minute)
		require.NoError(t, s.CreateKey(ctx(t), rk))
		require.NoError(t, s.CreateKey(ctx(t), ek))
		require.NoError(t, s.RevokeKey(ctx(t), rk.ID, base, "revoked"))
		at := base.Add(time.Hour)
		require.NoError(t, s.TouchKey(ctx(t), rk.ID, at, at))
		require.NoError(t, s.TouchKey(ctx(t), ek.ID, at, at))
		for _, id := range []string{rk.ID, ek.ID} {
			got, err := s.GetKey(ctx(t), id)
			require.NoError(t, err)
			assert.True(t, got.LastUsedAt.IsZero(), id)
		}
	})
	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		assert.ErrorIs(t, newStore(t).TouchKey(ctx(t), "nope", base, base), store.ErrNotFound)
	})
}

func keyRevoke(t *testing.T, newStore APIKeyStoreFactory) {
	t.Run("SecondRevokeKeepsTheFirst", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		k := keyN(1, "u1", "t1")
		require.NoError(t, s.CreateKey(ctx(t), k))
		require.NoError(t, s.RevokeKey(ctx(t), k.ID, base.Add(time.Minute), "first"))
		require.NoError(t, s.RevokeKey(ctx(t), k.ID, base.Add(time.Hour), "second"))
		got, err := s.GetKey(ctx(t), k.ID)
		require.NoError(t, err)
		assertTimeEqual(t, base.Add(time.Minute), got.RevokedAt)
		assert.Equal(t, "first", got.RevokeReason)
	})
	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		assert.ErrorIs(t, newStore(t).RevokeKey(ctx(t), "nope", base, "r"), store.ErrNotFound)
	})
}

func keyRevokeAll(t *testing.T, newStore APIKeyStoreFactory) {
	t.Run("OwnersLiveKeysOnly", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for i, o := range []string{"u1", "u1", "u2", "u1"} {
			require.NoError(t, s.CreateKey(ctx(t), keyN(i, o, "t1")))
		}
		require.NoError(t, s.RevokeKey(ctx(t), keyN(3, "", "").ID, base, "earlier"))
		ids, err := s.RevokeKeys(ctx(t), apikey.KeyFilter{OwnerID: "u1"}, base.Add(time.Minute), "user_disabled")
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{keyN(0, "", "").ID, keyN(1, "", "").ID}, ids)
		got, err := s.GetKey(ctx(t), keyN(3, "", "").ID)
		require.NoError(t, err)
		assert.Equal(t, "earlier", got.RevokeReason, "an earlier revocation stands")
		other, err := s.GetKey(ctx(t), keyN(2, "", "").ID)
		require.NoError(t, err)
		assert.True(t, other.RevokedAt.IsZero(), "another owner's key is untouched")
		ids, err = s.RevokeKeys(ctx(t), apikey.KeyFilter{OwnerID: "u1"}, base.Add(time.Hour), "again")
		require.NoError(t, err)
		assert.Empty(t, ids)
	})
	t.Run("InOneTenant", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateKey(ctx(t), keyN(1, "u1", "t1")))
		require.NoError(t, s.CreateKey(ctx(t), keyN(2, "u1", "t2")))
		ids, err := s.RevokeKeys(ctx(t), apikey.KeyFilter{OwnerID: "u1", TenantID: "t2"}, base, "membership_removed")
		require.NoError(t, err)
		assert.Equal(t, []string{keyN(2, "", "").ID}, ids)
	})
	t.Run("EveryKeyOfTheOwner", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Go(func() { assert.NoError(t, s.CreateKey(ctx(t), keyN(i, "u1", "t1"))) })
		}
		wg.Wait()
		ids, err := s.RevokeKeys(ctx(t), apikey.KeyFilter{OwnerID: "u1"}, base, "r")
		require.NoError(t, err)
		assert.Len(t, ids, 30)
		got, err := s.ListKeys(ctx(t), apikey.KeyFilter{OwnerID: "u1"})
		require.NoError(t, err)
		assert.Len(t, got, 30)
		for _, k := range got {
			assert.False(t, k.RevokedAt.IsZero(), k.ID)
		}
	})
}

func saN(n int, tenant string) *apikey.ServiceAccount {
	return &apikey.ServiceAccount{ID: fmt.Sprintf("sa_%03d", n), TenantID: tenant, Name: fmt.Sprintf("bot %d", n),
		Description: "nightly export\nline two", CreatedAt: base, UpdatedAt: base, CreatedBy: "admin"}
}

func assertSAEqual(t *testing.T, want, got *apikey.ServiceAccount) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.TenantID, got.TenantID)
	assert.Equal(t, want.Name, got.Name)
	assert.Equal(t, want.Description, got.Description)
	assert.Equal(t, want.Disabled, got.Disabled)
	assert.Equal(t, want.CreatedBy, got.CreatedBy)
	assertTimeEqual(t, want.CreatedAt, got.CreatedAt)
	assertTimeEqual(t, want.UpdatedAt, got.UpdatedAt)
}

func saCreate(t *testing.T, newStore APIKeyStoreFactory) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := saN(1, "t1")
		require.NoError(t, s.CreateServiceAccount(ctx(t), in))
		got, err := s.GetServiceAccount(ctx(t), in.ID)
		require.NoError(t, err)
		assertSAEqual(t, in, got)
	})
	t.Run("DuplicateIDConflicts", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateServiceAccount(ctx(t), saN(1, "t1")))
		assert.ErrorIs(t, s.CreateServiceAccount(ctx(t), saN(1, "t2")), store.ErrConflict)
	})
	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		_, err := newStore(t).GetServiceAccount(ctx(t), "sa_nope")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

func saList(t *testing.T, newStore APIKeyStoreFactory) {
	t.Run("ByTenantOrderedByID", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for _, n := range []int{3, 1, 2} {
			require.NoError(t, s.CreateServiceAccount(ctx(t), saN(n, "t1")))
		}
		require.NoError(t, s.CreateServiceAccount(ctx(t), saN(4, "t2")))
		got, err := s.ListServiceAccounts(ctx(t), "t1")
		require.NoError(t, err)
		require.Len(t, got, 3)
		assert.Equal(t, []string{"sa_001", "sa_002", "sa_003"}, []string{got[0].ID, got[1].ID, got[2].ID})
	})
}

func saSetDisabled(t *testing.T, newStore APIKeyStoreFactory) {
	t.Run("ReturnsTheStateBefore", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateServiceAccount(ctx(t), saN(1, "t1")))
		before, err := s.SetServiceAccountDisabled(ctx(t), "sa_001", true, base.Add(time.Hour))
		require.NoError(t, err)
		assert.False(t, before.Disabled)
		got, err := s.GetServiceAccount(ctx(t), "sa_001")
		require.NoError(t, err)
		assert.True(t, got.Disabled)
		assertTimeEqual(t, base.Add(time.Hour), got.UpdatedAt)
	})
	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		_, err := newStore(t).SetServiceAccountDisabled(ctx(t), "sa_nope", true, base)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

func saDelete(t *testing.T, newStore APIKeyStoreFactory) {
	t.Run("Deletes", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateServiceAccount(ctx(t), saN(1, "t1")))
		require.NoError(t, s.DeleteServiceAccount(ctx(t), "sa_001"))
		_, err := s.GetServiceAccount(ctx(t), "sa_001")
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.ErrorIs(t, s.DeleteServiceAccount(ctx(t), "sa_001"), store.ErrNotFound)
	})
}
