package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/store/postgres"
	"github.com/authv2/authv2/store/storetest"
	"github.com/authv2/authv2/user"
)

const envURL = "AUTHV2_TEST_POSTGRES_URL"

// One pool for the whole package: the conformance cases run in parallel
// and one of them holds 200 concurrent updates, which one pool per case
// would turn into more connections than a default server allows.
var (
	dbOnce sync.Once
	testDB *sql.DB
	dbErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if testDB != nil {
		testDB.Close()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// cheapHashes keeps the tests fast; production keeps the OWASP defaults.
func cheapHashes() []authv2.Option {
	return []authv2.Option{authv2.WithConfig(authv2test.Config()),
		authv2.WithInsecurePasswordHashing()}
}

func database(t *testing.T) *sql.DB {
	t.Helper()
	url := os.Getenv(envURL)
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(envURL + " must be set in CI")
		}
		t.Skip("set " + envURL + " to run PostgreSQL integration tests")
	}
	dbOnce.Do(func() {
		testDB, dbErr = sql.Open("postgres", url)
		if dbErr == nil {
			testDB.SetMaxOpenConns(16)
			dbErr = testDB.PingContext(context.Background())
		}
	})
	require.NoError(t, dbErr)
	return testDB
}

// freshSchema creates a schema holding the legacy table, adopted for
// authv2, and drops it when the test ends.
func freshSchema(t *testing.T, db *sql.DB) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "customstore_test_" + hex.EncodeToString(b)
	require.NoError(t, createLegacySchema(t.Context(), db, schema))
	t.Cleanup(func() {
		// t.Context is already canceled when cleanups run.
		_, err := db.ExecContext(context.Background(), "DROP SCHEMA "+quote(schema)+" CASCADE")
		assert.NoError(t, err)
	})
	require.NoError(t, adopt(t.Context(), db, schema))
	return schema
}

func TestConformance(t *testing.T) {
	db := database(t)
	storetest.RunUserStore(t, func(t *testing.T) user.Store {
		return NewLegacyUserStore(db, freshSchema(t, db))
	})
}

// insertLegacy writes a row the way the legacy application does: no
// extras row, a bcrypt digest.
func insertLegacy(t *testing.T, db *sql.DB, schema, id, email, password string, active bool) {
	t.Helper()
	digest, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	require.NoError(t, err)
	_, err = db.ExecContext(t.Context(), `INSERT INTO `+quote(schema)+`.app_users (id, email, full_name, password_digest, is_active)
		VALUES ($1, $2, 'Legacy Name', $3, $4)`, id, email, string(digest), active)
	require.NoError(t, err)
}

func TestBcryptImportUpgradesOnLogin(t *testing.T) {
	db := database(t)
	schema := freshSchema(t, db)
	const pw = "legacy password 123"
	insertLegacy(t, db, schema, "L1", "Old.User@Example.com", pw, true)

	s := NewLegacyUserStore(db, schema)
	m, err := authv2.New(append(cheapHashes(), authv2.WithUserStore(s))...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	client := session.ClientInfo{IP: "198.51.100.1", UserAgent: "test"}

	u, err := s.Get(t.Context(), "L1")
	require.NoError(t, err)
	assert.Equal(t, user.StatusActive, u.Status)
	assert.Equal(t, "Legacy Name", u.DisplayName)
	assert.True(t, strings.HasPrefix(u.PasswordHash, "$2a$"), "the legacy digest is read as is")

	_, err = m.Login(t.Context(), authv2.LoginInput{Email: "old.user@example.com", Password: "wrong password 123", Client: client})
	require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
	u, err = s.Get(t.Context(), "L1")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(u.PasswordHash, "$2a$"), "a failed login must not rehash")

	res, err := m.Login(t.Context(), authv2.LoginInput{Email: "OLD.USER@example.com", Password: pw, Client: client})
	require.NoError(t, err)
	assert.Equal(t, "L1", res.User.ID)

	var digest string
	var active bool
	require.NoError(t, db.QueryRowContext(t.Context(),
		`SELECT password_digest, is_active FROM `+quote(schema)+`.app_users WHERE id = 'L1'`).Scan(&digest, &active))
	assert.True(t, strings.HasPrefix(digest, "$argon2id$"), "the legacy column now holds argon2id, got %.10s", digest)
	assert.True(t, active)
	u, err = s.Get(t.Context(), "L1")
	require.NoError(t, err)
	assert.False(t, u.LastLoginAt.IsZero())

	// The upgraded hash keeps working.
	_, err = m.Login(t.Context(), authv2.LoginInput{Email: "old.user@example.com", Password: pw, Client: client})
	require.NoError(t, err)
}

func TestLegacyDeactivationWins(t *testing.T) {
	db := database(t)
	schema := freshSchema(t, db)
	s := NewLegacyUserStore(db, schema)
	const pw = "legacy password 123"
	insertLegacy(t, db, schema, "L1", "a@example.com", pw, false)
	insertLegacy(t, db, schema, "L2", "b@example.com", pw, true)

	u, err := s.Get(t.Context(), "L1")
	require.NoError(t, err)
	assert.Equal(t, user.StatusDisabled, u.Status, "is_active=false without authv2 state reads as disabled")

	// authv2 locks L2, then the legacy application deactivates it, then
	// reactivates it: its column decides.
	_, err = s.Update(t.Context(), "L2", func(u *user.User) error { u.Status = user.StatusLocked; return nil })
	require.NoError(t, err)
	u, err = s.Get(t.Context(), "L2")
	require.NoError(t, err)
	assert.Equal(t, user.StatusLocked, u.Status)
	_, err = db.ExecContext(t.Context(), `UPDATE `+quote(schema)+`.app_users SET is_active = true WHERE id = 'L2'`)
	require.NoError(t, err)
	u, err = s.Get(t.Context(), "L2")
	require.NoError(t, err)
	assert.Equal(t, user.StatusActive, u.Status)

	m, err := authv2.New(append(cheapHashes(), authv2.WithUserStore(s))...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	_, err = m.Login(t.Context(), authv2.LoginInput{Email: "a@example.com", Password: pw, Client: session.ClientInfo{IP: "198.51.100.2"}})
	assert.ErrorIs(t, err, authv2.ErrInvalidCredentials, "a user the legacy app deactivated cannot log in")
}

func TestAdoptRefusesCaseDuplicates(t *testing.T) {
	db := database(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "customstore_test_" + hex.EncodeToString(b)
	require.NoError(t, createLegacySchema(t.Context(), db, schema))
	t.Cleanup(func() { _, _ = db.ExecContext(context.Background(), "DROP SCHEMA "+quote(schema)+" CASCADE") })
	insertLegacy(t, db, schema, "L1", "dup@example.com", "x", true)
	insertLegacy(t, db, schema, "L2", "DUP@example.com", "x", true)
	assert.ErrorIs(t, adopt(t.Context(), db, schema), store.ErrConflict)
}

func TestErrorsHideDriverText(t *testing.T) {
	db := database(t)
	// A schema that does not exist: the server's message names it; ours must not.
	s := NewLegacyUserStore(db, "customstore_missing_schema")
	_, err := s.Get(t.Context(), "x")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "customstore_missing_schema")
	assert.NotContains(t, err.Error(), "pq:")
	var de *postgres.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "42P01", de.Code)
}

func TestUnreachableIsUnavailable(t *testing.T) {
	// Nothing listens on port 1: no server needed. The store must report an
	// outage, not the driver's message.
	db, err := sql.Open("postgres", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	require.NoError(t, err)
	defer db.Close()
	s := NewLegacyUserStore(db, "public")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err = s.Get(ctx, "x")
	require.ErrorIs(t, err, store.ErrUnavailable)
	assert.NotContains(t, err.Error(), "127.0.0.1")
	_, err = s.Update(ctx, "x", func(*user.User) error { return nil })
	require.ErrorIs(t, err, store.ErrUnavailable)
}

func TestDemoRuns(t *testing.T) {
	db := database(t)
	schema := freshSchema(t, db)
	var out strings.Builder
	require.NoError(t, run(t.Context(), db, schema, &out, cheapHashes()...))
	assert.Contains(t, out.String(), "$argon2id$")
	// A second run puts the bcrypt digest back and upgrades it again.
	require.NoError(t, run(t.Context(), db, schema, &out, cheapHashes()...))
	assert.Equal(t, 2, strings.Count(out.String(), "$2a$10$"))
}

// Users registered through authv2 land in the legacy table, readable by
// the legacy application, and an email taken there in another case is
// refused.
func TestRegisterWritesLegacyRow(t *testing.T) {
	db := database(t)
	schema := freshSchema(t, db)
	insertLegacy(t, db, schema, "L1", "Taken@Example.com", "x", true)
	m, err := authv2.New(append(cheapHashes(), authv2.WithUserStore(NewLegacyUserStore(db, schema)))...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close(context.Background()) })

	u, err := m.Register(t.Context(), authv2.RegisterInput{Email: "new@example.com", Password: "a long enough password", DisplayName: "New Person"})
	require.NoError(t, err)
	var name, digest string
	var active bool
	require.NoError(t, db.QueryRowContext(t.Context(),
		`SELECT full_name, password_digest, is_active FROM `+quote(schema)+`.app_users WHERE id = $1`, u.ID).Scan(&name, &digest, &active))
	assert.Equal(t, "New Person", name)
	assert.True(t, strings.HasPrefix(digest, "$argon2id$"))
	assert.True(t, active)

	_, err = m.Register(t.Context(), authv2.RegisterInput{Email: "taken@example.com", Password: "a long enough password"})
	assert.ErrorIs(t, err, authv2.ErrUserExists)
}
