package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strconv"
)

// Errors of the KeyRing. Each is errors.Is-able through the typed errors
// that carry details.
var (
	// ErrUnknownKey: a sealed value names a key ID the ring does not hold
	// (a retired key removed too early), or the current ID has no key.
	ErrUnknownKey = errors.New("authv2/mfa: unknown key ID")
	// ErrTampered: the ciphertext does not authenticate under its key and
	// associated data: altered, truncated, or moved to another user or
	// credential.
	ErrTampered = errors.New("authv2/mfa: sealed value does not authenticate")
	// ErrKeySize: a key is not 32 bytes (AES-256), or a key ID is empty or
	// too long.
	ErrKeySize = errors.New("authv2/mfa: bad key")
)

// KeyError names the key a KeyRing refused.
type KeyError struct {
	KeyID string
	Err   error // ErrUnknownKey or ErrKeySize
}

func (e *KeyError) Error() string { return e.Err.Error() + " " + strconv.Quote(e.KeyID) }

// Unwrap makes errors.Is(err, ErrUnknownKey) and (err, ErrKeySize) work.
func (e *KeyError) Unwrap() error { return e.Err }

// KeySize is the size of every key of a KeyRing: AES-256.
const KeySize = 32

// maxKeyIDLen bounds key IDs, which are stored beside every ciphertext.
const maxKeyIDLen = 64

// Sealed is a secret encrypted by a KeyRing: the ID of the key it was
// sealed with and the AES-GCM nonce, ciphertext and tag.
type Sealed struct {
	KeyID      string
	Ciphertext []byte
}

// KeyRing encrypts secrets at rest with AES-256-GCM under the current key
// and decrypts them under any key it holds, so keys can rotate: add the
// new key to every instance's ring, then make it current, re-seal what
// the old one sealed (Store.ListTOTPNotSealedWith, KeyRing.Reseal), then
// retire the old key. (An instance made current with a key the others
// lack seals secrets they cannot open: ErrUnknownKey there.)
// The keys come from the application (a secrets manager, environment):
// the stores never see them. Safe for concurrent use.
type KeyRing struct {
	current string
	aeads   map[string]cipher.AEAD
}

// NewKeyRing returns a ring sealing with keys[current] and opening with
// any of keys. Keys must be KeySize random bytes; IDs non-empty, at most
// 64 bytes.
func NewKeyRing(current string, keys map[string][]byte) (*KeyRing, error) {
	r := &KeyRing{current: current, aeads: make(map[string]cipher.AEAD, len(keys))}
	for id, k := range keys {
		if id == "" || len(id) > maxKeyIDLen || len(k) != KeySize {
			return nil, &KeyError{KeyID: id, Err: ErrKeySize}
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, &KeyError{KeyID: id, Err: ErrKeySize}
		}
		// Random 96-bit nonces: fine for far fewer than 2^32 seals per
		// key, and a TOTP secret is sealed once per enrollment.
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, &KeyError{KeyID: id, Err: ErrKeySize}
		}
		r.aeads[id] = aead
	}
	if _, ok := r.aeads[current]; !ok {
		return nil, &KeyError{KeyID: current, Err: ErrUnknownKey}
	}
	return r, nil
}

// CurrentKeyID is the ID of the key Seal uses.
func (r *KeyRing) CurrentKeyID() string { return r.current }

// Seal encrypts plaintext with the current key, authenticating ad with it.
func (r *KeyRing) Seal(plaintext, ad []byte) Sealed {
	aead := r.aeads[r.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand.Read never returns an error
	return Sealed{KeyID: r.current, Ciphertext: aead.Seal(nonce, nonce, plaintext, ad)}
}

// Open decrypts s with the key it names: ErrUnknownKey (a *KeyError) when
// the ring lacks that key, ErrTampered when s or ad differ from what was
// sealed.
func (r *KeyRing) Open(s Sealed, ad []byte) ([]byte, error) {
	aead, ok := r.aeads[s.KeyID]
	if !ok {
		return nil, &KeyError{KeyID: s.KeyID, Err: ErrUnknownKey}
	}
	if len(s.Ciphertext) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrTampered
	}
	n := aead.NonceSize()
	out, err := aead.Open(nil, s.Ciphertext[:n], s.Ciphertext[n:], ad)
	if err != nil {
		return nil, ErrTampered
	}
	return out, nil
}

// Reseal re-encrypts s under the current key; changed is false (and s
// returned as is) when it already is.
func (r *KeyRing) Reseal(s Sealed, ad []byte) (out Sealed, changed bool, err error) {
	if s.KeyID == r.current {
		return s, false, nil
	}
	pt, err := r.Open(s, ad)
	if err != nil {
		return Sealed{}, false, err
	}
	return r.Seal(pt, ad), true, nil
}

// AssociatedData binds a sealed value to its purpose ("totp"), user and
// credential: each part length-prefixed, so no two tuples share an
// encoding. Seal and Open with it, and a ciphertext copied to another row
// fails to open.
func AssociatedData(purpose, userID, credentialID string) []byte {
	b := make([]byte, 0, 12+len(purpose)+len(userID)+len(credentialID))
	for _, s := range []string{purpose, userID, credentialID} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}
