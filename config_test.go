package authv2

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	assert.Equal(t, 128, c.PasswordMaxLength, "unset variables keep their defaults")
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
