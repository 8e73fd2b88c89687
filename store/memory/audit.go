package memory

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/randid"
)

// AuditStore is an in-memory audit.Store. Events are kept sorted by
// (Time, ID), so a page or an analytics window is found by binary search.
// It keeps every event for the life of the process: fine for tests and the
// quickstart, not for a long-running service with a busy audit trail.
type AuditStore struct {
	mu     sync.RWMutex
	events []*audit.Event // ascending by (Time, ID); never modified once stored
	ids    map[string]struct{}
	// grantUse holds RecordGrantUse's tallies, kept apart from the events.
	grantUse map[grantDay]grantTally
}

var _ audit.Store = (*AuditStore)(nil)

// NewAuditStore returns an empty AuditStore.
func NewAuditStore() *AuditStore {
	return &AuditStore{ids: map[string]struct{}{}, grantUse: map[grantDay]grantTally{}}
}

func compareEvents(a, b *audit.Event) int {
	return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.ID, b.ID))
}

// Write implements audit.Sink: events already stored (same ID) are skipped.
func (s *AuditStore) Write(ctx context.Context, events []audit.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh := make([]*audit.Event, 0, len(events))
	for _, e := range events {
		if e.ID == "" {
			e.ID = randid.ID()
		}
		if _, ok := s.ids[e.ID]; ok {
			continue
		}
		s.ids[e.ID] = struct{}{}
		e.Time = e.Time.UTC()
		e.Attributes = maps.Clone(e.Attributes)
		fresh = append(fresh, &e)
	}
	if len(fresh) == 0 {
		return nil
	}
	slices.SortFunc(fresh, compareEvents)
	// Events mostly arrive in time order: appending is the common case.
	// Otherwise one merge places the whole batch, so a batch costs one
	// pass over the newer events, not one per event.
	if n := len(s.events); n == 0 || compareEvents(s.events[n-1], fresh[0]) < 0 {
		s.events = append(s.events, fresh...)
		return nil
	}
	i, _ := slices.BinarySearchFunc(s.events, fresh[0], compareEvents)
	newer := slices.Clone(s.events[i:])
	s.events = s.events[:i]
	for len(newer) > 0 && len(fresh) > 0 {
		if compareEvents(newer[0], fresh[0]) < 0 {
			s.events, newer = append(s.events, newer[0]), newer[1:]
		} else {
			s.events, fresh = append(s.events, fresh[0]), fresh[1:]
		}
	}
	s.events = append(append(s.events, newer...), fresh...)
	return nil
}

// firstAtOrAfter returns the index of the first event at or after t.
func (s *AuditStore) firstAtOrAfter(t time.Time) int {
	i, _ := slices.BinarySearchFunc(s.events, t, func(e *audit.Event, t time.Time) int {
		if e.Time.Before(t) {
			return -1
		}
		return 1
	})
	return i
}

// window returns the events in [from, to).
func (s *AuditStore) window(from, to time.Time) []*audit.Event {
	return s.events[s.firstAtOrAfter(from):s.firstAtOrAfter(to)]
}

func copyEvent(e *audit.Event) audit.Event {
	c := *e
	c.Attributes = maps.Clone(e.Attributes)
	return c
}

// Query implements audit.Store.
func (s *AuditStore) Query(ctx context.Context, q audit.Query) (audit.Page, error) {
	if err := ctx.Err(); err != nil {
		return audit.Page{}, err
	}
	q, err := q.Normalize()
	if err != nil {
		return audit.Page{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	end := len(s.events)
	if !q.To.IsZero() {
		end = s.firstAtOrAfter(q.To)
	}
	if q.Cursor != "" {
		c, err := audit.ParseCursor(q.Cursor)
		if err != nil {
			return audit.Page{}, err
		}
		i, _ := slices.BinarySearchFunc(s.events, &audit.Event{Time: c.Time, ID: c.ID}, compareEvents)
		end = min(end, i)
	}
	page := audit.Page{Events: []audit.Event{}}
	for i := end - 1; i >= 0; i-- {
		e := s.events[i]
		if !q.From.IsZero() && e.Time.Before(q.From) {
			break
		}
		if !q.Matches(e) {
			continue
		}
		if len(page.Events) == q.Limit {
			last := page.Events[len(page.Events)-1]
			page.Next = audit.CursorAfter(&last).String()
			break
		}
		page.Events = append(page.Events, copyEvent(e))
	}
	return page, nil
}

// LoginCounts implements audit.Store.
func (s *AuditStore) LoginCounts(ctx context.Context, tenantID string, from, to time.Time, bucket time.Duration) ([]audit.Bucket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := audit.NewBuckets(from, to, bucket)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, e := range s.window(from, to) {
		if tenantID != "" && e.TenantID != tenantID {
			continue
		}
		switch e.Type {
		case audit.TypeLoginSuccess:
			out[audit.BucketIndex(from, e.Time, bucket)].Success++
		case audit.TypeLoginFailure:
			out[audit.BucketIndex(from, e.Time, bucket)].Failure++
		}
	}
	return out, nil
}

// count tallies the keys keep returns for the events of the window, each
// event adding the weight keep gives it (0: not counted).
func (s *AuditStore) count(ctx context.Context, tenantID string, from, to time.Time, keep func(*audit.Event) (string, int)) (map[string]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := audit.CheckWindow(from, to); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	counts := map[string]int{}
	for _, e := range s.window(from, to) {
		if tenantID != "" && e.TenantID != tenantID {
			continue
		}
		if k, n := keep(e); n > 0 {
			counts[k] += n
		}
	}
	return counts, nil
}

// TopDenied implements audit.Store.
func (s *AuditStore) TopDenied(ctx context.Context, tenantID string, from, to time.Time, limit int) ([]audit.Count, error) {
	counts, err := s.count(ctx, tenantID, from, to, func(e *audit.Event) (string, int) {
		action, ok := e.Attributes[audit.AttrAction]
		if !ok || e.Type != audit.TypeAuthorizeDecision || e.Outcome != audit.Denied {
			return "", 0
		}
		return action, audit.Weight(e)
	})
	if err != nil {
		return nil, err
	}
	return audit.Rank(counts, limit), nil
}

// grantDay is the key of one grant's tally for one UTC day.
type grantDay struct {
	tenant string
	grant  audit.Grant
	day    time.Time
}

// grantTally is what RecordGrantUse keeps per grant and day.
type grantTally struct {
	count       int64
	first, last time.Time
}

// RecordGrantUse implements audit.Store.
func (s *AuditStore) RecordGrantUse(ctx context.Context, uses []audit.GrantUse) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range uses {
		if u.Count <= 0 {
			continue
		}
		at := u.LastUsed.UTC()
		k := grantDay{u.TenantID, audit.Grant{Role: u.Role, Permission: u.Permission}, at.Truncate(24 * time.Hour)}
		t, ok := s.grantUse[k]
		if !ok {
			t = grantTally{first: at, last: at}
		}
		t.count += u.Count
		if at.Before(t.first) {
			t.first = at
		}
		if at.After(t.last) {
			t.last = at
		}
		s.grantUse[k] = t
	}
	return nil
}

// UnusedGrants implements audit.Store.
func (s *AuditStore) UnusedGrants(ctx context.Context, tenantID string, from, to time.Time, granted []audit.Grant) ([]audit.Grant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := audit.CheckWindow(from, to); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	used := map[audit.Grant]bool{}
	for k, t := range s.grantUse {
		if (tenantID == "" || k.tenant == tenantID) && t.first.Before(to) && !t.last.Before(from) {
			used[k.grant] = true
		}
	}
	return audit.Unused(granted, used), nil
}

// SessionsPerDevice implements audit.Store.
func (s *AuditStore) SessionsPerDevice(ctx context.Context, tenantID string, from, to time.Time, limit int) ([]audit.Count, error) {
	counts, err := s.count(ctx, tenantID, from, to, func(e *audit.Event) (string, int) {
		if e.Type != audit.TypeSessionCreated || e.Outcome != audit.Success {
			return "", 0
		}
		device := e.Attributes[audit.AttrDevice]
		if device == "" {
			device = e.UserAgent
		}
		return device, 1
	})
	if err != nil {
		return nil, err
	}
	return audit.Rank(counts, limit), nil
}
