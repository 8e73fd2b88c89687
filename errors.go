package authv2

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

// Sentinel errors of the Manager's flows. A Manager method returns one of
// these, a sentinel declared next to its feature (ErrNoAuditStore,
// ErrInsecureCookie; ErrForbidden and ErrCrossOrigin come from the HTTP
// layer), a typed error below, a context error, or an error wrapping one
// of them; only a misused argument (SetSessionCookie without a token) gets
// a plain error. Test with errors.Is and errors.As, never by comparing
// messages.
var (
	// ErrInvalidCredentials: wrong email or password. Deliberately the same
	// for an unknown email, a wrong password, and (by default) a locked or
	// disabled account, so a caller cannot probe which accounts exist.
	ErrInvalidCredentials = errors.New("authv2: invalid credentials")
	// ErrUnauthenticated: no usable token (missing, malformed or unknown).
	ErrUnauthenticated = errors.New("authv2: unauthenticated")
	// ErrSessionExpired: the session passed its idle or absolute timeout.
	ErrSessionExpired = errors.New("authv2: session expired")
	// ErrSessionRevoked: the session was logged out or revoked.
	ErrSessionRevoked = errors.New("authv2: session revoked")
	// ErrClientMismatch: the security policy refused the request because
	// its client (IP, user agent) does not match the session's.
	ErrClientMismatch = errors.New("authv2: client does not match the session")
	// ErrSessionLimit: the user is at the concurrent-session limit and the
	// policy refuses new sessions.
	ErrSessionLimit = errors.New("authv2: session limit reached")
	// ErrUserExists: the email is already registered.
	ErrUserExists = errors.New("authv2: user already exists")
	// ErrUserDisabled: the account is disabled (returned by admin flows;
	// Login reports ErrInvalidCredentials instead).
	ErrUserDisabled = errors.New("authv2: user disabled")
	// ErrUserLocked: the account is locked (admin flows; see ErrUserDisabled).
	ErrUserLocked = errors.New("authv2: user locked")
	// ErrNotFound: the thing asked for does not exist.
	ErrNotFound = store.ErrNotFound
	// ErrConflict: a write collides with an existing record.
	ErrConflict = store.ErrConflict
	// ErrStoreUnavailable: a store could not be reached; the operation
	// failed closed. errors.As to *store.UnavailableError gives the cause.
	ErrStoreUnavailable = store.ErrUnavailable
	// ErrReauthRequired: the operation needs a credential proven within
	// Config.ReauthWindow; call Reauthenticate first.
	ErrReauthRequired = errors.New("authv2: re-authentication required")
	// ErrInvalidToken: a password-reset or verification token is unknown,
	// used or expired.
	ErrInvalidToken = errors.New("authv2: invalid or expired token")
	// ErrEmailNotVerified: the password was right but the account awaits
	// email verification (only with Config.RequireEmailVerification).
	ErrEmailNotVerified = errors.New("authv2: email not verified")
	// ErrNotMember: the user has no membership or binding in that tenant.
	ErrNotMember = errors.New("authv2: not a member of the tenant")
	// ErrInvalidConfig: an option or Config value is out of range.
	ErrInvalidConfig = errors.New("authv2: invalid configuration")
	// ErrClosed: the Manager was closed.
	ErrClosed = errors.New("authv2: manager closed")
)

// FieldError is one rejected input field. Field is the Go name of the
// input field (e.g. "TenantID"); problem details (ProblemFor) spell it as
// a JSON client does ("tenant_id").
type FieldError struct {
	Field  string `json:"field"`  // e.g. "Email"
	Reason string `json:"reason"` // human readable, safe to show to the user
}

// ValidationError lists every rejected input field.
// errors.Is(err, ErrValidation) is true for it.
type ValidationError struct {
	Fields []FieldError
	// Err is the typed cause when one exists, e.g. a
	// *permission.InvalidRoleError holding a *permission.ConditionError
	// with the CEL error and its position; errors.As reaches it.
	Err error
}

// ErrValidation matches any *ValidationError.
var ErrValidation = errors.New("authv2: invalid input")

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Reason
	}
	return "authv2: invalid input: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrValidation) true.
func (e *ValidationError) Is(target error) bool { return target == ErrValidation }

// Unwrap returns the typed cause, if any.
func (e *ValidationError) Unwrap() error { return e.Err }

// Field returns the reason given for field, or "".
func (e *ValidationError) Field(name string) string {
	for _, f := range e.Fields {
		if f.Field == name {
			return f.Reason
		}
	}
	return ""
}

// ConfigError names the configuration field that is out of range.
// errors.Is(err, ErrInvalidConfig) is true for it.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return fmt.Sprintf("authv2: config %s: %s", e.Field, e.Reason) }

// Is makes errors.Is(err, ErrInvalidConfig) true.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// ThrottledError is returned instead of ErrInvalidCredentials when the
// application opts into distinct throttling errors.
type ThrottledError struct {
	RetryAfter time.Duration
}

// ErrThrottled matches any *ThrottledError.
var ErrThrottled = errors.New("authv2: too many attempts")

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("authv2: too many attempts, retry after %s", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// translate maps a store error to what callers see. Store sentinels are
// already the public ones (ErrNotFound, ErrConflict, ErrStoreUnavailable);
// anything else a store returned is wrapped as unavailable, so a custom
// store's raw driver error cannot leak to a caller.
func translate(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrInvalid):
		// Input the edge checks let through but the store refused: still
		// the caller's input, so a 400 and never an outage.
		return &ValidationError{Fields: []FieldError{{Field: "input", Reason: "contains a value the store cannot keep"}}, Err: err}
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict),
		errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrLimit),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, permission.ErrCycle):
		return err
	default:
		return store.Unavailable(op, err)
	}
}
