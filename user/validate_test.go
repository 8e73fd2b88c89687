package user_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/user"
)

func TestCheckPassword(t *testing.T) {
	for _, tc := range []struct {
		name string
		pw   string
		ok   bool
	}{
		{"7 multibyte code points", "ééééééé", false},
		{"8 multibyte code points", "éééééééé", true},
		{"spaces allowed", "a b c d e", true},
		{"only spaces", "        ", true},
		{"128", strings.Repeat("a", 128), true},
		{"129", strings.Repeat("a", 129), false},
		{"128 four-byte", strings.Repeat("🔑", 128), true},
		{"invalid UTF-8", "abcdefgh\xff", false},
		{"NUL", "abcd\x00efgh", false},
		{"empty", "", false},
	} {
		reason := user.CheckPassword(tc.pw, 8, 128)
		if tc.ok {
			assert.Empty(t, reason, tc.name)
		} else {
			assert.NotEmpty(t, reason, tc.name)
		}
	}
}

// The password is verified exactly as given: no trimming, no case folding.
func TestPasswordVerifiedExactly(t *testing.T) {
	h := newHasher(t, cheap)
	ctx := context.Background()
	encoded, err := h.Hash(ctx, "Password 1")
	require.NoError(t, err)
	_, err = h.Verify(ctx, "Password 1", encoded)
	require.NoError(t, err)
	for _, wrong := range []string{"password 1", "Password1", " Password 1", "Password 1 ", "PASSWORD 1"} {
		_, err = h.Verify(ctx, wrong, encoded)
		assert.ErrorIs(t, err, user.ErrMismatch, wrong)
	}
}
