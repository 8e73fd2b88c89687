package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/user"
)

// LegacyUserStore is a user.Store over the application's existing
// app_users table plus the authv2_user_extras side table.
type LegacyUserStore struct {
	db *sql.DB

	qGet, qGetByEmail, qLock, qInsertUser, qUpsertExtras, qUpdateUser, qDelete string
}

var _ user.Store = (*LegacyUserStore)(nil)

// NewLegacyUserStore returns a store over the tables in schema, which
// adopt must have prepared. The store does not own db.
func NewLegacyUserStore(db *sql.DB, schema string) *LegacyUserStore {
	s := quote(schema)
	sel := `SELECT u.id, u.email, COALESCE(u.full_name, ''), COALESCE(u.password_digest, ''),
	               u.is_active, u.created_at, COALESCE(e.data, '{}')
	          FROM ` + s + `.app_users u LEFT JOIN ` + s + `.authv2_user_extras e ON e.user_id = u.id `
	return &LegacyUserStore{
		db:          db,
		qGet:        sel + `WHERE u.id = $1`,
		qGetByEmail: sel + `WHERE lower(u.email) = lower($1)`, // served by app_users_email_lower_key
		qLock:       `SELECT 1 FROM ` + s + `.app_users WHERE id = $1 FOR UPDATE`,
		qInsertUser: `INSERT INTO ` + s + `.app_users (id, email, full_name, password_digest, is_active, created_at)
		              VALUES ($1, $2, NULLIF($3, ''), NULLIF($4, ''), $5, $6)`,
		qUpdateUser: `UPDATE ` + s + `.app_users
		                 SET email = $2, full_name = NULLIF($3, ''), password_digest = NULLIF($4, ''), is_active = $5
		               WHERE id = $1`,
		qUpsertExtras: `INSERT INTO ` + s + `.authv2_user_extras (user_id, data) VALUES ($1, $2)
		                ON CONFLICT (user_id) DO UPDATE SET data = EXCLUDED.data`,
		qDelete: `DELETE FROM ` + s + `.app_users WHERE id = $1`, // the extras row goes by ON DELETE CASCADE
	}
}

// extras is the JSON document in authv2_user_extras.data: every User field
// app_users has no column for. A missing row reads as the zero document,
// so users created by the legacy application need no backfill.
type extras struct {
	// Status is kept only for states is_active cannot express
	// (pending_verification, locked); see statusOf.
	Status            user.Status            `json:"status,omitempty"`
	PasswordChangedAt time.Time              `json:"password_changed_at,omitzero"`
	LastLoginAt       time.Time              `json:"last_login_at,omitzero"`
	DefaultTenantID   string                 `json:"default_tenant_id,omitempty"`
	SecurityStamp     string                 `json:"security_stamp,omitempty"`
	PendingEmail      string                 `json:"pending_email,omitempty"`
	Attributes        map[string]string      `json:"attributes,omitempty"`
	Tokens            map[string]storedToken `json:"tokens,omitempty"`
	UpdatedAt         time.Time              `json:"updated_at,omitzero"`
}

// storedToken has its own JSON names so that the persisted format does not
// follow renames in package user.
type storedToken struct {
	Hash      []byte    `json:"hash"` // SHA-256 of the secret, base64 in JSON
	ExpiresAt time.Time `json:"expires_at"`
}

// statusOf decides the status from both sources. is_active wins when the
// legacy application has changed it: an account it deactivates must not
// stay "active" for authv2, and one it reactivates is active.
func statusOf(isActive bool, kept user.Status) user.Status {
	if isActive {
		return user.StatusActive
	}
	if kept.Valid() && kept != user.StatusActive {
		return kept
	}
	return user.StatusDisabled
}

// split turns a User into the legacy columns' values and the extras document.
func split(u *user.User) (isActive bool, data []byte, err error) {
	e := extras{
		PasswordChangedAt: u.PasswordChangedAt,
		LastLoginAt:       u.LastLoginAt,
		DefaultTenantID:   u.DefaultTenantID,
		SecurityStamp:     u.SecurityStamp,
		PendingEmail:      u.PendingEmail,
		Attributes:        u.Attributes,
		UpdatedAt:         u.UpdatedAt,
	}
	if u.Status != user.StatusActive {
		e.Status = u.Status
	}
	if len(u.Tokens) > 0 {
		e.Tokens = make(map[string]storedToken, len(u.Tokens))
		for k, t := range u.Tokens {
			e.Tokens[k] = storedToken{Hash: t.Hash, ExpiresAt: t.ExpiresAt}
		}
	}
	data, err = json.Marshal(e)
	return u.Status == user.StatusActive, data, err
}

type rowScanner interface{ Scan(dest ...any) error }

func scanUser(r rowScanner) (*user.User, error) {
	var (
		u        user.User
		isActive bool
		raw      []byte
		e        extras
	)
	if err := r.Scan(&u.ID, &u.Email, &u.DisplayName, &u.PasswordHash, &isActive, &u.CreatedAt, &raw); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("customstore: user %s: extras unreadable: %w", u.ID, err)
	}
	u.Status = statusOf(isActive, e.Status)
	u.PasswordChangedAt, u.LastLoginAt = e.PasswordChangedAt, e.LastLoginAt
	u.DefaultTenantID, u.Attributes, u.UpdatedAt = e.DefaultTenantID, maps.Clone(e.Attributes), e.UpdatedAt
	u.SecurityStamp, u.PendingEmail = e.SecurityStamp, e.PendingEmail
	if len(e.Tokens) > 0 {
		u.Tokens = make(map[string]user.OneTimeToken, len(e.Tokens))
		for k, t := range e.Tokens {
			u.Tokens[k] = user.OneTimeToken{Hash: t.Hash, ExpiresAt: t.ExpiresAt}
		}
	}
	return &u, nil
}

// Create implements user.Store. Both rows are written in one transaction
// so a half-created user is never visible.
func (s *LegacyUserStore) Create(ctx context.Context, u *user.User) error {
	isActive, data, err := split(u)
	if err != nil {
		return err
	}
	return translate("user.create", s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.qInsertUser, u.ID, u.Email, u.DisplayName, u.PasswordHash, isActive, u.CreatedAt); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.qUpsertExtras, u.ID, data)
		return err
	}))
}

// Get implements user.Store.
func (s *LegacyUserStore) Get(ctx context.Context, id string) (*user.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.qGet, id))
	return u, translate("user.get", err)
}

// GetByEmail implements user.Store. The query compares lower(email) so the
// unique index on lower(email) both serves it and enforces uniqueness.
func (s *LegacyUserStore) GetByEmail(ctx context.Context, email string) (*user.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.qGetByEmail, user.NormalizeEmail(email)))
	return u, translate("user.get_by_email", err)
}

// callbackError carries fn's error out of the transaction untranslated.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// Update implements user.Store: lock the app_users row, read, apply fn,
// write both tables, commit. Concurrent Updates of one user queue on the
// row lock, so no concurrent change is lost.
func (s *LegacyUserStore) Update(ctx context.Context, id string, fn func(*user.User) error) (*user.User, error) {
	var saved *user.User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Lock first, read second, as two statements: a single
		// SELECT ... FOR UPDATE OF u over the join would, after waiting for
		// the lock, recheck the app_users row but keep the extras row it saw
		// before waiting, and lose the other writer's change (a token it consumed).
		var one int
		if err := tx.QueryRowContext(ctx, s.qLock, id).Scan(&one); err != nil {
			return err
		}
		cur, err := scanUser(tx.QueryRowContext(ctx, s.qGet, id))
		if err != nil {
			return err
		}
		if err := fn(cur); err != nil {
			return callbackError{err}
		}
		cur.ID = id
		isActive, data, err := split(cur)
		if err != nil {
			return callbackError{err}
		}
		if _, err := tx.ExecContext(ctx, s.qUpdateUser, id, cur.Email, cur.DisplayName, cur.PasswordHash, isActive); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.qUpsertExtras, id, data); err != nil {
			return err
		}
		saved = cur
		return nil
	})
	if cb, ok := err.(callbackError); ok {
		return nil, cb.err
	}
	if err != nil {
		return nil, translate("user.update", err)
	}
	return saved, nil
}

// Delete implements user.Store.
func (s *LegacyUserStore) Delete(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, s.qDelete, id)
	if err != nil {
		return translate("user.delete", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return translate("user.delete", err)
	} else if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// inTx runs fn in a transaction, rolling back when fn or the commit fails.
func (s *LegacyUserStore) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
