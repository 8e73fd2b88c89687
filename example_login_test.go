package authv2_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/session"
)

// Register, log in, authenticate a request, log out.
func Example_login() {
	ctx := context.Background()
	m := exampleManager() // authv2.New() with cheap hashing (example_helpers_test.go)
	defer m.Close(ctx)

	if _, err := m.Register(ctx, authv2.RegisterInput{Email: "ada@example.com", Password: "correct horse battery staple"}); err != nil {
		panic(err)
	}
	res, err := m.Login(ctx, authv2.LoginInput{Email: "ada@example.com", Password: "correct horse battery staple"})
	if err != nil {
		panic(err)
	}
	p, err := m.Authenticate(ctx, res.Token, session.ClientInfo{IP: "203.0.113.7"})
	fmt.Println(p.UserID == res.User.ID, err)

	_ = m.Logout(ctx, res.Token)
	_, err = m.Authenticate(ctx, res.Token, session.ClientInfo{})
	fmt.Println(errors.Is(err, authv2.ErrSessionRevoked))
	// Output:
	// true <nil>
	// true
}
