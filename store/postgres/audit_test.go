package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/store/postgres"
	"github.com/authv2/authv2/store/storetest"
)

func TestAuditConformance(t *testing.T) {
	pgtest.URL(t)
	storetest.RunAuditStore(t, func(t *testing.T) audit.Store { return pgtest.New(t).Stores.Audit })
}

// TestAuditConformanceBinaryParameters: the array parameters of Write and
// Query travel in text form, so lib/pq's binary_parameters=yes, which
// doc.go recommends, changes nothing.
func TestAuditConformanceBinaryParameters(t *testing.T) {
	dsn := withParam(t, "binary_parameters", "yes")
	storetest.RunAuditStore(t, func(t *testing.T) audit.Store {
		return pgtest.NewSchema(t, pgtest.OpenURL(t, dsn)).Stores.Audit
	})
}

func countAuditRows(t *testing.T, env *pgtest.Env) int {
	t.Helper()
	var n int
	require.NoError(t, env.DB.QueryRowContext(t.Context(), `SELECT count(*) FROM "`+env.Schema+`".audit_events`).Scan(&n))
	return n
}

// TestAuditDispatcherLoad: 100,000 events emitted from 50 goroutines
// through a Dispatcher, then Close: every one is a row, once.
func TestAuditDispatcherLoad(t *testing.T) {
	env := pgtest.New(t)
	d, err := audit.NewDispatcher([]audit.Sink{env.Stores.Audit}, audit.WithOnError(func(err error) { t.Errorf("sink failed: %v", err) }))
	require.NoError(t, err)
	const goroutines, each = 50, 2000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				e := audit.Event{Type: audit.TypeAuthorizeDecision, Outcome: audit.Success, TenantID: fmt.Sprintf("t%d", g%5),
					ActorUserID: fmt.Sprintf("u%d", g), Attributes: map[string]string{audit.AttrAction: "orders:read", "i": fmt.Sprint(i)}}
				if err := d.Emit(t.Context(), e); err != nil {
					t.Errorf("emit: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	require.NoError(t, d.Close(ctx))
	assert.Equal(t, goroutines*each, countAuditRows(t, env))
	st := d.Stats()
	assert.EqualValues(t, goroutines*each, st.Emitted)
	assert.Zero(t, st.Queued)
	assert.Zero(t, st.Failed)
}

// TestAuditDispatcherSurvivesKilledConnections terminates the pool's
// server processes while 50 goroutines emit. To be sure a write is in
// flight when the kill lands, another transaction holds an uncommitted row
// with the ID of the first event, so the store's INSERT ... ON CONFLICT
// waits on it. The queue fills and Emit blocks (backpressure); the killed
// writes are reported and retried; once the blocker rolls back, Close
// delivers everything: every accepted event is a row, exactly once.
func TestAuditDispatcherSurvivesKilledConnections(t *testing.T) {
	dsn, app := withAppName(t)
	env := pgtest.NewSchema(t, pgtest.OpenURL(t, dsn))
	admin := pgtest.Open(t)
	ctx := t.Context()

	blocker, err := admin.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = blocker.Rollback() }()
	_, err = blocker.ExecContext(ctx, `INSERT INTO "`+env.Schema+`".audit_events (id, time, type) VALUES ('first', now(), 'logout')`)
	require.NoError(t, err)

	var (
		mu       sync.Mutex
		reported []error
	)
	const queueSize = 1000
	d, err := audit.NewDispatcher([]audit.Sink{env.Stores.Audit},
		audit.WithQueueSize(queueSize), audit.WithBatchSize(100), audit.WithBackoff(5*time.Millisecond, 50*time.Millisecond),
		audit.WithOnError(func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() }))
	require.NoError(t, err)
	require.NoError(t, d.Emit(ctx, audit.Event{ID: "first", Type: audit.TypeLogout, Outcome: audit.Success}))

	var (
		stop    atomic.Bool
		emitted atomic.Int64
		wg      sync.WaitGroup
	)
	emitted.Add(1)
	for g := range 50 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				e := audit.Event{Type: audit.TypeLoginSuccess, Outcome: audit.Success, TenantID: "t1", ActorUserID: fmt.Sprintf("u%d-%d", g, i)}
				if err := d.Emit(ctx, e); err != nil {
					t.Errorf("emit: %v", err)
					return
				}
				emitted.Add(1)
			}
		})
	}
	killed, maxQueued := 0, 0
	deadline := time.Now().Add(30 * time.Second)
	for rounds := 0; rounds < 5 || d.Stats().Failed == 0; rounds++ {
		require.True(t, time.Now().Before(deadline), "no write failed after killing %d backends", killed)
		time.Sleep(20 * time.Millisecond)
		maxQueued = max(maxQueued, d.Stats().Queued)
		var n int
		require.NoError(t, admin.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1) k`, app).Scan(&n))
		killed += n
	}
	require.NoError(t, blocker.Rollback())
	time.Sleep(50 * time.Millisecond) // events flow again, then stop
	stop.Store(true)
	wg.Wait()
	closeCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	require.NoError(t, d.Close(closeCtx))

	st := d.Stats()
	t.Logf("killed %d backends; %d events; %d failed writes, %d retries; queue peaked at %d", killed, emitted.Load(), st.Failed, st.Retries, maxQueued)
	assert.Equal(t, queueSize, maxQueued, "callers were held back by a full queue, nothing was dropped")
	assert.Zero(t, st.Dropped)
	assert.Equal(t, int(emitted.Load()), countAuditRows(t, env), "retried, not lost, not duplicated")
	assert.Positive(t, st.Failed)
	assert.Positive(t, st.Retries)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, reported, int(st.Failed), "every failure is reported")
	for _, err := range reported {
		var se *audit.SinkError
		require.ErrorAs(t, err, &se)
		assertCleanFailure(t, se.Err)
	}
}

// TestAuditInjection puts SQL, JSON and format metacharacters in every text
// field and attribute, and queries by each filter with them.
func TestAuditInjection(t *testing.T) {
	env := pgtest.New(t)
	s := env.Stores.Audit
	ctx := t.Context()
	nasty := []string{
		`'); DROP TABLE audit_events; --`,
		`" OR "1"="1`,
		`\'; SELECT pg_sleep(10); --`,
		`$1 $2 {s} %s %v ? :name`,
		`{"a": 1}`, `{}`, `[]`, `null`,
		"line\nbreak\r\ttab \u2028 é 𝄞",
		`\x00 \\ \u0000`,
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	var events []audit.Event
	for i, v := range nasty {
		events = append(events, audit.Event{
			ID: "id " + v, Time: at.Add(time.Duration(i) * time.Second), Type: audit.Type("type " + v), Outcome: audit.Outcome("outcome " + v),
			ActorUserID: "actor " + v, ActorSessionID: "session " + v, TenantID: "tenant " + v, Scope: "scope " + v,
			Target: "target " + v, IP: "ip " + v, UserAgent: "ua " + v, DecisionID: "decision " + v, TraceID: "trace " + v,
			Reason: "reason " + v, Attributes: map[string]string{"key " + v: "value " + v, audit.AttrAction: v},
		})
	}
	require.NoError(t, s.Write(ctx, events))
	require.Equal(t, len(nasty), countAuditRows(t, env), "the table is still there, with every row")

	for _, want := range events {
		for name, q := range map[string]audit.Query{
			"tenant":  {TenantID: want.TenantID},
			"actor":   {ActorUserID: want.ActorUserID},
			"type":    {Types: []audit.Type{want.Type}},
			"outcome": {Outcome: want.Outcome},
			"window":  {From: want.Time, To: want.Time.Add(time.Microsecond)},
		} {
			page, err := s.Query(ctx, q)
			require.NoError(t, err, name)
			require.Len(t, page.Events, 1, "%s %q", name, want.ID)
			assert.Equal(t, want, page.Events[0], "%s: stored literally", name)
		}
	}
	all, err := s.Query(ctx, audit.Query{Types: []audit.Type{events[0].Type, events[1].Type}, Limit: 1})
	require.NoError(t, err)
	require.Len(t, all.Events, 1)
	next, err := s.Query(ctx, audit.Query{Types: []audit.Type{events[0].Type, events[1].Type}, Cursor: all.Next})
	require.NoError(t, err)
	assert.Equal(t, []audit.Event{events[0]}, next.Events, "a cursor on an ID full of metacharacters")

	window := func() (time.Time, time.Time) { return at, at.Add(time.Hour) }
	from, to := window()
	denied, err := s.TopDenied(ctx, "", from, to, 100)
	require.NoError(t, err)
	assert.Empty(t, denied, "no event has the decision type")
	// Grant use with the same names: written and matched literally.
	nastyGrant := audit.Grant{Role: nasty[1], Permission: nasty[2]}
	require.NoError(t, s.RecordGrantUse(ctx, []audit.GrantUse{{TenantID: nasty[0], Role: nasty[1], Permission: nasty[2], Count: 1, LastUsed: from}}))
	unused, err := s.UnusedGrants(ctx, nasty[0], from, to, []audit.Grant{nastyGrant, {Role: nasty[2], Permission: nasty[1]}})
	require.NoError(t, err)
	assert.Equal(t, []audit.Grant{{Role: nasty[2], Permission: nasty[1]}}, unused)
}

// TestAuditUnstorableText: PostgreSQL text holds neither NUL nor invalid
// UTF-8; the store writes U+FFFD instead of failing, so such an event
// cannot block the Dispatcher's retries forever.
func TestAuditUnstorableText(t *testing.T) {
	env := pgtest.New(t)
	s := env.Stores.Audit
	ctx := t.Context()
	at := time.Now().UTC().Truncate(time.Microsecond)
	in := audit.Event{ID: "e\x00", Time: at, Type: audit.TypeLoginFailure, Outcome: audit.Failure, TenantID: "t1",
		UserAgent: "bad\xffagent\x00", Attributes: map[string]string{"k\x00": "v\xfe"}}
	require.NoError(t, s.Write(ctx, []audit.Event{in}))
	require.NoError(t, s.Write(ctx, []audit.Event{in}), "still idempotent")
	page, err := s.Query(ctx, audit.Query{})
	require.NoError(t, err)
	require.Len(t, page.Events, 1)
	got := page.Events[0]
	assert.Equal(t, "e\uFFFD", got.ID)
	assert.Equal(t, "bad\uFFFDagent\uFFFD", got.UserAgent)
	assert.Equal(t, map[string]string{"k\uFFFD": "v\uFFFD"}, got.Attributes)
	assert.Equal(t, "bad\xffagent\x00", in.UserAgent, "the caller's event is not modified")
}

// TestAuditOrderIsByteOrder: the keyset order and the ranking ties follow
// Go's string comparison whatever the database's locale, because id and
// the ranking keys compare with the "C" collation.
func TestAuditOrderIsByteOrder(t *testing.T) {
	env := pgtest.New(t)
	s := env.Stores.Audit
	ctx := t.Context()
	var collation string
	require.NoError(t, env.DB.QueryRowContext(ctx, `SELECT collation_name FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = 'audit_events' AND column_name = 'id'`, env.Schema).Scan(&collation))
	assert.Equal(t, "C", collation)

	at := time.Now().UTC().Truncate(time.Second)
	ids := []string{"a", "B", "_x", "é", "Z", "aa", "A-1", "a1"} // locales disagree on these
	var events []audit.Event
	for _, id := range ids {
		e := audit.Event{ID: id, Time: at, Type: audit.TypeSessionCreated, Outcome: audit.Success, TenantID: "t1",
			Attributes: map[string]string{audit.AttrDevice: id}}
		events = append(events, e)
	}
	require.NoError(t, s.Write(ctx, events))
	var got []string
	q := audit.Query{Limit: 3}
	for {
		page, err := s.Query(ctx, q)
		require.NoError(t, err)
		for _, e := range page.Events {
			got = append(got, e.ID)
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	assert.Equal(t, []string{"é", "aa", "a1", "a", "_x", "Z", "B", "A-1"}, got)

	devices, err := s.SessionsPerDevice(ctx, "t1", at, at.Add(time.Second), 3)
	require.NoError(t, err)
	assert.Equal(t, []audit.Count{{Key: "A-1", N: 1}, {Key: "B", N: 1}, {Key: "Z", N: 1}}, devices)
}

// TestAuditPrecision: instants are kept to the microsecond, and a bucket
// width PostgreSQL cannot represent is refused rather than misapplied.
func TestAuditPrecision(t *testing.T) {
	env := pgtest.New(t)
	s := env.Stores.Audit
	ctx := t.Context()
	at := time.Date(2031, 2, 3, 4, 5, 6, 123456789, time.UTC)
	require.NoError(t, s.Write(ctx, []audit.Event{
		{ID: "a", Time: at, Type: audit.TypeLoginSuccess, Outcome: audit.Success},
		{ID: "b", Time: at.Add(-time.Hour), Type: audit.TypeLoginFailure, Outcome: audit.Failure},
	}))
	page, err := s.Query(ctx, audit.Query{Limit: 1})
	require.NoError(t, err)
	require.Len(t, page.Events, 1)
	assert.Equal(t, at.Truncate(time.Microsecond), page.Events[0].Time)
	page, err = s.Query(ctx, audit.Query{Cursor: page.Next})
	require.NoError(t, err)
	assert.Equal(t, []string{"b"}, eventIDsOf(page.Events))

	_, err = s.LoginCounts(ctx, "", at.Add(-2*time.Hour), at, 1500*time.Nanosecond)
	assert.ErrorIs(t, err, audit.ErrInvalidQuery)
	// A from with nanoseconds: bins start at from as PostgreSQL stores it.
	from := at.Add(-90 * time.Minute)
	got, err := s.LoginCounts(ctx, "", from, at.Add(time.Microsecond), 30*time.Minute)
	require.NoError(t, err)
	require.Len(t, got, 4)
	assert.Equal(t, [][2]int{{0, 0}, {0, 1}, {0, 0}, {1, 0}}, [][2]int{
		{got[0].Success, got[0].Failure}, {got[1].Success, got[1].Failure},
		{got[2].Success, got[2].Failure}, {got[3].Success, got[3].Failure}})
}

func eventIDsOf(events []audit.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// TestAuditErrorsAreClean: an unreachable server is store.ErrUnavailable
// from every method, without driver text.
func TestAuditErrorsAreClean(t *testing.T) {
	pgtest.URL(t)
	db := pgtest.OpenURL(t, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	s := pgtest.NewSchemaless(t, db).Audit
	ctx := t.Context()
	now := time.Now()
	errs := []error{s.Write(ctx, []audit.Event{{ID: "x", Time: now, Type: audit.TypeLogout}})}
	_, err := s.Query(ctx, audit.Query{TenantID: "t1"})
	errs = append(errs, err)
	_, err = s.LoginCounts(ctx, "t1", now.Add(-time.Hour), now, time.Minute)
	errs = append(errs, err)
	_, err = s.TopDenied(ctx, "t1", now.Add(-time.Hour), now, 1)
	errs = append(errs, err)
	_, err = s.UnusedGrants(ctx, "t1", now.Add(-time.Hour), now, []audit.Grant{{Role: "r", Permission: "a:b"}})
	errs = append(errs, err)
	errs = append(errs, s.RecordGrantUse(ctx, []audit.GrantUse{{TenantID: "t1", Role: "r", Permission: "a:b", Count: 1, LastUsed: now}}))
	_, err = s.SessionsPerDevice(ctx, "t1", now.Add(-time.Hour), now, 1)
	errs = append(errs, err)
	for _, err := range errs {
		assertCleanFailure(t, err)
		assert.NotContains(t, err.Error(), "127.0.0.1")
		assert.True(t, strings.HasPrefix(err.Error(), "authv2/store: audit."), err.Error())
		assert.False(t, errors.Is(err, audit.ErrInvalidQuery))
	}
}

// BenchmarkAuditWrite writes 100 events per iteration: as one batch
// (what the Dispatcher hands the store), and as 100 single-event writes,
// the baseline a sink without batching would cost.
func BenchmarkAuditWrite(b *testing.B) {
	env := pgtest.New(b)
	ctx := context.Background()
	now := time.Now().UTC()
	var seq atomic.Int64
	batch := func() []audit.Event {
		events := make([]audit.Event, 100)
		for i := range events {
			n := seq.Add(1)
			events[i] = audit.Event{ID: fmt.Sprintf("e%012d", n), Time: now.Add(time.Duration(n) * time.Microsecond),
				Type: audit.TypeAuthorizeDecision, Outcome: audit.Success, ActorUserID: "u1", ActorSessionID: "s1",
				TenantID: "t1", IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", DecisionID: "d1",
				TraceID:    "0af7651916cd43dd8448eb211c80319c",
				Attributes: map[string]string{audit.AttrAction: "orders:read", audit.AttrResourceType: "orders"}}
		}
		return events
	}
	b.Run("baseline-one-per-write", func(b *testing.B) {
		for b.Loop() {
			for _, e := range batch() {
				if err := env.Stores.Audit.Write(ctx, []audit.Event{e}); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("batch-100", func(b *testing.B) {
		for b.Loop() {
			if err := env.Stores.Audit.Write(ctx, batch()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
	})
}

// TestAuditQueryPlansUseIndexes fills audit_events with 200,000 events of
// 50 tenants and 2,000 actors over 30 days, analyzes it, and checks that
// the query paths read an index, never the whole table.
func TestAuditQueryPlansUseIndexes(t *testing.T) {
	env := pgtest.New(t)
	ctx := t.Context()
	s := `"` + env.Schema + `"`
	end := time.Now().UTC().Truncate(time.Second)
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO %s.audit_events (id, time, type, outcome, tenant_id, actor_user_id, attributes)
			SELECT 'e' || i, '%s'::timestamptz - i * interval '13 seconds',
				(ARRAY['login.success', 'login.failure', 'authz.decision', 'session.created', 'logout', 'user.update'])[1 + i %% 6],
				(ARRAY['success', 'failure', 'denied'])[1 + i %% 3], 't' || (i %% 50), 'u' || (i %% 2000),
				jsonb_build_object('action', 'orders:' || (i %% 7))
			FROM generate_series(1, 200000) i`, s, end.Format(time.RFC3339)),
		`ANALYZE ` + s + `.audit_events`,
	} {
		_, err := env.DB.ExecContext(ctx, q)
		require.NoError(t, err)
	}
	store := env.Stores.Audit
	cursor := audit.Cursor{Time: end.Add(-time.Hour), ID: "e500"}.String()
	for name, c := range map[string]struct {
		q     audit.Query
		index string
	}{
		"everything":    {audit.Query{}, "audit_events_time_idx"},
		"tenant":        {audit.Query{TenantID: "t7"}, "audit_events_tenant_time_idx"},
		"tenant cursor": {audit.Query{TenantID: "t7", Cursor: cursor}, "audit_events_tenant_time_idx"},
		"actor":         {audit.Query{ActorUserID: "u42", From: end.Add(-24 * time.Hour)}, "audit_events_actor_time_idx"},
		"actor cursor":  {audit.Query{ActorUserID: "u42", Cursor: cursor}, "audit_events_actor_time_idx"},
		"cursor":        {audit.Query{Cursor: cursor}, "audit_events_time_idx"},
	} {
		t.Run(name, func(t *testing.T) {
			q, args, err := postgres.AuditPageQuery(store, c.q)
			require.NoError(t, err)
			scans := explainScans(t, env.DB, q, args...)
			require.NotEmpty(t, scans)
			assert.Contains(t, strings.Join(scans, "; "), c.index)
		})
	}
	from, to := end.Add(-24*time.Hour), end
	t.Run("top denied of a tenant", func(t *testing.T) {
		explainScans(t, env.DB, postgres.AuditTopDeniedQuery(store)+` AND tenant_id = $6 GROUP BY key ORDER BY n DESC, key LIMIT 10`,
			from, to, "authz.decision", "denied", "action", "t7")
	})
	t.Run("login counts of every tenant", func(t *testing.T) {
		explainScans(t, env.DB, postgres.AuditLoginCountsQuery(store)+` GROUP BY start`, from, to, 3600000000, "login.success", "login.failure")
	})
}
