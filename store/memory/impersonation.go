package memory

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
)

// ImpersonationStore is an in-memory session.ImpersonationStore.
type ImpersonationStore struct {
	mu      sync.RWMutex
	records map[string]*session.Impersonation
}

var _ session.ImpersonationStore = (*ImpersonationStore)(nil)

// NewImpersonationStore returns an empty ImpersonationStore.
func NewImpersonationStore() *ImpersonationStore {
	return &ImpersonationStore{records: map[string]*session.Impersonation{}}
}

// CreateImpersonation implements session.ImpersonationStore.
func (s *ImpersonationStore) CreateImpersonation(ctx context.Context, i *session.Impersonation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.records[i.ID]; ok {
		return store.ErrConflict
	}
	s.records[i.ID] = i.Clone()
	return nil
}

// GetImpersonation implements session.ImpersonationStore.
func (s *ImpersonationStore) GetImpersonation(ctx context.Context, id string) (*session.Impersonation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.records[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return i.Clone(), nil
}

// EndImpersonation implements session.ImpersonationStore.
func (s *ImpersonationStore) EndImpersonation(ctx context.Context, id string, at time.Time, reason string) (*session.Impersonation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.records[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	if i.EndedAt.IsZero() {
		i.EndedAt, i.EndReason = at, reason
	}
	return i.Clone(), nil
}

// newerFirst orders records as ListImpersonations returns them.
func newerFirst(a, b *session.Impersonation) int {
	return cmp.Or(b.StartedAt.Compare(a.StartedAt), strings.Compare(b.ID, a.ID))
}

// ListImpersonations implements session.ImpersonationStore.
func (s *ImpersonationStore) ListImpersonations(ctx context.Context, f session.ImpersonationFilter, after string, limit int) ([]*session.Impersonation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var cursor *session.Impersonation
	if after != "" {
		c, ok := s.records[after]
		if !ok || !f.Match(c) {
			return nil, store.ErrNotFound
		}
		cursor = c
	}
	var out []*session.Impersonation
	for _, i := range s.records {
		if f.Match(i) && (cursor == nil || newerFirst(cursor, i) < 0) {
			out = append(out, i.Clone())
		}
	}
	slices.SortFunc(out, newerFirst)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
