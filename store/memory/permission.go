package memory

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

type roleKey struct{ tenant, name string }

type bindingKey struct{ tenant, user, role, scope string }

// PermissionStore is an in-memory permission.Store.
type PermissionStore struct {
	mu       sync.RWMutex
	tenants  map[string]*permission.Tenant
	members  map[string]map[string]permission.Membership // user -> tenant -> membership
	roles    map[roleKey]*permission.Role
	bindings map[bindingKey]permission.Binding
	// byUser indexes bindings by (tenant, user), so loading one user's
	// policy costs what that user's bindings cost, not every binding.
	byUser    map[[2]string]map[bindingKey]struct{}
	versions  map[string]int64 // per tenant
	globalVer int64
	// invitations by ID (member.go).
	invitations map[string]*permission.Invitation
	// domains by tenant, then domain; verified names the tenant whose
	// claim of a domain is verified (domain.go).
	domains  map[string]map[string]*permission.TenantDomain
	verified map[string]string
}

var _ permission.Store = (*PermissionStore)(nil)

// NewPermissionStore returns an empty PermissionStore.
func NewPermissionStore() *PermissionStore {
	return &PermissionStore{
		tenants:  map[string]*permission.Tenant{},
		members:  map[string]map[string]permission.Membership{},
		roles:    map[roleKey]*permission.Role{},
		bindings: map[bindingKey]permission.Binding{},
		byUser:   map[[2]string]map[bindingKey]struct{}{},
		versions: map[string]int64{},

		invitations: map[string]*permission.Invitation{},
		domains:     map[string]map[string]*permission.TenantDomain{},
		verified:    map[string]string{},
	}
}

func cloneTenant(t *permission.Tenant) *permission.Tenant {
	c := *t
	c.Attributes = maps.Clone(t.Attributes)
	return &c
}

// bumpLocked records a policy change in tenant (GlobalTenant: all tenants).
func (s *PermissionStore) bumpLocked(tenant string) {
	if tenant == permission.GlobalTenant {
		s.globalVer++
		return
	}
	s.versions[tenant]++
}

// CreateTenant implements permission.Store.
func (s *PermissionStore) CreateTenant(ctx context.Context, t *permission.Tenant) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[t.ID]; ok {
		return store.ErrConflict
	}
	s.tenants[t.ID] = cloneTenant(t)
	s.bumpLocked(t.ID)
	return nil
}

// GetTenant implements permission.Store.
func (s *PermissionStore) GetTenant(ctx context.Context, id string) (*permission.Tenant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.tenants[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return cloneTenant(t), nil
}

// ListTenants implements permission.Store.
func (s *PermissionStore) ListTenants(ctx context.Context) ([]*permission.Tenant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*permission.Tenant, 0, len(s.tenants))
	for _, t := range s.tenants {
		out = append(out, cloneTenant(t))
	}
	slices.SortFunc(out, func(a, b *permission.Tenant) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteTenant implements permission.Store.
func (s *PermissionStore) DeleteTenant(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[id]; !ok {
		return store.ErrNotFound
	}
	delete(s.tenants, id)
	for _, m := range s.members {
		delete(m, id)
	}
	for k := range s.roles {
		if k.tenant == id {
			delete(s.roles, k)
		}
	}
	for k := range s.bindings {
		if k.tenant == id {
			delete(s.bindings, k)
			delete(s.byUser, [2]string{k.tenant, k.user})
		}
	}
	for k, inv := range s.invitations {
		if inv.TenantID == id {
			delete(s.invitations, k)
		}
	}
	for domain := range s.domains[id] {
		if s.verified[domain] == id {
			delete(s.verified, domain)
		}
	}
	delete(s.domains, id)
	s.bumpLocked(id)
	return nil
}

// AddMember implements permission.Store.
func (s *PermissionStore) AddMember(ctx context.Context, m permission.Membership) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[m.TenantID]; !ok {
		return store.ErrNotFound
	}
	byTenant := s.members[m.UserID]
	if byTenant == nil {
		byTenant = map[string]permission.Membership{}
		s.members[m.UserID] = byTenant
	}
	if _, ok := byTenant[m.TenantID]; !ok {
		byTenant[m.TenantID] = m
	}
	return nil
}

// RemoveMember implements permission.Store.
func (s *PermissionStore) RemoveMember(ctx context.Context, tenantID, userID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.members[userID][tenantID]; !ok {
		return store.ErrNotFound
	}
	delete(s.members[userID], tenantID)
	return nil
}

// RemoveUser implements permission.Store. Bindings are indexed by tenant
// and user, so this walks the index: an administrative call (DeleteUser).
func (s *PermissionStore) RemoveUser(ctx context.Context, userID string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	touched := map[string]bool{}
	for tenant := range s.members[userID] {
		touched[tenant] = true
	}
	delete(s.members, userID)
	for uk, keys := range s.byUser {
		if uk[1] != userID {
			continue
		}
		for k := range keys {
			delete(s.bindings, k)
		}
		delete(s.byUser, uk)
		touched[uk[0]] = true
		s.bumpLocked(uk[0])
	}
	return slices.Sorted(maps.Keys(touched)), nil
}

// ListMembers implements permission.Store. Memberships are indexed by
// user, so this walks every user's: an administrative call (DeleteTenant),
// not a hot path.
func (s *PermissionStore) ListMembers(ctx context.Context, tenantID string) ([]permission.Membership, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []permission.Membership
	for _, byTenant := range s.members {
		if m, ok := byTenant[tenantID]; ok {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b permission.Membership) int { return cmp.Compare(a.UserID, b.UserID) })
	return out, nil
}

// ListMemberships implements permission.Store.
func (s *PermissionStore) ListMemberships(ctx context.Context, userID string) ([]permission.Membership, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := slices.Collect(maps.Values(s.members[userID]))
	slices.SortFunc(out, func(a, b permission.Membership) int { return cmp.Compare(a.TenantID, b.TenantID) })
	return out, nil
}

// resolveLocked finds the role a name means in tenant: the tenant's own, else the template.
func (s *PermissionStore) resolveLocked(tenant, name string) (*permission.Role, bool) {
	if r, ok := s.roles[roleKey{tenant, name}]; ok {
		return r, true
	}
	r, ok := s.roles[roleKey{permission.GlobalTenant, name}]
	return r, ok
}

// PutRole implements permission.Store.
func (s *PermissionStore) PutRole(ctx context.Context, r *permission.Role) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.TenantID != permission.GlobalTenant {
		if _, ok := s.tenants[r.TenantID]; !ok {
			return store.ErrNotFound
		}
	}
	for _, p := range r.Parents {
		if p == r.Name {
			return &permission.CycleError{TenantID: r.TenantID, Path: []string{r.Name, r.Name}}
		}
		if _, ok := s.resolveLocked(r.TenantID, p); !ok {
			return store.ErrNotFound
		}
	}
	parents := func(name string) []string {
		if name == r.Name {
			return r.Parents
		}
		if x, ok := s.resolveLocked(r.TenantID, name); ok {
			return x.Parents
		}
		return nil
	}
	if path := permission.FindCycle(r.Name, parents); path != nil {
		return &permission.CycleError{TenantID: r.TenantID, Path: path}
	}
	c := r.Clone()
	if old, ok := s.roles[roleKey{r.TenantID, r.Name}]; ok {
		c.CreatedAt = old.CreatedAt
	}
	s.roles[roleKey{r.TenantID, r.Name}] = c
	s.bumpLocked(r.TenantID)
	return nil
}

// GetRole implements permission.Store.
func (s *PermissionStore) GetRole(ctx context.Context, tenantID, name string) (*permission.Role, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.roles[roleKey{tenantID, name}]
	if !ok {
		return nil, store.ErrNotFound
	}
	return r.Clone(), nil
}

// ListRoles implements permission.Store.
func (s *PermissionStore) ListRoles(ctx context.Context, tenantID string) ([]*permission.Role, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*permission.Role
	for k, r := range s.roles {
		if k.tenant == tenantID {
			out = append(out, r.Clone())
		}
	}
	slices.SortFunc(out, func(a, b *permission.Role) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteRole implements permission.Store.
func (s *PermissionStore) DeleteRole(ctx context.Context, tenantID, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.roles[roleKey{tenantID, name}]; !ok {
		return store.ErrNotFound
	}
	for k, r := range s.roles {
		if k == (roleKey{tenantID, name}) {
			continue
		}
		// A template's children may live in any tenant; a tenant role's only in that tenant.
		if (tenantID == permission.GlobalTenant || k.tenant == tenantID) && slices.Contains(r.Parents, name) {
			return store.ErrConflict
		}
	}
	for k := range s.bindings {
		if k.role == name && (tenantID == permission.GlobalTenant || k.tenant == tenantID) {
			return store.ErrConflict
		}
	}
	delete(s.roles, roleKey{tenantID, name})
	s.bumpLocked(tenantID)
	return nil
}

// PutBinding implements permission.Store.
func (s *PermissionStore) PutBinding(ctx context.Context, b permission.Binding) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[b.TenantID]; !ok {
		return store.ErrNotFound
	}
	if _, ok := s.resolveLocked(b.TenantID, b.Role); !ok {
		return store.ErrNotFound
	}
	s.putBindingLocked(b)
	s.bumpLocked(b.TenantID)
	return nil
}

// putBindingLocked creates or replaces a binding, keeping the creation
// time of the one it replaces.
func (s *PermissionStore) putBindingLocked(b permission.Binding) {
	k := bindingKey{b.TenantID, b.UserID, b.Role, b.Scope}
	if old, ok := s.bindings[k]; ok {
		b.CreatedAt = old.CreatedAt
	}
	s.bindings[k] = b
	uk := [2]string{b.TenantID, b.UserID}
	if s.byUser[uk] == nil {
		s.byUser[uk] = map[bindingKey]struct{}{}
	}
	s.byUser[uk][k] = struct{}{}
}

// DeleteBinding implements permission.Store.
func (s *PermissionStore) DeleteBinding(ctx context.Context, b permission.Binding) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := bindingKey{b.TenantID, b.UserID, b.Role, b.Scope}
	if _, ok := s.bindings[k]; !ok {
		return store.ErrNotFound
	}
	delete(s.bindings, k)
	uk := [2]string{b.TenantID, b.UserID}
	delete(s.byUser[uk], k)
	if len(s.byUser[uk]) == 0 {
		delete(s.byUser, uk)
	}
	s.bumpLocked(b.TenantID)
	return nil
}

// ListBindings implements permission.Store.
func (s *PermissionStore) ListBindings(ctx context.Context, tenantID, userID string) ([]permission.Binding, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bindingsLocked(tenantID, userID), nil
}

func (s *PermissionStore) bindingsLocked(tenantID, userID string) []permission.Binding {
	var out []permission.Binding
	if userID != "" {
		for k := range s.byUser[[2]string{tenantID, userID}] {
			out = append(out, s.bindings[k])
		}
	} else {
		for k, b := range s.bindings {
			if k.tenant == tenantID {
				out = append(out, b)
			}
		}
	}
	slices.SortFunc(out, func(a, b permission.Binding) int {
		return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.Role, b.Role), cmp.Compare(a.Scope, b.Scope))
	})
	return out
}

// LoadPolicy implements permission.Store.
func (s *PermissionStore) LoadPolicy(ctx context.Context, tenantID, userID string) (*permission.Policy, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	p := &permission.Policy{TenantID: tenantID, UserID: userID, Version: s.versions[tenantID] + s.globalVer}
	p.Bindings = s.bindingsLocked(tenantID, userID)
	seen := map[string]bool{}
	var walk func(name string)
	walk = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		r, ok := s.resolveLocked(tenantID, name)
		if !ok {
			return
		}
		p.Roles = append(p.Roles, r.Clone())
		for _, parent := range r.Parents {
			walk(parent)
		}
	}
	for _, b := range p.Bindings {
		walk(b.Role)
	}
	slices.SortFunc(p.Roles, func(a, b *permission.Role) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.TenantID, b.TenantID))
	})
	return p, nil
}

// Version implements permission.Store.
func (s *PermissionStore) Version(ctx context.Context, tenantID string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.versions[tenantID] + s.globalVer, nil
}
