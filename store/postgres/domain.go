package postgres

import (
	"context"
	"database/sql"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/authv2/authv2/permission"
)

type domainQueries struct {
	insert, get, lock, list, verify, remove, peekVerified, findVerified, hasBinding string
}

const domainCols = `tenant_id, domain, role, scope, token, created_by, created_at, verified_at, verified_by`

func newDomainQueries(h *handle) domainQueries {
	return domainQueries{
		insert: h.q(`INSERT INTO {s}.tenant_domains (` + domainCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`),
		get:    h.q(`SELECT ` + domainCols + ` FROM {s}.tenant_domains WHERE tenant_id = $1 AND domain = $2`),
		lock:   h.q(`SELECT ` + domainCols + ` FROM {s}.tenant_domains WHERE tenant_id = $1 AND domain = $2 FOR UPDATE`),
		list:   h.q(`SELECT ` + domainCols + ` FROM {s}.tenant_domains WHERE tenant_id = $1 ORDER BY domain`),
		// The partial unique index refuses a second verified claim of the
		// domain (23505, store.ErrConflict); a concurrent one waits for the
		// first to commit or roll back, then fails or succeeds.
		verify: h.q(`UPDATE {s}.tenant_domains SET verified_at = $3, verified_by = $4 WHERE tenant_id = $1 AND domain = $2`),
		remove: h.q(`DELETE FROM {s}.tenant_domains WHERE tenant_id = $1 AND domain = $2 RETURNING ` + domainCols),
		peekVerified: h.q(`SELECT ` + domainCols + ` FROM {s}.tenant_domains
			WHERE domain = $1 AND verified_at IS NOT NULL`),
		// FOR SHARE: a DeleteDomain of the claim waits for the join to
		// commit, and a join waiting for a delete finds no row.
		findVerified: h.q(`SELECT ` + domainCols + ` FROM {s}.tenant_domains
			WHERE domain = $1 AND verified_at IS NOT NULL FOR SHARE`),
		hasBinding: h.q(`SELECT EXISTS (SELECT 1 FROM {s}.bindings WHERE tenant_id = $1 AND user_id = $2)`),
	}
}

type domainRow struct {
	TenantID   string       `db:"tenant_id"`
	Domain     string       `db:"domain"`
	Role       string       `db:"role"`
	Scope      string       `db:"scope"`
	Token      string       `db:"token"`
	CreatedBy  string       `db:"created_by"`
	CreatedAt  time.Time    `db:"created_at"`
	VerifiedAt sql.NullTime `db:"verified_at"`
	VerifiedBy string       `db:"verified_by"`
}

func (r *domainRow) domain() *permission.TenantDomain {
	return &permission.TenantDomain{TenantID: r.TenantID, Domain: r.Domain, Role: r.Role, Scope: r.Scope, Token: r.Token,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), VerifiedAt: timeOf(r.VerifiedAt), VerifiedBy: r.VerifiedBy}
}

// CreateDomain implements permission.DomainStore.
func (s *PermissionStore) CreateDomain(ctx context.Context, d *permission.TenantDomain) error {
	return s.h.retry(ctx, "permission.create_domain", func() error {
		// A missing tenant fails the foreign key: store.ErrNotFound.
		_, err := s.h.db.ExecContext(ctx, s.dq.insert, d.TenantID, d.Domain, d.Role, d.Scope, d.Token, d.CreatedBy,
			pgTime(d.CreatedAt), nullTime(d.VerifiedAt), d.VerifiedBy)
		return err
	})
}

// GetDomain implements permission.DomainStore.
func (s *PermissionStore) GetDomain(ctx context.Context, tenantID, domain string) (*permission.TenantDomain, error) {
	var r domainRow
	if err := s.h.retry(ctx, "permission.get_domain", func() error {
		return s.h.db.GetContext(ctx, &r, s.dq.get, tenantID, domain)
	}); err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// ListDomains implements permission.DomainStore.
func (s *PermissionStore) ListDomains(ctx context.Context, tenantID string) ([]*permission.TenantDomain, error) {
	var rows []domainRow
	if err := s.h.retry(ctx, "permission.list_domains", func() error {
		rows = nil
		return s.h.db.SelectContext(ctx, &rows, s.dq.list, tenantID)
	}); err != nil {
		return nil, err
	}
	out := make([]*permission.TenantDomain, len(rows))
	for i := range rows {
		out[i] = rows[i].domain()
	}
	return out, nil
}

// VerifyDomain implements permission.DomainStore with the claim's row
// locked; the unique index settles races between tenants.
func (s *PermissionStore) VerifyDomain(ctx context.Context, tenantID, domain, verifiedBy string, now time.Time, check func(*permission.TenantDomain) error) (*permission.TenantDomain, error) {
	var saved *permission.TenantDomain
	err := s.h.inTx(ctx, "permission.verify_domain", func(tx *sqlx.Tx) error {
		var r domainRow
		if err := tx.GetContext(ctx, &r, s.dq.lock, tenantID, domain); err != nil {
			return err
		}
		d := r.domain()
		if err := check(d.Clone()); err != nil {
			return callbackError{err}
		}
		if _, err := tx.ExecContext(ctx, s.dq.verify, tenantID, domain, pgTime(now), verifiedBy); err != nil {
			return err
		}
		d.VerifiedAt, d.VerifiedBy = pgTime(now), verifiedBy
		saved = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	return saved, nil
}

// DeleteDomain implements permission.DomainStore.
func (s *PermissionStore) DeleteDomain(ctx context.Context, tenantID, domain string) (*permission.TenantDomain, error) {
	var r domainRow
	if err := s.h.retry(ctx, "permission.delete_domain", func() error {
		return s.h.db.GetContext(ctx, &r, s.dq.remove, tenantID, domain)
	}); err != nil {
		return nil, err
	}
	return r.domain(), nil
}

// JoinDomain implements permission.DomainStore in one transaction: the
// verified claim's row is share-locked first (so a removal waits for the
// join, or the join for the removal and then finds nothing), then the
// tenant's version, as every binding write.
func (s *PermissionStore) JoinDomain(ctx context.Context, domain, userID string, now time.Time) (*permission.TenantDomain, bool, error) {
	var d *permission.TenantDomain
	var joined bool
	err := s.h.inTx(ctx, "permission.join_domain", func(tx *sqlx.Tx) error {
		d, joined = nil, false
		// Unlocked first, to learn the tenant: the bump must come before
		// the claim's share lock, the order of every binding write
		// (DeleteTenant bumps, then deletes the claim by cascade).
		var r domainRow
		if err := tx.GetContext(ctx, &r, s.dq.peekVerified, domain); err != nil {
			return err // no claim: d stays nil
		}
		// The bump first, even when the user turns out to be bound: it
		// serializes the binding read with every member change of the
		// tenant (UpdateMember, AcceptInvitation bump first too).
		if err := s.bumpTx(ctx, tx, r.TenantID); err != nil {
			return err
		}
		tenantID := r.TenantID
		if err := tx.GetContext(ctx, &r, s.dq.findVerified, domain); err != nil {
			return err // removed meanwhile: d stays nil
		}
		if r.TenantID != tenantID {
			return sql.ErrNoRows // moved to another tenant meanwhile: as if removed
		}
		d = r.domain()
		// A user holding a binding there is left to the administrators;
		// a bare membership grants nothing, so it gets the claim's binding.
		var bound bool
		if err := tx.GetContext(ctx, &bound, s.dq.hasBinding, d.TenantID, userID); err != nil || bound {
			return err
		}
		if err := s.joinTx(ctx, tx, d.TenantID, userID, d.Role, d.Scope, now); err != nil {
			return err
		}
		joined = true
		return nil
	})
	if err != nil {
		return d, false, err // d is the claim when its role is gone, else nil
	}
	return d, joined, nil
}
