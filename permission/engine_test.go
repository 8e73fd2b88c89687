package permission_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

var noReq = permission.Request{}

func TestAuthorizeSemantics(t *testing.T) {
	f := newFixture(t, "acme", "globex")
	f.role(permission.GlobalTenant, "viewer", nil, allow("*:read"))
	f.role("acme", "clerk", []string{"viewer"}, allow("orders:write"), deny("orders:delete"))
	f.role("acme", "manager", []string{"clerk"}, allow("orders:*"), allow("reports:export"))
	f.role("acme", "auditor", nil, allow("*"), deny("secrets:*"))
	f.bind("acme", "clerk-eu", "clerk", "region:eu/store:42")
	f.bind("acme", "mgr-eu", "manager", "region:eu")
	f.bind("acme", "aud", "auditor", "")
	e := f.engine()
	ctx := context.Background()

	cases := []struct {
		name, user, action, typ, scope string
		want                           bool
		reason                         permission.Reason
	}{
		{"own store, own grant", "clerk-eu", "write", "orders", "region:eu/store:42", true, permission.ReasonAllowed},
		{"below own store", "clerk-eu", "write", "orders", "region:eu/store:42/till:3", true, permission.ReasonAllowed},
		{"inherited template grant", "clerk-eu", "read", "invoices", "region:eu/store:42", true, permission.ReasonAllowed},
		{"other store", "clerk-eu", "write", "orders", "region:eu/store:43", false, permission.ReasonNoMatch},
		{"prefix is not a segment", "clerk-eu", "write", "orders", "region:eu/store:420", false, permission.ReasonNoMatch},
		{"above own store", "clerk-eu", "write", "orders", "region:eu", false, permission.ReasonNoMatch},
		{"manager covers stores", "mgr-eu", "write", "orders", "region:eu/store:42", true, permission.ReasonAllowed},
		{"manager not in eu2", "mgr-eu", "write", "orders", "region:eu2", false, permission.ReasonNoMatch},
		{"deny inherited beats allow of child", "mgr-eu", "delete", "orders", "region:eu/store:1", false, permission.ReasonDenied},
		{"no grant", "clerk-eu", "export", "reports", "region:eu/store:42", false, permission.ReasonNoMatch},
		{"star allows", "aud", "anything", "widgets", "x:1", true, permission.ReasonAllowed},
		{"deny beats star", "aud", "read", "secrets", "", false, permission.ReasonDenied},
		{"unknown user", "nobody", "read", "orders", "", false, permission.ReasonNoMatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := e.Authorize(ctx, subject("acme", c.user), c.action, resource("acme", c.typ, c.scope), noReq)
			require.NoError(t, err)
			assert.Equal(t, c.want, d.Allowed)
			assert.Equal(t, c.reason, d.Reason)
			assert.False(t, d.ID.IsZero())
			if c.want {
				assert.Equal(t, permission.Allow, d.Effect)
				assert.NotEmpty(t, d.Rule().Role)
			} else {
				assert.Equal(t, permission.Deny, d.Effect)
			}
			assert.Equal(t, c.want, e.Check(ctx, subject("acme", c.user), c.action, resource("acme", c.typ, c.scope), noReq))
		})
	}

	t.Run("rule names the grant", func(t *testing.T) {
		d, err := e.Authorize(ctx, subject("acme", "clerk-eu"), "read", resource("acme", "orders", "region:eu/store:42"), noReq)
		require.NoError(t, err)
		assert.Equal(t, permission.Rule{Role: "viewer", BoundRole: "clerk", Scope: "region:eu/store:42", Permission: "*:read", Effect: permission.Allow}, d.Rule())
		d, err = e.Authorize(ctx, subject("acme", "mgr-eu"), "delete", resource("acme", "orders", "region:eu"), noReq)
		require.NoError(t, err)
		assert.Equal(t, permission.Rule{Role: "clerk", BoundRole: "manager", Scope: "region:eu", Permission: "orders:delete", Effect: permission.Deny}, d.Rule())
	})
}

func TestTenantBoundary(t *testing.T) {
	f := newFixture(t, "acme", "globex")
	f.role("acme", "admin", nil, allow("*"))
	f.role("globex", "admin", nil, allow("*"))
	f.bind("acme", "u", "admin", "")
	e := f.engine()
	ctx := context.Background()

	d, err := e.Authorize(ctx, subject("acme", "u"), "read", resource("globex", "orders", ""), noReq)
	require.NoError(t, err)
	assert.False(t, d.Allowed)
	assert.Equal(t, permission.ReasonCrossTenant, d.Reason)

	d, err = e.Authorize(ctx, subject("acme", "u"), "read", resource("", "orders", ""), noReq)
	require.NoError(t, err)
	assert.False(t, d.Allowed, "a resource without a tenant is not assumed to be the subject's")
	assert.Equal(t, permission.ReasonCrossTenant, d.Reason)

	// The user has no binding in globex: acting there gets nothing.
	d, err = e.Authorize(ctx, subject("globex", "u"), "read", resource("globex", "orders", ""), noReq)
	require.NoError(t, err)
	assert.False(t, d.Allowed)

	d, err = e.Authorize(ctx, subject("", "u"), "read", resource("", "orders", ""), noReq)
	require.NoError(t, err)
	assert.Equal(t, permission.ReasonNoTenant, d.Reason)

	d, err = e.Authorize(ctx, subject("acme", ""), "read", resource("acme", "orders", ""), noReq)
	require.NoError(t, err)
	assert.Equal(t, permission.ReasonAnonymous, d.Reason)
	assert.False(t, d.Allowed)
}

func TestTenantRoleShadowsTemplate(t *testing.T) {
	f := newFixture(t, "acme", "globex")
	f.role(permission.GlobalTenant, "staff", nil, allow("orders:read"))
	f.role("acme", "staff", nil, allow("invoices:read"))
	f.bind("acme", "a", "staff", "")
	f.bind("globex", "g", "staff", "")
	e := f.engine()
	ctx := context.Background()
	assert.False(t, e.Check(ctx, subject("acme", "a"), "read", resource("acme", "orders", ""), noReq))
	assert.True(t, e.Check(ctx, subject("acme", "a"), "read", resource("acme", "invoices", ""), noReq))
	assert.True(t, e.Check(ctx, subject("globex", "g"), "read", resource("globex", "orders", ""), noReq))
	assert.False(t, e.Check(ctx, subject("globex", "g"), "read", resource("globex", "invoices", ""), noReq))
}

func TestMultipleInheritance(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "base", nil, allow("a:x"))
	f.role("acme", "left", []string{"base"}, allow("b:x"))
	f.role("acme", "right", []string{"base"}, deny("c:x"), allow("d:x"))
	f.role("acme", "child", []string{"left", "right"}, allow("c:x"))
	f.bind("acme", "u", "child", "")
	e := f.engine()
	ctx := context.Background()
	for typ, want := range map[string]bool{"a": true, "b": true, "c": false, "d": true, "e": false} {
		assert.Equal(t, want, e.Check(ctx, subject("acme", "u"), "x", resource("acme", typ, ""), noReq), typ)
	}
}

func TestSessionScopeNarrows(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "admin", nil, allow("*"))
	f.bind("acme", "u", "admin", "")
	e := f.engine()
	ctx := context.Background()
	s := permission.Subject{UserID: "u", TenantID: "acme", Scope: "region:eu"}
	assert.True(t, e.Check(ctx, s, "read", resource("acme", "orders", "region:eu/store:1"), noReq))
	d, err := e.Authorize(ctx, s, "read", resource("acme", "orders", "region:us"), noReq)
	require.NoError(t, err)
	assert.False(t, d.Allowed)
	assert.Equal(t, permission.ReasonOutsideScope, d.Reason)
}

func TestInvalidRequests(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "admin", nil, allow("*"))
	f.bind("acme", "u", "admin", "")
	e := f.engine()
	ctx := context.Background()
	for _, c := range []struct{ action, typ string }{{"", "orders"}, {"read", ""}, {"*", "orders"}, {"read", "*"}} {
		d, err := e.Authorize(ctx, subject("acme", "u"), c.action, resource("acme", c.typ, ""), noReq)
		assert.ErrorIs(t, err, permission.ErrInvalidRequest)
		assert.False(t, d.Allowed)
		assert.Equal(t, permission.ReasonInvalid, d.Reason)
	}
}

func TestConditions(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "approver", nil,
		allowIf("payments:approve", "request.amount <= 500.0"),
		allowIf("orders:edit", "resource.owner == principal.id"),
		allowIf("orders:read", `request.time.getHours() >= 8 && request.time.getHours() < 18`),
		allowIf("reports:read", `"auditor" in principal.roles || principal.attributes.level >= 3`),
		denyIf("payments:approve", "has(request.flagged) && request.flagged"),
		denyIf("refunds:approve", "request.missing > 1"), // errors at run time: fails closed
		allow("refunds:approve"),
	)
	f.bind("acme", "u", "approver", "")
	clock := &fakeClock{now: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	e := f.engine(permission.WithClock(clock))
	ctx := context.Background()
	s := subject("acme", "u")
	pay := resource("acme", "payments", "")
	req := func(kv ...any) permission.Request {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return permission.Request{Attributes: m}
	}
	assert.True(t, e.Check(ctx, s, "approve", pay, req("amount", 120)), "int compared with double")
	assert.True(t, e.Check(ctx, s, "approve", pay, req("amount", 500.0)))
	assert.False(t, e.Check(ctx, s, "approve", pay, req("amount", 501)))
	assert.False(t, e.Check(ctx, s, "approve", pay, req("amount", 10, "flagged", true)), "deny condition")
	d, err := e.Authorize(ctx, s, "approve", pay, req())
	require.NoError(t, err)
	assert.False(t, d.Allowed, "missing attribute: the allow does not match")
	assert.Equal(t, permission.ReasonAllowCondFail, d.Reason)

	d, err = e.Authorize(ctx, s, "approve", resource("acme", "refunds", ""), req())
	require.NoError(t, err)
	assert.False(t, d.Allowed, "a deny whose condition errors denies")
	assert.Equal(t, permission.ReasonConditionErr, d.Reason)

	own := permission.Resource{TenantID: "acme", Type: "orders", ID: "o1", Attributes: map[string]any{"owner": "u"}}
	other := permission.Resource{TenantID: "acme", Type: "orders", ID: "o2", Attributes: map[string]any{"owner": "v"}}
	assert.True(t, e.Check(ctx, s, "edit", own, noReq))
	assert.False(t, e.Check(ctx, s, "edit", other, noReq))

	assert.True(t, e.Check(ctx, s, "read", resource("acme", "orders", ""), noReq), "09:00 by the engine clock")
	assert.False(t, e.Check(ctx, s, "read", resource("acme", "orders", ""), permission.Request{Time: time.Date(2026, 1, 5, 20, 0, 0, 0, time.UTC)}))

	senior := permission.Subject{UserID: "u", TenantID: "acme", Attributes: map[string]any{"level": 3}}
	assert.True(t, e.Check(ctx, senior, "read", resource("acme", "reports", ""), noReq))
	assert.False(t, e.Check(ctx, s, "read", resource("acme", "reports", ""), noReq))
}

func TestConditionCannotSpoofFixedKeys(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "r", nil, allowIf("docs:read", `principal.id == "boss" && resource.tenant == "acme"`))
	f.bind("acme", "u", "r", "")
	e := f.engine()
	s := permission.Subject{UserID: "u", TenantID: "acme", Attributes: map[string]any{"id": "boss"}}
	assert.False(t, e.Check(context.Background(), s, "read", resource("acme", "docs", ""), noReq))
}

func TestCostLimit(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "r", nil, allowIf("docs:read", `request.items.all(x, request.items.all(y, x + y >= 0))`))
	f.bind("acme", "u", "r", "")
	e := f.engine(permission.WithCostLimit(1000))
	items := make([]any, 200)
	for i := range items {
		items[i] = i
	}
	d, err := e.Authorize(context.Background(), subject("acme", "u"), "read", resource("acme", "docs", ""), permission.Request{Attributes: map[string]any{"items": items}})
	require.NoError(t, err)
	assert.False(t, d.Allowed)
	assert.Equal(t, permission.ReasonAllowCondFail, d.Reason)
	d, err = e.Authorize(context.Background(), subject("acme", "u"), "read", resource("acme", "docs", ""), permission.Request{Attributes: map[string]any{"items": []any{1, 2}}})
	require.NoError(t, err)
	assert.True(t, d.Allowed)
}

func TestCustomFunction(t *testing.T) {
	f := newFixture(t, "acme")
	e := f.engine(permission.WithFunction("isEven",
		cel.Overload("isEven_int", []*cel.Type{cel.IntType}, cel.BoolType,
			cel.UnaryBinding(func(v ref.Val) ref.Val { return types.Bool(v.(types.Int)%2 == 0) }))))
	r := &permission.Role{TenantID: "acme", Name: "even", Grants: []permission.Grant{allowIf("n:check", "isEven(int(request.n))")}}
	require.NoError(t, e.ValidateRole(r))
	require.NoError(t, f.store.PutRole(context.Background(), r))
	f.bind("acme", "u", "even", "")
	assert.True(t, e.Check(context.Background(), subject("acme", "u"), "check", resource("acme", "n", ""), permission.Request{Attributes: map[string]any{"n": 4}}))
	assert.False(t, e.Check(context.Background(), subject("acme", "u"), "check", resource("acme", "n", ""), permission.Request{Attributes: map[string]any{"n": 3}}))

	// Without the function the same role is refused at write.
	plain := newFixture(t, "acme").engine()
	assert.ErrorIs(t, plain.ValidateRole(r), permission.ErrInvalidCondition)
}

func TestValidateRole(t *testing.T) {
	e := newFixture(t).engine()
	ok := &permission.Role{TenantID: "acme", Name: "clerk", Parents: []string{"viewer"}, Grants: []permission.Grant{
		allow("orders:read"), deny("orders:*"), allowIf("*:read", "request.amount < 10"),
	}}
	require.NoError(t, e.ValidateRole(ok))

	bad := &permission.Role{TenantID: "acme", Name: "bad name", Parents: []string{"bad name", "x", "x"}, Grants: []permission.Grant{
		{Permission: "Orders:read", Effect: permission.Allow},
		{Permission: "orders:read", Effect: "maybe"},
		{Permission: "orders:read", Effect: permission.Allow, Condition: "request.amount <"},
		{Permission: "orders:read", Effect: permission.Allow, Condition: "request.amount + 1"},
		{Permission: "orders:read", Effect: permission.Allow, Condition: "nosuch.x == 1"},
	}}
	err := e.ValidateRole(bad)
	require.Error(t, err)
	assert.ErrorIs(t, err, permission.ErrInvalidRole)
	assert.ErrorIs(t, err, permission.ErrInvalidCondition)
	assert.ErrorIs(t, err, permission.ErrInvalidPermission)
	var ie *permission.InvalidRoleError
	require.True(t, errors.As(err, &ie))
	var fields []string
	for _, p := range ie.Problems {
		fields = append(fields, p.Field)
	}
	assert.Equal(t, []string{"Name", "Parents[0]", "Parents[2]", "Grants[0].Permission", "Grants[1].Effect",
		"Grants[2].Condition", "Grants[3].Condition", "Grants[4].Condition"}, fields)
	var ce *permission.ConditionError
	require.True(t, errors.As(err, &ce))
	assert.Equal(t, "request.amount <", ce.Condition)
	require.NotEmpty(t, ce.Issues)
	assert.Equal(t, 1, ce.Issues[0].Line)
	assert.Positive(t, ce.Issues[0].Column)
	assert.Contains(t, err.Error(), "Grants[4].Condition")

	require.ErrorIs(t, e.CompileCondition("1 + 1"), permission.ErrInvalidCondition)
	require.NoError(t, e.CompileCondition(`request.ip.startsWith("10.")`))
}

func TestBindingExpiry(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "temp", nil, allow("orders:read"))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, f.store.PutBinding(f.ctx, permission.Binding{TenantID: "acme", UserID: "u", Role: "temp", ExpiresAt: t0.Add(time.Hour)}))
	clock := &fakeClock{now: t0}
	e := f.engine(permission.WithClock(clock))
	ctx := context.Background()
	assert.True(t, e.Check(ctx, subject("acme", "u"), "read", resource("acme", "orders", ""), noReq))
	clock.now = t0.Add(time.Hour - time.Nanosecond)
	assert.True(t, e.Check(ctx, subject("acme", "u"), "read", resource("acme", "orders", ""), noReq))
	clock.now = t0.Add(time.Hour)
	assert.False(t, e.Check(ctx, subject("acme", "u"), "read", resource("acme", "orders", ""), noReq), "expired binding from the cached set")
}

// A role that grants nothing itself can still matter (conditions read
// principal.roles): its binding's expiry retires the cached set too.
func TestExpiryOfARoleWithoutGrants(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "vip", nil)
	f.role("acme", "clerk", nil, allowIf("orders:refund", "'vip' in principal.roles"))
	f.bind("acme", "u", "clerk", "")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, f.store.PutBinding(f.ctx, permission.Binding{TenantID: "acme", UserID: "u", Role: "vip", ExpiresAt: t0.Add(time.Hour)}))
	clock := &fakeClock{now: t0}
	e := f.engine(permission.WithClock(clock), permission.WithMaxStaleness(-1))
	ctx := context.Background()
	assert.True(t, e.Check(ctx, subject("acme", "u"), "refund", resource("acme", "orders", ""), noReq))
	clock.now = t0.Add(2 * time.Hour)
	assert.False(t, e.Check(ctx, subject("acme", "u"), "refund", resource("acme", "orders", ""), noReq), "vip expired an hour ago")
}

// failingStore fails every read after fail is set.
type failingStore struct {
	permission.Store
	mu   sync.Mutex
	fail bool
}

func (s *failingStore) set(b bool) { s.mu.Lock(); s.fail = b; s.mu.Unlock() }
func (s *failingStore) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return store.Unavailable("permission.version", errors.New("connection refused"))
	}
	return nil
}
func (s *failingStore) Version(ctx context.Context, t string) (int64, error) {
	if err := s.err(); err != nil {
		return 0, err
	}
	return s.Store.Version(ctx, t)
}
func (s *failingStore) LoadPolicy(ctx context.Context, t, u string) (*permission.Policy, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.LoadPolicy(ctx, t, u)
}

func TestFailClosedWhenStoreFails(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "admin", nil, allow("*"))
	f.bind("acme", "u", "admin", "")
	fs := &failingStore{Store: f.store}
	e, err := permission.NewEngine(fs, permission.WithMaxStaleness(10*time.Millisecond))
	require.NoError(t, err)
	defer e.Close()
	ctx := context.Background()
	require.True(t, e.Check(ctx, subject("acme", "u"), "read", resource("acme", "orders", ""), noReq))
	fs.set(true)
	// Within the staleness bound the cached set still answers; past it the
	// engine must ask the store, and a failing store means deny.
	require.Eventually(t, func() bool {
		d, err := e.Authorize(ctx, subject("acme", "u"), "read", resource("acme", "orders", ""), noReq)
		return err != nil && !d.Allowed && d.Reason == permission.ReasonError && errors.Is(err, store.ErrUnavailable)
	}, time.Second, time.Millisecond)
	d, err := e.Authorize(ctx, subject("acme", "other"), "read", resource("acme", "orders", ""), noReq)
	require.ErrorIs(t, err, store.ErrUnavailable)
	assert.False(t, d.Allowed)
	fs.set(false)
	assert.True(t, e.Check(ctx, subject("acme", "u"), "read", resource("acme", "orders", ""), noReq))
}

func TestClosedEngine(t *testing.T) {
	f := newFixture(t, "acme")
	e := f.engine()
	require.NoError(t, e.Close())
	require.NoError(t, e.Close())
	d, err := e.Authorize(context.Background(), subject("acme", "u"), "read", resource("acme", "orders", ""), noReq)
	require.ErrorIs(t, err, permission.ErrClosed)
	assert.False(t, d.Allowed)
}

func TestNewEngineOptions(t *testing.T) {
	_, err := permission.NewEngine(nil)
	require.Error(t, err)
	s := newFixture(t).store
	_, err = permission.NewEngine(s, permission.WithCacheSize(-1))
	require.Error(t, err)
	_, err = permission.NewEngine(s, permission.WithCostLimit(0))
	require.Error(t, err)
	_, err = permission.NewEngine(s, permission.WithClock(nil))
	require.Error(t, err)
}

func TestCacheBoundAndNoCache(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "r", nil, allow("a:b"))
	for i := range 50 {
		f.bind("acme", "u"+string(rune('A'+i)), "r", "")
	}
	for _, size := range []int{0, 1, 1000} {
		e := f.engine(permission.WithCacheSize(size))
		for i := range 50 {
			for range 2 {
				assert.True(t, e.Check(context.Background(), subject("acme", "u"+string(rune('A'+i))), "b", resource("acme", "a", ""), noReq))
			}
		}
	}
}

func TestDecisionIDsUnique(t *testing.T) {
	f := newFixture(t, "acme")
	e := f.engine()
	seen := map[permission.DecisionID]bool{}
	for range 10000 {
		d, _ := e.Authorize(context.Background(), subject("acme", "u"), "read", resource("acme", "x", ""), noReq)
		require.False(t, seen[d.ID])
		seen[d.ID] = true
	}
	var id permission.DecisionID
	for k := range seen {
		id = k
		break
	}
	txt, err := id.MarshalText()
	require.NoError(t, err)
	assert.Len(t, txt, 32)
	var back permission.DecisionID
	require.NoError(t, back.UnmarshalText(txt))
	assert.Equal(t, id, back)
	assert.Error(t, back.UnmarshalText([]byte("xyz")))
}

func TestAuthorizeBatch(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "r", nil, allow("orders:read"))
	f.bind("acme", "u", "r", "")
	e := f.engine()
	ds, err := e.AuthorizeBatch(context.Background(), subject("acme", "u"), noReq, []permission.Query{
		{Action: "read", Resource: resource("acme", "orders", "")},
		{Action: "write", Resource: resource("acme", "orders", "")},
		{Action: "read", Resource: resource("other", "orders", "")},
		{Action: "", Resource: resource("acme", "orders", "")},
	})
	require.NoError(t, err)
	require.Len(t, ds, 4)
	assert.True(t, ds[0].Allowed)
	assert.Equal(t, permission.ReasonNoMatch, ds[1].Reason)
	assert.Equal(t, permission.ReasonCrossTenant, ds[2].Reason)
	assert.Equal(t, permission.ReasonInvalid, ds[3].Reason)
	assert.NotEqual(t, ds[0].ID, ds[1].ID)
}

func TestExplainEffectiveWho(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "viewer", nil, allow("orders:read"), allowIf("orders:export", "request.rows < 100"))
	f.role("acme", "clerk", []string{"viewer"}, allow("orders:write"), deny("orders:read"))
	f.bind("acme", "c", "clerk", "store:1")
	f.bind("acme", "v", "viewer", "")
	e := f.engine()
	ctx := context.Background()

	x, err := e.Explain(ctx, subject("acme", "c"), "read", resource("acme", "orders", "store:1"), noReq)
	require.NoError(t, err)
	assert.False(t, x.Decision.Allowed)
	assert.Equal(t, permission.ReasonDenied, x.Decision.Reason)
	require.Len(t, x.Bindings, 1)
	assert.Equal(t, []string{"clerk", "viewer"}, x.Bindings[0].Roles)
	applied := 0
	for _, g := range x.Grants {
		if g.Applied {
			applied++
			assert.Equal(t, "orders:read", g.Rule.Permission)
			assert.Equal(t, permission.Deny, g.Rule.Effect)
		}
	}
	assert.Equal(t, 1, applied)
	assert.Contains(t, x.String(), "DENY")

	x, err = e.Explain(ctx, subject("acme", "v"), "export", resource("acme", "orders", ""), permission.Request{Attributes: map[string]any{"rows": 5}})
	require.NoError(t, err)
	assert.True(t, x.Decision.Allowed)
	var results []string
	for _, g := range x.Grants {
		results = append(results, g.Result)
	}
	assert.Contains(t, results, "true")

	rules, err := e.EffectivePermissions(ctx, "acme", "c", "store:1/till:2")
	require.NoError(t, err)
	var perms []string
	for _, r := range rules {
		perms = append(perms, string(r.Effect)+" "+r.Permission)
	}
	assert.Equal(t, []string{"allow orders:export", "deny orders:read", "allow orders:read", "allow orders:write"}, perms)
	rules, err = e.EffectivePermissions(ctx, "acme", "c", "store:2")
	require.NoError(t, err)
	assert.Empty(t, rules)

	who, err := e.Who(ctx, "acme", "read", resource("acme", "orders", "store:1"), noReq)
	require.NoError(t, err)
	assert.Equal(t, []string{"v"}, who)
	who, err = e.Who(ctx, "acme", "write", resource("acme", "orders", "store:1"), noReq)
	require.NoError(t, err)
	assert.Equal(t, []string{"c"}, who)
}

// gatedStore holds LoadPolicy until its gate opens.
type gatedStore struct {
	permission.Store
	entered chan struct{}
	gate    chan struct{}
}

func (s *gatedStore) LoadPolicy(ctx context.Context, t, u string) (*permission.Policy, error) {
	s.entered <- struct{}{}
	select {
	case <-s.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.LoadPolicy(ctx, t, u)
}

func TestConcurrentLoadSurvivesLeaderCancel(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "r", nil, allow("orders:read"))
	f.bind("acme", "u", "r", "")
	gs := &gatedStore{Store: f.store, entered: make(chan struct{}, 4), gate: make(chan struct{})}
	e, err := permission.NewEngine(gs)
	require.NoError(t, err)
	defer e.Close()
	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderDone := make(chan error, 1)
	go func() {
		_, err := e.Authorize(leaderCtx, subject("acme", "u"), "read", resource("acme", "orders", ""), noReq)
		leaderDone <- err
	}()
	<-gs.entered
	waiter := make(chan bool, 1)
	go func() {
		waiter <- e.Check(context.Background(), subject("acme", "u"), "read", resource("acme", "orders", ""), noReq)
	}()
	time.Sleep(10 * time.Millisecond) // let the waiter join the flight
	cancel()
	require.ErrorIs(t, <-leaderDone, context.Canceled)
	<-gs.entered // the waiter loads for itself
	close(gs.gate)
	assert.True(t, <-waiter)
}

// TestMalformedResourceScopeIsRefused: a resource scope built from
// request input cannot climb out of a binding's scope by prefix tricks;
// anything that is not a path of kind:value segments is refused with
// ErrInvalidScope, on the cached path too.
func TestMalformedResourceScopeIsRefused(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "clerk", nil, allow("orders:write"))
	f.bind("acme", "clerk-eu", "clerk", "region:eu")
	e := f.engine()
	ctx := context.Background()
	for range 3 { // warm the cache with an allowed check first
		d, err := e.Authorize(ctx, subject("acme", "clerk-eu"), "write", resource("acme", "orders", "region:eu/store:1"), noReq)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	for _, scope := range []string{"region:eu/../region:us", "region:eu/", "region:eu//store:1", "region:eu/store:1 ", "region:eu/store:\x00", "region:eu/x"} {
		for range 2 {
			d, err := e.Authorize(ctx, subject("acme", "clerk-eu"), "write", resource("acme", "orders", scope), noReq)
			assert.ErrorIs(t, err, permission.ErrInvalidScope, "%q", scope)
			assert.False(t, d.Allowed, "%q", scope)
		}
		_, err := e.Who(ctx, "acme", "write", resource("acme", "orders", scope), noReq)
		assert.ErrorIs(t, err, permission.ErrInvalidScope, "Who %q", scope)
		_, err = e.EffectivePermissions(ctx, "acme", "clerk-eu", scope)
		assert.ErrorIs(t, err, permission.ErrInvalidScope, "EffectivePermissions %q", scope)
		x, err := e.Explain(ctx, subject("acme", "clerk-eu"), "write", resource("acme", "orders", scope), noReq)
		assert.ErrorIs(t, err, permission.ErrInvalidScope, "Explain %q", scope)
		if x != nil {
			assert.False(t, x.Decision.Allowed)
		}
	}
}
