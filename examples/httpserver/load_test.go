package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/handlers"
	"github.com/authv2/authv2/internal/redistest"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/store/redis"
)

// loadStores picks the stores of the load test: the real PostgreSQL (and
// Redis, when its variable is set) in CI, memory otherwise.
var loadStores = func(t *testing.T) []authv2.Option {
	var opts []authv2.Option
	if os.Getenv("AUTHV2_TEST_POSTGRES_URL") != "" {
		opts = backends[1].opts(t)
	}
	if addr := os.Getenv(redistest.EnvAddr); addr != "" {
		c := redistest.Client(t, []string{addr}, false)
		p := redistest.Prefix(t)
		redistest.Clean(t, c, p)
		prefix := redis.WithKeyPrefix(p)
		opts = append(opts, authv2.WithSessionStore(redis.NewSessionStore(c, prefix)),
			authv2.WithRateLimiter(redis.NewRateLimiter(c, prefix)), authv2.WithPolicyBus(redis.NewPolicyBus(c, prefix)))
	}
	return opts
}

// TestLoad drives the example service over loopback with concurrent
// clients doing register, login, authenticate (every request),
// authorize (orders), list and revoke sessions, for AUTHV2_LOAD_DURATION
// (at most 60 s). It reports throughput, latency percentiles, errors and
// memory, and fails on unexpected errors or on goroutine or heap growth
// between the first and the last 10 s.
func TestLoad(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("AUTHV2_LOAD_DURATION"))
	if err != nil || d <= 0 {
		t.Skip("set AUTHV2_LOAD_DURATION (e.g. 30s, at most 60s) to run the load test")
	}
	d = min(d, 60*time.Second)
	auditStore := memory.NewAuditStore()
	opts := append([]authv2.Option{authv2.WithAuditStore(auditStore)}, loadStores(t)...)
	m, err := authv2.New(opts...) // production argon2 parameters: logins cost what they cost
	require.NoError(t, err)
	srv := serveSeeded(t, m)

	var (
		mu        sync.Mutex
		latencies = map[string][]time.Duration{}
		errs      = map[string]int{}
		ok        = map[string]int{}
		requests  atomic.Int64
	)
	do := func(hc *http.Client, op, method, path, token string, body any, want int) []byte {
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
		start := time.Now()
		resp, err := hc.Do(req)
		el := time.Since(start)
		requests.Add(1)
		var out []byte
		if err == nil {
			out, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		mu.Lock()
		defer mu.Unlock()
		latencies[op] = append(latencies[op], el)
		if err != nil || resp.StatusCode != want {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			errs[fmt.Sprintf("%s:%d", op, status)]++
			return nil
		}
		ok[op]++
		return out
	}

	type sample struct {
		goroutines int
		heap       uint64
	}
	var samples []sample
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				mu.Lock()
				samples = append(samples, sample{runtime.NumGoroutine(), ms.HeapAlloc})
				mu.Unlock()
			}
		}
	})

	const clients = 16
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	var revoked atomic.Int64
	for c := range clients {
		wg.Go(func() {
			hc := &http.Client{Timeout: 10 * time.Second}
			email := fmt.Sprintf("load%d@example.com", c)
			do(hc, "register", "POST", "/register", "", map[string]string{"email": email, "password": password, "tenant_id": "acme"}, http.StatusCreated)
			var token string
			for i := 0; time.Now().Before(deadline); i++ {
				if i%25 == 0 {
					var res struct {
						Token string `json:"token"`
					}
					if b := do(hc, "login", "POST", "/login", "", map[string]string{"email": email, "password": password, "device": "load"}, http.StatusOK); b != nil {
						_ = json.Unmarshal(b, &res)
						token = res.Token
					}
				}
				do(hc, "me", "GET", "/me", token, nil, http.StatusOK)
				do(hc, "orders", "GET", "/orders", token, nil, http.StatusOK)
				if i%5 == 0 {
					var list []struct {
						ID      string `json:"id"`
						Current bool   `json:"current"`
					}
					if b := do(hc, "sessions", "GET", "/sessions", token, nil, http.StatusOK); b != nil {
						_ = json.Unmarshal(b, &list)
					}
					for _, s := range list {
						if !s.Current { // sign out the older devices
							do(hc, "revoke", "DELETE", "/sessions/"+s.ID, token, nil, http.StatusNoContent)
							revoked.Add(1)
						}
					}
				}
			}
		})
	}
	wg.Wait()
	close(stopSampling)
	sampler.Wait()

	total := requests.Load()
	t.Logf("load: %d clients, %v, %d requests, %.0f req/s, %d sessions revoked", clients, d, total, float64(total)/d.Seconds(), revoked.Load())
	ops := make([]string, 0, len(latencies))
	for op := range latencies {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	for _, op := range ops {
		l := latencies[op]
		slices.Sort(l)
		t.Logf("  %-9s n=%6d  p50=%8v  p99=%8v  max=%8v", op, len(l), l[len(l)/2].Round(time.Microsecond),
			l[len(l)*99/100].Round(time.Microsecond), l[len(l)-1].Round(time.Microsecond))
	}
	assert.Empty(t, errs, "unexpected responses (op:status -> count)")

	require.GreaterOrEqual(t, len(samples), 4, "need samples from the first and the last seconds")
	window := max(1, min(5, len(samples)/4)) // 10 s of 2-second samples
	first, last := samples[:window], samples[len(samples)-window:]
	avg := func(s []sample) (g float64, h float64) {
		for _, x := range s {
			g += float64(x.goroutines)
			h += float64(x.heap)
		}
		return g / float64(len(s)), h / float64(len(s))
	}
	g1, h1 := avg(first)
	g2, h2 := avg(last)
	t.Logf("  goroutines %.0f -> %.0f, heap %.1f MiB -> %.1f MiB", g1, g2, h1/(1<<20), h2/(1<<20))
	assert.LessOrEqual(t, g2, g1+10, "goroutines grew")
	assert.LessOrEqual(t, h2, h1*1.5+16<<20, "heap grew")

	assert.Equal(t, ok["login"], countAudited(t, m, audit.TypeLoginSuccess), "every successful login was audited")
}

// countAudited flushes the audit queue and counts the stored events of a
// type, page by page.
func countAudited(t *testing.T, m *authv2.Manager, typ audit.Type) int {
	t.Helper()
	require.NoError(t, m.FlushAudit(t.Context()))
	n := 0
	q := audit.Query{Types: []audit.Type{typ}, Limit: audit.MaxPageSize}
	for {
		page, err := m.QueryAudit(t.Context(), q)
		require.NoError(t, err)
		n += len(page.Events)
		if page.Next == "" {
			return n
		}
		q.Cursor = page.Next
	}
}
