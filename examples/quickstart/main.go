// Command quickstart walks through authv2's core flows with in-memory
// stores: register, log in, authenticate, a wrong password, log out and a
// rejected token. It needs no server and exits non-zero if any step does
// not behave as documented.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/session"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("quickstart: every step behaved as expected")
}

func run(ctx context.Context) error {
	// No store options: every store is in memory.
	m, err := authv2.New()
	if err != nil {
		return err
	}
	defer m.Close(ctx)

	step := func(n int, what string) { fmt.Printf("%d. %s\n", n, what) }
	client := session.ClientInfo{IP: "203.0.113.7", UserAgent: "quickstart/1.0", DeviceLabel: "terminal"}

	step(1, "create tenant acme and register ada@example.com in it")
	if _, err := m.CreateTenant(ctx, "acme", "Acme Inc."); err != nil {
		return err
	}
	u, err := m.Register(ctx, authv2.RegisterInput{
		Email: "ada@example.com", Password: "correct horse battery staple", DisplayName: "Ada", TenantID: "acme",
	})
	if err != nil {
		return err
	}
	fmt.Printf("   user %s, status %s\n", u.ID, u.Status)

	step(2, "log in with the right password")
	res, err := m.Login(ctx, authv2.LoginInput{Email: "ada@example.com", Password: "correct horse battery staple", Client: client})
	if err != nil {
		return err
	}
	fmt.Printf("   session %s in tenant %q, token %s… (shown once, stored only as a hash)\n", res.Session.ID, res.Session.TenantID, res.Token[:12])

	step(3, "authenticate a request with the token")
	p, err := m.Authenticate(ctx, res.Token, client)
	if err != nil {
		return err
	}
	fmt.Printf("   principal user=%s tenant=%s expires=%s\n", p.UserID, p.TenantID, p.ExpiresAt.Format("15:04:05 MST"))

	step(4, "log in with a wrong password")
	_, err = m.Login(ctx, authv2.LoginInput{Email: "ada@example.com", Password: "wrong password", Client: client})
	if !errors.Is(err, authv2.ErrInvalidCredentials) {
		return fmt.Errorf("wrong password: want ErrInvalidCredentials, got %v", err)
	}
	fmt.Printf("   refused: %v\n", err)

	step(5, "log in as someone who does not exist (same error, same time)")
	_, err = m.Login(ctx, authv2.LoginInput{Email: "nobody@example.com", Password: "whatever it is", Client: client})
	if !errors.Is(err, authv2.ErrInvalidCredentials) {
		return fmt.Errorf("unknown user: want ErrInvalidCredentials, got %v", err)
	}
	fmt.Printf("   refused: %v\n", err)

	step(6, "log out")
	if err := m.Logout(ctx, res.Token); err != nil {
		return err
	}

	step(7, "the logged-out token is rejected")
	_, err = m.Authenticate(ctx, res.Token, client)
	if !errors.Is(err, authv2.ErrSessionRevoked) {
		return fmt.Errorf("after logout: want ErrSessionRevoked, got %v", err)
	}
	fmt.Printf("   refused: %v\n", err)

	step(8, "a forged token is rejected before any store lookup")
	_, err = m.Authenticate(ctx, "av2_not-a-real-token", client)
	if !errors.Is(err, authv2.ErrUnauthenticated) {
		return fmt.Errorf("forged token: want ErrUnauthenticated, got %v", err)
	}
	fmt.Printf("   refused: %v\n", err)
	return nil
}
