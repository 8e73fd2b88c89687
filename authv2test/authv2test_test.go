package authv2test_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNewManagerWithClock(t *testing.T) {
	clk := authv2test.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m := authv2test.NewManager(t, authv2.WithClock(clk))
	_, err := m.Register(t.Context(), authv2.RegisterInput{Email: "t@example.com", Password: "a fine long password"})
	require.NoError(t, err)
	res, err := m.Login(t.Context(), authv2.LoginInput{Email: "t@example.com", Password: "a fine long password"})
	require.NoError(t, err)
	clk.Advance(31 * time.Minute)
	_, err = m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrSessionExpired)
	clk.Set(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	assert.Equal(t, 2026, clk.Now().Year())
}

func TestConfigIsDefaultWithFastHashing(t *testing.T) {
	c := authv2test.Config()
	assert.Equal(t, authv2test.FastPasswordParams, c.Argon2)
	c.Argon2 = authv2.DefaultConfig().Argon2
	assert.Equal(t, authv2.DefaultConfig(), c, "only the hashing cost differs from DefaultConfig")
	_, err := authv2.New(authv2.WithConfig(authv2test.Config()))
	assert.ErrorIs(t, err, authv2.ErrInvalidConfig, "cheap hashing still needs WithInsecurePasswordHashing")
}

func TestTXTRecords(t *testing.T) {
	var r authv2test.TXTRecords
	_, err := r.LookupTXT(t.Context(), "_authv2-challenge.example.com")
	var dnsErr *net.DNSError
	require.ErrorAs(t, err, &dnsErr)
	assert.True(t, dnsErr.IsNotFound)
	r.PublishProof(&permission.TenantDomain{Domain: "example.com", Token: "tok"})
	r.Publish("_authv2-challenge.example.com", "other")
	got, err := r.LookupTXT(t.Context(), "_authv2-challenge.example.com")
	require.NoError(t, err)
	assert.Equal(t, []string{"authv2-domain-verification=tok", "other"}, got)
	got, err = r.LookupTXT(t.Context(), "_authv2-challenge.example.com.")
	require.NoError(t, err, "a rooted name finds the records too")
	assert.Equal(t, []string{"authv2-domain-verification=tok", "other"}, got)
}
