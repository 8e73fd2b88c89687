package authv2_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/store/postgres"
	"github.com/authv2/authv2/user"
)

func TestNoSecretsInStoresOrLogs(t *testing.T) {
	e := newEnv(t)
	const password = "sentinel-password-Zq9!"
	_, err := e.m.Register(t.Context(), authv2.RegisterInput{Email: "s@example.com", Password: password})
	require.NoError(t, err)
	_, err = e.m.Login(t.Context(), authv2.LoginInput{Email: "s@example.com", Password: "wrong-" + password})
	require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
	res, err := e.m.Login(t.Context(), authv2.LoginInput{Email: "s@example.com", Password: password})
	require.NoError(t, err)
	_, err = e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	require.NoError(t, e.m.Logout(t.Context(), res.Token))

	_, secretPart := splitToken(res.Token)
	u, err := e.stores.Users.GetByEmail(t.Context(), "s@example.com")
	require.NoError(t, err)
	s, err := e.stores.Sessions.Get(t.Context(), res.Session.ID)
	require.NoError(t, err)
	records := fmt.Sprintf("%+v %+v %x", *u, *s, s.SecretHash) + fmt.Sprintf("%+v", e.sink.Events())
	logs := e.logs.String()
	require.NotEmpty(t, logs)
	for _, secret := range []string{password, res.Token, secretPart} {
		assert.NotContains(t, records, secret)
		assert.NotContains(t, logs, secret)
	}
}

// A store that returns a raw driver error must not leak it.
type leakyUsers struct{ user.Store }

func (leakyUsers) GetByEmail(context.Context, string) (*user.User, error) {
	return nil, errors.New(`pq: relation "users" does not exist`)
}

func TestStoreErrorsAreTranslated(t *testing.T) {
	e := newEnv(t, authv2.WithUserStore(leakyUsers{memoryUsers()}))
	_, err := e.m.Login(t.Context(), authv2.LoginInput{Email: "x@example.com", Password: goodPassword})
	require.ErrorIs(t, err, authv2.ErrStoreUnavailable)
	assert.NotContains(t, err.Error(), "pq:")
	var ue *store.UnavailableError
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, ue.Err.Error(), "pq:", "the cause stays reachable for logs")
}

func TestNewRejectsBadConfig(t *testing.T) {
	bad := session.DefaultPolicy
	bad.IdleTimeout = 13 * time.Hour
	// DefaultConfig, not authv2test.Config: its cheap hashing alone would
	// make New refuse, whatever the case changes.
	for name, change := range map[string]func(*authv2.Config){
		"idle above absolute": func(c *authv2.Config) { c.Session = bad },
		"weak argon2": func(c *authv2.Config) {
			c.Argon2 = user.Argon2Params{Memory: 1, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
		},
		"short passwords":  func(c *authv2.Config) { c.PasswordMinLength, c.PasswordMaxLength = 6, 128 },
		"negative hashing": func(c *authv2.Config) { c.HashConcurrency = -1 },
	} {
		cfg := authv2.DefaultConfig()
		change(&cfg)
		opt := authv2.WithConfig(cfg)
		t.Run(name, func(t *testing.T) {
			_, err := authv2.New(opt)
			require.ErrorIs(t, err, authv2.ErrInvalidConfig)
			var ce *authv2.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.NotEmpty(t, ce.Field)
		})
	}
}

func TestErrorsAreDistinct(t *testing.T) {
	all := []error{authv2.ErrInvalidCredentials, authv2.ErrUnauthenticated, authv2.ErrSessionExpired, authv2.ErrSessionRevoked,
		authv2.ErrSessionLimit, authv2.ErrUserExists, authv2.ErrNotFound, authv2.ErrStoreUnavailable,
		authv2.ErrNotMember, authv2.ErrClientMismatch, authv2.ErrValidation, authv2.ErrInvalidConfig, authv2.ErrThrottled}
	for i, a := range all {
		for j, b := range all {
			assert.Equal(t, i == j, errors.Is(a, b), "%v vs %v", a, b)
		}
	}
	assert.True(t, reflect.TypeOf(&authv2.ThrottledError{}).Implements(reflect.TypeOf((*error)(nil)).Elem()))
	assert.ErrorIs(t, &authv2.ThrottledError{RetryAfter: time.Second}, authv2.ErrThrottled)
}

func TestBackgroundCleanupPurgesExpiredSessions(t *testing.T) {
	cfg := authv2test.Config()
	cfg.CleanupInterval = 5 * time.Millisecond
	e := newEnv(t, authv2.WithConfig(cfg))
	e.register(t, "gc@example.com")
	res := e.login(t, "gc@example.com")
	e.clock.Advance(13 * time.Hour)
	assert.Eventually(t, func() bool {
		_, err := e.stores.Sessions.Get(t.Context(), res.Session.ID)
		return errors.Is(err, store.ErrNotFound)
	}, 5*time.Second, 5*time.Millisecond)
}

// purgingLimiter is a memory limiter that also implements
// user.ExpiredDeleter, as the PostgreSQL one does.
type purgingLimiter struct {
	*memory.RateLimiter
	purges atomic.Int64
}

func (l *purgingLimiter) DeleteExpired(context.Context, time.Time) (int, error) {
	l.purges.Add(1)
	return 0, nil
}

// TestBackgroundCleanupPurgesALimiterThatCan: the cleanup loop finds a
// limiter's optional DeleteExpired through user.ExpiredDeleter.
func TestBackgroundCleanupPurgesALimiterThatCan(t *testing.T) {
	var _ user.ExpiredDeleter = (*postgres.RateLimiter)(nil)
	cfg := authv2test.Config()
	cfg.CleanupInterval = 5 * time.Millisecond
	l := &purgingLimiter{RateLimiter: memory.NewRateLimiter()}
	newEnv(t, authv2.WithConfig(cfg), authv2.WithRateLimiter(l))
	assert.Eventually(t, func() bool { return l.purges.Load() > 0 }, 5*time.Second, 5*time.Millisecond)
}

// A Manager built without password options hashes at OWASP's argon2id
// parameters: what production gets is what the config promises.
func TestManagerHashesAtProductionDefaults(t *testing.T) {
	users := memoryUsers()
	m, err := authv2.New(authv2.WithUserStore(users))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
	_, err = m.Register(t.Context(), authv2.RegisterInput{Email: "ada@example.com", Password: goodPassword})
	require.NoError(t, err)
	u, err := users.GetByEmail(t.Context(), "ada@example.com")
	require.NoError(t, err)
	p, salt, key, err := user.DecodePHC(u.PasswordHash)
	require.NoError(t, err)
	assert.Equal(t, user.Argon2Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}, p)
	assert.Len(t, salt, 16)
	assert.Len(t, key, 32)
}

// TestFlowsRacingCloseStartNoUntrackedWork runs flows that hand work to the
// background while Close runs, and after it: Close must not return while
// work it could wait for still runs (the race detector flags an Add
// concurrent with Wait), and work handed over after Close runs before the
// flow answers, since nothing is left to wait for it.
func TestFlowsRacingCloseStartNoUntrackedWork(t *testing.T) {
	n := &slowNotifier{captureNotifier: newCaptureNotifier()}
	e := newEnv(t, authv2.WithNotifier(n))
	m, ctx := e.m, context.Background()
	e.register(t, "racer@example.com")

	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 64 {
		wg.Go(func() {
			<-start
			// Known and unknown addresses both reach the background.
			email := "racer@example.com"
			if i%2 == 1 {
				email = "nobody@example.com"
			}
			err := m.RequestPasswordReset(ctx, email)
			var throttled *authv2.ThrottledError
			if err != nil && !errors.As(err, &throttled) {
				t.Errorf("RequestPasswordReset: %v", err)
			}
		})
	}
	close(start)
	require.NoError(t, m.Close(ctx))
	wg.Wait()

	e.register(t, "late@example.com")
	require.NoError(t, m.RequestPasswordReset(ctx, "late@example.com"))
	n.mu.Lock()
	defer n.mu.Unlock()
	assert.NotEmpty(t, n.resets["late@example.com"], "a reset requested after Close was not sent before the flow answered")
}

// slowNotifier is a captureNotifier that takes a while to send.
type slowNotifier struct{ *captureNotifier }

func (s *slowNotifier) PasswordReset(ctx context.Context, u *user.User, tok string) error {
	time.Sleep(20 * time.Millisecond)
	return s.captureNotifier.PasswordReset(ctx, u, tok)
}
