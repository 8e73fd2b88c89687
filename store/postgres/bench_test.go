package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/session"
)

// BenchmarkSessionGet measures the Authenticate path (a session read by ID)
// against the cheapest indexed query on the same table and connection pool,
// run in the same process: the ratio store/baseline is the adapter's
// overhead (wider row, scanning, error translation).
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
	baseline := `SELECT 1 FROM "` + env.Schema + `".sessions WHERE id = $1`
	b.Run("baseline", func(b *testing.B) {
		var one int
		i := 0
		for b.Loop() {
			if err := env.DB.QueryRowContext(ctx, baseline, ids[i%len(ids)]).Scan(&one); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("store", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := env.Stores.Sessions.Get(ctx, ids[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkLoadPolicy loads a user's policy through a five-level role
// hierarchy (one round trip), next to a one-row indexed read of the same
// bindings table as the baseline.
func BenchmarkLoadPolicy(b *testing.B) {
	env := pgtest.New(b)
	ctx := context.Background()
	putHierarchy(b, env.Stores.Permissions, 5)
	baseline := `SELECT 1 FROM "` + env.Schema + `".bindings WHERE tenant_id = $1 AND user_id = $2 LIMIT 1`
	b.Run("baseline", func(b *testing.B) {
		var one int
		for b.Loop() {
			if err := env.DB.QueryRowContext(ctx, baseline, "t1", "u1").Scan(&one); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("store", func(b *testing.B) {
		for b.Loop() {
			p, err := env.Stores.Permissions.LoadPolicy(ctx, "t1", "u1")
			if err != nil || len(p.Roles) != 5 {
				b.Fatal(err, p)
			}
		}
	})
}
