package audit

// Domain capture: a user whose verified address is at a tenant's
// verified email domain joins the tenant.
const (
	// TypeMemberJoined: a user joined a tenant on their own (not by an
	// administrator's change); Reason says how, Target is "user:<id>".
	TypeMemberJoined Type = "member.joined"
	// ReasonDomainCapture: through the tenant's verified email domain
	// (Attributes "domain", "role", "scope"; "error" on a failure).
	ReasonDomainCapture = "domain_capture"
)
