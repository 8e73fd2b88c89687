package authv2

import (
	"maps"
	"time"

	"github.com/authv2/authv2/apikey"

	"github.com/authv2/authv2/session"
)

// Principal is who is calling: built by Authenticate from the session
// record alone (one store read), so it carries no user profile. Load the
// full user with Manager.User when a handler needs it.
type Principal struct {
	// Kind is what the caller is: a user (with a session or an API key)
	// or a service account (always with an API key). A Principal built
	// by hand with no Kind is a user.
	Kind PrincipalKind
	// UserID is the caller's ID: the user's, or the service account's
	// (which bindings name the same way).
	UserID    string
	TenantID  string // "" when the session is in no tenant
	Scope     string
	SessionID string
	AuthLevel int
	// AuthenticatedAt is when the user last proved a credential.
	AuthenticatedAt time.Time
	// ExpiresAt is when the session ends unless used again.
	ExpiresAt time.Time
	// Client is the client of the current request, as given to
	// Authenticate (the session's own client is in Session.Client).
	Client session.ClientInfo
	// Risk, when set, is why the security policy flagged this request
	// (e.g. session.ReasonIPChanged); the request was allowed.
	Risk string
	// Attributes are the user's attributes (user.User.Attributes) as they
	// were when the session was issued: fixed at login and refreshed when
	// the session rotates (RotateSession, SwitchTenant, Reauthenticate,
	// ChangePassword, ChangeEmail), so Authenticate need not read the
	// user. Conditions read them as principal.attributes.<name> and
	// principal.<name>. nil when the user has none. Treat as read-only.
	Attributes map[string]string
	// subjectAttrs is Attributes as the permission engine takes them,
	// converted once per request rather than on every check.
	subjectAttrs map[string]any
	// Session is the session record as read (treat it as read-only); nil
	// for an API key.
	Session *session.Session
	// APIKey is the key record as read when the caller presented an API
	// key (treat it as read-only), else nil. Its Permissions narrow every
	// check: a request is allowed only when the owner's policy allows it
	// at the time of the check and one of the key's patterns covers it.
	APIKey *apikey.Key
	// Impersonator is set when the caller is an impersonation session
	// (Manager.StartImpersonation): UserID is the user acted as, and
	// Impersonator names the real actor and the session they return to.
	// Credential, factor, session and key changes refuse such a principal
	// (ErrImpersonation). nil otherwise.
	Impersonator *session.Impersonator
}

// IsImpersonation reports whether the caller is an impersonation session.
func (p *Principal) IsImpersonation() bool { return p != nil && p.Impersonator != nil }

// PrincipalKind says what kind of caller a Principal is.
type PrincipalKind string

// Principal kinds.
const (
	PrincipalUser           PrincipalKind = "user"
	PrincipalServiceAccount PrincipalKind = "service_account"
)

// IsServiceAccount reports whether the caller is a service account.
func (p *Principal) IsServiceAccount() bool { return p.Kind == PrincipalServiceAccount }

// sessionAttributes is the copy of a user's attributes a new session
// keeps; nil when there are none, so stores need not tell nil from empty.
func sessionAttributes(attrs map[string]string) map[string]string {
	if len(attrs) == 0 {
		return nil
	}
	return maps.Clone(attrs)
}

// subjectAttributes converts a principal's attributes for the engine; nil
// when there are none, which costs a check nothing.
func subjectAttributes(attrs map[string]string) map[string]any {
	if len(attrs) == 0 {
		return nil
	}
	m := make(map[string]any, len(attrs))
	for k, v := range attrs {
		m[k] = v
	}
	return m
}
