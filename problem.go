package authv2

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
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
	// StepUp says what a step-up-required problem's action needs, so the
	// client can prompt for it.
	StepUp *StepUpProblem `json:"step_up,omitempty"`
}

// StepUpProblem is the part of a problem that tells the client which
// assurance to reach: level "aal1" or "aal2", proven within max_age
// seconds (0: at any time).
type StepUpProblem struct {
	Level  string `json:"level"`
	MaxAge int64  `json:"max_age"`
	Have   string `json:"have"`
}

// problemType prefixes every Problem.Type this package writes.
const problemType = "urn:authv2:problem:"

// ProblemFor maps an error to the problem a client may see. Anything it
// does not recognise is a bare 500: the error's text is never copied into
// the response.
func ProblemFor(err error) Problem {
	r := rowFor(err)
	p := Problem{Type: problemType + r.code, Title: r.title, Status: r.status}
	var se *StepUpError
	if r.err == ErrStepUpRequired && errors.As(err, &se) {
		p.StepUp = &StepUpProblem{Level: se.Need.Level.String(), MaxAge: int64(se.Need.MaxAge / time.Second), Have: se.Have.String()}
	}
	var ve *ValidationError
	if r.err == ErrValidation && errors.As(err, &ve) {
		// Reasons are written to be shown to users; names are the client's.
		p.Errors = make([]FieldError, len(ve.Fields))
		for i, f := range ve.Fields {
			p.Errors[i] = FieldError{Field: jsonName(f.Field), Reason: f.Reason}
		}
	}
	return p
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
