package postgres_test

import (
	"testing"
	"time"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

// TestEveryMethodFailsCleanlyWhenUnreachable calls every store method
// against a server that is not there: each fails with a clean
// store.ErrUnavailable, none panics or leaks the address.
func TestEveryMethodFailsCleanlyWhenUnreachable(t *testing.T) {
	s := unreachableStores(t)
	ctx, now := t.Context(), time.Now()
	x := &session.Session{ID: session.NewID("u1"), UserID: "u1", CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour)}
	calls := map[string]func() error{
		"user.Create":     func() error { return s.Users.Create(ctx, &user.User{ID: "u1", Email: "a@example.com"}) },
		"user.Get":        func() error { _, err := s.Users.Get(ctx, "u1"); return err },
		"user.GetByEmail": func() error { _, err := s.Users.GetByEmail(ctx, "a@example.com"); return err },
		"user.Delete":     func() error { return s.Users.Delete(ctx, "u1") },
		"session.Create":  func() error { _, err := s.Sessions.Create(ctx, x, session.Limit{Max: 2}, now); return err },
		"session.Touch":   func() error { return s.Sessions.Touch(ctx, x.ID, now, now.Add(time.Hour)) },
		"session.Update":  func() error { return s.Sessions.Update(ctx, x) },
		"session.Revoke":  func() error { return s.Sessions.Revoke(ctx, x.ID, now, "x") },
		"session.RevokeUser": func() error {
			_, err := s.Sessions.RevokeUser(ctx, "u1", session.RevokeFilter{}, now, "x")
			return err
		},
		"session.Rotate":        func() error { return s.Sessions.Rotate(ctx, x.ID, x, now) },
		"session.ListByUser":    func() error { _, err := s.Sessions.ListByUser(ctx, "u1", now); return err },
		"session.DeleteExpired": func() error { _, err := s.Sessions.DeleteExpired(ctx, now); return err },
		"session.Stats":         func() error { _, err := s.Sessions.Stats(ctx, session.StatsFilter{}, now); return err },
		"tenant.Create":         func() error { return s.Permissions.CreateTenant(ctx, &permission.Tenant{ID: "t"}) },
		"tenant.Get":            func() error { _, err := s.Permissions.GetTenant(ctx, "t"); return err },
		"tenant.List":           func() error { _, err := s.Permissions.ListTenants(ctx); return err },
		"tenant.Delete":         func() error { return s.Permissions.DeleteTenant(ctx, "t") },
		"member.Add":            func() error { return s.Permissions.AddMember(ctx, permission.Membership{TenantID: "t", UserID: "u1"}) },
		"member.Remove":         func() error { return s.Permissions.RemoveMember(ctx, "t", "u1") },
		"member.List":           func() error { _, err := s.Permissions.ListMemberships(ctx, "u1"); return err },
		"role.Put":              func() error { return s.Permissions.PutRole(ctx, &permission.Role{TenantID: "t", Name: "r"}) },
		"role.Get":              func() error { _, err := s.Permissions.GetRole(ctx, "t", "r"); return err },
		"role.List":             func() error { _, err := s.Permissions.ListRoles(ctx, "t"); return err },
		"role.Delete":           func() error { return s.Permissions.DeleteRole(ctx, "t", "r") },
		"binding.Put": func() error {
			return s.Permissions.PutBinding(ctx, permission.Binding{TenantID: "t", UserID: "u1", Role: "r"})
		},
		"binding.Delete": func() error {
			return s.Permissions.DeleteBinding(ctx, permission.Binding{TenantID: "t", UserID: "u1", Role: "r"})
		},
		"binding.List":          func() error { _, err := s.Permissions.ListBindings(ctx, "t", ""); return err },
		"policy.Load":           func() error { _, err := s.Permissions.LoadPolicy(ctx, "t", "u1"); return err },
		"policy.Version":        func() error { _, err := s.Permissions.Version(ctx, "t"); return err },
		"limiter.Hit":           func() error { _, err := s.Limiter.Hit(ctx, "k", 5, time.Hour, now); return err },
		"limiter.Count":         func() error { _, _, err := s.Limiter.Count(ctx, "k", 5, time.Hour, now); return err },
		"limiter.Reserve":       func() error { _, _, err := s.Limiter.Reserve(ctx, "k", 5, time.Hour, now); return err },
		"limiter.Release":       func() error { return s.Limiter.Release(ctx, "k", now) },
		"limiter.Reset":         func() error { return s.Limiter.Reset(ctx, "k") },
		"limiter.DeleteExpired": func() error { _, err := s.Limiter.DeleteExpired(ctx, now); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) { assertCleanFailure(t, call()) })
	}
}
