package authv2

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/permission"
)

// newDispatcher builds the audit queue in front of the configured sinks.
func (m *Manager) newDispatcher(o options) (*audit.Dispatcher, error) {
	opts := []audit.Option{audit.WithQueueSize(o.cfg.AuditQueueSize)}
	if o.cfg.AuditDropWhenFull {
		opts = append(opts, audit.WithDropWhenFull())
	}
	// Sink failures must reach someone: the Manager's logger, which is
	// slog.Default unless the application gave one.
	opts = append(opts, audit.WithLogger(o.logger))
	d, err := audit.NewDispatcher(o.sinks, append(opts, o.auditOpts...)...)
	if err != nil {
		return nil, &ConfigError{Field: "Audit", Reason: err.Error()}
	}
	return d, nil
}

// ErrNoAuditStore: an audit query needs WithAuditStore.
var ErrNoAuditStore = errors.New("authv2: no audit store configured")

func (m *Manager) auditQueryStore() (audit.Store, error) {
	if m.auditStore == nil {
		return nil, ErrNoAuditStore
	}
	return m.auditStore, nil
}

// QueryAudit returns one page of audit events, newest first; pass the
// returned Next as q.Cursor for the following page.
func (m *Manager) QueryAudit(ctx context.Context, q audit.Query) (audit.Page, error) {
	s, err := m.auditQueryStore()
	if err != nil {
		return audit.Page{}, err
	}
	p, err := s.Query(ctx, q)
	return p, translateAudit("audit.query", err)
}

// LoginCounts counts successful and failed logins per time bucket.
func (m *Manager) LoginCounts(ctx context.Context, tenantID string, from, to time.Time, bucket time.Duration) ([]audit.Bucket, error) {
	s, err := m.auditQueryStore()
	if err != nil {
		return nil, err
	}
	b, err := s.LoginCounts(ctx, tenantID, from, to, bucket)
	return b, translateAudit("audit.login_counts", err)
}

// TopDenied ranks the permissions most often denied.
func (m *Manager) TopDenied(ctx context.Context, tenantID string, from, to time.Time, limit int) ([]audit.Count, error) {
	s, err := m.auditQueryStore()
	if err != nil {
		return nil, err
	}
	c, err := s.TopDenied(ctx, tenantID, from, to, limit)
	return c, translateAudit("audit.top_denied", err)
}

// SessionsPerDevice counts sessions created per device label.
func (m *Manager) SessionsPerDevice(ctx context.Context, tenantID string, from, to time.Time, limit int) ([]audit.Count, error) {
	s, err := m.auditQueryStore()
	if err != nil {
		return nil, err
	}
	c, err := s.SessionsPerDevice(ctx, tenantID, from, to, limit)
	return c, translateAudit("audit.sessions_per_device", err)
}

// UnusedGrant is a permission a role grants that no allowed decision in
// the window exercised: a candidate for removal in a least-privilege
// review.
type UnusedGrant struct {
	Role       string
	Permission string
}

// UnusedGrants lists, per role of the tenant, the allow grants that no
// allowed authorization decision in [from, to) used. It is only as
// complete as the audit trail: with sampled allow decisions, rarely used
// permissions may show as unused.
func (m *Manager) UnusedGrants(ctx context.Context, tenantID string, from, to time.Time) ([]UnusedGrant, error) {
	s, err := m.auditQueryStore()
	if err != nil {
		return nil, err
	}
	roles, err := m.permissions.ListRoles(ctx, tenantID)
	if err != nil {
		return nil, translate("role.list", err)
	}
	var granted []string
	for _, r := range roles {
		for _, g := range r.Grants {
			if g.Effect == permission.Allow && !slices.Contains(granted, g.Permission) {
				granted = append(granted, g.Permission)
			}
		}
	}
	unused, err := s.UnusedGrants(ctx, tenantID, from, to, granted)
	if err != nil {
		return nil, translateAudit("audit.unused_grants", err)
	}
	var out []UnusedGrant
	for _, r := range roles {
		for _, g := range r.Grants {
			if g.Effect == permission.Allow && slices.Contains(unused, g.Permission) {
				out = append(out, UnusedGrant{Role: r.Name, Permission: g.Permission})
			}
		}
	}
	return out, nil
}

// translateAudit keeps the audit package's query errors (typed, safe to
// show) and translates everything else like other store errors.
func translateAudit(op string, err error) error {
	if err == nil || errors.Is(err, audit.ErrInvalidQuery) {
		return err
	}
	return translate(op, err)
}
