package audit

// Event types of multi-factor authentication. Attributes carry AttrFactor
// (mfa.Factor: "totp", "recovery_code", "webauthn") and, for WebAuthn,
// AttrCredential (the credential ID, base64url).
const (
	// TypeMFAEnrollStarted: a TOTP enrollment or WebAuthn registration
	// began (nothing usable yet).
	TypeMFAEnrollStarted Type = "mfa.enroll_started"
	// TypeMFAEnrolled: a factor became usable (TOTP confirmed with a code,
	// WebAuthn credential registered); Failure when the code or response
	// was refused.
	TypeMFAEnrolled Type = "mfa.enrolled"
	// TypeMFAVerify: a second factor was checked at login or step-up.
	TypeMFAVerify Type = "mfa.verify"
	// TypeMFARecoveryCodes: a new set of recovery codes voided the old one.
	TypeMFARecoveryCodes Type = "mfa.recovery_codes_generated"
	// TypeMFARecoveryUsed: a recovery code was spent.
	TypeMFARecoveryUsed Type = "mfa.recovery_code_used"
	// TypeMFARenamed: a WebAuthn credential was renamed.
	TypeMFARenamed Type = "mfa.renamed"
	// TypeMFARemoved: the user removed a factor.
	TypeMFARemoved Type = "mfa.removed"
	// TypeMFADisabled: an administrator removed every factor of a user
	// (the actor is the administrator, the target the user).
	TypeMFADisabled Type = "mfa.disabled"
	// TypeMFASignCount: a WebAuthn assertion's sign count did not grow (a
	// cloned authenticator); the assertion was refused.
	TypeMFASignCount Type = "mfa.sign_count_anomaly"
	// TypeLoginMFARequired: the password was right and the login waits
	// for a second factor (or an enrollment) under a pending token.
	TypeLoginMFARequired Type = "login.mfa_required"
	// TypeStepUp: a live session proved a second factor and was rotated.
	TypeStepUp Type = "session.step_up"
)

// Attribute keys of the MFA events.
const (
	AttrFactor     = "factor"
	AttrCredential = "credential"
)

// Reasons of MFA failures.
const (
	ReasonMFAInvalid   = "mfa_invalid"   // a wrong or reused code, a refused assertion
	ReasonMFAThrottled = "mfa_throttled" // the user's second-factor budget is spent
)
