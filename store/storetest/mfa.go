package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/store"
)

// MFAStoreFactory returns a fresh, isolated mfa.Store.
type MFAStoreFactory func(t *testing.T) mfa.Store

// RunMFAStore runs the mfa.Store conformance cases, grouped by method.
func RunMFAStore(t *testing.T, newStore MFAStoreFactory) {
	method(t, "CreateTOTP", newStore, mfaCreateTOTP)
	method(t, "GetTOTP", newStore, mfaGetTOTP)
	method(t, "ConfirmTOTP", newStore, mfaConfirmTOTP)
	method(t, "UpdateTOTPSecret", newStore, mfaUpdateTOTPSecret)
	method(t, "ListTOTPNotSealedWith", newStore, mfaListTOTPNotSealedWith)
	method(t, "DeleteTOTP", newStore, mfaDeleteTOTP)
	method(t, "ReplaceRecoveryCodes", newStore, mfaReplaceRecoveryCodes)
	method(t, "UseRecoveryCode", newStore, mfaUseRecoveryCode)
	method(t, "ListRecoveryCodes", newStore, mfaListRecoveryCodes)
	method(t, "DeleteRecoveryCodes", newStore, mfaDeleteRecoveryCodes)
	method(t, "CreateWebAuthn", newStore, mfaCreateWebAuthn)
	method(t, "GetWebAuthn", newStore, mfaGetWebAuthn)
	method(t, "ListWebAuthn", newStore, mfaListWebAuthn)
	method(t, "RenameWebAuthn", newStore, mfaRenameWebAuthn)
	method(t, "RecordWebAuthnUse", newStore, mfaRecordWebAuthnUse)
	method(t, "DeleteWebAuthn", newStore, mfaDeleteWebAuthn)
}

func newTOTP(userID, id, keyID string) *mfa.TOTPCredential {
	return &mfa.TOTPCredential{
		ID: id, UserID: userID, CreatedAt: base,
		Secret: mfa.Sealed{KeyID: keyID, Ciphertext: []byte("sealed " + userID + " " + id + "\x00\xff")},
	}
}

func assertTOTPEqual(t *testing.T, want, got *mfa.TOTPCredential) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.UserID, got.UserID)
	assert.Equal(t, want.Secret, got.Secret)
	assertTimeEqual(t, want.CreatedAt, got.CreatedAt)
	assertTimeEqual(t, want.ConfirmedAt, got.ConfirmedAt)
}

func mfaCreateTOTP(t *testing.T, newStore MFAStoreFactory) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := newTOTP("u1", "c1", "k1")
		require.NoError(t, s.CreateTOTP(ctx(t), in))
		got, err := s.GetTOTP(ctx(t), "u1")
		require.NoError(t, err)
		assertTOTPEqual(t, in, got)
		assert.False(t, got.Confirmed())
	})
	t.Run("ReplacesPending", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateTOTP(ctx(t), newTOTP("u1", "c1", "k1")))
		again := newTOTP("u1", "c2", "k1")
		require.NoError(t, s.CreateTOTP(ctx(t), again), "enrollment starts over")
		got, err := s.GetTOTP(ctx(t), "u1")
		require.NoError(t, err)
		assertTOTPEqual(t, again, got)
	})
	t.Run("ConfirmedConflicts", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateTOTP(ctx(t), newTOTP("u1", "c1", "k1")))
		require.NoError(t, s.ConfirmTOTP(ctx(t), "u1", "c1", base))
		assert.ErrorIs(t, s.CreateTOTP(ctx(t), newTOTP("u1", "c2", "k1")), store.ErrConflict)
		got, err := s.GetTOTP(ctx(t), "u1")
		require.NoError(t, err)
		assert.Equal(t, "c1", got.ID, "the confirmed credential stays")
	})
}

func mfaGetTOTP(t *testing.T, newStore MFAStoreFactory) {
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		_, err := newStore(t).GetTOTP(ctx(t), "nobody")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("CanceledContext", func(t *testing.T) {
		t.Parallel()
		_, err := newStore(t).GetTOTP(canceled(t), "u1")
		assert.Error(t, err)
	})
}

func mfaConfirmTOTP(t *testing.T, newStore MFAStoreFactory) {
	t.Run("Confirms", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateTOTP(ctx(t), newTOTP("u1", "c1", "k1")))
		require.NoError(t, s.ConfirmTOTP(ctx(t), "u1", "c1", base.Add(time.Minute)))
		got, err := s.GetTOTP(ctx(t), "u1")
		require.NoError(t, err)
		assertTimeEqual(t, base.Add(time.Minute), got.ConfirmedAt)
	})
	t.Run("WrongCredentialNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateTOTP(ctx(t), newTOTP("u1", "c1", "k1")))
		assert.ErrorIs(t, s.ConfirmTOTP(ctx(t), "u1", "c-replaced", base), store.ErrNotFound)
		assert.ErrorIs(t, s.ConfirmTOTP(ctx(t), "u2", "c1", base), store.ErrNotFound)
	})
	t.Run("ConcurrentConfirmationsOneWins", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateTOTP(ctx(t), newTOTP("u1", "c1", "k1")))
		wins := race(t, 8, func() error { return s.ConfirmTOTP(ctx(t), "u1", "c1", base) }, store.ErrConflict)
		assert.Equal(t, int64(1), wins)
	})
}

// race runs fn n times at once and returns how many succeeded; every
// failure must be lost.
func race(t *testing.T, n int, fn func() error, lost error) int64 {
	t.Helper()
	var wins atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			switch err := fn(); {
			case err == nil:
				wins.Add(1)
			default:
				assert.ErrorIs(t, err, lost)
			}
		})
	}
	wg.Wait()
	return wins.Load()
}

func mfaUpdateTOTPSecret(t *testing.T, newStore MFAStoreFactory) {
	t.Run("ReplacesUnderOldKey", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateTOTP(ctx(t), newTOTP("u1", "c1", "k1")))
		next := mfa.Sealed{KeyID: "k2", Ciphertext: []byte{9, 8, 7}}
		require.NoError(t, s.UpdateTOTPSecret(ctx(t), "u1", "c1", "k1", next))
		got, err := s.GetTOTP(ctx(t), "u1")
		require.NoError(t, err)
		assert.Equal(t, next, got.Secret)
	})
	t.Run("StaleKeyConflicts", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateTOTP(ctx(t), newTOTP("u1", "c1", "k2")))
		err := s.UpdateTOTPSecret(ctx(t), "u1", "c1", "k1", mfa.Sealed{KeyID: "k3", Ciphertext: []byte{1}})
		assert.ErrorIs(t, err, store.ErrConflict)
		got, err := s.GetTOTP(ctx(t), "u1")
		require.NoError(t, err)
		assert.Equal(t, "k2", got.Secret.KeyID)
	})
	t.Run("MissingNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateTOTP(ctx(t), newTOTP("u1", "c1", "k1")))
		err := s.UpdateTOTPSecret(ctx(t), "u1", "c2", "k1", mfa.Sealed{KeyID: "k2", Ciphertext: []byte{1}})
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

func mfaListTOTPNotSealedWith(t *testing.T, newStore MFAStoreFactory) {
	t.Run("ListsOtherKeysUpToLimit", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for i, k := range []string{"old", "old", "old", "new"} {
			u := fmt.Sprint("u", i)
			require.NoError(t, s.CreateTOTP(ctx(t), newTOTP(u, "c"+u, k)))
		}
		got, err := s.ListTOTPNotSealedWith(ctx(t), "new", 10)
		require.NoError(t, err)
		require.Len(t, got, 3)
		for _, c := range got {
			assert.Equal(t, "old", c.Secret.KeyID)
			assert.Equal(t, []byte("sealed "+c.UserID+" "+c.ID+"\x00\xff"), c.Secret.Ciphertext)
		}
		got, err = s.ListTOTPNotSealedWith(ctx(t), "new", 2)
		require.NoError(t, err)
		assert.Len(t, got, 2)
		got, err = s.ListTOTPNotSealedWith(ctx(t), "old", 10)
		require.NoError(t, err)
		assert.Len(t, got, 1)
	})
}

func mfaDeleteTOTP(t *testing.T, newStore MFAStoreFactory) {
	t.Run("Deletes", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateTOTP(ctx(t), newTOTP("u1", "c1", "k1")))
		require.NoError(t, s.DeleteTOTP(ctx(t), "u1"))
		_, err := s.GetTOTP(ctx(t), "u1")
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.ErrorIs(t, s.DeleteTOTP(ctx(t), "u1"), store.ErrNotFound)
	})
}

func hashes(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("%s-hash-%02d-\x00\xff", prefix, i))
	}
	return out
}

func mfaReplaceRecoveryCodes(t *testing.T, newStore MFAStoreFactory) {
	t.Run("VoidsTheOldSet", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.ReplaceRecoveryCodes(ctx(t), "u1", hashes("a", 10), base))
		require.NoError(t, s.UseRecoveryCode(ctx(t), "u1", hashes("a", 10)[0], base))
		require.NoError(t, s.ReplaceRecoveryCodes(ctx(t), "u1", hashes("b", 10), base.Add(time.Minute)))
		assert.ErrorIs(t, s.UseRecoveryCode(ctx(t), "u1", hashes("a", 10)[1], base), store.ErrNotFound, "an old code is void")
		got, err := s.ListRecoveryCodes(ctx(t), "u1")
		require.NoError(t, err)
		require.Len(t, got, 10)
		for _, c := range got {
			assert.True(t, bytes.HasPrefix(c.Hash, []byte("b-")), "only the new set")
			assert.True(t, c.UsedAt.IsZero())
		}
	})
	t.Run("DuplicateHashesConflict", func(t *testing.T) {
		// A set with one hash twice would let that code be used twice.
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.ReplaceRecoveryCodes(ctx(t), "u1", hashes("a", 2), base))
		dup := append(hashes("b", 2), hashes("b", 2)[0])
		assert.ErrorIs(t, s.ReplaceRecoveryCodes(ctx(t), "u1", dup, base), store.ErrConflict)
		got, err := s.ListRecoveryCodes(ctx(t), "u1")
		require.NoError(t, err)
		require.Len(t, got, 2, "the old set stays")
		assert.True(t, bytes.HasPrefix(got[0].Hash, []byte("a-")))
	})
	t.Run("UsersAreIndependent", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.ReplaceRecoveryCodes(ctx(t), "u1", hashes("a", 3), base))
		require.NoError(t, s.ReplaceRecoveryCodes(ctx(t), "u2", hashes("a", 3), base))
		require.NoError(t, s.UseRecoveryCode(ctx(t), "u1", hashes("a", 3)[0], base))
		require.NoError(t, s.UseRecoveryCode(ctx(t), "u2", hashes("a", 3)[0], base), "the same hash of another user is another code")
	})
}

func mfaUseRecoveryCode(t *testing.T, newStore MFAStoreFactory) {
	t.Run("SingleUse", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		h := hashes("a", 10)
		require.NoError(t, s.ReplaceRecoveryCodes(ctx(t), "u1", h, base))
		require.NoError(t, s.UseRecoveryCode(ctx(t), "u1", h[3], base.Add(time.Minute)))
		assert.ErrorIs(t, s.UseRecoveryCode(ctx(t), "u1", h[3], base.Add(2*time.Minute)), store.ErrNotFound)
		got, err := s.ListRecoveryCodes(ctx(t), "u1")
		require.NoError(t, err)
		used := 0
		for _, c := range got {
			if !c.UsedAt.IsZero() {
				used++
				assert.Equal(t, h[3], c.Hash)
				assertTimeEqual(t, base.Add(time.Minute), c.UsedAt)
			}
		}
		assert.Equal(t, 1, used)
	})
	t.Run("UnknownNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.ReplaceRecoveryCodes(ctx(t), "u1", hashes("a", 2), base))
		assert.ErrorIs(t, s.UseRecoveryCode(ctx(t), "u1", []byte("nope"), base), store.ErrNotFound)
		assert.ErrorIs(t, s.UseRecoveryCode(ctx(t), "u2", hashes("a", 2)[0], base), store.ErrNotFound, "another user's code")
	})
	t.Run("ConcurrentUsesOneWins", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		h := hashes("a", 10)
		require.NoError(t, s.ReplaceRecoveryCodes(ctx(t), "u1", h, base))
		wins := race(t, 8, func() error { return s.UseRecoveryCode(ctx(t), "u1", h[0], base) }, store.ErrNotFound)
		assert.Equal(t, int64(1), wins)
	})
}

func mfaListRecoveryCodes(t *testing.T, newStore MFAStoreFactory) {
	t.Run("NoneIsEmpty", func(t *testing.T) {
		t.Parallel()
		got, err := newStore(t).ListRecoveryCodes(ctx(t), "nobody")
		require.NoError(t, err)
		assert.Empty(t, got)
	})
}

func mfaDeleteRecoveryCodes(t *testing.T, newStore MFAStoreFactory) {
	t.Run("Deletes", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.ReplaceRecoveryCodes(ctx(t), "u1", hashes("a", 2), base))
		require.NoError(t, s.DeleteRecoveryCodes(ctx(t), "u1"))
		got, err := s.ListRecoveryCodes(ctx(t), "u1")
		require.NoError(t, err)
		assert.Empty(t, got)
		require.NoError(t, s.DeleteRecoveryCodes(ctx(t), "u1"), "deleting none is no error")
	})
}

func newWebAuthn(userID string, id byte, at time.Time) *mfa.WebAuthnCredential {
	return &mfa.WebAuthnCredential{
		ID: []byte{id, 0, 0xff, id}, UserID: userID, PublicKey: []byte("cose key \x00" + userID),
		AttestationType: "none", AttestationFormat: "packed", SignCount: 0,
		Flags:      mfa.WebAuthnFlags{UserPresent: true, UserVerified: true, BackupEligible: true},
		Transports: []string{"usb", "internal"}, AAGUID: bytes.Repeat([]byte{id}, 16),
		Name: "key " + nasty[0], CreatedAt: at,
	}
}

func assertWebAuthnEqual(t *testing.T, want, got *mfa.WebAuthnCredential) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.UserID, got.UserID)
	assert.Equal(t, want.PublicKey, got.PublicKey)
	assert.Equal(t, want.AttestationType, got.AttestationType)
	assert.Equal(t, want.AttestationFormat, got.AttestationFormat)
	assert.Equal(t, want.SignCount, got.SignCount)
	assert.Equal(t, want.Flags, got.Flags)
	assert.Equal(t, want.Transports, got.Transports)
	assert.Equal(t, want.AAGUID, got.AAGUID)
	assert.Equal(t, want.Name, got.Name)
	assertTimeEqual(t, want.CreatedAt, got.CreatedAt)
	assertTimeEqual(t, want.LastUsedAt, got.LastUsedAt)
}

func mfaCreateWebAuthn(t *testing.T, newStore MFAStoreFactory) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := newWebAuthn("u1", 1, base)
		require.NoError(t, s.CreateWebAuthn(ctx(t), in))
		got, err := s.GetWebAuthn(ctx(t), in.ID)
		require.NoError(t, err)
		assertWebAuthnEqual(t, in, got)
	})
	t.Run("DuplicateIDConflicts", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateWebAuthn(ctx(t), newWebAuthn("u1", 1, base)))
		assert.ErrorIs(t, s.CreateWebAuthn(ctx(t), newWebAuthn("u2", 1, base)), store.ErrConflict, "IDs are unique across users")
	})
}

func mfaGetWebAuthn(t *testing.T, newStore MFAStoreFactory) {
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		_, err := newStore(t).GetWebAuthn(ctx(t), []byte{1, 2, 3})
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

func mfaListWebAuthn(t *testing.T, newStore MFAStoreFactory) {
	t.Run("UsersOwnOldestFirst", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.CreateWebAuthn(ctx(t), newWebAuthn("u1", 2, base.Add(time.Minute))))
		require.NoError(t, s.CreateWebAuthn(ctx(t), newWebAuthn("u1", 1, base)))
		require.NoError(t, s.CreateWebAuthn(ctx(t), newWebAuthn("u2", 3, base)))
		got, err := s.ListWebAuthn(ctx(t), "u1")
		require.NoError(t, err)
		require.Len(t, got, 2)
		assertWebAuthnEqual(t, newWebAuthn("u1", 1, base), got[0])
		assertWebAuthnEqual(t, newWebAuthn("u1", 2, base.Add(time.Minute)), got[1])
		got, err = s.ListWebAuthn(ctx(t), "nobody")
		require.NoError(t, err)
		assert.Empty(t, got)
	})
}

func mfaRenameWebAuthn(t *testing.T, newStore MFAStoreFactory) {
	t.Run("Renames", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		c := newWebAuthn("u1", 1, base)
		require.NoError(t, s.CreateWebAuthn(ctx(t), c))
		require.NoError(t, s.RenameWebAuthn(ctx(t), "u1", c.ID, nasty[3]))
		got, err := s.GetWebAuthn(ctx(t), c.ID)
		require.NoError(t, err)
		assert.Equal(t, nasty[3], got.Name)
	})
	t.Run("OtherUsersNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		c := newWebAuthn("u1", 1, base)
		require.NoError(t, s.CreateWebAuthn(ctx(t), c))
		assert.ErrorIs(t, s.RenameWebAuthn(ctx(t), "u2", c.ID, "mine"), store.ErrNotFound)
		got, err := s.GetWebAuthn(ctx(t), c.ID)
		require.NoError(t, err)
		assert.Equal(t, c.Name, got.Name)
	})
}

func mfaRecordWebAuthnUse(t *testing.T, newStore MFAStoreFactory) {
	t.Run("AdvancesTheCount", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		c := newWebAuthn("u1", 1, base)
		require.NoError(t, s.CreateWebAuthn(ctx(t), c))
		flags := mfa.WebAuthnFlags{UserPresent: true, UserVerified: true, BackupEligible: true, BackupState: true}
		require.NoError(t, s.RecordWebAuthnUse(ctx(t), "u1", c.ID, 5, flags, base.Add(time.Minute)))
		got, err := s.GetWebAuthn(ctx(t), c.ID)
		require.NoError(t, err)
		assert.Equal(t, uint32(5), got.SignCount)
		assert.Equal(t, flags, got.Flags)
		assertTimeEqual(t, base.Add(time.Minute), got.LastUsedAt)
		for _, n := range []uint32{5, 4, 0} {
			assert.ErrorIs(t, s.RecordWebAuthnUse(ctx(t), "u1", c.ID, n, flags, base), store.ErrConflict, "count %d after 5", n)
		}
		require.NoError(t, s.RecordWebAuthnUse(ctx(t), "u1", c.ID, 6, flags, base.Add(2*time.Minute)))
	})
	t.Run("ZeroCountsStayZero", func(t *testing.T) {
		// Authenticators without a counter (most passkeys) always send 0.
		t.Parallel()
		s := newStore(t)
		c := newWebAuthn("u1", 1, base)
		require.NoError(t, s.CreateWebAuthn(ctx(t), c))
		for range 2 {
			require.NoError(t, s.RecordWebAuthnUse(ctx(t), "u1", c.ID, 0, c.Flags, base))
		}
	})
	t.Run("ConcurrentSameCountOneWins", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		c := newWebAuthn("u1", 1, base)
		require.NoError(t, s.CreateWebAuthn(ctx(t), c))
		wins := race(t, 8, func() error { return s.RecordWebAuthnUse(ctx(t), "u1", c.ID, 7, c.Flags, base) }, store.ErrConflict)
		assert.Equal(t, int64(1), wins)
	})
	t.Run("OtherUsersNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		c := newWebAuthn("u1", 1, base)
		require.NoError(t, s.CreateWebAuthn(ctx(t), c))
		assert.ErrorIs(t, s.RecordWebAuthnUse(ctx(t), "u2", c.ID, 1, c.Flags, base), store.ErrNotFound)
	})
}

func mfaDeleteWebAuthn(t *testing.T, newStore MFAStoreFactory) {
	t.Run("DeletesOnlyTheOwners", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		c := newWebAuthn("u1", 1, base)
		require.NoError(t, s.CreateWebAuthn(ctx(t), c))
		assert.ErrorIs(t, s.DeleteWebAuthn(ctx(t), "u2", c.ID), store.ErrNotFound)
		require.NoError(t, s.DeleteWebAuthn(ctx(t), "u1", c.ID))
		_, err := s.GetWebAuthn(ctx(t), c.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.ErrorIs(t, s.DeleteWebAuthn(ctx(t), "u1", c.ID), store.ErrNotFound)
	})
}

// ChallengeStoreFactory returns a fresh, isolated mfa.ChallengeStore.
type ChallengeStoreFactory func(t *testing.T) mfa.ChallengeStore

// RunChallengeStore runs the mfa.ChallengeStore conformance cases,
// grouped by method.
func RunChallengeStore(t *testing.T, newStore ChallengeStoreFactory) {
	method(t, "PutChallenge", newStore, challengePut)
	method(t, "TakeChallenge", newStore, challengeTake)
}

func newChallenge(id string) *mfa.Challenge {
	return &mfa.Challenge{ID: id, UserID: "u1", Kind: "webauthn.login", Data: []byte("{\"c\":\"x\"}\x00\xff"), ExpiresAt: base.Add(5 * time.Minute)}
}

func challengePut(t *testing.T, newStore ChallengeStoreFactory) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := newChallenge("ch1")
		require.NoError(t, s.PutChallenge(ctx(t), in, base))
		got, err := s.TakeChallenge(ctx(t), "ch1", base.Add(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, in.ID, got.ID)
		assert.Equal(t, in.UserID, got.UserID)
		assert.Equal(t, in.Kind, got.Kind)
		assert.Equal(t, in.Data, got.Data)
		assertTimeEqual(t, in.ExpiresAt, got.ExpiresAt)
	})
	t.Run("BytesRoundTripOrInvalid", func(t *testing.T) {
		// A store keeps the user and kind byte for byte or refuses them
		// (store.ErrInvalid): never hands back other bytes, which would
		// name another user.
		t.Parallel()
		s := newStore(t)
		for i, v := range []string{"u\xff1", "u\xfe1", "\xc3\x28", "u\x001", "u\u00001", "u\ufffd1"} {
			in := newChallenge(fmt.Sprint("ch", i))
			in.UserID, in.Kind = v, "k"+v
			err := s.PutChallenge(ctx(t), in, base)
			if errors.Is(err, store.ErrInvalid) {
				continue
			}
			require.NoError(t, err, "%q", v)
			got, err := s.TakeChallenge(ctx(t), in.ID, base)
			require.NoError(t, err, "%q", v)
			assert.Equal(t, in.UserID, got.UserID)
			assert.Equal(t, in.Kind, got.Kind)
		}
	})
	t.Run("LiveDuplicateConflicts", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.PutChallenge(ctx(t), newChallenge("ch1"), base))
		other := newChallenge("ch1")
		other.UserID = "u2"
		assert.ErrorIs(t, s.PutChallenge(ctx(t), other, base), store.ErrConflict)
		got, err := s.TakeChallenge(ctx(t), "ch1", base)
		require.NoError(t, err)
		assert.Equal(t, "u1", got.UserID, "the first stays")
	})
}

func challengeTake(t *testing.T, newStore ChallengeStoreFactory) {
	t.Run("SingleUse", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.PutChallenge(ctx(t), newChallenge("ch1"), base))
		_, err := s.TakeChallenge(ctx(t), "ch1", base)
		require.NoError(t, err)
		_, err = s.TakeChallenge(ctx(t), "ch1", base)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("ExpiredNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.PutChallenge(ctx(t), newChallenge("ch1"), base))
		_, err := s.TakeChallenge(ctx(t), "ch1", base.Add(5*time.Minute))
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("UnknownNotFound", func(t *testing.T) {
		t.Parallel()
		_, err := newStore(t).TakeChallenge(ctx(t), "nope", base)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("HostileIDNotFound", func(t *testing.T) {
		// The ID comes from the client finishing a ceremony: one no
		// store could hold is simply not there, on every store (not a
		// store.ErrInvalid on some).
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.PutChallenge(ctx(t), newChallenge("ch1"), base))
		for _, id := range []string{"ch1\x00", "\x00", "ch1\xff", "\xc3\x28", "ch1}", "{ch1}", strings.Repeat("c", 1<<16)} {
			_, err := s.TakeChallenge(ctx(t), id, base)
			assert.ErrorIs(t, err, store.ErrNotFound, "%q", id)
		}
		_, err := s.TakeChallenge(ctx(t), "ch1", base)
		assert.NoError(t, err, "the real one is untouched")
	})
	t.Run("ConcurrentTakesOneWins", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.PutChallenge(ctx(t), newChallenge("ch1"), base))
		wins := race(t, 8, func() error { _, err := s.TakeChallenge(ctx(t), "ch1", base); return err }, store.ErrNotFound)
		assert.Equal(t, int64(1), wins)
	})
}

// ReplayGuardFactory returns a fresh, isolated mfa.ReplayGuard.
type ReplayGuardFactory func(t *testing.T) mfa.ReplayGuard

// RunReplayGuard runs the mfa.ReplayGuard conformance cases, grouped by
// method.
func RunReplayGuard(t *testing.T, newGuard ReplayGuardFactory) {
	method(t, "Advance", newGuard, guardAdvance)
}

func guardAdvance(t *testing.T, newGuard ReplayGuardFactory) {
	exp := base.Add(2 * time.Minute)
	t.Run("OnlyForward", func(t *testing.T) {
		t.Parallel()
		g := newGuard(t)
		require.NoError(t, g.Advance(ctx(t), "totp:c1", 100, exp, base))
		assert.ErrorIs(t, g.Advance(ctx(t), "totp:c1", 100, exp, base), store.ErrConflict, "the same counter twice")
		assert.ErrorIs(t, g.Advance(ctx(t), "totp:c1", 99, exp, base), store.ErrConflict, "an older counter")
		require.NoError(t, g.Advance(ctx(t), "totp:c1", 101, exp, base))
		require.NoError(t, g.Advance(ctx(t), "totp:c2", 50, exp, base), "keys are independent")
	})
	t.Run("ExpiredIsForgotten", func(t *testing.T) {
		t.Parallel()
		g := newGuard(t)
		require.NoError(t, g.Advance(ctx(t), "k", 100, base.Add(-time.Second), base.Add(-time.Minute)))
		require.NoError(t, g.Advance(ctx(t), "k", 100, exp, base))
	})
	t.Run("ConcurrentAdvancesOneWins", func(t *testing.T) {
		t.Parallel()
		g := newGuard(t)
		wins := race(t, 8, func() error { return g.Advance(ctx(t), "k", 7, exp, base) }, store.ErrConflict)
		assert.Equal(t, int64(1), wins)
	})
}
