// Package token builds and parses authv2's opaque session tokens and API
// keys:
//
//	av2_  <session ID, 32 chars> <secret, 43 chars> <checksum, 6 chars>
//	av2k_ <key ID, 32 chars>     <secret, 43 chars> <checksum, 6 chars>
//
// all base64url without padding. The two differ only in their prefix, so a
// secret scanner tells a leaked API key (long-lived, worth an alert) from a
// session token, and neither parses as the other. The session ID locates the record; the
// 256-bit secret proves possession (only its SHA-256 is stored); the CRC-32
// checksum lets a malformed or mistyped token be rejected, and secret
// scanners recognise leaked tokens, without a store round trip.
package token

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// Prefix starts every session token.
const Prefix = "av2_"

// KeyPrefix starts every API key. Secret scanners find keys with the
// regular expression KeyPattern.
const KeyPrefix = "av2k_"

// KeyPattern matches an API key in text, for secret scanners: the prefix
// and 81 base64url characters. A match that ParseKey accepts (its CRC-32
// holds) is a key, not a look-alike.
const KeyPattern = `av2k_[A-Za-z0-9_-]{81}`

const (
	idLen     = 32 // session.IDLength
	secretLen = 43 // base64url of 32 bytes
	crcLen    = 6  // base64url of 4 bytes
	// Length is the length of every well-formed session token.
	Length = len(Prefix) + idLen + secretLen + crcLen
	// KeyLength is the length of every well-formed API key.
	KeyLength = len(KeyPrefix) + idLen + secretLen + crcLen
)

// ErrMalformed: the string is not a well-formed token.
var ErrMalformed = errors.New("authv2/token: malformed token")

var enc = base64.RawURLEncoding

// strict decodes only canonical base64url: the unused low bits of the last
// character must be zero. Otherwise several spellings of one secret or
// checksum would all parse, and a mistyped last character could pass.
var strict = base64.RawURLEncoding.Strict()

// New returns a token for sessionID with a fresh 256-bit secret, and the
// secret's raw bytes (to be hashed for storage).
func New(sessionID string) (tok string, secret []byte, err error) {
	return newWith(Prefix, sessionID)
}

// NewKey returns an API key for keyID (32 base64url characters) with a
// fresh 256-bit secret, and the secret's raw bytes.
func NewKey(keyID string) (key string, secret []byte, err error) {
	return newWith(KeyPrefix, keyID)
}

func newWith(prefix, sessionID string) (tok string, secret []byte, err error) {
	if len(sessionID) != idLen || !isB64URL(sessionID) {
		return "", nil, ErrMalformed
	}
	secret = make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", nil, err
	}
	buf := make([]byte, 0, len(prefix)+idLen+secretLen+crcLen)
	buf = append(buf, prefix...)
	buf = append(buf, sessionID...)
	buf = enc.AppendEncode(buf, secret)
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], checksum(buf))
	buf = enc.AppendEncode(buf, sum[:])
	return string(buf), secret, nil
}

// Parse splits a token into its session ID and secret, rejecting anything
// malformed with ErrMalformed. It does not allocate: it runs on every
// authenticated request.
func Parse(tok string) (sessionID string, secret [32]byte, err error) {
	return parseWith(Prefix, tok)
}

// ParseKey splits an API key into its key ID and secret, as Parse does a
// session token; a session token is ErrMalformed here, and a key there.
func ParseKey(key string) (keyID string, secret [32]byte, err error) {
	return parseWith(KeyPrefix, key)
}

// IsKey reports whether s looks like an API key (its prefix): the
// middleware routes it to the key store, never the session store.
func IsKey(s string) bool { return len(s) >= len(KeyPrefix) && s[:len(KeyPrefix)] == KeyPrefix }

func parseWith(prefix, tok string) (id string, secret [32]byte, err error) {
	n := len(prefix) + idLen + secretLen + crcLen
	if len(tok) != n || tok[:len(prefix)] != prefix || !isB64URL(tok[len(prefix):]) {
		return "", secret, ErrMalformed
	}
	var buf [KeyLength]byte // the longer of the two; stays on the stack
	raw := buf[:n]
	copy(raw, tok)
	var sum [4]byte
	if k, err := strict.Decode(sum[:], raw[n-crcLen:]); err != nil || k != 4 {
		return "", secret, ErrMalformed
	}
	if binary.BigEndian.Uint32(sum[:]) != checksum(raw[:n-crcLen]) {
		return "", secret, ErrMalformed
	}
	if k, err := strict.Decode(secret[:], raw[len(prefix)+idLen:n-crcLen]); err != nil || k != 32 {
		return "", [32]byte{}, ErrMalformed
	}
	return tok[len(prefix) : len(prefix)+idLen], secret, nil
}

// checksum is CRC-32 (IEEE) computed in Go so the input can stay on the
// caller's stack (the assembly version makes its argument escape).
func checksum(b []byte) uint32 {
	crc := ^uint32(0)
	for _, c := range b {
		crc = crc32.IEEETable[byte(crc)^c] ^ (crc >> 8)
	}
	return ^crc
}

func isB64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
