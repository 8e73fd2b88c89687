package permission_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store/memory"
)

// The reference evaluator below is deliberately plain: no index, no
// cache, no CEL. The engine must agree with it on random policies.

type refModel struct {
	roles    map[string]map[string]*permission.Role // tenant ("" templates) -> name -> role
	bindings []permission.Binding
}

func (m *refModel) resolve(tenant, name string) *permission.Role {
	if r := m.roles[tenant][name]; r != nil {
		return r
	}
	return m.roles[permission.GlobalTenant][name]
}

func refPermMatches(perm, typ, action string) bool {
	if perm == "*" {
		return true
	}
	res, act, _ := strings.Cut(perm, ":")
	return (res == "*" || res == typ) && (act == "*" || act == action)
}

func refCovers(outer, inner string) bool {
	return outer == "" || inner == outer || strings.HasPrefix(inner, outer+"/")
}

// refCondition evaluates the few conditions the generator writes:
// (result, failed to evaluate).
func refCondition(cond string, req permission.Request) (bool, bool) {
	n, has := req.Attributes["n"].(int)
	switch cond {
	case "":
		return true, false
	case "request.n > 5":
		if !has {
			return false, true
		}
		return n > 5, false
	case "has(request.n) && request.n % 2 == 0":
		return has && n%2 == 0, false
	}
	panic("unknown condition " + cond)
}

func refDecide(m *refModel, subj permission.Subject, action string, res permission.Resource, req permission.Request, now time.Time) bool {
	if subj.TenantID == "" || subj.UserID == "" || res.TenantID != subj.TenantID || !refCovers(subj.Scope, res.Scope) {
		return false
	}
	allowed := false
	for _, b := range m.bindings {
		if b.TenantID != subj.TenantID || b.UserID != subj.UserID || !b.ActiveAt(now) || !refCovers(b.Scope, res.Scope) {
			continue
		}
		seen := map[string]bool{}
		stack := []string{b.Role}
		for len(stack) > 0 {
			name := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[name] {
				continue
			}
			seen[name] = true
			r := m.resolve(subj.TenantID, name)
			if r == nil {
				continue
			}
			for _, g := range r.Grants {
				if !refPermMatches(g.Permission, res.Type, action) {
					continue
				}
				ok, failed := refCondition(g.Condition, req)
				if g.Effect == permission.Deny && (ok || failed) {
					return false
				}
				if g.Effect == permission.Allow && ok && !failed {
					allowed = true
				}
			}
			stack = append(stack, r.Parents...)
		}
	}
	return allowed
}

var (
	genTypes   = []string{"a", "b", "c"}
	genActions = []string{"x", "y"}
	genScopes  = []string{"", "s:1", "s:1/k:2", "s:2", "s:10"}
	genConds   = []string{"", "", "", "request.n > 5", "has(request.n) && request.n % 2 == 0"}
	genTenants = []string{"t0", "t1", "t2"}
)

func genGrant(rng *rand.Rand) permission.Grant {
	var perm string
	switch rng.IntN(6) {
	case 0:
		perm = "*"
	case 1:
		perm = genTypes[rng.IntN(3)] + ":*"
	case 2:
		perm = "*:" + genActions[rng.IntN(2)]
	default:
		perm = genTypes[rng.IntN(3)] + ":" + genActions[rng.IntN(2)]
	}
	eff := permission.Allow
	if rng.IntN(4) == 0 {
		eff = permission.Deny
	}
	return permission.Grant{Permission: perm, Effect: eff, Condition: genConds[rng.IntN(len(genConds))]}
}

func genRole(rng *rand.Rand, tenant, name string, parents []string) *permission.Role {
	r := &permission.Role{TenantID: tenant, Name: name}
	for range rng.IntN(4) {
		r.Grants = append(r.Grants, genGrant(rng))
	}
	for _, p := range parents {
		if rng.IntN(3) == 0 {
			r.Parents = append(r.Parents, p)
		}
	}
	return r
}

func TestPropertyEngineAgreesWithReference(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 42))
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for round := range 30 {
		st := memory.NewPermissionStore()
		m := &refModel{roles: map[string]map[string]*permission.Role{}}
		put := func(r *permission.Role) {
			require.NoError(t, st.PutRole(ctx, r))
			if m.roles[r.TenantID] == nil {
				m.roles[r.TenantID] = map[string]*permission.Role{}
			}
			m.roles[r.TenantID][r.Name] = r.Clone()
		}
		var templates []string
		for i := range 3 {
			name := fmt.Sprintf("g%d", i)
			put(genRole(rng, permission.GlobalTenant, name, templates))
			templates = append(templates, name)
		}
		for _, tn := range genTenants {
			require.NoError(t, st.CreateTenant(ctx, &permission.Tenant{ID: tn}))
			names := append([]string(nil), templates...)
			for i := range 5 {
				name := fmt.Sprintf("r%d", i)
				put(genRole(rng, tn, name, names))
				names = append(names, name)
			}
			if rng.IntN(2) == 0 { // shadow a template
				put(genRole(rng, tn, "g0", nil))
			}
			for u := range 4 {
				for range 1 + rng.IntN(3) {
					b := permission.Binding{TenantID: tn, UserID: fmt.Sprintf("u%d", u), Role: names[rng.IntN(len(names))], Scope: genScopes[rng.IntN(len(genScopes))]}
					if rng.IntN(5) == 0 {
						b.ExpiresAt = t0.Add(time.Duration(rng.IntN(3)-1) * time.Hour)
					}
					require.NoError(t, st.PutBinding(ctx, b))
				}
			}
		}
		bs := []permission.Binding{}
		for _, tn := range genTenants {
			x, err := st.ListBindings(ctx, tn, "")
			require.NoError(t, err)
			bs = append(bs, x...)
		}
		m.bindings = bs

		clock := &fakeClock{now: t0}
		e, err := permission.NewEngine(st, permission.WithClock(clock))
		require.NoError(t, err)
		for range 400 {
			tn := genTenants[rng.IntN(3)]
			subj := permission.Subject{TenantID: tn, UserID: fmt.Sprintf("u%d", rng.IntN(5))}
			if rng.IntN(8) == 0 {
				subj.Scope = genScopes[rng.IntN(len(genScopes))]
			}
			res := permission.Resource{TenantID: tn, Type: genTypes[rng.IntN(3)], ID: "r", Scope: genScopes[rng.IntN(len(genScopes))]}
			if rng.IntN(6) == 0 {
				res.TenantID = genTenants[rng.IntN(3)]
			}
			action := genActions[rng.IntN(2)]
			req := permission.Request{}
			if rng.IntN(4) != 0 {
				req.Attributes = map[string]any{"n": rng.IntN(10)}
			}
			want := refDecide(m, subj, action, res, req, clock.now)
			d, err := e.Authorize(ctx, subj, action, res, req)
			require.NoError(t, err)
			require.Equal(t, want, d.Allowed, "round %d: %+v %s %+v %+v", round, subj, action, res, req)
			if res.TenantID != subj.TenantID {
				require.False(t, d.Allowed, "allowed across a tenant boundary")
			}
			if d.Allowed {
				require.Equal(t, permission.Allow, d.Rule().Effect)
			}
			if rng.IntN(10) == 0 {
				x, err := e.Explain(ctx, subj, action, res, req)
				require.NoError(t, err)
				require.Equal(t, d.Allowed, x.Decision.Allowed)
				require.Equal(t, d.Reason, x.Decision.Reason)
			}
		}
		require.NoError(t, e.Close())
	}
}

// TestPropertyDenyAlwaysWins adds a matching unconditional deny anywhere in
// a random policy and checks nothing it covers is ever allowed.
func TestPropertyDenyAlwaysWins(t *testing.T) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	ctx := context.Background()
	for range 50 {
		f := newFixture(t, "t")
		names := []string{}
		for i := range 4 {
			r := genRole(rng, "t", fmt.Sprintf("r%d", i), names)
			r.Grants = append(r.Grants, allow("*"))
			require.NoError(t, f.store.PutRole(ctx, r))
			names = append(names, r.Name)
		}
		f.role("t", "blocker", nil, deny("a:x"))
		f.bind("t", "u", names[rng.IntN(len(names))], genScopes[rng.IntN(len(genScopes))])
		blockScope := genScopes[rng.IntN(len(genScopes))]
		f.bind("t", "u", "blocker", blockScope)
		e := f.engine()
		for _, sc := range genScopes {
			d, err := e.Authorize(ctx, subject("t", "u"), "x", resource("t", "a", sc), permission.Request{Attributes: map[string]any{"n": rng.IntN(10)}})
			require.NoError(t, err)
			if refCovers(blockScope, sc) {
				require.False(t, d.Allowed, "deny at %q must cover %q", blockScope, sc)
				require.Equal(t, permission.ReasonDenied, d.Reason)
			}
		}
	}
}

// TestPropertyCacheFollowsWrites interleaves random writes and checks: a
// cached engine told of each change must answer like a fresh one.
func TestPropertyCacheFollowsWrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	ctx := context.Background()
	f := newFixture(t, "t")
	names := []string{}
	for i := range 4 {
		r := genRole(rng, "t", fmt.Sprintf("r%d", i), names)
		require.NoError(t, f.store.PutRole(ctx, r))
		names = append(names, r.Name)
	}
	cached := f.engine(permission.WithMaxStaleness(-1))
	for range 300 {
		switch rng.IntN(3) {
		case 0:
			name := names[rng.IntN(len(names))]
			old, err := f.store.GetRole(ctx, "t", name)
			require.NoError(t, err)
			r := genRole(rng, "t", name, nil)
			r.Parents = old.Parents
			require.NoError(t, f.store.PutRole(ctx, r))
		case 1:
			f.bind("t", fmt.Sprintf("u%d", rng.IntN(3)), names[rng.IntN(len(names))], genScopes[rng.IntN(len(genScopes))])
		default:
			bs, err := f.store.ListBindings(ctx, "t", "")
			require.NoError(t, err)
			if len(bs) > 0 {
				require.NoError(t, f.store.DeleteBinding(ctx, bs[rng.IntN(len(bs))]))
			}
		}
		require.NoError(t, cached.PolicyChanged(ctx, "t"))
		fresh := f.engine(permission.WithCacheSize(0))
		for range 10 {
			subj := subject("t", fmt.Sprintf("u%d", rng.IntN(3)))
			res := resource("t", genTypes[rng.IntN(3)], genScopes[rng.IntN(len(genScopes))])
			action := genActions[rng.IntN(2)]
			req := permission.Request{Attributes: map[string]any{"n": rng.IntN(10)}}
			a, err := cached.Authorize(ctx, subj, action, res, req)
			require.NoError(t, err)
			b, err := fresh.Authorize(ctx, subj, action, res, req)
			require.NoError(t, err)
			require.Equal(t, b.Allowed, a.Allowed)
		}
		require.NoError(t, fresh.Close())
	}
}
