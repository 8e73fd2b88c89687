package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/session"
)

// TestMetricsEndpoint scrapes /metrics after a few flows and finds
// authv2's instruments in the Prometheus text format.
func TestMetricsEndpoint(t *testing.T) {
	mp, metrics, err := newMetrics()
	require.NoError(t, err)
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	m, err := authv2.New(authv2.WithMeterProvider(mp),
		authv2.WithConfig(authv2test.Config()), authv2.WithInsecurePasswordHashing())
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	ctx := t.Context()
	_, err = m.Register(ctx, authv2.RegisterInput{Email: "metrics@example.com", Password: "a long enough password"})
	require.NoError(t, err)
	res, err := m.Login(ctx, authv2.LoginInput{Email: "metrics@example.com", Password: "a long enough password"})
	require.NoError(t, err)
	_, err = m.Login(ctx, authv2.LoginInput{Email: "metrics@example.com", Password: "wrong password!"})
	require.Error(t, err)
	_, err = m.Authenticate(ctx, res.Token, session.ClientInfo{})
	require.NoError(t, err)
	require.NoError(t, m.Logout(ctx, res.Token))

	srv := httptest.NewServer(metricsHandler(metrics))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	text := string(body)
	for _, want := range []string{
		`authv2_login_attempts_total{authv2_outcome="success"`,
		`authv2_login_attempts_total{authv2_outcome="failure"`,
		`authv2_sessions_active`,
		`authv2_sessions_created_total`,
		`authv2_sessions_revoked_total{authv2_reason="logout"`,
		`authv2_store_duration_seconds_bucket`,
		`authv2_audit_queue_depth`,
	} {
		assert.Contains(t, text, want)
	}
}
