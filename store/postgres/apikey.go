package postgres

import (
	"context"
	"database/sql"
	"time"

	"github.com/lib/pq"

	"github.com/authv2/authv2/apikey"
	"github.com/authv2/authv2/store"
)

// APIKeyStore is a PostgreSQL apikey.Store. The key read of Authenticate
// is a prepared primary-key lookup, like the session read; every write is
// one statement.
type APIKeyStore struct {
	h *handle
	q apiKeyQueries
}

var _ apikey.Store = (*APIKeyStore)(nil)

type apiKeyQueries struct {
	// get is the statement of Authenticate.
	get                                                                     *stmt
	insert, list, touch, revoke, revokeAll                                  string
	insertAccount, getAccount, listAccounts, setAccountDisabled, delAccount string
}

const (
	apiKeyCols = `id, secret_hash, owner_id, owner_kind, tenant_id, scope, permissions, name,
	created_at, created_by, expires_at, last_used_at, revoked_at, revoke_reason`
	accountCols = `id, tenant_id, name, description, disabled, created_at, updated_at, created_by`
)

func newAPIKeyStore(h *handle) *APIKeyStore {
	return &APIKeyStore{h: h, q: apiKeyQueries{
		insert: h.q(`INSERT INTO {s}.api_keys (` + apiKeyCols + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`),
		get: h.stmt(h.q(`SELECT ` + apiKeyCols + ` FROM {s}.api_keys WHERE id = $1`)),
		list: h.q(`SELECT ` + apiKeyCols + ` FROM {s}.api_keys
			WHERE ($1 = '' OR owner_id = $1) AND ($2 = '' OR tenant_id = $2)
			ORDER BY created_at DESC, id COLLATE "C"`),
		// Zero rows is "missing" only when no such key exists: a use
		// within the interval, or of a dead key, writes nothing.
		touch: h.q(`WITH u AS (
				UPDATE {s}.api_keys SET last_used_at = $2
				WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
				AND (last_used_at IS NULL OR last_used_at < $3) RETURNING 1)
			SELECT EXISTS (SELECT 1 FROM u) OR EXISTS (SELECT 1 FROM {s}.api_keys WHERE id = $1)`),
		revoke: h.q(`WITH u AS (
				UPDATE {s}.api_keys SET revoked_at = $2, revoke_reason = $3
				WHERE id = $1 AND revoked_at IS NULL RETURNING 1)
			SELECT EXISTS (SELECT 1 FROM u) OR EXISTS (SELECT 1 FROM {s}.api_keys WHERE id = $1)`),
		revokeAll: h.q(`UPDATE {s}.api_keys SET revoked_at = $3, revoke_reason = $4
			WHERE owner_id = $1 AND ($2 = '' OR tenant_id = $2) AND revoked_at IS NULL
			RETURNING id`),

		insertAccount: h.q(`INSERT INTO {s}.service_accounts (` + accountCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`),
		getAccount:    h.q(`SELECT ` + accountCols + ` FROM {s}.service_accounts WHERE id = $1`),
		listAccounts:  h.q(`SELECT ` + accountCols + ` FROM {s}.service_accounts WHERE tenant_id = $1 ORDER BY id COLLATE "C"`),
		// The old row, for the audit trail, from the same statement.
		setAccountDisabled: h.q(`UPDATE {s}.service_accounts n SET disabled = $2, updated_at = $3
			FROM {s}.service_accounts o WHERE n.id = $1 AND o.id = n.id
			RETURNING o.id, o.tenant_id, o.name, o.description, o.disabled, o.created_at, o.updated_at, o.created_by`),
		delAccount: h.q(`DELETE FROM {s}.service_accounts WHERE id = $1`),
	}}
}

func scanAPIKey(r scanner) (*apikey.Key, error) {
	var (
		k                           apikey.Key
		perms                       pq.StringArray
		expires, lastUsed, revokedA sql.NullTime
		kind                        string
	)
	err := r.Scan(&k.ID, &k.SecretHash, &k.OwnerID, &kind, &k.TenantID, &k.Scope, &perms, &k.Name,
		&k.CreatedAt, &k.CreatedBy, &expires, &lastUsed, &revokedA, &k.RevokeReason)
	if err != nil {
		return nil, err
	}
	k.OwnerKind, k.Permissions = apikey.OwnerKind(kind), []string(perms)
	k.CreatedAt = k.CreatedAt.UTC()
	k.ExpiresAt, k.LastUsedAt, k.RevokedAt = timeOf(expires), timeOf(lastUsed), timeOf(revokedA)
	return &k, nil
}

// CreateKey implements apikey.Store.
func (s *APIKeyStore) CreateKey(ctx context.Context, k *apikey.Key) error {
	return s.h.retry(ctx, "apikey.create", func() error {
		_, err := s.h.db.ExecContext(ctx, s.q.insert, k.ID, k.SecretHash, k.OwnerID, string(k.OwnerKind), k.TenantID,
			k.Scope, pq.StringArray(k.Permissions), k.Name, pgTime(k.CreatedAt), k.CreatedBy, nullTime(k.ExpiresAt),
			nullTime(k.LastUsedAt), nullTime(k.RevokedAt), k.RevokeReason)
		return err
	})
}

// GetKey implements apikey.Store: one prepared primary-key lookup.
func (s *APIKeyStore) GetKey(ctx context.Context, id string) (*apikey.Key, error) {
	var k *apikey.Key
	err := s.h.retry(ctx, "apikey.get", func() error {
		return s.q.get.queryRow(ctx, func(r scanner) error {
			var err error
			k, err = scanAPIKey(r)
			return err
		}, id)
	})
	return k, err
}

// ListKeys implements apikey.Store.
func (s *APIKeyStore) ListKeys(ctx context.Context, f apikey.KeyFilter) ([]*apikey.Key, error) {
	var out []*apikey.Key
	err := s.h.retry(ctx, "apikey.list", func() error {
		out = nil
		rows, err := s.h.db.QueryContext(ctx, s.q.list, f.OwnerID, f.TenantID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			k, err := scanAPIKey(rows)
			if err != nil {
				return err
			}
			out = append(out, k)
		}
		return rows.Err()
	})
	return out, err
}

// exists runs a query answering one boolean: false is store.ErrNotFound.
func (s *APIKeyStore) exists(ctx context.Context, op, query string, args ...any) error {
	var ok bool
	err := s.h.retry(ctx, op, func() error { return s.h.db.QueryRowContext(ctx, query, args...).Scan(&ok) })
	if err == nil && !ok {
		return store.ErrNotFound
	}
	return err
}

// TouchKey implements apikey.Store.
func (s *APIKeyStore) TouchKey(ctx context.Context, id string, at, notAfter time.Time) error {
	return s.exists(ctx, "apikey.touch", s.q.touch, id, pgTime(at), pgTime(notAfter))
}

// RevokeKey implements apikey.Store.
func (s *APIKeyStore) RevokeKey(ctx context.Context, id string, at time.Time, reason string) error {
	return s.exists(ctx, "apikey.revoke", s.q.revoke, id, pgTime(at), reason)
}

// RevokeKeys implements apikey.Store in one statement.
func (s *APIKeyStore) RevokeKeys(ctx context.Context, f apikey.KeyFilter, at time.Time, reason string) ([]string, error) {
	var ids []string
	err := s.h.retry(ctx, "apikey.revoke_all", func() error {
		ids = nil
		return s.h.db.SelectContext(ctx, &ids, s.q.revokeAll, f.OwnerID, f.TenantID, pgTime(at), reason)
	})
	return ids, err
}

func scanAccount(r scanner) (*apikey.ServiceAccount, error) {
	var a apikey.ServiceAccount
	if err := r.Scan(&a.ID, &a.TenantID, &a.Name, &a.Description, &a.Disabled, &a.CreatedAt, &a.UpdatedAt, &a.CreatedBy); err != nil {
		return nil, err
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return &a, nil
}

// CreateServiceAccount implements apikey.Store.
func (s *APIKeyStore) CreateServiceAccount(ctx context.Context, a *apikey.ServiceAccount) error {
	return s.h.retry(ctx, "service_account.create", func() error {
		_, err := s.h.db.ExecContext(ctx, s.q.insertAccount, a.ID, a.TenantID, a.Name, a.Description, a.Disabled,
			pgTime(a.CreatedAt), pgTime(a.UpdatedAt), a.CreatedBy)
		return err
	})
}

func (s *APIKeyStore) oneAccount(ctx context.Context, op, query string, args ...any) (*apikey.ServiceAccount, error) {
	var a *apikey.ServiceAccount
	err := s.h.retry(ctx, op, func() error {
		var err error
		a, err = scanAccount(s.h.db.QueryRowContext(ctx, query, args...))
		return err
	})
	return a, err
}

// GetServiceAccount implements apikey.Store.
func (s *APIKeyStore) GetServiceAccount(ctx context.Context, id string) (*apikey.ServiceAccount, error) {
	return s.oneAccount(ctx, "service_account.get", s.q.getAccount, id)
}

// ListServiceAccounts implements apikey.Store.
func (s *APIKeyStore) ListServiceAccounts(ctx context.Context, tenantID string) ([]*apikey.ServiceAccount, error) {
	var out []*apikey.ServiceAccount
	err := s.h.retry(ctx, "service_account.list", func() error {
		out = nil
		rows, err := s.h.db.QueryContext(ctx, s.q.listAccounts, tenantID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAccount(rows)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	return out, err
}

// SetServiceAccountDisabled implements apikey.Store.
func (s *APIKeyStore) SetServiceAccountDisabled(ctx context.Context, id string, disabled bool, at time.Time) (*apikey.ServiceAccount, error) {
	return s.oneAccount(ctx, "service_account.update", s.q.setAccountDisabled, id, disabled, pgTime(at))
}

// DeleteServiceAccount implements apikey.Store.
func (s *APIKeyStore) DeleteServiceAccount(ctx context.Context, id string) error {
	return s.h.retry(ctx, "service_account.delete", func() error {
		return expectRow(s.h.db.ExecContext(ctx, s.q.delAccount, id))
	})
}
