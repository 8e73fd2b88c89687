package authv2

import (
	"context"
	"errors"
	"strings"

	"github.com/authv2/authv2/apikey"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/store"
)

// CreateServiceAccount creates a service account in a tenant: a non-human
// principal that holds roles through Bind (its ID as the binding's
// UserID) and authenticates only with API keys. Audited as admin.change
// with the actor in ctx.
func (m *Manager) CreateServiceAccount(ctx context.Context, tenantID, name, description string) (*apikey.ServiceAccount, error) {
	if err := checkText("TenantID", tenantID, "Name", name, "Description", description); err != nil {
		return nil, err
	}
	var fields []FieldError
	if tenantID == "" {
		fields = append(fields, FieldError{"TenantID", "is required"})
	}
	if strings.TrimSpace(name) == "" || len(name) > 200 {
		fields = append(fields, FieldError{"Name", "is required, at most 200 bytes"})
	}
	if len(description) > 1000 {
		fields = append(fields, FieldError{"Description", "is at most 1000 bytes"})
	}
	if len(fields) > 0 {
		return nil, &ValidationError{Fields: fields}
	}
	if _, err := m.permissions.GetTenant(ctx, tenantID); err != nil {
		return nil, translate("tenant.get", err)
	}
	now := m.clock.Now()
	a := &apikey.ServiceAccount{ID: apikey.NewServiceAccountID(), TenantID: tenantID, Name: name, Description: description,
		CreatedAt: now, UpdatedAt: now}
	if actor := actorFrom(ctx); actor != nil {
		a.CreatedBy = actor.UserID
	}
	if err := m.apiKeys.CreateServiceAccount(ctx, a); err != nil {
		return nil, translate("service_account.create", err)
	}
	if err := m.adminEvent(ctx, "service_account.create", tenantID, "service_account:"+a.ID, nil, a); err != nil {
		return nil, err
	}
	return a, nil
}

// ServiceAccount returns a service account, or ErrNotFound.
func (m *Manager) ServiceAccount(ctx context.Context, id string) (*apikey.ServiceAccount, error) {
	if err := checkText("ID", id); err != nil {
		return nil, err
	}
	a, err := m.apiKeys.GetServiceAccount(ctx, id)
	return a, translate("service_account.get", err)
}

// ListServiceAccounts returns a tenant's service accounts ordered by ID.
func (m *Manager) ListServiceAccounts(ctx context.Context, tenantID string) ([]*apikey.ServiceAccount, error) {
	if err := checkText("TenantID", tenantID); err != nil {
		return nil, err
	}
	as, err := m.apiKeys.ListServiceAccounts(ctx, tenantID)
	return as, translate("service_account.list", err)
}

// DisableServiceAccount disables a service account and revokes its keys:
// enabling it again does not bring them back.
func (m *Manager) DisableServiceAccount(ctx context.Context, id string) error {
	return m.setServiceAccountDisabled(ctx, id, true)
}

// EnableServiceAccount enables a disabled service account; new keys can
// then be created for it.
func (m *Manager) EnableServiceAccount(ctx context.Context, id string) error {
	return m.setServiceAccountDisabled(ctx, id, false)
}

func (m *Manager) setServiceAccountDisabled(ctx context.Context, id string, disabled bool) error {
	if err := checkText("ID", id); err != nil {
		return err
	}
	now := m.clock.Now()
	before, err := m.apiKeys.SetServiceAccountDisabled(ctx, id, disabled, now)
	if err != nil {
		return translate("service_account.update", err)
	}
	after := *before
	after.Disabled, after.UpdatedAt = disabled, now
	action := "service_account.enable"
	var events []audit.Event
	if disabled {
		action = "service_account.disable"
		// After the flag: a key being created meanwhile re-reads it
		// (CreateAPIKey), so no key outlives the disable.
		if _, events, err = m.revokeOwnerKeys(ctx, id, "", now, apikey.ReasonServiceAccountDisabled); err != nil {
			return err
		}
	}
	attrs := changeAttrs(before, &after)
	attrs["action"] = action
	events = append(events, withActor(ctx, audit.Event{Type: audit.TypeAdminChange, Outcome: audit.Success, TenantID: before.TenantID,
		Target: "service_account:" + id, Attributes: attrs}))
	return m.emitAll(ctx, events)
}

// DeleteServiceAccount revokes a service account's keys, removes its
// bindings and deletes it.
func (m *Manager) DeleteServiceAccount(ctx context.Context, id string) error {
	if err := checkText("ID", id); err != nil {
		return err
	}
	a, err := m.apiKeys.GetServiceAccount(ctx, id)
	if err != nil {
		return translate("service_account.get", err)
	}
	// Disabled first, so a key created meanwhile is refused by its own
	// re-check; then the keys, the bindings, the record (a retry after a
	// failure finds the account again).
	if _, err := m.apiKeys.SetServiceAccountDisabled(ctx, id, true, m.clock.Now()); err != nil {
		return translate("service_account.update", err)
	}
	_, events, err := m.revokeOwnerKeys(ctx, id, "", m.clock.Now(), apikey.ReasonServiceAccountDeleted)
	if err != nil {
		return err
	}
	tenants, err := m.permissions.RemoveUser(ctx, id)
	if err != nil {
		return translate("permission.remove_user", err)
	}
	for _, t := range tenants {
		m.policyChanged(ctx, t)
	}
	if err := m.apiKeys.DeleteServiceAccount(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return translate("service_account.delete", err)
	}
	attrs := changeAttrs(a, nil)
	attrs["action"] = "service_account.delete"
	events = append(events, withActor(ctx, audit.Event{Type: audit.TypeAdminChange, Outcome: audit.Success, TenantID: a.TenantID,
		Target: "service_account:" + id, Attributes: attrs}))
	return m.emitAll(ctx, events)
}
