package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/postgres"
	"github.com/authv2/authv2/store/storetest"
	"github.com/authv2/authv2/user"
)

// openJournal opens a journal on e's schema through stores of their own,
// as another process would, and closes it at the end of the test.
func openJournal(t *testing.T, e *pgtest.Env) *postgres.Journal {
	t.Helper()
	st, err := postgres.New(e.DB, postgres.WithSchema(e.Schema))
	require.NoError(t, err)
	j, err := st.OpenJournal(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = j.Close() })
	return j
}

func TestJournalConformance(t *testing.T) {
	pgtest.URL(t)
	storetest.RunJournal(t, func(t *testing.T) func() audit.Journal {
		e := pgtest.New(t)
		var last *postgres.Journal
		return func() audit.Journal {
			if last != nil {
				require.NoError(t, last.Close())
			}
			last = openJournal(t, e)
			return last
		}
	})
	storetest.RunSharedJournal(t, func(t *testing.T) (func() audit.Journal, func(audit.Journal)) {
		e := pgtest.New(t)
		return func() audit.Journal { return openJournal(t, e) },
			func(j audit.Journal) { require.NoError(t, j.(*postgres.Journal).Close()) }
	})
}

// lockHolder returns the server process holding owner's advisory lock,
// 0 when none does.
func lockHolder(t *testing.T, e *pgtest.Env, owner string) int {
	t.Helper()
	var pid int
	err := e.DB.QueryRow(`SELECT coalesce(max(pid), 0) FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)`, owner).Scan(&pid)
	require.NoError(t, err)
	return pid
}

// TestJournalOwnerDiesWithItsConnection: a process that dies without
// Close (its server session ended by the server, as after a SIGKILL)
// leaves its events to the next instance.
func TestJournalOwnerDiesWithItsConnection(t *testing.T) {
	e := pgtest.New(t)
	// a is the journal of another process, on a pool of its own, which
	// dies: its pool can no longer reach the server, then the server
	// ends its lock's session.
	dead := pgtest.Open(t)
	st, err := postgres.New(dead, postgres.WithSchema(e.Schema))
	require.NoError(t, err)
	a, err := st.OpenJournal(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() }) // its checks stop
	require.NoError(t, a.Append(context.Background(), []audit.Event{{ID: "x", Type: audit.TypeLogout, Outcome: audit.Success}}))
	b := openJournal(t, e)
	page, _, err := b.Leftover(context.Background(), "", 10)
	require.NoError(t, err)
	require.Empty(t, page, "a is alive")
	require.NoError(t, dead.Close())
	_, err = e.DB.Exec(`SELECT pg_terminate_backend($1)`, lockHolder(t, e, a.Owner()))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		page, _, err := b.Leftover(context.Background(), "", 10)
		return err == nil && len(page) == 1 && page[0].ID == "x"
	}, 10*time.Second, 20*time.Millisecond)
}

// TestJournalRetakesALostLock: a live instance whose lock's connection
// ends (the server terminated it, a network failure broke it) takes its
// lock again on a new connection, so an instance started afterwards does
// not take its events in flight as a dead one's. Without that the
// instance ran on without ownership, silently, until it stopped.
func TestJournalRetakesALostLock(t *testing.T) {
	e := pgtest.New(t)
	ctx := context.Background()
	a := openJournal(t, e)
	first := lockHolder(t, e, a.Owner())
	require.NotZero(t, first)
	_, err := e.DB.Exec(`SELECT pg_terminate_backend($1)`, first)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		pid := lockHolder(t, e, a.Owner())
		return pid != 0 && pid != first
	}, 10*time.Second, 20*time.Millisecond, "a holds its lock again, on another connection")
	require.NoError(t, a.Append(ctx, []audit.Event{{ID: "live", Type: audit.TypeLogout, Outcome: audit.Success}}))
	page, _, err := openJournal(t, e).Leftover(ctx, "", 10)
	require.NoError(t, err)
	assert.Empty(t, page, "a is alive: its event is not a leftover")
	require.NoError(t, a.Close())
	assert.Zero(t, lockHolder(t, e, a.Owner()), "Close releases the lock taken again")
}

// TestJournalLockOutlivesPoolRecycling: the pool closing and replacing
// its connections (SetConnMaxLifetime, SetConnMaxIdleTime) leaves the
// lock's connection alone: it is held out of the pool, so the lock stays
// on the same server session, with no window for another instance.
func TestJournalLockOutlivesPoolRecycling(t *testing.T) {
	e := pgtest.New(t)
	a := openJournal(t, e)
	first := lockHolder(t, e, a.Owner())
	require.NotZero(t, first)
	e.DB.SetConnMaxLifetime(20 * time.Millisecond)
	e.DB.SetConnMaxIdleTime(20 * time.Millisecond)
	for range 10 {
		require.NoError(t, a.Append(context.Background(), []audit.Event{{Type: audit.TypeLogout, Outcome: audit.Success}}))
		time.Sleep(30 * time.Millisecond)
	}
	assert.NotZero(t, e.DB.Stats().MaxLifetimeClosed+e.DB.Stats().MaxIdleTimeClosed, "the pool recycled connections")
	assert.Equal(t, first, lockHolder(t, e, a.Owner()))
}

// TestOpenJournalOnePerStores: a second journal on the same stores would
// take their recording writes over, so that the rows of the first's
// Manager were the second's (replayed by another instance once the
// second closed, while the first still delivered them), and its Close
// would leave the first's Manager with no outbox (every login refused
// with ErrNoJournal). It is refused until the first is closed.
func TestOpenJournalOnePerStores(t *testing.T) {
	e := pgtest.New(t)
	ctx := context.Background()
	first, err := e.Stores.OpenJournal(ctx)
	require.NoError(t, err)
	_, err = e.Stores.OpenJournal(ctx)
	require.ErrorIs(t, err, postgres.ErrJournalOpen)
	assert.Equal(t, audit.Journal(first), e.Stores.Users.OutboxJournal())
	assert.Equal(t, audit.Journal(first), e.Stores.Sessions.OutboxJournal())
	require.NoError(t, first.Close())
	again, err := e.Stores.OpenJournal(ctx)
	require.NoError(t, err, "once the first is closed")
	require.NoError(t, again.Close())
}

func TestOpenJournalRefusesAsyncCommit(t *testing.T) {
	e := pgtest.New(t)
	e.DB.SetMaxOpenConns(1) // the pool's one connection has it off
	_, err := e.DB.Exec(`SET synchronous_commit = off`)
	require.NoError(t, err)
	_, err = e.Stores.OpenJournal(context.Background())
	assert.ErrorIs(t, err, postgres.ErrAsyncCommit)
}

// TestRecordingWritesNeedAnOpenJournal: before OpenJournal and after the
// journal's Close the stores have no outbox (the Manager then appends),
// and a recording write called all the same writes nothing.
func TestRecordingWritesNeedAnOpenJournal(t *testing.T) {
	e := pgtest.New(t)
	ctx := context.Background()
	st := e.Stores
	check := func(when string) {
		assert.Nil(t, st.Users.OutboxJournal(), when)
		assert.Nil(t, st.Sessions.OutboxJournal(), when)
		ev := []audit.Event{{ID: "e", Type: audit.TypeRegister, Outcome: audit.Success}}
		assert.ErrorIs(t, st.Users.CreateRecorded(ctx, &user.User{ID: "u-" + when, Email: when + "@example.com", Status: user.StatusActive}, ev), postgres.ErrNoJournal, when)
		_, err := st.Users.UpdateRecorded(ctx, "u1", func(*user.User) error { return nil }, ev)
		assert.ErrorIs(t, err, postgres.ErrNoJournal, when)
		assert.ErrorIs(t, st.Sessions.RevokeRecorded(ctx, "s1", time.Now(), "r", ev), postgres.ErrNoJournal, when)
		_, err = st.Sessions.RevokeUserRecorded(ctx, "u1", session.RevokeFilter{}, time.Now(), "r", func([]string) []audit.Event { return ev })
		assert.ErrorIs(t, err, postgres.ErrNoJournal, when)
		_, err = st.Users.GetByEmail(ctx, when+"@example.com")
		assert.Error(t, err, "no user written")
	}
	check("before")
	j, err := st.OpenJournal(ctx)
	require.NoError(t, err)
	assert.Equal(t, audit.Journal(j), st.Users.OutboxJournal())
	assert.Equal(t, audit.Journal(j), st.Sessions.OutboxJournal())
	require.NoError(t, j.Close())
	require.NoError(t, j.Close(), "idempotent")
	check("after")
	require.NoError(t, st.Close())
	_, err = st.OpenJournal(ctx)
	assert.ErrorIs(t, err, postgres.ErrClosed)
}

// TestRevokeUserRecordedCommitsOneEventPerSession: the events are built
// from the IDs the UPDATE returned, in the same transaction; no session
// ended, no event.
func TestRevokeUserRecordedCommitsOneEventPerSession(t *testing.T) {
	e := pgtest.New(t)
	ctx := context.Background()
	j, err := e.Stores.OpenJournal(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = j.Close() })
	now := time.Now()
	for range 2 {
		x := &session.Session{ID: session.NewID("u1"), SecretHash: session.HashSecret([]byte("s")), UserID: "u1",
			CreatedAt: now, LastSeenAt: now, IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(2 * time.Hour)}
		_, err := e.Stores.Sessions.Create(ctx, x, session.Limit{}, now)
		require.NoError(t, err)
	}
	perSession := func(ids []string) []audit.Event {
		out := make([]audit.Event, len(ids))
		for i, id := range ids {
			out[i] = audit.Event{ID: "ended-" + id, Type: audit.TypeSessionRevoked, Outcome: audit.Success, Target: id}
		}
		return out
	}
	ended, err := e.Stores.Sessions.RevokeUserRecorded(ctx, "u1", session.RevokeFilter{}, now, "r", perSession)
	require.NoError(t, err)
	require.Len(t, ended, 2)
	again, err := e.Stores.Sessions.RevokeUserRecorded(ctx, "u1", session.RevokeFilter{}, now, "r", perSession)
	require.NoError(t, err)
	require.Empty(t, again)
	require.NoError(t, j.Close()) // its rows become the next journal's leftovers
	page, _, err := openJournal(t, e).Leftover(ctx, "", 10)
	require.NoError(t, err)
	var targets []string
	for _, ev := range page {
		targets = append(targets, ev.Target)
	}
	assert.Equal(t, ended, targets)
}
