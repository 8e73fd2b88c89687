package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Migrations holds the schema as plain, numbered SQL files under
// "migrations/" (0001_initial.up.sql, ...), for applications that run their
// own migration tool instead of Migrate. The files use unqualified table
// names: run them with search_path set to the schema the stores use.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// migrateLockKey is the first half of the advisory lock key Migrate takes;
// the second half is hashtext(schema), so different schemas migrate
// independently.
const migrateLockKey = 0x61763201 // "av2" + 1

type migration struct {
	version int64
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(Migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("authv2/postgres: migration %q has no version prefix", e.Name())
		}
		b, err := Migrations.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return int(a.version - b.version) })
	return out, nil
}

// Migrate brings the schema (DefaultSchema, or WithSchema's) up to date: it
// creates the schema if needed and applies, in one transaction, every
// embedded migration not yet recorded in its schema_migrations table.
//
// The transaction holds a PostgreSQL advisory lock keyed by the schema, so
// several instances starting at once migrate exactly once: the others wait,
// then find nothing left to do. A failed migration rolls back completely.
//
// applied names the migrations this call committed, in order (their file
// names, e.g. "0001_initial.up.sql"), for the start-up log; it is empty when
// the schema was already up to date, and nil with an error.
func Migrate(ctx context.Context, db *sql.DB, opts ...Option) (applied []string, err error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	h := newHandle(db, c)
	const op = "migrate"
	err = h.retry(ctx, op, func() error {
		applied = applied[:0] // a retried attempt starts over
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		// Lock before CREATE SCHEMA: concurrent CREATE SCHEMA IF NOT EXISTS
		// can still fail on the catalog's unique index.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, migrateLockKey, c.schema); err != nil {
			return err
		}
		stmts := []string{
			`CREATE SCHEMA IF NOT EXISTS {s}`,
			// SET LOCAL cannot take a parameter; the name is a validated,
			// quoted identifier. pg_catalog stays implicitly first.
			`SET LOCAL search_path TO {s}`,
			`CREATE TABLE IF NOT EXISTS {s}.schema_migrations (
				version    bigint PRIMARY KEY,
				name       text NOT NULL,
				applied_at timestamptz NOT NULL DEFAULT now()
			)`,
		}
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, h.q(s)); err != nil {
				return err
			}
		}
		done := map[int64]bool{}
		rows, err := tx.QueryContext(ctx, h.q(`SELECT version FROM {s}.schema_migrations`))
		if err != nil {
			return err
		}
		for rows.Next() {
			var v int64
			if err := rows.Scan(&v); err != nil {
				_ = rows.Close()
				return err
			}
			done[v] = true
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, m := range ms {
			if done[m.version] {
				continue
			}
			// A multi-statement string goes through the simple query
			// protocol when it has no parameters.
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return translate(op+" "+m.name, err)
			}
			if _, err := tx.ExecContext(ctx, h.q(`INSERT INTO {s}.schema_migrations (version, name) VALUES ($1, $2)`), m.version, m.name); err != nil {
				return err
			}
			applied = append(applied, m.name)
		}
		return tx.Commit()
	})
	if err != nil {
		return nil, err
	}
	return applied, nil
}
