package authv2

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

// Sentinel errors. A Manager method, and the net/http integration,
// returns one of these, a typed error below (or *InsecureCookieError), a
// context error, or an error wrapping one of them; only a misused argument
// (SetSessionCookie without a token) gets a plain error. Test with
// errors.Is and errors.As, never by comparing messages. Every sentinel has
// a row in errorTable, which says what a client, a span and the middleware
// make of it.
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
	// ErrNoAuditStore: an audit query needs WithAuditStore.
	ErrNoAuditStore = errors.New("authv2: no audit store configured")
	// ErrInsecureCookie matches any *InsecureCookieError.
	ErrInsecureCookie = errors.New("authv2: refusing to set a Secure session cookie over plain HTTP")
	// ErrForbidden: Require's authorization check denied the request.
	ErrForbidden = errors.New("authv2: forbidden")
	// ErrAPIKeyRevoked: the API key was revoked (by hand, or because its
	// owner was disabled, deleted or changed a credential).
	ErrAPIKeyRevoked = errors.New("authv2: API key revoked")
	// ErrAPIKeyExpired: the API key passed its expiry.
	ErrAPIKeyExpired = errors.New("authv2: API key expired")
	// ErrSessionRequired: the operation needs a signed-in session (a
	// password change, creating an API key); an API key cannot do it.
	ErrSessionRequired = errors.New("authv2: a session is required, not an API key")
	// ErrCrossOrigin: a cookie-authenticated (or anonymous) unsafe request
	// came from another origin and was refused (CSRF protection).
	ErrCrossOrigin = errors.New("authv2: cross-origin request refused")
	// ErrExceedsOwnRights: an invitation or a role change would hand out
	// (or take away) a grant the acting principal does not hold at that
	// scope.
	ErrExceedsOwnRights = errors.New("authv2: cannot hand out rights the actor does not hold")
	// ErrLastOwner: the change would leave a tenant that has owners with
	// none (permission.OwnerRole); transfer ownership first.
	ErrLastOwner = permission.ErrLastOwner
	// ErrInvitationMismatch: the invitation is for another email address
	// than the signed-in account's.
	ErrInvitationMismatch = errors.New("authv2: the invitation is for another email address")
	// ErrStepUpRequired matches any *StepUpError: the session's
	// authentication is too weak or too old for the action.
	ErrStepUpRequired = errors.New("authv2: step-up authentication required")
	// ErrInvalidSecondFactor: a TOTP or recovery code was wrong or already
	// used, or a WebAuthn assertion was refused, at login or step-up.
	ErrInvalidSecondFactor = errors.New("authv2: invalid second factor")
	// ErrMFANotEnrolled: the user has no such factor (or it is still
	// pending confirmation).
	ErrMFANotEnrolled = mfa.ErrNotEnrolled
	// ErrMFAAlreadyEnrolled: the user already has a confirmed TOTP
	// credential (or that WebAuthn credential).
	ErrMFAAlreadyEnrolled = mfa.ErrAlreadyEnrolled
	// ErrInvalidDomain: the text is not a domain name a tenant can claim
	// (it comes inside a *ValidationError on Domain).
	ErrInvalidDomain = errors.New("authv2: not a valid domain name")
	// ErrPublicDomain: the domain is a public email domain, or under one
	// (Config.DomainCapture.RefusedDomains), which no tenant may claim
	// (inside a *ValidationError on Domain).
	ErrPublicDomain = errors.New("authv2: public email domains cannot be claimed")
	// ErrDomainNotVerified: the domain's DNS does not hold the claim's TXT
	// record (or could not be read): publish it, then verify again.
	ErrDomainNotVerified = errors.New("authv2: domain verification record not found")
	// ErrDomainClaimed: another tenant has verified the domain; it must
	// remove its claim first.
	ErrDomainClaimed = errors.New("authv2: domain verified by another tenant")
	// ErrImpersonation: the operation is refused to an impersonation
	// session (a credential, factor, session, key or account change, or
	// another impersonation): only the user themselves may do it.
	ErrImpersonation = errors.New("authv2: not allowed while impersonating")
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

// origin says which internal layer may return an error that callers then
// see as it is; everything else from that layer is translated.
type origin uint8

const (
	fromFlow   origin = iota // the root package's own errors
	fromStore                // kept by translate
	fromEngine               // kept by authzError (then translate's are too)
)

// errorRow is what one error means to each audience: the problem a client
// sees (problemType+code, status, title), the span's outcome attribute,
// whether the middleware treats it as a dead token, and whether it passes
// through from a store or the engine.
type errorRow struct {
	err     error // matched with errors.Is
	code    string
	status  int
	title   string
	outcome string
	dead    bool // the token is no good, as opposed to the check being impossible (which fails closed)
	from    origin
}

// errorTable is the one mapping of errors; the first row an error matches
// wins, so a more specific error comes before one it might wrap. An error
// no row matches is internalError. Unauthenticated, expired, revoked and
// mismatched tokens get one problem: which one it was is for the audit
// trail, not the client.
var errorTable = []errorRow{
	{ErrUnauthenticated, "unauthenticated", http.StatusUnauthorized, "Authentication required", "unauthenticated", true, fromFlow},
	{ErrSessionExpired, "unauthenticated", http.StatusUnauthorized, "Authentication required", "session_expired", true, fromFlow},
	{ErrSessionRevoked, "unauthenticated", http.StatusUnauthorized, "Authentication required", "session_revoked", true, fromFlow},
	{ErrClientMismatch, "unauthenticated", http.StatusUnauthorized, "Authentication required", "client_mismatch", true, fromFlow},
	{ErrAPIKeyRevoked, "unauthenticated", http.StatusUnauthorized, "Authentication required", "api_key_revoked", true, fromFlow},
	{ErrAPIKeyExpired, "unauthenticated", http.StatusUnauthorized, "Authentication required", "api_key_expired", true, fromFlow},
	{ErrInvalidCredentials, "invalid-credentials", http.StatusUnauthorized, "Invalid email or password", "invalid_credentials", false, fromFlow},
	{ErrInvalidToken, "invalid-token", http.StatusBadRequest, "Invalid or expired token", "invalid_token", false, fromFlow},
	{ErrForbidden, "forbidden", http.StatusForbidden, "Forbidden", "error", false, fromFlow},
	{ErrCrossOrigin, "cross-origin", http.StatusForbidden, "Cross-origin request refused", "error", false, fromFlow},
	{ErrNotMember, "not-member", http.StatusForbidden, "Not a member of this tenant", "not_member", false, fromFlow},
	{ErrImpersonation, "impersonation", http.StatusForbidden, "Not allowed while impersonating", "impersonation", false, fromFlow},
	{ErrSessionRequired, "session-required", http.StatusForbidden, "A signed-in session is required", "session_required", false, fromFlow},
	{ErrStepUpRequired, "step-up-required", http.StatusForbidden, "Stronger authentication required", "step_up_required", false, fromFlow},
	{ErrInvalidSecondFactor, "invalid-second-factor", http.StatusUnauthorized, "Invalid second factor", "invalid_second_factor", false, fromFlow},
	{ErrMFANotEnrolled, "mfa-not-enrolled", http.StatusConflict, "Factor not enrolled", "mfa_not_enrolled", false, fromFlow},
	{ErrMFAAlreadyEnrolled, "mfa-already-enrolled", http.StatusConflict, "Factor already enrolled", "mfa_already_enrolled", false, fromFlow},
	{ErrReauthRequired, "reauthentication-required", http.StatusForbidden, "Re-authentication required", "reauth_required", false, fromFlow},
	{ErrExceedsOwnRights, "exceeds-own-rights", http.StatusForbidden, "Cannot hand out rights you do not hold", "exceeds_own_rights", false, fromFlow},
	{ErrInvitationMismatch, "invitation-mismatch", http.StatusForbidden, "Invitation is for another email address", "invitation_mismatch", false, fromFlow},
	{ErrEmailNotVerified, "email-not-verified", http.StatusForbidden, "Email address not verified", "email_not_verified", false, fromFlow},
	{ErrThrottled, "throttled", http.StatusTooManyRequests, "Too many attempts", "throttled", false, fromFlow},
	// Before the engine's rows: a *ValidationError may wrap one of them.
	{ErrValidation, "validation", http.StatusBadRequest, "Invalid input", "invalid_input", false, fromFlow},
	// Domain capture. The first two come inside a *ValidationError (the
	// row above answers for it); their rows say the same of them alone.
	{ErrInvalidDomain, "validation", http.StatusBadRequest, "Invalid input", "invalid_input", false, fromFlow},
	{ErrPublicDomain, "validation", http.StatusBadRequest, "Invalid input", "invalid_input", false, fromFlow},
	{ErrDomainNotVerified, "domain-not-verified", http.StatusBadRequest, "Domain verification record not found", "domain_not_verified", false, fromFlow},
	{ErrDomainClaimed, "domain-claimed", http.StatusConflict, "Domain verified by another tenant", "domain_claimed", false, fromFlow},
	{ErrUserExists, "conflict", http.StatusConflict, "Conflict", "user_exists", false, fromFlow},
	{ErrLastOwner, "last-owner", http.StatusConflict, "A tenant keeps at least one owner", "last_owner", false, fromStore},
	{ErrConflict, "conflict", http.StatusConflict, "Conflict", "error", false, fromStore},
	{ErrSessionLimit, "session-limit", http.StatusConflict, "Too many active sessions", "session_limit", false, fromFlow},
	// A scope built from client input (a path segment) that is not one.
	{permission.ErrInvalidScope, "invalid-scope", http.StatusBadRequest, "Invalid resource scope", "error", false, fromEngine},
	// An audit query the store refuses (a bad window or cursor): the
	// caller's input, kept by translate like the store sentinels.
	{audit.ErrInvalidQuery, "invalid-query", http.StatusBadRequest, "Invalid audit query", "invalid_input", false, fromStore},
	{ErrNotFound, "not-found", http.StatusNotFound, "Not found", "not_found", false, fromStore},
	{ErrStoreUnavailable, "unavailable", http.StatusServiceUnavailable, "Service temporarily unavailable", "error", false, fromStore},
	{context.DeadlineExceeded, "unavailable", http.StatusServiceUnavailable, "Service temporarily unavailable", "error", false, fromStore},
	{permission.ErrClosed, "unavailable", http.StatusServiceUnavailable, "Service temporarily unavailable", "error", false, fromEngine},
	// The client went away; nobody reads the answer, but the status is logged.
	{context.Canceled, "canceled", 499, "Client closed request", "error", false, fromStore},
	// The application's own mistakes (a bad request to the engine, a role
	// cycle, a missing option) are a 500: the client cannot fix them.
	{permission.ErrInvalidRequest, "internal", http.StatusInternalServerError, "Internal server error", "error", false, fromEngine},
	{permission.ErrInvalidPermission, "internal", http.StatusInternalServerError, "Internal server error", "error", false, fromEngine},
	{permission.ErrCycle, "internal", http.StatusInternalServerError, "Internal server error", "error", false, fromStore},
	{store.ErrLimit, "internal", http.StatusInternalServerError, "Internal server error", "error", false, fromStore},
	{ErrInvalidConfig, "internal", http.StatusInternalServerError, "Internal server error", "error", false, fromFlow},
	{ErrNoAuditStore, "internal", http.StatusInternalServerError, "Internal server error", "error", false, fromFlow},
	{ErrInsecureCookie, "internal", http.StatusInternalServerError, "Internal server error", "error", false, fromFlow},
}

// errAccountChanged (unexported: Login turns it into ErrInvalidCredentials)
// refuses a save whose security stamp is no longer the
// user's: an account change happened since the record was read.
var errAccountChanged = errors.New("authv2: account changed concurrently")

// internalError is the row of every error the table does not know: a bare
// 500 whose text is never shown.
var internalError = errorRow{nil, "internal", http.StatusInternalServerError, "Internal server error", "error", false, fromFlow}

// rowFor returns the first row err matches, or internalError.
func rowFor(err error) *errorRow {
	for i := range errorTable {
		if errors.Is(err, errorTable[i].err) {
			return &errorTable[i]
		}
	}
	return &internalError
}

// deadToken reports whether err says the token is no good (as opposed
// to the check being impossible, which must fail closed).
func deadToken(err error) bool { return rowFor(err).dead }

// outcomeName names the errors flows return, for span attributes. These
// are expected outcomes, not span errors.
func outcomeName(err error) string { return rowFor(err).outcome }

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
	case rowFor(err).from == fromStore:
		return err
	default:
		return store.Unavailable(op, err)
	}
}

// authzError keeps the engine's typed input errors and translates store
// failures.
func authzError(err error) error {
	if err != nil && rowFor(err).from == fromEngine {
		return err
	}
	return translate("authorize", err)
}
