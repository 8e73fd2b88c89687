package permission

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
)

// Explanation is the full trace of one decision: every binding of the
// user in the tenant and every grant they reach, with why each did or did
// not apply.
type Explanation struct {
	Decision Decision
	Subject  Subject
	Action   string
	Resource Resource
	Bindings []BindingTrace
	Grants   []GrantTrace
}

// BindingTrace is one of the user's bindings as the check saw it.
type BindingTrace struct {
	Binding Binding
	Active  bool     // not expired
	Covers  bool     // its scope covers the resource's scope
	Roles   []string // the bound role and every ancestor found, in walk order
}

// GrantTrace is one grant the user holds through an active binding.
type GrantTrace struct {
	Rule    Rule
	Matches bool   // the permission covers the action on the resource type
	InScope bool   // the binding's scope covers the resource's scope
	Result  string // the condition's outcome: "", "true", "false", "error: ..."
	Applied bool   // this grant decided
	Note    string // why a grant was ignored, e.g. an unreadable permission
}

// String renders the explanation for logs and support tickets.
func (x *Explanation) String() string {
	var b strings.Builder
	verdict := "DENY"
	if x.Decision.Allowed {
		verdict = "ALLOW"
	}
	fmt.Fprintf(&b, "%s %s:%s on %s/%s for %s in %s: %s\n", verdict, x.Resource.Type, x.Action,
		x.Resource.Type, x.Resource.ID, x.Subject.UserID, x.Subject.TenantID, x.Decision.Reason)
	for _, bt := range x.Bindings {
		fmt.Fprintf(&b, "  binding %s at %q active=%t covers=%t roles=%v\n", bt.Binding.Role, bt.Binding.Scope, bt.Active, bt.Covers, bt.Roles)
	}
	for _, g := range x.Grants {
		mark := " "
		if g.Applied {
			mark = "*"
		}
		fmt.Fprintf(&b, " %s %s %s via %s at %q match=%t in-scope=%t", mark, g.Rule.Effect, g.Rule.Permission, g.Rule.Role, g.Rule.Scope, g.Matches, g.InScope)
		if g.Rule.Condition != "" {
			fmt.Fprintf(&b, " if %s => %s", g.Rule.Condition, g.Result)
		}
		if g.Note != "" {
			b.WriteString(" (" + g.Note + ")")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Explain decides like Authorize and says why. It reads the policy from
// the store rather than the cache, so it shows the truth of the moment,
// at the cost of a store round trip and a compilation: a tool for
// administrators and support, not for the hot path.
func (e *Engine) Explain(ctx context.Context, subj Subject, action string, res Resource, req Request) (*Explanation, error) {
	x := &Explanation{Decision: Decision{Effect: Deny}, Subject: subj, Action: action, Resource: res}
	nowNs, mono := e.times()
	e.newID(&x.Decision.ID, mono)
	if e.closed.Load() {
		x.Decision.Reason = ReasonError
		return x, ErrClosed
	}
	if why, err := precheck(&subj, action, &res); why != "" {
		x.Decision.Reason = why
		return x, err
	}
	p, err := e.store.LoadPolicy(ctx, subj.TenantID, subj.UserID)
	if err != nil {
		x.Decision.Reason = ReasonError
		return x, err
	}
	cs := compileSet(p, e.conds, e.intern, nowNs, nil, nil) // not a use: counted nowhere
	q := query{subj: &subj, res: &res, req: &req, action: action, nowNs: nowNs}
	cs.decide(&x.Decision, &q)
	var act *activation

	byName := map[string]*Role{}
	for _, r := range p.Roles {
		if old, ok := byName[r.Name]; ok && old.TenantID == p.TenantID {
			continue
		}
		if r.TenantID == p.TenantID || r.TenantID == GlobalTenant {
			byName[r.Name] = r
		}
	}
	for _, b := range p.Bindings {
		bt := BindingTrace{Binding: b, Active: unixNano(b.ExpiresAt) > nowNs, Covers: ScopeCovers(b.Scope, res.Scope)}
		seen := map[string]bool{}
		var walk func(string)
		walk = func(n string) {
			if seen[n] {
				return
			}
			seen[n] = true
			r, ok := byName[n]
			if !ok {
				return
			}
			bt.Roles = append(bt.Roles, n)
			for _, parent := range r.Parents {
				walk(parent)
			}
		}
		walk(b.Role)
		x.Bindings = append(x.Bindings, bt)
	}

	held, _, _ := collect(p, nowNs, e.intern)
	for _, h := range held {
		g := GrantTrace{
			Rule: Rule{Role: h.role, BoundRole: h.bound, Scope: h.scope, Permission: h.grant.Permission,
				Effect: effectOf(h.grant.Effect), Condition: h.grant.Condition},
			InScope: ScopeCovers(h.scope, res.Scope),
		}
		if !h.permOK {
			g.Note = "permission is malformed and grants nothing"
			x.Grants = append(x.Grants, g)
			continue
		}
		g.Rule.Permission = h.perm.String()
		g.Matches = h.perm.Matches(res.Type, action)
		if g.Matches && g.InScope && h.grant.Condition != "" {
			prog, err := e.conds.compile(h.grant.Condition)
			switch {
			case err != nil:
				g.Result = "error: " + err.Error()
			default:
				ok, err := eval(prog, q.activation(&act, cs.roles, cs.adapter))
				switch {
				case err != nil:
					g.Result = "error: " + err.Error()
				case ok:
					g.Result = "true"
				default:
					g.Result = "false"
				}
			}
		}
		g.Applied = x.Decision.rule != nil && g.Rule == x.Decision.rule.Rule
		x.Grants = append(x.Grants, g)
	}
	return x, nil
}

// EffectivePermissions lists the grants userID holds in tenantID that
// apply at scope (bindings at that scope or above it), sorted by
// permission, denies first. Conditions are listed, not evaluated.
func (e *Engine) EffectivePermissions(ctx context.Context, tenantID, userID, scope string) ([]Rule, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if err := ValidateScope(scope); err != nil {
		return nil, err
	}
	p, err := e.store.LoadPolicy(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	now, _ := e.times()
	held, _, _ := collect(p, now, e.intern)
	var out []Rule
	for _, h := range held {
		if !h.permOK || !ScopeCovers(h.scope, scope) {
			continue
		}
		out = append(out, Rule{Role: h.role, BoundRole: h.bound, Scope: h.scope, Permission: h.perm.String(),
			Effect: effectOf(h.grant.Effect), Condition: h.grant.Condition})
	}
	slices.SortStableFunc(out, func(a, b Rule) int {
		return cmp.Or(cmp.Compare(a.Permission, b.Permission), cmp.Compare(b.Effect, a.Effect),
			cmp.Compare(a.Scope, b.Scope), cmp.Compare(a.Role, b.Role))
	})
	return out, nil
}
