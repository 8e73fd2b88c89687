package authv2_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

// mailbox is a Notifier that hands the reset token to the example instead
// of e-mailing it. authv2 calls it in the background.
type mailbox chan string

func (mb mailbox) PasswordReset(_ context.Context, _ *user.User, token string) error {
	mb <- token
	return nil
}

func (mb mailbox) EmailVerification(context.Context, *user.User, string) error { return nil }

// Reset a forgotten password: RequestPasswordReset answers alike for
// unknown addresses and sends a registered user a single-use token through
// the Notifier; ResetPassword sets the new password with it and ends the
// user's sessions.
func ExampleManager_ResetPassword() {
	ctx := context.Background()
	mail := make(mailbox, 1)
	m := exampleManager(authv2.WithNotifier(mail))
	defer m.Close(ctx)
	if _, err := m.Register(ctx, authv2.RegisterInput{Email: "ada@example.com", Password: "correct horse battery staple"}); err != nil {
		panic(err)
	}
	old, err := m.Login(ctx, authv2.LoginInput{Email: "ada@example.com", Password: "correct horse battery staple"})
	if err != nil {
		panic(err)
	}

	fmt.Println(m.RequestPasswordReset(ctx, "nobody@example.com")) // no error, no mail
	fmt.Println(m.RequestPasswordReset(ctx, "ada@example.com"))
	token := <-mail // the link in the e-mail carries it

	fmt.Println(m.ResetPassword(ctx, token, "a brand new passphrase"))
	fmt.Println(errors.Is(m.ResetPassword(ctx, token, "another passphrase"), authv2.ErrInvalidToken)) // single use

	_, err = m.Login(ctx, authv2.LoginInput{Email: "ada@example.com", Password: "correct horse battery staple"})
	fmt.Println(errors.Is(err, authv2.ErrInvalidCredentials))
	_, err = m.Login(ctx, authv2.LoginInput{Email: "ada@example.com", Password: "a brand new passphrase"})
	fmt.Println(err)
	_, err = m.Authenticate(ctx, old.Token, session.ClientInfo{})
	fmt.Println(errors.Is(err, authv2.ErrSessionRevoked))
	// Output:
	// <nil>
	// <nil>
	// <nil>
	// true
	// true
	// <nil>
	// true
}
