package doccheck

// The Go block of docs/GUIDE.md "Impersonation for support staff".

import (
	"context"
	"fmt"
	"time"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
)

// guideImpersonate is the guide's block: support staff act as a viewer,
// then end it.
func guideImpersonate(ctx context.Context, m *authv2.Manager, support *authv2.Principal, viewerID string) error {
	imp, err := m.StartImpersonation(ctx, support, authv2.StartImpersonationInput{
		TargetUserID: viewerID, Reason: "ticket 1234: cannot see order A-100", Duration: 15 * time.Minute})
	if err != nil {
		return err // ErrForbidden, ErrExceedsOwnRights, ErrNotMember, ErrImpersonation, a *ValidationError
	}
	// imp.Token is a session of the viewer's, shown once: the support console sends it as
	// "Authorization: Bearer ..." while impersonating.
	p, err := m.Authenticate(ctx, imp.Token, session.ClientInfo{})
	if err != nil {
		return err
	}
	fmt.Println(p.UserID == viewerID, p.Impersonator.UserID == support.UserID) // true true

	// Ending it: the console drops imp.Token and goes on with the token it held before.
	rec, err := m.EndImpersonation(ctx, p)
	if err != nil {
		return err
	}
	fmt.Println(rec.ActorSessionID == support.SessionID) // true: the actor's own session, untouched
	return nil
}

func Example_guideImpersonate() {
	ctx := context.Background()
	m, err := authv2.New(exampleOptions()...)
	if err != nil {
		panic(err)
	}
	defer m.Close(ctx)
	if _, err := m.CreateTenant(ctx, "acme", "Acme Inc."); err != nil {
		panic(err)
	}
	for _, r := range []*permission.Role{
		{TenantID: "acme", Name: "support", Grants: []permission.Grant{
			{Permission: "orders:*", Effect: permission.Allow}, {Permission: authv2.PermissionImpersonate, Effect: permission.Allow}}},
		{TenantID: "acme", Name: "viewer", Grants: []permission.Grant{{Permission: "orders:read", Effect: permission.Allow}}},
	} {
		if err := m.PutRole(ctx, r); err != nil {
			panic(err)
		}
	}
	ids := map[string]string{}
	for email, role := range map[string]string{"support@example.com": "support", "viewer@example.com": "viewer"} {
		u, err := m.Register(ctx, authv2.RegisterInput{Email: email, Password: "correct horse battery staple", TenantID: "acme"})
		if err != nil {
			panic(err)
		}
		if err := m.Bind(ctx, permission.Binding{UserID: u.ID, TenantID: "acme", Role: role}); err != nil {
			panic(err)
		}
		ids[role] = u.ID
	}
	login, err := m.Login(ctx, authv2.LoginInput{Email: "support@example.com", Password: "correct horse battery staple", TenantID: "acme"})
	if err != nil {
		panic(err)
	}
	support, err := m.Authenticate(ctx, login.Token, session.ClientInfo{})
	if err != nil {
		panic(err)
	}
	if err := guideImpersonate(ctx, m, support, ids["viewer"]); err != nil {
		panic(err)
	}
	// Output:
	// true true
	// true
}
