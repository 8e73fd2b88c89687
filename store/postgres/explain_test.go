package postgres_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/store/postgres"
)

type planNode struct {
	NodeType  string     `json:"Node Type"`
	Relation  string     `json:"Relation Name"`
	IndexName string     `json:"Index Name"`
	Plans     []planNode `json:"Plans"`
}

// scans lists "NodeType [relation] [index]" for every node reading a table or index.
func (n planNode) scans(out []string) []string {
	if n.Relation != "" || n.IndexName != "" {
		// A Bitmap Index Scan names only the index; its Bitmap Heap Scan parent names the table.
		out = append(out, strings.Join(strings.Fields(n.NodeType+" "+n.Relation+" "+n.IndexName), " "))
	}
	for _, c := range n.Plans {
		out = c.scans(out)
	}
	return out
}

// TestQueryPlansUseIndexes fills a schema with enough rows that a scan of
// any table is expensive, analyzes it, and checks the plans of the lookup
// paths: no sequential scan anywhere, and the expected index where it
// matters. The planner is left at its defaults (enable_seqscan stays on).
func TestQueryPlansUseIndexes(t *testing.T) {
	env := pgtest.New(t)
	ctx := t.Context()
	s := `"` + env.Schema + `"`
	now := time.Now().UTC()
	for _, q := range []string{
		// 5,000 tenants, each with a 5-role chain over a template and 4 bound users.
		`INSERT INTO ` + s + `.tenants (id, name) SELECT 't' || i, 'T' || i FROM generate_series(1, 5000) i`,
		`INSERT INTO ` + s + `.policy_versions (tenant_id, version) SELECT 't' || i, i FROM generate_series(1, 5000) i`,
		`INSERT INTO ` + s + `.policy_versions (tenant_id, version) VALUES ('', 1)`,
		`INSERT INTO ` + s + `.roles (tenant_id, name, parents) VALUES ('', 'base', '{}')`,
		`INSERT INTO ` + s + `.roles (tenant_id, name, parents)
			SELECT 't' || i, 'r' || d, CASE WHEN d = 1 THEN ARRAY['base'] ELSE ARRAY['r' || (d - 1)] END
			FROM generate_series(1, 5000) i, generate_series(1, 5) d`,
		`INSERT INTO ` + s + `.bindings (tenant_id, user_id, role, scope)
			SELECT 't' || i, 'u' || u, 'r5', '' FROM generate_series(1, 5000) i, generate_series(1, 4) u`,
		`INSERT INTO ` + s + `.memberships (tenant_id, user_id)
			SELECT 't' || i, 'u' || u FROM generate_series(1, 5000) i, generate_series(1, 4) u`,
		// 50,000 sessions of 10,000 users, expiring over the next 50,000 minutes.
		fmt.Sprintf(`INSERT INTO %s.sessions (id, secret_hash, user_id, created_at, idle_expires_at, absolute_expires_at)
			SELECT 's' || i, '\x00', 'u' || (i %% 10000), '%s', '%s'::timestamptz + i * interval '1 minute',
				'%s'::timestamptz + interval '1 year'
			FROM generate_series(1, 50000) i`, s, now.Format(time.RFC3339), now.Format(time.RFC3339), now.Format(time.RFC3339)),
		`INSERT INTO ` + s + `.users (id, email, email_key, status)
			SELECT 'u' || i, 'u' || i || '@example.com', 'u' || i || '@example.com', 'active' FROM generate_series(1, 20000) i`,
		// Every tenant claims two domains, one of them verified.
		`INSERT INTO ` + s + `.tenant_domains (tenant_id, domain, role, token, created_at, verified_at)
			SELECT 't' || i, 'd' || i || '-' || v || '.example', 'r1', 'x', now(), CASE WHEN v = 1 THEN now() END
			FROM generate_series(1, 5000) i, generate_series(1, 2) v`,
		`ANALYZE ` + s + `.tenants, ` + s + `.policy_versions, ` + s + `.roles, ` + s + `.bindings, ` +
			s + `.memberships, ` + s + `.sessions, ` + s + `.users, ` + s + `.tenant_domains`,
	} {
		_, err := env.DB.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}

	st := env.Stores

	t.Run("SessionGet", func(t *testing.T) {
		scans := explainScans(t, env.DB, postgres.SessionGetQuery(st.Sessions), "s4242")
		assert.Equal(t, []string{"Index Scan sessions sessions_pkey"}, scans)
	})
	t.Run("LoadPolicy", func(t *testing.T) {
		scans := explainScans(t, env.DB, postgres.LoadPolicyQuery(st.Permissions), "t42", "u1")
		assert.Contains(t, strings.Join(scans, "\n"), "bindings_pkey")
		assert.Contains(t, strings.Join(scans, "\n"), "roles_pkey")
		assert.Contains(t, strings.Join(scans, "\n"), "policy_versions_pkey")
	})
	// Prepared, the hot statements run a generic plan after five calls:
	// it must use the indexes too.
	t.Run("Generic", func(t *testing.T) {
		conn, err := env.DB.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		_, err = conn.ExecContext(ctx, `SET plan_cache_mode = force_generic_plan`)
		require.NoError(t, err)
		defer func() { _, _ = conn.ExecContext(ctx, `RESET plan_cache_mode`) }()
		scans := explainScans(t, conn, postgres.SessionGetQuery(st.Sessions), "s4242")
		assert.Equal(t, []string{"Index Scan sessions sessions_pkey"}, scans)
		scans = explainScans(t, conn, postgres.LoadPolicyQuery(st.Permissions), "t42", "u1")
		assert.Contains(t, strings.Join(scans, "\n"), "bindings_pkey")
		assert.Contains(t, strings.Join(scans, "\n"), "roles_pkey")
		assert.Contains(t, strings.Join(scans, "\n"), "policy_versions_pkey")
	})
	t.Run("ListByUser", func(t *testing.T) {
		scans := explainScans(t, env.DB, postgres.ListByUserQuery(st.Sessions), "u42", now)
		assert.Contains(t, strings.Join(scans, "\n"), "sessions_user_idx")
	})
	t.Run("DeleteExpired", func(t *testing.T) {
		scans := explainScans(t, env.DB, postgres.DeleteExpiredQuery(st.Sessions), now.Add(10*time.Minute), 5000)
		assert.Contains(t, strings.Join(scans, "\n"), "sessions_expires_idx")
	})
	t.Run("UserByEmail", func(t *testing.T) {
		scans := explainScans(t, env.DB, postgres.UserByEmailQuery(st.Users), "u42@example.com")
		assert.Equal(t, []string{"Index Scan users users_email_key_idx"}, scans)
	})
	t.Run("ListMemberships", func(t *testing.T) {
		scans := explainScans(t, env.DB, postgres.ListMembershipsQuery(st.Permissions), "u3")
		assert.Contains(t, strings.Join(scans, "\n"), "memberships_user_idx")
	})
	t.Run("VerifiedDomain", func(t *testing.T) {
		// Every email verification looks its domain up across tenants.
		scans := explainScans(t, env.DB, postgres.VerifiedDomainQuery(st.Permissions), "d42-1.example")
		assert.Equal(t, []string{"Index Scan tenant_domains tenant_domains_verified_idx"}, scans)
	})
}

// explainScans returns the scans of q's plan (EXPLAIN, not run) and fails
// the test on any sequential scan.
func explainScans(t *testing.T, db interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, q string, args ...any,
) []string {
	t.Helper()
	var raw string
	require.NoError(t, db.QueryRowContext(t.Context(), "EXPLAIN (FORMAT JSON) "+q, args...).Scan(&raw))
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &plans))
	require.Len(t, plans, 1)
	scans := plans[0].Plan.scans(nil)
	for _, sc := range scans {
		assert.NotContains(t, sc, "Seq Scan", "plan: %v", scans)
	}
	return scans
}
