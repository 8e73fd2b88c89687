package redis

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPackRoundTrip(t *testing.T) {
	vals := []string{"", "a", strings.Repeat("x", 300), "\x00\x01:|", "\xff"}
	got := make([]string, len(vals))
	require.NoError(t, unpack(pack(vals...), got))
	assert.Equal(t, vals, got)

	for name, blob := range map[string]string{
		"empty":          "",
		"old version":    "\x00" + pack("a")[1:],
		"too few values": pack("a", "b"),
		"trailing bytes": pack("a", "b", "c") + "z",
		"length too big": "\x01\x05ab",
		"bad varint":     "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
	} {
		assert.ErrorIs(t, unpack(blob, make([]string, 3)), errCorrupt, name)
	}
}

// Whatever Redis hands back, unpack returns values or errCorrupt, never
// panics, and what pack makes unpacks to itself.
func FuzzUnpack(f *testing.F) {
	f.Add(pack("id", "hash", "user", "1", "2"), "a", "b")
	f.Add("\x01\x80", "", "")
	f.Fuzz(func(t *testing.T, blob, a, b string) {
		dst := make([]string, 5)
		if err := unpack(blob, dst); err != nil && !errors.Is(err, errCorrupt) {
			t.Fatalf("unexpected error %v", err)
		}
		got := make([]string, 2)
		if err := unpack(pack(a, b), got); err != nil || got[0] != a || got[1] != b {
			t.Fatalf("round trip of %q, %q: %q, %v", a, b, got, err)
		}
	})
}
