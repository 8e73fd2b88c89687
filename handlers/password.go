package handlers

import (
	"errors"
	"net/http"

	"github.com/authv2/authv2"
)

// handleReauthenticate proves the password again, for the routes that
// need a fresh authentication (/password, /email): the session is
// replaced by one authenticated now.
func (k *kit) handleReauthenticate(w http.ResponseWriter, r *http.Request, _ *authv2.Principal) {
	var in struct {
		Password string `json:"password"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	tok, _ := authv2.TokenFrom(r.Context())
	res, err := k.m.Reauthenticate(r.Context(), tok, in.Password)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	k.issue(w, r, res)
}

// handleChangePassword sets a new password. The Manager wants the current
// one and a fresh authentication (403 reauthentication-required: call
// /reauthenticate), ends the user's other sessions and replaces this one.
func (k *kit) handleChangePassword(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	var in struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	res, err := k.m.ChangePassword(r.Context(), p, in.CurrentPassword, in.NewPassword)
	if err != nil {
		k.fail(w, r, renameField(err, "Password", "NewPassword"))
		return
	}
	k.issue(w, r, res)
}

// handleResetRequest sends a reset token to the address's owner, if there
// is one. The answer is 202 either way, as the Manager's work is the
// same either way: the route tells nobody which addresses are registered.
func (k *kit) handleResetRequest(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email string `json:"email"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	if err := k.m.RequestPasswordReset(r.Context(), in.Email); err != nil {
		k.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// handleResetComplete sets a new password with a reset token. It ends
// every session of the user and logs nobody in: the client logs in next.
func (k *kit) handleResetComplete(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	if err := k.m.ResetPassword(r.Context(), in.Token, in.Password); err != nil {
		k.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// renameField renames a field of a *authv2.ValidationError to the name the
// route's JSON uses, so that problem details point at the client's field
// ("new_password", not "password"). Other errors pass unchanged.
func renameField(err error, from, to string) error {
	var ve *authv2.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	out := &authv2.ValidationError{Fields: make([]authv2.FieldError, len(ve.Fields)), Err: ve.Err}
	for i, f := range ve.Fields {
		if f.Field == from {
			f.Field = to
		}
		out.Fields[i] = f
	}
	return out
}
