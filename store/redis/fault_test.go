package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/store/redis"
)

// ownRedis starts a redis-server of the test's own on a free port.
func ownRedis(t *testing.T, port int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	require.NoError(t, cmd.Start())
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	return cmd
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestFailsClosedAndRecovers stops the test's own Redis under the store:
// every call fails with store.ErrUnavailable within the caller's deadline,
// nothing panics, and the first call after a restart succeeds.
func TestFailsClosedAndRecovers(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found; CI=true requires the fault test")
		}
		t.Skip("redis-server not found")
	}
	port := freePort(t)
	srv := ownRedis(t, port)
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{fmt.Sprintf("127.0.0.1:%d", port)}, DisableCache: true,
		ConnWriteTimeout: 500 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	s := redis.NewSessionStore(c)
	now := time.Now()
	x := &session.Session{ID: session.NewID("u1"), SecretHash: []byte("h"), UserID: "u1", CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(2 * time.Hour)}
	_, err = s.Create(t.Context(), x, session.Limit{}, now)
	require.NoError(t, err)

	require.NoError(t, srv.Process.Kill())
	_ = srv.Wait()
	for _, call := range []func(ctx context.Context) error{
		func(ctx context.Context) error { _, err := s.Get(ctx, x.ID); return err },
		func(ctx context.Context) error { _, err := s.Create(ctx, x, session.Limit{Max: 3}, now); return err },
		func(ctx context.Context) error {
			_, err := s.RevokeUser(ctx, "u1", session.RevokeFilter{}, now, "x")
			return err
		},
		func(ctx context.Context) error { return s.Revoke(ctx, x.ID, now, "x") },
	} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		start := time.Now()
		err := call(ctx)
		cancel()
		require.Error(t, err)
		assert.True(t, errors.Is(err, store.ErrUnavailable), "want ErrUnavailable, got %v", err)
		assert.NotContains(t, err.Error(), "dial", "the cause stays out of the message")
		assert.Less(t, time.Since(start), 2*time.Second, "fails within the caller's deadline")
	}

	srv2 := ownRedis(t, port)
	t.Cleanup(func() { _ = srv2.Process.Kill(); _ = srv2.Wait() })
	require.Eventually(t, func() bool {
		_, err := s.Get(t.Context(), x.ID)
		return errors.Is(err, store.ErrNotFound) // the restarted server is empty: the session is gone, not an outage
	}, 10*time.Second, 50*time.Millisecond)
	_, err = s.Create(t.Context(), x, session.Limit{}, now)
	assert.NoError(t, err, "writes work again")
}
