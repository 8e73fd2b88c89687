package postgres_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

func TestGlobalTenantIDIsReserved(t *testing.T) {
	ps := pgtest.New(t).Stores.Permissions
	assert.ErrorIs(t, ps.CreateTenant(t.Context(), &permission.Tenant{ID: permission.GlobalTenant}), store.ErrConflict)
	all, err := ps.ListTenants(t.Context())
	require.NoError(t, err)
	assert.Empty(t, all)
}

// TestTemplateInUseAcrossTenants: a template bound or inherited in any
// tenant cannot be deleted; tenant roles go with their tenant, templates stay.
func TestTemplateInUseAcrossTenants(t *testing.T) {
	ps := pgtest.New(t).Stores.Permissions
	ctx := t.Context()
	for _, id := range []string{"t1", "t2"} {
		require.NoError(t, ps.CreateTenant(ctx, &permission.Tenant{ID: id}))
	}
	require.NoError(t, ps.PutRole(ctx, &permission.Role{TenantID: permission.GlobalTenant, Name: "viewer"}))
	require.NoError(t, ps.PutRole(ctx, &permission.Role{TenantID: permission.GlobalTenant, Name: "auditor"}))
	require.NoError(t, ps.PutBinding(ctx, permission.Binding{UserID: "u1", TenantID: "t2", Role: "viewer"}))
	require.NoError(t, ps.PutRole(ctx, &permission.Role{TenantID: "t1", Name: "boss", Parents: []string{"auditor"}}))
	assert.ErrorIs(t, ps.DeleteRole(ctx, permission.GlobalTenant, "viewer"), store.ErrConflict)
	assert.ErrorIs(t, ps.DeleteRole(ctx, permission.GlobalTenant, "auditor"), store.ErrConflict)

	v0, err := ps.Version(ctx, "t1")
	require.NoError(t, err)
	require.NoError(t, ps.DeleteTenant(ctx, "t1"))
	require.NoError(t, ps.DeleteRole(ctx, permission.GlobalTenant, "auditor"), "its only child went with t1")
	_, err = ps.GetRole(ctx, permission.GlobalTenant, "viewer")
	require.NoError(t, err, "templates do not belong to a tenant")

	require.NoError(t, ps.CreateTenant(ctx, &permission.Tenant{ID: "t1"}))
	v1, err := ps.Version(ctx, "t1")
	require.NoError(t, err)
	assert.Greater(t, v1, v0, "a recreated tenant never reuses a version")
}

// TestLoadPolicyTerminatesOnCrossViewLoop builds the one loop PutRole cannot
// see: a template write that closes a cycle only through a tenant role of
// the same name as another template. LoadPolicy must still return.
func TestLoadPolicyTerminatesOnCrossViewLoop(t *testing.T) {
	ps := pgtest.New(t).Stores.Permissions
	ctx := t.Context()
	require.NoError(t, ps.CreateTenant(ctx, &permission.Tenant{ID: "t1"}))
	require.NoError(t, ps.PutRole(ctx, &permission.Role{TenantID: permission.GlobalTenant, Name: "a"}))
	require.NoError(t, ps.PutRole(ctx, &permission.Role{TenantID: permission.GlobalTenant, Name: "b"}))
	require.NoError(t, ps.PutRole(ctx, &permission.Role{TenantID: "t1", Name: "b", Parents: []string{"a"}}))
	// In the template view a -> b(template) is acyclic; in t1's view a -> b(t1) -> a is a loop.
	require.NoError(t, ps.PutRole(ctx, &permission.Role{TenantID: permission.GlobalTenant, Name: "a", Parents: []string{"b"}}))
	require.NoError(t, ps.PutBinding(ctx, permission.Binding{UserID: "u1", TenantID: "t1", Role: "b"}))

	done := make(chan *permission.Policy, 1)
	go func() {
		p, err := ps.LoadPolicy(ctx, "t1", "u1")
		assert.NoError(t, err)
		done <- p
	}()
	select {
	case p := <-done:
		require.NotNil(t, p)
		assert.Len(t, p.Roles, 2)
	case <-time.After(10 * time.Second):
		t.Fatal("LoadPolicy did not terminate on a role loop")
	}

	// A tenant write that would inherit the loop is refused: the check
	// walks the tenant's view.
	err := ps.PutRole(ctx, &permission.Role{TenantID: "t1", Name: "c", Parents: []string{"a"}})
	assert.ErrorIs(t, err, permission.ErrCycle)
}

// TestConcurrentPutRoleCannotCloseALoop races two writes that are each
// acyclic alone but form a loop together (a -> b and b -> a). The
// per-tenant serialization of role writes must let exactly one win.
func TestConcurrentPutRoleCannotCloseALoop(t *testing.T) {
	ps := pgtest.New(t).Stores.Permissions
	ctx := t.Context()
	require.NoError(t, ps.CreateTenant(ctx, &permission.Tenant{ID: "t1"}))
	for round := range 20 {
		a, b := fmt.Sprintf("a%d", round), fmt.Sprintf("b%d", round)
		require.NoError(t, ps.PutRole(ctx, &permission.Role{TenantID: "t1", Name: a}))
		require.NoError(t, ps.PutRole(ctx, &permission.Role{TenantID: "t1", Name: b}))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() { errs[0] = ps.PutRole(ctx, &permission.Role{TenantID: "t1", Name: a, Parents: []string{b}}) })
		wg.Go(func() { errs[1] = ps.PutRole(ctx, &permission.Role{TenantID: "t1", Name: b, Parents: []string{a}}) })
		wg.Wait()
		failed := 0
		for _, err := range errs {
			if err != nil {
				require.ErrorIs(t, err, permission.ErrCycle)
				failed++
			}
		}
		assert.Equal(t, 1, failed, "round %d: exactly one write must be refused", round)
	}
}
