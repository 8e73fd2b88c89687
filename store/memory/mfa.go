package memory

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/store"
)

// MFAStore is an in-memory mfa.Store.
type MFAStore struct {
	mu       sync.RWMutex
	totp     map[string]*mfa.TOTPCredential // by user ID
	recovery map[string][]mfa.RecoveryCode  // by user ID
	webauthn map[string]*mfa.WebAuthnCredential
}

var _ mfa.Store = (*MFAStore)(nil)

// NewMFAStore returns an empty MFAStore.
func NewMFAStore() *MFAStore {
	return &MFAStore{
		totp:     map[string]*mfa.TOTPCredential{},
		recovery: map[string][]mfa.RecoveryCode{},
		webauthn: map[string]*mfa.WebAuthnCredential{},
	}
}

func copyTOTP(c *mfa.TOTPCredential) *mfa.TOTPCredential {
	x := *c
	x.Secret.Ciphertext = bytes.Clone(c.Secret.Ciphertext)
	return &x
}

func copyWebAuthn(c *mfa.WebAuthnCredential) *mfa.WebAuthnCredential {
	x := *c
	x.ID, x.PublicKey, x.AAGUID = bytes.Clone(c.ID), bytes.Clone(c.PublicKey), bytes.Clone(c.AAGUID)
	x.Transports = slices.Clone(c.Transports)
	return &x
}

// CreateTOTP implements mfa.Store.
func (s *MFAStore) CreateTOTP(ctx context.Context, c *mfa.TOTPCredential) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.totp[c.UserID]; ok && old.Confirmed() {
		return store.ErrConflict
	}
	s.totp[c.UserID] = copyTOTP(c)
	return nil
}

// GetTOTP implements mfa.Store.
func (s *MFAStore) GetTOTP(ctx context.Context, userID string) (*mfa.TOTPCredential, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.totp[userID]
	if !ok {
		return nil, store.ErrNotFound
	}
	return copyTOTP(c), nil
}

// ConfirmTOTP implements mfa.Store.
func (s *MFAStore) ConfirmTOTP(ctx context.Context, userID, id string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.totp[userID]
	switch {
	case !ok || c.ID != id:
		return store.ErrNotFound
	case c.Confirmed():
		return store.ErrConflict
	}
	c.ConfirmedAt = at
	return nil
}

// UpdateTOTPSecret implements mfa.Store.
func (s *MFAStore) UpdateTOTPSecret(ctx context.Context, userID, id, oldKeyID string, sealed mfa.Sealed) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.totp[userID]
	switch {
	case !ok || c.ID != id:
		return store.ErrNotFound
	case c.Secret.KeyID != oldKeyID:
		return store.ErrConflict
	}
	c.Secret = mfa.Sealed{KeyID: sealed.KeyID, Ciphertext: bytes.Clone(sealed.Ciphertext)}
	return nil
}

// ListTOTPNotSealedWith implements mfa.Store.
func (s *MFAStore) ListTOTPNotSealedWith(ctx context.Context, keyID string, limit int) ([]*mfa.TOTPCredential, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*mfa.TOTPCredential
	for _, c := range s.totp {
		if len(out) >= limit {
			break
		}
		if c.Secret.KeyID != keyID {
			out = append(out, copyTOTP(c))
		}
	}
	return out, nil
}

// DeleteTOTP implements mfa.Store.
func (s *MFAStore) DeleteTOTP(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.totp[userID]; !ok {
		return store.ErrNotFound
	}
	delete(s.totp, userID)
	return nil
}

// ReplaceRecoveryCodes implements mfa.Store.
func (s *MFAStore) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, _ time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	codes := make([]mfa.RecoveryCode, len(hashes))
	seen := make(map[string]bool, len(hashes))
	for i, h := range hashes {
		if seen[string(h)] {
			return store.ErrConflict // as PostgreSQL's primary key does
		}
		seen[string(h)] = true
		codes[i] = mfa.RecoveryCode{Hash: bytes.Clone(h)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recovery[userID] = codes
	return nil
}

// UseRecoveryCode implements mfa.Store.
func (s *MFAStore) UseRecoveryCode(ctx context.Context, userID string, hash []byte, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	codes := s.recovery[userID]
	for i := range codes {
		if bytes.Equal(codes[i].Hash, hash) && codes[i].UsedAt.IsZero() {
			codes[i].UsedAt = at
			return nil
		}
	}
	return store.ErrNotFound
}

// ListRecoveryCodes implements mfa.Store.
func (s *MFAStore) ListRecoveryCodes(ctx context.Context, userID string) ([]mfa.RecoveryCode, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]mfa.RecoveryCode, len(s.recovery[userID]))
	for i, c := range s.recovery[userID] {
		out[i] = mfa.RecoveryCode{Hash: bytes.Clone(c.Hash), UsedAt: c.UsedAt}
	}
	return out, nil
}

// DeleteRecoveryCodes implements mfa.Store.
func (s *MFAStore) DeleteRecoveryCodes(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.recovery, userID)
	return nil
}

// CreateWebAuthn implements mfa.Store.
func (s *MFAStore) CreateWebAuthn(ctx context.Context, c *mfa.WebAuthnCredential) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.webauthn[string(c.ID)]; ok {
		return store.ErrConflict
	}
	s.webauthn[string(c.ID)] = copyWebAuthn(c)
	return nil
}

// GetWebAuthn implements mfa.Store.
func (s *MFAStore) GetWebAuthn(ctx context.Context, id []byte) (*mfa.WebAuthnCredential, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.webauthn[string(id)]
	if !ok {
		return nil, store.ErrNotFound
	}
	return copyWebAuthn(c), nil
}

// ListWebAuthn implements mfa.Store.
func (s *MFAStore) ListWebAuthn(ctx context.Context, userID string) ([]*mfa.WebAuthnCredential, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var out []*mfa.WebAuthnCredential
	for _, c := range s.webauthn {
		if c.UserID == userID {
			out = append(out, copyWebAuthn(c))
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *mfa.WebAuthnCredential) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), bytes.Compare(a.ID, b.ID))
	})
	return out, nil
}

// owned returns the user's credential id, or nil.
func (s *MFAStore) owned(userID string, id []byte) *mfa.WebAuthnCredential {
	if c, ok := s.webauthn[string(id)]; ok && c.UserID == userID {
		return c
	}
	return nil
}

// RenameWebAuthn implements mfa.Store.
func (s *MFAStore) RenameWebAuthn(ctx context.Context, userID string, id []byte, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.owned(userID, id)
	if c == nil {
		return store.ErrNotFound
	}
	c.Name = name
	return nil
}

// RecordWebAuthnUse implements mfa.Store.
func (s *MFAStore) RecordWebAuthnUse(ctx context.Context, userID string, id []byte, signCount uint32, flags mfa.WebAuthnFlags, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.owned(userID, id)
	if c == nil {
		return store.ErrNotFound
	}
	if (signCount != 0 || c.SignCount != 0) && signCount <= c.SignCount {
		return store.ErrConflict
	}
	c.SignCount, c.Flags, c.LastUsedAt = signCount, flags, at
	return nil
}

// DeleteWebAuthn implements mfa.Store.
func (s *MFAStore) DeleteWebAuthn(ctx context.Context, userID string, id []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owned(userID, id) == nil {
		return store.ErrNotFound
	}
	delete(s.webauthn, string(id))
	return nil
}

// ChallengeStore is an in-memory mfa.ChallengeStore. Expired challenges
// are swept when the map has doubled since the last sweep, so it stays
// within twice the challenges live at once, at amortized constant cost.
type ChallengeStore struct {
	mu    sync.Mutex
	byID  map[string]*mfa.Challenge
	sweep int // size at which the next put sweeps
}

var _ mfa.ChallengeStore = (*ChallengeStore)(nil)

// NewChallengeStore returns an empty ChallengeStore.
func NewChallengeStore() *ChallengeStore { return &ChallengeStore{byID: map[string]*mfa.Challenge{}} }

// PutChallenge implements mfa.ChallengeStore.
func (s *ChallengeStore) PutChallenge(ctx context.Context, c *mfa.Challenge, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.byID[c.ID]; ok && old.ExpiresAt.After(now) {
		return store.ErrConflict
	}
	if len(s.byID) >= s.sweep {
		for id, old := range s.byID {
			if !old.ExpiresAt.After(now) {
				delete(s.byID, id)
			}
		}
		s.sweep = 2*len(s.byID) + 64
	}
	x := *c
	x.Data = bytes.Clone(c.Data)
	s.byID[c.ID] = &x
	return nil
}

// TakeChallenge implements mfa.ChallengeStore.
func (s *ChallengeStore) TakeChallenge(ctx context.Context, id string, now time.Time) (*mfa.Challenge, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.byID[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	delete(s.byID, id)
	if !c.ExpiresAt.After(now) {
		return nil, store.ErrNotFound
	}
	return c, nil
}

// ReplayGuard is an in-memory mfa.ReplayGuard; expired records are swept
// like ChallengeStore's.
type ReplayGuard struct {
	mu    sync.Mutex
	keys  map[string]guardEntry
	sweep int
}

type guardEntry struct {
	counter   int64
	expiresAt time.Time
}

var _ mfa.ReplayGuard = (*ReplayGuard)(nil)

// NewReplayGuard returns an empty ReplayGuard.
func NewReplayGuard() *ReplayGuard { return &ReplayGuard{keys: map[string]guardEntry{}} }

// Advance implements mfa.ReplayGuard.
func (g *ReplayGuard) Advance(ctx context.Context, key string, counter int64, expiresAt, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.keys[key]; ok && e.expiresAt.After(now) && counter <= e.counter {
		return store.ErrConflict
	}
	if len(g.keys) >= g.sweep {
		for k, e := range g.keys {
			if !e.expiresAt.After(now) {
				delete(g.keys, k)
			}
		}
		g.sweep = 2*len(g.keys) + 64
	}
	g.keys[key] = guardEntry{counter: counter, expiresAt: expiresAt}
	return nil
}
