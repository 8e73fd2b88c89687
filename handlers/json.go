package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/authv2/authv2"
)

// maxBody bounds request bodies: every body the kit reads is a small
// JSON object, and an unbounded one would let a client hold memory.
const maxBody = 64 << 10

// problemType prefixes the kit's own problem types, as authv2's.
const problemType = "urn:authv2:problem:"

var (
	errNotBehindMiddleware = errors.New("handlers: served without Manager.Middleware")
	errMalformedBody       = errors.New("handlers: malformed JSON body")
	errTooLarge            = errors.New("handlers: request body too large")
)

// problemFor is authv2.ProblemFor plus the kit's own errors about the
// request body.
func problemFor(err error) authv2.Problem {
	p := func(code string, status int, title string) authv2.Problem {
		return authv2.Problem{Type: problemType + code, Title: title, Status: status}
	}
	switch {
	case errors.Is(err, errTooLarge):
		return p("too-large", http.StatusRequestEntityTooLarge, "Request body too large")
	case errors.Is(err, errMalformedBody):
		return p("malformed-body", http.StatusBadRequest, "Malformed JSON body")
	default:
		return authv2.ProblemFor(err)
	}
}

// fail writes err as a problem, logging what the client cannot be told.
func (k *kit) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	if p.Status >= 500 {
		k.log.ErrorContext(r.Context(), "handlers: request failed", "path", r.URL.Path, "error", err)
	}
	authv2.WriteProblem(w, p, err)
}

// decode reads one JSON object into v. Unknown fields are ignored (see
// the package documentation); trailing data after the object is refused,
// since a client sending two objects is confused about the API.
func (k *kit) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("data after the JSON object")
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			k.fail(w, r, errTooLarge)
		} else {
			k.fail(w, r, errMalformedBody)
		}
		return false
	}
	return true
}

// writeJSON answers v as JSON. Account data is per user: never cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the status is sent; a broken connection is the client's
}
