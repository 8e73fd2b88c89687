package postgres_test

import (
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/postgres"
)

// oneConnEnv is a migrated schema on a pool of one connection, so that
// what the server prepared is visible from any later statement.
func oneConnEnv(t *testing.T) *pgtest.Env {
	t.Helper()
	db := pgtest.Open(t)
	db.SetMaxOpenConns(1)
	return pgtest.NewSchema(t, db)
}

func createSession(t *testing.T, s session.Store, userID string) *session.Session {
	t.Helper()
	now := time.Now()
	x := &session.Session{ID: session.NewID(userID), SecretHash: session.HashSecret([]byte("s")), UserID: userID,
		AuthLevel: 2, CreatedAt: now, LastSeenAt: now, IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(2 * time.Hour)}
	_, err := s.Create(t.Context(), x, session.Limit{}, now)
	require.NoError(t, err)
	return x
}

// preparedCount is the number of statements prepared on the connection
// of a one-connection pool.
func preparedCount(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), `SELECT count(*) FROM pg_prepared_statements`).Scan(&n))
	return n
}

// A migration that changes the type of a column a prepared statement
// returns makes the server refuse that statement ("cached plan must not
// change result type", SQLSTATE 0A000) on every connection it was prepared
// on; the store prepares it again and the call succeeds. An added column
// changes nothing: the statements name their columns.
func TestPreparedStatementsFollowSchemaChanges(t *testing.T) {
	env := oneConnEnv(t)
	s := env.Stores.Sessions
	x := createSession(t, s, "u1")
	_, err := s.Get(t.Context(), x.ID)
	require.NoError(t, err)
	require.Equal(t, 1, preparedCount(t, env.DB))

	for _, ddl := range []string{
		`ALTER TABLE "` + env.Schema + `".sessions ADD COLUMN note text`,
		`ALTER TABLE "` + env.Schema + `".sessions ALTER COLUMN auth_level TYPE bigint`,
	} {
		_, err := env.DB.ExecContext(t.Context(), ddl)
		require.NoError(t, err)
		got, err := s.Get(t.Context(), x.ID)
		require.NoError(t, err, ddl)
		assert.Equal(t, 2, got.AuthLevel)
		require.NoError(t, s.Touch(t.Context(), x.ID, time.Now(), time.Now().Add(time.Hour)), ddl)
	}
	assert.Equal(t, 2, preparedCount(t, env.DB), "Get, prepared again, and Touch; the refused one released")
}

// Close releases every statement the stores prepared, and the stores
// refuse calls afterwards.
func TestCloseReleasesPreparedStatements(t *testing.T) {
	env := oneConnEnv(t)
	x := createSession(t, env.Stores.Sessions, "u1")
	_, err := env.Stores.Sessions.Get(t.Context(), x.ID)
	require.NoError(t, err)
	_, err = env.Stores.Permissions.Version(t.Context(), "t1")
	require.NoError(t, err)
	require.Equal(t, 2, preparedCount(t, env.DB))

	require.NoError(t, env.Stores.Close())
	assert.Equal(t, 0, preparedCount(t, env.DB))
	_, err = env.Stores.Sessions.Get(t.Context(), x.ID)
	assert.ErrorIs(t, err, postgres.ErrClosed)
	_, err = env.Stores.Users.Get(t.Context(), "u1")
	assert.ErrorIs(t, err, postgres.ErrClosed, "every store, prepared statements or not")
	assert.NoError(t, env.Stores.Close(), "idempotent")
}

// WithoutPreparedStatements (PgBouncer in transaction mode) leaves nothing
// prepared on the server.
func TestWithoutPreparedStatements(t *testing.T) {
	env := oneConnEnv(t)
	st, err := postgres.New(env.DB, postgres.WithSchema(env.Schema), postgres.WithoutPreparedStatements())
	require.NoError(t, err)
	x := createSession(t, st.Sessions, "u1")
	_, err = st.Sessions.Get(t.Context(), x.ID)
	require.NoError(t, err)
	require.NoError(t, st.Sessions.Touch(t.Context(), x.ID, time.Now(), time.Now().Add(time.Hour)))
	_, err = st.Permissions.LoadPolicy(t.Context(), "t1", "u1")
	require.NoError(t, err)
	_, err = st.Permissions.Version(t.Context(), "t1")
	require.NoError(t, err)
	assert.Equal(t, 0, preparedCount(t, env.DB))
	require.NoError(t, st.Close())
	_, err = st.Sessions.Get(t.Context(), x.ID)
	assert.ErrorIs(t, err, postgres.ErrClosed)
}

// Calls racing on a statement's first use prepare it once; calls racing
// with Close either succeed or get ErrClosed, and nothing stays prepared.
func TestPreparedStatementsUnderConcurrency(t *testing.T) {
	env := pgtest.New(t)
	x := createSession(t, env.Stores.Sessions, "u1")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Go(func() {
			for range 10 {
				if _, err := env.Stores.Sessions.Get(t.Context(), x.ID); err != nil {
					errs <- err
					return
				}
			}
			if i == 16 {
				errs <- env.Stores.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			assert.ErrorIs(t, err, postgres.ErrClosed)
		}
	}
	require.NoError(t, env.Stores.Close())
	var n int
	require.NoError(t, env.DB.QueryRowContext(t.Context(),
		`SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%' || $1 || '%'`, env.Schema).Scan(&n))
	assert.Zero(t, n, "on this connection")
}
