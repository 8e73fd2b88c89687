package audit

import (
	"context"
	"time"
)

// Type names what happened.
type Type string

// Event types emitted by authv2.
const (
	TypeRegister        Type = "user.register"
	TypeLoginSuccess    Type = "login.success"
	TypeLoginFailure    Type = "login.failure"
	TypeLogout          Type = "logout"
	TypeSessionCreated  Type = "session.created"
	TypeSessionRenewed  Type = "session.renewed"
	TypeSessionRotated  Type = "session.rotated"
	TypeSessionRevoked  Type = "session.revoked"
	TypeSessionExpired  Type = "session.expired"
	TypeSessionEvicted  Type = "session.evicted"
	TypeSessionSecurity Type = "session.security"
	// TypeSessionReuse: a token was presented after its session had been
	// rotated away (beyond the grace window): it was copied. The
	// user's sessions are ended.
	TypeSessionReuse   Type = "session.reuse_detected"
	TypeTenantSwitch   Type = "session.tenant_switch"
	TypePasswordChange Type = "password.change"
	TypePasswordRehash Type = "password.rehash"
	TypeUserUpdate     Type = "user.update"
	TypeAdminChange    Type = "admin.change"
	// TypeAuthorizeDecision is an authorization decision: Outcome Success
	// for allow, Denied for deny; Attributes[AttrAction] holds the
	// permission checked and Attributes[AttrResourceType] the resource
	// type.
	TypeAuthorizeDecision Type = "authz.decision"
)

// Outcome of the step.
type Outcome string

// Outcomes.
const (
	Success Outcome = "success"
	Failure Outcome = "failure"
	Denied  Outcome = "denied"
)

// Event is one audit record. It never carries a password, a raw token or a
// reset secret.
type Event struct {
	ID             string
	Time           time.Time // UTC
	Type           Type
	Outcome        Outcome
	ActorUserID    string
	ActorSessionID string
	TenantID       string
	Scope          string
	Target         string
	IP             string
	UserAgent      string
	DecisionID     string
	TraceID        string
	Reason         string // internal detail, e.g. why a login failed
	Attributes     map[string]string
}

// Sink receives audit events. Write must be safe for concurrent use; an
// error means the events were not recorded and may be retried.
type Sink interface {
	Write(ctx context.Context, events []Event) error
}
