package authv2_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"golang.org/x/crypto/bcrypt"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/apikey"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/internal/clock"
	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/internal/redistest"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/store/redis"
	"github.com/authv2/authv2/user"
)

func memoryUsers() user.Store { return memory.NewUserStore() }

func bcryptHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), 10)
	require.NoError(t, err)
	return string(h)
}

// splitToken returns a token's session ID and secret parts.
func splitToken(tok string) (id, secret string) { return tok[4:36], tok[36:79] }

// forge builds a well-formed token from a session ID and another token's secret.
func forge(t *testing.T, sessionID, other string) string {
	t.Helper()
	_, secret := splitToken(other)
	body := "av2_" + sessionID + secret
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE([]byte(body)))
	return body + base64.RawURLEncoding.EncodeToString(sum[:])
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// captureNotifier records the tokens authv2 asks the application to send.
type captureNotifier struct {
	mu      sync.Mutex
	resets  map[string]string // email -> token
	verify  map[string]string
	invites map[string]string
}

func newCaptureNotifier() *captureNotifier {
	return &captureNotifier{resets: map[string]string{}, verify: map[string]string{}, invites: map[string]string{}}
}

func (c *captureNotifier) Invitation(_ context.Context, inv *permission.Invitation, tok string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invites[inv.Email] = tok
	return nil
}

func (c *captureNotifier) PasswordReset(_ context.Context, u *user.User, tok string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resets[u.Email] = tok
	return nil
}

func (c *captureNotifier) EmailVerification(_ context.Context, u *user.User, tok string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.verify[u.Email] = tok
	return nil
}

// wait returns the token sent to email, waiting for the background notifier.
func (c *captureNotifier) wait(t *testing.T, m map[string]string, email string) string {
	t.Helper()
	var tok string
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		tok = m[email]
		return tok != ""
	}, 5*time.Second, time.Millisecond)
	return tok
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// countingSessions counts calls into a session store.
type countingSessions struct {
	session.Store
	gets, touches, stats atomic.Int64
}

func (c *countingSessions) Stats(ctx context.Context, f session.StatsFilter, now time.Time) (session.Stats, error) {
	c.stats.Add(1)
	return c.Store.Stats(ctx, f, now)
}

func (c *countingSessions) Get(ctx context.Context, id string) (*session.Session, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, id)
}

func (c *countingSessions) Touch(ctx context.Context, id string, a, b time.Time) error {
	c.touches.Add(1)
	return c.Store.Touch(ctx, id, a, b)
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type env struct {
	m        *authv2.Manager
	clock    *clock.Fake
	stores   *memory.Stores
	sessions *countingSessions
	sink     *flushingSink
	logs     *syncBuffer
}

func newEnv(t testing.TB, opts ...authv2.Option) *env {
	t.Helper()
	e := &env{clock: clock.NewFake(t0), stores: memory.New(), sink: &flushingSink{MemorySink: audit.NewMemorySink()}, logs: &syncBuffer{}}
	e.sessions = &countingSessions{Store: e.stores.Sessions}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	base := []authv2.Option{
		authv2.WithClock(e.clock),
		authv2.WithConfig(authv2test.Config()), authv2.WithInsecurePasswordHashing(),
		authv2.WithUserStore(e.stores.Users),
		authv2.WithSessionStore(e.sessions),
		authv2.WithPermissionStore(e.stores.Permissions),
		authv2.WithAPIKeyStore(e.stores.APIKeys),
		authv2.WithAuditSink(e.sink.MemorySink),
		authv2.WithAuditSink(audit.NewSlogSink(logger)),
		authv2.WithLogger(logger),
	}
	m, err := authv2.New(append(base, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
	e.m = m
	e.sink.m = m
	return e
}

// flushingSink is a memory sink whose readers first wait for the
// Manager's audit queue to drain: delivery is asynchronous.
type flushingSink struct {
	*audit.MemorySink
	m *authv2.Manager
}

func (s *flushingSink) Events() []audit.Event {
	if err := s.m.FlushAudit(context.Background()); err != nil {
		panic(err) // test helper: a flush failure is a broken test setup
	}
	return s.MemorySink.Events()
}

func (s *flushingSink) OfType(t audit.Type) []audit.Event {
	var out []audit.Event
	for _, e := range s.Events() {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

func (e *env) register(t testing.TB, email string) *user.User {
	t.Helper()
	u, err := e.m.Register(t.Context(), authv2.RegisterInput{Email: email, Password: goodPassword, DisplayName: "Test"})
	require.NoError(t, err)
	return u
}

func (e *env) login(t testing.TB, email string) *authv2.LoginResult {
	t.Helper()
	res, err := e.m.Login(t.Context(), authv2.LoginInput{Email: email, Password: goodPassword,
		Client: session.ClientInfo{IP: "192.0.2.10", UserAgent: "test-agent/1", DeviceLabel: "laptop"}})
	require.NoError(t, err)
	return res
}

// backend builds the stores a journey runs on.
type backend struct {
	name   string
	stores func(t *testing.T) backendStores
}

// backendStores are one backend's stores; nil ones stay the Manager's
// in-memory defaults.
type backendStores struct {
	users       user.Store
	sessions    session.Store
	permissions permission.Store
	limiter     user.RateLimiter
	apiKeys     apikey.Store
	// impersonations stays in memory on the Redis backends, like users
	// and permissions: one store shared by every Manager built from these
	// stores.
	impersonations session.ImpersonationStore
	// The MFA stores (WithMFA): factor credentials live in memory or
	// PostgreSQL, pending logins and the TOTP replay guard on each backend.
	mfa        mfa.Store
	challenges mfa.ChallengeStore
	guard      mfa.ReplayGuard
}

func (s backendStores) options() []authv2.Option {
	var opts []authv2.Option
	if s.users != nil {
		opts = append(opts, authv2.WithUserStore(s.users))
	}
	if s.sessions != nil {
		opts = append(opts, authv2.WithSessionStore(s.sessions))
	}
	if s.permissions != nil {
		opts = append(opts, authv2.WithPermissionStore(s.permissions))
	}
	if s.limiter != nil {
		opts = append(opts, authv2.WithRateLimiter(s.limiter))
	}
	if s.apiKeys != nil {
		opts = append(opts, authv2.WithAPIKeyStore(s.apiKeys))
	}
	if s.impersonations != nil {
		opts = append(opts, authv2.WithImpersonationStore(s.impersonations))
	}
	return opts
}

func (b backend) opts(t *testing.T) []authv2.Option { return b.stores(t).options() }

func backends() []backend {
	onRedis := func(addrs func(testing.TB) []string) func(t *testing.T) backendStores {
		return func(t *testing.T) backendStores {
			c := redistest.Client(t, addrs(t), false)
			p := redistest.Prefix(t)
			redistest.Clean(t, c, p)
			prefix := redis.WithKeyPrefix(p)
			// Users and permissions stay in memory, in one store shared by
			// every Manager built from these stores.
			mem := memory.New()
			return backendStores{users: mem.Users, permissions: mem.Permissions, apiKeys: mem.APIKeys, impersonations: mem.Impersonations,
				sessions: redis.NewSessionStore(c, prefix), limiter: redis.NewRateLimiter(c, prefix),
				mfa: memory.NewMFAStore(), challenges: redis.NewChallengeStore(c, prefix), guard: redis.NewReplayGuard(c, prefix)}
		}
	}
	return []backend{
		{"memory", func(*testing.T) backendStores {
			mem := memory.New()
			return backendStores{users: mem.Users, sessions: mem.Sessions, permissions: mem.Permissions, limiter: mem.Limiter,
				apiKeys: mem.APIKeys, impersonations: mem.Impersonations,
				mfa: memory.NewMFAStore(), challenges: memory.NewChallengeStore(), guard: memory.NewReplayGuard()}
		}},
		{"postgres", func(t *testing.T) backendStores {
			env := pgtest.New(t)
			return backendStores{users: env.Stores.Users, sessions: env.Stores.Sessions,
				permissions: env.Stores.Permissions, limiter: env.Stores.Limiter, apiKeys: env.Stores.APIKeys,
				impersonations: env.Stores.Impersonations,
				mfa:            env.Stores.MFA, challenges: env.Stores.Challenges, guard: env.Stores.ReplayGuard}
		}},
		{"redis", onRedis(func(t testing.TB) []string { return []string{redistest.Addr(t)} })},
		{"redis-cluster", onRedis(redistest.ClusterAddrs)},
	}
}

func loginAs(e *env, email, password, ip string) error {
	_, err := e.m.Login(context.Background(), authv2.LoginInput{Email: email, Password: password, Client: session.ClientInfo{IP: ip}})
	return err
}

func distinctThrottle() authv2.ThrottleConfig {
	th := authv2.DefaultConfig().Throttle
	th.DistinctError = true
	return th
}

// oneTimeToken builds a well-formed reset or verification token naming userID.
func oneTimeToken(prefix, userID string) string {
	return prefix + base64.RawURLEncoding.EncodeToString([]byte(userID)) + "." +
		base64.RawURLEncoding.EncodeToString(make([]byte, 32))
}

// withClient is a context carrying the client the middleware would derive.
func withClient(ip string) context.Context {
	return authv2.WithClient(context.Background(), session.ClientInfo{IP: ip})
}

type otelEnv struct {
	*env
	spans  *tracetest.InMemoryExporter
	reader *sdkmetric.ManualReader
}

func newOtelEnv(t *testing.T, opts ...authv2.Option) *otelEnv {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	e := newEnv(t, append([]authv2.Option{authv2.WithTracerProvider(tp), authv2.WithMeterProvider(mp)}, opts...)...)
	return &otelEnv{env: e, spans: spans, reader: reader}
}

func (o *otelEnv) span(t *testing.T, name string) tracetest.SpanStub {
	t.Helper()
	for _, s := range o.spans.GetSpans() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no span %q", name)
	return tracetest.SpanStub{}
}

func (o *otelEnv) metrics(t *testing.T) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, o.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

func sumByAttr(t *testing.T, data metricdata.Aggregation, key string) map[string]int64 {
	t.Helper()
	sum, ok := data.(metricdata.Sum[int64])
	require.True(t, ok, "want an int64 sum, got %T", data)
	out := map[string]int64{}
	for _, dp := range sum.DataPoints {
		v, _ := dp.Attributes.Value(attribute.Key(key))
		out[v.AsString()] += dp.Value
	}
	return out
}

// loginFailures is how many failures email's login throttle holds.
func loginFailures(t *testing.T, e *env, email string) int {
	t.Helper()
	n, err := e.m.LoginFailures(t.Context(), email)
	require.NoError(t, err)
	return n
}
