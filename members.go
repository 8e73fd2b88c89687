package authv2

import (
	"context"
	"errors"
	"slices"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
)

// ListMembers returns a page of the tenant's members (users with a
// membership), ordered by user ID, each with their bindings there (their
// roles, scopes and expiries): those after the user ID after ("" for the
// first page), at most limit (50 when 0 or less, at most 500). Pass the
// last user ID of a page to get the next.
func (m *Manager) ListMembers(ctx context.Context, tenantID, after string, limit int) ([]permission.Member, error) {
	if err := checkText("TenantID", tenantID, "After", after); err != nil {
		return nil, err
	}
	ms, err := m.permissions.ListMemberPage(ctx, tenantID, after, pageLimit(limit))
	return ms, translate("member.list", err)
}

type roleKey struct{ role, scope string }

// bindingChanges returns the bindings of next not in cur (or with another
// expiry), and those of cur not in next.
func bindingChanges(cur, next []permission.Binding) (added, removed []permission.Binding) {
	in := func(bs []permission.Binding, b permission.Binding) bool {
		return slices.ContainsFunc(bs, func(x permission.Binding) bool {
			return x.Role == b.Role && x.Scope == b.Scope && x.ExpiresAt.Equal(b.ExpiresAt)
		})
	}
	for _, b := range next {
		if !in(cur, b) {
			added = append(added, b)
		}
	}
	for _, b := range cur {
		if !in(next, b) {
			removed = append(removed, b)
		}
	}
	return added, removed
}

// actsInTenant reports whether the actor is a tenant administrator of
// tenantID (a session there), whose removals are held to their own
// rights; a platform operator (a session in another tenant or none) or
// code without an actor is trusted, as for every administrative change.
func actsInTenant(actor *Principal, tenantID string) bool {
	return actor != nil && actor.TenantID == tenantID
}

// SetMemberRoles replaces the user's bindings in the tenant with roles
// (each a Role at a Scope, optionally until ExpiresAt; TenantID and
// UserID are filled in). The actor must hold the rights of every binding
// it adds (ErrExceedsOwnRights, as Invite), and, when acting from a
// session in the tenant, of every binding it removes. A change that would
// leave the tenant without an owner is ErrLastOwner; the user must have a
// membership or binding there (ErrNotFound). A concurrent change of the
// same member is ErrConflict: read and try again. Sessions stay; the
// permissions change at the next check.
func (m *Manager) SetMemberRoles(ctx context.Context, tenantID, userID string, roles []permission.Binding) (*permission.Member, error) {
	if err := checkText("TenantID", tenantID, "UserID", userID); err != nil {
		return nil, err
	}
	next := make([]permission.Binding, len(roles))
	seen := map[roleKey]bool{}
	now := m.clock.Now()
	for i, b := range roles {
		b.TenantID, b.UserID, b.CreatedAt = tenantID, userID, now
		if err := checkText("Role", b.Role, "Scope", b.Scope); err != nil {
			return nil, err
		}
		if err := m.validateBinding(b); err != nil {
			return nil, err
		}
		if seen[roleKey{b.Role, b.Scope}] {
			return nil, &ValidationError{Fields: []FieldError{{Field: "Roles", Reason: "names a role at a scope twice"}}}
		}
		seen[roleKey{b.Role, b.Scope}] = true
		next[i] = b
	}
	cur, err := m.permissions.ListBindings(ctx, tenantID, userID)
	if err != nil {
		return nil, translate("binding.list", err)
	}
	added, removed := bindingChanges(cur, next)
	actor := actorFrom(ctx)
	check := added
	if actsInTenant(actor, tenantID) {
		check = append(check, removed...)
	}
	if len(check) > 0 {
		if err := m.checkGrantable(ctx, actor, tenantID, check); err != nil {
			return nil, err
		}
	}
	before, after, err := m.updateMember(ctx, tenantID, userID, func(mb *permission.Member) error {
		// The rights checked were those of the bindings read above.
		if a, r := bindingChanges(cur, mb.Bindings); len(a)+len(r) > 0 {
			return ErrConflict
		}
		mb.Bindings = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.policyChanged(ctx, tenantID)
	return &after, m.adminEvent(ctx, "member.roles", tenantID, "user:"+userID, before.Bindings, after.Bindings)
}

// updateMember is the store's UpdateMember with its errors translated;
// fn's own errors pass.
func (m *Manager) updateMember(ctx context.Context, tenantID, userID string, fn func(*permission.Member) error) (before, after permission.Member, err error) {
	before, after, err = m.permissions.UpdateMember(ctx, tenantID, userID, fn)
	if errors.Is(err, ErrNotMember) {
		return before, after, err
	}
	return before, after, translate("member.update", err)
}

// RemoveMember removes the user from the tenant: their membership and
// every binding there, in one store step, then ends their sessions in
// that tenant. Removing the tenant's last owner is ErrLastOwner. An actor
// acting from a session in the tenant must hold the rights of the
// bindings removed (ErrExceedsOwnRights): a tenant administrator cannot
// remove an owner they could not have made one. ErrNotFound when the
// user has neither membership nor binding there.
func (m *Manager) RemoveMember(ctx context.Context, tenantID, userID string) error {
	if err := checkText("TenantID", tenantID, "UserID", userID); err != nil {
		return err
	}
	var cur []permission.Binding
	actor := actorFrom(ctx)
	if actsInTenant(actor, tenantID) {
		var err error
		if cur, err = m.permissions.ListBindings(ctx, tenantID, userID); err != nil {
			return translate("binding.list", err)
		}
		if err := m.checkGrantable(ctx, actor, tenantID, cur); err != nil {
			return err
		}
	}
	before, _, err := m.updateMember(ctx, tenantID, userID, func(mb *permission.Member) error {
		if cur != nil {
			if a, r := bindingChanges(cur, mb.Bindings); len(a)+len(r) > 0 {
				return ErrConflict
			}
		}
		mb.IsMember, mb.Bindings = false, nil
		return nil
	})
	if err != nil {
		return err
	}
	if len(before.Bindings) > 0 {
		m.policyChanged(ctx, tenantID)
	}
	// Recorded before the sessions end: the change is made even if that
	// fails.
	if err := m.adminEvent(ctx, "member.remove", tenantID, "user:"+userID, memberState(before), nil); err != nil {
		return err
	}
	_, err = m.RevokeSessions(ctx, userID, RevokeOptions{TenantID: tenantID, Reason: session.ReasonMembershipRemoved})
	return err
}

// memberAudit is what the audit trail keeps of a member: the membership
// (zero when they had none) and their bindings.
type memberAudit struct {
	permission.Membership
	Bindings []permission.Binding `json:",omitempty"`
}

func memberState(mb permission.Member) memberAudit {
	a := memberAudit{Bindings: mb.Bindings}
	if mb.IsMember {
		a.Membership = permission.Membership{UserID: mb.UserID, TenantID: mb.TenantID, CreatedAt: mb.JoinedAt}
	}
	return a
}

// TransferOwnership makes toUserID, a member of the tenant, an owner
// (a binding of permission.OwnerRole over the whole tenant) and then
// takes the actor's own owner binding away; the actor keeps their other
// roles. The actor must be an owner, acting from a session or from an API
// key whose patterns cover the owner role (ErrExceedsOwnRights otherwise). The
// two changes are two store steps, in that order, so that the tenant
// never has no owner: if the second fails, both are owners and the error
// says so.
func (m *Manager) TransferOwnership(ctx context.Context, tenantID, toUserID string) error {
	if err := checkText("TenantID", tenantID, "UserID", toUserID); err != nil {
		return err
	}
	actor := actorFrom(ctx)
	if actor == nil {
		return ErrUnauthenticated
	}
	if actor.TenantID != "" && actor.TenantID != tenantID {
		return ErrNotMember
	}
	if actor.UserID == toUserID {
		return &ValidationError{Fields: []FieldError{{Field: "UserID", Reason: "is the current owner"}}}
	}
	own, err := m.permissions.ListBindings(ctx, tenantID, actor.UserID)
	if err != nil {
		return translate("binding.list", err)
	}
	if !slices.ContainsFunc(own, permission.IsOwner) || !permission.ScopeCovers(actor.Scope, "") {
		return ErrExceedsOwnRights
	}
	if actor.APIKey != nil {
		// A key hands out only what its patterns cover: all of the owner role.
		if err := m.checkGrantable(ctx, actor, tenantID, []permission.Binding{{TenantID: tenantID, Role: permission.OwnerRole}}); err != nil {
			return err
		}
	}
	owner := permission.Binding{TenantID: tenantID, UserID: toUserID, Role: permission.OwnerRole, CreatedAt: m.clock.Now()}
	_, _, err = m.updateMember(ctx, tenantID, toUserID, func(mb *permission.Member) error {
		if !mb.IsMember {
			return ErrNotMember
		}
		if !mb.Owner() {
			mb.Bindings = append(mb.Bindings, owner)
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		err = ErrNotMember
	}
	if err != nil {
		return err
	}
	_, _, err = m.updateMember(ctx, tenantID, actor.UserID, func(mb *permission.Member) error {
		mb.Bindings = slices.DeleteFunc(mb.Bindings, permission.IsOwner)
		return nil
	})
	m.policyChanged(ctx, tenantID)
	type transfer struct {
		Owner string `json:"owner"`
	}
	if err != nil {
		// Both are owners now; say so in the trail, then fail.
		return errors.Join(m.adminEvent(ctx, "owner.add", tenantID, "user:"+toUserID, nil, transfer{toUserID}), err)
	}
	return m.adminEvent(ctx, "owner.transfer", tenantID, "user:"+toUserID, transfer{actor.UserID}, transfer{toUserID})
}
