package handlers

import (
	"net/http"
	"time"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/session"
)

// sessionInfoJSON is one of the caller's sessions. Tokens are never
// listed: the store does not have them.
type sessionInfoJSON struct {
	ID         string    `json:"id"`
	TenantID   string    `json:"tenant_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Device     string    `json:"device,omitempty"`
	Current    bool      `json:"current"`
}

// handleListSessions lists the caller's live sessions, newest first.
func (k *kit) handleListSessions(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	list, err := k.m.ListSessions(r.Context(), p.UserID)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	out := make([]sessionInfoJSON, 0, len(list))
	for _, s := range list {
		out = append(out, sessionInfoJSON{ID: s.ID, TenantID: s.TenantID, CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt,
			ExpiresAt: s.ExpiresAt(), IP: s.Client.IP, UserAgent: s.Client.UserAgent, Device: s.Client.DeviceLabel,
			Current: s.ID == p.SessionID})
	}
	writeJSON(w, http.StatusOK, out)
}

// handleRevokeSession ends one of the caller's own sessions. Another
// user's session ID answers 404, exactly like an unknown one, so session
// IDs cannot be probed.
func (k *kit) handleRevokeSession(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	id := r.PathValue("id")
	list, err := k.m.ListSessions(r.Context(), p.UserID)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	owned := false
	for _, s := range list {
		owned = owned || s.ID == id
	}
	if !owned {
		k.fail(w, r, authv2.ErrNotFound)
		return
	}
	if err := k.m.RevokeSession(r.Context(), id, session.ReasonRevoked); err != nil {
		k.fail(w, r, err)
		return
	}
	if id == p.SessionID {
		k.m.ClearSessionCookie(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
}
