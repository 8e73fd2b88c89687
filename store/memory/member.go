package memory

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

// memberLocked reads a user's standing in a tenant.
func (s *PermissionStore) memberLocked(tenantID, userID string) permission.Member {
	m := permission.Member{TenantID: tenantID, UserID: userID}
	if mb, ok := s.members[userID][tenantID]; ok {
		m.IsMember, m.JoinedAt = true, mb.CreatedAt
	}
	m.Bindings = s.bindingsLocked(tenantID, userID)
	return m
}

// ownersLocked counts the tenant's owners. It walks every binding: an
// administrative call, not a hot path.
func (s *PermissionStore) ownersLocked(tenantID string) int {
	n := 0
	for k, b := range s.bindings {
		if k.tenant == tenantID && permission.IsOwner(b) {
			n++
		}
	}
	return n
}

// ListMemberPage implements permission.MemberStore.
func (s *PermissionStore) ListMemberPage(ctx context.Context, tenantID, after string, limit int) ([]permission.Member, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []string
	for userID, byTenant := range s.members {
		if _, ok := byTenant[tenantID]; ok && userID > after {
			ids = append(ids, userID)
		}
	}
	slices.Sort(ids)
	ids = ids[:min(len(ids), max(limit, 0))]
	out := make([]permission.Member, len(ids))
	for i, id := range ids {
		out[i] = s.memberLocked(tenantID, id)
	}
	return out, nil
}

// UpdateMember implements permission.MemberStore under the store's lock,
// which serializes it with every other write.
func (s *PermissionStore) UpdateMember(ctx context.Context, tenantID, userID string, fn func(*permission.Member) error) (before, after permission.Member, err error) {
	if err := ctx.Err(); err != nil {
		return before, after, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	before = s.memberLocked(tenantID, userID)
	if !before.IsMember && len(before.Bindings) == 0 {
		return before, after, store.ErrNotFound
	}
	after = before.Clone()
	if err := fn(&after); err != nil {
		return before, after, err
	}
	for _, b := range after.Bindings {
		if b.TenantID != tenantID || b.UserID != userID {
			return before, after, store.ErrInvalid
		}
		if _, ok := s.resolveLocked(tenantID, b.Role); !ok {
			return before, after, store.ErrNotFound
		}
	}
	if total := s.ownersLocked(tenantID); total > 0 && total-permission.CountOwners(before.Bindings)+permission.CountOwners(after.Bindings) == 0 {
		return before, after, permission.ErrLastOwner
	}
	switch {
	case before.IsMember && !after.IsMember:
		delete(s.members[userID], tenantID)
	case after.IsMember && !before.IsMember:
		if s.members[userID] == nil {
			s.members[userID] = map[string]permission.Membership{}
		}
		s.members[userID][tenantID] = permission.Membership{UserID: userID, TenantID: tenantID, CreatedAt: after.JoinedAt}
	}
	keep := map[bindingKey]bool{}
	for _, b := range after.Bindings {
		s.putBindingLocked(b) // keeps the creation time of a binding kept
		keep[bindingKey{b.TenantID, b.UserID, b.Role, b.Scope}] = true
	}
	uk := [2]string{tenantID, userID}
	for k := range s.byUser[uk] {
		if !keep[k] {
			delete(s.bindings, k)
			delete(s.byUser[uk], k)
		}
	}
	if len(s.byUser[uk]) == 0 {
		delete(s.byUser, uk)
	}
	s.bumpLocked(tenantID)
	after = s.memberLocked(tenantID, userID)
	return before, after, nil
}

// CreateInvitation implements permission.MemberStore.
func (s *PermissionStore) CreateInvitation(ctx context.Context, inv *permission.Invitation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[inv.TenantID]; !ok {
		return store.ErrNotFound
	}
	if _, ok := s.invitations[inv.ID]; ok {
		return store.ErrConflict
	}
	s.invitations[inv.ID] = inv.Clone()
	return nil
}

// GetInvitation implements permission.MemberStore.
func (s *PermissionStore) GetInvitation(ctx context.Context, id string) (*permission.Invitation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	inv, ok := s.invitations[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return inv.Clone(), nil
}

// ListInvitations implements permission.MemberStore. It walks every
// invitation: an administrative call.
func (s *PermissionStore) ListInvitations(ctx context.Context, tenantID, after string, limit int) ([]*permission.Invitation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*permission.Invitation
	for id, inv := range s.invitations {
		if inv.TenantID == tenantID && id > after {
			out = append(out, inv.Clone())
		}
	}
	slices.SortFunc(out, func(a, b *permission.Invitation) int { return cmp.Compare(a.ID, b.ID) })
	return out[:min(len(out), max(limit, 0))], nil
}

// UpdateInvitation implements permission.MemberStore.
func (s *PermissionStore) UpdateInvitation(ctx context.Context, id string, fn func(*permission.Invitation) error) (*permission.Invitation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.invitations[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	next := inv.Clone()
	if err := fn(next); err != nil {
		return nil, err
	}
	next.ID, next.TenantID = inv.ID, inv.TenantID
	s.invitations[id] = next
	return next.Clone(), nil
}

// AcceptInvitation implements permission.MemberStore.
func (s *PermissionStore) AcceptInvitation(ctx context.Context, id, userID string, now time.Time, check func(*permission.Invitation) error) (*permission.Invitation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.invitations[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	if err := check(inv.Clone()); err != nil {
		return nil, err
	}
	if _, ok := s.tenants[inv.TenantID]; !ok {
		return nil, store.ErrNotFound
	}
	if !s.joinLocked(inv.TenantID, userID, inv.Role, inv.Scope, now) {
		return nil, store.ErrNotFound
	}
	next := inv.Clone()
	next.Status, next.AcceptedBy, next.UpdatedAt = permission.InvitationAccepted, userID, now
	s.invitations[id] = next
	return next.Clone(), nil
}

// joinLocked gives userID a membership of the tenant at now (kept if they
// have one) and a binding of role at scope, and bumps the tenant's
// version; false, with nothing written, when the role does not exist.
func (s *PermissionStore) joinLocked(tenantID, userID, role, scope string, now time.Time) bool {
	if _, ok := s.resolveLocked(tenantID, role); !ok {
		return false
	}
	if s.members[userID] == nil {
		s.members[userID] = map[string]permission.Membership{}
	}
	if _, ok := s.members[userID][tenantID]; !ok {
		s.members[userID][tenantID] = permission.Membership{UserID: userID, TenantID: tenantID, CreatedAt: now}
	}
	s.putBindingLocked(permission.Binding{UserID: userID, TenantID: tenantID, Role: role, Scope: scope, CreatedAt: now})
	s.bumpLocked(tenantID)
	return true
}
