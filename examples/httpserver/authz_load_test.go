package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/internal/token"
	"github.com/authv2/authv2/session"
)

// authzEnv reads a positive number from the environment, or def.
func authzEnv(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, name)
	require.Positive(t, n, name)
	return n
}

// TestAuthorizeLoad measures the example service's authorize-only route
// (GET /orders: authenticate the bearer token, authorize orders:read in
// the session's tenant, answer a short list) with a large population in
// PostgreSQL: AUTHV2_AUTHZ_USERS users (default 500) spread over up to 100
// tenants, each bound to a role and holding one session, hit by
// AUTHV2_AUTHZ_CLIENTS concurrent clients (default 16) for
// AUTHV2_AUTHZ_SECONDS (default 2), each request for a user drawn at
// random. It reports requests per second and latency percentiles. The
// population is written in bulk SQL into a schema of its own, dropped
// afterwards. The defaults keep it a CI-sized check; the figures in
// docs/BENCHMARKS.md come from
//
//	AUTHV2_AUTHZ_USERS=100000 AUTHV2_AUTHZ_SECONDS=30 go test -run TestAuthorizeLoad -v ./examples/httpserver
func TestAuthorizeLoad(t *testing.T) {
	users := authzEnv(t, "AUTHV2_AUTHZ_USERS", 500)
	clients := authzEnv(t, "AUTHV2_AUTHZ_CLIENTS", 16)
	d := time.Duration(authzEnv(t, "AUTHV2_AUTHZ_SECONDS", 2)) * time.Second
	env := pgtest.New(t)
	m, err := authv2.New(authv2.WithUserStore(env.Stores.Users), authv2.WithSessionStore(env.Stores.Sessions),
		authv2.WithPermissionStore(env.Stores.Permissions), authv2.WithRateLimiter(env.Stores.Limiter))
	require.NoError(t, err)
	srv := serveSeeded(t, m)

	t0 := time.Now()
	tokens := loadAuthzPopulation(t, m, env, users)
	t.Logf("loaded %d users, bindings and sessions in %v", users, time.Since(t0).Round(time.Millisecond))

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	t.Cleanup(hc.CloseIdleConnections)
	var (
		mu   sync.Mutex
		lat  []time.Duration
		fail int
		wg   sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 14))
			var mine []time.Duration
			bad := 0
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/orders", nil)
				req.Header.Set("Authorization", "Bearer "+tokens[rng.IntN(len(tokens))])
				s := time.Now()
				res, err := hc.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					_ = res.Body.Close()
				}
				mine = append(mine, time.Since(s))
				if err != nil || res.StatusCode != http.StatusOK {
					bad++
				}
			}
			mu.Lock()
			lat, fail = append(lat, mine...), fail+bad
			mu.Unlock()
		})
	}
	wg.Wait()
	require.NotEmpty(t, lat)
	require.Zero(t, fail, "every request of a bound user is allowed")
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(time.Microsecond)
	}
	t.Logf("GET /orders, %d users, %d clients, %v: %d requests, %.0f req/s, p50 %v, p99 %v, max %v",
		users, clients, d, len(lat), float64(len(lat))/d.Seconds(), q(0.5), q(0.99), lat[len(lat)-1].Round(time.Microsecond))
}

// loadAuthzPopulation writes users, their memberships, bindings (a
// clerk, every tenth a manager: roles the seed defines) and one session
// each, in bulk statements, and returns each session's token.
func loadAuthzPopulation(t *testing.T, m *authv2.Manager, env *pgtest.Env, users int) []string {
	t.Helper()
	ctx := t.Context()
	tenants := min(100, max(1, users/10))
	for i := range tenants {
		id := "load" + strconv.Itoa(i)
		_, err := m.CreateTenant(ctx, id, "Load "+strconv.Itoa(i))
		require.NoError(t, err)
		require.NoError(t, putRoles(ctx, m, id))
	}
	s := `"` + env.Schema + `".`
	for _, st := range []struct {
		q    string
		args []any
	}{
		{`INSERT INTO ` + s + `users (id, email, email_key, status, created_at, updated_at, security_stamp)
			SELECT 'load-u' || g, 'load' || g || '@example.com', 'load' || g || '@example.com', 'active', now(), now(), 'stamp'
			FROM generate_series(0, $1 - 1) AS g`, []any{users}},
		{`INSERT INTO ` + s + `memberships (tenant_id, user_id, created_at)
			SELECT 'load' || (g % $2), 'load-u' || g, now() FROM generate_series(0, $1 - 1) AS g`, []any{users, tenants}},
		{`INSERT INTO ` + s + `bindings (tenant_id, user_id, role, created_at)
			SELECT 'load' || (g % $2), 'load-u' || g, CASE WHEN g % 10 = 0 THEN 'manager' ELSE 'clerk' END, now()
			FROM generate_series(0, $1 - 1) AS g`, []any{users, tenants}},
	} {
		_, err := env.DB.ExecContext(ctx, st.q, st.args...)
		require.NoError(t, err)
	}
	ids, hashes, userIDs, tenantIDs := make([]string, users), make([][]byte, users), make([]string, users), make([]string, users)
	tokens := make([]string, users)
	for g := range users {
		userIDs[g], tenantIDs[g] = "load-u"+strconv.Itoa(g), "load"+strconv.Itoa(g%tenants)
		ids[g] = session.NewID(userIDs[g])
		tok, secret, err := token.New(ids[g])
		require.NoError(t, err)
		tokens[g], hashes[g] = tok, session.HashSecret(secret)
	}
	now := time.Now().UTC()
	_, err := env.DB.ExecContext(ctx, `INSERT INTO `+s+`sessions (id, secret_hash, user_id, tenant_id, created_at, last_seen_at,
			idle_expires_at, absolute_expires_at, authenticated_at, auth_level, security_stamp)
		SELECT id, h, u, tn, $5::timestamptz, $5, $5 + interval '30 minutes', $5 + interval '12 hours', $5, 1, 'stamp'
		FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[]) AS x(id, h, u, tn)`,
		pq.Array(ids), pq.ByteaArray(hashes), pq.Array(userIDs), pq.Array(tenantIDs), now)
	require.NoError(t, err)
	_, err = env.DB.ExecContext(ctx, `ANALYZE `+s+`users; ANALYZE `+s+`sessions; ANALYZE `+s+`bindings`)
	require.NoError(t, err, fmt.Sprint("analyze ", env.Schema))
	return tokens
}
