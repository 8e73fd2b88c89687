package authv2

import (
	"context"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/permission"
)

// CreateTenant creates a tenant; ErrConflict if the ID is taken.
func (m *Manager) CreateTenant(ctx context.Context, id, name string) (*permission.Tenant, error) {
	if id == "" {
		return nil, &ValidationError{Fields: []FieldError{{Field: "ID", Reason: "is required"}}}
	}
	t := &permission.Tenant{ID: id, Name: name, CreatedAt: m.clock.Now()}
	if err := m.permissions.CreateTenant(ctx, t); err != nil {
		return nil, translate("tenant.create", err)
	}
	m.emit(ctx, audit.Event{Type: audit.TypeAdminChange, Outcome: audit.Success, TenantID: id, Target: "tenant:" + id,
		Attributes: map[string]string{"action": "tenant.create"}})
	return t, nil
}

// AddMember makes a user a member of a tenant, so they may log in to it.
func (m *Manager) AddMember(ctx context.Context, tenantID, userID string) error {
	if _, err := m.users.Get(ctx, userID); err != nil {
		return translate("user.get", err)
	}
	err := m.permissions.AddMember(ctx, permission.Membership{TenantID: tenantID, UserID: userID, CreatedAt: m.clock.Now()})
	if err != nil {
		return translate("membership.add", err)
	}
	m.emit(ctx, audit.Event{Type: audit.TypeAdminChange, Outcome: audit.Success, TenantID: tenantID, Target: "user:" + userID,
		Attributes: map[string]string{"action": "member.add"}})
	return nil
}
