package authv2_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/user"
)

func TestEngineSettingsReachTheEngine(t *testing.T) {
	// Engine settings and the limiter given to New reach what they configure.
	cfg := authv2test.Config()
	cfg.PolicyCacheSize = 8
	e := newEnv(t, authv2.WithConfig(cfg), authv2.WithRateLimiter(memory.NewRateLimiter()))
	p, _ := shop(t, e)
	assert.True(t, e.m.Can(t.Context(), p, "read", order("region:eu/store:42")))
	cfg.PolicyCacheSize = -1
	_, err := authv2.New(authv2.WithConfig(cfg), authv2.WithInsecurePasswordHashing())
	var ce *authv2.ConfigError
	require.ErrorAs(t, err, &ce, "a bad engine setting fails at New")
	assert.Equal(t, "PolicyCacheSize", ce.Field)
}

// TestCELOptionsReachTheEngine: a function given with WithCELOptions is
// callable from conditions; without it the same grant allows nothing.
func TestCELOptionsReachTheEngine(t *testing.T) {
	always := cel.Function("alwaysTrue", cel.Overload("alwaysTrue_void", nil, cel.BoolType,
		cel.FunctionBinding(func(...ref.Val) ref.Val { return types.True })))
	for _, withFunction := range []bool{true, false} {
		var opts []authv2.Option
		if withFunction {
			opts = append(opts, authv2.WithCELOptions(always))
		}
		e := newEnv(t, opts...)
		p, _ := shop(t, e)
		// Conditions compile when checked, so an unknown function is
		// refused by the check, not by PutRole.
		_ = e.m.PutRole(t.Context(), &permission.Role{TenantID: "acme", Name: "clerk", Grants: []permission.Grant{
			{Permission: "orders:export", Effect: permission.Allow, Condition: "alwaysTrue()"},
		}})
		assert.Equal(t, withFunction, e.m.Can(t.Context(), p, "export", order("region:eu/store:42")), "with the function: %v", withFunction)
	}
}

func TestSetSessionCookieRefusesPlainHTTP(t *testing.T) {
	e := newEnv(t)
	e.register(t, "cookie@example.com")
	res := e.login(t, "cookie@example.com")
	w := httptest.NewRecorder()
	err := e.m.SetSessionCookie(w, httptest.NewRequest(http.MethodPost, "http://example.com/login", nil), res)
	require.ErrorIs(t, err, authv2.ErrInsecureCookie)
	var ice *authv2.InsecureCookieError
	require.True(t, errors.As(err, &ice))
	assert.Contains(t, ice.Error(), "__Host-authv2")
	for _, way := range []string{"HTTPConfig.DevelopmentMode", "AUTHV2_DEV_MODE=true", "ConfigFromEnv", "TrustedProxies"} {
		assert.Contains(t, ice.Error(), way, "the error says how to get past it")
	}
	assert.Empty(t, w.Result().Cookies())
}

func TestConfigFromEnvReachesTheMiddleware(t *testing.T) {
	t.Setenv("AUTHV2_COOKIE_SAMESITE", "strict")
	t.Setenv("AUTHV2_TRUSTED_ORIGINS", "https://a.example, https://b.example")
	cfg, err := authv2.ConfigFromEnv()
	require.NoError(t, err)
	c := cfg.HTTP
	assert.Equal(t, http.SameSiteStrictMode, c.SameSite)
	assert.Equal(t, []string{"https://a.example", "https://b.example"}, c.TrustedOrigins)
	e := newEnv(t, authv2.WithConfig(cfg))
	h := e.m.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok := authv2.PrincipalFrom(r.Context())
		assert.False(t, ok)
		w.WriteHeader(http.StatusNoContent)
	}))
	// A cross-origin POST passes only because AUTHV2_TRUSTED_ORIGINS
	// reached the middleware through Config.HTTP.
	r := httptest.NewRequest(http.MethodPost, "https://api.example.com/", nil)
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	r.Header.Set("Origin", "https://b.example")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	assert.Equal(t, http.StatusNoContent, rec.Code)
}

// TestPasswordHashingBelowOWASPIsRefused: argon2id cheaper than OWASP's
// minimum fails New unless the loud test option allows it, and the
// allowed case is logged.
func TestPasswordHashingBelowOWASPIsRefused(t *testing.T) {
	weak := user.Argon2Params{Memory: 8, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	cfg := authv2test.Config()
	cfg.Argon2 = weak
	_, err := authv2.New(authv2.WithConfig(cfg))
	var ce *authv2.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "Argon2", ce.Field)
	assert.ErrorIs(t, err, authv2.ErrInvalidConfig)

	var logs syncBuffer
	m, err := authv2.New(authv2.WithConfig(cfg), authv2.WithInsecurePasswordHashing(),
		authv2.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	require.NoError(t, m.Close(context.Background()))
	assert.Contains(t, logs.String(), "INSECURE")

	cfg = authv2.DefaultConfig()
	cfg.AuditAllowRate = math.NaN()
	require.ErrorAs(t, cfg.Validate(), &ce)
	assert.Equal(t, "AuditAllowRate", ce.Field)
}

// TestNegativePolicyStalenessNeedsABus: a negative PolicyMaxStaleness
// never asks the store on its own, leaving invalidation to the policy
// bus; without one, a permission revoked through another instance (or
// in the store directly) would keep working here until restart.
func TestNegativePolicyStalenessNeedsABus(t *testing.T) {
	cfg := authv2test.Config()
	cfg.PolicyMaxStaleness = -time.Second
	_, err := authv2.New(authv2.WithConfig(cfg), authv2.WithInsecurePasswordHashing(), authv2.WithLogger(discardLogger()))
	require.ErrorIs(t, err, authv2.ErrInvalidConfig)
	var ce *authv2.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "PolicyMaxStaleness", ce.Field)
	assert.Contains(t, ce.Reason, "WithPolicyBus")
	newEnv(t, authv2.WithConfig(cfg), authv2.WithPolicyBus(permission.NewLocalBus()))
}
