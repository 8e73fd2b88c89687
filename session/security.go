package session

import (
	"net/netip"
)

// SecurityAction is what a SecurityPolicy decided about a request.
type SecurityAction int

const (
	// SecurityAllow lets the request through silently.
	SecurityAllow SecurityAction = iota
	// SecurityRecord lets it through, flags the principal as risky and
	// records an audit event.
	SecurityRecord
	// SecurityReject refuses the request (the session itself stays valid
	// for its rightful client).
	SecurityReject
)

// SecurityDecision is a policy's verdict with its reason, e.g. "ip_changed".
type SecurityDecision struct {
	Action SecurityAction
	Reason string
}

// SecurityPolicy compares the client of a request with the client the
// session was created from. Authenticate applies it on every call, so it
// must be cheap and must not block.
type SecurityPolicy interface {
	Check(s *Session, request ClientInfo) SecurityDecision
}

// SecurityPolicyFunc adapts a function to SecurityPolicy.
type SecurityPolicyFunc func(s *Session, request ClientInfo) SecurityDecision

// Check calls f.
func (f SecurityPolicyFunc) Check(s *Session, request ClientInfo) SecurityDecision {
	return f(s, request)
}

// Reasons reported by the built-in policies.
const (
	ReasonUserAgentChanged = "user_agent_changed"
	ReasonIPChanged        = "ip_changed"
)

// IgnoreClientChanges accepts every request (the default).
func IgnoreClientChanges() SecurityPolicy {
	return SecurityPolicyFunc(func(*Session, ClientInfo) SecurityDecision { return SecurityDecision{} })
}

// RecordClientChanges accepts requests whose user agent or IP differ from
// the session's, flagging them: the principal carries the reason and an
// audit event records it.
func RecordClientChanges() SecurityPolicy {
	return SecurityPolicyFunc(func(s *Session, r ClientInfo) SecurityDecision {
		if reason := clientChange(s.Client, r, 32, 128); reason != "" {
			return SecurityDecision{Action: SecurityRecord, Reason: reason}
		}
		return SecurityDecision{}
	})
}

// RejectUserAgentChange refuses requests whose user agent differs from the
// one the session was created with (an absent user agent counts as
// different, so stripping the header does not bypass the check).
func RejectUserAgentChange() SecurityPolicy {
	return SecurityPolicyFunc(func(s *Session, r ClientInfo) SecurityDecision {
		if s.Client.UserAgent != "" && r.UserAgent != s.Client.UserAgent {
			return SecurityDecision{Action: SecurityReject, Reason: ReasonUserAgentChanged}
		}
		return SecurityDecision{}
	})
}

// RejectIPChange refuses requests from an IP outside the session's IPv4
// /v4Bits or IPv6 /v6Bits network (e.g. 24 and 64), or of the other
// address family. Mobile clients move between networks: consider
// RecordClientChanges for them.
func RejectIPChange(v4Bits, v6Bits int) SecurityPolicy {
	return SecurityPolicyFunc(func(s *Session, r ClientInfo) SecurityDecision {
		if s.Client.IP != "" && !sameNetwork(s.Client.IP, r.IP, v4Bits, v6Bits) {
			return SecurityDecision{Action: SecurityReject, Reason: ReasonIPChanged}
		}
		return SecurityDecision{}
	})
}

// CombineSecurityPolicies applies each policy in turn: the first reject
// wins; otherwise the first record.
func CombineSecurityPolicies(policies ...SecurityPolicy) SecurityPolicy {
	return SecurityPolicyFunc(func(s *Session, r ClientInfo) SecurityDecision {
		var out SecurityDecision
		for _, p := range policies {
			d := p.Check(s, r)
			if d.Action == SecurityReject {
				return d
			}
			if d.Action == SecurityRecord && out.Action == SecurityAllow {
				out = d
			}
		}
		return out
	})
}

func clientChange(orig, r ClientInfo, v4Bits, v6Bits int) string {
	if orig.UserAgent != "" && orig.UserAgent != r.UserAgent {
		return ReasonUserAgentChanged
	}
	if orig.IP != "" && !sameNetwork(orig.IP, r.IP, v4Bits, v6Bits) {
		return ReasonIPChanged
	}
	return ""
}

// sameNetwork reports whether a and b share the /v4Bits (IPv4) or /v6Bits
// (IPv6) prefix. Unparseable addresses never match.
func sameNetwork(a, b string, v4Bits, v6Bits int) bool {
	x, err := netip.ParseAddr(a)
	if err != nil {
		return false
	}
	y, err := netip.ParseAddr(b)
	if err != nil {
		return false
	}
	x, y = x.Unmap(), y.Unmap()
	if x.Is4() != y.Is4() {
		return false
	}
	bits := v6Bits
	if x.Is4() {
		bits = v4Bits
	}
	px, err := x.Prefix(bits)
	if err != nil {
		return false
	}
	return px.Contains(y)
}
