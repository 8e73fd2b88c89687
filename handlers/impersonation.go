package handlers

import (
	"net/http"
	"time"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/session"
)

// impersonationJSON is an impersonation record.
type impersonationJSON struct {
	ID             string     `json:"id"`
	TenantID       string     `json:"tenant_id"`
	ActorUserID    string     `json:"actor_user_id"`
	ActorSessionID string     `json:"actor_session_id"`
	TargetUserID   string     `json:"target_user_id"`
	Reason         string     `json:"reason"`
	StartedAt      time.Time  `json:"started_at"`
	ExpiresAt      time.Time  `json:"expires_at"`
	EndedAt        *time.Time `json:"ended_at,omitempty"`
	EndReason      string     `json:"end_reason,omitempty"`
}

func newImpersonationJSON(i *session.Impersonation) impersonationJSON {
	return impersonationJSON{ID: i.ID, TenantID: i.TenantID, ActorUserID: i.ActorUserID, ActorSessionID: i.ActorSessionID,
		TargetUserID: i.TargetUserID, Reason: i.Reason, StartedAt: i.StartedAt, ExpiresAt: i.ExpiresAt,
		EndedAt: optTime(i.EndedAt), EndReason: i.EndReason}
}

// startImpersonationRequest is the body of POST /impersonations.
type startImpersonationRequest struct {
	UserID          string `json:"user_id"`
	Reason          string `json:"reason"`
	DurationSeconds int64  `json:"duration_seconds"`
}

// startedImpersonationJSON answers POST /impersonations: Token is the
// impersonation session's, shown this once and always in the body.
type startedImpersonationJSON struct {
	sessionJSON
	Impersonation impersonationJSON `json:"impersonation"`
}

// handleStartImpersonation opens an impersonation session of user_id in
// the caller's tenant. Its token is in the body, never a cookie, even for
// a browser: the cookie holds the caller's own session, which they return
// to when the impersonation ends.
func (k *kit) handleStartImpersonation(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	var in startImpersonationRequest
	if !k.decode(w, r, &in) {
		return
	}
	imp, err := k.m.StartImpersonation(r.Context(), p, authv2.StartImpersonationInput{TargetUserID: in.UserID, Reason: in.Reason,
		Duration: time.Duration(in.DurationSeconds) * time.Second})
	if err != nil {
		k.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, startedImpersonationJSON{
		sessionJSON:   sessionJSON{SessionID: imp.Session.ID, TenantID: imp.Session.TenantID, ExpiresAt: imp.Session.ExpiresAt(), Token: imp.Token},
		Impersonation: newImpersonationJSON(imp.Record)})
}

// handleEndImpersonation ends the impersonation the caller is in; the
// answer's actor_session_id is the session the client goes back to.
func (k *kit) handleEndImpersonation(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	rec, err := k.m.EndImpersonation(r.Context(), p)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newImpersonationJSON(rec))
}

// handleListImpersonations lists the impersonations of the caller's
// account, newest first.
func (k *kit) handleListImpersonations(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	after, limit, ok := k.page(w, r)
	if !ok {
		return
	}
	list, err := k.m.Impersonations(r.Context(), p, after, limit)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	out := make([]impersonationJSON, len(list))
	for i, x := range list {
		out[i] = newImpersonationJSON(x)
	}
	writeJSON(w, http.StatusOK, out)
}
