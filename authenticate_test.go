package authv2_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/session"
)

func TestSessionTimeoutsOption(t *testing.T) {
	cfg := authv2test.Config()
	cfg.Session.IdleTimeout = 5 * time.Minute
	cfg.Session.AbsoluteTimeout = time.Hour
	e := newEnv(t, authv2.WithConfig(cfg))
	e.register(t, "short@example.com")
	res := e.login(t, "short@example.com")
	e.clock.Advance(5*time.Minute + time.Second)
	_, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrSessionExpired)
}

// NIST AAL2 timeouts, to the second: idle 30 min, absolute 12 h.
func TestIdleTimeout(t *testing.T) {
	e := newEnv(t)
	e.register(t, "idle@example.com")
	res := e.login(t, "idle@example.com")
	e.clock.Advance(29*time.Minute + 59*time.Second)
	_, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err, "alive at 29m59s")
	e.clock.Advance(30*time.Minute + 1*time.Second)
	_, err = e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrSessionExpired, "dead 30m01s after the last use")
	assert.NotEmpty(t, e.sink.OfType(audit.TypeSessionExpired))
}

func TestAbsoluteTimeout(t *testing.T) {
	e := newEnv(t)
	e.register(t, "abs@example.com")
	res := e.login(t, "abs@example.com")
	for elapsed := time.Duration(0); elapsed < 12*time.Hour-10*time.Minute; elapsed += 10 * time.Minute {
		e.clock.Advance(10 * time.Minute)
		_, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
		require.NoError(t, err, "touching every 10 min keeps it alive at %v", elapsed+10*time.Minute)
	}
	e.clock.Set(t0.Add(12*time.Hour - time.Second))
	_, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err, "alive at 11h59m59s")
	e.clock.Set(t0.Add(12*time.Hour + time.Second))
	_, err = e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrSessionExpired, "dead at 12h+1s however active")
}

func TestSlidingRenewalIsThrottled(t *testing.T) {
	e := newEnv(t)
	e.register(t, "slide@example.com")
	res := e.login(t, "slide@example.com")
	for range 10 {
		e.clock.Advance(5 * time.Second)
		_, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
		require.NoError(t, err)
	}
	assert.Equal(t, int64(0), e.sessions.touches.Load(), "50 s of use is under the 1 min touch interval")
	e.clock.Advance(15 * time.Second)
	_, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), e.sessions.touches.Load())
	assert.Len(t, e.sink.OfType(audit.TypeSessionRenewed), 1, "a renewal is audited once per write")
	s, err := e.stores.Sessions.Get(t.Context(), res.Session.ID)
	require.NoError(t, err)
	assert.Equal(t, t0.Add(65*time.Second), s.LastSeenAt)
	assert.Equal(t, t0.Add(65*time.Second+30*time.Minute), s.IdleExpiresAt)
}

func TestMalformedTokenNeverReachesStore(t *testing.T) {
	e := newEnv(t)
	e.register(t, "m@example.com")
	res := e.login(t, "m@example.com")
	before := e.sessions.gets.Load()
	for _, tok := range []string{"", "av2_", "Bearer x", res.Token[:len(res.Token)-1] + "A", strings.ToUpper(res.Token), res.Token + "x"} {
		if tok == res.Token {
			continue
		}
		_, err := e.m.Authenticate(t.Context(), tok, session.ClientInfo{})
		assert.ErrorIs(t, err, authv2.ErrUnauthenticated, "token %q", tok)
	}
	assert.Equal(t, before, e.sessions.gets.Load())
}

func TestForgedSecretRejected(t *testing.T) {
	e := newEnv(t)
	e.register(t, "f@example.com")
	a := e.login(t, "f@example.com")
	b := e.login(t, "f@example.com")
	// a well-formed token pairing a's session ID with b's secret: checksum
	// recomputed, so it passes the format check and must fail on the hash.
	_, err := e.m.Authenticate(t.Context(), forge(t, a.Session.ID, a.Token), session.ClientInfo{})
	require.NoError(t, err, "forge rebuilds a's own token faithfully")
	forged := forge(t, a.Session.ID, b.Token)
	_, err = e.m.Authenticate(t.Context(), forged, session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrUnauthenticated)
}

func TestSecurityPolicyInAuthenticate(t *testing.T) {
	e := newEnv(t, authv2.WithSecurityPolicy(session.CombineSecurityPolicies(
		session.RejectUserAgentChange(), session.RecordClientChanges())))
	e.register(t, "sec@example.com")
	res := e.login(t, "sec@example.com") // IP 192.0.2.10, UA test-agent/1

	p, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{IP: "192.0.2.10", UserAgent: "test-agent/1"})
	require.NoError(t, err)
	assert.Empty(t, p.Risk)

	p, err = e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{IP: "198.51.100.4", UserAgent: "test-agent/1"})
	require.NoError(t, err)
	assert.Equal(t, session.ReasonIPChanged, p.Risk)

	_, err = e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{IP: "192.0.2.10", UserAgent: "curl/8"})
	assert.ErrorIs(t, err, authv2.ErrClientMismatch)

	events := e.sink.OfType(audit.TypeSessionSecurity)
	require.Len(t, events, 2)
	assert.Equal(t, audit.Success, events[0].Outcome)
	assert.Equal(t, session.ReasonIPChanged, events[0].Reason)
	assert.Equal(t, audit.Denied, events[1].Outcome)
	assert.Equal(t, session.ReasonUserAgentChanged, events[1].Reason)
	assert.Equal(t, "curl/8", events[1].UserAgent)
}

// TestPrincipalJSONCarriesNoSecret: an application that logs or returns
// the Principal as JSON must not leak the session's secret hash.
func TestPrincipalJSONCarriesNoSecret(t *testing.T) {
	e := newEnv(t)
	e.register(t, "json@example.com")
	res := e.login(t, "json@example.com")
	p, err := e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	require.NoError(t, err)
	require.NotEmpty(t, p.Session.SecretHash)
	b, err := json.Marshal(p)
	require.NoError(t, err)
	assert.NotContains(t, string(b), base64.StdEncoding.EncodeToString(p.Session.SecretHash))
	assert.NotContains(t, string(b), "SecretHash")
	assert.Contains(t, string(b), p.Session.ID, "the rest of the session still encodes")
}
