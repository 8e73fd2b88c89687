package memory

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/authv2/authv2/apikey"
	"github.com/authv2/authv2/store"
)

// APIKeyStore is an in-memory apikey.Store.
type APIKeyStore struct {
	mu       sync.RWMutex
	keys     map[string]*apikey.Key
	accounts map[string]*apikey.ServiceAccount
}

var _ apikey.Store = (*APIKeyStore)(nil)

// NewAPIKeyStore returns an empty APIKeyStore.
func NewAPIKeyStore() *APIKeyStore {
	return &APIKeyStore{keys: map[string]*apikey.Key{}, accounts: map[string]*apikey.ServiceAccount{}}
}

// CreateKey implements apikey.Store.
func (s *APIKeyStore) CreateKey(ctx context.Context, k *apikey.Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k.ID]; ok {
		return store.ErrConflict
	}
	s.keys[k.ID] = k.Clone()
	return nil
}

// GetKey implements apikey.Store. Like the session store's Get, it shares
// the immutable SecretHash and Permissions slices with the caller (no
// method modifies them in place), so the hot read copies one struct.
func (s *APIKeyStore) GetKey(ctx context.Context, id string) (*apikey.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	k, ok := s.keys[id]
	var c apikey.Key
	if ok {
		c = *k
	}
	s.mu.RUnlock()
	if !ok {
		return nil, store.ErrNotFound
	}
	return &c, nil
}

// ListKeys implements apikey.Store.
func (s *APIKeyStore) ListKeys(ctx context.Context, f apikey.KeyFilter) ([]*apikey.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*apikey.Key
	for _, k := range s.keys {
		if f.Match(k) {
			out = append(out, k.Clone())
		}
	}
	slices.SortFunc(out, func(a, b *apikey.Key) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// TouchKey implements apikey.Store.
func (s *APIKeyStore) TouchKey(ctx context.Context, id string, at, notAfter time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return store.ErrNotFound
	}
	if k.Live(at) && k.LastUsedAt.Before(notAfter) {
		c := *k // readers may hold the old record
		c.LastUsedAt = at
		s.keys[id] = &c
	}
	return nil
}

// RevokeKey implements apikey.Store.
func (s *APIKeyStore) RevokeKey(ctx context.Context, id string, at time.Time, reason string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return store.ErrNotFound
	}
	if k.RevokedAt.IsZero() {
		s.keys[id] = revoked(k, at, reason)
	}
	return nil
}

// revoked returns a revoked copy of k: records handed out by GetKey are
// never changed under their readers.
func revoked(k *apikey.Key, at time.Time, reason string) *apikey.Key {
	c := *k
	c.RevokedAt, c.RevokeReason = at, reason
	return &c
}

// RevokeKeys implements apikey.Store.
func (s *APIKeyStore) RevokeKeys(ctx context.Context, f apikey.KeyFilter, at time.Time, reason string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, k := range s.keys {
		if f.Match(k) && k.RevokedAt.IsZero() {
			s.keys[id] = revoked(k, at, reason)
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// CreateServiceAccount implements apikey.Store.
func (s *APIKeyStore) CreateServiceAccount(ctx context.Context, a *apikey.ServiceAccount) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[a.ID]; ok {
		return store.ErrConflict
	}
	c := *a
	s.accounts[a.ID] = &c
	return nil
}

// GetServiceAccount implements apikey.Store.
func (s *APIKeyStore) GetServiceAccount(ctx context.Context, id string) (*apikey.ServiceAccount, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.accounts[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	c := *a
	return &c, nil
}

// ListServiceAccounts implements apikey.Store.
func (s *APIKeyStore) ListServiceAccounts(ctx context.Context, tenantID string) ([]*apikey.ServiceAccount, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*apikey.ServiceAccount
	for _, a := range s.accounts {
		if a.TenantID == tenantID {
			c := *a
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *apikey.ServiceAccount) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// SetServiceAccountDisabled implements apikey.Store.
func (s *APIKeyStore) SetServiceAccountDisabled(ctx context.Context, id string, disabled bool, at time.Time) (*apikey.ServiceAccount, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	before := *a
	c := *a
	c.Disabled, c.UpdatedAt = disabled, at
	s.accounts[id] = &c
	return &before, nil
}

// DeleteServiceAccount implements apikey.Store.
func (s *APIKeyStore) DeleteServiceAccount(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[id]; !ok {
		return store.ErrNotFound
	}
	delete(s.accounts, id)
	return nil
}
