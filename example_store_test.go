package authv2_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/user"
)

// printingUsers is a custom user.Store. This one wraps the in-memory store
// and reports what authv2 asks of it; yours talks to your database
// (examples/customstore adopts an existing users table with database/sql).
// Whatever it is, prove it with the conformance suite in a test:
//
//	func TestUserStore(t *testing.T) {
//		storetest.RunUserStore(t, func(t *testing.T) user.Store { return newYourStore(t) })
//	}
type printingUsers struct{ user.Store }

func (s printingUsers) Create(ctx context.Context, u *user.User) error {
	fmt.Println("store: create", u.Email)
	return s.Store.Create(ctx, u)
}

func (s printingUsers) GetByEmail(ctx context.Context, email string) (*user.User, error) {
	u, err := s.Store.GetByEmail(ctx, email)
	fmt.Println("store: get by email", email, err)
	return u, err
}

// Plug in a store of your own with WithUserStore (WithSessionStore,
// WithPermissionStore and WithRateLimiter likewise); authv2 uses only the
// interface, and maps the store's errors (store.ErrNotFound,
// store.ErrConflict) to its own.
func Example_customStore() {
	ctx := context.Background()
	m := exampleManager(authv2.WithUserStore(printingUsers{memory.NewUserStore()}))
	defer m.Close(ctx)

	in := authv2.RegisterInput{Email: "ada@example.com", Password: "correct horse battery staple"}
	if _, err := m.Register(ctx, in); err != nil {
		panic(err)
	}
	_, err := m.Register(ctx, in)
	fmt.Println(errors.Is(err, authv2.ErrUserExists))
	_, err = m.Login(ctx, authv2.LoginInput{Email: "ada@example.com", Password: "correct horse battery staple"})
	fmt.Println(err)
	// Output:
	// store: create ada@example.com
	// store: create ada@example.com
	// true
	// store: get by email ada@example.com <nil>
	// <nil>
}
