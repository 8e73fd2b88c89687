package main

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/lib/pq"
)

// legacyDDL is the application's own table as it existed before authv2:
// text IDs, a case-sensitive unique email, a bcrypt digest and an active
// flag. The demo and the tests create it; a real application already has it.
const legacyDDL = `
CREATE TABLE IF NOT EXISTS %[1]s.app_users (
	id              text PRIMARY KEY,
	email           text NOT NULL UNIQUE,
	full_name       text,
	password_digest text,
	is_active       boolean NOT NULL DEFAULT true,
	created_at      timestamptz NOT NULL DEFAULT now()
)`

// adoptionDDL is everything adopting authv2 adds. Nothing in app_users is
// altered: one index (email uniqueness must be case-insensitive, as
// user.Store requires) and one side table for the state the legacy table
// has no column for. Dropping both undoes the adoption.
//
// On a large live table, create the index with CREATE UNIQUE INDEX
// CONCURRENTLY outside a transaction instead, after resolving duplicates.
const adoptionDDL = `
CREATE UNIQUE INDEX IF NOT EXISTS app_users_email_lower_key ON %[1]s.app_users (lower(email));
CREATE TABLE IF NOT EXISTS %[1]s.authv2_user_extras (
	user_id text PRIMARY KEY REFERENCES %[1]s.app_users (id) ON DELETE CASCADE,
	data    jsonb NOT NULL DEFAULT '{}'
)`

// createLegacySchema creates schema and the legacy table in it, if missing.
func createLegacySchema(ctx context.Context, db *sql.DB, schema string) error {
	q := quote(schema)
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+q); err != nil {
		return translate("schema.create", err)
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf(legacyDDL, q)); err != nil {
		return translate("schema.legacy", err)
	}
	return nil
}

// adopt applies adoptionDDL to the legacy table in schema. It is
// idempotent. It fails with ErrConflict when two existing emails differ
// only in case: those accounts must be merged or renamed first (see the
// package documentation for the query that finds them).
func adopt(ctx context.Context, db *sql.DB, schema string) error {
	if _, err := db.ExecContext(ctx, fmt.Sprintf(adoptionDDL, quote(schema))); err != nil {
		return translate("schema.adopt", err)
	}
	return nil
}

// quote returns schema as an SQL identifier; schema names come from code
// or the tests, never from requests, but quoting keeps any name safe.
func quote(schema string) string { return pq.QuoteIdentifier(schema) }
