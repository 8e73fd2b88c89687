// Package store holds what every store implementation shares: the sentinel
// errors a store must translate its driver's errors into.
//
// A store never returns a driver error as is: "no rows" becomes ErrNotFound,
// a unique violation becomes ErrConflict, an unreachable server becomes an
// *UnavailableError (which is ErrUnavailable). The Manager maps these to the
// errors callers see, so a store implementation needs no other import.
package store

import "errors"

var (
	// ErrNotFound: the record does not exist (or is not visible in the tenant asked for).
	ErrNotFound = errors.New("authv2/store: not found")
	// ErrConflict: a record with the same unique key already exists.
	ErrConflict = errors.New("authv2/store: already exists")
	// ErrUnavailable: the backing server could not be reached or did not answer in time.
	ErrUnavailable = errors.New("authv2/store: unavailable")
	// ErrLimit: a session limit refused the write (session.Refuse).
	ErrLimit = errors.New("authv2/store: limit reached")
)

// UnavailableError wraps the cause of an outage so it can be logged, while
// errors.Is(err, ErrUnavailable) stays true. Its message never includes the
// cause: driver messages may carry SQL text or addresses.
type UnavailableError struct {
	Op  string // the store operation, e.g. "session.get"
	Err error  // the driver's error, for logs only
}

func (e *UnavailableError) Error() string { return "authv2/store: " + e.Op + ": unavailable" }

// Unwrap exposes the cause to errors.As (for logging and retry decisions).
func (e *UnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unavailable wraps err as an *UnavailableError for operation op.
func Unavailable(op string, err error) error { return &UnavailableError{Op: op, Err: err} }
