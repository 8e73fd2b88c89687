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
	"testing"

	"github.com/lib/pq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

func pqErr(code string) error {
	return &pq.Error{Severity: "ERROR", Code: pq.ErrorCode(code), Message: "secret detail: password=hunter2"}
}

func TestTranslate(t *testing.T) {
	boom := errors.New("boom")
	cycle := &permission.CycleError{Path: []string{"a", "a"}}
	cases := []struct {
		name string
		in   error
		want error
	}{
		{"no rows", sql.ErrNoRows, store.ErrNotFound},
		{"unique", pqErr("23505"), store.ErrConflict},
		{"wrapped unique", fmt.Errorf("x: %w", pqErr("23505")), store.ErrConflict},
		{"foreign key", pqErr("23503"), store.ErrNotFound},
		{"admin shutdown", pqErr("57P01"), store.ErrUnavailable},
		{"cannot connect now", pqErr("57P03"), store.ErrUnavailable},
		{"too many connections", pqErr("53300"), store.ErrUnavailable},
		{"connection failure", pqErr("08006"), store.ErrUnavailable},
		{"statement timeout", pqErr("57014"), store.ErrUnavailable},
		{"read only standby", pqErr("25006"), store.ErrUnavailable},
		{"serialization after retries", pqErr("40001"), store.ErrUnavailable},
		{"deadline", context.DeadlineExceeded, store.ErrUnavailable},
		{"bad conn", driver.ErrBadConn, store.ErrUnavailable},
		{"conn done", sql.ErrConnDone, store.ErrUnavailable},
		{"eof", io.ErrUnexpectedEOF, store.ErrUnavailable},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, store.ErrUnavailable},
		{"canceled", context.Canceled, context.Canceled},
		{"own sentinel", store.ErrLimit, store.ErrLimit},
		{"cycle", cycle, permission.ErrCycle},
		{"callback", callbackError{boom}, boom},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := translate("op", c.in)
			require.ErrorIs(t, got, c.want)
			assert.NotContains(t, got.Error(), "pq:")
			assert.NotContains(t, got.Error(), "hunter2")
		})
	}
}

func TestTranslateHidesUnknownErrors(t *testing.T) {
	in := pqErr("42P02") // undefined parameter: no sentinel, no summary
	got := translate("user.create", in)
	var e *Error
	require.ErrorAs(t, got, &e)
	assert.Equal(t, "42P02", e.Code)
	assert.Equal(t, "authv2/postgres: user.create: database error 42P02", got.Error())
	assert.ErrorIs(t, got, in, "the cause stays reachable for logs")
	for _, s := range []error{store.ErrNotFound, store.ErrConflict, store.ErrUnavailable, store.ErrInvalid} {
		assert.NotErrorIs(t, got, s)
	}
	assert.NoError(t, translate("op", nil))
}

// TestTranslateDataExceptionIsInvalid: SQLSTATE class 22 (a NUL byte,
// invalid UTF-8, a value out of range) is bad input, never an outage.
func TestTranslateDataExceptionIsInvalid(t *testing.T) {
	for _, code := range []string{"22021", "22P05", "22003", "22001"} {
		got := translate("user.create", pqErr(code))
		assert.ErrorIs(t, got, store.ErrInvalid, code)
		assert.NotErrorIs(t, got, store.ErrUnavailable, code)
		assert.Equal(t, "authv2/store: user.create: invalid value", got.Error(), "the driver's message stays out")
	}
}

func TestUnavailableMessageHidesCause(t *testing.T) {
	got := translate("session.get", &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 5432}, Err: syscall.ECONNREFUSED})
	assert.ErrorIs(t, got, store.ErrUnavailable)
	assert.False(t, strings.Contains(got.Error(), "10.1.2.3"), "addresses stay out of messages: %q", got.Error())
}

func TestRetryRetriesLostRaces(t *testing.T) {
	h := &handle{}
	calls := 0
	err := h.retry(t.Context(), "op", func() error {
		calls++
		if calls < 3 {
			return pqErr("40P01")
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, calls)

	calls = 0
	err = h.retry(t.Context(), "op", func() error { calls++; return pqErr("40001") })
	assert.ErrorIs(t, err, store.ErrUnavailable)
	assert.Equal(t, maxAttempts, calls)

	calls = 0
	err = h.retry(t.Context(), "op", func() error { calls++; return pqErr("23505") })
	assert.ErrorIs(t, err, store.ErrConflict)
	assert.Equal(t, 1, calls, "only lost races are retried")
}

func TestSchemaNameValidation(t *testing.T) {
	for _, bad := range []string{"", "1abc", `a"b`, "a;drop", "a b", strings.Repeat("a", 64)} {
		_, err := New(&sql.DB{}, WithSchema(bad))
		assert.ErrorIs(t, err, ErrInvalidSchema, "%q", bad)
		applied, err := Migrate(t.Context(), &sql.DB{}, WithSchema(bad))
		assert.ErrorIs(t, err, ErrInvalidSchema, "%q", bad)
		assert.Nil(t, applied)
	}
	s, err := New(&sql.DB{}, WithSchema("Tenant_42"))
	require.NoError(t, err)
	assert.Contains(t, s.Sessions.q.get.text, `"Tenant_42".sessions`)
	_, err = New(nil)
	assert.Error(t, err)
}

func TestMigrationsArePlainNumberedSQL(t *testing.T) {
	ms, err := loadMigrations()
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	for i, m := range ms {
		assert.Equal(t, int64(i+1), m.version, "versions are consecutive from 1: %s", m.name)
		assert.True(t, strings.HasSuffix(m.name, ".up.sql"), m.name)
		assert.NotContains(t, m.sql, "authv2.", "migrations must not hard-code the schema")
		assert.NotContains(t, m.sql, "$$", "no procedural code: every tool can split the statements")
	}
}

// TestErrorSummarizesDeploymentMistakes: an operator reading a migration
// failure learns what is wrong without the driver's text.
func TestErrorSummarizesDeploymentMistakes(t *testing.T) {
	got := Translate("migrate", pqErr("3D000"))
	assert.Equal(t, "authv2/postgres: migrate: database error 3D000 (the database does not exist)", got.Error())
	assert.NotContains(t, got.Error(), "hunter2")
}
