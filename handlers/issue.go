package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/authv2/authv2"
)

// AuthModeHeader is the request header with which a client that has no
// bearer token yet (logging in) asks for the token in the response body
// instead of a cookie: "Authv2-Auth-Mode: bearer".
const AuthModeHeader = "Authv2-Auth-Mode"

// bearerClient reports whether r comes from a client that keeps its token
// itself: it authenticated with an Authorization header, or, signed out,
// it asked for bearer mode. Browsers send neither (a cross-site page
// cannot add either header without a CORS preflight the application
// allows). A request that authenticated with the session cookie is a
// browser whatever headers it adds: those come from script in the page,
// which must not read the token that HttpOnly keeps from it.
func bearerClient(r *http.Request) bool {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	bearer := strings.EqualFold(scheme, "Bearer")
	if tok, ok := authv2.TokenFrom(r.Context()); ok {
		return bearer && strings.TrimSpace(cred) == tok
	}
	return bearer || strings.EqualFold(strings.TrimSpace(r.Header.Get(AuthModeHeader)), "bearer")
}

// deviceToken is the device token a login request presents: a bearer
// client's in the body (fromBody), a browser's in the device cookie.
func (k *kit) deviceToken(r *http.Request, fromBody string) string {
	if fromBody != "" {
		return fromBody
	}
	return k.m.DeviceToken(r)
}

// sessionJSON answers a route that opened or replaced a session. Token
// and DeviceToken are set for bearer clients only.
type sessionJSON struct {
	SessionID   string    `json:"session_id"`
	TenantID    string    `json:"tenant_id,omitempty"`
	ExpiresAt   time.Time `json:"expires_at"`
	Token       string    `json:"token,omitempty"`
	DeviceToken string    `json:"device_token,omitempty"`
}

// issue hands res to the client: in the body for a bearer client, as the
// session and device cookies for a browser (see the package
// documentation). A browser whose cookie cannot be set gets an error, and
// the session is ended so that no live session is left that nobody holds.
func (k *kit) issue(w http.ResponseWriter, r *http.Request, res *authv2.LoginResult) {
	out := sessionJSON{SessionID: res.Session.ID, TenantID: res.Session.TenantID, ExpiresAt: res.Session.ExpiresAt()}
	if bearerClient(r) {
		out.Token, out.DeviceToken = res.Token, res.DeviceToken
		writeJSON(w, http.StatusOK, out)
		return
	}
	if err := k.m.SetSessionCookie(w, r, res); err != nil {
		// Not on the request's cancellation: the session must end even if
		// the client has gone.
		if lerr := k.m.Logout(context.WithoutCancel(r.Context()), res.Token); lerr != nil {
			k.log.ErrorContext(r.Context(), "handlers: ending a session whose cookie could not be set", "error", lerr)
		}
		k.log.ErrorContext(r.Context(), "handlers: session cookie not set; serve over TLS (list a TLS-terminating proxy in TrustedProxies) or use development mode locally", "error", err)
		authv2.WriteProblem(w, problemFor(err), err) // logged above, with the fix
		return
	}
	writeJSON(w, http.StatusOK, out)
}
