package scale

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/internal/redistest"
	"github.com/authv2/authv2/internal/token"
	"github.com/authv2/authv2/session"
	redisstore "github.com/authv2/authv2/store/redis"
)

// EnvScale names the variable holding the number of sessions to load.
const EnvScale = "AUTHV2_SCALE"

// ciSessions is the population without AUTHV2_SCALE: enough to run every
// step, small enough for CI.
const ciSessions = 2000

// perUser is how many sessions each user of the population holds.
const perUser = 5

// population returns the number of sessions to load.
func population(t *testing.T) int {
	t.Helper()
	v := os.Getenv(EnvScale)
	if v == "" {
		return ciSessions
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, EnvScale)
	require.GreaterOrEqual(t, n, 100*perUser, EnvScale)
	return n
}

// samples is how many operations each timed step runs: at most a tenth of
// the population's users, so RevokeUser always finds sessions.
func samples(n, want int) int { return min(want, n/perUser/10) }

// userID names user i of the population.
func userID(i int) string { return "scale-u" + strconv.Itoa(i) }

// timings is the latencies of one step.
type timings struct {
	name string
	d    []time.Duration
}

func (tm timings) String() string {
	s := slices.Clone(tm.d)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return fmt.Sprintf("%-28s n=%-6d median %-10v p99 %-10v max %v", tm.name, len(s), q(0.5).Round(time.Microsecond),
		q(0.99).Round(time.Microsecond), s[len(s)-1].Round(time.Microsecond))
}

// timeEach runs op n times in sequence and returns its latencies.
func timeEach(t *testing.T, name string, n int, op func(i int) error) timings {
	t.Helper()
	tm := timings{name: name, d: make([]time.Duration, 0, n)}
	for i := range n {
		t0 := time.Now()
		require.NoError(t, op(i), name)
		tm.d = append(tm.d, time.Since(t0))
	}
	t.Log(tm)
	return tm
}

// newSession returns session j of user u, created at now: live for 30
// minutes idle, 12 hours absolute, in one of 100 tenants and 4 devices.
func newSession(u, j int, secretHash []byte, now time.Time) *session.Session {
	uid := userID(u)
	return &session.Session{
		ID: session.NewID(uid), SecretHash: secretHash, UserID: uid, TenantID: "t" + strconv.Itoa(u%100),
		Scope: "region:eu", CreatedAt: now, LastSeenAt: now, AuthenticatedAt: now, AuthLevel: 1,
		IdleExpiresAt: now.Add(30 * time.Minute), AbsoluteExpiresAt: now.Add(12 * time.Hour),
		SecurityStamp: "stamp-" + uid,
		Client:        session.ClientInfo{IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) scale/1.0", DeviceLabel: "device" + strconv.Itoa(j%4)},
	}
}

// createAll stores sessions through s.Create from workers goroutines, so
// that a client that pipelines concurrent commands (rueidis) does; it
// returns tokens of the first `tokens` sessions, which carry real secrets.
func createAll(t *testing.T, s session.Store, users, from, tokens int, now time.Time) []string {
	t.Helper()
	const workers = 64
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out []string
	)
	filler := session.HashSecret([]byte("scale"))
	for w := range workers {
		wg.Go(func() {
			for u := from + w; u < users; u += workers {
				for j := range perUser {
					hash, tok := filler, ""
					x := newSession(u, j, hash, now)
					if u-from < tokens && j == 0 {
						var secret []byte
						var err error
						tok, secret, err = token.New(x.ID)
						if !assert.NoError(t, err) {
							return
						}
						x.SecretHash = session.HashSecret(secret)
					}
					if _, err := s.Create(t.Context(), x, session.Limit{}, now); !assert.NoError(t, err) {
						return
					}
					if tok != "" {
						mu.Lock()
						out = append(out, tok)
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	require.False(t, t.Failed())
	return out
}

// measure runs the timed steps on a loaded store: Authenticate through a
// Manager, then the store's ListByUser, RevokeUser and Stats, the last
// being what the active-sessions gauge pays at each refresh.
func measure(t *testing.T, s session.Store, users int, tokens []string) {
	t.Helper()
	m, err := authv2.New(authv2.WithSessionStore(s))
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	timeEach(t, "Authenticate", samples(users*perUser, 2000), func(i int) error {
		_, err := m.Authenticate(ctx, tokens[rng.IntN(len(tokens))], session.ClientInfo{})
		return err
	})
	timeEach(t, "ListByUser (5 sessions)", samples(users*perUser, 2000), func(i int) error {
		got, err := s.ListByUser(ctx, userID(rng.IntN(users)), time.Now())
		if err == nil && len(got) != perUser {
			err = fmt.Errorf("listed %d sessions, want %d", len(got), perUser)
		}
		return err
	})
	// Users past the token holders, each revoked once.
	timeEach(t, "RevokeUser (5 sessions)", samples(users*perUser, 1000), func(i int) error {
		ended, err := s.RevokeUser(ctx, userID(users-1-i), session.RevokeFilter{}, time.Now(), session.ReasonRevoked)
		if err == nil && len(ended) != perUser {
			err = fmt.Errorf("revoked %d sessions, want %d", len(ended), perUser)
		}
		return err
	})
	revoked := samples(users*perUser, 1000) * perUser
	timeEach(t, "Stats (unfiltered)", 3, func(int) error {
		st, err := s.Stats(ctx, session.StatsFilter{}, time.Now())
		if err == nil && st.Live != users*perUser-revoked {
			err = fmt.Errorf("stats: %d live, want %d", st.Live, users*perUser-revoked)
		}
		return err
	})
}

func TestSessionScaleRedis(t *testing.T) {
	n := population(t)
	c := redistest.Client(t, []string{redistest.Addr(t)}, false)
	prefix := redistest.Prefix(t)
	redistest.CleanWithin(t, c, prefix, 30*time.Minute) // a million sessions take minutes to delete
	s := redisstore.NewSessionStore(c, redisstore.WithKeyPrefix(prefix))
	ctx := t.Context()
	users := n / perUser

	before := usedMemory(t, c)
	t0 := time.Now()
	now := time.Now()
	tokens := createAll(t, s, users, 0, samples(n, 2000), now)
	t.Logf("loaded %d sessions of %d users in %v (%.0f/s)", n, users, time.Since(t0).Round(time.Millisecond), float64(n)/time.Since(t0).Seconds())
	after := usedMemory(t, c)
	t.Logf("INFO used_memory grew %d bytes: %.0f B/session (the server is shared: a rough figure)", after-before, float64(after-before)/float64(n))
	redisMemory(t, c, s, prefix, users)

	measure(t, s, users, tokens)

	// DeleteExpired is timed on a population it must sweep: every
	// session counts as expired to a `before` a day ahead. Each call looks
	// at a bounded batch of index candidates.
	day := time.Now().Add(24 * time.Hour)
	deleted := 0
	timeEach(t, "DeleteExpired (one call)", min(5, n/5008+1), func(int) error {
		k, err := s.DeleteExpired(ctx, day)
		deleted += k
		return err
	})
	t.Logf("DeleteExpired removed %d sessions in those calls", deleted)
}

// usedMemory is the server's INFO memory used_memory.
func usedMemory(t *testing.T, c rueidis.Client) int64 {
	t.Helper()
	info, err := c.Do(t.Context(), c.B().Info().Section("memory").Build()).ToString()
	require.NoError(t, err)
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no used_memory in INFO memory")
	return 0
}

// redisMemory reports MEMORY USAGE per session: a sample of session
// hashes and user indexes, and the whole expiry index spread over the
// population — figures of the keys themselves, untouched by other
// clients of the server.
func redisMemory(t *testing.T, c rueidis.Client, s *redisstore.SessionStore, prefix string, users int) {
	t.Helper()
	ctx := t.Context()
	const sample = 200
	var sessBytes, indexBytes, expiryBytes int64
	for i := range sample {
		u := i * (users / sample)
		list, err := s.ListByUser(ctx, userID(u), time.Now())
		require.NoError(t, err)
		require.NotEmpty(t, list)
		tag := session.UserTag(userID(u))
		sessBytes += memoryUsage(t, c, prefix+"{"+tag+"}:s:"+list[0].ID)
		indexBytes += memoryUsage(t, c, prefix+"{"+tag+"}:u:"+userID(u))
	}
	for i := range 16 {
		expiryBytes += memoryUsage(t, c, prefix+"{expiry:"+strconv.Itoa(i)+"}")
	}
	perSession := float64(sessBytes) / sample
	perIndex := float64(indexBytes) / sample / perUser
	perExpiry := float64(expiryBytes) / float64(users*perUser)
	t.Logf("MEMORY USAGE per session: hash %.0f B + user index %.0f B + expiry index %.0f B = %.0f B",
		perSession, perIndex, perExpiry, perSession+perIndex+perExpiry)
}

func memoryUsage(t *testing.T, c rueidis.Client, key string) int64 {
	t.Helper()
	n, err := c.Do(t.Context(), c.B().MemoryUsage().Key(key).Samples(0).Build()).AsInt64()
	require.NoError(t, err, key)
	return n
}

func TestSessionScalePostgres(t *testing.T) {
	n := population(t)
	env := pgtest.New(t)
	s := env.Stores.Sessions
	ctx := t.Context()
	users := n / perUser
	holders := samples(n, 2000)

	// The token holders go through Create, so their secrets are real;
	// everyone else is one INSERT ... SELECT over generate_series, in the
	// shape newSession gives.
	now := time.Now().UTC()
	t0 := time.Now()
	tokens := createAll(t, s, holders, 0, holders, now)
	res, err := env.DB.ExecContext(ctx, `INSERT INTO "`+env.Schema+`".sessions (id, secret_hash, user_id, tenant_id, scope,
			created_at, last_seen_at, idle_expires_at, absolute_expires_at, authenticated_at, auth_level,
			client_ip, user_agent, device_label, security_stamp)
		SELECT substr(md5('u' || (g / $2)), 1, 8) || lpad(g::text, 24, '0'), sha256(g::text::bytea), 'scale-u' || (g / $2),
			't' || ((g / $2) % 100), 'region:eu', $3::timestamptz, $3, $3 + interval '30 minutes', $3 + interval '12 hours', $3, 1,
			'192.0.2.1', 'Mozilla/5.0 (X11; Linux x86_64) scale/1.0', 'device' || (g % $2 % 4), 'stamp-scale-u' || (g / $2)
		FROM generate_series($1::bigint, $4::bigint - 1) AS g`, holders*perUser, perUser, now, n)
	require.NoError(t, err)
	k, err := res.RowsAffected()
	require.NoError(t, err)
	require.Equal(t, int64(n-holders*perUser), k)
	_, err = env.DB.ExecContext(ctx, `ANALYZE "`+env.Schema+`".sessions`)
	require.NoError(t, err)
	t.Logf("loaded %d sessions of %d users in %v", n, users, time.Since(t0).Round(time.Millisecond))
	var size int64
	require.NoError(t, env.DB.QueryRowContext(ctx, `SELECT pg_total_relation_size('"`+env.Schema+`".sessions')`).Scan(&size))
	t.Logf("sessions table with its indexes: %d MiB, %.0f B/row", size>>20, float64(size)/float64(n))

	measure(t, s, users, tokens)

	// Every row counts as expired to a `before` a day ahead: the sweep
	// deletes them all, in batches.
	t0 = time.Now()
	deleted, err := s.DeleteExpired(ctx, time.Now().Add(24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, n, deleted)
	el := time.Since(t0)
	t.Logf("DeleteExpired removed %d rows in %v (%.0f rows/s)", deleted, el.Round(time.Millisecond), float64(deleted)/el.Seconds())
}
