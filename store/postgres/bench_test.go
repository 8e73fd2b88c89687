package postgres_test

import (
	"context"
	"database/sql"
	"strconv"
	"testing"
	"time"

	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/postgres"
)

// unprepared returns stores on env's schema that prepare nothing: the
// statements as they ran before the hot ones were prepared, and as they
// run behind PgBouncer in transaction mode.
func unprepared(b *testing.B, env *pgtest.Env) *postgres.Stores {
	st, err := postgres.New(env.DB, postgres.WithSchema(env.Schema), postgres.WithoutPreparedStatements())
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkSessionGet measures the Authenticate path (a session read by
// ID) against a prepared single-row SELECT by primary key on the same
// table and pool (bare), interleaved: get/bare is the adapter's overhead
// (the wider row, scanning, error translation). unprepared is the same
// Get sent as an unnamed statement (two round trips with lib/pq), as
// before preparation and with WithoutPreparedStatements.
func BenchmarkSessionGet(b *testing.B) {
	env := pgtest.New(b)
	ctx := context.Background()
	now := time.Now()
	ids := make([]string, 1000)
	for i := range ids {
		x := &session.Session{ID: session.NewID("u1"), SecretHash: session.HashSecret([]byte{byte(i), byte(i >> 8)}),
			UserID: "u1", TenantID: "t1", Scope: "region:eu", CreatedAt: now, LastSeenAt: now, AuthenticatedAt: now,
			IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(12 * time.Hour), AuthLevel: 1,
			Client: session.ClientInfo{IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", DeviceLabel: "laptop"}}
		if _, err := env.Stores.Sessions.Create(ctx, x, session.Limit{}, now); err != nil {
			b.Fatal(err)
		}
		ids[i] = x.ID
	}
	if _, err := env.DB.ExecContext(ctx, `ANALYZE "`+env.Schema+`".sessions`); err != nil {
		b.Fatal(err)
	}
	bare := pgtest.Prepare(b, env.DB, `SELECT 1 FROM "`+env.Schema+`".sessions WHERE id = $1`)
	old := unprepared(b, env)
	pgtest.Interleave(b,
		pgtest.Arm{Name: "bare", Run: func(ctx context.Context, i int) error {
			var one int
			return bare.QueryRowContext(ctx, ids[i%len(ids)]).Scan(&one)
		}},
		pgtest.Arm{Name: "get", Run: func(ctx context.Context, i int) error {
			_, err := env.Stores.Sessions.Get(ctx, ids[i%len(ids)])
			return err
		}},
		pgtest.Arm{Name: "unprepared", Run: func(ctx context.Context, i int) error {
			_, err := old.Sessions.Get(ctx, ids[i%len(ids)])
			return err
		}},
	)
}

// BenchmarkLoadPolicy loads a user's policy through a five-level role
// hierarchy (one round trip), interleaved with a prepared one-row indexed
// read of the same bindings table (bare). unprepared is the same
// LoadPolicy sent unnamed; before is the recursive query LoadPolicy ran
// before issue 14 (legacyResolvedRoles), sent unnamed as it was, its rows
// read but not decoded.
func BenchmarkLoadPolicy(b *testing.B) {
	env := pgtest.New(b)
	putHierarchy(b, env.Stores.Permissions, 5)
	bare := pgtest.Prepare(b, env.DB, `SELECT 1 FROM "`+env.Schema+`".bindings WHERE tenant_id = $1 AND user_id = $2 LIMIT 1`)
	old := unprepared(b, env)
	legacy := postgres.LoadPolicyQueryWith(env.Stores.Permissions, legacyResolvedRoles)
	pgtest.Interleave(b,
		pgtest.Arm{Name: "bare", Run: func(ctx context.Context, _ int) error {
			var one int
			return bare.QueryRowContext(ctx, "t1", "u1").Scan(&one)
		}},
		pgtest.Arm{Name: "load", Run: func(ctx context.Context, _ int) error {
			_, err := env.Stores.Permissions.LoadPolicy(ctx, "t1", "u1")
			return err
		}},
		pgtest.Arm{Name: "unprepared", Run: func(ctx context.Context, _ int) error {
			_, err := old.Permissions.LoadPolicy(ctx, "t1", "u1")
			return err
		}},
		pgtest.Arm{Name: "before", Run: func(ctx context.Context, _ int) error {
			return drain(env.DB.QueryContext(ctx, legacy, "t1", "u1"))
		}},
	)
}

// drain reads every row of a query and fails if it returned fewer than 7
// (the version, one binding, five roles).
func drain(rows *sql.Rows, err error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for k := range vals {
		dest[k] = &vals[k]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		n++
	}
	if n != 7 {
		return sql.ErrNoRows
	}
	return rows.Err()
}

// legacyResolvedRoles is the walk of the roles LoadPolicy ran before
// issue 14: it joined the worktable to the roles table by hash and
// resolved tenant role over template with a DISTINCT ON sort, and was
// planned afresh on every call. Kept to measure before and after in the
// same run.
const legacyResolvedRoles = `
	reach (name) AS (
		SELECT name FROM seed
		UNION
		SELECT p.parent
		FROM reach
		JOIN {s}.roles r ON r.name = reach.name AND r.tenant_id IN ($1, '')
		CROSS JOIN LATERAL unnest(r.parents) AS p (parent)
		WHERE r.tenant_id = $1
		   OR NOT EXISTS (SELECT 1 FROM {s}.roles t WHERE t.tenant_id = $1 AND t.name = reach.name)
	),
	resolved AS (
		SELECT DISTINCT ON (r.name) r.*
		FROM reach JOIN {s}.roles r ON r.name = reach.name AND r.tenant_id IN ($1, '')
		ORDER BY r.name, r.tenant_id DESC
	)`

// BenchmarkLimiterReserve measures the login throttle's write (Reserve:
// count the key's events in the window and append one, in one
// statement) over 1,000 keys, interleaved with a prepared primary-key
// read of the same table (bare), and reports the share of its updates
// PostgreSQL made HOT (no index entry written).
func BenchmarkLimiterReserve(b *testing.B) {
	env := pgtest.New(b)
	ctx := context.Background()
	keys := make([]string, 1000)
	now := time.Now()
	for i := range keys {
		keys[i] = "login-email:" + strconv.Itoa(i)
		if _, _, err := env.Stores.Limiter.Reserve(ctx, keys[i], 1<<20, 24*time.Hour, now); err != nil {
			b.Fatal(err)
		}
	}
	stats := func() (upd, hot int64) {
		if err := env.DB.QueryRowContext(ctx, `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
			WHERE schemaname = $1 AND relname = 'rate_limits'`, env.Schema).Scan(&upd, &hot); err != nil {
			b.Fatal(err)
		}
		return upd, hot
	}
	bare := pgtest.Prepare(b, env.DB, `SELECT 1 FROM "`+env.Schema+`".rate_limits WHERE key = $1`)
	// The cheapest write of a row: what a commit costs, whatever the
	// statement.
	touch := pgtest.Prepare(b, env.DB, `UPDATE "`+env.Schema+`".rate_limits SET events = events WHERE key = $1`)
	upd0, hot0 := stats()
	pgtest.Interleave(b,
		pgtest.Arm{Name: "bare", Run: func(ctx context.Context, i int) error {
			var one int
			return bare.QueryRowContext(ctx, keys[i%len(keys)]).Scan(&one)
		}},
		pgtest.Arm{Name: "touch", Run: func(ctx context.Context, i int) error {
			_, err := touch.ExecContext(ctx, keys[i%len(keys)])
			return err
		}},
		pgtest.Arm{Name: "reserve", Run: func(ctx context.Context, i int) error {
			_, _, err := env.Stores.Limiter.Reserve(ctx, keys[i%len(keys)], 1<<20, 24*time.Hour, now.Add(time.Duration(i)*time.Second))
			return err
		}},
	)
	// Statistics reach the view after the transaction's backend reports
	// them: wait for the counts to settle.
	time.Sleep(600 * time.Millisecond)
	upd, hot := stats()
	if upd > upd0 {
		b.ReportMetric(float64(hot-hot0)/float64(upd-upd0), "hot-share")
	}
}
