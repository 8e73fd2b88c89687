package handlers

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/mfa"
)

// mfaRoutes adds the MFA routes (served only with authv2.WithMFA; without
// it they answer 500 like any configuration error).
func (k *kit) mfaRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /login/mfa", k.handleCompleteLogin)
	mux.HandleFunc("POST /login/mfa/webauthn", k.handleLoginWebAuthn)
	mux.HandleFunc("POST /login/mfa/enroll-totp", k.handleEnrollForLogin)
	mux.HandleFunc("POST /login/passkey", k.handleBeginPasskey)
	mux.HandleFunc("POST /login/passkey/complete", k.handlePasskeyLogin)
	mux.Handle("GET /mfa", k.signedIn(k.handleMFAStatus))
	mux.Handle("POST /mfa/totp", k.authed(k.handleEnrollTOTP))
	mux.Handle("POST /mfa/totp/confirm", k.authed(k.handleConfirmTOTP))
	mux.Handle("DELETE /mfa/totp", k.authed(k.handleRemoveTOTP))
	mux.Handle("POST /mfa/recovery-codes", k.authed(k.handleRecoveryCodes))
	mux.Handle("POST /mfa/webauthn", k.authed(k.handleBeginRegistration))
	mux.Handle("POST /mfa/webauthn/complete", k.authed(k.handleFinishRegistration))
	mux.Handle("PATCH /mfa/webauthn/{id}", k.authed(k.handleRenameWebAuthn))
	mux.Handle("DELETE /mfa/webauthn/{id}", k.authed(k.handleRemoveWebAuthn))
	mux.Handle("POST /step-up", k.authed(k.handleStepUp))
	mux.Handle("POST /step-up/webauthn", k.authed(k.handleStepUpWebAuthn))
}

// mfaRequiredJSON answers a right password of a user with a second
// factor: no session, a pending token to finish the login with at
// /login/mfa. The pending token is short-lived and single use, and opens
// no route but those.
type mfaRequiredJSON struct {
	MFARequired  bool         `json:"mfa_required"`
	PendingToken string       `json:"pending_token"`
	ExpiresAt    time.Time    `json:"expires_at"`
	Factors      []mfa.Factor `json:"factors"`
	Enroll       bool         `json:"enroll,omitempty"`
}

// answerMFARequired hands over no device token: the device is trusted
// when the login completes (issue).
func (k *kit) answerMFARequired(w http.ResponseWriter, r *http.Request, res *authv2.LoginResult) {
	writeJSON(w, http.StatusOK, mfaRequiredJSON{MFARequired: true, PendingToken: res.MFA.Token, ExpiresAt: res.MFA.ExpiresAt, Factors: res.MFA.Factors, Enroll: res.MFA.Enroll})
}

// secondFactorJSON is a second factor in a request: a TOTP or recovery
// code, or a WebAuthn assertion (the browser's PublicKeyCredential as
// JSON) for the challenge a /…/webauthn route began.
type secondFactorJSON struct {
	Factor      mfa.Factor      `json:"factor"`
	Code        string          `json:"code"`
	ChallengeID string          `json:"challenge_id"`
	Response    json.RawMessage `json:"response"`
}

func (f secondFactorJSON) factor() authv2.SecondFactor {
	return authv2.SecondFactor{Factor: f.Factor, Code: f.Code, ChallengeID: f.ChallengeID, Response: f.Response}
}

// ceremonyJSON hands WebAuthn options to the browser.
type ceremonyJSON struct {
	Options     json.RawMessage `json:"options"`
	ChallengeID string          `json:"challenge_id"`
}

// handleCompleteLogin finishes a pending login with a second factor and
// opens the session (see issue).
func (k *kit) handleCompleteLogin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		PendingToken string `json:"pending_token"`
		secondFactorJSON
		DeviceToken string `json:"device_token"` // as in /login
	}
	if !k.decode(w, r, &in) {
		return
	}
	client, _ := authv2.ClientFrom(r.Context())
	res, err := k.m.CompleteLogin(r.Context(), authv2.CompleteLoginInput{PendingToken: in.PendingToken, SecondFactor: in.factor(), Client: client,
		DeviceToken: k.deviceToken(r, in.DeviceToken)})
	if err != nil {
		k.fail(w, r, err)
		return
	}
	k.issue(w, r, res)
}

type pendingJSON struct {
	PendingToken string `json:"pending_token"`
}

func (k *kit) handleLoginWebAuthn(w http.ResponseWriter, r *http.Request) {
	var in pendingJSON
	if !k.decode(w, r, &in) {
		return
	}
	options, id, err := k.m.BeginLoginWebAuthn(r.Context(), in.PendingToken)
	k.answerCeremony(w, r, options, id, err)
}

func (k *kit) answerCeremony(w http.ResponseWriter, r *http.Request, options json.RawMessage, id string, err error) {
	if err != nil {
		k.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ceremonyJSON{Options: options, ChallengeID: id})
}

// totpEnrollmentJSON is shown once: the secret, its otpauth:// URI and
// that URI as a QR code (PNG, base64).
type totpEnrollmentJSON struct {
	Secret string `json:"secret"`
	URI    string `json:"uri"`
	QRCode string `json:"qr_png"`
}

func (k *kit) answerEnrollment(w http.ResponseWriter, r *http.Request, e *mfa.TOTPEnrollment, err error) {
	if err != nil {
		k.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, totpEnrollmentJSON{Secret: e.Secret, URI: e.URI, QRCode: base64.StdEncoding.EncodeToString(e.QRCodePNG)})
}

func (k *kit) handleEnrollForLogin(w http.ResponseWriter, r *http.Request) {
	var in pendingJSON
	if !k.decode(w, r, &in) {
		return
	}
	e, err := k.m.EnrollTOTPForLogin(r.Context(), in.PendingToken)
	k.answerEnrollment(w, r, e, err)
}

// mfaStatusJSON is what the caller has enrolled.
type mfaStatusJSON struct {
	TOTP          bool           `json:"totp"`
	TOTPPending   bool           `json:"totp_pending,omitempty"`
	WebAuthn      []webAuthnJSON `json:"webauthn"`
	RecoveryCodes int            `json:"recovery_codes"`
}

type webAuthnJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

func newWebAuthnJSON(c *mfa.WebAuthnCredential) webAuthnJSON {
	out := webAuthnJSON{ID: base64.RawURLEncoding.EncodeToString(c.ID), Name: c.Name, CreatedAt: c.CreatedAt}
	if !c.LastUsedAt.IsZero() {
		out.LastUsedAt = &c.LastUsedAt
	}
	return out
}

func (k *kit) handleMFAStatus(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	st, err := k.m.MFAStatus(r.Context(), p.UserID)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	out := mfaStatusJSON{TOTP: st.TOTP, TOTPPending: st.TOTPPending, RecoveryCodes: st.RecoveryCodes, WebAuthn: make([]webAuthnJSON, 0, len(st.WebAuthn))}
	for _, c := range st.WebAuthn {
		out.WebAuthn = append(out.WebAuthn, newWebAuthnJSON(c))
	}
	writeJSON(w, http.StatusOK, out)
}

func (k *kit) handleEnrollTOTP(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	e, err := k.m.EnrollTOTP(r.Context(), p)
	k.answerEnrollment(w, r, e, err)
}

func (k *kit) handleConfirmTOTP(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	var in struct {
		Code string `json:"code"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	k.noContent(w, r, k.m.ConfirmTOTP(r.Context(), p, in.Code))
}

func (k *kit) handleRemoveTOTP(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	k.noContent(w, r, k.m.RemoveTOTP(r.Context(), p))
}

func (k *kit) handleRecoveryCodes(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	codes, err := k.m.GenerateRecoveryCodes(r.Context(), p)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Codes []string `json:"codes"`
	}{codes})
}

func (k *kit) handleBeginRegistration(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	options, id, err := k.m.BeginWebAuthnRegistration(r.Context(), p)
	k.answerCeremony(w, r, options, id, err)
}

func (k *kit) handleFinishRegistration(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	var in struct {
		ChallengeID string          `json:"challenge_id"`
		Response    json.RawMessage `json:"response"`
		Name        string          `json:"name"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	c, err := k.m.FinishWebAuthnRegistration(r.Context(), p, in.ChallengeID, in.Response, truncate(in.Name, 64))
	if err != nil {
		k.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, newWebAuthnJSON(c))
}

func (k *kit) handleRenameWebAuthn(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	var in struct {
		Name string `json:"name"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	k.noContent(w, r, k.m.RenameWebAuthn(r.Context(), p, r.PathValue("id"), truncate(in.Name, 64)))
}

func (k *kit) handleRemoveWebAuthn(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	k.noContent(w, r, k.m.RemoveWebAuthn(r.Context(), p, r.PathValue("id")))
}

// handleStepUp proves a second factor on the caller's session, which is
// replaced (see issue): the answer to a 403 step-up-required.
func (k *kit) handleStepUp(w http.ResponseWriter, r *http.Request, _ *authv2.Principal) {
	var in secondFactorJSON
	if !k.decode(w, r, &in) {
		return
	}
	tok, _ := authv2.TokenFrom(r.Context())
	res, err := k.m.StepUp(r.Context(), tok, in.factor())
	if err != nil {
		k.fail(w, r, err)
		return
	}
	k.issue(w, r, res)
}

func (k *kit) handleStepUpWebAuthn(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	options, id, err := k.m.BeginStepUpWebAuthn(r.Context(), p)
	k.answerCeremony(w, r, options, id, err)
}

// handleBeginPasskey starts a passwordless login with a passkey.
func (k *kit) handleBeginPasskey(w http.ResponseWriter, r *http.Request) {
	options, id, err := k.m.BeginPasskeyLogin(r.Context())
	k.answerCeremony(w, r, options, id, err)
}

// handlePasskeyLogin opens a session (AAL2) from a passkey assertion.
func (k *kit) handlePasskeyLogin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ChallengeID string          `json:"challenge_id"`
		Response    json.RawMessage `json:"response"`
		TenantID    string          `json:"tenant_id"`
		Device      string          `json:"device"`
		DeviceToken string          `json:"device_token"` // as in /login
	}
	if !k.decode(w, r, &in) {
		return
	}
	client, _ := authv2.ClientFrom(r.Context())
	client.DeviceLabel = truncate(in.Device, 64)
	res, err := k.m.PasskeyLogin(r.Context(), authv2.PasskeyLoginInput{ChallengeID: in.ChallengeID, Response: in.Response,
		TenantID: in.TenantID, Client: client, DeviceToken: k.deviceToken(r, in.DeviceToken)})
	if err != nil {
		k.fail(w, r, err)
		return
	}
	k.issue(w, r, res)
}
