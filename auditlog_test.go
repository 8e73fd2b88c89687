package authv2_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store/memory"
)

func TestAuditStoreQueries(t *testing.T) {
	as := memory.NewAuditStore()
	e := newEnv(t, authv2.WithAuditStore(as))
	_, err := e.m.CreateTenant(t.Context(), "acme", "Acme")
	require.NoError(t, err)
	_, err = e.m.Register(t.Context(), authv2.RegisterInput{Email: "q@example.com", Password: goodPassword, TenantID: "acme"})
	require.NoError(t, err)
	e.login(t, "q@example.com")
	e.clock.Advance(time.Second)
	_, err = e.m.Login(t.Context(), authv2.LoginInput{Email: "q@example.com", Password: "wrong password!"})
	require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
	require.NoError(t, e.m.PutRole(t.Context(), &permission.Role{TenantID: "acme", Name: "clerk",
		Grants: []permission.Grant{{Permission: "orders:read", Effect: permission.Allow}, {Permission: "refunds:create", Effect: permission.Allow}}}))
	require.NoError(t, e.m.FlushAudit(t.Context()))

	page, err := e.m.QueryAudit(t.Context(), audit.Query{Types: []audit.Type{audit.TypeLoginSuccess, audit.TypeLoginFailure}})
	require.NoError(t, err)
	assert.Len(t, page.Events, 2)
	assert.Equal(t, audit.TypeLoginFailure, page.Events[0].Type, "newest first")

	counts, err := e.m.LoginCounts(t.Context(), "", t0.Add(-time.Hour), t0.Add(time.Hour), time.Hour)
	require.NoError(t, err)
	var ok, bad int
	for _, b := range counts {
		ok, bad = ok+b.Success, bad+b.Failure
	}
	assert.Equal(t, 1, ok)
	assert.Equal(t, 1, bad)

	dev, err := e.m.SessionsPerDevice(t.Context(), "", t0.Add(-time.Hour), t0.Add(time.Hour), 10)
	require.NoError(t, err)
	assert.Equal(t, []audit.Count{{Key: "laptop", N: 1}}, dev)

	unused, err := e.m.UnusedGrants(t.Context(), "acme", t0.Add(-time.Hour), t0.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, []authv2.UnusedGrant{{Role: "clerk", Permission: "orders:read"}, {Role: "clerk", Permission: "refunds:create"}}, unused)

	_, err = e.m.LoginCounts(t.Context(), "", t0, t0.Add(-time.Hour), time.Hour)
	assert.ErrorIs(t, err, audit.ErrInvalidQuery)
}

// TestUnusedGrantsCountsEveryUse: with default settings allowed decisions
// are not audited (AuditAllowRate 0), yet a grant used 100 times is used.
// Use is per role and grant, not per permission: manager's refunds:* is
// unused though clerk's refunds:create was; and templates count. Before
// grant use was counted, every grant here was reported unused.
func TestUnusedGrantsCountsEveryUse(t *testing.T) {
	as := memory.NewAuditStore()
	e := newEnv(t, authv2.WithAuditStore(as))
	ctx := t.Context()
	p, _ := shop(t, e)
	require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: permission.GlobalTenant, Name: "viewer",
		Grants: []permission.Grant{{Permission: "invoices:read", Effect: permission.Allow}, {Permission: "invoices:list", Effect: permission.Allow}}}))
	require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: permission.GlobalTenant, Name: "unbound",
		Grants: []permission.Grant{{Permission: "x:y", Effect: permission.Allow}}}))
	require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "clerk", Parents: []string{"viewer"}, Grants: []permission.Grant{
		{Permission: "orders:read", Effect: permission.Allow},
		{Permission: "refunds:create", Effect: permission.Allow, Condition: "request.amount <= 500.0"},
		{Permission: "orders:delete", Effect: permission.Deny},
	}}))
	for range 100 {
		require.True(t, e.m.Can(ctx, p, "read", order("region:eu/store:42")))
	}
	d, err := e.m.AuthorizeRequest(ctx, p, "create", permission.Resource{Type: "refunds", TenantID: "acme", Scope: "region:eu/store:42"},
		permission.Request{Attributes: map[string]any{"amount": 100}})
	require.NoError(t, err)
	require.True(t, d.Allowed)
	require.True(t, e.m.Can(ctx, p, "read", permission.Resource{Type: "invoices", TenantID: "acme", Scope: "region:eu/store:42"}))
	require.NoError(t, e.m.FlushAudit(ctx))

	unused, err := e.m.UnusedGrants(ctx, "acme", t0.Add(-time.Hour), t0.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, []authv2.UnusedGrant{{Role: "manager", Permission: "refunds:*"}, {Role: "viewer", Permission: "invoices:list", Template: true}}, unused)
	unused, err = e.m.UnusedGrants(ctx, "acme", t0.Add(time.Hour), t0.Add(2*time.Hour))
	require.NoError(t, err)
	assert.Len(t, unused, 5, "nothing was used in a later window")
	unused, err = e.m.UnusedGrants(ctx, "globex", t0.Add(-time.Hour), t0.Add(time.Hour))
	require.NoError(t, err)
	assert.Empty(t, unused, "globex has no roles and binds no template")

}

func TestAuditQueriesNeedAStore(t *testing.T) {
	e := newEnv(t)
	_, err := e.m.QueryAudit(t.Context(), audit.Query{})
	assert.ErrorIs(t, err, authv2.ErrNoAuditStore)
	_, err = e.m.TopDenied(t.Context(), "", t0, t0.Add(time.Hour), 5)
	assert.ErrorIs(t, err, authv2.ErrNoAuditStore)
}

// slowSink takes its time, so Close has queued events to deliver.
type slowSink struct{ *audit.MemorySink }

func (s slowSink) Write(ctx context.Context, events []audit.Event) error {
	time.Sleep(time.Millisecond)
	return s.MemorySink.Write(ctx, events)
}

func TestCloseDeliversQueuedAuditEvents(t *testing.T) {
	sink := slowSink{audit.NewMemorySink()}
	cfg := authv2test.Config()
	cfg.AuditBatchSize = 1
	m, err := authv2.New(authv2.WithConfig(cfg), authv2.WithInsecurePasswordHashing(), authv2.WithAuditSink(sink))
	require.NoError(t, err)
	for i := range 50 {
		_, err := m.CreateTenant(t.Context(), string(rune('a'+i%26))+string(rune('a'+i/26)), "t")
		require.NoError(t, err)
	}
	require.NoError(t, m.Close(context.Background()))
	assert.Len(t, sink.Events(), 50, "Close flushes the queue")
}

// failingSink never succeeds.
type failingSink struct{}

func (failingSink) Write(context.Context, []audit.Event) error { return assert.AnError }

// fastRetries retries failed audit writes every millisecond.
func fastRetries() authv2.Config {
	cfg := authv2test.Config()
	cfg.AuditBackoffMin, cfg.AuditBackoffMax = time.Millisecond, time.Millisecond
	return cfg
}

func TestCloseReportsUndeliveredEvents(t *testing.T) {
	m, err := authv2.New(authv2.WithConfig(fastRetries()), authv2.WithInsecurePasswordHashing(), authv2.WithAuditSink(failingSink{}),
		authv2.WithLogger(discardLogger()))
	require.NoError(t, err)
	_, err = m.CreateTenant(t.Context(), "x", "X")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = m.Close(ctx)
	var ue *audit.UndeliveredError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, 1, ue.Events)
}

// TestSinkFailuresReachSlogDefault: with no WithLogger, a failing audit
// sink is reported through slog.Default (not a discard logger).
func TestSinkFailuresReachSlogDefault(t *testing.T) {
	var buf syncBuffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	m, err := authv2.New(authv2.WithConfig(fastRetries()), authv2.WithInsecurePasswordHashing(), authv2.WithAuditSink(failingSink{}))
	require.NoError(t, err)
	_, err = m.CreateTenant(t.Context(), "x", "X")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.Error(t, m.Close(ctx))
	assert.Contains(t, buf.String(), "audit", "the sink failure is logged")
}

// TestLoginCountsNotInflatedByAnonymousFailures: a failed login counts in
// a tenant only when its user exists and belongs to it. Before, the
// tenant the anonymous caller typed was recorded, so anyone could add
// failures to any tenant's LoginCounts.
func TestLoginCountsNotInflatedByAnonymousFailures(t *testing.T) {
	as := memory.NewAuditStore()
	e := newEnv(t, authv2.WithAuditStore(as))
	ctx := t.Context()
	for _, id := range []string{"acme", "globex"} {
		_, err := e.m.CreateTenant(ctx, id, id)
		require.NoError(t, err)
	}
	_, err := e.m.Register(ctx, authv2.RegisterInput{Email: "g@example.com", Password: goodPassword, TenantID: "globex"})
	require.NoError(t, err)
	for _, in := range []authv2.LoginInput{
		{Email: "nobody@example.com", Password: "wrong password!", TenantID: "acme"}, // unknown user
		{Email: "g@example.com", Password: "wrong password!", TenantID: "acme"},      // not acme's
		{Email: "g@example.com", Password: "wrong password!", TenantID: "globex"},    // an attack on globex's user
		{Email: "g@example.com", Password: "wrong password!"},                        // default tenant: globex
	} {
		_, err := e.m.Login(ctx, in)
		require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
	}
	require.NoError(t, e.m.FlushAudit(ctx))
	failures := func(tenant string) int {
		counts, err := e.m.LoginCounts(ctx, tenant, t0.Add(-time.Hour), t0.Add(time.Hour), 2*time.Hour)
		require.NoError(t, err)
		n := 0
		for _, b := range counts {
			n += b.Failure
		}
		return n
	}
	assert.Zero(t, failures("acme"), "failures naming acme for users not in it")
	assert.Equal(t, 2, failures("globex"))
	assert.Equal(t, 4, failures(""), "every failure still counts overall")
}

// TestAuditReadsNarrowedToTheActorsTenant: an actor whose session is in a
// tenant reads that tenant's audit only, whatever tenant the query names;
// a platform actor (in no tenant) reads every tenant. Before, a tenant
// administrator's empty or foreign TenantID read every tenant's events.
func TestAuditReadsNarrowedToTheActorsTenant(t *testing.T) {
	as := memory.NewAuditStore()
	e := newEnv(t, authv2.WithAuditStore(as))
	for _, id := range []string{"acme", "globex"} {
		_, err := e.m.CreateTenant(t.Context(), id, id)
		require.NoError(t, err)
		_, err = e.m.Register(t.Context(), authv2.RegisterInput{Email: id + "@example.com", Password: goodPassword, TenantID: id})
		require.NoError(t, err)
		e.login(t, id+"@example.com")
	}
	require.NoError(t, e.m.FlushAudit(t.Context()))
	acmeAdmin := authv2.WithPrincipal(t.Context(), &authv2.Principal{UserID: "a", SessionID: "s", TenantID: "acme"})

	page, err := e.m.QueryAudit(acmeAdmin, audit.Query{})
	require.NoError(t, err)
	require.NotEmpty(t, page.Events)
	for _, ev := range page.Events {
		assert.Equal(t, "acme", ev.TenantID, ev.Type)
	}
	_, err = e.m.QueryAudit(acmeAdmin, audit.Query{TenantID: "globex"})
	assert.ErrorIs(t, err, authv2.ErrNotMember)
	_, err = e.m.LoginCounts(acmeAdmin, "globex", t0.Add(-time.Hour), t0.Add(time.Hour), time.Hour)
	assert.ErrorIs(t, err, authv2.ErrNotMember)
	_, err = e.m.SessionsPerDevice(acmeAdmin, "globex", t0.Add(-time.Hour), t0.Add(time.Hour), 10)
	assert.ErrorIs(t, err, authv2.ErrNotMember)
	_, err = e.m.TopDenied(acmeAdmin, "globex", t0.Add(-time.Hour), t0.Add(time.Hour), 10)
	assert.ErrorIs(t, err, authv2.ErrNotMember)
	_, err = e.m.UnusedGrants(acmeAdmin, "globex", t0.Add(-time.Hour), t0.Add(time.Hour))
	assert.ErrorIs(t, err, authv2.ErrNotMember)
	counts, err := e.m.LoginCounts(acmeAdmin, "", t0.Add(-time.Hour), t0.Add(time.Hour), 2*time.Hour)
	require.NoError(t, err)
	require.Len(t, counts, 1)
	assert.Equal(t, 1, counts[0].Success, "acme's login only")

	platform := authv2.WithActor(acmeAdmin, &authv2.Principal{UserID: "root"})
	page, err = e.m.QueryAudit(platform, audit.Query{TenantID: "globex"})
	require.NoError(t, err)
	assert.NotEmpty(t, page.Events)
	counts, err = e.m.LoginCounts(platform, "", t0.Add(-time.Hour), t0.Add(time.Hour), 2*time.Hour)
	require.NoError(t, err)
	assert.Equal(t, 2, counts[0].Success, "an actor in no tenant reads every tenant")
}
