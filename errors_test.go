package authv2

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

// TestEverySentinelHasARow: every exported Err… variable of the package is
// listed here with what each audience should make of it, and has its own
// row in errorTable. Declaring a sentinel without a row (or without a
// line here) fails.
func TestEverySentinelHasARow(t *testing.T) {
	type want struct {
		err     error
		code    string
		status  int
		outcome string
		dead    bool
	}
	sentinels := map[string]want{
		"ErrInvalidCredentials":  {ErrInvalidCredentials, "invalid-credentials", http.StatusUnauthorized, "invalid_credentials", false},
		"ErrUnauthenticated":     {ErrUnauthenticated, "unauthenticated", http.StatusUnauthorized, "unauthenticated", true},
		"ErrSessionExpired":      {ErrSessionExpired, "unauthenticated", http.StatusUnauthorized, "session_expired", true},
		"ErrSessionRevoked":      {ErrSessionRevoked, "unauthenticated", http.StatusUnauthorized, "session_revoked", true},
		"ErrClientMismatch":      {ErrClientMismatch, "unauthenticated", http.StatusUnauthorized, "client_mismatch", true},
		"ErrSessionLimit":        {ErrSessionLimit, "session-limit", http.StatusConflict, "session_limit", false},
		"ErrUserExists":          {ErrUserExists, "conflict", http.StatusConflict, "user_exists", false},
		"ErrNotFound":            {ErrNotFound, "not-found", http.StatusNotFound, "not_found", false},
		"ErrConflict":            {ErrConflict, "conflict", http.StatusConflict, "error", false},
		"ErrStoreUnavailable":    {ErrStoreUnavailable, "unavailable", http.StatusServiceUnavailable, "error", false},
		"ErrReauthRequired":      {ErrReauthRequired, "reauthentication-required", http.StatusForbidden, "reauth_required", false},
		"ErrInvalidToken":        {ErrInvalidToken, "invalid-token", http.StatusBadRequest, "invalid_token", false},
		"ErrEmailNotVerified":    {ErrEmailNotVerified, "email-not-verified", http.StatusForbidden, "email_not_verified", false},
		"ErrNotMember":           {ErrNotMember, "not-member", http.StatusForbidden, "not_member", false},
		"ErrInvalidConfig":       {ErrInvalidConfig, "internal", http.StatusInternalServerError, "error", false},
		"ErrNoAuditStore":        {ErrNoAuditStore, "internal", http.StatusInternalServerError, "error", false},
		"ErrInsecureCookie":      {ErrInsecureCookie, "internal", http.StatusInternalServerError, "error", false},
		"ErrForbidden":           {ErrForbidden, "forbidden", http.StatusForbidden, "error", false},
		"ErrCrossOrigin":         {ErrCrossOrigin, "cross-origin", http.StatusForbidden, "error", false},
		"ErrValidation":          {ErrValidation, "validation", http.StatusBadRequest, "invalid_input", false},
		"ErrThrottled":           {ErrThrottled, "throttled", http.StatusTooManyRequests, "throttled", false},
		"ErrAPIKeyRevoked":       {ErrAPIKeyRevoked, "unauthenticated", http.StatusUnauthorized, "api_key_revoked", true},
		"ErrAPIKeyExpired":       {ErrAPIKeyExpired, "unauthenticated", http.StatusUnauthorized, "api_key_expired", true},
		"ErrSessionRequired":     {ErrSessionRequired, "session-required", http.StatusForbidden, "session_required", false},
		"ErrImpersonation":       {ErrImpersonation, "impersonation", http.StatusForbidden, "impersonation", false},
		"ErrExceedsOwnRights":    {ErrExceedsOwnRights, "exceeds-own-rights", http.StatusForbidden, "exceeds_own_rights", false},
		"ErrLastOwner":           {ErrLastOwner, "last-owner", http.StatusConflict, "last_owner", false},
		"ErrInvitationMismatch":  {ErrInvitationMismatch, "invitation-mismatch", http.StatusForbidden, "invitation_mismatch", false},
		"ErrStepUpRequired":      {ErrStepUpRequired, "step-up-required", http.StatusForbidden, "step_up_required", false},
		"ErrInvalidSecondFactor": {ErrInvalidSecondFactor, "invalid-second-factor", http.StatusUnauthorized, "invalid_second_factor", false},
		"ErrMFANotEnrolled":      {ErrMFANotEnrolled, "mfa-not-enrolled", http.StatusConflict, "mfa_not_enrolled", false},
		"ErrMFAAlreadyEnrolled":  {ErrMFAAlreadyEnrolled, "mfa-already-enrolled", http.StatusConflict, "mfa_already_enrolled", false},
		"ErrInvalidDomain":       {ErrInvalidDomain, "validation", http.StatusBadRequest, "invalid_input", false},
		"ErrPublicDomain":        {ErrPublicDomain, "validation", http.StatusBadRequest, "invalid_input", false},
		"ErrDomainNotVerified":   {ErrDomainNotVerified, "domain-not-verified", http.StatusBadRequest, "domain_not_verified", false},
		"ErrDomainClaimed":       {ErrDomainClaimed, "domain-claimed", http.StatusConflict, "domain_claimed", false},
	}
	declared := exportedSentinels(t)
	assert.ElementsMatch(t, declared, slices.Collect(maps.Keys(sentinels)), "the package's sentinels and this test's list differ")
	for name, w := range sentinels {
		t.Run(name, func(t *testing.T) {
			assert.True(t, slices.ContainsFunc(errorTable, func(r errorRow) bool { return r.err == w.err }), "no row")
			for _, err := range []error{w.err, fmt.Errorf("wrapped: %w", w.err)} {
				p := ProblemFor(err)
				assert.Equal(t, problemType+w.code, p.Type)
				assert.Equal(t, w.status, p.Status)
				assert.Equal(t, w.outcome, outcomeName(err))
				assert.Equal(t, w.dead, deadToken(err))
			}
		})
	}
}

// TestErrorTableRowsAreReported: each row is what ProblemFor, outcomeName,
// and deadToken report for its error, so no row is
// shadowed by an earlier one.
func TestErrorTableRowsAreReported(t *testing.T) {
	for _, r := range errorTable {
		t.Run(r.err.Error(), func(t *testing.T) {
			err := fmt.Errorf("op: %w", r.err)
			assert.Equal(t, Problem{Type: problemType + r.code, Title: r.title, Status: r.status}, ProblemFor(err))
			assert.Equal(t, r.outcome, outcomeName(err))
			assert.Equal(t, r.dead, deadToken(err))
		})
	}
	other := errors.New("pq: boom")
	assert.Equal(t, "internal", strings.TrimPrefix(ProblemFor(other).Type, problemType))
	assert.Equal(t, "error", outcomeName(other))
	assert.False(t, deadToken(other))
}

// TestTranslateKeepsOnlyStoreAndEngineErrors: translate passes a store's
// sentinels through and turns anything else into an outage; authzError
// also passes the engine's input errors through.
func TestTranslateKeepsOnlyStoreAndEngineErrors(t *testing.T) {
	for _, c := range []struct {
		err                  error
		translated, authzErr bool // kept as is
	}{
		{store.ErrNotFound, true, true},
		{store.ErrConflict, true, true},
		{store.ErrUnavailable, true, true},
		{store.ErrLimit, true, true},
		{context.Canceled, true, true},
		{context.DeadlineExceeded, true, true},
		{permission.ErrCycle, true, true},
		{permission.ErrInvalidRequest, false, true},
		{permission.ErrInvalidPermission, false, true},
		{permission.ErrInvalidScope, false, true},
		{permission.ErrClosed, false, true},
		{permission.ErrInvalidRole, false, false},
		{ErrUnauthenticated, false, false},
		{ErrValidation, false, false},
		{errors.New("pq: boom"), false, false},
	} {
		err := fmt.Errorf("op: %w", c.err)
		assert.Equal(t, c.translated, translate("op", err) == err, "translate %v", c.err)
		assert.Equal(t, c.authzErr, authzError(err) == err, "authzError %v", c.err)
		if !c.authzErr {
			assert.ErrorIs(t, authzError(err), store.ErrUnavailable, "%v", c.err)
		}
	}
	var ve *ValidationError
	assert.ErrorAs(t, translate("op", store.ErrInvalid), &ve, "a value the store refused is the caller's input")
}

// exportedSentinels returns the names of the package-level exported
// variables named Err… declared in the package's non-test files.
func exportedSentinels(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var names []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		af, err := parser.ParseFile(fset, f, src, 0)
		require.NoError(t, err)
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, s := range gd.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					if strings.HasPrefix(n.Name, "Err") && n.IsExported() {
						names = append(names, n.Name)
					}
				}
			}
		}
	}
	require.NotEmpty(t, names)
	return names
}
