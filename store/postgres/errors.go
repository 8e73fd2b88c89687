package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jmoiron/sqlx"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

// Error is a database error that has no store sentinel: the server rejected
// a statement for a reason authv2 does not expect (for example text with a
// NUL byte). Its message carries the operation and SQLSTATE only; the
// driver's error, which may quote SQL or data, is reachable with errors.As
// for logging.
type Error struct {
	Op   string // the store operation, e.g. "user.create"
	Code string // SQLSTATE, when the server sent one
	Err  error
}

func (e *Error) Error() string {
	msg := "authv2/postgres: " + e.Op + ": database error"
	if e.Code != "" {
		msg += " " + e.Code
	}
	if why, ok := stateSummary[e.Code]; ok {
		msg += " (" + why + ")"
	}
	return msg
}

// stateSummary says, for an operator, what the SQLSTATEs a deployment
// mistake produces mean. It is our text, never the server's, so it
// quotes no SQL or data.
var stateSummary = map[string]string{
	"3D000": "the database does not exist",
	"3F000": "the schema does not exist",
	"42P01": "a table does not exist: run Migrate",
	"42703": "a column does not exist: run Migrate",
	"42501": "the database user lacks a privilege",
	"28P01": "password authentication failed",
	"28000": "the database refused the login",
}

// Unwrap exposes the driver's error.
func (e *Error) Unwrap() error { return e.Err }

// sqlState is implemented by lib/pq's *pq.Error and pgx's *pgconn.PgError,
// which keeps translation independent of the driver.
type sqlState interface{ SQLState() string }

func stateOf(err error) string {
	var s sqlState
	if errors.As(err, &s) {
		return s.SQLState()
	}
	return ""
}

// retryable reports a serialization failure or deadlock: the transaction
// lost a race and running it again is correct.
func retryable(err error) bool {
	switch stateOf(err) {
	case "40001", "40P01":
		return true
	}
	return false
}

// maxAttempts bounds retries of serialization failures and deadlocks.
const maxAttempts = 4

// callbackError marks an error returned by caller code (user.Update's fn) so
// translate hands it back untouched.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// Translate turns an error of database/sql and a PostgreSQL driver (lib/pq,
// pgx: SQLSTATEs are read through the driver-neutral SQLState method) into
// the vocabulary of package store, as the stores of this package do: no
// rows is store.ErrNotFound, a unique violation store.ErrConflict, a data
// exception (class 22) store.ErrInvalid, a lost connection, shutdown,
// timeout or exhausted server an *store.UnavailableError, anything else an
// *Error naming op and the SQLSTATE. Custom SQL stores use it, so that
// every store classifies errors alike (see examples/customstore).
func Translate(op string, err error) error { return translate(op, err) }

// translate turns a driver error into the store's vocabulary. Errors the
// store itself produced (sentinels, cycle errors, caller errors) pass
// through; nothing of a driver's message survives in the result's text.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var cb callbackError
	if errors.As(err, &cb) {
		return cb.err
	}
	for _, own := range []error{store.ErrNotFound, store.ErrConflict, store.ErrLimit, store.ErrUnavailable, store.ErrInvalid, permission.ErrCycle, ErrClosed} {
		if errors.Is(err, own) {
			return err
		}
	}
	if pe := (*Error)(nil); errors.As(err, &pe) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if errors.Is(err, context.Canceled) {
		// The caller gave up; that is not an outage.
		return fmt.Errorf("authv2/postgres: %s: %w", op, context.Canceled)
	}
	if code := stateOf(err); code != "" {
		switch {
		case code == "23505": // unique_violation
			return store.ErrConflict
		case code == "23503": // foreign_key_violation: the parent row (tenant) is missing
			return store.ErrNotFound
		case strings.HasPrefix(code, "22"): // data exception: NUL byte, invalid UTF-8, out of range
			return store.Invalid(op, err)
		case unavailableState(code):
			return store.Unavailable(op, err)
		}
		return &Error{Op: op, Code: code, Err: err}
	}
	if unreachable(err) {
		return store.Unavailable(op, err)
	}
	return &Error{Op: op, Err: err}
}

// unavailableState lists SQLSTATEs meaning "the server cannot serve this
// now", as opposed to "this request is wrong".
func unavailableState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "53"),    // insufficient resources (too many connections, disk full)
		strings.HasPrefix(code, "57P"),   // admin/crash shutdown, cannot connect now
		code == "57014",                  // query_canceled: statement_timeout
		code == "55P03",                  // lock_not_available: lock_timeout
		code == "25006",                  // read_only_sql_transaction: we reached a standby
		code == "40001", code == "40P01": // still losing races after retries
		return true
	}
	return false
}

func unreachable(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &ne)
}

// retry runs fn until it succeeds, fails for a reason other than a lost
// race, or runs out of attempts, and translates the outcome.
func (h *handle) retry(ctx context.Context, op string, fn func() error) error {
	if h.closed.Load() {
		return ErrClosed
	}
	var err error
	for range maxAttempts {
		if err = fn(); err == nil || !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	return translate(op, err)
}

// inTx runs fn in a read-committed transaction, retried on serialization
// failures and deadlocks. fn may run more than once.
func (h *handle) inTx(ctx context.Context, op string, fn func(tx *sqlx.Tx) error) error {
	return h.retry(ctx, op, func() error {
		tx, err := h.db.BeginTxx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}
