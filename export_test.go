package authv2

import "context"

// LoginFailures is how many failures an email's short budget
// (AfterFailures per MaxDelay) holds now, for tests in package
// authv2_test: the login throttle keeps no count in the user record.
func (m *Manager) LoginFailures(ctx context.Context, email string) (int, error) {
	b := m.emailBudgets(email)[0]
	n, _, err := m.limiter.Count(ctx, b.key, b.limit, b.window, m.clock.Now())
	return n, err
}

// TrustedFailures is how many failures a user's trusted clients' long
// budget holds (trustedBudgets).
func (m *Manager) TrustedFailures(ctx context.Context, userID string) (int, error) {
	b := m.trustedBudgets("", userID)[1]
	n, _, err := m.limiter.Count(ctx, b.key, b.limit, b.window, m.clock.Now())
	return n, err
}
