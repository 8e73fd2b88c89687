package mfa

import (
	"context"
	"encoding/json"
	"time"
)

// The factor interfaces below are what the Manager needs of a factor's
// implementation. *totp.Factor is a TOTP, and webauthn.RelyingParty's
// JSON method returns a WebAuthn; the root package holds only these
// interfaces, so a program that configures no factor links neither
// pquerna/otp nor go-webauthn.

// TOTPEnrollment is what enrolling hands the user, once: the secret, the
// otpauth:// URI carrying it and that URI as a QR code. Only the sealed
// secret is stored.
type TOTPEnrollment struct {
	Credential *TOTPCredential // pending until confirmed
	Secret     string          // base32, for manual entry
	URI        string          // otpauth://totp/...
	QRCodePNG  []byte
}

// TOTP enrolls, confirms and verifies authenticator-app codes
// (implemented by package mfa/totp).
type TOTP interface {
	// Enroll stores a pending credential for the user (replacing a pending
	// one): ErrAlreadyEnrolled when a confirmed one exists.
	Enroll(ctx context.Context, userID, accountName string, now time.Time) (*TOTPEnrollment, error)
	// Confirm completes the pending enrollment with a valid code.
	Confirm(ctx context.Context, userID, code string, now time.Time) (Proof, error)
	// Verify checks a code against the confirmed credential, once.
	Verify(ctx context.Context, userID, code string, now time.Time) (Proof, error)
}

// WebAuthnUser is the account a WebAuthn ceremony is for. ID becomes the
// WebAuthn user handle, so it must be an opaque identifier (1 to 64
// bytes), never an email address.
type WebAuthnUser struct {
	ID          string
	Name        string // e.g. the email address, shown by the authenticator
	DisplayName string
}

// WebAuthnLogin is a verified assertion: whose, with which credential (its
// sign count, flags and last use updated in the store) and the proof to
// record on the session.
type WebAuthnLogin struct {
	UserID     string
	Credential *WebAuthnCredential
	Proof      Proof
}

// WebAuthn runs the WebAuthn ceremonies (implemented by package
// mfa/webauthn). The Begin methods return the options to hand the
// browser's navigator.credentials call, as JSON, and the ID of the
// challenge the matching Finish call takes; the responses are the JSON of
// the browser's PublicKeyCredential.
type WebAuthn interface {
	BeginRegistration(ctx context.Context, u WebAuthnUser, now time.Time) (json.RawMessage, string, error)
	FinishRegistration(ctx context.Context, u WebAuthnUser, challengeID string, response []byte, name string, now time.Time) (*WebAuthnCredential, error)
	BeginLogin(ctx context.Context, u WebAuthnUser, now time.Time) (json.RawMessage, string, error)
	FinishLogin(ctx context.Context, u WebAuthnUser, challengeID string, response []byte, now time.Time) (*WebAuthnLogin, error)
	BeginPasskeyLogin(ctx context.Context, now time.Time) (json.RawMessage, string, error)
	FinishPasskeyLogin(ctx context.Context, challengeID string, response []byte, now time.Time) (*WebAuthnLogin, error)
}
