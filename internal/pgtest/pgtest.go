// Package pgtest gives integration tests an isolated, migrated PostgreSQL
// schema. It is internal: applications never import test helpers from the
// library API.
//
// Tests skip when AUTHV2_TEST_POSTGRES_URL is unset, so `go test ./...` passes
// on a machine without PostgreSQL; with CI=true they fail instead, so a CI
// job that lost its database cannot go green by skipping.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	_ "github.com/lib/pq" // the driver the tests run on

	"github.com/authv2/authv2/store/postgres"
)

// EnvURL names the environment variable holding the test database URL.
const EnvURL = "AUTHV2_TEST_POSTGRES_URL"

// MaxOpenConns is the pool size of a database Open returns: enough for the
// concurrency cases, small enough for several packages testing at once.
const MaxOpenConns = 10

// URL returns the test database URL, or skips the test (fails it when
// CI=true) if it is not set.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(EnvURL + " is not set; CI=true requires PostgreSQL integration tests to run")
		} else {
			t.Skip("set " + EnvURL + " to run PostgreSQL integration tests")
		}
	}
	return url
}

// Open opens a pool on the test database (see URL), closed when the test ends.
func Open(t testing.TB) *sql.DB {
	t.Helper()
	return OpenURL(t, URL(t))
}

// OpenURL opens a pool on url, closed when the test ends.
func OpenURL(t testing.TB, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	db.SetMaxOpenConns(MaxOpenConns)
	db.SetMaxIdleConns(MaxOpenConns)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// Env is one isolated schema: its pool, its name and stores bound to it.
type Env struct {
	DB     *sql.DB
	Schema string
	Stores *postgres.Stores
}

// New opens a pool (see Open), creates a fresh schema, migrates it and
// returns stores bound to it. The schema is dropped when the test ends.
func New(t testing.TB) *Env {
	t.Helper()
	return NewSchema(t, Open(t))
}

// NewSchema creates a fresh, migrated schema in db, dropped when the test ends.
func NewSchema(t testing.TB, db *sql.DB) *Env {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "authv2_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Registered before Migrate, so a half-done migration is cleaned up too.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	if _, err := postgres.Migrate(ctx, db, postgres.WithSchema(schema)); err != nil {
		t.Fatalf("pgtest: migrate %s: %v", schema, err)
	}
	stores, err := postgres.New(db, postgres.WithSchema(schema))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return &Env{DB: db, Schema: schema, Stores: stores}
}

// NewSchemaless returns stores over db without creating or migrating
// anything: for tests of an unreachable or misconfigured server.
func NewSchemaless(t testing.TB, db *sql.DB) *postgres.Stores {
	t.Helper()
	stores, err := postgres.New(db)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return stores
}
