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
	"slices"
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

// Arm is one of the operations Interleave compares: Run gets the
// iteration's number.
type Arm struct {
	Name string
	Run  func(ctx context.Context, i int) error
}

// Interleave runs every arm once per iteration, rotating which goes first,
// so that all see the same machine load (the machine is shared: timings
// of separate benchmarks are not comparable). It reports each arm's mean
// and median time and, for every arm after the first (the baseline), its ratio to the
// baseline twice: of the totals (<name>/<base>) and the median of the
// per-iteration ratios (<name>/<base>-p50), which scheduling spikes on a
// loaded machine move far less.
func Interleave(b *testing.B, arms ...Arm) {
	ctx := context.Background()
	times := make([][]time.Duration, len(arms))
	i := 0
	for b.Loop() {
		for k := range arms {
			a := &arms[(k+i)%len(arms)]
			t0 := time.Now()
			if err := a.Run(ctx, i); err != nil {
				b.Fatal(a.Name, err)
			}
			j := (k + i) % len(arms)
			times[j] = append(times[j], time.Since(t0))
		}
		i++
	}
	total := func(ds []time.Duration) (t time.Duration) {
		for _, d := range ds {
			t += d
		}
		return t
	}
	base := total(times[0])
	for k, a := range arms {
		b.ReportMetric(float64(total(times[k]).Nanoseconds())/float64(len(times[k])), a.Name+"-ns/op")
		sorted := slices.Clone(times[k])
		slices.Sort(sorted)
		b.ReportMetric(float64(sorted[len(sorted)/2].Nanoseconds()), a.Name+"-p50-ns")
		if k == 0 {
			continue
		}
		b.ReportMetric(float64(total(times[k]))/float64(base), a.Name+"/"+arms[0].Name)
		ratios := make([]float64, len(times[k]))
		for n := range ratios {
			ratios[n] = float64(times[k][n]) / float64(times[0][n])
		}
		slices.Sort(ratios)
		b.ReportMetric(ratios[len(ratios)/2], a.Name+"/"+arms[0].Name+"-p50")
	}
}

// Prepare prepares q on db, closed when the test ends.
func Prepare(t testing.TB, db *sql.DB, q string) *sql.Stmt {
	t.Helper()
	st, err := db.PrepareContext(context.Background(), q)
	if err != nil {
		t.Fatalf("pgtest: prepare: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}
