package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/user"
)

// outbox stands in for the application's e-mail: a real one sends each
// token in a link to the address. It logs that a message would go out,
// never the token (a log is read by more people than a mailbox), and
// keeps the last token per kind and address for the tests.
type outbox struct {
	log  *slog.Logger
	mu   sync.Mutex
	last map[string]string // kind + ":" + address → token
}

func newOutbox(log *slog.Logger) *outbox { return &outbox{log: log, last: map[string]string{}} }

func (o *outbox) send(ctx context.Context, kind, to, tok string) error {
	o.mu.Lock()
	o.last[kind+":"+to] = tok
	o.mu.Unlock()
	o.log.InfoContext(ctx, "e-mail not sent: the example has no mailer", "kind", kind, "to", to)
	return nil
}

// token returns the last token of kind sent to the address, or "".
func (o *outbox) token(kind, to string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last[kind+":"+to]
}

func (o *outbox) PasswordReset(ctx context.Context, u *user.User, tok string) error {
	return o.send(ctx, "reset", u.Email, tok)
}

func (o *outbox) EmailVerification(ctx context.Context, u *user.User, tok string) error {
	return o.send(ctx, "verify", u.Email, tok)
}

// Invitation makes the outbox an authv2.InvitationNotifier.
func (o *outbox) Invitation(ctx context.Context, inv *permission.Invitation, tok string) error {
	return o.send(ctx, "invite", inv.Email, tok)
}
