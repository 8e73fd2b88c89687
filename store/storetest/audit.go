package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/audit"
)

// AuditStoreFactory returns a fresh, isolated audit.Store.
type AuditStoreFactory func(t *testing.T) audit.Store

// ev builds an event; at is an offset from base.
func ev(id string, at time.Duration, typ audit.Type, outcome audit.Outcome, tenant, actor string) audit.Event {
	return audit.Event{ID: id, Time: base.Add(at), Type: typ, Outcome: outcome, TenantID: tenant, ActorUserID: actor}
}

// decision builds an authorization decision event for action.
func decision(id string, at time.Duration, outcome audit.Outcome, tenant, action string) audit.Event {
	e := ev(id, at, audit.TypeAuthorizeDecision, outcome, tenant, "u1")
	resource, _, _ := cutColon(action)
	e.Attributes = map[string]string{audit.AttrAction: action, audit.AttrResourceType: resource}
	return e
}

func cutColon(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func eventIDs(events []audit.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// newestFirst returns the IDs of events in a Query's order.
func newestFirst(events []audit.Event) []string {
	sorted := slices.Clone(events)
	slices.SortFunc(sorted, func(a, b audit.Event) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		if a.ID > b.ID {
			return -1
		}
		if a.ID < b.ID {
			return 1
		}
		return 0
	})
	return eventIDs(sorted)
}

// queryAll follows cursors to the end, failing on a repeated page.
func queryAll(t *testing.T, s audit.Store, q audit.Query) []audit.Event {
	t.Helper()
	pageSize := q.Limit
	if pageSize == 0 {
		pageSize = audit.DefaultPageSize
	}
	pageSize = min(pageSize, audit.MaxPageSize)
	var out []audit.Event
	for range 100000 {
		page, err := s.Query(ctx(t), q)
		require.NoError(t, err)
		if page.Next != "" {
			assert.Len(t, page.Events, pageSize, "only the last page is short")
		} else {
			assert.LessOrEqual(t, len(page.Events), pageSize)
		}
		out = append(out, page.Events...)
		if page.Next == "" {
			return out
		}
		require.NotEqual(t, q.Cursor, page.Next, "the cursor moves")
		q.Cursor = page.Next
	}
	t.Fatal("pagination does not end")
	return nil
}

func write(t *testing.T, s audit.Store, events ...audit.Event) {
	t.Helper()
	require.NoError(t, s.Write(ctx(t), events))
}

// RunAuditStore runs the audit.Store conformance cases, grouped by method.
func RunAuditStore(t *testing.T, newStore AuditStoreFactory) {
	method(t, "Write", newStore, auditWrite)
	method(t, "Query", newStore, auditQuery)
	method(t, "LoginCounts", newStore, auditLoginCounts)
	method(t, "TopDenied", newStore, auditTopDenied)
	method(t, "RecordGrantUse", newStore, auditRecordGrantUse)
	method(t, "UnusedGrants", newStore, auditUnusedGrants)
	method(t, "SessionsPerDevice", newStore, auditSessionsPerDevice)
}

func auditWrite(t *testing.T, newStore AuditStoreFactory) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		in := audit.Event{
			ID: "e1", Time: base.Add(1500 * time.Microsecond).In(time.FixedZone("x", 7200)),
			Type: audit.TypeLoginFailure, Outcome: audit.Failure, ActorUserID: "u1", ActorSessionID: "s1",
			ImpersonatorUserID: "support-1", TenantID: "t1", Scope: "region:eu", Target: "u1", IP: "192.0.2.1", UserAgent: "test/1.0",
			DecisionID: "d1", TraceID: "0af7651916cd43dd8448eb211c80319c", Reason: "bad_password",
			Attributes: map[string]string{"k": "v", "unicode": "é\n\"x\""},
		}
		write(t, s, in)
		page, err := s.Query(ctx(t), audit.Query{})
		require.NoError(t, err)
		require.Len(t, page.Events, 1)
		got := page.Events[0]
		assertTimeEqual(t, in.Time, got.Time)
		assert.Equal(t, time.UTC, got.Time.Location(), "times come back in UTC")
		in.Time = got.Time
		assert.Equal(t, in, got)
		assert.Empty(t, page.Next)
	})
	t.Run("IsIdempotentByID", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		batch := []audit.Event{ev("a", 0, audit.TypeLogout, audit.Success, "t1", "u1"), ev("b", time.Second, audit.TypeLogout, audit.Success, "t1", "u1")}
		write(t, s, batch...)
		write(t, s, batch...)
		write(t, s, batch[1], ev("c", 2*time.Second, audit.TypeLogout, audit.Success, "t1", "u1"))
		assert.Equal(t, []string{"c", "b", "a"}, eventIDs(queryAll(t, s, audit.Query{})), "a retried batch adds nothing twice")
	})
	t.Run("EventWithoutIDGetsOne", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		e := ev("", 0, audit.TypeLogout, audit.Success, "t1", "u1")
		write(t, s, e, e)
		got := queryAll(t, s, audit.Query{})
		require.Len(t, got, 2)
		assert.NotEmpty(t, got[0].ID)
		assert.NotEqual(t, got[0].ID, got[1].ID)
	})
	t.Run("EmptyWrite", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.Write(ctx(t), nil))
		page, err := s.Query(ctx(t), audit.Query{})
		require.NoError(t, err)
		assert.Empty(t, page.Events)
		assert.Empty(t, page.Next)
	})
	t.Run("ConcurrentWrites", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const writers, each, batch = 50, 200, 10
		var wg sync.WaitGroup
		for g := range writers {
			wg.Go(func() {
				for i := 0; i < each; i += batch {
					events := make([]audit.Event, batch)
					for j := range events {
						events[j] = ev(fmt.Sprintf("g%02d-%03d", g, i+j), time.Duration(i+j)*time.Millisecond, audit.TypeLogout, audit.Success, "t1", fmt.Sprintf("u%d", g))
					}
					assert.NoError(t, s.Write(ctx(t), events))
				}
			})
		}
		wg.Wait()
		got := queryAll(t, s, audit.Query{Limit: audit.MaxPageSize})
		require.Len(t, got, writers*each)
		seen := make(map[string]bool, len(got))
		for _, e := range got {
			assert.False(t, seen[e.ID], "duplicate %s", e.ID)
			seen[e.ID] = true
		}
	})
	t.Run("CanceledContext", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		assert.Error(t, s.Write(canceled(t), []audit.Event{ev("x", 0, audit.TypeLogout, audit.Success, "t1", "u1")}))
	})
}

func auditQuery(t *testing.T, newStore AuditStoreFactory) {
	t.Run("Filters", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var all []audit.Event
		types := []audit.Type{audit.TypeLoginSuccess, audit.TypeLoginFailure, audit.TypeLogout, audit.TypeAuthorizeDecision}
		outcomes := []audit.Outcome{audit.Success, audit.Failure, audit.Denied}
		for i := range 120 {
			all = append(all, ev(fmt.Sprintf("e%03d", i), time.Duration(i)*time.Minute,
				types[i%len(types)], outcomes[i%len(outcomes)], []string{"t1", "t2", ""}[i/5%3], fmt.Sprintf("u%d", i/3%4)))
		}
		write(t, s, all...)
		filter := func(keep func(e audit.Event) bool) []audit.Event {
			var out []audit.Event
			for _, e := range all {
				if keep(e) {
					out = append(out, e)
				}
			}
			return out
		}
		from, to := base.Add(30*time.Minute), base.Add(90*time.Minute)
		for name, c := range map[string]struct {
			q    audit.Query
			keep func(e audit.Event) bool
		}{
			"none":    {audit.Query{}, func(audit.Event) bool { return true }},
			"tenant":  {audit.Query{TenantID: "t2"}, func(e audit.Event) bool { return e.TenantID == "t2" }},
			"actor":   {audit.Query{ActorUserID: "u3"}, func(e audit.Event) bool { return e.ActorUserID == "u3" }},
			"type":    {audit.Query{Types: []audit.Type{audit.TypeLogout}}, func(e audit.Event) bool { return e.Type == audit.TypeLogout }},
			"types":   {audit.Query{Types: []audit.Type{audit.TypeLoginSuccess, audit.TypeLoginFailure}}, func(e audit.Event) bool { return e.Type == audit.TypeLoginSuccess || e.Type == audit.TypeLoginFailure }},
			"outcome": {audit.Query{Outcome: audit.Denied}, func(e audit.Event) bool { return e.Outcome == audit.Denied }},
			"from":    {audit.Query{From: from}, func(e audit.Event) bool { return !e.Time.Before(from) }},
			"to":      {audit.Query{To: to}, func(e audit.Event) bool { return e.Time.Before(to) }},
			"range":   {audit.Query{From: from, To: to}, func(e audit.Event) bool { return !e.Time.Before(from) && e.Time.Before(to) }},
			"all": {audit.Query{TenantID: "t1", ActorUserID: "u0", Types: []audit.Type{audit.TypeLoginSuccess, audit.TypeLogout}, Outcome: audit.Success, From: base.Add(10 * time.Minute), To: base.Add(100 * time.Minute)},
				func(e audit.Event) bool {
					return e.TenantID == "t1" && e.ActorUserID == "u0" && (e.Type == audit.TypeLoginSuccess || e.Type == audit.TypeLogout) &&
						e.Outcome == audit.Success && !e.Time.Before(base.Add(10*time.Minute)) && e.Time.Before(base.Add(100*time.Minute))
				}},
			"nothing": {audit.Query{TenantID: "t9"}, func(audit.Event) bool { return false }},
		} {
			t.Run(name, func(t *testing.T) {
				want := filter(c.keep)
				if name != "nothing" && name != "none" {
					require.NotEmpty(t, want, "the case selects something")
					require.Less(t, len(want), len(all), "the case leaves something out")
				}
				q := c.q
				q.Limit = 7
				assert.Equal(t, newestFirst(want), eventIDs(queryAll(t, s, q)))
			})
		}
	})
	t.Run("PaginationWithEqualTimestamps", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var all []audit.Event
		for i := range 300 {
			// Groups of 7 share an instant; IDs do not follow time order.
			id := fmt.Sprintf("%08x", uint32(i)*2654435761)
			e := ev(id, time.Duration(i/7)*time.Second, audit.TypeLogout, audit.Success, []string{"t1", "t2"}[i%2], "u1")
			all = append(all, e)
		}
		shuffled := slices.Clone(all)
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		for chunk := range slices.Chunk(shuffled, 50) {
			write(t, s, chunk...)
		}
		for _, size := range []int{1, 7, 17, 300, 1000} {
			got := queryAll(t, s, audit.Query{Limit: size})
			assert.Equal(t, newestFirst(all), eventIDs(got), "page size %d: no gap, no duplicate, stable order", size)
		}
		var t1 []audit.Event
		for _, e := range all {
			if e.TenantID == "t1" {
				t1 = append(t1, e)
			}
		}
		assert.Equal(t, newestFirst(t1), eventIDs(queryAll(t, s, audit.Query{TenantID: "t1", Limit: 9})))
	})
	t.Run("PaginationIsStableUnderWrites", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var all []audit.Event
		for i := range 50 {
			all = append(all, ev(fmt.Sprintf("e%03d", i), time.Duration(i/3)*time.Second, audit.TypeLogout, audit.Success, "t1", "u1"))
		}
		write(t, s, all...)
		q := audit.Query{Limit: 10}
		var got []audit.Event
		for i := 0; ; i++ {
			page, err := s.Query(ctx(t), q)
			require.NoError(t, err)
			got = append(got, page.Events...)
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
			// Newer events arrive while a reader pages: they must not
			// shift the pages it has yet to read.
			write(t, s, ev(fmt.Sprintf("new%03d", i), time.Hour+time.Duration(i)*time.Second, audit.TypeLogout, audit.Success, "t1", "u1"))
		}
		assert.Equal(t, newestFirst(all), eventIDs(got))
	})
	t.Run("PageSize", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var all []audit.Event
		for i := range audit.MaxPageSize + 1 {
			all = append(all, ev(fmt.Sprintf("e%05d", i), time.Duration(i)*time.Millisecond, audit.TypeLogout, audit.Success, "t1", "u1"))
		}
		write(t, s, all...)
		page, err := s.Query(ctx(t), audit.Query{})
		require.NoError(t, err)
		assert.Len(t, page.Events, audit.DefaultPageSize)
		assert.NotEmpty(t, page.Next)
		page, err = s.Query(ctx(t), audit.Query{Limit: 1 << 30})
		require.NoError(t, err)
		assert.Len(t, page.Events, audit.MaxPageSize)
		assert.NotEmpty(t, page.Next)
		page, err = s.Query(ctx(t), audit.Query{Cursor: page.Next})
		require.NoError(t, err)
		assert.Len(t, page.Events, 1)
		assert.Empty(t, page.Next, "an exactly full last page says so")
	})
	t.Run("InvalidQuery", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for _, q := range []audit.Query{{Cursor: "not a cursor"}, {Limit: -1}, {From: base, To: base}} {
			_, err := s.Query(ctx(t), q)
			assert.ErrorIs(t, err, audit.ErrInvalidQuery)
		}
	})
	t.Run("CanceledContext", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.Query(canceled(t), audit.Query{})
		assert.Error(t, err)
	})
}

func auditLoginCounts(t *testing.T, newStore AuditStoreFactory) {
	t.Run("Buckets", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		h := time.Hour
		write(t, s,
			ev("before", -time.Second, audit.TypeLoginSuccess, audit.Success, "t1", "u1"),
			ev("s1", 0, audit.TypeLoginSuccess, audit.Success, "t1", "u1"),
			ev("f1", h-time.Microsecond, audit.TypeLoginFailure, audit.Failure, "t1", "u1"),
			ev("f2", h, audit.TypeLoginFailure, audit.Failure, "t1", "u1"),
			ev("s2", h+time.Minute, audit.TypeLoginSuccess, audit.Success, "t1", "u2"),
			ev("s3", 3*h+29*time.Minute, audit.TypeLoginSuccess, audit.Success, "t1", "u2"),
			ev("at_end", 3*h+30*time.Minute, audit.TypeLoginSuccess, audit.Success, "t1", "u1"),
			ev("other_tenant", 10*time.Minute, audit.TypeLoginFailure, audit.Failure, "t2", "u1"),
			ev("not_login", 10*time.Minute, audit.TypeLogout, audit.Success, "t1", "u1"),
		)
		got, err := s.LoginCounts(ctx(t), "t1", base, base.Add(3*h+30*time.Minute), h)
		require.NoError(t, err)
		require.Len(t, got, 4, "every bucket, the empty and the partial one included")
		for i, b := range got {
			assertTimeEqual(t, base.Add(time.Duration(i)*h), b.Start)
		}
		assert.Equal(t, [][2]int{{1, 1}, {1, 1}, {0, 0}, {1, 0}}, successFailure(got))

		all, err := s.LoginCounts(ctx(t), "", base, base.Add(h), h)
		require.NoError(t, err)
		assert.Equal(t, [][2]int{{1, 2}}, successFailure(all), "an empty tenant counts every tenant")
	})
	t.Run("InvalidQuery", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.LoginCounts(ctx(t), "t1", base, base.Add(time.Hour), 0)
		assert.ErrorIs(t, err, audit.ErrInvalidQuery)
		_, err = s.LoginCounts(ctx(t), "t1", base.Add(time.Hour), base, time.Minute)
		assert.ErrorIs(t, err, audit.ErrInvalidQuery)
	})
	t.Run("CanceledContext", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.LoginCounts(canceled(t), "t1", base, base.Add(time.Hour), time.Minute)
		assert.Error(t, err)
	})
}

func auditTopDenied(t *testing.T, newStore AuditStoreFactory) {
	t.Run("HighestFirst", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var events []audit.Event
		n := 0
		add := func(count int, at time.Duration, outcome audit.Outcome, tenant, action string) {
			for range count {
				n++
				events = append(events, decision(fmt.Sprintf("d%03d", n), at, outcome, tenant, action))
			}
		}
		add(5, time.Minute, audit.Denied, "t1", "orders:refund")
		add(3, 2*time.Minute, audit.Denied, "t1", "users:invite")
		add(3, 3*time.Minute, audit.Denied, "t1", "orders:delete")
		add(1, 4*time.Minute, audit.Denied, "t1", "reports:read")
		add(10, 5*time.Minute, audit.Success, "t1", "reports:read")
		add(20, 5*time.Minute, audit.Denied, "t2", "billing:read")
		add(20, 2*time.Hour, audit.Denied, "t1", "late:read")
		noAction := ev("no_action", time.Minute, audit.TypeAuthorizeDecision, audit.Denied, "t1", "u1")
		notDecision := ev("not_decision", time.Minute, audit.TypeLoginFailure, audit.Denied, "t1", "u1")
		notDecision.Attributes = map[string]string{audit.AttrAction: "orders:refund"}
		write(t, s, append(events, noAction, notDecision)...)

		got, err := s.TopDenied(ctx(t), "t1", base, base.Add(time.Hour), 3)
		require.NoError(t, err)
		assert.Equal(t, []audit.Count{{Key: "orders:refund", N: 5}, {Key: "orders:delete", N: 3}, {Key: "users:invite", N: 3}}, got,
			"highest first, ties by key")
		got, err = s.TopDenied(ctx(t), "t1", base, base.Add(time.Hour), 0)
		require.NoError(t, err)
		assert.Len(t, got, 4, "limit 0 means the default")
		got, err = s.TopDenied(ctx(t), "", base, base.Add(time.Hour), 1)
		require.NoError(t, err)
		assert.Equal(t, []audit.Count{{Key: "billing:read", N: 20}}, got)
	})
	t.Run("CountsFoldedRepeats", func(t *testing.T) {
		// An event standing for repeated decisions (audit.AttrCount)
		// counts as its count; a count that is not a whole number from 1
		// to 1e9 (an application's own attribute) counts as one.
		t.Parallel()
		s := newStore(t)
		withCount := func(id, action, count string) audit.Event {
			e := decision(id, time.Minute, audit.Denied, "t1", action)
			e.Attributes[audit.AttrCount] = count
			return e
		}
		write(t, s,
			withCount("f1", "orders:refund", "40"),
			decision("f2", 2*time.Minute, audit.Denied, "t1", "orders:refund"),
			withCount("f3", "users:invite", "30"),
			withCount("f4", "a:zero", "0"),
			withCount("f5", "a:negative", "-5"),
			withCount("f6", "a:text", "many"),
			withCount("f7", "a:huge", "99999999999999999999"),
			withCount("f8", "a:overmax", "1000000001"),
			withCount("f9", "a:max", "1000000000"),
			withCount("g1", "b:newline", "12\n"), withCount("g2", "b:arabic", "٣"), withCount("g3", "b:fullwidth", "１２"),
			withCount("g4", "b:space", " 12"), withCount("g5", "b:lead", "0000000012"), withCount("g6", "b:lead11", "00000000012"),
			withCount("g7", "b:empty", ""), withCount("g8", "b:nul", "1\x002"))
		got, err := s.TopDenied(ctx(t), "t1", base, base.Add(time.Hour), 30)
		require.NoError(t, err)
		assert.Equal(t, []audit.Count{
			{Key: "a:max", N: 1_000_000_000}, {Key: "orders:refund", N: 41}, {Key: "users:invite", N: 30}, {Key: "b:lead", N: 12},
			{Key: "a:huge", N: 1}, {Key: "a:negative", N: 1}, {Key: "a:overmax", N: 1}, {Key: "a:text", N: 1}, {Key: "a:zero", N: 1},
			{Key: "b:arabic", N: 1}, {Key: "b:empty", N: 1}, {Key: "b:fullwidth", N: 1}, {Key: "b:lead11", N: 1}, {Key: "b:newline", N: 1}, {Key: "b:nul", N: 1}, {Key: "b:space", N: 1},
		}, got)
	})
	t.Run("InvalidQuery", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.TopDenied(ctx(t), "t1", time.Time{}, base, 10)
		assert.ErrorIs(t, err, audit.ErrInvalidQuery)
	})
	t.Run("CanceledContext", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.TopDenied(canceled(t), "t1", base, base.Add(time.Hour), 1)
		assert.Error(t, err)
	})
}

func auditRecordGrantUse(t *testing.T, newStore AuditStoreFactory) {
	t.Run("DuplicatesInOneCall", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		u := audit.GrantUse{TenantID: "t1", Role: "clerk", Permission: "orders:read", Count: 1, LastUsed: base.Add(time.Minute)}
		require.NoError(t, s.RecordGrantUse(ctx(t), []audit.GrantUse{u, u}))
		require.NoError(t, s.RecordGrantUse(ctx(t), nil))
		got, err := s.UnusedGrants(ctx(t), "t1", base, base.Add(time.Hour), []audit.Grant{{Role: "clerk", Permission: "orders:read"}})
		require.NoError(t, err)
		assert.Empty(t, got)
	})
	t.Run("CanceledContext", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		assert.Error(t, s.RecordGrantUse(canceled(t), []audit.GrantUse{{TenantID: "t1", Role: "r", Permission: "a:b", Count: 1, LastUsed: base}}))
	})
}

func auditUnusedGrants(t *testing.T, newStore AuditStoreFactory) {
	t.Run("PerRoleAndPermission", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		use := func(tenant, role, perm string, n int64, at time.Duration) audit.GrantUse {
			return audit.GrantUse{TenantID: tenant, Role: role, Permission: perm, Count: n, LastUsed: base.Add(at)}
		}
		require.NoError(t, s.RecordGrantUse(ctx(t), []audit.GrantUse{
			use("t1", "clerk", "orders:read", 3, time.Minute),
			use("t1", "clerk", "orders:*", 1, time.Minute),
			use("t1", "clerk", "invoices:pay", 5, -time.Minute), // before the window
			use("t1", "clerk", "users:invite", 1, time.Hour),    // at its end: outside
			use("t1", "clerk", "reports:read", 0, time.Minute),  // no use
			use("t2", "viewer", "audit:read", 2, time.Minute),   // another tenant
		}))
		g := func(role, perm string) audit.Grant { return audit.Grant{Role: role, Permission: perm} }
		granted := []audit.Grant{g("clerk", "orders:read"), g("viewer", "orders:read"), g("clerk", "orders:*"), g("clerk", "invoices:pay"),
			g("clerk", "users:invite"), g("clerk", "reports:read"), g("viewer", "audit:read"), g("viewer", "orders:read")}
		got, err := s.UnusedGrants(ctx(t), "t1", base, base.Add(time.Hour), granted)
		require.NoError(t, err)
		assert.Equal(t, []audit.Grant{g("viewer", "orders:read"), g("clerk", "invoices:pay"), g("clerk", "users:invite"),
			g("clerk", "reports:read"), g("viewer", "audit:read")}, got,
			"per role and permission as written; other windows and tenants use nothing; in order, once")
		got, err = s.UnusedGrants(ctx(t), "", base, base.Add(time.Hour), []audit.Grant{g("viewer", "audit:read"), g("viewer", "orders:read")})
		require.NoError(t, err)
		assert.Equal(t, []audit.Grant{g("viewer", "orders:read")}, got, "no tenant: every tenant")
		got, err = s.UnusedGrants(ctx(t), "t1", base.Add(-time.Minute), base, []audit.Grant{g("clerk", "invoices:pay"), g("clerk", "orders:read")})
		require.NoError(t, err)
		assert.Equal(t, []audit.Grant{g("clerk", "orders:read")}, got, "from is inside the window")

		// Later uses add to the tally and widen it.
		require.NoError(t, s.RecordGrantUse(ctx(t), []audit.GrantUse{use("t1", "viewer", "orders:read", 1, 2*time.Hour)}))
		got, err = s.UnusedGrants(ctx(t), "t1", base.Add(2*time.Hour), base.Add(3*time.Hour), []audit.Grant{g("viewer", "orders:read"), g("clerk", "orders:read")})
		require.NoError(t, err)
		assert.Equal(t, []audit.Grant{g("clerk", "orders:read")}, got)
		got, err = s.UnusedGrants(ctx(t), "t1", base, base.Add(time.Hour), nil)
		require.NoError(t, err)
		assert.Equal(t, []audit.Grant{}, got)
	})
	t.Run("InvalidQuery", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.UnusedGrants(ctx(t), "t1", base, base, nil)
		assert.ErrorIs(t, err, audit.ErrInvalidQuery)
		_, err = s.UnusedGrants(ctx(t), "t1", time.Time{}, base, nil)
		assert.ErrorIs(t, err, audit.ErrInvalidQuery)
	})
	t.Run("CanceledContext", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.UnusedGrants(canceled(t), "t1", base, base.Add(time.Hour), []audit.Grant{{Role: "r", Permission: "a:b"}})
		assert.Error(t, err)
	})
}

func auditSessionsPerDevice(t *testing.T, newStore AuditStoreFactory) {
	t.Run("DeviceLabelElseUserAgent", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var events []audit.Event
		n := 0
		add := func(count int, typ audit.Type, outcome audit.Outcome, tenant, device, ua string) {
			for range count {
				n++
				e := ev(fmt.Sprintf("s%03d", n), time.Duration(n)*time.Second, typ, outcome, tenant, "u1")
				e.UserAgent = ua
				if device != "" {
					e.Attributes = map[string]string{audit.AttrDevice: device}
				}
				events = append(events, e)
			}
		}
		add(3, audit.TypeSessionCreated, audit.Success, "t1", "laptop", "Firefox")
		add(2, audit.TypeSessionCreated, audit.Success, "t1", "phone", "Safari")
		add(2, audit.TypeSessionCreated, audit.Success, "t1", "", "curl/8")
		add(1, audit.TypeSessionCreated, audit.Failure, "t1", "laptop", "Firefox")
		add(4, audit.TypeSessionRevoked, audit.Success, "t1", "laptop", "Firefox")
		add(5, audit.TypeSessionCreated, audit.Success, "t2", "kiosk", "")
		write(t, s, events...)
		got, err := s.SessionsPerDevice(ctx(t), "t1", base, base.Add(time.Hour), 0)
		require.NoError(t, err)
		assert.Equal(t, []audit.Count{{Key: "laptop", N: 3}, {Key: "curl/8", N: 2}, {Key: "phone", N: 2}}, got,
			"device label, else user agent")
		got, err = s.SessionsPerDevice(ctx(t), "", base, base.Add(time.Hour), 1)
		require.NoError(t, err)
		assert.Equal(t, []audit.Count{{Key: "kiosk", N: 5}}, got)
	})
	t.Run("InvalidQuery", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.SessionsPerDevice(ctx(t), "t1", base, base.Add(-time.Second), 10)
		assert.ErrorIs(t, err, audit.ErrInvalidQuery)
	})
	t.Run("CanceledContext", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.SessionsPerDevice(canceled(t), "t1", base, base.Add(time.Hour), 1)
		assert.Error(t, err)
	})
}

func successFailure(buckets []audit.Bucket) [][2]int {
	out := make([][2]int, len(buckets))
	for i, b := range buckets {
		out[i] = [2]int{b.Success, b.Failure}
	}
	return out
}
