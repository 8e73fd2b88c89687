package mfa

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestKeyRingSealOpen(t *testing.T) {
	r, err := NewKeyRing("k1", map[string][]byte{"k1": key(1)})
	require.NoError(t, err)
	ad := AssociatedData("totp", "u1", "c1")
	s := r.Seal([]byte("JBSWY3DPEHPK3PXP"), ad)
	assert.Equal(t, "k1", s.KeyID)
	assert.NotContains(t, string(s.Ciphertext), "JBSWY3DPEHPK3PXP")
	assert.NotEqual(t, s.Ciphertext, r.Seal([]byte("JBSWY3DPEHPK3PXP"), ad).Ciphertext, "a fresh nonce per seal")
	got, err := r.Open(s, ad)
	require.NoError(t, err)
	assert.Equal(t, "JBSWY3DPEHPK3PXP", string(got))
}

func TestKeyRingRefusesTamperedOrMovedCiphertext(t *testing.T) {
	r, err := NewKeyRing("k1", map[string][]byte{"k1": key(1)})
	require.NoError(t, err)
	s := r.Seal([]byte("secret"), AssociatedData("totp", "u1", "c1"))
	flipped := Sealed{KeyID: s.KeyID, Ciphertext: bytes.Clone(s.Ciphertext)}
	flipped.Ciphertext[len(flipped.Ciphertext)-1] ^= 1
	for name, c := range map[string]struct {
		s  Sealed
		ad []byte
	}{
		"other user":       {s, AssociatedData("totp", "u2", "c1")},
		"other credential": {s, AssociatedData("totp", "u1", "c2")},
		"other purpose":    {s, AssociatedData("recovery", "u1", "c1")},
		"ambiguous split":  {s, AssociatedData("totp", "u1c", "1")},
		"flipped bit":      {flipped, AssociatedData("totp", "u1", "c1")},
		"truncated":        {Sealed{KeyID: "k1", Ciphertext: s.Ciphertext[:10]}, AssociatedData("totp", "u1", "c1")},
		"empty":            {Sealed{KeyID: "k1"}, AssociatedData("totp", "u1", "c1")},
	} {
		_, err := r.Open(c.s, c.ad)
		assert.ErrorIs(t, err, ErrTampered, name)
	}
}

func TestKeyRingKeyErrors(t *testing.T) {
	_, err := NewKeyRing("k1", map[string][]byte{"k1": key(1)[:16]})
	assert.ErrorIs(t, err, ErrKeySize, "AES-128 keys are refused: AES-256 only")
	_, err = NewKeyRing("", map[string][]byte{"": key(1)})
	assert.ErrorIs(t, err, ErrKeySize, "an empty key ID")
	_, err = NewKeyRing(string(bytes.Repeat([]byte{'k'}, 65)), map[string][]byte{string(bytes.Repeat([]byte{'k'}, 65)): key(1)})
	assert.ErrorIs(t, err, ErrKeySize, "a key ID over 64 bytes")
	_, err = NewKeyRing("k2", map[string][]byte{"k1": key(1)})
	assert.ErrorIs(t, err, ErrUnknownKey, "the current key must be in the ring")

	old, err := NewKeyRing("k1", map[string][]byte{"k1": key(1)})
	require.NoError(t, err)
	s := old.Seal([]byte("secret"), nil)
	other, err := NewKeyRing("k2", map[string][]byte{"k2": key(2)})
	require.NoError(t, err)
	_, err = other.Open(s, nil)
	require.ErrorIs(t, err, ErrUnknownKey)
	var ke *KeyError
	require.True(t, errors.As(err, &ke))
	assert.Equal(t, "k1", ke.KeyID)
	assert.Contains(t, err.Error(), `"k1"`)
}

func TestKeyRingRotation(t *testing.T) {
	ad := AssociatedData("totp", "u1", "c1")
	old, err := NewKeyRing("k1", map[string][]byte{"k1": key(1)})
	require.NoError(t, err)
	s := old.Seal([]byte("secret"), ad)

	rotating, err := NewKeyRing("k2", map[string][]byte{"k1": key(1), "k2": key(2)})
	require.NoError(t, err)
	assert.Equal(t, "k2", rotating.CurrentKeyID())
	got, err := rotating.Open(s, ad)
	require.NoError(t, err, "an old key still opens")
	assert.Equal(t, "secret", string(got))
	next, changed, err := rotating.Reseal(s, ad)
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, "k2", next.KeyID)
	same, changed, err := rotating.Reseal(next, ad)
	require.NoError(t, err)
	assert.False(t, changed)
	assert.Equal(t, next, same)
	_, _, err = rotating.Reseal(s, AssociatedData("totp", "u2", "c1"))
	assert.ErrorIs(t, err, ErrTampered)

	retired, err := NewKeyRing("k2", map[string][]byte{"k2": key(2)})
	require.NoError(t, err)
	got, err = retired.Open(next, ad)
	require.NoError(t, err, "after re-sealing, the old key can go")
	assert.Equal(t, "secret", string(got))
}
