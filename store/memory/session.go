package memory

import (
	"cmp"
	"container/heap"
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
)

// SessionStore is an in-memory session.Store. A per-user index serves
// ListByUser and RevokeUser; a min-heap of expiry times serves
// DeleteExpired, so neither scans every session.
type SessionStore struct {
	mu     sync.RWMutex
	byID   map[string]*session.Session
	byUser map[string]map[string]struct{}
	expiry expiryHeap
}

var _ session.Store = (*SessionStore)(nil)

// NewSessionStore returns an empty SessionStore.
func NewSessionStore() *SessionStore {
	return &SessionStore{byID: map[string]*session.Session{}, byUser: map[string]map[string]struct{}{}}
}

// copySession copies s for a caller. SecretHash is shared: it is never
// modified in place, by the store or by authv2. Attributes are copied: a
// handler may write to the map it reads from its Principal, and that must
// not reach other requests (maps.Clone of nil allocates nothing). Proofs
// are shared like SecretHash: the store copies them on the way in (Create,
// Rotate and Update store a clone) and nothing modifies them in place.
func copySession(s *session.Session) *session.Session {
	c := *s
	c.Attributes = maps.Clone(s.Attributes)
	return &c
}

// Create implements session.Store.
func (s *SessionStore) Create(ctx context.Context, sess *session.Session, limit session.Limit, now time.Time) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createLocked(sess, limit, now)
}

func (s *SessionStore) createLocked(sess *session.Session, limit session.Limit, now time.Time) ([]string, error) {
	if _, ok := s.byID[sess.ID]; ok {
		return nil, store.ErrConflict
	}
	var evicted []string
	if limit.Max > 0 {
		live := s.liveLocked(sess.UserID, now)
		if excess := len(live) - limit.Max + 1; excess > 0 {
			if limit.Policy == session.Refuse {
				return nil, store.ErrLimit
			}
			key := func(x *session.Session) time.Time { return x.CreatedAt }
			if limit.Policy == session.EvictLeastRecentlyUsed {
				key = func(x *session.Session) time.Time { return x.LastSeenAt }
			}
			slices.SortFunc(live, func(a, b *session.Session) int {
				return cmp.Or(key(a).Compare(key(b)), cmp.Compare(a.ID, b.ID))
			})
			for _, old := range live[:excess] {
				old.RevokedAt, old.RevokeReason = now, session.ReasonEvicted
				evicted = append(evicted, old.ID)
			}
		}
	}
	stored := sess.Clone()
	s.byID[stored.ID] = stored
	ids := s.byUser[stored.UserID]
	if ids == nil {
		ids = map[string]struct{}{}
		s.byUser[stored.UserID] = ids
	}
	ids[stored.ID] = struct{}{}
	heap.Push(&s.expiry, expiryEntry{at: stored.ExpiresAt(), id: stored.ID})
	return evicted, nil
}

// liveLocked returns the stored (not copied) live sessions of a user.
func (s *SessionStore) liveLocked(userID string, now time.Time) []*session.Session {
	var live []*session.Session
	for id := range s.byUser[userID] {
		if x := s.byID[id]; x.Live(now) {
			live = append(live, x)
		}
	}
	return live
}

// Get implements session.Store.
func (s *SessionStore) Get(ctx context.Context, id string) (*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	x, ok := s.byID[id]
	if !ok {
		s.mu.RUnlock()
		return nil, store.ErrNotFound
	}
	c := copySession(x)
	s.mu.RUnlock()
	return c, nil
}

// Touch implements session.Store.
func (s *SessionStore) Touch(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.byID[id]
	if !ok || !x.Live(lastSeen) {
		return store.ErrNotFound
	}
	x.LastSeenAt, x.IdleExpiresAt = lastSeen, idleExpires
	heap.Push(&s.expiry, expiryEntry{at: x.ExpiresAt(), id: id})
	return nil
}

// Update implements session.Store.
func (s *SessionStore) Update(ctx context.Context, next *session.Session) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.byID[next.ID]
	if !ok || !x.RevokedAt.IsZero() {
		return store.ErrNotFound
	}
	x.TenantID, x.Scope, x.AuthLevel = next.TenantID, next.Scope, next.AuthLevel
	x.AuthenticatedAt, x.Client = next.AuthenticatedAt, next.Client
	x.Proofs = slices.Clone(next.Proofs)
	return nil
}

// Revoke implements session.Store.
func (s *SessionStore) Revoke(ctx context.Context, id string, at time.Time, reason string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.byID[id]
	if !ok {
		return store.ErrNotFound
	}
	if x.RevokedAt.IsZero() {
		x.RevokedAt, x.RevokeReason = at, reason
	}
	return nil
}

// RevokeUser implements session.Store.
func (s *SessionStore) RevokeUser(ctx context.Context, userID string, f session.RevokeFilter, at time.Time, reason string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	// Every session not yet revoked, expired or not at `at`: another
	// instance's clock may lag this one's, and for it the session may still
	// be live (session.Store's contract).
	for id := range s.byUser[userID] {
		x := s.byID[id]
		if !x.RevokedAt.IsZero() || x.ID == f.ExceptID || (f.TenantID != "" && x.TenantID != f.TenantID) {
			continue
		}
		x.RevokedAt, x.RevokeReason = at, reason
		ids = append(ids, x.ID)
	}
	slices.Sort(ids)
	return ids, nil
}

// Rotate implements session.Store.
func (s *SessionStore) Rotate(ctx context.Context, oldID string, next *session.Session, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.byID[oldID]
	if !ok || !x.Live(now) || x.UserID != next.UserID {
		return store.ErrNotFound
	}
	// The successor replaces a live session, so no limit applies to it.
	if _, err := s.createLocked(next, session.Limit{}, now); err != nil {
		return err
	}
	x.RevokedAt, x.RevokeReason, x.ReplacedBy = now, session.ReasonRotated, next.ID
	return nil
}

// ListByUser implements session.Store.
func (s *SessionStore) ListByUser(ctx context.Context, userID string, now time.Time) ([]*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	live := s.liveLocked(userID, now)
	out := make([]*session.Session, len(live))
	for i, x := range live {
		out[i] = copySession(x)
	}
	slices.SortFunc(out, func(a, b *session.Session) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteExpired implements session.Store. Heap entries go stale when Touch
// pushes a later expiry; a popped entry whose session now expires later is
// simply dropped, since the later entry is still in the heap.
func (s *SessionStore) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for s.expiry.Len() > 0 && s.expiry[0].at.Before(before) {
		e := heap.Pop(&s.expiry).(expiryEntry)
		x, ok := s.byID[e.id]
		if !ok || !x.ExpiresAt().Equal(e.at) {
			continue
		}
		delete(s.byID, e.id)
		if ids := s.byUser[x.UserID]; ids != nil {
			delete(ids, e.id)
			if len(ids) == 0 {
				delete(s.byUser, x.UserID)
			}
		}
		n++
	}
	return n, nil
}

// Stats implements session.Store. It walks the sessions of f.UserID when
// set, otherwise all sessions: statistics are an admin query, not a hot path.
func (s *SessionStore) Stats(ctx context.Context, f session.StatsFilter, now time.Time) (session.Stats, error) {
	if err := ctx.Err(); err != nil {
		return session.Stats{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := session.NewStats()
	if f.UserID != "" {
		for id := range s.byUser[f.UserID] {
			st.Count(s.byID[id], f, now)
		}
	} else {
		for _, x := range s.byID {
			st.Count(x, f, now)
		}
	}
	return st, nil
}

type expiryEntry struct {
	at time.Time
	id string
}

type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
