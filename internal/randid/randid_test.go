package randid

import (
	"encoding/base64"
	"testing"
)

// TestIDsAre128RandomBits: IDs decode to 16 bytes of base64url and do not
// repeat.
func TestIDsAre128RandomBits(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := ID()
		b, err := base64.RawURLEncoding.Strict().DecodeString(id)
		if err != nil || len(b) != 16 {
			t.Fatalf("ID() = %q: %d bytes, %v", id, len(b), err)
		}
		if seen[id] {
			t.Fatalf("ID() repeated %q", id)
		}
		seen[id] = true
	}
	if n := len(String(18)); n != 24 {
		t.Fatalf("String(18) has %d characters, want 24", n)
	}
	if a, b := Bytes(32), Bytes(32); len(a) != 32 || string(a) == string(b) {
		t.Fatalf("Bytes(32) = %x, %x", a, b)
	}
}
