package redis_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/internal/redistest"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/store/redis"
)

// counting counts the commands a store sends, each Do, DoCache or DoMulti
// being one round trip.
type counting struct {
	rueidis.Client
	n atomic.Int64
}

func (c *counting) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	c.n.Add(1)
	return c.Client.Do(ctx, cmd)
}

func (c *counting) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	c.n.Add(1)
	return c.Client.DoCache(ctx, cmd, ttl)
}

func (c *counting) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	c.n.Add(1)
	return c.Client.DoMulti(ctx, cmds...)
}

func live(userID string, at time.Time) *session.Session {
	return &session.Session{
		ID: session.NewID(userID), SecretHash: session.HashSecret([]byte("s")), UserID: userID, TenantID: "t1",
		CreatedAt: at, LastSeenAt: at, IdleExpiresAt: at.Add(30 * time.Minute), AbsoluteExpiresAt: at.Add(12 * time.Hour),
		AuthenticatedAt: at, AuthLevel: 1,
	}
}

// The Authenticate path (Get), Touch and RevokeUser of a user with 1,000
// sessions each cost one round trip, on miniredis and on a cluster.
func TestRoundTrips(t *testing.T) {
	clients := map[string]func(t *testing.T) rueidis.Client{
		"miniredis": func(t *testing.T) rueidis.Client { _, c := redistest.Mini(t); return c },
		"cluster":   func(t *testing.T) rueidis.Client { return redistest.Client(t, redistest.ClusterAddrs(t), false) },
	}
	for name, mk := range clients {
		t.Run(name, func(t *testing.T) {
			c := &counting{Client: mk(t)}
			prefix := redistest.Prefix(t)
			redistest.Clean(t, c.Client, prefix)
			s := redis.NewSessionStore(c, redis.WithKeyPrefix(prefix))
			ctx, now := context.Background(), time.Now()
			var first string
			for i := range 1000 {
				x := live("u-many", now.Add(time.Duration(i)*time.Microsecond))
				if i == 0 {
					first = x.ID
				}
				_, err := s.Create(ctx, x, session.Limit{}, now)
				require.NoError(t, err)
			}
			// Scripts load on first use (NOSCRIPT, then EVAL), per cluster
			// node: warm each up on the very keys measured below.
			_, err := s.Create(ctx, live("u-other", now), session.Limit{Max: 3}, now)
			require.NoError(t, err)
			require.NoError(t, s.Touch(ctx, first, now, now.Add(time.Hour)))
			none, err := s.RevokeUser(ctx, "u-many", session.RevokeFilter{TenantID: "no-such-tenant"}, now, session.ReasonRevoked)
			require.NoError(t, err)
			require.Empty(t, none)

			c.n.Store(0)
			_, err = s.Create(ctx, live("u-other", now), session.Limit{Max: 3}, now)
			require.NoError(t, err)
			assert.EqualValues(t, 1, c.n.Load(), "Create")

			c.n.Store(0)
			_, err = s.Get(ctx, first)
			require.NoError(t, err)
			assert.EqualValues(t, 1, c.n.Load(), "Get")

			c.n.Store(0)
			require.NoError(t, s.Touch(ctx, first, now, now.Add(time.Hour)))
			assert.EqualValues(t, 1, c.n.Load(), "Touch")

			c.n.Store(0)
			ids, err := s.RevokeUser(ctx, "u-many", session.RevokeFilter{}, now, session.ReasonRevoked)
			require.NoError(t, err)
			assert.Len(t, ids, 1000)
			assert.EqualValues(t, 1, c.n.Load(), "RevokeUser")
		})
	}
}

// realServers are the real Redis deployments a test runs on.
var realServers = map[string]func(t testing.TB) []string{
	"redis":   func(t testing.TB) []string { return []string{redistest.Addr(t)} },
	"cluster": redistest.ClusterAddrs,
}

// cachedPair returns two session stores on addrs as two instances would
// have them, each on its own client with the client-side cache on, and
// the first one's client and key prefix.
func cachedPair(t *testing.T, addrs []string) (a, b *redis.SessionStore, ca rueidis.Client, prefix string) {
	t.Helper()
	prefix = redistest.Prefix(t)
	ca, cb := redistest.Client(t, addrs, true), redistest.Client(t, addrs, true)
	redistest.Clean(t, ca, prefix)
	a = redis.NewSessionStore(ca, redis.WithKeyPrefix(prefix), redis.WithClientSideCache(time.Minute))
	b = redis.NewSessionStore(cb, redis.WithKeyPrefix(prefix), redis.WithClientSideCache(time.Minute))
	return a, b, ca, prefix
}

// A revoke through one instance reaches another instance's client-side
// cache through server-assisted invalidation.
func TestClientSideCacheInvalidation(t *testing.T) {
	for name, addrs := range realServers {
		t.Run(name, func(t *testing.T) {
			sa, sb, ca, prefix := cachedPair(t, addrs(t))
			ctx, now := context.Background(), time.Now()
			x := live("u-csc", now)
			_, err := sa.Create(ctx, x, session.Limit{}, now)
			require.NoError(t, err)

			key := prefix + "{" + session.TagOf(x.ID) + "}:s:" + x.ID
			got, err := sa.Get(ctx, x.ID)
			require.NoError(t, err)
			require.True(t, got.RevokedAt.IsZero())
			assert.True(t, ca.DoCache(ctx, ca.B().Hmget().Key(key).Field(redis.GetFields...).Cache(), time.Minute).IsCacheHit(), "Get must fill the cache")

			require.NoError(t, sb.Revoke(ctx, x.ID, now, session.ReasonLogout))
			assert.Eventually(t, func() bool {
				got, err := sa.Get(ctx, x.ID)
				return err == nil && !got.RevokedAt.IsZero()
			}, 2*time.Second, 5*time.Millisecond, "instance A must see instance B's revoke")
		})
	}
}

// With the client-side cache on, a revoke through instance A reaches
// instance B's cached copy asynchronously, by Redis's invalidation push.
// This measures how long B's Get goes on reading the session as live after
// A's Revoke has returned, over many trials, and logs the maximum and p99
// (the figure the docs quote). It fails when B does not see a revoke
// within a second: invalidation has stopped working (the cache TTL here
// is a minute, so it cannot be what ends the staleness).
func TestClientSideCacheStaleness(t *testing.T) {
	for name, addrs := range realServers {
		t.Run(name, func(t *testing.T) {
			b, a, cb, prefix := cachedPair(t, addrs(t)) // b caches, a revokes
			ctx, now := context.Background(), time.Now()
			const trials, bound = 1000, time.Second
			stale := make([]time.Duration, 0, trials)
			staleTrials := 0 // trials whose first read after the revoke was stale
			for i := range trials {
				x := live(fmt.Sprintf("u-stale-%d", i%50), now)
				_, err := a.Create(ctx, x, session.Limit{}, now)
				require.NoError(t, err)
				got, err := b.Get(ctx, x.ID)
				require.NoError(t, err)
				require.True(t, got.RevokedAt.IsZero())
				key := prefix + "{" + session.TagOf(x.ID) + "}:s:" + x.ID
				require.True(t, cb.DoCache(ctx, cb.B().Hmget().Key(key).Field(redis.GetFields...).Cache(), time.Minute).IsCacheHit(), "B caches the session")
				require.NoError(t, a.Revoke(ctx, x.ID, now, session.ReasonLogout))
				revoked := time.Now()
				for first := true; ; first = false {
					got, err := b.Get(ctx, x.ID)
					require.NoError(t, err)
					if !got.RevokedAt.IsZero() {
						break
					}
					if first {
						staleTrials++
					}
					if time.Since(revoked) > bound {
						t.Fatalf("trial %d: B still reads the session as live %v after A revoked it", i, bound)
					}
					runtime.Gosched()
				}
				stale = append(stale, time.Since(revoked))
			}
			slices.Sort(stale)
			t.Logf("%s, %d trials: B's first read after the revoke was stale in %d; staleness after Revoke returned: p50 %v, p99 %v, max %v",
				name, trials, staleTrials, stale[trials/2], stale[trials*99/100], stale[trials-1])
		})
	}
}

// Redis going away makes every call fail closed with ErrUnavailable within
// the caller's deadline; the next call after it is back succeeds.
func TestRedisDown(t *testing.T) {
	srv := redistest.NewServer(t)
	c := redistest.Client(t, []string{srv.Addr}, false)
	s := redis.NewSessionStore(c)
	now := time.Now()
	x := live("u-fault", now)
	_, err := s.Create(context.Background(), x, session.Limit{Max: 3}, now)
	require.NoError(t, err)

	srv.Kill()

	calls := map[string]func(ctx context.Context) error{
		"Get": func(ctx context.Context) error { _, err := s.Get(ctx, x.ID); return err },
		"Create": func(ctx context.Context) error {
			_, err := s.Create(ctx, live("u-fault", now), session.Limit{Max: 3}, now)
			return err
		},
		"Touch":  func(ctx context.Context) error { return s.Touch(ctx, x.ID, now, now.Add(time.Hour)) },
		"Revoke": func(ctx context.Context) error { return s.Revoke(ctx, x.ID, now, session.ReasonLogout) },
		"RevokeUser": func(ctx context.Context) error {
			_, err := s.RevokeUser(ctx, "u-fault", session.RevokeFilter{}, now, session.ReasonRevoked)
			return err
		},
		"ListByUser": func(ctx context.Context) error { _, err := s.ListByUser(ctx, "u-fault", now); return err },
		"Stats":      func(ctx context.Context) error { _, err := s.Stats(ctx, session.StatsFilter{}, now); return err },
	}
	const deadline = 300 * time.Millisecond
	for name, call := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		began := time.Now()
		err := call(ctx)
		took := time.Since(began)
		cancel()
		require.ErrorIs(t, err, store.ErrUnavailable, name)
		assert.NotContains(t, err.Error(), strconv.Itoa(srv.Port), "%s: the message must hide the cause", name)
		assert.Less(t, took, deadline+200*time.Millisecond, "%s must fail within the caller's deadline", name)
	}

	bus := redis.NewPolicyBus(c)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	began := time.Now()
	stop, err := bus.Subscribe(ctx, func(string, int64) {})
	cancel()
	require.ErrorIs(t, err, store.ErrUnavailable, "PolicyBus.Subscribe")
	assert.Nil(t, stop)
	assert.Less(t, time.Since(began), deadline+200*time.Millisecond, "Subscribe must fail within the caller's deadline")
	ctx, cancel = context.WithTimeout(context.Background(), deadline)
	require.ErrorIs(t, bus.Publish(ctx, "t1", 1), store.ErrUnavailable, "PolicyBus.Publish")
	cancel()

	srv.Start()
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := s.Create(ctx, live("u-fault", now), session.Limit{}, now)
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "calls must succeed once Redis is back")
	_, err = s.Get(context.Background(), x.ID)
	assert.ErrorIs(t, err, store.ErrNotFound, "the restarted server is empty: a Redis nil is not an outage")

	got := make(chan int64, 1)
	stop, err = bus.Subscribe(context.Background(), func(_ string, v int64) { got <- v })
	require.NoError(t, err, "the bus subscribes once Redis is back")
	defer stop()
	require.NoError(t, bus.Publish(context.Background(), "t1", 7))
	select {
	case v := <-got:
		assert.EqualValues(t, 7, v)
	case <-time.After(5 * time.Second):
		t.Fatal("no announcement after recovery")
	}
}

// BenchmarkGet compares the Authenticate path (Get) with a bare rueidis GET
// of a small key in the same run; "cached" serves Get from the client-side
// cache.
func BenchmarkGet(b *testing.B) {
	addr := redistest.Addr(b)
	ctx, now := context.Background(), time.Now()
	for _, cached := range []bool{false, true} {
		c := redistest.Client(b, []string{addr}, cached)
		prefix := redistest.Prefix(b)
		redistest.Clean(b, c, prefix)
		var opts []redis.Option
		if cached {
			opts = append(opts, redis.WithClientSideCache(time.Minute))
		}
		s := redis.NewSessionStore(c, append(opts, redis.WithKeyPrefix(prefix))...)
		x := live("u-bench", now)
		x.Client = session.ClientInfo{IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", DeviceLabel: "laptop"}
		_, err := s.Create(ctx, x, session.Limit{}, now)
		require.NoError(b, err)
		small := prefix + "small"
		require.NoError(b, c.Do(ctx, c.B().Set().Key(small).Value("v").Build()).Error())

		name := fmt.Sprintf("cache=%t", cached)
		b.Run(name+"/bare-GET", func(b *testing.B) {
			for b.Loop() {
				var err error
				if cached {
					err = c.DoCache(ctx, c.B().Get().Key(small).Cache(), time.Minute).Error()
				} else {
					err = c.Do(ctx, c.B().Get().Key(small).Build()).Error()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/store-Get", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Get(ctx, x.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRevokeUser revokes 1,000 sessions of one user per iteration.
func BenchmarkRevokeUser(b *testing.B) {
	c := redistest.Client(b, []string{redistest.Addr(b)}, false)
	prefix := redistest.Prefix(b)
	redistest.Clean(b, c, prefix)
	s := redis.NewSessionStore(c, redis.WithKeyPrefix(prefix))
	ctx, now := context.Background(), time.Now()
	for b.Loop() {
		b.StopTimer()
		for i := range 1000 {
			_, err := s.Create(ctx, live("u-rev", now.Add(time.Duration(i)*time.Microsecond)), session.Limit{}, now)
			require.NoError(b, err)
		}
		b.StartTimer()
		ids, err := s.RevokeUser(ctx, "u-rev", session.RevokeFilter{}, now, session.ReasonRevoked)
		require.NoError(b, err)
		require.Len(b, ids, 1000)
	}
}

// BenchmarkGetRatio interleaves a bare GET of a small key and the store's
// Get in each iteration, so both see the same machine load, and reports
// their mean times and ratio (target: get/bare under 1.2).
func BenchmarkGetRatio(b *testing.B) {
	ctx, now := context.Background(), time.Now()
	c := redistest.Client(b, []string{redistest.Addr(b)}, false)
	prefix := redistest.Prefix(b)
	redistest.Clean(b, c, prefix)
	s := redis.NewSessionStore(c, redis.WithKeyPrefix(prefix))
	x := live("u-ratio", now)
	_, err := s.Create(ctx, x, session.Limit{}, now)
	require.NoError(b, err)
	redistest.BareGetRatio(b, c, prefix, "get", func(ctx context.Context) error {
		_, err := s.Get(ctx, x.ID)
		return err
	})
}

// Without a limit, Create still trims the user index of sessions Redis
// has expired, so it does not grow for a user who never lists.
func TestUnlimitedCreatePrunesIndex(t *testing.T) {
	m, c := redistest.Mini(t)
	s := redis.NewSessionStore(c)
	ctx, now := context.Background(), time.Now()
	for i := range 10 {
		_, err := s.Create(ctx, live("u-prune", now.Add(time.Duration(i)*time.Microsecond)), session.Limit{}, now)
		require.NoError(t, err)
	}
	// One long session keeps the index key itself alive.
	long := live("u-prune", now.Add(time.Millisecond))
	long.IdleExpiresAt, long.AbsoluteExpiresAt = now.Add(48*time.Hour), now.Add(48*time.Hour)
	_, err := s.Create(ctx, long, session.Limit{}, now)
	require.NoError(t, err)
	m.FastForward(13 * time.Hour) // every other session's key expires
	later := now.Add(13 * time.Hour)
	for range 5 {
		_, err := s.Create(ctx, live("u-prune", later), session.Limit{}, later)
		require.NoError(t, err)
	}
	members, err := c.Do(ctx, c.B().Zcard().Key("authv2:{"+session.UserTag("u-prune")+"}:u:u-prune").Build()).AsInt64()
	require.NoError(t, err)
	assert.EqualValues(t, 6, members, "each create drops up to three dead members: the 10 are gone after 4 creates")
}

// A stored record that does not decode (damaged, or written by another
// program) fails closed with ErrUnavailable naming the operation, never
// a panic or a half-read session.
func TestCorruptRecordFailsClosed(t *testing.T) {
	s, c, x, key := storedOnMini(t, "u-corrupt")
	ctx, now := context.Background(), time.Now()
	require.NoError(t, c.Do(ctx, c.B().Hset().Key(key).FieldValue().FieldValue("d", "garbage").Build()).Error())

	_, err := s.Get(ctx, x.ID)
	assert.ErrorIs(t, err, store.ErrUnavailable)
	assert.ErrorContains(t, err, "session.get")
	_, err = s.ListByUser(ctx, "u-corrupt", now)
	assert.ErrorIs(t, err, store.ErrUnavailable)
}

// A session stored in an older layout (no packed fields) is not listed,
// but listing leaves it in the user's index, so signing out everywhere
// still revokes it.
func TestOlderLayoutStaysRevocable(t *testing.T) {
	s, c, x, key := storedOnMini(t, "u-old")
	ctx, now := context.Background(), time.Now()
	require.NoError(t, c.Do(ctx, c.B().Hdel().Key(key).Field("d", "m").Build()).Error())

	got, err := s.ListByUser(ctx, "u-old", now)
	require.NoError(t, err)
	assert.Empty(t, got)
	ids, err := s.RevokeUser(ctx, "u-old", session.RevokeFilter{}, now, session.ReasonRevoked)
	require.NoError(t, err)
	assert.Equal(t, []string{x.ID}, ids)
}

// storedOnMini stores one live session of userID on a fresh miniredis and
// returns the store, the client, the session and its key.
func storedOnMini(t *testing.T, userID string) (*redis.SessionStore, rueidis.Client, *session.Session, string) {
	t.Helper()
	_, c := redistest.Mini(t)
	s := redis.NewSessionStore(c)
	now := time.Now()
	x := live(userID, now)
	_, err := s.Create(context.Background(), x, session.Limit{}, now)
	require.NoError(t, err)
	return s, c, x, "authv2:{" + session.TagOf(x.ID) + "}:s:" + x.ID
}

// The expiry index is split over shards by user, so on a cluster the one
// write every Create makes to it does not always land on one node; a
// user's sessions share a shard, so a per-user Stats reads one.
func TestExpiryIndexIsSharded(t *testing.T) {
	_, c := redistest.Mini(t)
	s := redis.NewSessionStore(c)
	ctx, now := context.Background(), time.Now()
	for u := range 64 {
		for range 2 {
			_, err := s.Create(ctx, live(fmt.Sprintf("u-shard-%d", u), now), session.Limit{}, now)
			require.NoError(t, err)
		}
	}
	keys, err := c.Do(ctx, c.B().Keys().Pattern("authv2:{expiry:*}").Build()).AsStrSlice()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(keys), 8, "64 users over 16 shards")
	total := int64(0)
	for _, k := range keys {
		n, err := c.Do(ctx, c.B().Zcard().Key(k).Build()).AsInt64()
		require.NoError(t, err)
		total += n
	}
	assert.EqualValues(t, 128, total, "every session indexed once")
	st, err := s.Stats(ctx, session.StatsFilter{UserID: "u-shard-7"}, now)
	require.NoError(t, err)
	assert.Equal(t, 2, st.Live)
}

// The user index has no TTL (so volatile-* eviction never picks it before
// its sessions), and DeleteExpired drops sessions Redis already expired
// from it, so the index of a user who never comes back is deleted too;
// expiry index members of earlier builds (the bare ID) are still dropped.
func TestUserIndexOutlivesSessionsAndIsPruned(t *testing.T) {
	m, c := redistest.Mini(t)
	s := redis.NewSessionStore(c)
	ctx, now := context.Background(), time.Now()
	userKey := "authv2:{" + session.UserTag("u-idx") + "}:u:u-idx"
	a, b := live("u-idx", now), live("u-idx", now)
	for _, x := range []*session.Session{a, b} {
		_, err := s.Create(ctx, x, session.Limit{}, now)
		require.NoError(t, err)
	}
	assert.Equal(t, time.Duration(0), m.TTL(userKey), "the user index has no TTL")
	// b as an earlier build indexed it: the bare ID.
	shard, err := c.Do(ctx, c.B().Keys().Pattern("authv2:{expiry:*}").Build()).AsStrSlice()
	require.NoError(t, err)
	require.Len(t, shard, 1)
	require.NoError(t, c.Do(ctx, c.B().Zrem().Key(shard[0]).Member(b.ID+" u-idx").Build()).Error())
	require.NoError(t, c.Do(ctx, c.B().Zadd().Key(shard[0]).ScoreMember().ScoreMember(1, b.ID).Build()).Error())

	m.FastForward(31 * time.Minute) // both sessions' keys expire
	n, err := s.DeleteExpired(ctx, now.Add(31*time.Minute))
	require.NoError(t, err)
	assert.Zero(t, n, "Redis had already expired both")
	assert.False(t, m.Exists(userKey), "the emptied user index is gone")
	members, err := c.Do(ctx, c.B().Zcard().Key(shard[0]).Build()).AsInt64()
	require.NoError(t, err)
	assert.Zero(t, members, "both expiry index members are dropped")
}

// Check refuses allkeys-* eviction policies, which may evict a user's
// session index before its sessions, accepts noeviction and volatile-*,
// and skips a server that refuses CONFIG (miniredis, like many managed
// services).
func TestCheckEvictionPolicy(t *testing.T) {
	srv := redistest.NewServer(t)
	c := redistest.Client(t, []string{srv.Addr}, false)
	s := redis.NewSessionStore(c)
	ctx := context.Background()
	for policy, safe := range map[string]bool{"noeviction": true, "volatile-lru": true, "volatile-ttl": true, "allkeys-lru": false, "allkeys-random": false} {
		require.NoError(t, c.Do(ctx, c.B().ConfigSet().ParameterValue().ParameterValue("maxmemory-policy", policy).Build()).Error())
		if err := s.Check(ctx); safe {
			assert.NoError(t, err, policy)
		} else {
			assert.ErrorIs(t, err, redis.ErrUnsafeEviction, policy)
			assert.ErrorContains(t, err, policy)
		}
	}
	_, mini := redistest.Mini(t)
	assert.NoError(t, redis.NewSessionStore(mini).Check(ctx), "CONFIG refused: skipped")
}

// TestTouchPersistsAnIndexFromAnEarlierBuild: an earlier build gave the
// user index a TTL; the first touch after an upgrade removes it, so a
// session kept alive only by use stays reachable by RevokeUser.
func TestTouchPersistsAnIndexFromAnEarlierBuild(t *testing.T) {
	m, c := redistest.Mini(t)
	s := redis.NewSessionStore(c)
	ctx, now := context.Background(), time.Now()
	userKey := "authv2:{" + session.UserTag("u-old") + "}:u:u-old"
	x := live("u-old", now)
	_, err := s.Create(ctx, x, session.Limit{}, now)
	require.NoError(t, err)
	m.SetTTL(userKey, time.Minute) // as an earlier build left it
	require.NoError(t, s.Touch(ctx, x.ID, now.Add(time.Second), now.Add(31*time.Minute)))
	assert.Equal(t, time.Duration(0), m.TTL(userKey), "the touch removed the index's TTL")
	m.FastForward(2 * time.Minute)
	ids, err := s.RevokeUser(ctx, "u-old", session.RevokeFilter{}, now.Add(2*time.Minute), "test")
	require.NoError(t, err)
	assert.Equal(t, []string{x.ID}, ids)
}
