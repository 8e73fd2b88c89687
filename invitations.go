package authv2

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/randid"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/user"
)

// InvitationNotifier is implemented by a Notifier that delivers
// invitations (the application sends the e-mail with a link carrying the
// token); Invite and ResendInvitation need it. inv is the invitation
// without its token hash.
type InvitationNotifier interface {
	Invitation(ctx context.Context, inv *permission.Invitation, token string) error
}

const (
	// invitationPrefix starts invitation tokens, so a leaked one is
	// recognisable.
	invitationPrefix = "av2i_"
	// invitationPurpose names invitation tokens to newOneTimeToken; the
	// token carries the invitation's ID where others carry a user's.
	invitationPurpose = "invitation"
)

// InviteInput is what Invite needs.
type InviteInput struct {
	TenantID string
	Email    string
	// Role and Scope are the binding the invitee gets ("" is the whole
	// tenant). The actor must hold every right the role carries there.
	Role  string
	Scope string
}

// invitationState is what the audit trail keeps of an invitation (never
// its token hash).
type invitationState struct {
	Email     string                      `json:"email"`
	Role      string                      `json:"role"`
	Scope     string                      `json:"scope,omitempty"`
	Status    permission.InvitationStatus `json:"status"`
	ExpiresAt time.Time                   `json:"expires_at"`
}

func stateOf(inv *permission.Invitation) invitationState {
	return invitationState{Email: inv.Email, Role: inv.Role, Scope: inv.Scope, Status: inv.Status, ExpiresAt: inv.ExpiresAt}
}

// public is an invitation as callers see it: without its token hash.
func public(inv *permission.Invitation) *permission.Invitation {
	c := inv.Clone()
	c.TokenHash = nil
	return c
}

func (m *Manager) invitationNotifier() (InvitationNotifier, error) {
	n, ok := m.notifier.(InvitationNotifier)
	if !ok {
		return nil, &ConfigError{Field: "Notifier", Reason: "invitations need a Notifier that implements InvitationNotifier"}
	}
	return n, nil
}

// Invite invites an email address to a tenant with a role at a scope,
// and sends the single-use token through the Notifier (an
// InvitationNotifier) in the background. The actor (WithActor, else the
// request's principal) is the inviter: they must hold every right the
// role gives at that scope (ErrExceedsOwnRights), and their session must
// be in that tenant or in none (ErrNotMember). The token expires after
// Config.InvitationTTL; only its hash is stored.
func (m *Manager) Invite(ctx context.Context, in InviteInput) (*permission.Invitation, error) {
	if err := checkText("TenantID", in.TenantID, "Role", in.Role, "Scope", in.Scope); err != nil {
		return nil, err
	}
	if err := m.inputs.email(in.Email); err != nil {
		return nil, err
	}
	// The invitee stands in for the user the binding will name.
	if err := m.validateBinding(permission.Binding{UserID: in.Email, TenantID: in.TenantID, Role: in.Role, Scope: in.Scope}); err != nil {
		return nil, err
	}
	n, err := m.invitationNotifier()
	if err != nil {
		return nil, err
	}
	actor := actorFrom(ctx)
	if err := m.checkGrantable(ctx, actor, in.TenantID, []permission.Binding{{TenantID: in.TenantID, Role: in.Role, Scope: in.Scope}}); err != nil {
		return nil, err
	}
	now := m.clock.Now()
	id := randid.ID()
	tok, rec := newOneTimeToken(invitationPurpose, id, now.Add(m.cfg.InvitationTTL))
	inv := &permission.Invitation{ID: id, TenantID: in.TenantID, Email: in.Email, Role: in.Role, Scope: in.Scope,
		TokenHash: rec.Hash, Status: permission.InvitationPending, InvitedBy: actor.UserID,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: rec.ExpiresAt}
	if err := m.permissions.CreateInvitation(ctx, inv); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, &ValidationError{Fields: []FieldError{{Field: "TenantID", Reason: "no such tenant"}}}
		}
		return nil, translate("invitation.create", err)
	}
	out := public(inv)
	m.notify(ctx, func(ctx context.Context) error { return n.Invitation(ctx, out.Clone(), tok) })
	return out, m.adminEvent(ctx, "invitation.create", in.TenantID, "invitation:"+id, nil, stateOf(inv))
}

// pageLimit is the size of a page of a list: limit, 50 when it is 0 or
// less, at most 500.
func pageLimit(limit int) int {
	if limit <= 0 {
		return 50
	}
	return min(limit, 500)
}

// ListInvitations returns a page of the tenant's invitations, ordered by
// ID: those after the ID after ("" for the first page), at most limit
// (see pageLimit). Pass the last ID of a page to get the next.
func (m *Manager) ListInvitations(ctx context.Context, tenantID, after string, limit int) ([]*permission.Invitation, error) {
	if err := checkText("TenantID", tenantID, "After", after); err != nil {
		return nil, err
	}
	invs, err := m.permissions.ListInvitations(ctx, tenantID, after, pageLimit(limit))
	if err != nil {
		return nil, translate("invitation.list", err)
	}
	for i, inv := range invs {
		invs[i] = public(inv)
	}
	return invs, nil
}

// changeInvitation applies fn to a pending invitation of the tenant: one
// of another tenant is ErrNotFound, an accepted or revoked one ErrConflict.
func (m *Manager) changeInvitation(ctx context.Context, tenantID, id string, fn func(*permission.Invitation)) (before, after *permission.Invitation, err error) {
	if err := checkText("TenantID", tenantID, "ID", id); err != nil {
		return nil, nil, err
	}
	after, err = m.permissions.UpdateInvitation(ctx, id, func(inv *permission.Invitation) error {
		switch {
		case inv.TenantID != tenantID:
			return store.ErrNotFound
		case inv.Status != permission.InvitationPending:
			return ErrConflict
		}
		before = inv.Clone()
		fn(inv)
		inv.UpdatedAt = m.clock.Now()
		return nil
	})
	if err != nil {
		return nil, nil, translate("invitation.update", err)
	}
	return before, after, nil
}

// ResendInvitation sends a pending invitation again with a new token and
// a new expiry (Config.InvitationTTL from now): the old token stops
// working. The actor must be able to hand out its role as Invite
// requires; an expired invitation can be resent, an accepted or revoked
// one cannot (ErrConflict).
func (m *Manager) ResendInvitation(ctx context.Context, tenantID, id string) (*permission.Invitation, error) {
	if err := checkText("TenantID", tenantID, "ID", id); err != nil {
		return nil, err
	}
	n, err := m.invitationNotifier()
	if err != nil {
		return nil, err
	}
	cur, err := m.permissions.GetInvitation(ctx, id)
	if err != nil || cur.TenantID != tenantID {
		return nil, cmp.Or(translate("invitation.get", err), ErrNotFound)
	}
	actor := actorFrom(ctx)
	if err := m.checkGrantable(ctx, actor, tenantID, []permission.Binding{{TenantID: tenantID, Role: cur.Role, Scope: cur.Scope}}); err != nil {
		return nil, err
	}
	tok, rec := newOneTimeToken(invitationPurpose, id, m.clock.Now().Add(m.cfg.InvitationTTL))
	before, after, err := m.changeInvitation(ctx, tenantID, id, func(inv *permission.Invitation) {
		// Role and scope as checked: a resend never re-arms something else.
		inv.Role, inv.Scope = cur.Role, cur.Scope
		inv.TokenHash, inv.ExpiresAt, inv.InvitedBy = rec.Hash, rec.ExpiresAt, actor.UserID
	})
	if err != nil {
		return nil, err
	}
	out := public(after)
	m.notify(ctx, func(ctx context.Context) error { return n.Invitation(ctx, out.Clone(), tok) })
	return out, m.adminEvent(ctx, "invitation.resend", tenantID, "invitation:"+id, stateOf(before), stateOf(after))
}

// RevokeInvitation revokes a pending invitation: its token stops
// working. An accepted or revoked one is ErrConflict.
func (m *Manager) RevokeInvitation(ctx context.Context, tenantID, id string) error {
	before, after, err := m.changeInvitation(ctx, tenantID, id, func(inv *permission.Invitation) {
		inv.Status = permission.InvitationRevoked
	})
	if err != nil {
		return err
	}
	return m.adminEvent(ctx, "invitation.revoke", tenantID, "invitation:"+id, stateOf(before), stateOf(after))
}

// AcceptInvitationInput is what AcceptInvitation needs: the token, and,
// to sign up a new account, its password and display name.
type AcceptInvitationInput struct {
	Token       string
	Password    string
	DisplayName string
}

// usableInvitation refuses an invitation the token does not open: not
// pending, another token (resent), or expired.
func usableInvitation(hash [32]byte, now time.Time) func(*permission.Invitation) error {
	return func(inv *permission.Invitation) error {
		if inv.Status != permission.InvitationPending || subtle.ConstantTimeCompare(inv.TokenHash, hash[:]) != 1 || !now.Before(inv.ExpiresAt) {
			return ErrInvalidToken
		}
		return nil
	}
}

// AcceptInvitation uses an invitation's token. With a principal (the
// caller is signed in) it links that account, whose email must be the
// invitation's (ErrInvitationMismatch) and verified: an account awaiting
// verification is ErrEmailNotVerified. Without one it signs up a new,
// active account with the invitation's email (the token, delivered
// there, proves the address) and in's password: ErrUserExists when the
// address has an account, whose owner signs in and accepts. Either way
// the user gets a membership of the tenant and the invitation's binding,
// and the invitation is used, in one store step: none happens without the
// others. A new account is created before that step; if the step fails
// (the invitation was revoked or used meanwhile), the account is deleted
// again. An unknown, used, revoked, resent or expired token is
// ErrInvalidToken; failed uses count against the client's recovery
// budget, like reset tokens. An API key is ErrSessionRequired. The user
// is not logged in. No domain capture happens here (AddTenantDomain):
// the invitation admits to its own tenant only.
func (m *Manager) AcceptInvitation(ctx context.Context, p *Principal, in AcceptInvitationInput) (*user.User, error) {
	if p != nil {
		if err := personOnly(p); err != nil {
			return nil, err // joining a tenant is the person's own change
		}
	}
	r, err := m.reserveTokenUse(ctx, invitationPurpose, in.Token)
	if err != nil {
		return nil, err
	}
	id, hash, _ := parseOneTimeToken(invitationPurpose, in.Token)
	now := m.clock.Now()
	inv, err := m.permissions.GetInvitation(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, translate("invitation.get", err)
	}
	if err := usableInvitation(hash, now)(inv); err != nil {
		return nil, err
	}
	r.release(ctx) // the token is real: what follows is no guess
	var u *user.User
	var events []audit.Event
	created := p == nil
	if created {
		if u, err = m.signUpInvited(ctx, inv, in); err != nil {
			return nil, err
		}
		events = append(events, audit.Event{Type: audit.TypeRegister, Outcome: audit.Success, ActorUserID: u.ID, TenantID: inv.TenantID, Target: u.ID,
			Attributes: map[string]string{"invitation": inv.ID}})
	} else if u, err = m.invitedAccount(ctx, p, inv); err != nil {
		return nil, err
	}
	accepted, err := m.permissions.AcceptInvitation(ctx, inv.ID, u.ID, now, usableInvitation(hash, now))
	if err != nil {
		if created {
			// No account without its membership: the caller may retry as a
			// plain registration, or with a fresh invitation.
			if derr := m.users.Delete(context.WithoutCancel(ctx), u.ID); derr != nil {
				m.log.Error("authv2: deleting the account of a failed invitation acceptance failed", "user_id", u.ID, "error", derr)
			}
		}
		if errors.Is(err, ErrInvalidToken) {
			return nil, err
		}
		return nil, translate("invitation.accept", err)
	}
	m.policyChanged(ctx, inv.TenantID)
	actorCtx := WithActor(ctx, cmp.Or(p, &Principal{UserID: u.ID}))
	events = append(events, adminChange(actorCtx, "invitation.accept", inv.TenantID, "user:"+u.ID, stateOf(inv), stateOf(accepted)))
	// No domain capture here: the invitation is the way into its own
	// tenant only. Its link may travel other ways than mail to the
	// address (shown to the inviter to copy), so it proves nothing another
	// tenant could take the user in on.
	return u.Clone(), m.emitAll(ctx, events)
}

// signUpInvited creates the account an invitation is accepted with.
func (m *Manager) signUpInvited(ctx context.Context, inv *permission.Invitation, in AcceptInvitationInput) (*user.User, error) {
	reg := RegisterInput{Email: inv.Email, Password: in.Password, DisplayName: in.DisplayName, TenantID: inv.TenantID}
	if err := m.inputs.register(reg); err != nil {
		return nil, err
	}
	u, err := m.newUser(ctx, reg, user.StatusActive)
	if err != nil {
		return nil, err
	}
	if err := m.users.Create(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, ErrUserExists
		}
		return nil, translate("user.create", err)
	}
	return u, nil
}

// invitedAccount is the signed-in account an invitation links: its login
// email must be the invitation's, and verified.
func (m *Manager) invitedAccount(ctx context.Context, p *Principal, inv *permission.Invitation) (*user.User, error) {
	u, err := m.users.Get(ctx, p.UserID)
	if err != nil {
		return nil, translate("user.get", err)
	}
	if user.NormalizeEmail(u.Email) != user.NormalizeEmail(inv.Email) {
		return nil, ErrInvitationMismatch
	}
	if u.Status == user.StatusPendingVerification {
		return nil, ErrEmailNotVerified
	}
	return u, nil
}
