package authv2_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/store/memory"
)

func TestTelemetryFlows(t *testing.T) {
	o := newOtelEnv(t)
	o.register(t, "otel@example.com")
	res := o.login(t, "otel@example.com")
	_, err := o.m.Login(t.Context(), authv2.LoginInput{Email: "otel@example.com", Password: "wrong password!"})
	require.ErrorIs(t, err, authv2.ErrInvalidCredentials)
	_, err = o.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	_, err = o.m.Authenticate(t.Context(), "av2_garbage", session.ClientInfo{})
	require.ErrorIs(t, err, authv2.ErrUnauthenticated)

	for _, name := range []string{"authv2.Register", "authv2.Login", "authv2.Authenticate", "authv2.store session.get", "authv2.store user.get_by_email"} {
		o.span(t, name)
	}
	var failed tracetest.SpanStub
	for _, s := range o.spans.GetSpans() {
		if s.Name == "authv2.Login" && len(s.Attributes) > 0 {
			failed = s
		}
	}
	assert.NotEqual(t, codes.Error, failed.Status.Code, "a wrong password is an outcome, not a span error")
	assert.Contains(t, failed.Attributes, attribute.String("authv2.outcome", "invalid_credentials"))

	all := fmt.Sprintf("%+v", o.spans.GetSpans())
	assert.NotContains(t, all, goodPassword)
	assert.NotContains(t, all, res.Token)

	m := o.metrics(t)
	assert.Equal(t, map[string]int64{"success": 1, "failure": 1}, sumByAttr(t, m["authv2.login.attempts"], "authv2.outcome"))
	gauge, ok := m["authv2.sessions.active"].(metricdata.Gauge[int64])
	require.True(t, ok)
	require.Len(t, gauge.DataPoints, 1)
	assert.Equal(t, int64(1), gauge.DataPoints[0].Value)
	hist, ok := m["authv2.store.duration"].(metricdata.Histogram[float64])
	require.True(t, ok)
	assert.NotEmpty(t, hist.DataPoints)

	p, _ := shop(t, o.env)
	require.True(t, o.m.Can(t.Context(), p, "read", order("region:eu/store:42")))
	require.True(t, o.m.Can(t.Context(), p, "read", order("region:eu/store:42")))
	m = o.metrics(t)
	misses, ok := m["authv2.permission.cache.misses"].(metricdata.Sum[int64])
	require.True(t, ok)
	require.Len(t, misses.DataPoints, 1)
	assert.Equal(t, int64(1), misses.DataPoints[0].Value, "the second check is a cache hit")
	assert.Equal(t, map[string]int64{"allow": 2}, sumByAttr(t, m["authv2.authz.decisions"], "authv2.effect"))

	require.NoError(t, o.m.Logout(t.Context(), res.Token))
	m = o.metrics(t)
	assert.Equal(t, map[string]int64{"logout": 1}, sumByAttr(t, m["authv2.sessions.revoked"], "authv2.reason"))
	assert.Equal(t, map[string]int64{"": 2}, sumByAttr(t, m["authv2.sessions.created"], "none"))
}

// outage is a session store that is down.
type outage struct{ session.Store }

func (outage) Get(context.Context, string) (*session.Session, error) {
	return nil, store.Unavailable("session.get", fmt.Errorf("dial tcp: connection refused"))
}

func TestTelemetryStoreFailureIsSpanError(t *testing.T) {
	o := newOtelEnv(t)
	o.register(t, "down@example.com")
	res := o.login(t, "down@example.com")
	o2 := newOtelEnv(t, authv2.WithSessionStore(outage{o.stores.Sessions}))
	_, err := o2.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.ErrorIs(t, err, authv2.ErrStoreUnavailable)
	assert.Equal(t, codes.Error, o2.span(t, "authv2.Authenticate").Status.Code)
	assert.Equal(t, codes.Error, o2.span(t, "authv2.store session.get").Status.Code)
}

// The gauge must not count every stored session at each scrape: the
// store is read once per SessionStatsMaxAge, and an unfiltered
// SessionStats shares that read.
func TestSessionsGaugeReadsTheStoreOncePerMaxAge(t *testing.T) {
	o := newOtelEnv(t)
	o.register(t, "gauge@example.com")
	o.login(t, "gauge@example.com")
	live := func() int64 {
		gauge, ok := o.metrics(t)["authv2.sessions.active"].(metricdata.Gauge[int64])
		require.True(t, ok)
		require.Len(t, gauge.DataPoints, 1)
		return gauge.DataPoints[0].Value
	}
	for range 5 {
		assert.Equal(t, int64(1), live())
	}
	assert.Equal(t, int64(1), o.sessions.stats.Load(), "five scrapes, one store read")

	o.login(t, "gauge@example.com")
	assert.Equal(t, int64(1), live(), "within SessionStatsMaxAge the gauge shows the last read")
	st, err := o.m.SessionStats(t.Context(), session.StatsFilter{})
	require.NoError(t, err)
	assert.Equal(t, 1, st.Live, "an unfiltered SessionStats shares the gauge's read")
	st.ByTenant["changed"] = 1
	assert.Equal(t, int64(1), o.sessions.stats.Load())

	o.clock.Advance(authv2.DefaultConfig().SessionStatsMaxAge)
	assert.Equal(t, int64(1), live(), "after SessionStatsMaxAge the scrape gets the last count while the store is read again")
	require.Eventually(t, func() bool { return live() == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, int64(2), o.sessions.stats.Load())
	st, err = o.m.SessionStats(t.Context(), session.StatsFilter{})
	require.NoError(t, err)
	assert.NotContains(t, st.ByTenant, "changed", "callers get maps of their own")

	_, err = o.m.SessionStats(t.Context(), session.StatsFilter{TenantID: "t"})
	require.NoError(t, err)
	assert.Equal(t, int64(3), o.sessions.stats.Load(), "a filtered SessionStats reads the store")
}

// statsUntilCanceled is a session store whose Stats runs until its
// context ends, as counting a huge population would.
type statsUntilCanceled struct{ session.Store }

func (statsUntilCanceled) Stats(ctx context.Context, _ session.StatsFilter, _ time.Time) (session.Stats, error) {
	<-ctx.Done()
	return session.Stats{}, ctx.Err()
}

func TestCloseCancelsASessionCount(t *testing.T) {
	e := newEnv(t, authv2.WithSessionStore(statsUntilCanceled{memory.NewSessionStore()}))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := e.m.SessionStats(ctx, session.StatsFilter{})
	require.ErrorIs(t, err, context.DeadlineExceeded, "the caller stops waiting")
	closeCtx, cancelClose := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancelClose()
	require.NoError(t, e.m.Close(closeCtx), "Close ends the count still running, rather than wait for it")
}

// After Close no background read may start (its done.Add would race
// Close's Wait and the read would outlive Close): an unfiltered
// SessionStats reads the store on the caller's goroutine instead.
func TestSessionStatsAfterCloseReadsOnTheCallersGoroutine(t *testing.T) {
	e := newEnv(t)
	e.register(t, "closed@example.com")
	e.login(t, "closed@example.com")
	require.NoError(t, e.m.Close(t.Context()))
	for range 2 {
		st, err := e.m.SessionStats(t.Context(), session.StatsFilter{})
		require.NoError(t, err)
		assert.Equal(t, 1, st.Live)
	}
}
