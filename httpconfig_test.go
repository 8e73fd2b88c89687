package authv2

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHTTPConfigFromLookup(t *testing.T) {
	env := func(m map[string]string) (HTTPConfig, error) {
		c, err := configFromLookup(lookupFrom(m))
		return c.HTTP, err
	}
	c, err := env(nil)
	require.NoError(t, err)
	assert.Equal(t, DefaultHTTPConfig(), c)

	c, err = env(map[string]string{
		"AUTHV2_COOKIE_NAME":     "__Host-sid",
		"AUTHV2_COOKIE_SAMESITE": "Strict",
		"AUTHV2_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1",
		"AUTHV2_TRUSTED_ORIGINS": "https://app.example.com, https://admin.example.com",
		"AUTHV2_DEV_MODE":        "true",
	})
	require.NoError(t, err)
	assert.Equal(t, "__Host-sid", c.CookieName)
	assert.Equal(t, "sid", c.cookieName())
	assert.Equal(t, http.SameSiteStrictMode, c.SameSite)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")}, c.TrustedProxies)
	assert.Equal(t, []string{"https://app.example.com", "https://admin.example.com"}, c.TrustedOrigins)
	assert.True(t, c.DevelopmentMode)

	for name, v := range map[string]string{
		"AUTHV2_COOKIE_NAME":     "a b",
		"AUTHV2_COOKIE_SAMESITE": "none",
		"AUTHV2_TRUSTED_PROXIES": "10.0.0.0/8,banana",
		"AUTHV2_TRUSTED_ORIGINS": "app.example.com",
		"AUTHV2_DEV_MODE":        "sometimes",
	} {
		_, err := env(map[string]string{name: v})
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, name)
		assert.Contains(t, []string{name, "HTTP.CookieName", "HTTP.TrustedOrigins"}, ce.Field, name)
		assert.Contains(t, ce.Error(), name, "every error names the variable")
	}
}
