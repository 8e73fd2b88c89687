package permission

import (
	"encoding/hex"
	"errors"
	"time"
)

// Subject is who asks: a user acting in a tenant, possibly narrowed to a
// scope by the session. Attributes reach conditions as
// principal.attributes (and principal.<name>).
type Subject struct {
	UserID   string
	TenantID string
	// Scope, when set, narrows the session: resources outside it are
	// denied whatever the user's bindings say.
	Scope      string
	Attributes map[string]any
}

// Resource is what is acted on. TenantID must be set: the engine never
// assumes the subject's tenant, and a resource of another tenant (or of
// none) is denied whatever the policy says.
type Resource struct {
	Type       string
	ID         string
	TenantID   string
	Scope      string // where in the tenant's scope tree the resource lives
	Attributes map[string]any
}

// Request carries facts about the call for conditions: request.time,
// request.ip and each attribute as request.<name>.
type Request struct {
	Time       time.Time // zero: the engine's clock
	IP         string
	Attributes map[string]any
}

// Reason says in a word why a decision came out as it did.
type Reason string

// Reasons of a Decision.
const (
	ReasonAllowed       Reason = "allowed by grant"
	ReasonDenied        Reason = "denied by grant"
	ReasonNoMatch       Reason = "no grant matches"
	ReasonConditionErr  Reason = "denied: a deny condition failed to evaluate"
	ReasonCrossTenant   Reason = "resource belongs to another tenant"
	ReasonNoTenant      Reason = "subject has no tenant"
	ReasonAnonymous     Reason = "subject has no user"
	ReasonOutsideScope  Reason = "resource is outside the session's scope"
	ReasonInvalid       Reason = "invalid request"
	ReasonError         Reason = "policy unavailable"
	ReasonAllowCondFail Reason = "no grant matches (an allow condition failed to evaluate)"
)

// Rule is the grant that decided, and how the user came to hold it.
type Rule struct {
	Role       string // the role carrying the grant
	BoundRole  string // the role the binding names (Role or a descendant of it)
	Scope      string // the binding's scope
	Permission string
	Effect     Effect
	Condition  string
}

// DecisionID identifies one decision, for audit correlation. An ID is
// the engine's random key mixed with a millisecond clock, then 64 random
// bits: unique in practice (two IDs can only meet within one millisecond
// of one engine, and then only if 64 random bits repeat), not secret, and
// cheap enough to make on every check without allocating.
type DecisionID [16]byte

// String returns the ID as 32 lower-case hex digits ("" for the zero ID).
func (id DecisionID) String() string {
	if id == (DecisionID{}) {
		return ""
	}
	return hex.EncodeToString(id[:])
}

// IsZero reports whether the ID is unset.
func (id DecisionID) IsZero() bool { return id == DecisionID{} }

// MarshalText implements encoding.TextMarshaler.
func (id DecisionID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *DecisionID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*id = DecisionID{}
		return nil
	}
	if len(b) != 32 {
		return errors.New("authv2/permission: decision ID must be 32 hex digits")
	}
	_, err := hex.Decode(id[:], b)
	return err
}

// Decision is the answer to one authorization request. It is a plain
// value: making one allocates nothing.
type Decision struct {
	Allowed bool
	// Effect is Allow when allowed, else Deny.
	Effect Effect
	ID     DecisionID
	Reason Reason
	// Version is the tenant policy version the decision used (0 when the
	// policy was not read).
	Version int64

	// rule points into the compiled policy (immutable, shared); Rule
	// hands out a copy so no caller can alter it. A pointer keeps the
	// Decision small enough to return cheaply.
	rule *ruleInfo
}

// Rule returns the grant that decided: zero when nothing matched or the
// request was refused before the policy was read.
func (d Decision) Rule() Rule {
	if d.rule == nil {
		return Rule{}
	}
	return d.rule.Rule
}
