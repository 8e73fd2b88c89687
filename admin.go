package authv2

import (
	"context"
	"errors"
	"slices"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
)

// adminEvent records an administrative change: who made it (the actor in
// ctx), and its before and after states.
func (m *Manager) adminEvent(ctx context.Context, action, tenantID, target string, before, after any) error {
	return m.emit(ctx, adminChange(ctx, action, tenantID, target, before, after))
}

// adminChange is adminEvent's event, for a flow that records it with
// others in one write.
func adminChange(ctx context.Context, action, tenantID, target string, before, after any) audit.Event {
	attrs := changeAttrs(before, after)
	attrs["action"] = action
	return withActor(ctx, audit.Event{Type: audit.TypeAdminChange, Outcome: audit.Success, TenantID: tenantID, Target: target, Attributes: attrs})
}

// CreateTenant creates a tenant; ErrConflict if the ID is taken.
func (m *Manager) CreateTenant(ctx context.Context, id, name string) (*permission.Tenant, error) {
	if err := m.inputs.tenant(id, name); err != nil {
		return nil, err
	}
	t := &permission.Tenant{ID: id, Name: name, CreatedAt: m.clock.Now()}
	if err := m.permissions.CreateTenant(ctx, t); err != nil {
		return nil, translate("tenant.create", err)
	}
	if err := m.adminEvent(ctx, "tenant.create", id, "tenant:"+id, nil, t); err != nil {
		return nil, err
	}
	return t, nil
}

// DeleteTenant removes a tenant with its roles, bindings and memberships,
// and ends every session in it.
func (m *Manager) DeleteTenant(ctx context.Context, id string) error {
	if err := checkText("ID", id); err != nil {
		return err
	}
	before, err := m.permissions.GetTenant(ctx, id)
	if err != nil {
		return translate("tenant.get", err)
	}
	// Whoever could hold a session in the tenant: its members and the
	// users bound to a role there (a binding alone lets one switch in).
	bound, err := m.permissions.ListBindings(ctx, id, "")
	if err != nil {
		return translate("binding.list", err)
	}
	members, err := m.permissions.ListMembers(ctx, id)
	if err != nil {
		return translate("membership.list", err)
	}
	users := make([]string, 0, len(bound)+len(members))
	for _, b := range bound {
		users = append(users, b.UserID)
	}
	for _, mb := range members {
		users = append(users, mb.UserID)
	}
	slices.Sort(users)
	// Service accounts belong to the tenant: they go first, each as
	// DeleteServiceAccount does it (keys, bindings, record, audited), so
	// that a failure leaves the tenant in place for a retry, and a tenant
	// later created under this ID inherits no machine identity.
	accounts, err := m.apiKeys.ListServiceAccounts(ctx, id)
	if err != nil {
		return translate("service_account.list", err)
	}
	for _, a := range accounts {
		if err := m.DeleteServiceAccount(ctx, a.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	if err := m.permissions.DeleteTenant(ctx, id); err != nil {
		return translate("tenant.delete", err)
	}
	m.policyChanged(ctx, id)
	// The tenant is gone and a retry would stop at "not found": one
	// user's failure must not spare the others, nor skip the audit.
	var errs []error
	for _, u := range slices.Compact(users) {
		if _, err := m.RevokeSessions(ctx, u, RevokeOptions{TenantID: id, Reason: session.ReasonTenantDeleted}); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, m.adminEvent(ctx, "tenant.delete", id, "tenant:"+id, before, nil))
	return errors.Join(errs...)
}

// ListTenants returns every tenant ordered by ID.
func (m *Manager) ListTenants(ctx context.Context) ([]*permission.Tenant, error) {
	ts, err := m.permissions.ListTenants(ctx)
	return ts, translate("tenant.list", err)
}

// AddMember makes a user a member of a tenant, so they may log in to it.
func (m *Manager) AddMember(ctx context.Context, tenantID, userID string) error {
	if err := checkText("TenantID", tenantID, "UserID", userID); err != nil {
		return err
	}
	if _, err := m.users.Get(ctx, userID); err != nil {
		return translate("user.get", err)
	}
	mb := permission.Membership{TenantID: tenantID, UserID: userID, CreatedAt: m.clock.Now()}
	if err := m.permissions.AddMember(ctx, mb); err != nil {
		return translate("membership.add", err)
	}
	return m.adminEvent(ctx, "member.add", tenantID, "user:"+userID, nil, mb)
}

// PutRole creates or replaces a role after validating it: a name, known
// effects, well-formed permissions, conditions that compile, parents that
// exist, and no inheritance cycle (a *permission.CycleError naming it).
func (m *Manager) PutRole(ctx context.Context, r *permission.Role) error {
	if err := m.validateRole(r); err != nil {
		return err
	}
	now := m.clock.Now()
	before, err := m.permissions.GetRole(ctx, r.TenantID, r.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		before = nil
		r.CreatedAt = now
	case err != nil:
		return translate("role.get", err)
	default:
		r.CreatedAt = before.CreatedAt
	}
	r.UpdatedAt = now
	if err := m.permissions.PutRole(ctx, r); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return &ValidationError{Fields: []FieldError{{Field: "Parents", Reason: "names a role that does not exist (or the tenant does not)"}}}
		}
		return translate("role.put", err)
	}
	m.policyChanged(ctx, r.TenantID)
	return m.adminEvent(ctx, "role.put", r.TenantID, "role:"+r.Name, before, r)
}

// DeleteRole removes a role; ErrConflict while a role inherits from it or
// a binding uses it.
func (m *Manager) DeleteRole(ctx context.Context, tenantID, name string) error {
	if err := checkText("TenantID", tenantID, "Name", name); err != nil {
		return err
	}
	before, err := m.permissions.GetRole(ctx, tenantID, name)
	if err != nil {
		return translate("role.get", err)
	}
	if err := m.permissions.DeleteRole(ctx, tenantID, name); err != nil {
		return translate("role.delete", err)
	}
	m.policyChanged(ctx, tenantID)
	return m.adminEvent(ctx, "role.delete", tenantID, "role:"+name, before, nil)
}

// ListRoles returns a tenant's roles (permission.GlobalTenant: templates).
func (m *Manager) ListRoles(ctx context.Context, tenantID string) ([]*permission.Role, error) {
	if err := checkText("TenantID", tenantID); err != nil {
		return nil, err
	}
	rs, err := m.permissions.ListRoles(ctx, tenantID)
	return rs, translate("role.list", err)
}

// Bind gives a user a role in a tenant at a scope (and below), optionally
// until b.ExpiresAt. The user's sessions keep working; their permissions
// change at the next check.
func (m *Manager) Bind(ctx context.Context, b permission.Binding) error {
	if err := checkText("UserID", b.UserID, "TenantID", b.TenantID, "Role", b.Role, "Scope", b.Scope); err != nil {
		return err
	}
	if err := m.validateBinding(b); err != nil {
		return err
	}
	if b.Role == permission.OwnerRole && b.Scope == "" && !b.ExpiresAt.IsZero() {
		// It could replace an owner's binding by one that makes no owner,
		// past the last-owner check.
		return &ValidationError{Fields: []FieldError{{Field: "ExpiresAt", Reason: "an owner binding over the whole tenant cannot expire"}}}
	}
	if err := m.checkBindable(ctx, b); err != nil {
		return err
	}
	b.CreatedAt = m.clock.Now()
	if err := m.permissions.PutBinding(ctx, b); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return &ValidationError{Fields: []FieldError{{Field: "Role", Reason: "no such role or tenant"}}}
		}
		return translate("binding.put", err)
	}
	m.policyChanged(ctx, b.TenantID)
	return m.adminEvent(ctx, "binding.put", b.TenantID, "user:"+b.UserID, nil, b)
}

// checkBindable checks that a binding names a user, or a service account
// of the binding's tenant.
func (m *Manager) checkBindable(ctx context.Context, b permission.Binding) error {
	_, err := m.users.Get(ctx, b.UserID)
	if !errors.Is(err, store.ErrNotFound) {
		return translate("user.get", err)
	}
	sa, err := m.apiKeys.GetServiceAccount(ctx, b.UserID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &ValidationError{Fields: []FieldError{{Field: "UserID", Reason: "no such user"}}}
	case err != nil:
		return translate("service_account.get", err)
	case sa.TenantID != b.TenantID:
		return &ValidationError{Fields: []FieldError{{Field: "UserID", Reason: "the service account belongs to another tenant"}}}
	}
	return nil
}

// Unbind removes a binding.
func (m *Manager) Unbind(ctx context.Context, b permission.Binding) error {
	if err := checkText("UserID", b.UserID, "TenantID", b.TenantID, "Role", b.Role, "Scope", b.Scope); err != nil {
		return err
	}
	if err := m.deleteBinding(ctx, b); err != nil {
		return err
	}
	m.policyChanged(ctx, b.TenantID)
	return m.adminEvent(ctx, "binding.delete", b.TenantID, "user:"+b.UserID, b, nil)
}

// ListBindings returns a tenant's bindings, of one user when userID is set.
func (m *Manager) ListBindings(ctx context.Context, tenantID, userID string) ([]permission.Binding, error) {
	if err := checkText("TenantID", tenantID, "UserID", userID); err != nil {
		return nil, err
	}
	bs, err := m.permissions.ListBindings(ctx, tenantID, userID)
	return bs, translate("binding.list", err)
}

// deleteBinding deletes a binding; an owner's goes through UpdateMember,
// so that the tenant keeps its last owner (ErrLastOwner).
func (m *Manager) deleteBinding(ctx context.Context, b permission.Binding) error {
	if b.Role != permission.OwnerRole || b.Scope != "" {
		return translate("binding.delete", m.permissions.DeleteBinding(ctx, b))
	}
	_, _, err := m.updateMember(ctx, b.TenantID, b.UserID, func(mb *permission.Member) error {
		n := len(mb.Bindings)
		mb.Bindings = slices.DeleteFunc(mb.Bindings, func(x permission.Binding) bool { return x.Role == b.Role && x.Scope == b.Scope })
		if len(mb.Bindings) == n {
			return ErrNotFound
		}
		return nil
	})
	return err
}
