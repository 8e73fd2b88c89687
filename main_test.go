package authv2_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/internal/clock"
	"github.com/authv2/authv2/internal/redistest"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/user"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, redistest.LeakOptions()...) }

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// countingSessions counts calls into a session store.
type countingSessions struct {
	session.Store
	gets, touches atomic.Int64
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

const goodPassword = "correct horse battery staple"

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
