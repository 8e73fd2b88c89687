// Package token builds and parses authv2's opaque session tokens:
//
//	av2_ <session ID, 32 chars> <secret, 43 chars> <checksum, 6 chars>
//
// all base64url without padding. The session ID locates the record; the
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

// Prefix starts every token.
const Prefix = "av2_"

const (
	idLen     = 32 // session.IDLength
	secretLen = 43 // base64url of 32 bytes
	crcLen    = 6  // base64url of 4 bytes
	// Length is the length of every well-formed token.
	Length = len(Prefix) + idLen + secretLen + crcLen
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
	if len(sessionID) != idLen || !isB64URL(sessionID) {
		return "", nil, ErrMalformed
	}
	secret = make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", nil, err
	}
	buf := make([]byte, 0, Length)
	buf = append(buf, Prefix...)
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
	if len(tok) != Length || tok[:len(Prefix)] != Prefix || !isB64URL(tok[len(Prefix):]) {
		return "", secret, ErrMalformed
	}
	var raw [Length]byte
	copy(raw[:], tok)
	var sum [4]byte
	if n, err := strict.Decode(sum[:], raw[Length-crcLen:]); err != nil || n != 4 {
		return "", secret, ErrMalformed
	}
	if binary.BigEndian.Uint32(sum[:]) != checksum(raw[:Length-crcLen]) {
		return "", secret, ErrMalformed
	}
	if n, err := strict.Decode(secret[:], raw[len(Prefix)+idLen:Length-crcLen]); err != nil || n != 32 {
		return "", [32]byte{}, ErrMalformed
	}
	return tok[len(Prefix) : len(Prefix)+idLen], secret, nil
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
