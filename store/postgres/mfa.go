package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/store"
)

// MFAStore is a PostgreSQL mfa.Store. Every compare-and-set the contract
// asks for is one conditional UPDATE (or INSERT ... ON CONFLICT DO UPDATE
// ... WHERE), whose row lock makes concurrent writers queue and re-check
// the condition: of two, one wins.
type MFAStore struct {
	h         *handle
	q         mfaQueries
	lockClass string // first half of the per-user advisory lock of ReplaceRecoveryCodes
}

var _ mfa.Store = (*MFAStore)(nil)

type mfaQueries struct {
	createTOTP, getTOTP, confirmTOTP, updateTOTPSecret, listTOTPNotSealedWith, deleteTOTP string
	totpExists, webauthnExists                                                            string
	lockUser, deleteCodes, insertCodes, useCode, listCodes                                string
	createWebAuthn, getWebAuthn, listWebAuthn, renameWebAuthn, recordUse, deleteWA        string
}

const (
	totpCols     = `user_id, id, key_id, secret, created_at, confirmed_at`
	webauthnCols = `id, user_id, public_key, attestation_type, attestation_format, sign_count, flags,
	transports, aaguid, name, created_at, last_used_at`
)

func newMFAStore(h *handle) *MFAStore {
	// A write that matched nothing says why with a second EXISTS, in the
	// same statement: the credential is missing (not found) or it failed
	// the condition (conflict). Both credential tables key the condition
	// on (user_id, id) = ($1, $2).
	const where = "user_id = $1 AND id = $2"
	exists := func(table string) string {
		return `EXISTS (SELECT 1 FROM {s}.` + table + ` WHERE ` + where + `)`
	}
	casExists := func(update, table string) string {
		return h.q(`WITH u AS (` + update + ` RETURNING 1) SELECT EXISTS (SELECT 1 FROM u), ` + exists(table))
	}
	return &MFAStore{h: h, lockClass: "authv2.mfa_recovery:" + h.schema, q: mfaQueries{
		createTOTP: h.q(`INSERT INTO {s}.mfa_totp AS t (` + totpCols + `) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (user_id) DO UPDATE SET id = EXCLUDED.id, key_id = EXCLUDED.key_id, secret = EXCLUDED.secret,
				created_at = EXCLUDED.created_at, confirmed_at = EXCLUDED.confirmed_at
			WHERE t.confirmed_at IS NULL
			RETURNING 1`),
		getTOTP: h.q(`SELECT ` + totpCols + ` FROM {s}.mfa_totp WHERE user_id = $1`),
		confirmTOTP: casExists(`UPDATE {s}.mfa_totp SET confirmed_at = $3
			WHERE user_id = $1 AND id = $2 AND confirmed_at IS NULL`, "mfa_totp"),
		updateTOTPSecret: casExists(`UPDATE {s}.mfa_totp SET key_id = $4, secret = $5
			WHERE user_id = $1 AND id = $2 AND key_id = $3`, "mfa_totp"),
		listTOTPNotSealedWith: h.q(`SELECT ` + totpCols + ` FROM {s}.mfa_totp WHERE key_id <> $1 ORDER BY user_id LIMIT $2`),
		deleteTOTP:            h.q(`DELETE FROM {s}.mfa_totp WHERE user_id = $1`),

		lockUser:    `SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))`,
		deleteCodes: h.q(`DELETE FROM {s}.mfa_recovery_codes WHERE user_id = $1`),
		insertCodes: h.q(`INSERT INTO {s}.mfa_recovery_codes (user_id, hash, created_at)
			SELECT $1, h, $3 FROM unnest($2::bytea[]) AS u (h)`),
		useCode: h.q(`UPDATE {s}.mfa_recovery_codes SET used_at = $3
			WHERE user_id = $1 AND hash = $2 AND used_at IS NULL`),
		listCodes: h.q(`SELECT hash, used_at FROM {s}.mfa_recovery_codes WHERE user_id = $1`),

		createWebAuthn: h.q(`INSERT INTO {s}.mfa_webauthn (` + webauthnCols + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`),
		getWebAuthn:    h.q(`SELECT ` + webauthnCols + ` FROM {s}.mfa_webauthn WHERE id = $1`),
		listWebAuthn:   h.q(`SELECT ` + webauthnCols + ` FROM {s}.mfa_webauthn WHERE user_id = $1 ORDER BY created_at, id`),
		renameWebAuthn: h.q(`UPDATE {s}.mfa_webauthn SET name = $3 WHERE user_id = $1 AND id = $2`),
		// A count is accepted when it grows, or when both it and the stored
		// one are zero (an authenticator without a counter).
		recordUse: casExists(`UPDATE {s}.mfa_webauthn SET sign_count = $3, flags = $4, last_used_at = $5
			WHERE user_id = $1 AND id = $2 AND ($3 > sign_count OR ($3 = 0 AND sign_count = 0))`,
			"mfa_webauthn"),
		deleteWA: h.q(`DELETE FROM {s}.mfa_webauthn WHERE user_id = $1 AND id = $2`),

		totpExists:     h.q(`SELECT ` + exists("mfa_totp")),
		webauthnExists: h.q(`SELECT ` + exists("mfa_webauthn")),
	}}
}

// casResult turns the (updated, exists) pair of a casExists query into the
// contract's error.
func casResult(updated, exists bool) error {
	switch {
	case updated:
		return nil
	case exists:
		return store.ErrConflict
	}
	return store.ErrNotFound
}

// cas runs a casExists query; existsQuery is the same EXISTS alone. When
// the row exists but the write did not match, the row may have been
// deleted or re-keyed by a transaction the UPDATE waited for: the UPDATE
// re-checked the newest version, but the EXISTS saw the statement's
// snapshot, from before. A second statement, with a snapshot taken after
// that commit, tells a conflict from a row now gone; it runs on this
// rare path only.
func (s *MFAStore) cas(ctx context.Context, op, query, existsQuery string, args ...any) error {
	var updated, exists bool
	err := s.h.retry(ctx, op, func() error {
		if err := s.h.db.QueryRowContext(ctx, query, args...).Scan(&updated, &exists); err != nil || updated || !exists {
			return err
		}
		return s.h.db.QueryRowContext(ctx, existsQuery, args[:2]...).Scan(&exists)
	})
	if err != nil {
		return err
	}
	return casResult(updated, exists)
}

func scanTOTP(r scanner) (*mfa.TOTPCredential, error) {
	var (
		c         mfa.TOTPCredential
		confirmed sql.NullTime
	)
	if err := r.Scan(&c.UserID, &c.ID, &c.Secret.KeyID, &c.Secret.Ciphertext, &c.CreatedAt, &confirmed); err != nil {
		return nil, err
	}
	c.CreatedAt, c.ConfirmedAt = c.CreatedAt.UTC(), timeOf(confirmed)
	return &c, nil
}

// CreateTOTP implements mfa.Store in one statement.
func (s *MFAStore) CreateTOTP(ctx context.Context, c *mfa.TOTPCredential) error {
	err := s.h.retry(ctx, "mfa.create_totp", func() error {
		var one int
		return s.h.db.QueryRowContext(ctx, s.q.createTOTP, c.UserID, c.ID, c.Secret.KeyID, nonNil(c.Secret.Ciphertext),
			pgTime(c.CreatedAt), nullTime(c.ConfirmedAt)).Scan(&one)
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.ErrConflict // the row exists and is confirmed: nothing returned
	}
	return err
}

// GetTOTP implements mfa.Store.
func (s *MFAStore) GetTOTP(ctx context.Context, userID string) (*mfa.TOTPCredential, error) {
	var c *mfa.TOTPCredential
	err := s.h.retry(ctx, "mfa.get_totp", func() (err error) {
		c, err = scanTOTP(s.h.db.QueryRowContext(ctx, s.q.getTOTP, userID))
		return err
	})
	return c, err
}

// ConfirmTOTP implements mfa.Store.
func (s *MFAStore) ConfirmTOTP(ctx context.Context, userID, id string, at time.Time) error {
	return s.cas(ctx, "mfa.confirm_totp", s.q.confirmTOTP, s.q.totpExists, userID, id, pgTime(at))
}

// UpdateTOTPSecret implements mfa.Store.
func (s *MFAStore) UpdateTOTPSecret(ctx context.Context, userID, id, oldKeyID string, sealed mfa.Sealed) error {
	return s.cas(ctx, "mfa.update_totp_secret", s.q.updateTOTPSecret, s.q.totpExists, userID, id, oldKeyID, sealed.KeyID, nonNil(sealed.Ciphertext))
}

// ListTOTPNotSealedWith implements mfa.Store, using the key_id index.
func (s *MFAStore) ListTOTPNotSealedWith(ctx context.Context, keyID string, limit int) ([]*mfa.TOTPCredential, error) {
	return queryAll(ctx, s.h, "mfa.list_totp", scanTOTP, s.q.listTOTPNotSealedWith, keyID, limit)
}

// DeleteTOTP implements mfa.Store.
func (s *MFAStore) DeleteTOTP(ctx context.Context, userID string) error {
	return s.h.retry(ctx, "mfa.delete_totp", func() error {
		return expectRow(s.h.db.ExecContext(ctx, s.q.deleteTOTP, userID))
	})
}

// ReplaceRecoveryCodes implements mfa.Store: delete and insert in one
// transaction under a per-user advisory lock, so two concurrent
// replacements leave one set, never both.
func (s *MFAStore) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, at time.Time) error {
	return s.h.inTx(ctx, "mfa.replace_recovery_codes", func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q.lockUser, s.lockClass, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q.deleteCodes, userID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q.insertCodes, userID, pq.ByteaArray(hashes), pgTime(at))
		return err
	})
}

// UseRecoveryCode implements mfa.Store in one conditional UPDATE.
func (s *MFAStore) UseRecoveryCode(ctx context.Context, userID string, hash []byte, at time.Time) error {
	return s.h.retry(ctx, "mfa.use_recovery_code", func() error {
		return expectRow(s.h.db.ExecContext(ctx, s.q.useCode, userID, nonNil(hash), pgTime(at)))
	})
}

// ListRecoveryCodes implements mfa.Store.
func (s *MFAStore) ListRecoveryCodes(ctx context.Context, userID string) ([]mfa.RecoveryCode, error) {
	return queryAll(ctx, s.h, "mfa.list_recovery_codes", func(r scanner) (mfa.RecoveryCode, error) {
		var (
			c    mfa.RecoveryCode
			used sql.NullTime
		)
		err := r.Scan(&c.Hash, &used)
		c.UsedAt = timeOf(used)
		return c, err
	}, s.q.listCodes, userID)
}

// DeleteRecoveryCodes implements mfa.Store.
func (s *MFAStore) DeleteRecoveryCodes(ctx context.Context, userID string) error {
	return s.h.retry(ctx, "mfa.delete_recovery_codes", func() error {
		_, err := s.h.db.ExecContext(ctx, s.q.deleteCodes, userID)
		return err
	})
}

func scanWebAuthn(r scanner) (*mfa.WebAuthnCredential, error) {
	var (
		c         mfa.WebAuthnCredential
		signCount int64
		flags     int16
		lastUsed  sql.NullTime
	)
	err := r.Scan(&c.ID, &c.UserID, &c.PublicKey, &c.AttestationType, &c.AttestationFormat, &signCount, &flags,
		pq.Array(&c.Transports), &c.AAGUID, &c.Name, &c.CreatedAt, &lastUsed)
	if err != nil {
		return nil, err
	}
	c.SignCount, c.Flags = uint32(signCount), mfa.FlagsFromBits(uint8(flags))
	c.CreatedAt, c.LastUsedAt = c.CreatedAt.UTC(), timeOf(lastUsed)
	return &c, nil
}

// CreateWebAuthn implements mfa.Store.
func (s *MFAStore) CreateWebAuthn(ctx context.Context, c *mfa.WebAuthnCredential) error {
	transports := c.Transports
	if transports == nil {
		transports = []string{}
	}
	return s.h.retry(ctx, "mfa.create_webauthn", func() error {
		_, err := s.h.db.ExecContext(ctx, s.q.createWebAuthn, nonNil(c.ID), c.UserID, nonNil(c.PublicKey), c.AttestationType,
			c.AttestationFormat, int64(c.SignCount), int16(c.Flags.Bits()), pq.Array(transports), nonNil(c.AAGUID), c.Name,
			pgTime(c.CreatedAt), nullTime(c.LastUsedAt))
		return err
	})
}

// GetWebAuthn implements mfa.Store.
func (s *MFAStore) GetWebAuthn(ctx context.Context, id []byte) (*mfa.WebAuthnCredential, error) {
	var c *mfa.WebAuthnCredential
	err := s.h.retry(ctx, "mfa.get_webauthn", func() (err error) {
		c, err = scanWebAuthn(s.h.db.QueryRowContext(ctx, s.q.getWebAuthn, nonNil(id)))
		return err
	})
	return c, err
}

// ListWebAuthn implements mfa.Store.
func (s *MFAStore) ListWebAuthn(ctx context.Context, userID string) ([]*mfa.WebAuthnCredential, error) {
	return queryAll(ctx, s.h, "mfa.list_webauthn", scanWebAuthn, s.q.listWebAuthn, userID)
}

// RenameWebAuthn implements mfa.Store.
func (s *MFAStore) RenameWebAuthn(ctx context.Context, userID string, id []byte, name string) error {
	return s.h.retry(ctx, "mfa.rename_webauthn", func() error {
		return expectRow(s.h.db.ExecContext(ctx, s.q.renameWebAuthn, userID, nonNil(id), name))
	})
}

// RecordWebAuthnUse implements mfa.Store in one conditional UPDATE.
func (s *MFAStore) RecordWebAuthnUse(ctx context.Context, userID string, id []byte, signCount uint32, flags mfa.WebAuthnFlags, at time.Time) error {
	return s.cas(ctx, "mfa.record_webauthn_use", s.q.recordUse, s.q.webauthnExists, userID, nonNil(id), int64(signCount), int16(flags.Bits()), pgTime(at))
}

// DeleteWebAuthn implements mfa.Store.
func (s *MFAStore) DeleteWebAuthn(ctx context.Context, userID string, id []byte) error {
	return s.h.retry(ctx, "mfa.delete_webauthn", func() error {
		return expectRow(s.h.db.ExecContext(ctx, s.q.deleteWA, userID, nonNil(id)))
	})
}

// queryAll runs query and scans every row with scan, retried and
// translated as one operation.
func queryAll[T any](ctx context.Context, h *handle, op string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := h.retry(ctx, op, func() error {
		out = out[:0]
		rows, err := h.db.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			x, err := scan(rows)
			if err != nil {
				return err
			}
			out = append(out, x)
		}
		return rows.Err()
	})
	return out, err
}

// nonNil sends an empty bytea rather than NULL for a nil slice.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// ChallengeStore is a PostgreSQL mfa.ChallengeStore, for deployments
// without Redis. Expired rows are deleted by DeleteExpired.
type ChallengeStore struct {
	h                        *handle
	put, take, deleteExpired string
}

var _ mfa.ChallengeStore = (*ChallengeStore)(nil)

func newChallengeStore(h *handle) *ChallengeStore {
	return &ChallengeStore{h: h,
		// An expired row under the same ID is overwritten; a live one is
		// a conflict (no row returned).
		put: h.q(`INSERT INTO {s}.mfa_challenges AS c (id, user_id, kind, data, expires_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO UPDATE SET user_id = EXCLUDED.user_id, kind = EXCLUDED.kind, data = EXCLUDED.data,
				expires_at = EXCLUDED.expires_at
			WHERE c.expires_at <= $6
			RETURNING 1`),
		take:          h.q(`DELETE FROM {s}.mfa_challenges WHERE id = $1 RETURNING user_id, kind, data, expires_at`),
		deleteExpired: h.q(`DELETE FROM {s}.mfa_challenges WHERE expires_at < $1`),
	}
}

// PutChallenge implements mfa.ChallengeStore in one statement.
func (s *ChallengeStore) PutChallenge(ctx context.Context, c *mfa.Challenge, now time.Time) error {
	err := s.h.retry(ctx, "mfa.put_challenge", func() error {
		var one int
		return s.h.db.QueryRowContext(ctx, s.put, c.ID, c.UserID, c.Kind, nonNil(c.Data), pgTime(c.ExpiresAt), pgTime(now)).Scan(&one)
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.ErrConflict
	}
	return err
}

// TakeChallenge implements mfa.ChallengeStore: one DELETE ... RETURNING,
// so only one caller gets the row.
func (s *ChallengeStore) TakeChallenge(ctx context.Context, id string, now time.Time) (*mfa.Challenge, error) {
	c := &mfa.Challenge{ID: id}
	err := s.h.retry(ctx, "mfa.take_challenge", func() error {
		return s.h.db.QueryRowContext(ctx, s.take, id).Scan(&c.UserID, &c.Kind, &c.Data, &c.ExpiresAt)
	})
	if errors.Is(err, store.ErrInvalid) {
		// The client sent an ID text cannot hold (a NUL byte, invalid
		// UTF-8): no challenge has it.
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	c.ExpiresAt = c.ExpiresAt.UTC()
	if !c.ExpiresAt.After(now) {
		return nil, store.ErrNotFound
	}
	return c, nil
}

// DeleteExpired drops challenges expired before before and returns how
// many; run it periodically (the Manager's cleanup loop will).
func (s *ChallengeStore) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	return deleteExpired(ctx, s.h, "mfa.challenges.delete_expired", s.deleteExpired, before)
}

// ReplayGuard is a PostgreSQL mfa.ReplayGuard.
type ReplayGuard struct {
	h                      *handle
	advance, deleteExpired string
}

var _ mfa.ReplayGuard = (*ReplayGuard)(nil)

func newReplayGuard(h *handle) *ReplayGuard {
	return &ReplayGuard{h: h,
		// ON CONFLICT locks the row and re-checks WHERE on its latest
		// version: a compare-and-set.
		advance: h.q(`INSERT INTO {s}.mfa_replay_guard AS g (key, counter, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (key) DO UPDATE SET counter = EXCLUDED.counter, expires_at = EXCLUDED.expires_at
			WHERE g.counter < EXCLUDED.counter OR g.expires_at <= $4
			RETURNING 1`),
		deleteExpired: h.q(`DELETE FROM {s}.mfa_replay_guard WHERE expires_at < $1`),
	}
}

// Advance implements mfa.ReplayGuard in one statement.
func (g *ReplayGuard) Advance(ctx context.Context, key string, counter int64, expiresAt, now time.Time) error {
	err := g.h.retry(ctx, "mfa.replay_advance", func() error {
		var one int
		return g.h.db.QueryRowContext(ctx, g.advance, key, counter, pgTime(expiresAt), pgTime(now)).Scan(&one)
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.ErrConflict
	}
	return err
}

// DeleteExpired drops records expired before before and returns how many.
func (g *ReplayGuard) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	return deleteExpired(ctx, g.h, "mfa.replay.delete_expired", g.deleteExpired, before)
}

func deleteExpired(ctx context.Context, h *handle, op, query string, before time.Time) (int, error) {
	var n int64
	err := h.retry(ctx, op, func() error {
		res, err := h.db.ExecContext(ctx, query, pgTime(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
