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
