package handlers

import (
	"net/http"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/user"
)

// userJSON is a user as the kit shows it to that user.
type userJSON struct {
	ID           string `json:"id"`
	Email        string `json:"email"`
	PendingEmail string `json:"pending_email,omitempty"`
	DisplayName  string `json:"display_name,omitempty"`
	Status       string `json:"status"`
	// TenantID is the user's default tenant, where logins land.
	TenantID string `json:"tenant_id,omitempty"`
}

func newUserJSON(u *user.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, PendingEmail: u.PendingEmail, DisplayName: u.DisplayName,
		Status: string(u.Status), TenantID: u.DefaultTenantID}
}

// handleRegister creates an account. Only the email, password and display
// name come from the client; where the user belongs is the RegisterFunc's
// decision.
func (k *kit) handleRegister(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email       string `json:"email"`
		Password    string `json:"password"`
		DisplayName string `json:"display_name"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	u, err := k.register(r.Context(), authv2.RegisterInput{Email: in.Email, Password: in.Password, DisplayName: in.DisplayName})
	if err != nil {
		k.fail(w, r, err)
		return
	}
	if u == nil {
		// Enumeration-safe registration: the same answer for a taken
		// address, whose owner is told by e-mail instead.
		w.WriteHeader(http.StatusAccepted)
		return
	}
	writeJSON(w, http.StatusCreated, newUserJSON(u))
}

// handleLogin checks a password and opens a session (see issue for how
// the token is delivered).
func (k *kit) handleLogin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		TenantID string `json:"tenant_id"`
		// Device labels the session in the session list ("laptop").
		Device string `json:"device"`
		// DeviceToken is a bearer client's device token from an earlier
		// login; browsers send the device cookie instead.
		DeviceToken string `json:"device_token"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	client, _ := authv2.ClientFrom(r.Context())
	client.DeviceLabel = truncate(in.Device, 64)
	// A known device is exempt from the lock that other clients' failures
	// put on the account.
	res, err := k.m.Login(r.Context(), authv2.LoginInput{Email: in.Email, Password: in.Password, TenantID: in.TenantID,
		Client: client, DeviceToken: k.deviceToken(r, in.DeviceToken)})
	if err != nil {
		k.fail(w, r, err)
		return
	}
	if res.MFA != nil {
		k.answerMFARequired(w, r, res)
		return
	}
	k.issue(w, r, res)
}

// truncate keeps labels a client chooses to a displayable length.
func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// handleLogout ends the session the request authenticated with. Signing
// out of an impersonation leaves the session cookie alone: the client
// returns to the actor's own session, which a browser keeps there while
// it sends the impersonation token as a bearer.
func (k *kit) handleLogout(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	tok, _ := authv2.TokenFrom(r.Context())
	if err := k.m.Logout(r.Context(), tok); err != nil {
		k.fail(w, r, err)
		return
	}
	if !p.IsImpersonation() {
		k.m.ClearSessionCookie(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleMe answers who the caller is, in which tenant, with which roles.
func (k *kit) handleMe(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	u, err := k.m.User(r.Context(), p.UserID)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	roles, err := k.m.Roles(r.Context(), p)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	if roles == nil {
		roles = []string{} // [] rather than null: one shape for clients
	}
	out := struct {
		userJSON
		TenantID  string   `json:"tenant_id,omitempty"` // the session's, which hides the default's
		Scope     string   `json:"scope,omitempty"`
		SessionID string   `json:"session_id"`
		Roles     []string `json:"roles"`
		// ImpersonatorUserID is the real actor of an impersonation session.
		ImpersonatorUserID string `json:"impersonator_user_id,omitempty"`
	}{newUserJSON(u), p.TenantID, p.Scope, p.SessionID, roles, ""}
	if p.Impersonator != nil {
		out.ImpersonatorUserID = p.Impersonator.UserID
	}
	writeJSON(w, http.StatusOK, out)
}

// handleSwitchTenant moves the session to another tenant the user is a
// member of; the Manager checks the membership.
func (k *kit) handleSwitchTenant(w http.ResponseWriter, r *http.Request, _ *authv2.Principal) {
	var in struct {
		TenantID string `json:"tenant_id"`
		Scope    string `json:"scope"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	tok, _ := authv2.TokenFrom(r.Context())
	res, err := k.m.SwitchTenant(r.Context(), tok, in.TenantID, in.Scope)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	k.issue(w, r, res)
}
