package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/store/postgres"
)

func freshSchemaName(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "authv2_mig_" + hex.EncodeToString(b[:])
	return name
}

// TestMigrateConcurrently starts several instances migrating one fresh
// schema at once: the advisory lock must make exactly one of them apply the
// migrations and the others find nothing to do.
func TestMigrateConcurrently(t *testing.T) {
	db := pgtest.Open(t)
	schema := freshSchemaName(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := db.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
		assert.NoError(t, err)
	})
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	reports := make([][]string, n)
	for i := range n {
		wg.Go(func() { reports[i], errs[i] = postgres.Migrate(t.Context(), db, postgres.WithSchema(schema)) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	files, err := fs.Glob(postgres.Migrations, "migrations/*.sql")
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, path.Base(f))
	}
	// Exactly one instance reports the migrations, all of them in order.
	var reported int
	for _, a := range reports {
		if len(a) > 0 {
			reported++
			assert.Equal(t, names, a)
		}
	}
	assert.Equal(t, 1, reported, "instances reporting applied migrations: %q", reports)
	var applied, distinct int
	require.NoError(t, db.QueryRowContext(t.Context(),
		`SELECT count(*), count(DISTINCT version) FROM `+schema+`.schema_migrations`).Scan(&applied, &distinct))
	assert.Equal(t, len(files), applied, "each migration recorded once")
	assert.Equal(t, applied, distinct)

	// Running again is a no-op, and the stores work on the result.
	again, err := postgres.Migrate(t.Context(), db, postgres.WithSchema(schema))
	require.NoError(t, err)
	assert.Empty(t, again, "nothing left to apply")
	var tables int
	require.NoError(t, db.QueryRowContext(t.Context(),
		`SELECT count(*) FROM information_schema.tables WHERE table_schema = $1`, schema).Scan(&tables))
	assert.Equal(t, 22, tables, "users, sessions, tenants, memberships, roles, bindings, policy_versions, rate_limits, audit_events, grant_use, audit_journal, "+
		"mfa_totp, mfa_recovery_codes, mfa_webauthn, mfa_challenges, mfa_replay_guard, api_keys, service_accounts, invitations, impersonations, tenant_domains, schema_migrations")
	var public int
	require.NoError(t, db.QueryRowContext(t.Context(),
		`SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'sessions'`).Scan(&public))
	assert.Zero(t, public, "SET LOCAL search_path must keep the migration out of public")
}
