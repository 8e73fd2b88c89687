package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/handlers"
	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/internal/redistest"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/store/redis"
	"github.com/authv2/authv2/user"
)

// TestLoadWithFaults runs the example service under load while its stores
// fail: the test's own Redis (sessions, rate limits) is killed and
// restarted, then the PostgreSQL backends of the pool (users,
// permissions) are terminated. Every response must be a success, a 401
// (the restarted Redis is empty, so clients log in again) or a 503 (fail
// closed): never a 500, never a protected answer without a session. The
// service must recover within seconds after each fault, and no audit
// event of a successful login may be lost.
func TestLoadWithFaults(t *testing.T) {
	if os.Getenv("AUTHV2_LOAD_DURATION") == "" {
		t.Skip("set AUTHV2_LOAD_DURATION to run the load tests")
	}
	pgURL := pgtest.URL(t)
	redisSrv := redistest.NewServer(t) // the test's own, to kill and restart
	rc := redistest.Client(t, []string{redisSrv.Addr}, false)

	// PostgreSQL with an application_name of its own, so the test kills
	// only its own backends.
	appName := "authv2_fault_" + strconv.Itoa(redisSrv.Port)
	u, err := url.Parse(pgURL)
	require.NoError(t, err)
	q := u.Query()
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	env := pgtest.NewSchema(t, pgtest.OpenURL(t, u.String()))
	admin := pgtest.Open(t)

	auditStore := memory.NewAuditStore()
	cfg := authv2test.Config()
	cfg.Argon2 = user.Argon2Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	m, err := authv2.New(authv2.WithUserStore(env.Stores.Users), authv2.WithPermissionStore(env.Stores.Permissions),
		authv2.WithSessionStore(redis.NewSessionStore(rc)), authv2.WithRateLimiter(redis.NewRateLimiter(rc)),
		authv2.WithAuditStore(auditStore), authv2.WithConfig(cfg), authv2.WithInsecurePasswordHashing())
	require.NoError(t, err)
	srv := serveSeeded(t, m)

	var (
		mu          sync.Mutex
		statuses    = map[string]map[int]int{}
		logins      atomic.Int64
		lastSuccess atomic.Int64 // unix nanos of the latest 2xx
	)
	record := func(op string, status int) {
		mu.Lock()
		defer mu.Unlock()
		if statuses[op] == nil {
			statuses[op] = map[int]int{}
		}
		statuses[op][status]++
		if status >= 200 && status < 300 {
			lastSuccess.Store(time.Now().UnixNano())
		}
	}
	call := func(hc *http.Client, op, method, path, token string, body any) (int, []byte) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, srv.URL+path, rd)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(handlers.AuthModeHeader, "bearer") // the token in the body, as API clients want it
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			record(op, -1)
			return -1, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		record(op, resp.StatusCode)
		return resp.StatusCode, b
	}

	const clients = 8
	d := 20 * time.Second
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			hc := &http.Client{Timeout: 10 * time.Second}
			email := fmt.Sprintf("fault%d@example.com", c)
			for {
				status, _ := call(hc, "register", "POST", "/register", "", map[string]string{"email": email, "password": password, "tenant_id": "acme"})
				if status == http.StatusCreated || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			token := ""
			for time.Now().Before(deadline) {
				if token == "" {
					status, b := call(hc, "login", "POST", "/login", "", map[string]string{"email": email, "password": password})
					if status == http.StatusOK {
						logins.Add(1)
						var res struct {
							Token string `json:"token"`
						}
						_ = json.Unmarshal(b, &res)
						token = res.Token
					} else {
						time.Sleep(20 * time.Millisecond)
					}
					continue
				}
				if status, _ := call(hc, "me", "GET", "/me", token, nil); status == http.StatusUnauthorized {
					token = "" // the restarted Redis forgot the session: log in again
					continue
				}
				call(hc, "orders", "GET", "/orders", token, nil)
			}
		})
	}

	// The faults.
	time.Sleep(4 * time.Second)
	redisSrv.Kill()
	t.Log("redis killed")
	time.Sleep(3 * time.Second)
	redisSrv.Start()
	redisBack := time.Now()
	t.Log("redis restarted")
	time.Sleep(4 * time.Second)
	killed := terminate(t, admin, appName)
	pgKilled := time.Now()
	t.Logf("terminated %d PostgreSQL backends", killed)
	wg.Wait()

	t.Logf("statuses per operation: %v", statuses)
	for op, byStatus := range statuses {
		for status, n := range byStatus {
			switch {
			case status >= 200 && status < 300, status == http.StatusUnauthorized, status == http.StatusServiceUnavailable:
			case status == http.StatusTooManyRequests:
			default:
				t.Errorf("%s answered %d %d times: want success, 401 or 503", op, status, n)
			}
		}
	}
	last := time.Unix(0, lastSuccess.Load())
	assert.True(t, last.After(redisBack) && last.After(pgKilled), "the service recovered after the faults (last success %v)", last)

	assert.EqualValues(t, logins.Load(), countAudited(t, m, audit.TypeLoginSuccess), "every successful login was audited")
}

// terminate ends every PostgreSQL backend with the given application name.
func terminate(t *testing.T, db *sql.DB, appName string) int {
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(),
		`SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) k`, appName).Scan(&n))
	return n
}
