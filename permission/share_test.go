package permission_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
)

// Users with the same bindings share a compiled set; each change below
// must reach exactly the users it concerns.
func TestSharedSetsChangeOnlyForTheirUsers(t *testing.T) {
	ctx := context.Background()
	read, write := resource("acme", "orders", ""), resource("acme", "invoices", "")
	setup := func(t *testing.T) (*fixture, *permission.Engine) {
		f := newFixture(t, "acme", "other")
		f.role("acme", "viewer", nil, allow("orders:read"))
		f.role("acme", "billing", nil, allow("invoices:write"))
		f.role("other", "viewer", nil, allow("orders:read"))
		for _, u := range []string{"u1", "u2"} {
			f.bind("acme", u, "viewer", "")
		}
		f.bind("other", "u3", "viewer", "")
		e := f.engine(permission.WithMaxStaleness(-1))
		for _, u := range []string{"u1", "u2"} {
			require.True(t, e.Check(ctx, subject("acme", u), "read", read, noReq))
			require.False(t, e.Check(ctx, subject("acme", u), "write", write, noReq))
		}
		return f, e
	}

	t.Run("one user gets a new binding", func(t *testing.T) {
		f, e := setup(t)
		f.bind("acme", "u1", "billing", "")
		require.NoError(t, e.PolicyChanged(ctx, "acme"))
		assert.True(t, e.Check(ctx, subject("acme", "u1"), "write", write, noReq))
		assert.False(t, e.Check(ctx, subject("acme", "u2"), "write", write, noReq))
		assert.True(t, e.Check(ctx, subject("acme", "u2"), "read", read, noReq))
	})

	t.Run("one user's extra binding expires", func(t *testing.T) {
		f := newFixture(t, "acme")
		f.role("acme", "viewer", nil, allow("orders:read"))
		f.role("acme", "billing", nil, allow("invoices:write"))
		f.bind("acme", "u1", "viewer", "")
		f.bind("acme", "u2", "viewer", "")
		clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		require.NoError(t, f.store.PutBinding(ctx, permission.Binding{TenantID: "acme", UserID: "u1", Role: "billing", ExpiresAt: clock.now.Add(time.Hour)}))
		e := f.engine(permission.WithClock(clock), permission.WithMaxStaleness(-1))
		assert.True(t, e.Check(ctx, subject("acme", "u1"), "write", write, noReq))
		assert.False(t, e.Check(ctx, subject("acme", "u2"), "write", write, noReq))
		clock.now = clock.now.Add(2 * time.Hour)
		assert.False(t, e.Check(ctx, subject("acme", "u1"), "write", write, noReq), "expired")
		assert.True(t, e.Check(ctx, subject("acme", "u1"), "read", read, noReq))
		assert.True(t, e.Check(ctx, subject("acme", "u2"), "read", read, noReq))
	})

	t.Run("a shared binding expires for both", func(t *testing.T) {
		f := newFixture(t, "acme")
		f.role("acme", "viewer", nil, allow("orders:read"))
		clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		for _, u := range []string{"u1", "u2"} {
			require.NoError(t, f.store.PutBinding(ctx, permission.Binding{TenantID: "acme", UserID: u, Role: "viewer", ExpiresAt: clock.now.Add(time.Hour)}))
		}
		e := f.engine(permission.WithClock(clock), permission.WithMaxStaleness(-1))
		for _, u := range []string{"u1", "u2"} {
			assert.True(t, e.Check(ctx, subject("acme", u), "read", read, noReq))
		}
		clock.now = clock.now.Add(2 * time.Hour)
		for _, u := range []string{"u1", "u2"} {
			assert.False(t, e.Check(ctx, subject("acme", u), "read", read, noReq), u)
		}
	})

	t.Run("a tenant's role changes", func(t *testing.T) {
		f, e := setup(t)
		require.True(t, e.Check(ctx, subject("other", "u3"), "read", resource("other", "orders", ""), noReq))
		f.role("acme", "viewer", nil, deny("orders:read"))
		require.NoError(t, e.PolicyChanged(ctx, "acme"))
		for _, u := range []string{"u1", "u2"} {
			assert.False(t, e.Check(ctx, subject("acme", u), "read", read, noReq), u)
		}
		assert.True(t, e.Check(ctx, subject("other", "u3"), "read", resource("other", "orders", ""), noReq), "another tenant's same-named role is not touched")
	})
}

// A shared set decides conditions for the user who asks: principal.id is
// the subject's, principal.roles the roles that user's bindings reach.
func TestSharedSetConditionsSeeTheirUser(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "auditor", nil)
	f.role("acme", "editor", nil,
		allowIf("docs:edit", "resource.owner == principal.id"),
		allowIf("docs:publish", "'auditor' in principal.roles"))
	for _, u := range []string{"u1", "u2", "u3"} {
		f.bind("acme", u, "editor", "")
	}
	f.bind("acme", "u3", "auditor", "")
	e := f.engine()
	ctx := context.Background()
	doc := permission.Resource{TenantID: "acme", Type: "docs", ID: "d", Attributes: map[string]any{"owner": "u1"}}
	assert.True(t, e.Check(ctx, subject("acme", "u1"), "edit", doc, noReq))
	assert.False(t, e.Check(ctx, subject("acme", "u2"), "edit", doc, noReq))
	assert.False(t, e.Check(ctx, subject("acme", "u1"), "publish", doc, noReq))
	assert.True(t, e.Check(ctx, subject("acme", "u3"), "publish", doc, noReq))

	who, err := e.Who(ctx, "acme", "edit", doc, noReq)
	require.NoError(t, err)
	assert.Equal(t, []string{"u1"}, who, "a conditional grant is decided user by user")
	who, err = e.Who(ctx, "acme", "publish", doc, noReq)
	require.NoError(t, err)
	assert.Equal(t, []string{"u3"}, who)
}

// Who answers from its index as a check would, and the index follows
// policy changes and expiries.
func TestWhoFollowsChanges(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "viewer", nil, allow("orders:read"))
	f.role("acme", "blocked", nil, deny("orders:*"))
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	for i := range 20 {
		f.bind("acme", fmt.Sprintf("u%02d", i), "viewer", fmt.Sprintf("region:%d", i%2))
	}
	e := f.engine(permission.WithClock(clock), permission.WithMaxStaleness(-1))
	ctx := context.Background()
	who := func(scope string) []string {
		t.Helper()
		got, err := e.Who(ctx, "acme", "read", resource("acme", "orders", scope), noReq)
		require.NoError(t, err)
		var want []string
		for i := range 20 {
			u := fmt.Sprintf("u%02d", i)
			if e.Check(ctx, subject("acme", u), "read", resource("acme", "orders", scope), noReq) {
				want = append(want, u)
			}
		}
		assert.Equal(t, want, got)
		return got
	}
	assert.Len(t, who("region:0/store:1"), 10)
	assert.Empty(t, who(""))

	f.bind("acme", "u00", "blocked", "")
	require.NoError(t, e.PolicyChanged(ctx, "acme"))
	assert.Len(t, who("region:0"), 9)

	require.NoError(t, f.store.PutBinding(ctx, permission.Binding{TenantID: "acme", UserID: "u01", Role: "viewer", Scope: "region:1", ExpiresAt: clock.now.Add(time.Minute)}))
	require.NoError(t, e.PolicyChanged(ctx, "acme"))
	assert.Len(t, who("region:1"), 10)
	clock.now = clock.now.Add(time.Hour)
	assert.Len(t, who("region:1"), 9, "u01's binding expired")

	_, err := e.Who(ctx, "acme", "", resource("acme", "orders", ""), noReq)
	require.ErrorIs(t, err, permission.ErrInvalidRequest)
	got, err := e.Who(ctx, "acme", "read", resource("other", "orders", ""), noReq)
	require.NoError(t, err)
	assert.Empty(t, got)
}

// movingStore's version moves at every read, as if a writer landed
// between any two reads; listErr fails ListBindings.
type movingStore struct {
	permission.Store
	v       atomic.Int64
	listErr error
}

func (s *movingStore) Version(context.Context, string) (int64, error) { return s.v.Add(1), nil }

func (s *movingStore) ListBindings(ctx context.Context, tenantID, userID string) ([]permission.Binding, error) {
	if s.listErr != nil {
		return nil, s.listErr
	}
	return s.Store.ListBindings(ctx, tenantID, userID)
}

// When the tenant's version moves while Who reads, it cannot build an
// index of one version; it decides user by user, as a check would, and
// a store failure fails it.
func TestWhoWhileThePolicyMoves(t *testing.T) {
	f := newFixture(t, "acme")
	f.role("acme", "viewer", nil, allow("orders:read"))
	f.role("acme", "owner", nil, allowIf("orders:write", "resource.owner == principal.id"))
	f.bind("acme", "u1", "viewer", "")
	f.bind("acme", "u2", "viewer", "region:eu")
	f.bind("acme", "u3", "owner", "")
	st := &movingStore{Store: f.store}
	e, err := permission.NewEngine(st)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	ctx := context.Background()
	who, err := e.Who(ctx, "acme", "read", resource("acme", "orders", "region:eu/store:1"), noReq)
	require.NoError(t, err)
	assert.Equal(t, []string{"u1", "u2"}, who)
	doc := permission.Resource{TenantID: "acme", Type: "orders", Attributes: map[string]any{"owner": "u3"}}
	who, err = e.Who(ctx, "acme", "write", doc, noReq)
	require.NoError(t, err)
	assert.Equal(t, []string{"u3"}, who)
	_, err = e.Who(ctx, "acme", "", doc, noReq)
	require.ErrorIs(t, err, permission.ErrInvalidRequest)

	st.listErr = errors.New("store down")
	_, err = e.Who(ctx, "acme", "read", resource("acme", "orders", ""), noReq)
	require.ErrorIs(t, err, st.listErr)
}
