package authv2

import (
	"context"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/session"
)

func lookupFrom(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigFromEnv(t *testing.T) {
	c, err := configFromLookup(lookupFrom(map[string]string{
		"AUTHV2_SESSION_IDLE_TIMEOUT":     "15m",
		"AUTHV2_SESSION_ABSOLUTE_TIMEOUT": " 8h ",
		"AUTHV2_SESSION_MAX_PER_USER":     "3",
		"AUTHV2_SESSION_EVICTION":         "LRU",
		"AUTHV2_PASSWORD_MIN_LENGTH":      "12",
		"AUTHV2_ARGON2_MEMORY_KIB":        "47104",
		"AUTHV2_ARGON2_ITERATIONS":        "1",
		"AUTHV2_CLEANUP_INTERVAL":         "0s",
		"AUTHV2_SESSION_STATS_MAX_AGE":    "5m",
		"AUTHV2_THROTTLE_IPV6_PREFIX":     "56",
		"AUTHV2_POLICY_COST_LIMIT":        "500",
		"AUTHV2_POLICY_MAX_STALENESS":     "-1s",
		"AUTHV2_AUDIT_BACKOFF_MIN":        "10ms",
		"AUTHV2_REFUSED_EMAIL_DOMAINS":    "mail.example, other.example",
	}))
	require.NoError(t, err)
	assert.Equal(t, 15*time.Minute, c.Session.IdleTimeout)
	assert.Equal(t, 8*time.Hour, c.Session.AbsoluteTimeout)
	assert.Equal(t, 3, c.Session.MaxPerUser)
	assert.Equal(t, session.EvictLeastRecentlyUsed, c.Session.Eviction)
	assert.Equal(t, 12, c.PasswordMinLength)
	assert.Equal(t, uint32(47104), c.Argon2.Memory)
	assert.Equal(t, uint32(1), c.Argon2.Iterations)
	assert.Zero(t, c.CleanupInterval)
	assert.Equal(t, 5*time.Minute, c.SessionStatsMaxAge)
	assert.Equal(t, 56, c.Throttle.IPv6Prefix)
	assert.Equal(t, uint64(500), c.PolicyCostLimit)
	assert.Equal(t, -time.Second, c.PolicyMaxStaleness)
	assert.Equal(t, 10*time.Millisecond, c.AuditBackoffMin)
	assert.Equal(t, []string{"mail.example", "other.example"}, c.DomainCapture.RefusedDomains, "the list replaces the default")
	assert.Equal(t, 128, c.PasswordMaxLength, "unset variables keep their defaults")
	none, err := configFromLookup(lookupFrom(map[string]string{"AUTHV2_REFUSED_EMAIL_DOMAINS": ""}))
	require.NoError(t, err)
	assert.Empty(t, none.DomainCapture.RefusedDomains, "an empty value refuses none")
	_, err = configFromLookup(lookupFrom(map[string]string{"AUTHV2_REFUSED_EMAIL_DOMAINS": "not a domain"}))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "DomainCapture.RefusedDomains", ce.Field)
	assert.Contains(t, ce.Reason, "AUTHV2_REFUSED_EMAIL_DOMAINS")
}

func TestConfigFromEnvNamesTheBadVariable(t *testing.T) {
	for name, value := range map[string]string{
		"AUTHV2_SESSION_IDLE_TIMEOUT": "thirty minutes",
		"AUTHV2_SESSION_MAX_PER_USER": "many",
		"AUTHV2_SESSION_EVICTION":     "newest",
		"AUTHV2_ARGON2_MEMORY_KIB":    "-1",
	} {
		_, err := configFromLookup(lookupFrom(map[string]string{name: value}))
		require.ErrorIs(t, err, ErrInvalidConfig, name)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, name, ce.Field)
	}
	_, err := configFromLookup(lookupFrom(map[string]string{"AUTHV2_PASSWORD_MIN_LENGTH": "4"}))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "PasswordMinLength", ce.Field, "range errors name the Config field")
	assert.Contains(t, ce.Error(), "AUTHV2_PASSWORD_MIN_LENGTH", "and the variable that set it")
	_, err = configFromLookup(lookupFrom(map[string]string{"AUTHV2_THROTTLE_FAILURE_WINDOW": "1m", "AUTHV2_REAUTH_WINDOW": "1m"}))
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "Throttle.FailureWindow", ce.Field)
	assert.Contains(t, ce.Reason, "(set by AUTHV2_THROTTLE_FAILURE_WINDOW)", "only the variable at fault")
}

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	require.NoError(t, c.Validate())
	assert.Equal(t, 30*time.Minute, c.Session.IdleTimeout)
	assert.Equal(t, 12*time.Hour, c.Session.AbsoluteTimeout)
	assert.Equal(t, uint32(19456), c.Argon2.Memory)
	assert.Equal(t, uint32(2), c.Argon2.Iterations)
	assert.Equal(t, uint8(1), c.Argon2.Parallelism)
}

func TestConfigValidateNamesEachField(t *testing.T) {
	for field, mutate := range map[string]func(*Config){
		"Session":                func(c *Config) { c.Session.IdleTimeout = 0 },
		"PasswordMinLength":      func(c *Config) { c.PasswordMinLength = 7 },
		"PasswordMaxLength":      func(c *Config) { c.PasswordMaxLength = 500 },
		"HashConcurrency":        func(c *Config) { c.HashConcurrency = -1 },
		"Throttle.AfterFailures": func(c *Config) { c.Throttle.AfterFailures = 101 },
		"Throttle.MaxDelay":      func(c *Config) { c.Throttle.MaxDelay = 0 },
		"Throttle.MaxFailures":   func(c *Config) { c.Throttle.MaxFailures = c.Throttle.AfterFailures - 1 },
		"Throttle.FailureWindow": func(c *Config) { c.Throttle.FailureWindow = time.Minute },
		"Throttle.IPLimit":       func(c *Config) { c.Throttle.IPWindow = 0 },
		"Throttle.IPv6Prefix":    func(c *Config) { c.Throttle.IPv6Prefix = 129 },
		"ReauthWindow":           func(c *Config) { c.ReauthWindow = 0 },
		"ResetTokenTTL":          func(c *Config) { c.ResetTokenTTL = 48 * time.Hour },
		"VerifyTokenTTL":         func(c *Config) { c.VerifyTokenTTL = -time.Second },
		"CleanupInterval":        func(c *Config) { c.CleanupInterval = -time.Second },
		"SessionStatsMaxAge":     func(c *Config) { c.SessionStatsMaxAge = -time.Second },
		"Argon2":                 func(c *Config) { c.Argon2.Iterations = 0 },
		"AuditBatchSize":         func(c *Config) { c.AuditBatchSize = 0 },
		"AuditMaxLatency":        func(c *Config) { c.AuditMaxLatency = -time.Second },
		"AuditBackoffMin":        func(c *Config) { c.AuditBackoffMax = time.Millisecond },
		"AuditWriteTimeout":      func(c *Config) { c.AuditWriteTimeout = -time.Second },
		"PolicyCacheSize":        func(c *Config) { c.PolicyCacheSize = -1 },
		"PolicyCostLimit":        func(c *Config) { c.PolicyCostLimit = 0 },
	} {
		c := DefaultConfig()
		mutate(&c)
		err := c.Validate()
		var ce *ConfigError
		if assert.ErrorAs(t, err, &ce, field) {
			assert.Equal(t, field, ce.Field)
			assert.Contains(t, ce.Error(), field)
		}
	}
}

// The reasons are those Validate gave when each range was code, now
// said from the field's validate tag; a tag describeRule cannot put in
// words fails here rather than reaching an operator as "is invalid".
func TestConfigValidateReasons(t *testing.T) {
	for reason, mutate := range map[string]func(*Config){
		"must be at least 8 (NIST SP 800-63B)": func(c *Config) { c.PasswordMinLength = 7 },
		"must be between 1 and 100":            func(c *Config) { c.Throttle.AfterFailures = 0 },
		"must not be negative":                 func(c *Config) { c.HashConcurrency = -1 },
		"must be positive and at most 24h":     func(c *Config) { c.ResetTokenTTL = 0 },
		"must be positive":                     func(c *Config) { c.ReauthWindow = -time.Second },
		"must be at least 1":                   func(c *Config) { c.PolicyCostLimit = 0 },
		"must be between 0 and 1":              func(c *Config) { c.AuditAllowRate = math.NaN() },
	} {
		c := DefaultConfig()
		mutate(&c)
		var ce *ConfigError
		if assert.ErrorAs(t, c.Validate(), &ce, reason) {
			assert.Equal(t, reason, ce.Reason)
		}
	}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for f := range typ.Fields() {
			if tag := f.Tag.Get("validate"); tag != "" {
				assert.NotContains(t, describeRule(tag), "is invalid", f.Name)
			}
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeFor[Config]())
}

func TestConfigFromEnvReadsTheProcessEnvironment(t *testing.T) {
	t.Setenv("AUTHV2_REAUTH_WINDOW", "5m")
	t.Setenv("AUTHV2_THROTTLE_DISTINCT_ERROR", "true")
	c, err := ConfigFromEnv()
	require.NoError(t, err)
	assert.Equal(t, 5*time.Minute, c.ReauthWindow)
	assert.True(t, c.Throttle.DistinctError)
	t.Setenv("AUTHV2_THROTTLE_DISTINCT_ERROR", "sometimes")
	_, err = ConfigFromEnv()
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "AUTHV2_THROTTLE_DISTINCT_ERROR", ce.Field)
}

func TestErrorMessages(t *testing.T) {
	ve := &ValidationError{Fields: []FieldError{{Field: "Email", Reason: "is required"}, {Field: "Password", Reason: "is too short"}}}
	assert.Equal(t, "authv2: invalid input: Email: is required; Password: is too short", ve.Error())
	assert.Equal(t, "", ve.Field("Nope"))
	assert.Equal(t, "authv2: too many attempts, retry after 31s", (&ThrottledError{RetryAfter: 30*time.Second + 600*time.Millisecond}).Error())
}

func TestConfigFromEnvIncludesHTTP(t *testing.T) {
	c, err := configFromLookup(lookupFrom(map[string]string{"AUTHV2_TRUSTED_PROXIES": "10.0.0.0/8", "AUTHV2_DEV_MODE": "true"}))
	require.NoError(t, err)
	assert.True(t, c.HTTP.DevelopmentMode)
	require.Len(t, c.HTTP.TrustedProxies, 1)
	_, err = configFromLookup(lookupFrom(map[string]string{"AUTHV2_COOKIE_SAMESITE": "none"}))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "AUTHV2_COOKIE_SAMESITE", ce.Field)
	bad := DefaultConfig()
	bad.HTTP.CookieName = "bad name;"
	require.ErrorIs(t, bad.Validate(), ErrInvalidConfig)
}

// envTableHeader opens the README's table of AUTHV2_* variables.
const envTableHeader = "| variable | default | meaning |"

// envTable returns the README table's rows: variable name to its default
// cell, as written.
func envTable(t *testing.T, readme string) map[string]string {
	t.Helper()
	_, table, ok := strings.Cut(readme, envTableHeader+"\n")
	if !ok {
		t.Fatalf("README.md has no %q table", envTableHeader)
	}
	rows := map[string]string{}
	for line := range strings.SplitSeq(table, "\n") {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(line, "|")
		if len(cells) < 4 || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		if _, dup := rows[name]; dup {
			t.Errorf("README.md's configuration table lists %s twice", name)
		}
		rows[name] = strings.TrimSpace(cells[2])
	}
	return rows
}

// envDefaultValue turns a default cell of the table into the value that,
// set in the variable, must give DefaultConfig: a literal in backquotes
// as written, or one of the words the table uses for a default that is
// not a literal.
func envDefaultValue(cell string) (string, bool) {
	if v, ok := strings.CutPrefix(cell, "`"); ok {
		if v, rest, ok := strings.Cut(v, "`"); ok && rest == "" {
			return v, true
		}
	}
	switch {
	case cell == "none":
		return "", true
	case cell == "GOMAXPROCS":
		return "0", true
	case strings.HasPrefix(cell, "`DefaultRefusedDomains()`"):
		return strings.Join(DefaultRefusedDomains(), ","), true
	}
	return "", false
}

// TestEnvTableMatchesConfig: the README's table lists exactly the
// AUTHV2_* variables the configuration reads, so the docs cannot lag a
// new setting, and each default it shows is the default: setting a
// variable to it leaves DefaultConfig unchanged.
func TestEnvTableMatchesConfig(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	rows := envTable(t, string(readme))
	var names []string
	record := func(name string) (string, bool) { names = append(names, name); return "", false }
	_, err = configFromLookup(record)
	require.NoError(t, err)
	require.NotEmpty(t, names)
	names = slices.DeleteFunc(names, func(name string) bool {
		_, removed := removedEnvVars[name] // looked up only to be refused
		return removed
	})
	for _, name := range names {
		if _, ok := rows[name]; !ok {
			t.Errorf("README.md's configuration table lacks %s, which ConfigFromEnv reads", name)
		}
	}
	want := DefaultConfig()
	for name, cell := range rows {
		if !slices.Contains(names, name) {
			t.Errorf("README.md's configuration table lists %s, which ConfigFromEnv does not read", name)
			continue
		}
		value, ok := envDefaultValue(cell)
		if !ok {
			t.Errorf("README.md: %s's default %s is neither a literal in backquotes nor a known word", name, cell)
			continue
		}
		got, err := configFromLookup(lookupFrom(map[string]string{name: value}))
		if err != nil {
			t.Errorf("README.md's default %s=%q: %v", name, value, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("README.md's default %s=%q is not DefaultConfig's", name, value)
		}
	}
}

func TestRemovedEnvVariableIsRefused(t *testing.T) {
	_, err := configFromLookup(lookupFrom(map[string]string{"AUTHV2_THROTTLE_BASE_DELAY": "30s"}))
	require.ErrorIs(t, err, ErrInvalidConfig)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "AUTHV2_THROTTLE_BASE_DELAY", ce.Field)
	assert.Contains(t, ce.Reason, "AUTHV2_THROTTLE_MAX_FAILURES", "it names what replaced it")
}

// TestNewOwnsItsConfig: the Manager keeps its own copy of every slice and
// map of the Config it was given, so the caller changing its Config
// afterwards (or another Manager built from it) cannot change a running
// Manager's settings past Validate, such as widening the trusted proxies
// or dropping a step-up, nor race the Manager's readers of the map.
func TestNewOwnsItsConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PasswordWords = []string{"acme"}
	cfg.HTTP.TrustedProxies, _ = ParseTrustedProxies("10.0.0.0/8")
	cfg.HTTP.TrustedOrigins = []string{"https://app.example.com"}
	cfg.MFA.StepUp = map[string]Assurance{"orders:refund": {Level: mfa.AAL2}}
	m, err := New(WithConfig(cfg), WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close(context.Background()) })

	// Every slice and map reachable from Config, so a new one is checked
	// too: the test fails until it is given a value above.
	var walk func(path string, given, kept reflect.Value)
	walk = func(path string, given, kept reflect.Value) {
		switch given.Kind() {
		case reflect.Struct:
			for i := range given.NumField() {
				walk(path+"."+given.Type().Field(i).Name, given.Field(i), kept.Field(i))
			}
		case reflect.Slice, reflect.Map:
			if !assert.NotZero(t, given.Len(), "%s: give it a value in this test", path) {
				return
			}
			assert.NotEqual(t, given.Pointer(), kept.Pointer(), "%s is shared with the caller's Config", path)
		}
	}
	walk("Config", reflect.ValueOf(cfg), reflect.ValueOf(m.cfg))
	walk("passwordWords", reflect.ValueOf(cfg.PasswordWords), reflect.ValueOf(m.passwordWords))

	cfg.HTTP.TrustedProxies[0], _ = netip.ParsePrefix("0.0.0.0/0")
	delete(cfg.MFA.StepUp, "orders:refund")
	assert.Equal(t, "10.0.0.0/8", m.cfg.HTTP.TrustedProxies[0].String())
	assert.Contains(t, m.cfg.MFA.StepUp, "orders:refund")
}

// TestAuditQueueSizeIsBounded: New allocates the whole audit queue at
// once, so a size Validate let through could panic New (makeslice) or
// kill the process (out of memory) instead of failing with a
// *ConfigError. A size just past the bound is refused before any
// allocation; the bound itself is accepted.
func TestAuditQueueSizeIsBounded(t *testing.T) {
	_, err := configFromLookup(lookupFrom(map[string]string{"AUTHV2_AUDIT_QUEUE_SIZE": "4611686018427387904"}))
	require.ErrorIs(t, err, ErrInvalidConfig)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "AuditQueueSize", ce.Field)
	assert.Contains(t, ce.Reason, "AUTHV2_AUDIT_QUEUE_SIZE")
	c := DefaultConfig()
	c.AuditQueueSize = 1<<20 + 1
	require.ErrorAs(t, c.Validate(), &ce)
	assert.Equal(t, "must be between 1 and 1048576", ce.Reason)
	c.AuditQueueSize = 1 << 20
	require.NoError(t, c.Validate())
}
