package audit

// Event types of the account-security flows.
const (
	TypeLockout        Type = "account.lockout"
	TypeUnlock         Type = "account.unlock"
	TypeUserDisabled   Type = "account.disabled"
	TypeUserDeleted    Type = "account.deleted"
	TypeEmailVerified  Type = "email.verified"
	TypeEmailChange    Type = "email.change"
	TypeResetRequested Type = "password.reset_requested"
	TypePasswordReset  Type = "password.reset"
	TypeReauthenticate Type = "session.reauthenticate"
)
