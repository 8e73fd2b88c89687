package doccheck

// The Go block of docs/GUIDE.md "Inviting people and managing members".

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/user"
)

// mailer is the application's Notifier, an authv2.InvitationNotifier
// too; here it keeps the last token.
type mailer struct {
	mu   sync.Mutex
	last string
}

func (ml *mailer) PasswordReset(context.Context, *user.User, string) error     { return nil }
func (ml *mailer) EmailVerification(context.Context, *user.User, string) error { return nil }
func (ml *mailer) Invitation(_ context.Context, _ *permission.Invitation, tok string) error {
	ml.mu.Lock()
	defer ml.mu.Unlock()
	ml.last = tok
	return nil
}

// guideInvite is the guide's invitation block: the owner invites, the
// invitee accepts with the token from the e-mail.
func guideInvite(ctx context.Context, m *authv2.Manager, owner *authv2.Principal, token func() string) (*user.User, error) {
	// The inviter is the actor (the request's principal behind Middleware):
	// they must hold every right the role gives at that scope.
	inv, err := m.Invite(authv2.WithActor(ctx, owner), authv2.InviteInput{
		TenantID: "acme", Email: "new@example.com", Role: "clerk", Scope: "region:eu"})
	if err != nil {
		return nil, err // ErrExceedsOwnRights: a right the inviter lacks
	}
	fmt.Println(inv.Status, inv.Role) // the token went to the Notifier, never here

	// The invitee, not signed in, follows the link: a new account, a member
	// of acme with the role, in one step. Signed in (a principal instead of
	// nil), it links their account if its verified address is inv.Email.
	return m.AcceptInvitation(ctx, nil, authv2.AcceptInvitationInput{
		Token: token(), Password: "correct horse battery staple", DisplayName: "New"})
}

func Example_guideInvite() {
	ctx := context.Background()
	ml := &mailer{}
	m, err := authv2.New(append([]authv2.Option{authv2.WithNotifier(ml)}, exampleOptions()...)...)
	if err != nil {
		panic(err)
	}
	defer m.Close(ctx)
	founder := seedAcme(ctx, m, "founder@example.com")
	token := func() string {
		m.FlushAudit(ctx) // waits for the background notifier too
		ml.mu.Lock()
		defer ml.mu.Unlock()
		return ml.last
	}
	u, err := guideInvite(ctx, m, &authv2.Principal{UserID: founder.ID, TenantID: "acme"}, token)
	if err != nil {
		panic(err)
	}
	members, err := m.ListMembers(ctx, "acme", "", 0)
	if err != nil {
		panic(err)
	}
	for _, mb := range members {
		if mb.UserID == u.ID {
			fmt.Println(u.Status, mb.Bindings[0].Role, mb.Bindings[0].Scope)
		}
	}
	err = m.RemoveMember(ctx, "acme", founder.ID)
	fmt.Println(errors.Is(err, authv2.ErrLastOwner))
	// Output:
	// pending clerk
	// active clerk region:eu
	// true
}
