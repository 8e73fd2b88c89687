package authv2

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

// checkGrantable refuses, with ErrExceedsOwnRights, bindings the actor
// could not hold out: an actor hands out only rights they hold. For each
// binding, its scope must lie inside the actor's session scope, and every
// allow grant its role carries (with what it inherits) must be covered,
// at the binding's scope, by an allow of the actor's that holds without
// a condition or with the very same one. A deny of the actor's that
// overlaps such a grant, at that scope or at any scope below it where the
// actor holds a binding, refuses it too (the invitee would be allowed
// there and the actor is not), unless the role given denies as much
// itself. The actor's rights come from the engine (EffectivePermissions),
// so they are what Authorize would apply, expired bindings excluded.
// An actor with an API key holds only what its patterns cover: each grant
// must fall under one of them too.
// The check is conservative: what it cannot prove is held, it refuses.
func (m *Manager) checkGrantable(ctx context.Context, actor *Principal, tenantID string, bs []permission.Binding) error {
	return m.checkCovered(ctx, actor, tenantID, bs, false)
}

// checkCovered is checkGrantable; asActor is for rights the actor will
// use as the other user (impersonation), where a condition is evaluated
// against that user, not the actor: the same condition text proves
// nothing (it may read principal.roles or principal.attributes, which
// differ), so a conditioned allow is covered only by an unconditional
// allow of the actor's, and an actor's deny only by an unconditional
// deny of the role's.
func (m *Manager) checkCovered(ctx context.Context, actor *Principal, tenantID string, bs []permission.Binding, asActor bool) error {
	if actor == nil {
		return ErrUnauthenticated
	}
	if actor.TenantID != "" && actor.TenantID != tenantID {
		return ErrNotMember
	}
	var own []permission.Binding // the actor's bindings, read once when needed
	for _, b := range bs {
		if !permission.ScopeCovers(actor.Scope, b.Scope) {
			return ErrExceedsOwnRights
		}
		allows, denies, err := m.roleGrants(ctx, tenantID, b.Role)
		if err != nil {
			return err
		}
		if len(allows) == 0 {
			continue
		}
		if actor.APIKey != nil && !keyCoversAll(actor.APIKey.Permissions, allows) {
			return ErrExceedsOwnRights
		}
		if own == nil {
			if own, err = m.permissions.ListBindings(ctx, tenantID, actor.UserID); err != nil {
				return translate("binding.list", err)
			}
		}
		// The binding's scope, and every scope below it the actor has a
		// binding at (its denies there bind the actor only).
		scopes := []string{b.Scope}
		for _, o := range own {
			if o.Scope != b.Scope && permission.ScopeCovers(b.Scope, o.Scope) {
				scopes = append(scopes, o.Scope)
			}
		}
		for _, scope := range scopes {
			held, err := m.engine.EffectivePermissions(ctx, tenantID, actor.UserID, scope)
			if err != nil {
				return authzError(err)
			}
			for _, g := range allows {
				if !covered(held, g, denies, asActor) {
					return ErrExceedsOwnRights
				}
			}
		}
	}
	return nil
}

// covered reports whether held (the actor's rules at one scope) lets
// them hand out the allow grant g of a role that also denies denies;
// asActor as for checkCovered.
func covered(held []permission.Rule, g permission.Grant, denies []permission.Grant, asActor bool) bool {
	gp, err := permission.ParsePermission(g.Permission)
	if err != nil {
		return true // a grant that cannot match allows nothing
	}
	allowed := false
	for _, h := range held {
		hp, err := permission.ParsePermission(h.Permission)
		if err != nil {
			continue
		}
		switch h.Effect {
		case permission.Allow:
			if (h.Condition == "" || (!asActor && sameCondition(h.Condition, g.Condition))) && permCovers(hp, gp) {
				allowed = true
			}
		case permission.Deny:
			if overlaps(hp, gp) && !deniedToo(denies, hp, h.Condition, asActor) {
				return false
			}
		}
	}
	return allowed
}

// keyCoversAll reports whether every grant falls under one of an API
// key's patterns ("orders:*" covers "orders:read", not "*").
func keyCoversAll(patterns []string, grants []permission.Grant) bool {
	for _, g := range grants {
		gp, err := permission.ParsePermission(g.Permission)
		if err != nil {
			continue // a grant that cannot match allows nothing
		}
		if !slices.ContainsFunc(patterns, func(p string) bool {
			kp, err := permission.ParsePermission(p)
			return err == nil && permCovers(kp, gp)
		}) {
			return false
		}
	}
	return true
}

// deniedToo reports whether the role's own denies take away at least what
// the actor's deny p (under cond) does; asActor as for checkCovered.
func deniedToo(denies []permission.Grant, p permission.Permission, cond string, asActor bool) bool {
	for _, d := range denies {
		dp, err := permission.ParsePermission(d.Permission)
		if err == nil && (d.Condition == "" || (!asActor && sameCondition(d.Condition, cond))) && permCovers(dp, p) {
			return true
		}
	}
	return false
}

// sameCondition reports whether a condition of the actor's holds exactly
// when one of the role given does: the same text, reading nothing of the
// principal. A condition is evaluated against whoever acts, so one that
// reads principal (its roles, attributes, ID) may be false for the actor
// and true for the grantee: "senior" in principal.roles, held by a clerk
// who is no senior, hands nothing out. Conservative: any mention of
// principal counts as reading it.
func sameCondition(held, given string) bool {
	return held == given && !strings.Contains(given, "principal")
}

// permCovers reports whether outer matches every check inner matches.
func permCovers(outer, inner permission.Permission) bool {
	return (outer.Resource == permission.Wildcard || outer.Resource == inner.Resource) &&
		(outer.Action == permission.Wildcard || outer.Action == inner.Action)
}

// overlaps reports whether some check matches both a and b.
func overlaps(a, b permission.Permission) bool {
	return (a.Resource == permission.Wildcard || b.Resource == permission.Wildcard || a.Resource == b.Resource) &&
		(a.Action == permission.Wildcard || b.Action == permission.Wildcard || a.Action == b.Action)
}

// maxRoleWalk bounds the roles roleGrants follows; the store refuses
// cycles, so this only guards against a store that does not.
const maxRoleWalk = 1024

// roleGrants returns the allow and deny grants the role name means in the
// tenant (the tenant's role, else the template), with those of every role
// it inherits, each parent resolved the same way. A role that does not
// exist is a *ValidationError on Role.
func (m *Manager) roleGrants(ctx context.Context, tenantID, name string) (allows, denies []permission.Grant, err error) {
	seen := map[string]bool{}
	queue := []string{name}
	for len(queue) > 0 && len(seen) < maxRoleWalk {
		n := queue[0]
		queue = queue[1:]
		if seen[n] {
			continue
		}
		seen[n] = true
		r, err := m.permissions.GetRole(ctx, tenantID, n)
		if errors.Is(err, store.ErrNotFound) {
			r, err = m.permissions.GetRole(ctx, permission.GlobalTenant, n)
		}
		if errors.Is(err, store.ErrNotFound) {
			if n == name {
				return nil, nil, &ValidationError{Fields: []FieldError{{Field: "Role", Reason: "no such role"}}}
			}
			continue // a parent gone meanwhile grants nothing
		}
		if err != nil {
			return nil, nil, translate("role.get", err)
		}
		for _, g := range r.Grants {
			if g.Effect == permission.Allow {
				allows = append(allows, g)
			} else {
				denies = append(denies, g) // the engine reads any other effect as deny
			}
		}
		queue = append(queue, r.Parents...)
	}
	return allows, denies, nil
}
