package mfa

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/authv2/authv2/internal/randid"
	"github.com/authv2/authv2/store"
)

// RecoveryCodeCount is how many codes Generate issues.
const RecoveryCodeCount = 10

// recoveryCodeBytes is each code's entropy: 120 bits, 24 base32
// characters, shown as six groups of four. NIST SP 800-63B 5.1.2.2 lets
// look-up secrets of at least 112 bits be stored under a plain approved
// hash; shorter ones would need a salted, costly key derivation.
const recoveryCodeBytes = 15

// recoveryCodeLen is a code's length without dashes.
const recoveryCodeLen = recoveryCodeBytes * 8 / 5

// RecoveryCodes issues and redeems single-use recovery codes.
//
// The store keeps HMAC-SHA-256(key, user ID, code), not a password hash:
// a code has 120 random bits, so even a fast hash leaves an offline
// search of a stolen table at 2^119 guesses per code, and the key (which
// the store never holds) is needed to try any; a slow, salted hash would
// buy nothing and would force comparing a guess against every code of
// the user, where a keyed hash lets the store find (and spend) the one
// code with an indexed, atomic update. The user ID in the message keeps a
// hash from matching in another user's set.
type RecoveryCodes struct {
	// newMAC keys HMAC-SHA-256. A closure, not the key's bytes, so that
	// printing the value (slog.Any, %+v) cannot show the key.
	newMAC func() hash.Hash
	store  Store
}

// NewRecoveryCodes returns RecoveryCodes hashing with key (at least 32
// random bytes, kept apart from the database like the KeyRing's keys;
// changing it voids every stored code).
func NewRecoveryCodes(key []byte, s Store) (*RecoveryCodes, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("%w: the recovery code key must be at least 32 bytes", ErrKeySize)
	}
	if s == nil {
		return nil, fmt.Errorf("%w: recovery codes need a store", ErrInvalidConfig)
	}
	key = bytes.Clone(key)
	return &RecoveryCodes{newMAC: func() hash.Hash { return hmac.New(sha256.New, key) }, store: s}, nil
}

// crockford is Crockford's base32 alphabet: no I, L, O or U to misread.
var crockford = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// Generate issues RecoveryCodeCount new codes for the user, voiding the
// previous set, and returns them formatted (six dash-separated groups of
// four characters) to show once: only their hashes are stored.
func (r *RecoveryCodes) Generate(ctx context.Context, userID string, now time.Time) ([]string, error) {
	codes := make([]string, 0, RecoveryCodeCount)
	hashes := make([][]byte, 0, RecoveryCodeCount)
	seen := map[string]bool{}
	for len(codes) < RecoveryCodeCount {
		raw := crockford.EncodeToString(randid.Bytes(recoveryCodeBytes))
		if seen[raw] {
			continue // never at 120 bits, but the store requires distinct hashes
		}
		seen[raw] = true
		groups := make([]string, 0, recoveryCodeLen/4)
		for i := 0; i < recoveryCodeLen; i += 4 {
			groups = append(groups, raw[i:i+4])
		}
		codes = append(codes, strings.Join(groups, "-"))
		hashes = append(hashes, r.hash(userID, raw))
	}
	if err := r.store.ReplaceRecoveryCodes(ctx, userID, hashes, now); err != nil {
		return nil, err
	}
	return codes, nil
}

// Use redeems one of the user's codes: ErrInvalidCode when it is unknown,
// already used, or from a voided set. Of concurrent uses of one code,
// exactly one succeeds.
func (r *RecoveryCodes) Use(ctx context.Context, userID, code string, now time.Time) (Proof, error) {
	raw, ok := normalizeRecoveryCode(code)
	if !ok {
		return Proof{}, ErrInvalidCode
	}
	err := r.store.UseRecoveryCode(ctx, userID, r.hash(userID, raw), now)
	if errors.Is(err, store.ErrNotFound) {
		return Proof{}, ErrInvalidCode
	}
	if err != nil {
		return Proof{}, err
	}
	return Proof{Factor: FactorRecoveryCode, At: now}, nil
}

// Remaining returns how many of the user's codes are unused.
func (r *RecoveryCodes) Remaining(ctx context.Context, userID string) (int, error) {
	cs, err := r.store.ListRecoveryCodes(ctx, userID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cs {
		if c.UsedAt.IsZero() {
			n++
		}
	}
	return n, nil
}

// normalizeRecoveryCode accepts a code as shown or typed loosely: any
// case, with or without dashes and spaces, and the letters Crockford
// base32 reads as digits (O as 0, I and L as 1).
func normalizeRecoveryCode(code string) (string, bool) {
	var b strings.Builder
	for _, c := range strings.ToUpper(code) {
		switch c {
		case '-', ' ':
			continue
		case 'O':
			c = '0'
		case 'I', 'L':
			c = '1'
		}
		b.WriteRune(c)
	}
	raw := b.String()
	if len(raw) != recoveryCodeLen {
		return "", false
	}
	if _, err := crockford.DecodeString(raw); err != nil {
		return "", false
	}
	return raw, true
}

func (r *RecoveryCodes) hash(userID, raw string) []byte {
	m := r.newMAC()
	m.Write(AssociatedData("recovery", userID, raw))
	return m.Sum(nil)
}
