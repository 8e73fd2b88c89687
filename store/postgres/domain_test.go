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
)

// TestJoinDomainKeepsTheLockOrder: every binding write bumps
// policy_versions first (DESIGN). A JoinDomain that share-locked the
// claim's row before bumping would deadlock with DeleteTenant, which
// bumps, then deletes the claim by cascade: PostgreSQL aborts one after
// deadlock_timeout (1s by default) and the store retries, so a deadlock
// shows as a call of about a second.
func TestJoinDomainKeepsTheLockOrder(t *testing.T) {
	env := pgtest.New(t)
	s := env.Stores.Permissions
	ctx := t.Context()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var before int64
	require.NoError(t, env.DB.QueryRowContext(ctx, `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&before))
	slow := 0
	for i := range 40 {
		tenant := fmt.Sprintf("t%d", i)
		require.NoError(t, s.CreateTenant(ctx, &permission.Tenant{ID: tenant, Name: tenant, CreatedAt: t0}))
		require.NoError(t, s.PutRole(ctx, &permission.Role{TenantID: tenant, Name: "viewer",
			Grants: []permission.Grant{{Permission: "docs:read", Effect: permission.Allow}}, CreatedAt: t0, UpdatedAt: t0}))
		domain := tenant + ".example"
		require.NoError(t, s.CreateDomain(ctx, &permission.TenantDomain{TenantID: tenant, Domain: domain, Role: "viewer", Token: "x", CreatedAt: t0}))
		_, err := s.VerifyDomain(ctx, tenant, domain, "a", t0, func(*permission.TenantDomain) error { return nil })
		require.NoError(t, err)
		var wg sync.WaitGroup
		var took [2]time.Duration
		wg.Go(func() {
			start := time.Now()
			_, _, _ = s.JoinDomain(ctx, domain, "u"+tenant, t0)
			took[0] = time.Since(start)
		})
		wg.Go(func() {
			start := time.Now()
			assert.NoError(t, s.DeleteTenant(ctx, tenant))
			took[1] = time.Since(start)
		})
		wg.Wait()
		if max(took[0], took[1]) > 900*time.Millisecond {
			slow++
		}
	}
	var after int64
	require.NoError(t, env.DB.QueryRowContext(ctx, `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&after))
	t.Logf("deadlocks in the database during the test: %d; iterations over 0.9s: %d of 40", after-before, slow)
	assert.Zero(t, slow, "a join racing a tenant's deletion deadlocked")
}
