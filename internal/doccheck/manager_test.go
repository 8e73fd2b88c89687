package doccheck

import (
	"context"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/user"
)

// exampleManager returns a Manager on memory stores that hashes cheaply,
// to keep the examples fast; production keeps the OWASP defaults.
func exampleManager() *authv2.Manager {
	m, err := authv2.New(exampleOptions()...)
	if err != nil {
		panic(err)
	}
	return m
}

// exampleOptions are exampleManager's options, for an example that adds
// its own.
func exampleOptions() []authv2.Option {
	return []authv2.Option{authv2.WithConfig(authv2test.Config()), authv2.WithInsecurePasswordHashing()}
}

// seedAcme creates the tenant acme with an owner role (everything) and a
// clerk role (orders:read), and registers its founder, an owner.
func seedAcme(ctx context.Context, m *authv2.Manager, email string) *user.User {
	if _, err := m.CreateTenant(ctx, "acme", "Acme Inc."); err != nil {
		panic(err)
	}
	for _, r := range []*permission.Role{
		{TenantID: "acme", Name: permission.OwnerRole, Grants: []permission.Grant{{Permission: "*", Effect: permission.Allow}}},
		{TenantID: "acme", Name: "clerk", Grants: []permission.Grant{{Permission: "orders:read", Effect: permission.Allow}}},
	} {
		if err := m.PutRole(ctx, r); err != nil {
			panic(err)
		}
	}
	founder, err := m.Register(ctx, authv2.RegisterInput{Email: email, Password: "correct horse battery staple", TenantID: "acme"})
	if err != nil {
		panic(err)
	}
	if err := m.Bind(ctx, permission.Binding{UserID: founder.ID, TenantID: "acme", Role: permission.OwnerRole}); err != nil {
		panic(err)
	}
	return founder
}
