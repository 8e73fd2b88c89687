// Package randid makes authv2's random identifiers and secrets, so that
// every one of them comes from crypto/rand and is spelt the same way.
package randid

import (
	"crypto/rand"
	"encoding/base64"
)

// Bytes returns n bytes from crypto/rand, for secrets that are hashed
// before they are stored.
func Bytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (it crashes the program instead)
	return b
}

// String returns n random bytes as unpadded base64url.
func String(n int) string { return base64.RawURLEncoding.EncodeToString(Bytes(n)) }

// ID returns a 128-bit random identifier (22 characters of base64url):
// too many bits to collide or be guessed, whoever creates it.
func ID() string { return String(16) }
