package authv2_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

// TestProblemForEveryError pins the HTTP status of every error a flow can
// return, and that no error text reaches the problem.
func TestProblemForEveryError(t *testing.T) {
	secret := errors.New(`pq: password authentication failed for user "app"`)
	for _, c := range []struct {
		err    error
		status int
	}{
		{authv2.ErrUnauthenticated, http.StatusUnauthorized},
		{authv2.ErrSessionExpired, http.StatusUnauthorized},
		{authv2.ErrSessionRevoked, http.StatusUnauthorized},
		{authv2.ErrClientMismatch, http.StatusUnauthorized},
		{authv2.ErrInvalidCredentials, http.StatusUnauthorized},
		{authv2.ErrInvalidToken, http.StatusBadRequest},
		{fmt.Errorf("window: %w", audit.ErrInvalidQuery), http.StatusBadRequest},
		{authv2.ErrForbidden, http.StatusForbidden},
		{authv2.ErrCrossOrigin, http.StatusForbidden},
		{authv2.ErrNotMember, http.StatusForbidden},
		{authv2.ErrReauthRequired, http.StatusForbidden},
		{authv2.ErrEmailNotVerified, http.StatusForbidden},
		{&authv2.ThrottledError{}, http.StatusTooManyRequests},
		{&authv2.ValidationError{Fields: []authv2.FieldError{{Field: "Email", Reason: "is required"}}}, http.StatusBadRequest},
		{authv2.ErrUserExists, http.StatusConflict},
		{authv2.ErrConflict, http.StatusConflict},
		{authv2.ErrSessionLimit, http.StatusConflict},
		{fmt.Errorf("scope: %w", permission.ErrInvalidScope), http.StatusBadRequest},
		{authv2.ErrNotFound, http.StatusNotFound},
		{store.Unavailable("session.get", secret), http.StatusServiceUnavailable},
		{context.DeadlineExceeded, http.StatusServiceUnavailable},
		{permission.ErrClosed, http.StatusServiceUnavailable},
		{context.Canceled, 499},
		{secret, http.StatusInternalServerError},
	} {
		p := authv2.ProblemFor(c.err)
		assert.Equal(t, c.status, p.Status, "%v", c.err)
		assert.NotContains(t, p.Title+p.Detail, "pq:", "%v", c.err)
	}
}

// TestProblemFieldNamesAreTheClients: problem details name rejected fields
// as a JSON client spells them (snake_case), not as Go does.
func TestProblemFieldNamesAreTheClients(t *testing.T) {
	ve := &authv2.ValidationError{Fields: []authv2.FieldError{
		{Field: "TenantID", Reason: "r1"}, {Field: "DisplayName", Reason: "r2"}, {Field: "Grants[2].Condition", Reason: "r3"},
		{Field: "ID", Reason: "r4"}, {Field: "Email", Reason: "r5"}, {Field: "IPAddress", Reason: "r6"},
	}}
	rec := httptest.NewRecorder()
	authv2.WriteProblem(rec, authv2.ProblemFor(ve), ve)
	var body struct {
		Errors []map[string]string `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	var names []string
	for _, e := range body.Errors {
		names = append(names, e["field"])
		assert.NotEmpty(t, e["reason"])
	}
	assert.Equal(t, []string{"tenant_id", "display_name", "grants[2].condition", "id", "email", "ip_address"}, names)
	assert.Equal(t, "r1", ve.Field("TenantID"), "Go callers keep the Go names")
}
