package main

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

	"github.com/lib/pq"

	"github.com/authv2/authv2/store"
)

// dbError is a database error with no store sentinel (the server refused a
// statement for a reason a store does not expect). Its message names the
// operation and SQLSTATE only: lib/pq's text can quote SQL and data.
type dbError struct {
	Op   string
	Code string
	Err  error
}

func (e *dbError) Error() string {
	if e.Code == "" {
		return "customstore: " + e.Op + ": database error"
	}
	return "customstore: " + e.Op + ": database error " + e.Code
}

func (e *dbError) Unwrap() error { return e.Err }

// translate maps lib/pq and database/sql errors to the sentinels of package
// store, which is all the Manager understands. Errors that already are
// sentinels pass through.
func translate(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrUnavailable):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case errors.Is(err, context.Canceled):
		// The caller gave up: not an outage, so not ErrUnavailable.
		return fmt.Errorf("customstore: %s: %w", op, context.Canceled)
	}
	var pe *pq.Error
	if errors.As(err, &pe) {
		code := string(pe.Code)
		switch {
		case code == "23505": // unique_violation: the ID or lower(email) is taken
			return store.ErrConflict
		case strings.HasPrefix(code, "08"), // connection exception
			strings.HasPrefix(code, "53"),  // insufficient resources (too many connections)
			strings.HasPrefix(code, "57P"), // server shutting down or starting up
			code == "57014",                // statement_timeout
			code == "40001", code == "40P01":
			return store.Unavailable(op, err)
		}
		return &dbError{Op: op, Code: code, Err: err}
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.As(err, &ne) {
		return store.Unavailable(op, err)
	}
	return &dbError{Op: op, Err: err}
}
