package mfa

import "errors"

// Errors of the factor operations, for errors.Is. Store failures pass
// through as package store's errors (store.ErrUnavailable ...).
var (
	// ErrInvalidCode: a TOTP or recovery code that does not match.
	ErrInvalidCode = errors.New("authv2/mfa: invalid code")
	// ErrCodeReused: a TOTP code of a time step already accepted (or
	// older than one accepted): a replay.
	ErrCodeReused = errors.New("authv2/mfa: code already used")
	// ErrNotEnrolled: the user has no (confirmed) credential of this factor.
	ErrNotEnrolled = errors.New("authv2/mfa: factor not enrolled")
	// ErrAlreadyEnrolled: the user has a confirmed TOTP credential; delete
	// it before enrolling again.
	ErrAlreadyEnrolled = errors.New("authv2/mfa: factor already enrolled")
	// ErrInvalidConfig: a configuration value is out of range.
	ErrInvalidConfig = errors.New("authv2/mfa: invalid configuration")
)

// Errors of the WebAuthn ceremonies (package mfa/webauthn re-exports
// them), here so that code holding only a WebAuthn can tell them apart.
var (
	// ErrChallengeNotFound: the ceremony's challenge is unknown, expired,
	// already used (a replayed response) or of another ceremony or user.
	ErrChallengeNotFound = errors.New("authv2/mfa/webauthn challenge not found")
	// ErrCeremonyRejected: the authenticator's response failed
	// verification (signature, challenge, origin, relying party ID,
	// malformed data).
	ErrCeremonyRejected = errors.New("authv2/mfa/webauthn response rejected")
	// ErrUserNotVerified: the ceremony needed user verification (PIN or
	// biometrics) and the authenticator did not perform it.
	ErrUserNotVerified = errors.New("authv2/mfa/webauthn user not verified")
	// ErrSignCountRegression: the authenticator's signature counter did not
	// grow: a cloned authenticator, or an assertion accepted elsewhere.
	ErrSignCountRegression = errors.New("authv2/mfa/webauthn sign count did not increase")
	// ErrUnknownCredential: the response names a credential that is not
	// registered (or not the user's).
	ErrUnknownCredential = errors.New("authv2/mfa/webauthn credential unknown")
	// ErrCredentialExists: the credential is already registered.
	ErrCredentialExists = errors.New("authv2/mfa/webauthn credential already registered")
)
