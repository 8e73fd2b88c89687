package postgres

import (
	"context"
	"database/sql"
	"time"

	"github.com/authv2/authv2/session"
)

// ImpersonationStore is a PostgreSQL session.ImpersonationStore over the
// impersonations table (migration 0012). Every method is one statement.
type ImpersonationStore struct {
	h *handle
	q impersonationQueries
}

var _ session.ImpersonationStore = (*ImpersonationStore)(nil)

type impersonationQueries struct {
	insert, get, end, list, cursor string
}

const impersonationCols = `id, tenant_id, actor_user_id, actor_session_id, target_user_id, session_id, reason,
	started_at, expires_at, ended_at, end_reason`

func newImpersonationStore(h *handle) *ImpersonationStore {
	return &ImpersonationStore{h: h, q: impersonationQueries{
		insert: h.q(`INSERT INTO {s}.impersonations (` + impersonationCols + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`),
		get: h.q(`SELECT ` + impersonationCols + ` FROM {s}.impersonations WHERE id = $1`),
		// The first end wins: a later one returns the row as it is.
		end: h.q(`WITH u AS (
				UPDATE {s}.impersonations SET ended_at = $2, end_reason = $3
				WHERE id = $1 AND ended_at IS NULL RETURNING ` + impersonationCols + `)
			SELECT ` + impersonationCols + ` FROM u
			UNION ALL SELECT ` + impersonationCols + ` FROM {s}.impersonations WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM u)`),
		// $4, $5: the cursor's started_at and ID (NULL on the first page),
		// in the order of the indexes.
		list: h.q(`SELECT ` + impersonationCols + ` FROM {s}.impersonations
			WHERE ($1 = '' OR target_user_id = $1) AND ($2 = '' OR actor_user_id = $2) AND ($3 = '' OR tenant_id = $3)
			AND ($5::text IS NULL OR (started_at, id) < ($4::timestamptz, $5::text))
			ORDER BY started_at DESC, id DESC LIMIT $6`),
		cursor: h.q(`SELECT started_at FROM {s}.impersonations
			WHERE id = $4 AND ($1 = '' OR target_user_id = $1) AND ($2 = '' OR actor_user_id = $2) AND ($3 = '' OR tenant_id = $3)`),
	}}
}

func scanImpersonation(r scanner) (*session.Impersonation, error) {
	var (
		i     session.Impersonation
		ended sql.NullTime
	)
	if err := r.Scan(&i.ID, &i.TenantID, &i.ActorUserID, &i.ActorSessionID, &i.TargetUserID, &i.SessionID, &i.Reason,
		&i.StartedAt, &i.ExpiresAt, &ended, &i.EndReason); err != nil {
		return nil, err
	}
	i.StartedAt, i.ExpiresAt, i.EndedAt = i.StartedAt.UTC(), i.ExpiresAt.UTC(), timeOf(ended)
	return &i, nil
}

// CreateImpersonation implements session.ImpersonationStore.
func (s *ImpersonationStore) CreateImpersonation(ctx context.Context, i *session.Impersonation) error {
	return s.h.retry(ctx, "impersonation.create", func() error {
		_, err := s.h.db.ExecContext(ctx, s.q.insert, i.ID, i.TenantID, i.ActorUserID, i.ActorSessionID, i.TargetUserID,
			i.SessionID, i.Reason, pgTime(i.StartedAt), pgTime(i.ExpiresAt), nullTime(i.EndedAt), i.EndReason)
		return err
	})
}

func (s *ImpersonationStore) one(ctx context.Context, op, query string, args ...any) (*session.Impersonation, error) {
	var i *session.Impersonation
	err := s.h.retry(ctx, op, func() error {
		var err error
		i, err = scanImpersonation(s.h.db.QueryRowContext(ctx, query, args...))
		return err
	})
	return i, err
}

// GetImpersonation implements session.ImpersonationStore.
func (s *ImpersonationStore) GetImpersonation(ctx context.Context, id string) (*session.Impersonation, error) {
	return s.one(ctx, "impersonation.get", s.q.get, id)
}

// EndImpersonation implements session.ImpersonationStore in one
// statement.
func (s *ImpersonationStore) EndImpersonation(ctx context.Context, id string, at time.Time, reason string) (*session.Impersonation, error) {
	return s.one(ctx, "impersonation.end", s.q.end, id, pgTime(at), reason)
}

// ListImpersonations implements session.ImpersonationStore: one
// statement, and one more to find the cursor's place.
func (s *ImpersonationStore) ListImpersonations(ctx context.Context, f session.ImpersonationFilter, after string, limit int) ([]*session.Impersonation, error) {
	const op = "impersonation.list"
	var out []*session.Impersonation
	err := s.h.retry(ctx, op, func() error {
		out = nil
		var at, id any // NULL: the first page
		if after != "" {
			var started time.Time
			if err := s.h.db.QueryRowContext(ctx, s.q.cursor, f.TargetUserID, f.ActorUserID, f.TenantID, after).Scan(&started); err != nil {
				return err // no row: a cursor outside the filter is not found
			}
			at, id = started, after
		}
		rows, err := s.h.db.QueryContext(ctx, s.q.list, f.TargetUserID, f.ActorUserID, f.TenantID, at, id, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			i, err := scanImpersonation(rows)
			if err != nil {
				return err
			}
			out = append(out, i)
		}
		return rows.Err()
	})
	return out, err
}
