package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/user"
)

// UserStore is a PostgreSQL user.Store.
type UserStore struct {
	h *handle
	q userQueries
	// journal receives the events of the recording writes (OpenJournal).
	journal atomic.Pointer[Journal]
}

var _ user.Store = (*UserStore)(nil)

type userQueries struct {
	insert, get, getByEmail, getForUpdate, update, delete string
	// The outbox forms of insert and update: the events go in the same
	// statement, as a data-modifying WITH.
	insertRecorded, updateRecorded string
}

const userCols = `id, email, display_name, status, password_hash, password_changed_at,
	failed_attempts, locked_until, last_login_at, default_tenant_id, attributes, tokens, created_at, updated_at,
	security_stamp, pending_email`

func newUserStore(h *handle) *UserStore {
	q := userQueries{
		insert: h.q(`INSERT INTO {s}.users (` + userCols + `, email_key)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`),
		get:          h.q(`SELECT ` + userCols + ` FROM {s}.users WHERE id = $1`),
		getByEmail:   h.q(`SELECT ` + userCols + ` FROM {s}.users WHERE email_key = $1`),
		getForUpdate: h.q(`SELECT ` + userCols + ` FROM {s}.users WHERE id = $1 FOR UPDATE`),
		update: h.q(`UPDATE {s}.users SET email = $2, display_name = $3, status = $4, password_hash = $5,
			password_changed_at = $6, failed_attempts = $7, locked_until = $8, last_login_at = $9,
			default_tenant_id = $10, attributes = $11, tokens = $12, created_at = $13, updated_at = $14,
			security_stamp = $15, pending_email = $16, email_key = $17
			WHERE id = $1`),
		delete: h.q(`DELETE FROM {s}.users WHERE id = $1`),
	}
	q.insertRecorded = `WITH j AS (` + h.journalInsertAt(18, "") + `) ` + q.insert
	q.updateRecorded = `WITH j AS (` + h.journalInsertAt(18, "") + `) ` + q.update
	return &UserStore{h: h, q: q}
}

type userRow struct {
	ID                string       `db:"id"`
	Email             string       `db:"email"`
	DisplayName       string       `db:"display_name"`
	Status            string       `db:"status"`
	PasswordHash      string       `db:"password_hash"`
	PasswordChangedAt sql.NullTime `db:"password_changed_at"`
	FailedAttempts    int          `db:"failed_attempts"`
	LockedUntil       sql.NullTime `db:"locked_until"`
	LastLoginAt       sql.NullTime `db:"last_login_at"`
	DefaultTenantID   string       `db:"default_tenant_id"`
	Attributes        []byte       `db:"attributes"`
	Tokens            []byte       `db:"tokens"`
	CreatedAt         sql.NullTime `db:"created_at"`
	UpdatedAt         sql.NullTime `db:"updated_at"`
	SecurityStamp     string       `db:"security_stamp"`
	PendingEmail      string       `db:"pending_email"`
}

func (r *userRow) user() (*user.User, error) {
	u := &user.User{
		ID: r.ID, Email: r.Email, DisplayName: r.DisplayName, Status: user.Status(r.Status),
		PasswordHash: r.PasswordHash, PasswordChangedAt: timeOf(r.PasswordChangedAt),
		FailedAttempts: r.FailedAttempts, LockedUntil: timeOf(r.LockedUntil), LastLoginAt: timeOf(r.LastLoginAt),
		DefaultTenantID: r.DefaultTenantID, CreatedAt: timeOf(r.CreatedAt), UpdatedAt: timeOf(r.UpdatedAt),
		SecurityStamp: r.SecurityStamp, PendingEmail: r.PendingEmail,
	}
	if err := unmarshalAttrs(r.Attributes, &u.Attributes); err != nil {
		return nil, err
	}
	tokens, err := unmarshalTokens(r.Tokens)
	if err != nil {
		return nil, err
	}
	u.Tokens = tokens
	return u, nil
}

// userArgs lists u's columns in the order of userCols, then email_key.
func userArgs(u *user.User) ([]any, error) {
	attrs, err := marshalAttrs(u.Attributes)
	if err != nil {
		return nil, err
	}
	tokens, err := marshalTokens(u.Tokens)
	if err != nil {
		return nil, err
	}
	return []any{u.ID, u.Email, u.DisplayName, string(u.Status), u.PasswordHash, nullTime(u.PasswordChangedAt),
		u.FailedAttempts, nullTime(u.LockedUntil), nullTime(u.LastLoginAt), u.DefaultTenantID, attrs, tokens,
		nullTime(u.CreatedAt), nullTime(u.UpdatedAt), u.SecurityStamp, u.PendingEmail, user.NormalizeEmail(u.Email)}, nil
}

// Create implements user.Store.
func (s *UserStore) Create(ctx context.Context, u *user.User) error {
	const op = "user.create"
	args, err := userArgs(u)
	if err != nil {
		return &Error{Op: op, Err: err}
	}
	return s.h.retry(ctx, op, func() error {
		_, err := s.h.db.ExecContext(ctx, s.q.insert, args...)
		return err
	})
}

func (s *UserStore) getBy(ctx context.Context, op, query, key string) (*user.User, error) {
	var r userRow
	err := s.h.retry(ctx, op, func() error { return s.h.db.GetContext(ctx, &r, query, key) })
	if err != nil {
		return nil, err
	}
	u, err := r.user()
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	return u, nil
}

// Get implements user.Store.
func (s *UserStore) Get(ctx context.Context, id string) (*user.User, error) {
	return s.getBy(ctx, "user.get", s.q.get, id)
}

// GetByEmail implements user.Store.
func (s *UserStore) GetByEmail(ctx context.Context, email string) (*user.User, error) {
	return s.getBy(ctx, "user.get_by_email", s.q.getByEmail, user.NormalizeEmail(email))
}

// OutboxJournal returns the journal the recording writes (CreateRecorded,
// UpdateRecorded) commit their events into: the one OpenJournal opened,
// nil when none is open. The Manager uses those writes when it is the
// journal it was given.
func (s *UserStore) OutboxJournal() audit.Journal { return outboxJournal(&s.journal) }

// CreateRecorded is Create committing events into the journal in the same
// statement: both are written or neither.
func (s *UserStore) CreateRecorded(ctx context.Context, u *user.User, events []audit.Event) error {
	const op = "user.create"
	args, err := userArgs(u)
	if err != nil {
		return &Error{Op: op, Err: err}
	}
	rec, err := recorder(&s.journal, op, events)
	if err != nil {
		return err
	}
	args = append(args, rec...)
	return s.h.retry(ctx, op, func() error {
		_, err := s.h.db.ExecContext(ctx, s.q.insertRecorded, args...)
		return err
	})
}

// UpdateRecorded is Update committing events into the journal in the
// same transaction (in the UPDATE statement: no extra round trip). When
// fn fails, neither the user nor the events are written.
func (s *UserStore) UpdateRecorded(ctx context.Context, id string, fn func(*user.User) error, events []audit.Event) (*user.User, error) {
	rec, err := recorder(&s.journal, "user.update", events)
	if err != nil {
		return nil, err
	}
	return s.update(ctx, id, fn, s.q.updateRecorded, rec)
}

// Update implements user.Store. The row is locked (SELECT ... FOR UPDATE)
// while fn runs, which serializes concurrent read-modify-writes of one user.
// fn runs again if the transaction is retried after a deadlock.
func (s *UserStore) Update(ctx context.Context, id string, fn func(*user.User) error) (*user.User, error) {
	return s.update(ctx, id, fn, s.q.update, nil)
}

// update is Update with query as the UPDATE statement, extra its
// arguments after the user's.
func (s *UserStore) update(ctx context.Context, id string, fn func(*user.User) error, query string, extra []any) (*user.User, error) {
	const op = "user.update"
	var saved *user.User
	err := s.h.inTx(ctx, op, func(tx *sqlx.Tx) error {
		var r userRow
		if err := tx.GetContext(ctx, &r, s.q.getForUpdate, id); err != nil {
			return err
		}
		next, err := r.user()
		if err != nil {
			return err
		}
		if err := fn(next); err != nil {
			return callbackError{err}
		}
		next.ID = id
		args, err := userArgs(next)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, query, append(args, extra...)...); err != nil {
			return err
		}
		saved = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	return saved, nil // built here, shared with no one
}

// Delete implements user.Store.
func (s *UserStore) Delete(ctx context.Context, id string) error {
	return s.h.retry(ctx, "user.delete", func() error {
		return expectRow(s.h.db.ExecContext(ctx, s.q.delete, id))
	})
}

// expectRow turns "no row affected" into store.ErrNotFound.
func expectRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// pgTime rounds t the way storetest compares instants: PostgreSQL keeps
// microseconds but rounds to them, while the contract truncates.
func pgTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// nullTime stores the zero time as NULL, so zero survives a round trip.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return pgTime(t)
}

func timeOf(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// marshalAttrs returns JSON text: lib/pq would send a []byte as bytea.
func marshalAttrs(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

func unmarshalAttrs(b []byte, m *map[string]string) error {
	if len(b) == 0 || string(b) == "{}" {
		return nil
	}
	return json.Unmarshal(b, m)
}

// tokenJSON is the stored form of a user.OneTimeToken.
type tokenJSON struct {
	Hash      []byte    `json:"hash"`
	ExpiresAt time.Time `json:"expires_at"`
}

func marshalTokens(m map[string]user.OneTimeToken) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	out := make(map[string]tokenJSON, len(m))
	for k, t := range m {
		out[k] = tokenJSON{Hash: t.Hash, ExpiresAt: pgTime(t.ExpiresAt)}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func unmarshalTokens(b []byte) (map[string]user.OneTimeToken, error) {
	if len(b) == 0 || string(b) == "{}" {
		return nil, nil
	}
	var in map[string]tokenJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, err
	}
	out := make(map[string]user.OneTimeToken, len(in))
	for k, t := range in {
		out[k] = user.OneTimeToken{Hash: t.Hash, ExpiresAt: t.ExpiresAt.UTC()}
	}
	return out, nil
}
