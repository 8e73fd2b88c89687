package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

// PermissionStore is a PostgreSQL permission.Store.
//
// Every write to roles or bindings first bumps the policy_versions row of
// its tenant (GlobalTenant for templates) in the same transaction. The bump
// doubles as the per-tenant write lock: the row stays locked until commit,
// so the cycle check of PutRole and the "in use" check of DeleteRole see a
// graph no concurrent writer of that tenant can change underneath them, and
// a rolled-back write leaves the version untouched.
type PermissionStore struct {
	h  *handle
	q  permissionQueries
	mq memberQueries
	dq domainQueries
}

var _ permission.Store = (*PermissionStore)(nil)

type permissionQueries struct {
	// loadPolicy and version are the statements of Authorize (a cache
	// miss, the polling of versions).
	loadPolicy, version                                              *stmt
	bump                                                             string
	insertTenant, getTenant, listTenants, deleteTenant               string
	addMember, removeMember, listMemberships, listMembers            string
	userBindingTenants, deleteUserBindings, deleteUserMemberships    string
	roleGraph, lockRoles, upsertRole, getRole, listRoles, deleteRole string
	roleInUse                                                        string
	resolveRole, upsertBinding, deleteBinding, listBindings          string
}

const roleCols = `tenant_id, name, description, parents, grants, created_at, updated_at`

// resolvedRoles is the recursive walk shared by PutRole's cycle check and
// LoadPolicy: from the names in the seed CTE, follow parents, resolving
// each name to the tenant's role of that name, else the template (a
// tenant ID sorts after the templates' empty one, so the first row in
// descending order is the tenant's). UNION (not UNION ALL) drops names
// already reached, so the walk ends on any graph, cyclic or not, after at
// most one step per role. Each step probes the primary key once per name
// reached: the cost follows the roles reached, not the tenant's roles.
// $1 is the tenant.
const resolvedRoles = `
	reach (name) AS (
		SELECT name FROM seed
		UNION
		SELECT unnest(r.parents) FROM reach CROSS JOIN LATERAL (
			SELECT parents FROM {s}.roles WHERE tenant_id IN ($1, '') AND name = reach.name
			ORDER BY tenant_id DESC LIMIT 1) r
	),
	resolved AS (
		SELECT r.* FROM reach CROSS JOIN LATERAL (
			SELECT * FROM {s}.roles WHERE tenant_id IN ($1, '') AND name = reach.name
			ORDER BY tenant_id DESC LIMIT 1) r
	)`

// loadPolicyQuery is LoadPolicy's statement over a walk of the roles
// (resolvedRoles). One round trip, one snapshot: the version returned is
// the version of exactly the bindings and roles returned, so a cache keyed
// by it can never hold newer data under an older version or vice versa.
func loadPolicyQuery(resolved string) string {
	return `WITH RECURSIVE
			b AS (SELECT user_id, role, scope, expires_at, created_at FROM {s}.bindings
				WHERE tenant_id = $1 AND user_id = $2),
			seed (name) AS (SELECT role FROM b),` + resolved + `
			SELECT 'v' AS kind, '' AS tenant_id, '' AS name, '' AS user_id, '' AS scope,
				NULL::timestamptz AS expires_at, NULL::timestamptz AS created_at, NULL::timestamptz AS updated_at,
				'' AS description, NULL::text[] AS parents, NULL::jsonb AS grants,
				(SELECT COALESCE(sum(version), 0)::bigint FROM {s}.policy_versions WHERE tenant_id IN ($1, '')) AS version
			UNION ALL
			SELECT 'b', $1, role, user_id, scope, expires_at, created_at, NULL, '', NULL, NULL, 0 FROM b
			UNION ALL
			SELECT 'r', tenant_id, name, '', '', NULL, created_at, updated_at, description, parents, grants, 0 FROM resolved`
}

func newPermissionStore(h *handle) *PermissionStore {
	return &PermissionStore{h: h, mq: newMemberQueries(h), dq: newDomainQueries(h), q: permissionQueries{
		bump: h.q(`INSERT INTO {s}.policy_versions AS v (tenant_id, version) VALUES ($1, 1)
			ON CONFLICT (tenant_id) DO UPDATE SET version = v.version + 1`),
		version: h.stmt(h.q(`SELECT COALESCE(sum(version), 0)::bigint FROM {s}.policy_versions WHERE tenant_id IN ($1, '')`)),

		insertTenant: h.q(`INSERT INTO {s}.tenants (id, name, attributes, created_at) VALUES ($1, $2, $3, $4)`),
		getTenant:    h.q(`SELECT id, name, attributes, created_at FROM {s}.tenants WHERE id = $1`),
		listTenants:  h.q(`SELECT id, name, attributes, created_at FROM {s}.tenants ORDER BY id COLLATE "C"`),
		deleteTenant: h.q(`DELETE FROM {s}.tenants WHERE id = $1`),

		addMember: h.q(`INSERT INTO {s}.memberships (tenant_id, user_id, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (tenant_id, user_id) DO NOTHING`),
		removeMember: h.q(`DELETE FROM {s}.memberships WHERE tenant_id = $1 AND user_id = $2`),
		userBindingTenants: h.q(`SELECT tenant_id FROM {s}.bindings WHERE user_id = $1
			GROUP BY tenant_id ORDER BY tenant_id COLLATE "C"`),
		deleteUserBindings:    h.q(`DELETE FROM {s}.bindings WHERE user_id = $1`),
		deleteUserMemberships: h.q(`DELETE FROM {s}.memberships WHERE user_id = $1 RETURNING tenant_id`),
		listMemberships:       h.q(`SELECT user_id, tenant_id, created_at FROM {s}.memberships WHERE user_id = $1 ORDER BY tenant_id COLLATE "C"`),
		listMembers:           h.q(`SELECT user_id, tenant_id, created_at FROM {s}.memberships WHERE tenant_id = $1 ORDER BY user_id COLLATE "C"`),

		roleGraph: h.q(`WITH RECURSIVE seed (name) AS (SELECT unnest($2::text[])),` + resolvedRoles + `
			SELECT name, parents FROM resolved`),
		// Locks the rows the new parents may resolve to, so a concurrent
		// template delete cannot remove a parent this write relies on.
		lockRoles: h.q(`SELECT name FROM {s}.roles WHERE tenant_id IN ($1, '') AND name = ANY($2) FOR SHARE`),
		upsertRole: h.q(`INSERT INTO {s}.roles (` + roleCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (tenant_id, name) DO UPDATE SET description = EXCLUDED.description,
				parents = EXCLUDED.parents, grants = EXCLUDED.grants, updated_at = EXCLUDED.updated_at`),
		getRole:    h.q(`SELECT ` + roleCols + ` FROM {s}.roles WHERE tenant_id = $1 AND name = $2`),
		listRoles:  h.q(`SELECT ` + roleCols + ` FROM {s}.roles WHERE tenant_id = $1 ORDER BY name COLLATE "C"`),
		deleteRole: h.q(`DELETE FROM {s}.roles WHERE tenant_id = $1 AND name = $2`),
		// A template ($1 = '') is in use anywhere; a tenant role only in
		// its tenant. Served by the GIN index on parents and the index on
		// bindings(role, tenant_id).
		roleInUse: h.q(`SELECT EXISTS (
				SELECT 1 FROM {s}.roles WHERE parents @> ARRAY[$2::text] AND ($1 = '' OR tenant_id = $1))
			OR EXISTS (
				SELECT 1 FROM {s}.bindings WHERE role = $2 AND ($1 = '' OR tenant_id = $1))`),

		// FOR SHARE keeps the role from being deleted until the binding
		// that names it commits.
		resolveRole: h.q(`SELECT tenant_id FROM {s}.roles WHERE tenant_id IN ($1, '') AND name = $2 FOR SHARE`),
		upsertBinding: h.q(`INSERT INTO {s}.bindings (tenant_id, user_id, role, scope, expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (tenant_id, user_id, role, scope) DO UPDATE SET expires_at = EXCLUDED.expires_at`),
		deleteBinding: h.q(`DELETE FROM {s}.bindings WHERE tenant_id = $1 AND user_id = $2 AND role = $3 AND scope = $4`),
		listBindings: h.q(`SELECT user_id, tenant_id, role, scope, expires_at, created_at FROM {s}.bindings
			WHERE tenant_id = $1 AND ($2 = '' OR user_id = $2)
			ORDER BY user_id COLLATE "C", role COLLATE "C", scope COLLATE "C"`),

		loadPolicy: h.stmt(h.q(loadPolicyQuery(resolvedRoles))),
	}}
}

func (s *PermissionStore) bumpTx(ctx context.Context, tx *sqlx.Tx, tenantID string) error {
	_, err := tx.ExecContext(ctx, s.q.bump, tenantID)
	return err
}

// CreateTenant implements permission.Store. The ID "" is reserved for
// global role templates and is refused with store.ErrConflict.
func (s *PermissionStore) CreateTenant(ctx context.Context, t *permission.Tenant) error {
	const op = "permission.create_tenant"
	if t.ID == permission.GlobalTenant {
		return fmt.Errorf("authv2/postgres: tenant ID %q is reserved for global role templates: %w", t.ID, store.ErrConflict)
	}
	attrs, err := marshalAttrs(t.Attributes)
	if err != nil {
		return &Error{Op: op, Err: err}
	}
	return s.h.inTx(ctx, op, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q.insertTenant, t.ID, t.Name, attrs, nullTime(t.CreatedAt)); err != nil {
			return err
		}
		return s.bumpTx(ctx, tx, t.ID)
	})
}

type tenantRow struct {
	ID         string       `db:"id"`
	Name       string       `db:"name"`
	Attributes []byte       `db:"attributes"`
	CreatedAt  sql.NullTime `db:"created_at"`
}

func (r *tenantRow) tenant() (*permission.Tenant, error) {
	t := &permission.Tenant{ID: r.ID, Name: r.Name, CreatedAt: timeOf(r.CreatedAt)}
	return t, unmarshalAttrs(r.Attributes, &t.Attributes)
}

// GetTenant implements permission.Store.
func (s *PermissionStore) GetTenant(ctx context.Context, id string) (*permission.Tenant, error) {
	const op = "permission.get_tenant"
	var r tenantRow
	if err := s.h.retry(ctx, op, func() error { return s.h.db.GetContext(ctx, &r, s.q.getTenant, id) }); err != nil {
		return nil, err
	}
	t, err := r.tenant()
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	return t, nil
}

// ListTenants implements permission.Store.
func (s *PermissionStore) ListTenants(ctx context.Context) ([]*permission.Tenant, error) {
	const op = "permission.list_tenants"
	var rows []tenantRow
	if err := s.h.retry(ctx, op, func() error {
		rows = nil
		return s.h.db.SelectContext(ctx, &rows, s.q.listTenants)
	}); err != nil {
		return nil, err
	}
	out := make([]*permission.Tenant, len(rows))
	for i := range rows {
		t, err := rows[i].tenant()
		if err != nil {
			return nil, &Error{Op: op, Err: err}
		}
		out[i] = t
	}
	return out, nil
}

// DeleteTenant implements permission.Store. Roles, bindings and
// memberships go with the tenant through ON DELETE CASCADE; the tenant's
// policy version is bumped and kept.
func (s *PermissionStore) DeleteTenant(ctx context.Context, id string) error {
	return s.h.inTx(ctx, "permission.delete_tenant", func(tx *sqlx.Tx) error {
		if err := s.bumpTx(ctx, tx, id); err != nil {
			return err
		}
		return expectRow(tx.ExecContext(ctx, s.q.deleteTenant, id))
	})
}

// AddMember implements permission.Store.
func (s *PermissionStore) AddMember(ctx context.Context, m permission.Membership) error {
	return s.h.retry(ctx, "permission.add_member", func() error {
		_, err := s.h.db.ExecContext(ctx, s.q.addMember, m.TenantID, m.UserID, nullTime(m.CreatedAt))
		return err // a missing tenant is a foreign key violation: store.ErrNotFound
	})
}

// RemoveMember implements permission.Store.
func (s *PermissionStore) RemoveMember(ctx context.Context, tenantID, userID string) error {
	return s.h.retry(ctx, "permission.remove_member", func() error {
		return expectRow(s.h.db.ExecContext(ctx, s.q.removeMember, tenantID, userID))
	})
}

// RemoveUser implements permission.Store in one transaction. The versions
// of the tenants whose bindings go are bumped first, in tenant order, as
// every binding write does (see the package comment on lock order).
func (s *PermissionStore) RemoveUser(ctx context.Context, userID string) ([]string, error) {
	var tenants []string
	err := s.h.inTx(ctx, "permission.remove_user", func(tx *sqlx.Tx) error {
		var bound, members []string
		if err := tx.SelectContext(ctx, &bound, s.q.userBindingTenants, userID); err != nil {
			return err
		}
		for _, t := range bound {
			if err := s.bumpTx(ctx, tx, t); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, s.q.deleteUserBindings, userID); err != nil {
			return err
		}
		if err := tx.SelectContext(ctx, &members, s.q.deleteUserMemberships, userID); err != nil {
			return err
		}
		tenants = append(bound, members...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(tenants)
	return slices.Compact(tenants), nil
}

type membershipRow struct {
	UserID    string       `db:"user_id"`
	TenantID  string       `db:"tenant_id"`
	CreatedAt sql.NullTime `db:"created_at"`
}

// ListMemberships implements permission.Store.
func (s *PermissionStore) ListMemberships(ctx context.Context, userID string) ([]permission.Membership, error) {
	return s.memberships(ctx, "permission.list_memberships", s.q.listMemberships, userID)
}

// ListMembers implements permission.Store, from the memberships primary
// key (tenant_id, user_id).
func (s *PermissionStore) ListMembers(ctx context.Context, tenantID string) ([]permission.Membership, error) {
	return s.memberships(ctx, "permission.list_members", s.q.listMembers, tenantID)
}

func (s *PermissionStore) memberships(ctx context.Context, op, query, arg string) ([]permission.Membership, error) {
	var rows []membershipRow
	if err := s.h.retry(ctx, op, func() error {
		rows = nil
		return s.h.db.SelectContext(ctx, &rows, query, arg)
	}); err != nil {
		return nil, err
	}
	out := make([]permission.Membership, len(rows))
	for i, r := range rows {
		out[i] = permission.Membership{UserID: r.UserID, TenantID: r.TenantID, CreatedAt: timeOf(r.CreatedAt)}
	}
	return out, nil
}

// grantJSON is the stored form of a permission.Grant, with its own stable
// field names so renaming a Go field never changes stored data.
type grantJSON struct {
	Permission string `json:"permission"`
	Effect     string `json:"effect"`
	Condition  string `json:"condition,omitempty"`
}

func marshalGrants(gs []permission.Grant) (string, error) {
	out := make([]grantJSON, len(gs))
	for i, g := range gs {
		out[i] = grantJSON{Permission: g.Permission, Effect: string(g.Effect), Condition: g.Condition}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func unmarshalGrants(b []byte) ([]permission.Grant, error) {
	var in []grantJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, err
	}
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]permission.Grant, len(in))
	for i, g := range in {
		out[i] = permission.Grant{Permission: g.Permission, Effect: permission.Effect(g.Effect), Condition: g.Condition}
	}
	return out, nil
}

type roleRow struct {
	TenantID    string         `db:"tenant_id"`
	Name        string         `db:"name"`
	Description string         `db:"description"`
	Parents     pq.StringArray `db:"parents"`
	Grants      []byte         `db:"grants"`
	CreatedAt   sql.NullTime   `db:"created_at"`
	UpdatedAt   sql.NullTime   `db:"updated_at"`
}

func (r *roleRow) role() (*permission.Role, error) {
	grants, err := unmarshalGrants(r.Grants)
	if err != nil {
		return nil, err
	}
	var parents []string
	if len(r.Parents) > 0 {
		parents = []string(r.Parents)
	}
	return &permission.Role{TenantID: r.TenantID, Name: r.Name, Description: r.Description, Parents: parents,
		Grants: grants, CreatedAt: timeOf(r.CreatedAt), UpdatedAt: timeOf(r.UpdatedAt)}, nil
}

type parentsRow struct {
	Name    string         `db:"name"`
	Parents pq.StringArray `db:"parents"`
}

// PutRole implements permission.Store. Inside one transaction, serialized
// per tenant by the version bump, it locks the rows the parents resolve to,
// loads the graph reachable from them in one recursive query, and checks
// existence and cycles before writing.
//
// Only the tenant's own view is checked, as in the memory store: a template
// write is checked against templates, and a later template change could
// close a loop through a tenant role. LoadPolicy terminates on such a loop.
func (s *PermissionStore) PutRole(ctx context.Context, r *permission.Role) error {
	const op = "permission.put_role"
	grants, err := marshalGrants(r.Grants)
	if err != nil {
		return &Error{Op: op, Err: err}
	}
	parents := pq.StringArray(r.Parents)
	if parents == nil {
		parents = pq.StringArray{}
	}
	return s.h.inTx(ctx, op, func(tx *sqlx.Tx) error {
		if err := s.bumpTx(ctx, tx, r.TenantID); err != nil {
			return err
		}
		if len(r.Parents) > 0 {
			var locked []string
			if err := tx.SelectContext(ctx, &locked, s.q.lockRoles, r.TenantID, parents); err != nil {
				return err
			}
			var rows []parentsRow
			if err := tx.SelectContext(ctx, &rows, s.q.roleGraph, r.TenantID, parents); err != nil {
				return err
			}
			graph := make(map[string][]string, len(rows)+1)
			for _, row := range rows {
				graph[row.Name] = row.Parents
			}
			for _, p := range r.Parents {
				if p == r.Name {
					return &permission.CycleError{TenantID: r.TenantID, Path: []string{r.Name, r.Name}}
				}
				if _, ok := graph[p]; !ok {
					return store.ErrNotFound
				}
			}
			graph[r.Name] = r.Parents // the version being written replaces the stored one
			if path := permission.FindCycle(r.Name, func(n string) []string { return graph[n] }); path != nil {
				return &permission.CycleError{TenantID: r.TenantID, Path: path}
			}
		}
		// A missing tenant fails the foreign key: store.ErrNotFound.
		_, err := tx.ExecContext(ctx, s.q.upsertRole, r.TenantID, r.Name, r.Description, parents, grants,
			nullTime(r.CreatedAt), nullTime(r.UpdatedAt))
		return err
	})
}

// GetRole implements permission.Store.
func (s *PermissionStore) GetRole(ctx context.Context, tenantID, name string) (*permission.Role, error) {
	const op = "permission.get_role"
	var row roleRow
	if err := s.h.retry(ctx, op, func() error { return s.h.db.GetContext(ctx, &row, s.q.getRole, tenantID, name) }); err != nil {
		return nil, err
	}
	r, err := row.role()
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	return r, nil
}

// ListRoles implements permission.Store.
func (s *PermissionStore) ListRoles(ctx context.Context, tenantID string) ([]*permission.Role, error) {
	const op = "permission.list_roles"
	var rows []roleRow
	if err := s.h.retry(ctx, op, func() error {
		rows = nil
		return s.h.db.SelectContext(ctx, &rows, s.q.listRoles, tenantID)
	}); err != nil {
		return nil, err
	}
	out := make([]*permission.Role, len(rows))
	for i := range rows {
		r, err := rows[i].role()
		if err != nil {
			return nil, &Error{Op: op, Err: err}
		}
		out[i] = r
	}
	return out, nil
}

// DeleteRole implements permission.Store.
func (s *PermissionStore) DeleteRole(ctx context.Context, tenantID, name string) error {
	return s.h.inTx(ctx, "permission.delete_role", func(tx *sqlx.Tx) error {
		if err := s.bumpTx(ctx, tx, tenantID); err != nil {
			return err
		}
		// Delete first: the row lock makes a concurrent PutBinding that
		// resolved this role (FOR SHARE) commit before the check below runs.
		if err := expectRow(tx.ExecContext(ctx, s.q.deleteRole, tenantID, name)); err != nil {
			return err
		}
		var inUse bool
		if err := tx.QueryRowContext(ctx, s.q.roleInUse, tenantID, name).Scan(&inUse); err != nil {
			return err
		}
		if inUse {
			return store.ErrConflict
		}
		return nil
	})
}

// PutBinding implements permission.Store.
func (s *PermissionStore) PutBinding(ctx context.Context, b permission.Binding) error {
	return s.h.inTx(ctx, "permission.put_binding", func(tx *sqlx.Tx) error {
		if err := s.bumpTx(ctx, tx, b.TenantID); err != nil {
			return err
		}
		var owners []string
		if err := tx.SelectContext(ctx, &owners, s.q.resolveRole, b.TenantID, b.Role); err != nil {
			return err
		}
		if len(owners) == 0 {
			return store.ErrNotFound
		}
		// A missing tenant fails the foreign key: store.ErrNotFound.
		_, err := tx.ExecContext(ctx, s.q.upsertBinding, b.TenantID, b.UserID, b.Role, b.Scope,
			nullTime(b.ExpiresAt), nullTime(b.CreatedAt))
		return err
	})
}

// DeleteBinding implements permission.Store.
func (s *PermissionStore) DeleteBinding(ctx context.Context, b permission.Binding) error {
	return s.h.inTx(ctx, "permission.delete_binding", func(tx *sqlx.Tx) error {
		if err := s.bumpTx(ctx, tx, b.TenantID); err != nil {
			return err
		}
		return expectRow(tx.ExecContext(ctx, s.q.deleteBinding, b.TenantID, b.UserID, b.Role, b.Scope))
	})
}

type bindingRow struct {
	UserID    string       `db:"user_id"`
	TenantID  string       `db:"tenant_id"`
	Role      string       `db:"role"`
	Scope     string       `db:"scope"`
	ExpiresAt sql.NullTime `db:"expires_at"`
	CreatedAt sql.NullTime `db:"created_at"`
}

func (r bindingRow) binding() permission.Binding {
	return permission.Binding{UserID: r.UserID, TenantID: r.TenantID, Role: r.Role, Scope: r.Scope,
		ExpiresAt: timeOf(r.ExpiresAt), CreatedAt: timeOf(r.CreatedAt)}
}

// ListBindings implements permission.Store.
func (s *PermissionStore) ListBindings(ctx context.Context, tenantID, userID string) ([]permission.Binding, error) {
	var rows []bindingRow
	if err := s.h.retry(ctx, "permission.list_bindings", func() error {
		rows = nil
		return s.h.db.SelectContext(ctx, &rows, s.q.listBindings, tenantID, userID)
	}); err != nil {
		return nil, err
	}
	out := make([]permission.Binding, len(rows))
	for i, r := range rows {
		out[i] = r.binding()
	}
	return out, nil
}

type policyRow struct {
	Kind        string         `db:"kind"`
	TenantID    string         `db:"tenant_id"`
	Name        string         `db:"name"`
	UserID      string         `db:"user_id"`
	Scope       string         `db:"scope"`
	ExpiresAt   sql.NullTime   `db:"expires_at"`
	CreatedAt   sql.NullTime   `db:"created_at"`
	UpdatedAt   sql.NullTime   `db:"updated_at"`
	Description string         `db:"description"`
	Parents     pq.StringArray `db:"parents"`
	Grants      []byte         `db:"grants"`
	Version     int64          `db:"version"`
}

// LoadPolicy implements permission.Store with a single query, whatever the
// depth of the hierarchy: the user's bindings, the closure of their roles
// (tenant roles shadowing templates) and the version, all from one snapshot.
func (s *PermissionStore) LoadPolicy(ctx context.Context, tenantID, userID string) (*permission.Policy, error) {
	const op = "permission.load_policy"
	var rows []policyRow
	if err := s.h.retry(ctx, op, func() error {
		rows = nil
		r, err := s.q.loadPolicy.query(ctx, tenantID, userID)
		if err != nil {
			return err
		}
		defer r.Close()
		return sqlx.StructScan(r, &rows)
	}); err != nil {
		return nil, err
	}
	p := &permission.Policy{TenantID: tenantID, UserID: userID}
	for i := range rows {
		row := &rows[i]
		switch row.Kind {
		case "v":
			p.Version = row.Version
		case "b":
			p.Bindings = append(p.Bindings, bindingRow{UserID: row.UserID, TenantID: tenantID, Role: row.Name,
				Scope: row.Scope, ExpiresAt: row.ExpiresAt, CreatedAt: row.CreatedAt}.binding())
		case "r":
			rr := roleRow{TenantID: row.TenantID, Name: row.Name, Description: row.Description,
				Parents: row.Parents, Grants: row.Grants, CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt}
			r, err := rr.role()
			if err != nil {
				return nil, &Error{Op: op, Err: err}
			}
			p.Roles = append(p.Roles, r)
		}
	}
	// Sorted here, in Go's byte order, like every other store.
	slices.SortFunc(p.Bindings, func(a, b permission.Binding) int {
		return cmp.Or(cmp.Compare(a.Role, b.Role), cmp.Compare(a.Scope, b.Scope))
	})
	slices.SortFunc(p.Roles, func(a, b *permission.Role) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.TenantID, b.TenantID))
	})
	return p, nil
}

// Version implements permission.Store: the tenant's counter plus the
// template counter, so a template write changes every tenant's version.
func (s *PermissionStore) Version(ctx context.Context, tenantID string) (int64, error) {
	var v int64
	err := s.h.retry(ctx, "permission.version", func() error {
		return s.q.version.queryRow(ctx, func(r scanner) error { return r.Scan(&v) }, tenantID)
	})
	return v, err
}
