package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/user"
)

// withParam returns the test URL with one connection parameter set.
func withParam(t *testing.T, key, value string) string {
	u, err := url.Parse(pgtest.URL(t))
	require.NoError(t, err)
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// withAppName returns the test URL with a unique application_name, so the
// test can find (and kill) exactly its own pool's backends.
func withAppName(t *testing.T) (string, string) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "authv2_fault_" + hex.EncodeToString(b[:])
	return withParam(t, "application_name", name), name
}

// assertCleanFailure: an outage surfaces as store.ErrUnavailable, never as
// driver text.
func assertCleanFailure(t *testing.T, err error) {
	t.Helper()
	assert.ErrorIs(t, err, store.ErrUnavailable)
	assert.NotContains(t, err.Error(), "pq:")
	assert.NotContains(t, err.Error(), "terminating")
}

// TestBackendsTerminatedMidRun kills the pool's server processes while
// workers read and write. Every call must either succeed or fail with
// store.ErrUnavailable; afterwards the pool reconnects and the data agrees
// with what the calls reported.
func TestBackendsTerminatedMidRun(t *testing.T) {
	dsn, app := withAppName(t)
	db := pgtest.OpenURL(t, dsn)
	env := pgtest.NewSchema(t, db)
	admin := pgtest.Open(t)
	ctx := t.Context()
	now := time.Now().UTC()

	u := &user.User{ID: "u1", Email: "u1@example.com", Status: user.StatusActive, CreatedAt: now}
	require.NoError(t, env.Stores.Users.Create(ctx, u))

	var (
		stop                 atomic.Bool
		mu                   sync.Mutex
		created              []string
		updatesOK, updatesKO int
		failures             []error
	)
	fail := func(err error) {
		mu.Lock()
		failures = append(failures, err)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				x := &session.Session{ID: session.NewID("u1"), SecretHash: session.HashSecret([]byte{byte(w), byte(i)}),
					UserID: "u1", CreatedAt: now, IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour)}
				// The limited path runs a transaction; the unlimited one a single statement.
				limit := session.Limit{}
				if i%2 == 0 {
					limit = session.Limit{Max: 1000, Policy: session.Refuse}
				}
				if _, err := env.Stores.Sessions.Create(ctx, x, limit, now); err != nil {
					fail(err)
				} else {
					mu.Lock()
					created = append(created, x.ID)
					mu.Unlock()
				}
				if _, err := env.Stores.Sessions.Get(ctx, x.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
					fail(err)
				}
				_, err := env.Stores.Users.Update(ctx, "u1", func(u *user.User) error { u.FailedAttempts++; return nil })
				mu.Lock()
				if err != nil {
					updatesKO++
					failures = append(failures, err)
				} else {
					updatesOK++
				}
				mu.Unlock()
			}
		})
	}
	killed := 0
	for range 10 {
		time.Sleep(30 * time.Millisecond)
		var n int
		require.NoError(t, admin.QueryRowContext(ctx,
			`SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) k`,
			app).Scan(&n))
		killed += n
	}
	time.Sleep(30 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	require.Positive(t, killed, "the test must actually have killed backends")
	t.Logf("killed %d backends; %d calls failed; %d sessions created; updates %d ok, %d failed",
		killed, len(failures), len(created), updatesOK, updatesKO)
	for _, err := range failures {
		assertCleanFailure(t, err)
	}

	// The pool drops each dead connection on first use; then all is well.
	require.Eventually(t, func() bool {
		_, err := env.Stores.Users.Get(ctx, "u1")
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	for range 2 * pgtest.MaxOpenConns {
		_, err := env.Stores.Users.Get(ctx, "u1")
		if err != nil {
			assertCleanFailure(t, err) // an idle connection killed in the last round
		}
	}
	for _, id := range created {
		_, err := env.Stores.Sessions.Get(ctx, id)
		require.NoError(t, err, "a session whose Create succeeded must exist")
	}
	got, err := env.Stores.Users.Get(ctx, "u1")
	require.NoError(t, err)
	// A failed commit may still have been applied (its answer was lost), so
	// failed updates give an upper bound, successful ones a lower bound.
	assert.GreaterOrEqual(t, got.FailedAttempts, updatesOK)
	assert.LessOrEqual(t, got.FailedAttempts, updatesOK+updatesKO)
}

// TestServerUnreachable: nothing listening is store.ErrUnavailable, with
// neither driver text nor the address in the message.
func TestServerUnreachable(t *testing.T) {
	pgtest.URL(t)
	db, err := sql.Open("postgres", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	// New does no I/O and Migrate is not needed to see the outage.
	env := pgtest.NewSchemaless(t, db)
	_, err = env.Sessions.Get(t.Context(), session.NewID("u1"))
	assertCleanFailure(t, err)
	assert.NotContains(t, err.Error(), "127.0.0.1")
	_, err = env.Users.Update(t.Context(), "u1", func(*user.User) error { return nil })
	assertCleanFailure(t, err)
}

// TestDeadlineIsUnavailable: a call that outlives its context's deadline
// (here, blocked on a row lock) reports store.ErrUnavailable.
func TestDeadlineIsUnavailable(t *testing.T) {
	env := pgtest.New(t)
	ctx := t.Context()
	require.NoError(t, env.Stores.Users.Create(ctx, &user.User{ID: "u1", Email: "u1@example.com", Status: user.StatusActive}))
	tx, err := env.DB.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(ctx, `SELECT 1 FROM "`+env.Schema+`".users WHERE id = 'u1' FOR UPDATE`)
	require.NoError(t, err)

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = env.Stores.Users.Update(short, "u1", func(u *user.User) error { u.FailedAttempts++; return nil })
	assertCleanFailure(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "authv2/store: user.update"), err.Error())
}
