package authv2_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/memory"
)

// shop sets up tenant acme with clerks (refunds up to 500) and managers
// (any refund), and returns a principal of a clerk at store 42.
func shop(t testing.TB, e *env) (*authv2.Principal, string) {
	t.Helper()
	ctx := context.Background()
	for _, id := range []string{"acme", "globex"} {
		_, err := e.m.CreateTenant(ctx, id, id)
		require.NoError(t, err)
	}
	require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "clerk", Grants: []permission.Grant{
		{Permission: "orders:read", Effect: permission.Allow},
		{Permission: "refunds:create", Effect: permission.Allow, Condition: "request.amount <= 500.0"},
		{Permission: "orders:delete", Effect: permission.Deny},
	}}))
	require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "manager", Parents: []string{"clerk"},
		Grants: []permission.Grant{{Permission: "refunds:*", Effect: permission.Allow}}}))
	u, err := e.m.Register(ctx, authv2.RegisterInput{Email: "clerk@acme.test", Password: goodPassword, TenantID: "acme"})
	require.NoError(t, err)
	require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: u.ID, TenantID: "acme", Role: "clerk", Scope: "region:eu/store:42"}))
	res := e.login(t, "clerk@acme.test")
	p, err := e.m.Authenticate(ctx, res.Token, session.ClientInfo{IP: "192.0.2.10"})
	require.NoError(t, err)
	return p, u.ID
}

func order(scope string) permission.Resource {
	return permission.Resource{Type: "orders", ID: "o-1", TenantID: "acme", Scope: scope}
}

func TestAuthorize(t *testing.T) {
	e := newEnv(t)
	p, userID := shop(t, e)
	ctx := t.Context()

	d, err := e.m.Authorize(ctx, p, "read", order("region:eu/store:42"))
	require.NoError(t, err)
	assert.True(t, d.Allowed)
	assert.Equal(t, "clerk", d.Rule().Role)
	assert.True(t, e.m.Can(ctx, p, "read", order("region:eu/store:42/till:3")), "a binding covers everything below its scope")
	assert.False(t, e.m.Can(ctx, p, "read", order("region:eu/store:43")), "but not a sibling store")
	assert.False(t, e.m.Can(ctx, p, "delete", order("region:eu/store:42")), "deny grant")
	assert.False(t, e.m.Can(ctx, p, "read", permission.Resource{Type: "invoices", TenantID: "acme", Scope: "region:eu/store:42"}), "nothing matching is deny")

	other := order("region:eu/store:42")
	other.TenantID = "globex"
	assert.False(t, e.m.Can(ctx, p, "read", other), "another tenant's resource is always deny")

	refund := permission.Resource{Type: "refunds", ID: "r-1", TenantID: "acme", Scope: "region:eu/store:42"}
	d, err = e.m.AuthorizeRequest(ctx, p, "create", refund, permission.Request{Attributes: map[string]any{"amount": 120.0}})
	require.NoError(t, err)
	assert.True(t, d.Allowed, "business rule: a clerk refunds up to 500")
	d, err = e.m.AuthorizeRequest(ctx, p, "create", refund, permission.Request{Attributes: map[string]any{"amount": 900.0}})
	require.NoError(t, err)
	assert.False(t, d.Allowed, "over 500 needs a manager")

	require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: userID, TenantID: "acme", Role: "manager", Scope: "region:eu"}))
	d, err = e.m.AuthorizeRequest(ctx, p, "create", refund, permission.Request{Attributes: map[string]any{"amount": 900.0}})
	require.NoError(t, err)
	assert.True(t, d.Allowed, "a new binding takes effect at the next check")
	assert.False(t, e.m.Can(ctx, p, "delete", order("region:eu/store:42")), "deny still beats the manager's allows")

	_, err = e.m.Authorize(ctx, nil, "read", order(""))
	assert.ErrorIs(t, err, authv2.ErrUnauthenticated)
	_, err = e.m.Authorize(ctx, p, "*", order(""))
	assert.ErrorIs(t, err, permission.ErrInvalidRequest)

	denials := e.sink.OfType(audit.TypeAuthorizeDecision)
	require.NotEmpty(t, denials)
	for _, ev := range denials {
		assert.Equal(t, audit.Denied, ev.Outcome, "allows are not audited at the default rate 0")
		assert.NotEmpty(t, ev.DecisionID)
		assert.NotEmpty(t, ev.Attributes[audit.AttrAction])
	}
}

// envAuditingAllows is the shop with Config.AuditAllowRate set to rate.
func envAuditingAllows(t *testing.T, rate float64) (*env, *authv2.Principal) {
	t.Helper()
	cfg := authv2test.Config()
	cfg.AuditAllowRate = rate
	e := newEnv(t, authv2.WithConfig(cfg))
	p, _ := shop(t, e)
	return e, p
}

func TestAuthorizeAuditsAllowsAtRateOne(t *testing.T) {
	e, p := envAuditingAllows(t, 1)
	d, err := e.m.Authorize(t.Context(), p, "read", order("region:eu/store:42"))
	require.NoError(t, err)
	events := e.sink.OfType(audit.TypeAuthorizeDecision)
	require.Len(t, events, 1)
	assert.Equal(t, audit.Success, events[0].Outcome)
	assert.Equal(t, d.ID.String(), events[0].DecisionID, "the audit event carries the decision ID")
}

// A fractional rate audits about that share of allows: the sample comes
// from the decision ID's random half.
func TestAuthorizeAuditsAllowsAtFractionalRate(t *testing.T) {
	e, p := envAuditingAllows(t, 0.25)
	const n = 4000
	for range n {
		require.True(t, e.m.Can(t.Context(), p, "read", order("region:eu/store:42")))
	}
	require.NoError(t, e.m.FlushAudit(t.Context()))
	// Identical allows fold into one event with their count
	// (DecisionRepeatWindow): the counts add up to the sample.
	got := decisionsCounted(e.sink.OfType(audit.TypeAuthorizeDecision))
	// 1,000 expected; the bounds are seven standard deviations away.
	assert.InDelta(t, n/4, got, 200, "audited allows")
}

func TestSessionWithoutTenantIsDeniedEverything(t *testing.T) {
	e := newEnv(t)
	_, _ = shop(t, e)
	e.register(t, "loner@example.com")
	res := e.login(t, "loner@example.com")
	p, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	assert.False(t, e.m.Can(t.Context(), p, "read", order("")))
}

func TestExplainEffectiveWho(t *testing.T) {
	e := newEnv(t)
	p, userID := shop(t, e)
	x, err := e.m.Explain(t.Context(), p, "delete", order("region:eu/store:42"), permission.Request{})
	require.NoError(t, err)
	assert.False(t, x.Decision.Allowed)
	assert.NotEmpty(t, x.Grants)
	assert.Contains(t, x.String(), "delete")

	rules, err := e.m.EffectivePermissions(t.Context(), userID, "acme", "region:eu/store:42")
	require.NoError(t, err)
	var perms []string
	for _, r := range rules {
		perms = append(perms, r.Permission)
	}
	assert.Contains(t, perms, "orders:read")

	who, err := e.m.Who(t.Context(), "acme", "read", order("region:eu/store:42"))
	require.NoError(t, err)
	assert.Equal(t, []string{userID}, who)
}

func TestPutRoleRejectsBrokenConditions(t *testing.T) {
	e := newEnv(t)
	_, err := e.m.CreateTenant(t.Context(), "acme", "Acme")
	require.NoError(t, err)
	err = e.m.PutRole(t.Context(), &permission.Role{TenantID: "acme", Name: "bad", Grants: []permission.Grant{
		{Permission: "refunds:create", Effect: permission.Allow, Condition: "request.amount <= "},
		{Permission: "not a permission", Effect: permission.Allow},
	}})
	require.ErrorIs(t, err, authv2.ErrValidation)
	var ve *authv2.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Len(t, ve.Fields, 2, "every problem at once")
	var ce *permission.ConditionError
	require.ErrorAs(t, err, &ce, "the CEL error with its position is reachable")
	assert.NotEmpty(t, ce.Issues)
	_, err = e.m.ListRoles(t.Context(), "acme")
	require.NoError(t, err)
}

// Two instances share stores; a revocation on A is denied on B within 100 ms.
func TestRevocationReachesAnotherInstance(t *testing.T) {
	for name, withBus := range map[string]bool{"bus": true, "polling": false} {
		t.Run(name, func(t *testing.T) {
			stores := memory.New()
			bus := permission.NewLocalBus()
			mk := func() *authv2.Manager {
				opts := []authv2.Option{authv2.WithConfig(authv2test.Config()), authv2.WithInsecurePasswordHashing(), authv2.WithUserStore(stores.Users),
					authv2.WithSessionStore(stores.Sessions), authv2.WithPermissionStore(stores.Permissions)}
				if withBus {
					opts = append(opts, authv2.WithPolicyBus(bus))
				}
				m, err := authv2.New(opts...)
				require.NoError(t, err)
				t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
				return m
			}
			assertRevocationReaches(t, mk(), mk())
		})
	}
}

func TestRoles(t *testing.T) {
	e := newEnv(t)
	p, userID := shop(t, e)
	require.NoError(t, e.m.Bind(t.Context(), permission.Binding{UserID: userID, TenantID: "acme", Role: "manager", Scope: "region:eu",
		ExpiresAt: t0.Add(time.Hour)}))
	roles, err := e.m.Roles(t.Context(), p)
	require.NoError(t, err)
	assert.Equal(t, []string{"clerk", "manager"}, roles)
	e.clock.Advance(2 * time.Hour)
	roles, err = e.m.Roles(t.Context(), p)
	require.NoError(t, err)
	assert.Equal(t, []string{"clerk"}, roles, "an expired binding no longer counts")
	_, err = e.m.Roles(t.Context(), nil)
	assert.ErrorIs(t, err, authv2.ErrUnauthenticated)
}

// assertRevocationReaches binds a user on instance a, lets instance b
// allow them, removes the binding on a, and requires b to deny within
// 100 ms.
func assertRevocationReaches(t *testing.T, a, b *authv2.Manager) {
	t.Helper()
	ctx := t.Context()
	_, err := a.CreateTenant(ctx, "acme", "Acme")
	require.NoError(t, err)
	require.NoError(t, a.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "viewer",
		Grants: []permission.Grant{{Permission: "orders:read", Effect: permission.Allow}}}))
	u, err := a.Register(ctx, authv2.RegisterInput{Email: "two@acme.test", Password: goodPassword, TenantID: "acme"})
	require.NoError(t, err)
	binding := permission.Binding{UserID: u.ID, TenantID: "acme", Role: "viewer"}
	require.NoError(t, a.Bind(ctx, binding))
	res, err := b.Login(ctx, authv2.LoginInput{Email: "two@acme.test", Password: goodPassword})
	require.NoError(t, err)
	p, err := b.Authenticate(ctx, res.Token, session.ClientInfo{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.Can(ctx, p, "read", order("")) }, 2*time.Second, time.Millisecond)

	require.NoError(t, a.Unbind(ctx, binding))
	revoked := time.Now()
	require.Eventually(t, func() bool { return !b.Can(ctx, p, "read", order("")) }, 100*time.Millisecond, time.Millisecond,
		"instance B still allowed %v after the revocation on A", time.Since(revoked))
}

func TestAuthorizeBatchAndTopDenied(t *testing.T) {
	as := memory.NewAuditStore()
	e := newEnv(t, authv2.WithAuditStore(as))
	p, _ := shop(t, e)
	ds, err := e.m.AuthorizeBatch(t.Context(), p, []permission.Query{
		{Action: "read", Resource: order("region:eu/store:42")},
		{Action: "delete", Resource: order("region:eu/store:42")},
		{Action: "delete", Resource: order("region:eu/store:42")},
	}, permission.Request{})
	require.NoError(t, err)
	require.Len(t, ds, 3)
	assert.True(t, ds[0].Allowed)
	assert.False(t, ds[1].Allowed)
	_, err = e.m.AuthorizeBatch(t.Context(), nil, nil, permission.Request{})
	assert.ErrorIs(t, err, authv2.ErrUnauthenticated)

	require.NoError(t, e.m.FlushAudit(t.Context()))
	top, err := e.m.TopDenied(t.Context(), "acme", t0.Add(-time.Hour), t0.Add(time.Hour), 5)
	require.NoError(t, err)
	assert.Equal(t, []audit.Count{{Key: "orders:delete", N: 2}}, top)
	_, err = e.m.Explain(t.Context(), nil, "read", order(""), permission.Request{})
	assert.ErrorIs(t, err, authv2.ErrUnauthenticated)
}
