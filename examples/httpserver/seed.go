package main

import (
	"context"
	"errors"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/handlers"
	"github.com/authv2/authv2/permission"
)

// The example's roles. An owner may do everything, members included
// (invite, change roles, remove): the one who registers a workspace is
// its owner.
const (
	roleClerk   = "clerk"
	roleManager = "manager"
	roleOwner   = permission.OwnerRole
)

// seed creates the demo tenants and their roles, if missing, and returns
// the demo orders. It is idempotent, so a restart against PostgreSQL
// keeps the data. There are no seeded accounts: register one (you get a
// tenant of your own, which you own). Membership of acme or globex is an
// administrator's act (Manager.AddMember and Manager.Bind, which no route
// exposes), an invitation from one of their owners (POST /invitations),
// or an address at an email domain one of their owners verified for the
// tenant (POST /domains), verified in the account's own session: change
// to it (POST /email) and complete the verification signed in (needs
// AUTHV2_REQUIRE_EMAIL_VERIFICATION).
func seed(ctx context.Context, m *authv2.Manager) (*orderBook, error) {
	for _, t := range []struct{ id, name string }{{"acme", "Acme Inc."}, {"globex", "Globex Corp."}} {
		if _, err := m.CreateTenant(ctx, t.id, t.name); err != nil && !errors.Is(err, authv2.ErrConflict) {
			return nil, err
		}
		if err := putRoles(ctx, m, t.id); err != nil {
			return nil, err
		}
	}
	return newOrderBook(
		order{ID: "A-100", TenantID: "acme", Amount: 120},
		order{ID: "A-200", TenantID: "acme", Amount: 900},
		order{ID: "G-100", TenantID: "globex", Amount: 80},
	), nil
}

// putRoles writes the example's roles into a tenant. A clerk reads orders
// and refunds up to 500; a manager inherits that, refunds any amount,
// administers the tenant's service accounts (the kit's routes) and may
// act as a clerk to help them (POST /impersonations: never as someone
// holding more than a manager).
// The condition is CEL, type-checked when the role is written.
func putRoles(ctx context.Context, m *authv2.Manager, tenantID string) error {
	roles := []*permission.Role{
		{TenantID: tenantID, Name: roleClerk, Description: "reads orders, refunds up to 500", Grants: []permission.Grant{
			{Permission: "orders:read", Effect: permission.Allow},
			{Permission: "orders:refund", Effect: permission.Allow, Condition: "resource.amount <= 500.0"},
		}},
		{TenantID: tenantID, Name: roleManager, Description: "refunds any amount, administers service accounts, acts as clerks", Parents: []string{roleClerk}, Grants: []permission.Grant{
			{Permission: "orders:refund", Effect: permission.Allow},
			{Permission: handlers.ServiceAccountsPermission, Effect: permission.Allow},
			{Permission: authv2.PermissionImpersonate, Effect: permission.Allow},
		}},
		{TenantID: tenantID, Name: roleOwner, Description: "everything, members included", Grants: []permission.Grant{
			{Permission: "*", Effect: permission.Allow},
		}},
	}
	for _, r := range roles {
		if err := m.PutRole(ctx, r); err != nil {
			return err
		}
	}
	return nil
}
