package session_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/authv2/authv2/session"
)

func TestSecurityPolicies(t *testing.T) {
	s := &session.Session{Client: session.ClientInfo{IP: "192.0.2.10", UserAgent: "ua/1"}}
	s6 := &session.Session{Client: session.ClientInfo{IP: "2001:db8:1:2::10", UserAgent: "ua/1"}}
	cases := []struct {
		name   string
		policy session.SecurityPolicy
		sess   *session.Session
		req    session.ClientInfo
		want   session.SecurityAction
		reason string
	}{
		{"ignore anything", session.IgnoreClientChanges(), s, session.ClientInfo{IP: "198.51.100.1", UserAgent: "evil"}, session.SecurityAllow, ""},
		{"ua same", session.RejectUserAgentChange(), s, session.ClientInfo{IP: "198.51.100.1", UserAgent: "ua/1"}, session.SecurityAllow, ""},
		{"ua changed", session.RejectUserAgentChange(), s, session.ClientInfo{UserAgent: "ua/2"}, session.SecurityReject, session.ReasonUserAgentChanged},
		{"ua stripped", session.RejectUserAgentChange(), s, session.ClientInfo{}, session.SecurityReject, session.ReasonUserAgentChanged},
		{"ip same /24", session.RejectIPChange(24, 64), s, session.ClientInfo{IP: "192.0.2.200"}, session.SecurityAllow, ""},
		{"ip mapped v4 same /24", session.RejectIPChange(24, 64), s, session.ClientInfo{IP: "::ffff:192.0.2.99"}, session.SecurityAllow, ""},
		{"ip other /24", session.RejectIPChange(24, 64), s, session.ClientInfo{IP: "192.0.3.1"}, session.SecurityReject, session.ReasonIPChanged},
		{"ip family change", session.RejectIPChange(24, 64), s, session.ClientInfo{IP: "2001:db8::1"}, session.SecurityReject, session.ReasonIPChanged},
		{"ip garbage", session.RejectIPChange(24, 64), s, session.ClientInfo{IP: "not-an-ip"}, session.SecurityReject, session.ReasonIPChanged},
		{"ipv6 same /64", session.RejectIPChange(24, 64), s6, session.ClientInfo{IP: "2001:db8:1:2:ffff::1"}, session.SecurityAllow, ""},
		{"ipv6 other /64", session.RejectIPChange(24, 64), s6, session.ClientInfo{IP: "2001:db8:1:3::1"}, session.SecurityReject, session.ReasonIPChanged},
		{"record ua", session.RecordClientChanges(), s, session.ClientInfo{IP: "192.0.2.10", UserAgent: "ua/2"}, session.SecurityRecord, session.ReasonUserAgentChanged},
		{"record ip", session.RecordClientChanges(), s, session.ClientInfo{IP: "192.0.2.11", UserAgent: "ua/1"}, session.SecurityRecord, session.ReasonIPChanged},
		{"record nothing", session.RecordClientChanges(), s, session.ClientInfo{IP: "192.0.2.10", UserAgent: "ua/1"}, session.SecurityAllow, ""},
		{"combine: reject beats record", session.CombineSecurityPolicies(session.RecordClientChanges(), session.RejectIPChange(24, 64)), s,
			session.ClientInfo{IP: "10.0.0.1", UserAgent: "ua/1"}, session.SecurityReject, session.ReasonIPChanged},
		{"combine: record", session.CombineSecurityPolicies(session.RejectIPChange(16, 48), session.RecordClientChanges()), s,
			session.ClientInfo{IP: "192.0.9.1", UserAgent: "ua/1"}, session.SecurityRecord, session.ReasonIPChanged},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := c.policy.Check(c.sess, c.req)
			assert.Equal(t, c.want, d.Action)
			assert.Equal(t, c.reason, d.Reason)
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	assert.NoError(t, session.DefaultPolicy.Validate())
	for name, mutate := range map[string]func(*session.Policy){
		"idle zero":           func(p *session.Policy) { p.IdleTimeout = 0 },
		"absolute zero":       func(p *session.Policy) { p.AbsoluteTimeout = 0 },
		"idle above absolute": func(p *session.Policy) { p.IdleTimeout = p.AbsoluteTimeout + 1 },
		"touch >= idle":       func(p *session.Policy) { p.TouchInterval = p.IdleTimeout },
		"negative max":        func(p *session.Policy) { p.MaxPerUser = -1 },
		"unknown eviction":    func(p *session.Policy) { p.Eviction = 42 },
	} {
		p := session.DefaultPolicy
		mutate(&p)
		assert.Error(t, p.Validate(), name)
	}
}
