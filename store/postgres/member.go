package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

type memberQueries struct {
	getMembership, countOwners, memberPage, pageBindings string
	insertInvitation, getInvitation, lockInvitation      string
	listInvitations, updateInvitation                    string
}

const invitationCols = `id, tenant_id, email, role, scope, token_hash, status, invited_by, accepted_by, created_at, updated_at, expires_at`

func newMemberQueries(h *handle) memberQueries {
	return memberQueries{
		getMembership: h.q(`SELECT created_at FROM {s}.memberships WHERE tenant_id = $1 AND user_id = $2`),
		// Served by the partial index bindings_owner_idx.
		countOwners: h.q(`SELECT count(*) FROM {s}.bindings
			WHERE tenant_id = $1 AND role = '` + permission.OwnerRole + `' AND scope = '' AND expires_at IS NULL`),
		memberPage: h.q(`SELECT user_id, tenant_id, created_at FROM {s}.memberships
			WHERE tenant_id = $1 AND user_id COLLATE "C" > $2 ORDER BY user_id COLLATE "C" LIMIT $3`),
		pageBindings: h.q(`SELECT user_id, tenant_id, role, scope, expires_at, created_at FROM {s}.bindings
			WHERE tenant_id = $1 AND user_id = ANY($2)
			ORDER BY user_id COLLATE "C", role COLLATE "C", scope COLLATE "C"`),

		insertInvitation: h.q(`INSERT INTO {s}.invitations (` + invitationCols + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`),
		getInvitation:  h.q(`SELECT ` + invitationCols + ` FROM {s}.invitations WHERE id = $1`),
		lockInvitation: h.q(`SELECT ` + invitationCols + ` FROM {s}.invitations WHERE id = $1 FOR UPDATE`),
		listInvitations: h.q(`SELECT ` + invitationCols + ` FROM {s}.invitations
			WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`),
		updateInvitation: h.q(`UPDATE {s}.invitations SET email = $2, role = $3, scope = $4, token_hash = $5,
			status = $6, invited_by = $7, accepted_by = $8, updated_at = $9, expires_at = $10 WHERE id = $1`),
	}
}

// ListMemberPage implements permission.MemberStore: a page of memberships,
// then the bindings of that page's users.
func (s *PermissionStore) ListMemberPage(ctx context.Context, tenantID, after string, limit int) ([]permission.Member, error) {
	var out []permission.Member
	err := s.h.inTx(ctx, "permission.list_member_page", func(tx *sqlx.Tx) error {
		out = nil
		var ms []membershipRow
		if err := tx.SelectContext(ctx, &ms, s.mq.memberPage, tenantID, after, max(limit, 0)); err != nil {
			return err
		}
		ids := make([]string, len(ms))
		byUser := make(map[string]int, len(ms))
		for i, m := range ms {
			ids[i], byUser[m.UserID] = m.UserID, i
			out = append(out, permission.Member{TenantID: tenantID, UserID: m.UserID, IsMember: true, JoinedAt: timeOf(m.CreatedAt)})
		}
		var bs []bindingRow
		if err := tx.SelectContext(ctx, &bs, s.mq.pageBindings, tenantID, pq.StringArray(ids)); err != nil {
			return err
		}
		for _, b := range bs {
			i := byUser[b.UserID]
			out[i].Bindings = append(out[i].Bindings, b.binding())
		}
		return nil
	})
	return out, err
}

// memberTx reads a user's standing in a tenant inside tx.
func (s *PermissionStore) memberTx(ctx context.Context, tx *sqlx.Tx, tenantID, userID string) (permission.Member, error) {
	m := permission.Member{TenantID: tenantID, UserID: userID}
	var joined sql.NullTime
	switch err := tx.GetContext(ctx, &joined, s.mq.getMembership, tenantID, userID); {
	case err == nil:
		m.IsMember, m.JoinedAt = true, timeOf(joined)
	case !errors.Is(err, sql.ErrNoRows):
		return m, err
	}
	var rows []bindingRow
	if err := tx.SelectContext(ctx, &rows, s.q.listBindings, tenantID, userID); err != nil {
		return m, err
	}
	for _, r := range rows {
		m.Bindings = append(m.Bindings, r.binding())
	}
	return m, nil
}

type bindingID struct{ role, scope string }

// UpdateMember implements permission.MemberStore. The tenant's version
// bump comes first and locks its row until commit, as every binding write
// does: two changes of one tenant's members run one after the other, so
// the owner count each reads is the one it leaves, and two admins
// removing the last two owners at once cannot both succeed.
func (s *PermissionStore) UpdateMember(ctx context.Context, tenantID, userID string, fn func(*permission.Member) error) (before, after permission.Member, err error) {
	err = s.h.inTx(ctx, "permission.update_member", func(tx *sqlx.Tx) error {
		if err := s.bumpTx(ctx, tx, tenantID); err != nil {
			return err
		}
		var err error
		if before, err = s.memberTx(ctx, tx, tenantID, userID); err != nil {
			return err
		}
		if !before.IsMember && len(before.Bindings) == 0 {
			return store.ErrNotFound
		}
		after = before.Clone()
		if err := fn(&after); err != nil {
			return callbackError{err}
		}
		keep := map[bindingID]bool{}
		for _, b := range after.Bindings {
			if b.TenantID != tenantID || b.UserID != userID {
				return store.ErrInvalid
			}
			var found []string
			if err := tx.SelectContext(ctx, &found, s.q.resolveRole, tenantID, b.Role); err != nil {
				return err
			}
			if len(found) == 0 {
				return store.ErrNotFound
			}
			keep[bindingID{b.Role, b.Scope}] = true
		}
		var total int
		if err := tx.GetContext(ctx, &total, s.mq.countOwners, tenantID); err != nil {
			return err
		}
		if total > 0 && total-permission.CountOwners(before.Bindings)+permission.CountOwners(after.Bindings) == 0 {
			return callbackError{permission.ErrLastOwner}
		}
		switch {
		case before.IsMember && !after.IsMember:
			if _, err := tx.ExecContext(ctx, s.q.removeMember, tenantID, userID); err != nil {
				return err
			}
		case after.IsMember && !before.IsMember:
			if _, err := tx.ExecContext(ctx, s.q.addMember, tenantID, userID, nullTime(after.JoinedAt)); err != nil {
				return err
			}
		}
		for _, b := range before.Bindings {
			if !keep[bindingID{b.Role, b.Scope}] {
				if _, err := tx.ExecContext(ctx, s.q.deleteBinding, tenantID, userID, b.Role, b.Scope); err != nil {
					return err
				}
			}
		}
		for _, b := range after.Bindings {
			if _, err := tx.ExecContext(ctx, s.q.upsertBinding, tenantID, userID, b.Role, b.Scope,
				nullTime(b.ExpiresAt), nullTime(b.CreatedAt)); err != nil {
				return err
			}
		}
		after, err = s.memberTx(ctx, tx, tenantID, userID)
		return err
	})
	return before, after, err
}

type invitationRow struct {
	ID         string    `db:"id"`
	TenantID   string    `db:"tenant_id"`
	Email      string    `db:"email"`
	Role       string    `db:"role"`
	Scope      string    `db:"scope"`
	TokenHash  []byte    `db:"token_hash"`
	Status     string    `db:"status"`
	InvitedBy  string    `db:"invited_by"`
	AcceptedBy string    `db:"accepted_by"`
	CreatedAt  time.Time `db:"created_at"`
	UpdatedAt  time.Time `db:"updated_at"`
	ExpiresAt  time.Time `db:"expires_at"`
}

func (r *invitationRow) invitation() *permission.Invitation {
	return &permission.Invitation{ID: r.ID, TenantID: r.TenantID, Email: r.Email, Role: r.Role, Scope: r.Scope,
		TokenHash: r.TokenHash, Status: permission.InvitationStatus(r.Status), InvitedBy: r.InvitedBy,
		AcceptedBy: r.AcceptedBy, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC()}
}

// CreateInvitation implements permission.MemberStore.
func (s *PermissionStore) CreateInvitation(ctx context.Context, inv *permission.Invitation) error {
	return s.h.retry(ctx, "permission.create_invitation", func() error {
		// A missing tenant fails the foreign key: store.ErrNotFound.
		_, err := s.h.db.ExecContext(ctx, s.mq.insertInvitation, inv.ID, inv.TenantID, inv.Email, inv.Role, inv.Scope,
			inv.TokenHash, string(inv.Status), inv.InvitedBy, inv.AcceptedBy, pgTime(inv.CreatedAt), pgTime(inv.UpdatedAt), pgTime(inv.ExpiresAt))
		return err
	})
}

// GetInvitation implements permission.MemberStore.
func (s *PermissionStore) GetInvitation(ctx context.Context, id string) (*permission.Invitation, error) {
	var r invitationRow
	if err := s.h.retry(ctx, "permission.get_invitation", func() error {
		return s.h.db.GetContext(ctx, &r, s.mq.getInvitation, id)
	}); err != nil {
		return nil, err
	}
	return r.invitation(), nil
}

// ListInvitations implements permission.MemberStore.
func (s *PermissionStore) ListInvitations(ctx context.Context, tenantID, after string, limit int) ([]*permission.Invitation, error) {
	var rows []invitationRow
	if err := s.h.retry(ctx, "permission.list_invitations", func() error {
		rows = nil
		return s.h.db.SelectContext(ctx, &rows, s.mq.listInvitations, tenantID, after, max(limit, 0))
	}); err != nil {
		return nil, err
	}
	out := make([]*permission.Invitation, len(rows))
	for i := range rows {
		out[i] = rows[i].invitation()
	}
	return out, nil
}

func (s *PermissionStore) saveInvitationTx(ctx context.Context, tx *sqlx.Tx, inv *permission.Invitation) error {
	_, err := tx.ExecContext(ctx, s.mq.updateInvitation, inv.ID, inv.Email, inv.Role, inv.Scope, inv.TokenHash,
		string(inv.Status), inv.InvitedBy, inv.AcceptedBy, pgTime(inv.UpdatedAt), pgTime(inv.ExpiresAt))
	return err
}

// UpdateInvitation implements permission.MemberStore with the row locked.
func (s *PermissionStore) UpdateInvitation(ctx context.Context, id string, fn func(*permission.Invitation) error) (*permission.Invitation, error) {
	var saved *permission.Invitation
	err := s.h.inTx(ctx, "permission.update_invitation", func(tx *sqlx.Tx) error {
		var r invitationRow
		if err := tx.GetContext(ctx, &r, s.mq.lockInvitation, id); err != nil {
			return err
		}
		next := r.invitation()
		if err := fn(next); err != nil {
			return callbackError{err}
		}
		next.ID, next.TenantID = r.ID, r.TenantID
		saved = next
		return s.saveInvitationTx(ctx, tx, next)
	})
	if err != nil {
		return nil, err
	}
	return saved, nil
}

// AcceptInvitation implements permission.MemberStore in one transaction:
// the invitation's row is locked first (a second accept, a resend or a
// revoke waits for it, then sees it accepted), then the tenant's version,
// as every binding write.
func (s *PermissionStore) AcceptInvitation(ctx context.Context, id, userID string, now time.Time, check func(*permission.Invitation) error) (*permission.Invitation, error) {
	var saved *permission.Invitation
	err := s.h.inTx(ctx, "permission.accept_invitation", func(tx *sqlx.Tx) error {
		var r invitationRow
		if err := tx.GetContext(ctx, &r, s.mq.lockInvitation, id); err != nil {
			return err
		}
		inv := r.invitation()
		if err := check(inv.Clone()); err != nil {
			return callbackError{err}
		}
		if err := s.bumpTx(ctx, tx, inv.TenantID); err != nil {
			return err
		}
		if err := s.joinTx(ctx, tx, inv.TenantID, userID, inv.Role, inv.Scope, now); err != nil {
			return err
		}
		inv.Status, inv.AcceptedBy, inv.UpdatedAt = permission.InvitationAccepted, userID, now
		saved = inv
		return s.saveInvitationTx(ctx, tx, inv)
	})
	if err != nil {
		return nil, err
	}
	return saved, nil
}

// joinTx gives userID a membership of the tenant at now (kept if they
// have one) and a binding of role at scope, inside tx: store.ErrNotFound,
// with nothing written, when the role no longer exists. The caller has
// bumped the tenant's version.
func (s *PermissionStore) joinTx(ctx context.Context, tx *sqlx.Tx, tenantID, userID, role, scope string, now time.Time) error {
	var found []string
	if err := tx.SelectContext(ctx, &found, s.q.resolveRole, tenantID, role); err != nil {
		return err
	}
	if len(found) == 0 {
		return store.ErrNotFound
	}
	if _, err := tx.ExecContext(ctx, s.q.addMember, tenantID, userID, pgTime(now)); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, s.q.upsertBinding, tenantID, userID, role, scope, nil, pgTime(now))
	return err
}
