package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/store/postgres"
	"github.com/authv2/authv2/store/storetest"
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

// TestJournalOwnerDiesWithItsConnection: a process that dies without
// Close (its server session ended by the server, as after a SIGKILL)
// leaves its events to the next instance.
func TestJournalOwnerDiesWithItsConnection(t *testing.T) {
	e := pgtest.New(t)
	a := openJournal(t, e)
	require.NoError(t, a.Append(context.Background(), []audit.Event{{ID: "x", Type: audit.TypeLogout, Outcome: audit.Success}}))
	b := openJournal(t, e)
	page, _, err := b.Leftover(context.Background(), "", 10)
	require.NoError(t, err)
	require.Empty(t, page, "a is alive")
	_, err = e.DB.Exec(`SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)`, a.Owner())
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		page, _, err := b.Leftover(context.Background(), "", 10)
		return err == nil && len(page) == 1 && page[0].ID == "x"
	}, 10*time.Second, 20*time.Millisecond)
}

func TestOpenJournalRefusesAsyncCommit(t *testing.T) {
	e := pgtest.New(t)
	e.DB.SetMaxOpenConns(1) // the pool's one connection has it off
	_, err := e.DB.Exec(`SET synchronous_commit = off`)
	require.NoError(t, err)
	_, err = e.Stores.OpenJournal(context.Background())
	assert.ErrorIs(t, err, postgres.ErrAsyncCommit)
}
