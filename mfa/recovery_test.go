package mfa_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/internal/mfatest"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/store/memory"
)

// t0 is any instant: the codes do not expire.
var t0 = time.Unix(1_800_000_000, 0).UTC()

func newRecovery(t *testing.T, s *memory.MFAStore) *mfa.RecoveryCodes {
	t.Helper()
	r, err := mfa.NewRecoveryCodes([]byte(strings.Repeat("k", 32)), s)
	require.NoError(t, err)
	return r
}

func TestRecoveryCodesGenerateAndUse(t *testing.T) {
	s := memory.NewMFAStore()
	r := newRecovery(t, s)
	ctx := t.Context()
	codes, err := r.Generate(ctx, "u1", t0)
	require.NoError(t, err)
	require.Len(t, codes, mfa.RecoveryCodeCount)
	seen := map[string]bool{}
	for _, c := range codes {
		assert.Regexp(t, regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){5}$`), c, "120 bits of Crockford base32")
		assert.False(t, seen[c])
		seen[c] = true
	}
	stored, err := s.ListRecoveryCodes(ctx, "u1")
	require.NoError(t, err)
	require.Len(t, stored, 10)
	for _, sc := range stored {
		assert.Len(t, sc.Hash, 32)
		for _, c := range codes {
			assert.NotContains(t, string(sc.Hash), strings.ReplaceAll(c, "-", ""), "only hashes are stored")
		}
	}

	p, err := r.Use(ctx, "u1", codes[0], t0)
	require.NoError(t, err)
	assert.Equal(t, mfa.Proof{Factor: mfa.FactorRecoveryCode, At: t0}, p)
	_, err = r.Use(ctx, "u1", codes[0], t0)
	assert.ErrorIs(t, err, mfa.ErrInvalidCode, "single use")

	loose := strings.ToLower(strings.ReplaceAll(codes[1], "-", " "))
	loose = strings.NewReplacer("0", "o", "1", "l").Replace(loose)
	_, err = r.Use(ctx, "u1", loose, t0)
	assert.NoError(t, err, "lower case, spaces, O for 0 and L for 1")

	_, err = r.Use(ctx, "u2", codes[2], t0)
	assert.ErrorIs(t, err, mfa.ErrInvalidCode, "another user's code")
	for _, bad := range []string{"", "XXXX", codes[2] + "0", "UUUU-UUUU-UUUU-UUUU-UUUU-UUUU"} {
		_, err = r.Use(ctx, "u1", bad, t0)
		assert.ErrorIs(t, err, mfa.ErrInvalidCode, "%q", bad)
	}
	n, err := r.Remaining(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, 8, n)
}

func TestRecoveryCodesRegenerateVoidsOldSet(t *testing.T) {
	s := memory.NewMFAStore()
	r := newRecovery(t, s)
	ctx := t.Context()
	old, err := r.Generate(ctx, "u1", t0)
	require.NoError(t, err)
	fresh, err := r.Generate(ctx, "u1", t0)
	require.NoError(t, err)
	_, err = r.Use(ctx, "u1", old[0], t0)
	assert.ErrorIs(t, err, mfa.ErrInvalidCode)
	_, err = r.Use(ctx, "u1", fresh[0], t0)
	assert.NoError(t, err)
	n, err := r.Remaining(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, 9, n)
}

func TestRecoveryCodeConcurrentUseOneWins(t *testing.T) {
	s := memory.NewMFAStore()
	r := newRecovery(t, s)
	codes, err := r.Generate(t.Context(), "u1", t0)
	require.NoError(t, err)
	won := mfatest.Wins(t, 16, func(int) error {
		_, err := r.Use(context.Background(), "u1", codes[0], t0)
		return err
	}, mfa.ErrInvalidCode)
	assert.Equal(t, int64(1), won)
}

func TestRecoveryCodesKeyChecks(t *testing.T) {
	_, err := mfa.NewRecoveryCodes(make([]byte, 31), memory.NewMFAStore())
	assert.ErrorIs(t, err, mfa.ErrKeySize)
	_, err = mfa.NewRecoveryCodes(make([]byte, 32), nil)
	assert.ErrorIs(t, err, mfa.ErrInvalidConfig)
}

// The hashing key must not reach a log line through a debug print of the
// value (slog.Any, %+v of a struct holding it), as the KeyRing's keys
// do not.
func TestRecoveryCodesPrintNoKey(t *testing.T) {
	key := []byte("0123456789abcdefghijklmnopqrstuv")
	r, err := mfa.NewRecoveryCodes(key, memory.NewMFAStore())
	require.NoError(t, err)
	ring := mfatest.Ring(t, "k1")
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		for _, v := range []any{r, *r, ring, *ring} {
			out := fmt.Sprintf(f, v)
			assert.NotContains(t, out, fmt.Sprintf(f, key), f)
			assert.NotContains(t, out, fmt.Sprint(key[:8])[1:20], f)
			assert.NotContains(t, out, "0x30, 0x31, 0x32", f)
			assert.NotContains(t, out, "3031323334", f)
			assert.NotContains(t, out, "0123456789", f)
		}
	}
}
