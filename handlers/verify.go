package handlers

import (
	"errors"
	"net/http"

	"github.com/authv2/authv2"
)

// handleVerifyRequest (re)sends a verification token: for the caller's
// own account when the request is authenticated (a pending new address
// after /email), else for the user_id that /register answered (a pending
// account cannot log in yet). The answer is 202 for an unknown user_id
// too, so the route is no oracle of user IDs.
func (k *kit) handleVerifyRequest(w http.ResponseWriter, r *http.Request) {
	var in struct {
		UserID string `json:"user_id"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	userID := in.UserID
	if p, ok := authv2.PrincipalFrom(r.Context()); ok {
		userID = p.UserID // one's own account only, whatever the body says
	}
	if userID == "" {
		k.fail(w, r, &authv2.ValidationError{Fields: []authv2.FieldError{{Field: "UserID", Reason: "is required"}}})
		return
	}
	err := k.m.RequestEmailVerification(r.Context(), userID)
	if err != nil && !errors.Is(err, authv2.ErrNotFound) {
		k.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// handleVerifyComplete consumes a verification token: the account becomes
// active, or its pending new address its login. Nobody is logged in.
func (k *kit) handleVerifyComplete(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token string `json:"token"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	if _, err := k.m.VerifyEmail(r.Context(), in.Token); err != nil {
		k.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleChangeEmail changes the caller's address after a fresh
// authentication (403 reauthentication-required: call /reauthenticate).
// With RequireEmailVerification the new address waits for
// /email-verification/complete. The session is replaced.
func (k *kit) handleChangeEmail(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	var in struct {
		Email string `json:"email"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	res, err := k.m.ChangeEmail(r.Context(), p, in.Email)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	k.issue(w, r, res)
}
