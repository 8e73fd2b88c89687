package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store/memory"
)

// workload is the generated policy both engines load: per tenant, 20 roles
// in three levels (4 base roles, 8 that inherit from base roles, 8 that
// inherit from those), 10 allow grants per role over 20 resource types
// and 5 actions; users spread evenly over tenants with 2 bindings each.
type workload struct {
	tenants, users int
	roles          map[string][]*permission.Role // tenant -> roles
	bindings       []permission.Binding
	checks         []check // allowed requests, mostly through inherited grants
}

type check struct{ tenant, user, typ, action string }

const (
	rolesPerTenant = 20
	grantsPerRole  = 10
	resourceTypes  = 20
	actions        = 5
	bindingsEach   = 2
)

func newWorkload(tenants, users int) *workload {
	rng := rand.New(rand.NewPCG(1, 2))
	w := &workload{tenants: tenants, users: users, roles: map[string][]*permission.Role{}}
	for t := range tenants {
		tn := fmt.Sprintf("tenant%03d", t)
		var level [3][]string
		for i := range rolesPerTenant {
			lvl := 0
			switch {
			case i >= 12:
				lvl = 2
			case i >= 4:
				lvl = 1
			}
			r := &permission.Role{TenantID: tn, Name: fmt.Sprintf("role%02d", i)}
			if lvl > 0 {
				below := level[lvl-1]
				r.Parents = []string{below[rng.IntN(len(below))]}
				if p := below[rng.IntN(len(below))]; p != r.Parents[0] {
					r.Parents = append(r.Parents, p)
				}
			}
			seen := map[string]bool{}
			for len(r.Grants) < grantsPerRole {
				perm := fmt.Sprintf("res%02d:act%d", rng.IntN(resourceTypes), rng.IntN(actions))
				if !seen[perm] {
					seen[perm] = true
					r.Grants = append(r.Grants, permission.Grant{Permission: perm, Effect: permission.Allow})
				}
			}
			level[lvl] = append(level[lvl], r.Name)
			w.roles[tn] = append(w.roles[tn], r)
		}
	}
	for u := range users {
		tn := fmt.Sprintf("tenant%03d", u%tenants)
		user := fmt.Sprintf("user%05d", u)
		for b := range bindingsEach {
			// Bind mostly top-level roles, so checks walk the hierarchy.
			role := w.roles[tn][12+rng.IntN(8)]
			if b == 1 {
				role = w.roles[tn][4+rng.IntN(8)]
			}
			w.bindings = append(w.bindings, permission.Binding{TenantID: tn, UserID: user, Role: role.Name})
		}
	}
	// Allowed checks: a grant of a base role reached through a binding.
	for u := range min(users, 4096) {
		tn := fmt.Sprintf("tenant%03d", u%tenants)
		b := w.bindings[u*bindingsEach]
		r := w.role(tn, b.Role)
		for len(r.Parents) > 0 {
			r = w.role(tn, r.Parents[0])
		}
		g := r.Grants[rng.IntN(len(r.Grants))]
		typ, act := splitPerm(g.Permission)
		w.checks = append(w.checks, check{tn, b.UserID, typ, act})
	}
	return w
}

func splitPerm(p string) (string, string) {
	for i := range len(p) {
		if p[i] == ':' {
			return p[:i], p[i+1:]
		}
	}
	return p, ""
}

func (w *workload) role(tenant, name string) *permission.Role {
	for _, r := range w.roles[tenant] {
		if r.Name == name {
			return r
		}
	}
	panic("no role " + name)
}

func (w *workload) memoryStore(tb testing.TB) *memory.PermissionStore {
	tb.Helper()
	ctx := context.Background()
	st := memory.NewPermissionStore()
	for t := range w.tenants {
		tn := fmt.Sprintf("tenant%03d", t)
		if err := st.CreateTenant(ctx, &permission.Tenant{ID: tn}); err != nil {
			tb.Fatal(err)
		}
		for _, r := range w.roles[tn] {
			if err := st.PutRole(ctx, r); err != nil {
				tb.Fatal(err)
			}
		}
	}
	for _, b := range w.bindings {
		if err := st.PutBinding(ctx, b); err != nil {
			tb.Fatal(err)
		}
	}
	return st
}

// casbinModel is Casbin's RBAC with domains: g(user, role, tenant) for
// bindings, g(child, parent, tenant) for inheritance.
const casbinModel = `
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.obj == p.obj && r.act == p.act
`

func (w *workload) casbinRules() (p, g [][]string) {
	for t := range w.tenants {
		tn := fmt.Sprintf("tenant%03d", t)
		for _, r := range w.roles[tn] {
			for _, gr := range r.Grants {
				typ, act := splitPerm(gr.Permission)
				p = append(p, []string{r.Name, tn, typ, act})
			}
			for _, parent := range r.Parents {
				g = append(g, []string{r.Name, parent, tn})
			}
		}
	}
	for _, b := range w.bindings {
		g = append(g, []string{b.UserID, b.Role, b.TenantID})
	}
	return p, g
}

func (w *workload) casbin(tb testing.TB, cached bool) casbin.IEnforcer {
	tb.Helper()
	m, err := model.NewModelFromString(casbinModel)
	if err != nil {
		tb.Fatal(err)
	}
	var e casbin.IEnforcer
	if cached {
		ce, err := casbin.NewCachedEnforcer(m)
		if err != nil {
			tb.Fatal(err)
		}
		e = ce
	} else {
		pe, err := casbin.NewEnforcer(m)
		if err != nil {
			tb.Fatal(err)
		}
		e = pe
	}
	p, g := w.casbinRules()
	if _, err := e.AddPolicies(p); err != nil {
		tb.Fatal(err)
	}
	if _, err := e.AddGroupingPolicies(g); err != nil {
		tb.Fatal(err)
	}
	return e
}
