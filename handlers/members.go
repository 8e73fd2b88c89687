package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/permission"
)

// membersType is the resource type the member routes authorize on: the
// caller needs members:read, members:invite, members:update or
// members:remove in their session's tenant.
const membersType = "members"

// tenantAdmin lets through callers whose session is in a tenant and who
// may perform action on its members there (no check when action is "":
// the Manager checks itself); the handler acts in that tenant. A session
// in no tenant is 403 not-member.
func (k *kit) tenantAdmin(action string, h func(http.ResponseWriter, *http.Request, *authv2.Principal)) http.Handler {
	return k.authed(func(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
		if p.TenantID == "" {
			k.fail(w, r, authv2.ErrNotMember)
			return
		}
		if action != "" {
			d, err := k.m.Authorize(r.Context(), p, action, permission.Resource{Type: membersType, TenantID: p.TenantID})
			if err != nil {
				k.fail(w, r, err)
				return
			}
			if !d.Allowed {
				k.fail(w, r, authv2.ErrForbidden)
				return
			}
		}
		h(w, r, p)
	})
}

// page reads ?after= and ?limit= (absent: the Manager's default; the
// Manager also caps it). A limit that is not a whole number of 0 or more
// answers 400 validation rather than quietly becoming the default.
func (k *kit) page(w http.ResponseWriter, r *http.Request) (after string, limit int, ok bool) {
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			k.fail(w, r, &authv2.ValidationError{Fields: []authv2.FieldError{{Field: "limit", Reason: "must be a whole number of 0 or more"}}})
			return "", 0, false
		}
		limit = n
	}
	return r.URL.Query().Get("after"), limit, true
}

type bindingJSON struct {
	Role      string     `json:"role"`
	Scope     string     `json:"scope,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func newBindingsJSON(bs []permission.Binding) []bindingJSON {
	out := make([]bindingJSON, 0, len(bs))
	for _, b := range bs {
		j := bindingJSON{Role: b.Role, Scope: b.Scope}
		if !b.ExpiresAt.IsZero() {
			j.ExpiresAt = &b.ExpiresAt
		}
		out = append(out, j)
	}
	return out
}

type memberJSON struct {
	UserID   string        `json:"user_id"`
	JoinedAt time.Time     `json:"joined_at"`
	Owner    bool          `json:"owner"`
	Roles    []bindingJSON `json:"roles"`
}

func newMemberJSON(mb *permission.Member) memberJSON {
	return memberJSON{UserID: mb.UserID, JoinedAt: mb.JoinedAt, Owner: mb.Owner(), Roles: newBindingsJSON(mb.Bindings)}
}

// handleListMembers lists a page of the tenant's members with their roles.
func (k *kit) handleListMembers(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	after, limit, ok := k.page(w, r)
	if !ok {
		return
	}
	ms, err := k.m.ListMembers(r.Context(), p.TenantID, after, limit)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	out := make([]memberJSON, len(ms))
	for i := range ms {
		out[i] = newMemberJSON(&ms[i])
	}
	writeJSON(w, http.StatusOK, out)
}

// handleSetRoles replaces a member's roles; the Manager refuses rights
// the caller does not hold (403 exceeds-own-rights) and the last owner's
// demotion (409 last-owner).
func (k *kit) handleSetRoles(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	var in struct {
		Roles []bindingJSON `json:"roles"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	bs := make([]permission.Binding, len(in.Roles))
	for i, b := range in.Roles {
		bs[i] = permission.Binding{Role: b.Role, Scope: b.Scope}
		if b.ExpiresAt != nil {
			bs[i].ExpiresAt = *b.ExpiresAt
		}
	}
	mb, err := k.m.SetMemberRoles(r.Context(), p.TenantID, r.PathValue("id"), bs)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newMemberJSON(mb))
}

// handleRemoveMember removes a member and ends their sessions in the
// tenant.
func (k *kit) handleRemoveMember(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	if err := k.m.RemoveMember(r.Context(), p.TenantID, r.PathValue("id")); err != nil {
		k.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleTransferOwnership makes user_id an owner in the caller's place;
// only an owner can.
func (k *kit) handleTransferOwnership(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	var in struct {
		UserID string `json:"user_id"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	if err := k.m.TransferOwnership(r.Context(), p.TenantID, in.UserID); err != nil {
		k.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// invitationJSON is an invitation as administrators see it (never its
// token, which only the invitee's mailbox gets).
type invitationJSON struct {
	ID         string    `json:"id"`
	Email      string    `json:"email"`
	Role       string    `json:"role"`
	Scope      string    `json:"scope,omitempty"`
	Status     string    `json:"status"` // pending until ExpiresAt, accepted or revoked
	InvitedBy  string    `json:"invited_by"`
	AcceptedBy string    `json:"accepted_by,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

func newInvitationJSON(inv *permission.Invitation) invitationJSON {
	return invitationJSON{ID: inv.ID, Email: inv.Email, Role: inv.Role, Scope: inv.Scope, Status: string(inv.Status),
		InvitedBy: inv.InvitedBy, AcceptedBy: inv.AcceptedBy, CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt}
}

// handleInvite invites an address to the caller's tenant; the token goes
// to the Notifier, never into the answer.
func (k *kit) handleInvite(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	var in struct {
		Email string `json:"email"`
		Role  string `json:"role"`
		Scope string `json:"scope"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	inv, err := k.m.Invite(r.Context(), authv2.InviteInput{TenantID: p.TenantID, Email: in.Email, Role: in.Role, Scope: in.Scope})
	if err != nil {
		k.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, newInvitationJSON(inv))
}

// handleListInvitations lists a page of the tenant's invitations.
func (k *kit) handleListInvitations(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	after, limit, ok := k.page(w, r)
	if !ok {
		return
	}
	invs, err := k.m.ListInvitations(r.Context(), p.TenantID, after, limit)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	out := make([]invitationJSON, len(invs))
	for i, inv := range invs {
		out[i] = newInvitationJSON(inv)
	}
	writeJSON(w, http.StatusOK, out)
}

// handleResendInvitation sends a pending invitation again with a new
// token; the old one stops working.
func (k *kit) handleResendInvitation(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	inv, err := k.m.ResendInvitation(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		k.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newInvitationJSON(inv))
}

// handleRevokeInvitation revokes a pending invitation.
func (k *kit) handleRevokeInvitation(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
	if err := k.m.RevokeInvitation(r.Context(), p.TenantID, r.PathValue("id")); err != nil {
		k.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleAcceptInvitation uses an invitation's token: a signed-in caller
// links their account (its verified address must be the invitation's),
// anyone else signs up with a password. Nobody is logged in: the new
// member logs in next, into the tenant.
func (k *kit) handleAcceptInvitation(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token       string `json:"token"`
		Password    string `json:"password"`
		DisplayName string `json:"display_name"`
	}
	if !k.decode(w, r, &in) {
		return
	}
	p, signedIn := authv2.PrincipalFrom(r.Context())
	u, err := k.m.AcceptInvitation(r.Context(), p, authv2.AcceptInvitationInput{Token: in.Token, Password: in.Password, DisplayName: in.DisplayName})
	if err != nil {
		k.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	if signedIn {
		status = http.StatusOK
	}
	writeJSON(w, status, newUserJSON(u))
}
