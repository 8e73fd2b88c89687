package authv2

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/authv2/authv2/permission"
)

// Errors of the net/http integration.
var (
	// ErrForbidden: Require's authorization check denied the request.
	ErrForbidden = errors.New("authv2: forbidden")
	// ErrCrossOrigin: a cookie-authenticated (or anonymous) unsafe request
	// came from another origin and was refused (CSRF protection).
	ErrCrossOrigin = errors.New("authv2: cross-origin request refused")
)

// ErrorHandler writes the response for a request the middleware refuses.
// err is one of the package's errors (ErrUnauthenticated, ErrForbidden,
// ErrCrossOrigin, ErrStoreUnavailable, ...); test it with errors.Is.
type ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

// Problem is an RFC 9457 problem detail. Only what is safe to show to any
// client goes in it: never a store's or driver's message.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Errors lists rejected input fields (validation problems only).
	Errors []FieldError `json:"errors,omitempty"`
}

// problemType prefixes every Problem.Type this package writes.
const problemType = "urn:authv2:problem:"

// ProblemFor maps an error to the problem a client may see. Anything it
// does not recognise is a bare 500: the error's text is never copied into
// the response.
func ProblemFor(err error) Problem {
	p := func(code string, status int, title string) Problem {
		return Problem{Type: problemType + code, Title: title, Status: status}
	}
	var ve *ValidationError
	switch {
	case errors.Is(err, ErrUnauthenticated), errors.Is(err, ErrSessionExpired),
		errors.Is(err, ErrSessionRevoked), errors.Is(err, ErrClientMismatch):
		// One answer for every dead token: which one it was is for the audit trail.
		return p("unauthenticated", http.StatusUnauthorized, "Authentication required")
	case errors.Is(err, ErrInvalidCredentials):
		return p("invalid-credentials", http.StatusUnauthorized, "Invalid email or password")
	case errors.Is(err, ErrInvalidToken):
		// An unknown, used or expired reset or verification token.
		return p("invalid-token", http.StatusBadRequest, "Invalid or expired token")
	case errors.Is(err, ErrForbidden):
		return p("forbidden", http.StatusForbidden, "Forbidden")
	case errors.Is(err, ErrCrossOrigin):
		return p("cross-origin", http.StatusForbidden, "Cross-origin request refused")
	case errors.Is(err, ErrNotMember):
		return p("not-member", http.StatusForbidden, "Not a member of this tenant")
	case errors.Is(err, ErrReauthRequired):
		return p("reauthentication-required", http.StatusForbidden, "Re-authentication required")
	case errors.Is(err, ErrEmailNotVerified):
		return p("email-not-verified", http.StatusForbidden, "Email address not verified")
	case errors.Is(err, ErrThrottled):
		return p("throttled", http.StatusTooManyRequests, "Too many attempts")
	case errors.As(err, &ve):
		pr := p("validation", http.StatusBadRequest, "Invalid input")
		// Reasons are written to be shown to users; names are the client's.
		pr.Errors = make([]FieldError, len(ve.Fields))
		for i, f := range ve.Fields {
			pr.Errors[i] = FieldError{Field: jsonName(f.Field), Reason: f.Reason}
		}
		return pr
	case errors.Is(err, ErrUserExists), errors.Is(err, ErrConflict):
		return p("conflict", http.StatusConflict, "Conflict")
	case errors.Is(err, ErrSessionLimit):
		return p("session-limit", http.StatusConflict, "Too many active sessions")
	case errors.Is(err, permission.ErrInvalidScope):
		// A scope built from client input (a path segment) that is not one.
		return p("invalid-scope", http.StatusBadRequest, "Invalid resource scope")
	case errors.Is(err, ErrNotFound):
		return p("not-found", http.StatusNotFound, "Not found")
	case errors.Is(err, ErrStoreUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrClosed),
		errors.Is(err, permission.ErrClosed):
		return p("unavailable", http.StatusServiceUnavailable, "Service temporarily unavailable")
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this, but the status is logged.
		return p("canceled", 499, "Client closed request")
	default:
		return p("internal", http.StatusInternalServerError, "Internal server error")
	}
}

// jsonName spells a Go field path as a JSON client does: snake_case, an
// acronym kept whole ("TenantID" → "tenant_id", "Grants[2].Condition" →
// "grants[2].condition").
func jsonName(goName string) string {
	var b strings.Builder
	r := []rune(goName)
	for i, c := range r {
		if unicode.IsUpper(c) {
			prev, next := rune(0), rune(0)
			if i > 0 {
				prev = r[i-1]
			}
			if i+1 < len(r) {
				next = r[i+1]
			}
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && unicode.IsLower(next)) {
				b.WriteByte('_')
			}
			c = unicode.ToLower(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}

// WriteProblem writes p as application/problem+json. Problems about
// credentials carry a WWW-Authenticate challenge; throttling a Retry-After
// taken from err when it is a *ThrottledError.
func WriteProblem(w http.ResponseWriter, p Problem, err error) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	switch p.Status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="authv2"`)
	case http.StatusTooManyRequests:
		var te *ThrottledError
		if errors.As(err, &te) && te.RetryAfter > 0 {
			h.Set("Retry-After", strconv.Itoa(int(te.RetryAfter.Seconds()+0.999)))
		}
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	}
	status := p.Status
	if status < 100 || status > 599 {
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p) // the status is sent; a broken connection is the client's
}

// DefaultErrorHandler is the middleware's ErrorHandler unless replaced:
// an RFC 9457 problem chosen by ProblemFor.
func DefaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	WriteProblem(w, ProblemFor(err), err)
}
