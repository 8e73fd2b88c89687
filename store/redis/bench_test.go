package redis_test

import (
	"context"
	"crypto/tls"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/internal/redistest"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/redis"
)

func liveSession(userID string, now time.Time) *session.Session {
	return &session.Session{ID: session.NewID(userID), SecretHash: make([]byte, 32), UserID: userID, TenantID: "t1",
		CreatedAt: now, LastSeenAt: now, IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(2 * time.Hour),
		Client: session.ClientInfo{IP: "192.0.2.1", UserAgent: "bench"}}
}

// BenchmarkGet is Authenticate's store read against one bare GET of a
// small key, measured in the same run on the real Redis.
func BenchmarkGet(b *testing.B) {
	addr := redistest.Addr(b)
	ctx := context.Background()
	plain := redistest.Client(b, []string{addr}, false)
	cached := redistest.Client(b, []string{addr}, true)
	prefix := redistest.Prefix(b)
	now := time.Now()
	x := liveSession("bench-user", now)
	s := redis.NewSessionStore(plain, redis.WithKeyPrefix(prefix))
	_, err := s.Create(ctx, x, session.Limit{}, now)
	require.NoError(b, err)
	require.NoError(b, plain.Do(ctx, plain.B().Set().Key(prefix+"bare").Value("v").Build()).Error())

	b.Run("baseline=bare-GET", func(b *testing.B) {
		for b.Loop() {
			if err := plain.Do(ctx, plain.B().Get().Key(prefix+"bare").Build()).Error(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("session-get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Get(ctx, x.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("session-get/client-side-cache", func(b *testing.B) {
		cs := redis.NewSessionStore(cached, redis.WithKeyPrefix(prefix), redis.WithClientSideCache(time.Minute))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cs.Get(ctx, x.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRevokeUser1000 revokes a user's 1,000 sessions: one script, one
// round trip.
func BenchmarkRevokeUser1000(b *testing.B) {
	c := redistest.Client(b, []string{redistest.Addr(b)}, false)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		s := redis.NewSessionStore(c, redis.WithKeyPrefix(redistest.Prefix(b)))
		now := time.Now()
		for range 1000 {
			_, err := s.Create(ctx, liveSession("many", now), session.Limit{}, now)
			require.NoError(b, err)
		}
		b.StartTimer()
		ids, err := s.RevokeUser(ctx, "many", session.RevokeFilter{}, now, "bench")
		if err != nil || len(ids) != 1000 {
			b.Fatal(err, len(ids))
		}
	}
}

// A revoke on one instance evicts the session from every other instance's
// client-side cache (server-assisted invalidation).
func TestClientSideCacheInvalidatedAcrossInstances(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t)
	a := redis.NewSessionStore(redistest.Client(t, []string{addr}, true), redis.WithKeyPrefix(prefix), redis.WithClientSideCache(time.Minute))
	b := redis.NewSessionStore(redistest.Client(t, []string{addr}, true), redis.WithKeyPrefix(prefix), redis.WithClientSideCache(time.Minute))
	now := time.Now()
	x := liveSession("cached", now)
	_, err := a.Create(t.Context(), x, session.Limit{}, now)
	require.NoError(t, err)
	got, err := b.Get(t.Context(), x.ID)
	require.NoError(t, err)
	require.True(t, got.Live(now), "b caches the live session")
	require.NoError(t, a.Revoke(t.Context(), x.ID, now, "stolen"))
	assert.Eventually(t, func() bool {
		got, err := b.Get(t.Context(), x.ID)
		return err == nil && !got.RevokedAt.IsZero()
	}, time.Second, time.Millisecond, "b's cached copy is invalidated")
}

// countingConn counts the writes a client makes: one per round trip.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// RevokeUser of 1,000 sessions is one round trip: the client writes once.
func TestRevokeUserIsOneRoundTrip(t *testing.T) {
	var writes atomic.Int64
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{redistest.Addr(t)}, DisableCache: true,
		DialCtxFn: func(ctx context.Context, addr string, d *net.Dialer, _ *tls.Config) (net.Conn, error) {
			conn, err := d.DialContext(ctx, "tcp", addr)
			return countingConn{conn, &writes}, err
		}})
	require.NoError(t, err)
	defer c.Close()
	s := redis.NewSessionStore(c, redis.WithKeyPrefix(redistest.Prefix(t)))
	now := time.Now()
	for range 1000 {
		_, err := s.Create(t.Context(), liveSession("rt", now), session.Limit{}, now)
		require.NoError(t, err)
	}
	// Warm the script cache so EVALSHA does not fall back to EVAL.
	_, err = s.RevokeUser(t.Context(), "nobody", session.RevokeFilter{}, now, "warm")
	require.NoError(t, err)
	before := writes.Load()
	ids, err := s.RevokeUser(t.Context(), "rt", session.RevokeFilter{}, now, "all")
	require.NoError(t, err)
	assert.Len(t, ids, 1000)
	assert.Equal(t, int64(1), writes.Load()-before, "one request for 1,000 sessions")
}
