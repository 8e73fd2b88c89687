package authv2

import (
	"time"

	"github.com/authv2/authv2/session"
)

// Principal is who is calling: built by Authenticate from the session
// record alone (one store read), so it carries no user profile. Load the
// full user with Manager.User when a handler needs it.
type Principal struct {
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
	// Session is the session record as read (treat it as read-only).
	Session *session.Session
}
