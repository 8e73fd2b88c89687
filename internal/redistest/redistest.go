// Package redistest gives integration tests Redis clients: an in-process
// miniredis for fast unit runs, the real Redis at AUTHV2_TEST_REDIS_ADDR
// and the real Redis Cluster at AUTHV2_TEST_REDIS_CLUSTER_ADDRS. Tests
// skip when a variable is unset, so `go test ./...` passes without
// servers; with CI=true they fail instead.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"
	"go.uber.org/goleak"
)

// Environment variables naming the test servers.
const (
	EnvAddr         = "AUTHV2_TEST_REDIS_ADDR"
	EnvClusterAddrs = "AUTHV2_TEST_REDIS_CLUSTER_ADDRS"
)

// need returns the variable's value or skips (fails with CI=true).
func need(t testing.TB, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(name + " is not set; CI=true requires " + what + " integration tests to run")
		}
		t.Skip("set " + name + " to run " + what + " integration tests")
	}
	return v
}

// Addr returns the single-node test Redis address, or skips.
func Addr(t testing.TB) string { return need(t, EnvAddr, "Redis") }

// ClusterAddrs returns the test Redis Cluster's node addresses, or skips.
func ClusterAddrs(t testing.TB) []string {
	return strings.Split(need(t, EnvClusterAddrs, "Redis Cluster"), ",")
}

// Client connects to addrs, closed when the test ends.
func Client(t testing.TB, addrs []string, cache bool) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs, DisableCache: !cache})
	if err != nil {
		t.Fatalf("redistest: connect %v: %v", addrs, err)
	}
	t.Cleanup(c.Close)
	return c
}

// Mini starts an in-process miniredis and returns a client on it.
func Mini(t testing.TB) (*miniredis.Miniredis, rueidis.Client) {
	t.Helper()
	m := miniredis.RunT(t)
	return m, Client(t, []string{m.Addr()}, false)
}

// Prefix returns a key prefix no other test uses, so tests sharing one
// server stay isolated.
func Prefix(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "authv2test:" + hex.EncodeToString(b[:]) + ":"
}

// Clean deletes every key under prefix when the test ends, on every node
// of c (each master of a cluster), so tests leave the shared server as
// they found it. Register it after Client, so it runs before the close.
func Clean(t testing.TB, c rueidis.Client, prefix string) { CleanWithin(t, c, prefix, 30*time.Second) }

// CleanWithin is Clean with a time limit of d, for tests that write more
// keys than Clean deletes in 30 seconds.
func CleanWithin(t testing.TB, c rueidis.Client, prefix string, d time.Duration) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		for _, node := range c.Nodes() {
			var cursor uint64
			for {
				e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(prefix+"*").Count(10000).Build()).AsScanEntry()
				if err != nil {
					t.Logf("redistest: clean %s: %v", prefix, err)
					break
				}
				// One key per command: a cluster refuses multi-key DEL across slots.
				cmds := make(rueidis.Commands, 0, len(e.Elements))
				for _, k := range e.Elements {
					cmds = append(cmds, c.B().Unlink().Key(k).Build())
				}
				for _, r := range c.DoMulti(ctx, cmds...) {
					if err := r.Error(); err != nil {
						t.Logf("redistest: clean %s: %v", prefix, err)
					}
				}
				if cursor = e.Cursor; cursor == 0 {
					break
				}
			}
		}
	})
}

// LeakOptions are the goleak options of packages that use rueidis: after
// Close, a cluster client may still sleep in a topology-refresh retry,
// and any client in a reconnect backoff (singleflight DelayDo), for up to
// a few seconds before the goroutine ends by itself.
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*clusterClient)._refresh.func2"),
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*call).DelayDo.func1"),
	}
}

// BareGetRatio runs op in a benchmark loop, each iteration also timing one
// bare GET of a small key before it, so both see the same machine load,
// and reports both means and op's time over the GET's as "<name>/bare":
// the measure of the Redis speed targets.
func BareGetRatio(b *testing.B, c rueidis.Client, prefix, name string, op func(context.Context) error) {
	b.Helper()
	ctx := context.Background()
	small := prefix + "small"
	if err := c.Do(ctx, c.B().Set().Key(small).Value("v").Build()).Error(); err != nil {
		b.Fatal(err)
	}
	var bare, timed time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := c.Do(ctx, c.B().Get().Key(small).Build()).Error(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := op(ctx); err != nil {
			b.Fatal(err)
		}
		bare, timed = bare+t1.Sub(t0), timed+time.Since(t1)
	}
	b.ReportMetric(float64(bare.Nanoseconds())/float64(b.N), "bare-ns/op")
	b.ReportMetric(float64(timed.Nanoseconds())/float64(b.N), name+"-ns/op")
	b.ReportMetric(float64(timed)/float64(bare), name+"/bare")
}
