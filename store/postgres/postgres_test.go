package postgres_test

import (
	"testing"

	"github.com/authv2/authv2/apikey"

	"go.uber.org/goleak"

	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/postgres"
	"github.com/authv2/authv2/store/storetest"
	"github.com/authv2/authv2/user"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestConformance runs the shared suite; every case gets its own schema.
func TestConformance(t *testing.T) {
	pgtest.URL(t)
	t.Run("User", func(t *testing.T) {
		storetest.RunUserStore(t, func(t *testing.T) user.Store { return pgtest.New(t).Stores.Users })
	})
	t.Run("Session", func(t *testing.T) {
		storetest.RunSessionStore(t, func(t *testing.T) session.Store { return pgtest.New(t).Stores.Sessions })
	})
	t.Run("RateLimiter", func(t *testing.T) {
		storetest.RunRateLimiter(t, func(t *testing.T) user.RateLimiter { return pgtest.New(t).Stores.Limiter })
	})
	t.Run("Permission", func(t *testing.T) {
		storetest.RunPermissionStore(t, func(t *testing.T) permission.Store { return pgtest.New(t).Stores.Permissions })
	})
	t.Run("MFA", func(t *testing.T) {
		storetest.RunMFAStore(t, func(t *testing.T) mfa.Store { return pgtest.New(t).Stores.MFA })
	})
	t.Run("Challenge", func(t *testing.T) {
		storetest.RunChallengeStore(t, func(t *testing.T) mfa.ChallengeStore { return pgtest.New(t).Stores.Challenges })
	})
	t.Run("ReplayGuard", func(t *testing.T) {
		storetest.RunReplayGuard(t, func(t *testing.T) mfa.ReplayGuard { return pgtest.New(t).Stores.ReplayGuard })
	})
	t.Run("APIKey", func(t *testing.T) {
		storetest.RunAPIKeyStore(t, func(t *testing.T) apikey.Store { return pgtest.New(t).Stores.APIKeys })
	})
	t.Run("Impersonation", func(t *testing.T) {
		storetest.RunImpersonationStore(t, func(t *testing.T) session.ImpersonationStore { return pgtest.New(t).Stores.Impersonations })
	})
}

// TestConformanceBinaryParameters reruns the session and user cases with
// lib/pq's binary_parameters=yes, which doc.go recommends: it sends a
// parameterized query in one network round trip instead of two.
func TestConformanceBinaryParameters(t *testing.T) {
	dsn := withParam(t, "binary_parameters", "yes")
	env := func(t *testing.T) *pgtest.Env { return pgtest.NewSchema(t, pgtest.OpenURL(t, dsn)) }
	t.Run("User", func(t *testing.T) {
		storetest.RunUserStore(t, func(t *testing.T) user.Store { return env(t).Stores.Users })
	})
	t.Run("Session", func(t *testing.T) {
		storetest.RunSessionStore(t, func(t *testing.T) session.Store { return env(t).Stores.Sessions })
	})
	t.Run("Permission", func(t *testing.T) {
		storetest.RunPermissionStore(t, func(t *testing.T) permission.Store { return env(t).Stores.Permissions })
	})
}

// TestConformanceWithoutPreparedStatements reruns the cases of the stores
// with prepared statements (sessions, permissions) as a deployment behind
// PgBouncer in transaction mode runs them: unnamed statements only.
func TestConformanceWithoutPreparedStatements(t *testing.T) {
	env := func(t *testing.T) *postgres.Stores {
		e := pgtest.New(t)
		st, err := postgres.New(e.DB, postgres.WithSchema(e.Schema), postgres.WithoutPreparedStatements())
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	t.Run("Session", func(t *testing.T) {
		storetest.RunSessionStore(t, func(t *testing.T) session.Store { return env(t).Sessions })
	})
	t.Run("Permission", func(t *testing.T) {
		storetest.RunPermissionStore(t, func(t *testing.T) permission.Store { return env(t).Permissions })
	})
	t.Run("APIKey", func(t *testing.T) {
		storetest.RunAPIKeyStore(t, func(t *testing.T) apikey.Store { return env(t).APIKeys })
	})
}
