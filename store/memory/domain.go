package memory

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

// CreateDomain implements permission.DomainStore.
func (s *PermissionStore) CreateDomain(ctx context.Context, d *permission.TenantDomain) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[d.TenantID]; !ok {
		return store.ErrNotFound
	}
	if _, ok := s.domains[d.TenantID][d.Domain]; ok {
		return store.ErrConflict
	}
	if s.domains[d.TenantID] == nil {
		s.domains[d.TenantID] = map[string]*permission.TenantDomain{}
	}
	c := d.Clone()
	if c.Verified() {
		// Stored as asked only if no other tenant holds the domain.
		if owner, ok := s.verified[c.Domain]; ok && owner != c.TenantID {
			return store.ErrConflict
		}
		s.verified[c.Domain] = c.TenantID
	}
	s.domains[d.TenantID][d.Domain] = c
	return nil
}

// GetDomain implements permission.DomainStore.
func (s *PermissionStore) GetDomain(ctx context.Context, tenantID, domain string) (*permission.TenantDomain, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.domains[tenantID][domain]
	if !ok {
		return nil, store.ErrNotFound
	}
	return d.Clone(), nil
}

// ListDomains implements permission.DomainStore.
func (s *PermissionStore) ListDomains(ctx context.Context, tenantID string) ([]*permission.TenantDomain, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*permission.TenantDomain, 0, len(s.domains[tenantID]))
	for _, d := range s.domains[tenantID] {
		out = append(out, d.Clone())
	}
	slices.SortFunc(out, func(a, b *permission.TenantDomain) int { return cmp.Compare(a.Domain, b.Domain) })
	return out, nil
}

// VerifyDomain implements permission.DomainStore under the store's lock.
func (s *PermissionStore) VerifyDomain(ctx context.Context, tenantID, domain, verifiedBy string, now time.Time, check func(*permission.TenantDomain) error) (*permission.TenantDomain, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.domains[tenantID][domain]
	if !ok {
		return nil, store.ErrNotFound
	}
	if err := check(d.Clone()); err != nil {
		return nil, err
	}
	if owner, ok := s.verified[domain]; ok && owner != tenantID {
		return nil, store.ErrConflict
	}
	next := d.Clone()
	next.VerifiedAt, next.VerifiedBy = now, verifiedBy
	s.domains[tenantID][domain] = next
	s.verified[domain] = tenantID
	return next.Clone(), nil
}

// DeleteDomain implements permission.DomainStore.
func (s *PermissionStore) DeleteDomain(ctx context.Context, tenantID, domain string) (*permission.TenantDomain, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.domains[tenantID][domain]
	if !ok {
		return nil, store.ErrNotFound
	}
	delete(s.domains[tenantID], domain)
	if len(s.domains[tenantID]) == 0 {
		delete(s.domains, tenantID)
	}
	if s.verified[domain] == tenantID {
		delete(s.verified, domain)
	}
	return d, nil
}

// JoinDomain implements permission.DomainStore under the store's lock,
// which serializes it with DeleteDomain.
func (s *PermissionStore) JoinDomain(ctx context.Context, domain, userID string, now time.Time) (*permission.TenantDomain, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tenantID, ok := s.verified[domain]
	if !ok {
		return nil, false, store.ErrNotFound
	}
	d := s.domains[tenantID][domain]
	// A user holding a binding there is left to the administrators; a
	// bare membership grants nothing, so it gets the claim's binding.
	if len(s.byUser[[2]string{tenantID, userID}]) > 0 {
		return d.Clone(), false, nil
	}
	if !s.joinLocked(tenantID, userID, d.Role, d.Scope, now) {
		return d.Clone(), false, store.ErrNotFound
	}
	return d.Clone(), true, nil
}
