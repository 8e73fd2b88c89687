package authv2

import (
	"context"
	"fmt"

	"github.com/authv2/authv2/user"
)

// defaultPasswordChecker rejects the 10,000 most common passwords and
// passwords built from the user's email or name (ASVS 6.2.4, 6.2.11).
func defaultPasswordChecker() user.PasswordChecker {
	return user.CombineCheckers(user.CommonPasswords(), user.ContextWords())
}

// runPasswordChecker applies the configured password checker. A rejection
// is a *ValidationError on Password with the checker's reason; a checker
// that fails (a breached-password service being down) fails the request:
// authv2 does not accept a password it could not check.
func (m *Manager) runPasswordChecker(ctx context.Context, email, displayName, password string) error {
	reason, err := m.checker.CheckPassword(ctx, password, user.PasswordContext{Email: email, DisplayName: displayName, Words: m.passwordWords})
	if err != nil {
		return fmt.Errorf("authv2: password check failed: %w", err)
	}
	if reason != "" {
		return &ValidationError{Fields: []FieldError{{Field: "Password", Reason: reason}}}
	}
	return nil
}
