package doccheck

// The Go block of docs/GUIDE.md "Capturing a company's email domain".

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

// guideDomain is the guide's domain block: the owner claims example.com
// for clerks, publishes the record (here through publish), and verifies.
func guideDomain(ctx context.Context, m *authv2.Manager, owner *authv2.Principal, publish func(name, value string)) error {
	// The actor must hold every right the role gives, as for Invite.
	ctx = authv2.WithActor(ctx, owner)
	d, err := m.AddTenantDomain(ctx, authv2.TenantDomainInput{
		TenantID: "acme", Domain: "Example.COM", Role: "clerk"})
	if err != nil {
		return err // ErrInvalidDomain, ErrPublicDomain, ErrExceedsOwnRights...
	}
	// Show the administrator the record to publish in the domain's DNS:
	// TXT _authv2-challenge.example.com "authv2-domain-verification=..."
	name, value := authv2.DomainRecord(d)
	publish(name, value)

	// Once it is published (DNS may take a while): ErrDomainNotVerified
	// until then, ErrDomainClaimed while another tenant holds the domain.
	d, err = m.VerifyTenantDomain(ctx, "acme", d.Domain)
	if err != nil {
		return err
	}
	fmt.Println(d.Domain, d.Verified())
	return nil
}

// verifyMailer keeps each user's last verification token (several
// users' tokens go out in the background, in no set order).
type verifyMailer struct {
	mu   sync.Mutex
	last map[string]string
}

func (ml *verifyMailer) PasswordReset(context.Context, *user.User, string) error { return nil }
func (ml *verifyMailer) EmailVerification(_ context.Context, u *user.User, tok string) error {
	ml.mu.Lock()
	defer ml.mu.Unlock()
	ml.last[u.ID] = tok
	return nil
}

func Example_guideDomain() {
	ctx := context.Background()
	zone := &authv2test.TXTRecords{}
	ml := &verifyMailer{last: map[string]string{}}
	c := authv2test.Config()
	c.RequireEmailVerification = true
	m, err := authv2.New(append(exampleOptions(), authv2.WithConfig(c), authv2.WithNotifier(ml), authv2.WithTXTResolver(zone))...)
	if err != nil {
		panic(err)
	}
	defer m.Close(ctx)
	founder := seedAcme(ctx, m, "founder@example.net")
	_, err = m.AddTenantDomain(authv2.WithActor(ctx, &authv2.Principal{UserID: founder.ID, TenantID: "acme"}),
		authv2.TenantDomainInput{TenantID: "acme", Domain: "gmail.com", Role: "clerk"})
	fmt.Println(errors.Is(err, authv2.ErrPublicDomain))
	if err := guideDomain(ctx, m, &authv2.Principal{UserID: founder.ID, TenantID: "acme"}, zone.Publish); err != nil {
		panic(err)
	}

	// Someone signs up, verifies their address, signs in and moves to
	// example.com; the link mailed there is opened signed in (behind
	// Middleware the request carries the session), and captures.
	lastToken := func(userID string) string {
		m.FlushAudit(ctx) // waits for the background notifier too
		ml.mu.Lock()
		defer ml.mu.Unlock()
		return ml.last[userID]
	}
	u, err := m.Register(ctx, authv2.RegisterInput{Email: "ann@example.net", Password: "correct horse battery staple"})
	if err != nil {
		panic(err)
	}
	if _, err := m.VerifyEmail(ctx, lastToken(u.ID)); err != nil {
		panic(err)
	}
	res, err := m.Login(ctx, authv2.LoginInput{Email: "ann@example.net", Password: "correct horse battery staple"})
	if err != nil {
		panic(err)
	}
	p, err := m.Authenticate(ctx, res.Token, session.ClientInfo{})
	if err != nil {
		panic(err)
	}
	if res, err = m.ChangeEmail(ctx, p, "ann@example.com"); err != nil {
		panic(err)
	}
	if p, err = m.Authenticate(ctx, res.Token, session.ClientInfo{}); err != nil {
		panic(err)
	}
	if _, err := m.VerifyEmail(authv2.WithPrincipal(ctx, p), lastToken(u.ID)); err != nil {
		panic(err)
	}
	members, err := m.ListMembers(ctx, "acme", "", 0)
	if err != nil {
		panic(err)
	}
	for _, mb := range members {
		if mb.UserID == u.ID {
			fmt.Println("joined as", mb.Bindings[0].Role)
		}
	}
	// Output:
	// true
	// example.com true
	// joined as clerk
}
