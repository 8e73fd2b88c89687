package memory

import (
	"context"
	"sync"

	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/user"
)

// UserStore is an in-memory user.Store.
type UserStore struct {
	mu      sync.RWMutex
	byID    map[string]*user.User
	byEmail map[string]string // normalized email -> ID
}

var _ user.Store = (*UserStore)(nil)

// NewUserStore returns an empty UserStore.
func NewUserStore() *UserStore {
	return &UserStore{byID: map[string]*user.User{}, byEmail: map[string]string{}}
}

// Create implements user.Store.
func (s *UserStore) Create(ctx context.Context, u *user.User) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key := user.NormalizeEmail(u.Email)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[u.ID]; ok {
		return store.ErrConflict
	}
	if _, ok := s.byEmail[key]; ok {
		return store.ErrConflict
	}
	s.byID[u.ID] = u.Clone()
	s.byEmail[key] = u.ID
	return nil
}

// Get implements user.Store.
func (s *UserStore) Get(ctx context.Context, id string) (*user.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.byID[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return u.Clone(), nil
}

// GetByEmail implements user.Store.
func (s *UserStore) GetByEmail(ctx context.Context, email string) (*user.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.byEmail[user.NormalizeEmail(email)]
	if !ok {
		return nil, store.ErrNotFound
	}
	return s.byID[id].Clone(), nil
}

// Update implements user.Store. fn runs under the store's write lock, which
// is what makes read-modify-write updates atomic here.
func (s *UserStore) Update(ctx context.Context, id string, fn func(*user.User) error) (*user.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.byID[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	next := cur.Clone()
	if err := fn(next); err != nil {
		return nil, err
	}
	next.ID = id
	oldKey, newKey := user.NormalizeEmail(cur.Email), user.NormalizeEmail(next.Email)
	if oldKey != newKey {
		if _, taken := s.byEmail[newKey]; taken {
			return nil, store.ErrConflict
		}
		delete(s.byEmail, oldKey)
		s.byEmail[newKey] = id
	}
	s.byID[id] = next
	return next.Clone(), nil
}

// Delete implements user.Store.
func (s *UserStore) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.byID[id]
	if !ok {
		return store.ErrNotFound
	}
	delete(s.byEmail, user.NormalizeEmail(u.Email))
	delete(s.byID, id)
	return nil
}
