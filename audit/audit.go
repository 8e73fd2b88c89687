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
	// TypeAPIKeyCreated and TypeAPIKeyRevoked record an API key's life;
	// Target is "apikey:<id>", Attributes[AttrUser] its owner.
	TypeAPIKeyCreated Type = "apikey.created"
	TypeAPIKeyRevoked Type = "apikey.revoked"
	// TypeAPIKeyUsed is a successful authentication with an API key,
	// sampled (Config.APIKeyUseAuditRate); TypeAPIKeyDenied a refused one,
	// every time, with the reason (unknown, secret_mismatch, malformed,
	// revoked, expired, ip_throttled).
	TypeAPIKeyUsed   Type = "apikey.used"
	TypeAPIKeyDenied Type = "apikey.denied"
	// TypeImpersonationStarted and TypeImpersonationEnded record an
	// impersonation: ActorUserID is the real actor, Target
	// "user:<id>" the user acted as, Attributes[AttrImpersonation] the
	// record's ID. Every event in between names both (ActorUserID the
	// user acted as, ImpersonatorUserID the real actor).
	TypeImpersonationStarted Type = "impersonation.started"
	TypeImpersonationEnded   Type = "impersonation.ended"
)

// Outcome of the step.
type Outcome string

// Outcomes.
const (
	Success Outcome = "success"
	Failure Outcome = "failure"
	Denied  Outcome = "denied"
)

// Reasons a flow failed, in Event.Reason. They are for the audit trail and
// metrics only: a client is told less (Login answers one error for most of
// them, so it does not reveal which accounts exist).
const (
	ReasonIPThrottled          = "ip_throttled"           // the client's address is over its limit
	ReasonUnknownUserThrottled = "unknown_user_throttled" // an unknown email is over its throttle, as an account's would be
	ReasonAccountThrottled     = "account_throttled"      // the account is over its limit
	ReasonUnknownUser          = "unknown_user"           // no account has that email
	ReasonBadPassword          = "bad_password"
	ReasonEmailNotVerified     = "email_not_verified"
	ReasonNotMember            = "not_member"      // the user is not in the tenant asked for
	ReasonSessionFailed        = "session"         // the session could not be opened or the login saved
	ReasonAccountChanged       = "account_changed" // the account changed while the login was checked
	ReasonEmailTaken           = "email_taken"     // a registration named a registered email
	// ReasonStatusPrefix precedes the user's status when the account is
	// neither active nor awaiting verification ("status_disabled").
	ReasonStatusPrefix = "status_"
)

// IsThrottled reports whether reason says a login was refused by a
// throttle rather than checked.
func IsThrottled(reason string) bool {
	return reason == ReasonIPThrottled || reason == ReasonAccountThrottled || reason == ReasonUnknownUserThrottled
}

// Event is one audit record. It never carries a password, a raw token or a
// reset secret.
type Event struct {
	ID      string
	Time    time.Time // UTC
	Type    Type
	Outcome Outcome
	// ActorUserID is who acted: during an impersonation, the user acted
	// as, and ImpersonatorUserID the real actor ("" otherwise).
	ActorUserID        string
	ActorSessionID     string
	ImpersonatorUserID string
	TenantID           string
	Scope              string
	Target             string
	IP                 string
	UserAgent          string
	DecisionID         string
	TraceID            string
	Reason             string // internal detail, e.g. why a login failed (Reason… constants, or a session.Reason…)
	Attributes         map[string]string
}

// Sink receives audit events. Write must be safe for concurrent use; an
// error means the events were not recorded and may be retried.
type Sink interface {
	Write(ctx context.Context, events []Event) error
}
