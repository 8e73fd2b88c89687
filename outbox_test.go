package authv2_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/postgres"
)

// outboxManager is a Manager on PostgreSQL with the stores' journal open:
// the flows whose commit point is one write commit their events with it.
func outboxManager(t *testing.T, sink audit.Sink) (*authv2.Manager, *pgtest.Env, *postgres.Journal) {
	t.Helper()
	env := pgtest.New(t)
	m, j := outboxManagerOn(t, env, authv2test.Config(), sink)
	return m, env, j
}

// outboxManagerOn is outboxManager on env's schema, configured by cfg.
func outboxManagerOn(t *testing.T, env *pgtest.Env, cfg authv2.Config, sink audit.Sink) (*authv2.Manager, *postgres.Journal) {
	t.Helper()
	j, err := env.Stores.OpenJournal(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = j.Close() })
	m, err := authv2.New(authv2.WithConfig(cfg), authv2.WithInsecurePasswordHashing(), authv2.WithLogger(discardLogger()),
		authv2.WithUserStore(env.Stores.Users), authv2.WithSessionStore(env.Stores.Sessions), authv2.WithPermissionStore(env.Stores.Permissions),
		authv2.WithAuditJournal(j), authv2.WithAuditSink(sink))
	require.NoError(t, err)
	t.Cleanup(func() {
		// A sink that never takes the events would hold Close forever.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = m.Close(ctx)
	})
	return m, j
}

// outboxSignedIn is outboxManager with a flushing memory sink, and a user
// of that email registered and logged in.
func outboxSignedIn(t *testing.T, email string) (*authv2.Manager, *flushingSink, *pgtest.Env, *postgres.Journal, *authv2.LoginResult) {
	t.Helper()
	sink := &flushingSink{MemorySink: audit.NewMemorySink()}
	m, env, j := outboxManager(t, sink)
	sink.m = m
	_, err := m.Register(t.Context(), authv2.RegisterInput{Email: email, Password: goodPassword, DisplayName: "U"})
	require.NoError(t, err)
	res, err := m.Login(t.Context(), authv2.LoginInput{Email: email, Password: goodPassword})
	require.NoError(t, err)
	return m, sink, env, j, res
}

// refuse makes every insert into the schema's table fail from now on: a
// store that fails between the two steps of a recording write.
func refuse(t *testing.T, env *pgtest.Env, table string) {
	t.Helper()
	s := `"` + env.Schema + `"`
	_, err := env.DB.Exec(fmt.Sprintf(`CREATE OR REPLACE FUNCTION %[1]s.refuse() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN RAISE EXCEPTION 'refused by the test'; END$$;
		CREATE TRIGGER refuse_%[2]s BEFORE INSERT OR UPDATE ON %[1]s.%[2]s FOR EACH ROW EXECUTE FUNCTION %[1]s.refuse()`, s, table))
	require.NoError(t, err)
}

// TestOutboxRefusedEventLeavesNoChange: when the event cannot be written,
// the state change it records is not made either (with a journal Append
// after the change, the logout, the registration and the revocation
// stayed made while the flow failed).
func TestOutboxRefusedEventLeavesNoChange(t *testing.T) {
	sink := &flushingSink{MemorySink: audit.NewMemorySink()}
	m, env, _ := outboxManager(t, sink)
	sink.m = m
	ctx := t.Context()
	u, err := m.Register(ctx, authv2.RegisterInput{Email: "kept@example.com", Password: goodPassword, DisplayName: "K"})
	require.NoError(t, err)
	in := authv2.LoginInput{Email: "kept@example.com", Password: goodPassword}
	first, err := m.Login(ctx, in)
	require.NoError(t, err)

	refuse(t, env, "audit_journal")
	assert.Error(t, m.Logout(ctx, first.Token))
	_, err = m.Authenticate(ctx, first.Token, session.ClientInfo{})
	assert.NoError(t, err, "the logout whose event was refused did not happen")

	assert.Error(t, m.RevokeSession(ctx, first.Session.ID, ""))
	_, err = m.RevokeSessions(ctx, u.ID, authv2.RevokeOptions{})
	assert.Error(t, err)
	_, err = m.Authenticate(ctx, first.Token, session.ClientInfo{})
	assert.NoError(t, err, "neither did the revocations")

	_, err = m.Register(ctx, authv2.RegisterInput{Email: "never@example.com", Password: goodPassword, DisplayName: "N"})
	assert.Error(t, err)
	_, err = env.Stores.Users.GetByEmail(ctx, "never@example.com")
	assert.Error(t, err, "no user without its user.register")

	_, err = m.Login(ctx, in)
	assert.Error(t, err)
	live, err := m.ListSessions(ctx, u.ID)
	require.NoError(t, err)
	assert.Len(t, live, 1, "the refused login left no session")
	saved, err := env.Stores.Users.Get(ctx, u.ID)
	require.NoError(t, err)
	assert.WithinDuration(t, first.User.LastLoginAt, saved.LastLoginAt, time.Microsecond, "nor its save")

	assert.Empty(t, sink.OfType(audit.TypeLogout))
	assert.Len(t, sink.OfType(audit.TypeLoginSuccess), 1, "the first login's only")
	assert.Len(t, sink.OfType(audit.TypeRegister), 1)
}

// TestOutboxFailedChangeRecordsNoEvent: a state write that fails commits
// no event, in the journal or anywhere.
func TestOutboxFailedChangeRecordsNoEvent(t *testing.T) {
	m, sink, env, j, res := outboxSignedIn(t, "a@example.com")
	ctx := t.Context()
	require.NoError(t, m.FlushAudit(ctx))

	refuse(t, env, "sessions")
	refuse(t, env, "users")
	assert.Error(t, m.Logout(ctx, res.Token))
	_, err := m.Register(ctx, authv2.RegisterInput{Email: "b@example.com", Password: goodPassword, DisplayName: "B"})
	assert.Error(t, err)
	_, err = m.Login(ctx, authv2.LoginInput{Email: "a@example.com", Password: goodPassword})
	assert.Error(t, err)

	assert.Empty(t, sink.OfType(audit.TypeLogout))
	assert.Len(t, sink.OfType(audit.TypeRegister), 1)
	assert.Len(t, sink.OfType(audit.TypeLoginSuccess), 1)
	var left int
	require.NoError(t, env.DB.QueryRow(`SELECT count(*) FROM "`+env.Schema+`".audit_journal
		WHERE owner = $1 AND (event LIKE '%"logout"%' OR event LIKE '%"login.success"%' OR event LIKE '%"user.register"%')`, j.Owner()).Scan(&left))
	assert.Zero(t, left, "delivered events left the journal; the failed flows wrote none")
}

// TestOutboxCommitsEventsWithTheChange: with a sink that never takes them,
// the events of register, login, logout and a password reset stay in the
// journal table, where their flows committed them, owned by this
// instance.
func TestOutboxCommitsEventsWithTheChange(t *testing.T) {
	m, env, j := outboxManager(t, failingSink{})
	ctx := t.Context()
	_, err := m.Register(ctx, authv2.RegisterInput{Email: "c@example.com", Password: goodPassword, DisplayName: "C"})
	require.NoError(t, err)
	res, err := m.Login(ctx, authv2.LoginInput{Email: "c@example.com", Password: goodPassword})
	require.NoError(t, err)
	require.NoError(t, m.Logout(ctx, res.Token))
	rows, err := env.DB.Query(`SELECT event FROM "`+env.Schema+`".audit_journal WHERE owner = $1 ORDER BY seq`, j.Owner())
	require.NoError(t, err)
	defer rows.Close()
	var types []audit.Type
	for rows.Next() {
		var e audit.Event
		var b []byte
		require.NoError(t, rows.Scan(&b))
		require.NoError(t, json.Unmarshal(b, &e))
		types = append(types, e.Type)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []audit.Type{audit.TypeRegister, audit.TypeSessionCreated, audit.TypeLoginSuccess, audit.TypeLogout}, types)
}

// lingeringSink is a MemorySink whose writes take a while: events
// replayed stay in the journal, not yet delivered, for several replay
// intervals.
type lingeringSink struct{ *audit.MemorySink }

func (s lingeringSink) Write(ctx context.Context, events []audit.Event) error {
	time.Sleep(100 * time.Millisecond)
	return s.MemorySink.Write(ctx, events)
}

// TestOutboxReplaysADeadInstanceWithoutARestart: an instance that died
// while this one was starting (the server had not ended its session yet,
// so its lock was still held) left events this one's start could not
// take; they are delivered within AuditJournalReplayInterval, not at the
// next start of some instance, and once each (a replay waits for the
// previous one's events to leave the journal).
func TestOutboxReplaysADeadInstanceWithoutARestart(t *testing.T) {
	env := pgtest.New(t)
	ctx := t.Context()
	// The other instance, on a pool of its own.
	dead := pgtest.Open(t)
	other, err := postgres.New(dead, postgres.WithSchema(env.Schema))
	require.NoError(t, err)
	a, err := other.OpenJournal(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	require.NoError(t, a.Append(ctx, []audit.Event{{ID: "left", Type: audit.TypeLogout, Outcome: audit.Success, Time: time.Now()}}))

	cfg := authv2test.Config()
	cfg.AuditJournalReplayInterval = 10 * time.Millisecond
	sink := lingeringSink{audit.NewMemorySink()}
	m, _ := outboxManagerOn(t, env, cfg, sink)
	require.NoError(t, m.FlushAudit(ctx))
	require.Empty(t, sink.Events(), "the other instance is alive")

	// It dies: its pool no longer reaches the server, which then ends
	// the session holding its lock.
	require.NoError(t, dead.Close())
	_, err = env.DB.Exec(`SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)`, a.Owner())
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(sink.Events()) > 0 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // many intervals, while the slow sink writes
	require.NoError(t, m.FlushAudit(ctx))
	ids := []string{}
	for _, e := range sink.Events() {
		ids = append(ids, e.ID)
	}
	assert.Equal(t, []string{"left"}, ids, "delivered once")
}

// TestOutboxRevokingAnEndedSessionIsRecordedAgain: a revocation of a
// session already ended succeeds and changes nothing; it is recorded, as
// the request it is (so without the outbox too), while one of a session
// that does not exist fails and records nothing.
func TestOutboxRevokingAnEndedSessionIsRecordedAgain(t *testing.T) {
	m, sink, _, _, res := outboxSignedIn(t, "r@example.com")
	ctx := t.Context()
	require.NoError(t, m.RevokeSession(ctx, res.Session.ID, ""))
	require.NoError(t, m.RevokeSession(ctx, res.Session.ID, ""))
	assert.Error(t, m.RevokeSession(ctx, session.NewID("nobody"), ""))
	revoked := sink.OfType(audit.TypeSessionRevoked)
	require.Len(t, revoked, 2)
	assert.Equal(t, res.Session.ID, revoked[0].Target)
	assert.Equal(t, res.Session.ID, revoked[1].Target)
}
