// Package redistest gives integration tests Redis clients: an in-process
// miniredis for fast unit runs, the real Redis at AUTHV2_TEST_REDIS_ADDR
// and the real Redis Cluster at AUTHV2_TEST_REDIS_CLUSTER_ADDRS. Tests
// skip when a variable is unset, so `go test ./...` passes without
// servers; with CI=true they fail instead.
package redistest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"
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
