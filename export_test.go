package authv2

import "context"

// LoginFailures is how many failures an email's short budget
// (AfterFailures per MaxDelay) holds now, for tests in package
// authv2_test: the login throttle keeps no count in the user record.
func (m *Manager) LoginFailures(ctx context.Context, email string) (int, error) {
	t := m.cfg.Throttle
	n, _, err := m.limiter.Count(ctx, loginKeys(email)[0], t.AfterFailures, t.MaxDelay, m.clock.Now())
	return n, err
}
