// Package permission holds the authorization model — tenants, scopes, roles,
// grants, bindings — its store contract, and the engine that compiles and
// checks them.
package permission

import (
	"context"
	"time"
)

// Tenant is an organization. Every user action happens inside one tenant.
type Tenant struct {
	ID         string
	Name       string
	Attributes map[string]string
	CreatedAt  time.Time
}

// Effect of a grant.
type Effect string

// Grant effects. Deny beats allow.
const (
	Allow Effect = "allow"
	Deny  Effect = "deny"
)

// Grant gives (or, with Deny, takes away) one permission, written
// "resource:action" with wildcards ("orders:*", "*:read", "*"), optionally
// only where the CEL Condition holds.
type Grant struct {
	Permission string
	Effect     Effect
	Condition  string // CEL; "" means always
}

// GlobalTenant is the TenantID of role templates available in every tenant.
const GlobalTenant = ""

// Role is a named set of grants in one tenant (or a global template when
// TenantID is GlobalTenant). Parents name roles whose grants this role
// inherits; a tenant role of a parent's name shadows the template.
type Role struct {
	TenantID    string
	Name        string
	Description string
	Parents     []string
	Grants      []Grant
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Clone returns a deep copy.
func (r *Role) Clone() *Role {
	if r == nil {
		return nil
	}
	c := *r
	c.Parents = append([]string(nil), r.Parents...)
	c.Grants = append([]Grant(nil), r.Grants...)
	return &c
}

// Binding gives a user a role in a tenant at a scope and everything below it.
type Binding struct {
	UserID    string
	TenantID  string
	Role      string
	Scope     string    // "" is the whole tenant
	ExpiresAt time.Time // zero: never
	CreatedAt time.Time
}

// ActiveAt reports whether the binding has not expired at now.
func (b Binding) ActiveAt(now time.Time) bool { return b.ExpiresAt.IsZero() || now.Before(b.ExpiresAt) }

// Membership says a user belongs to a tenant. Logging in to, or switching
// to, a tenant needs a membership or a binding there.
type Membership struct {
	UserID    string
	TenantID  string
	CreatedAt time.Time
}

// Policy is everything needed to compile one user's permissions in one
// tenant: the user's bindings there and every role reachable from them
// through Parents (tenant roles and templates), as of Version.
type Policy struct {
	TenantID string
	UserID   string
	Version  int64
	Bindings []Binding
	Roles    []*Role
}

// Store persists the authorization model. Every tenant-owned query names its
// tenant. Every write to roles or bindings of a tenant bumps that tenant's
// policy version (a write to a global template bumps every tenant's view:
// Version of any tenant includes the global version). Implementations must
// be safe for concurrent use and translate errors to package store's
// sentinels.
type Store interface {
	// CreateTenant inserts t; store.ErrConflict if the ID exists.
	CreateTenant(ctx context.Context, t *Tenant) error
	// GetTenant returns the tenant or store.ErrNotFound.
	GetTenant(ctx context.Context, id string) (*Tenant, error)
	// ListTenants returns all tenants ordered by ID.
	ListTenants(ctx context.Context) ([]*Tenant, error)
	// DeleteTenant removes the tenant with its roles, bindings and
	// memberships; store.ErrNotFound if missing.
	DeleteTenant(ctx context.Context, id string) error

	// AddMember records a membership (idempotent); store.ErrNotFound if the
	// tenant does not exist.
	AddMember(ctx context.Context, m Membership) error
	// RemoveMember deletes a membership; store.ErrNotFound if absent.
	RemoveMember(ctx context.Context, tenantID, userID string) error
	// ListMemberships returns the user's memberships ordered by tenant ID.
	ListMemberships(ctx context.Context, userID string) ([]Membership, error)
	// ListMembers returns the tenant's memberships ordered by user ID
	// (empty, not an error, for a tenant with none or no such tenant).
	ListMembers(ctx context.Context, tenantID string) ([]Membership, error)
	// RemoveUser deletes the user's memberships and bindings in every
	// tenant in one atomic step, bumping the policy version of each tenant
	// that lost a binding, and returns the IDs of the tenants it touched,
	// sorted (empty, not an error, for a user with none).
	RemoveUser(ctx context.Context, userID string) ([]string, error)

	// PutRole creates or replaces a role. The caller has validated it; the
	// store rejects parents that do not exist (store.ErrNotFound) and
	// inheritance cycles (ErrCycle via a *CycleError).
	PutRole(ctx context.Context, r *Role) error
	// GetRole returns a role of the tenant (GlobalTenant for a template) or
	// store.ErrNotFound.
	GetRole(ctx context.Context, tenantID, name string) (*Role, error)
	// ListRoles returns the tenant's roles ordered by name.
	ListRoles(ctx context.Context, tenantID string) ([]*Role, error)
	// DeleteRole removes a role; store.ErrConflict while another role
	// inherits from it or a binding uses it.
	DeleteRole(ctx context.Context, tenantID, name string) error

	// PutBinding creates or replaces the binding identified by (tenant,
	// user, role, scope); store.ErrNotFound when the tenant or role does
	// not exist.
	PutBinding(ctx context.Context, b Binding) error
	// DeleteBinding removes that binding; store.ErrNotFound if absent.
	DeleteBinding(ctx context.Context, b Binding) error
	// ListBindings returns the tenant's bindings, of one user when userID is
	// set, ordered by user, role, scope.
	ListBindings(ctx context.Context, tenantID, userID string) ([]Binding, error)

	// LoadPolicy returns the user's bindings in the tenant with every role
	// they reach, in one round trip where the backend allows.
	LoadPolicy(ctx context.Context, tenantID, userID string) (*Policy, error)
	// Version returns the tenant's current policy version.
	Version(ctx context.Context, tenantID string) (int64, error)

	MemberStore
	DomainStore
}
