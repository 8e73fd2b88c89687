package permission

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// Many tenants compile sets, each over its own vocabulary, while a
// hostile tenant keeps starting new generations of its own with names no
// one else uses: every set, old or new, of any tenant, still decides
// exactly what it holds. (The engine once shared one vocabulary between
// tenants; this is the isolation that sharing gave up.)
func TestVocabulariesOfTenantsUnderRollover(t *testing.T) {
	e := &Engine{conds: mustConditions(t), intern: newInterner(), usage: newUsage(), tenants: map[string]*tenantState{}}
	evil := e.tenant("evil")
	policy := func(tenant, user string, version int64, perms []string) *Policy {
		r := &Role{TenantID: tenant, Name: "r"}
		for _, perm := range perms {
			r.Grants = append(r.Grants, Grant{Permission: perm, Effect: Allow})
		}
		return &Policy{TenantID: tenant, UserID: user, Version: version, Roles: []*Role{r},
			Bindings: []Binding{{TenantID: tenant, UserID: user, Role: r.Name}}}
	}
	allows := func(cs *compiledSet, tenant, perm string) bool {
		res, action, _ := strings.Cut(perm, ":")
		var d Decision
		cs.decide(&d, &query{subj: &Subject{UserID: "u", TenantID: tenant}, res: &Resource{TenantID: tenant, Type: res}, action: action, nowNs: 1})
		return d.Allowed
	}
	const tenants, rounds = 24, 40
	// Names every tenant may use, and names of one tenant only.
	common := make([]string, 40)
	for i := range common {
		common[i] = fmt.Sprintf("c%d:read", i)
	}
	stop := make(chan struct{})
	var hostile sync.WaitGroup
	hostile.Add(1)
	go func() { // two disjoint pools, each more than half a generation
		defer hostile.Done()
		pools := [2][]string{make([]string, maxVocab/2+100), make([]string, maxVocab/2+100)}
		for p := range pools {
			for i := range pools[p] {
				pools[p][i] = fmt.Sprintf("h%d_%d:x", p, i)
			}
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			evil.number(pools[i%2])
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, tenants)
	for tn := range tenants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tenant := fmt.Sprintf("t%d", tn)
			ts := e.tenant(tenant)
			rng := rand.New(rand.NewPCG(uint64(tn), 1))
			own := make([]string, 60)
			for i := range own {
				own[i] = fmt.Sprintf("%s_%d:act", tenant, i)
			}
			universe := append(append([]string(nil), common...), own...)
			type kept struct {
				cs   *compiledSet
				held map[string]bool
			}
			var sets []kept
			for round := range rounds {
				held := map[string]bool{}
				var perms []string
				for _, p := range universe {
					if rng.IntN(3) == 0 {
						held[p] = true
						perms = append(perms, p)
					}
				}
				cs := e.compileShared(policy(tenant, fmt.Sprintf("u%d", round), int64(round+1), perms), ts, 0)
				sets = append(sets, kept{cs, held})
				for _, k := range sets {
					for _, p := range universe {
						if got := allows(k.cs, tenant, p); got != k.held[p] {
							errs <- fmt.Errorf("%s round %d: %s allowed %t, want %t (set gen %d, now %d)", tenant, round, p, got, k.held[p], k.cs.vocab.gen, ts.vocab.Load().gen)
							return
						}
					}
					// Another tenant's and the hostile tenant's names are never held.
					for _, p := range []string{"h0_1:x", "h1_1:x", fmt.Sprintf("t%d_1:act", (tn+1)%tenants)} {
						if allows(k.cs, tenant, p) {
							errs <- fmt.Errorf("%s: allowed %s", tenant, p)
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	hostile.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if g := evil.vocab.Load().gen; g < 2 {
		t.Fatalf("only %d rollovers: the test did not exercise generations", g)
	}
}

// A set's bitmap costs what the set names, not what the engine's other
// tenants named before it: a tenant whose neighbour named thousands of
// permissions of its own must not get a bitmap (and a check walking it)
// spanning all of them.
func TestSetSizeIgnoresNeighbourNames(t *testing.T) {
	e := &Engine{conds: mustConditions(t), intern: newInterner(), usage: newUsage(), tenants: map[string]*tenantState{}}
	evil := make([]string, maxVocab-1000)
	for i := range evil {
		evil[i] = fmt.Sprintf("custom%d:a", i)
	}
	e.tenant("evil").number(evil)
	r := &Role{TenantID: "acme", Name: "clerk", Grants: []Grant{
		{Permission: "orders:read", Effect: Allow}, {Permission: "orders:write", Effect: Allow},
		{Permission: "custom5:a", Effect: Allow}, {Permission: "invoices:read", Effect: Allow},
	}}
	p := &Policy{TenantID: "acme", UserID: "u", Version: 1, Roles: []*Role{r},
		Bindings: []Binding{{TenantID: "acme", UserID: "u", Role: r.Name}}}
	cs := e.compileShared(p, e.tenant("acme"), 0)
	if words := len(cs.more); words > len(r.Grants) {
		t.Fatalf("a set naming %d permissions holds %d bitmap words past the first two", len(r.Grants), words)
	}
	for perm, want := range map[string]bool{"orders:read": true, "orders:write": true, "custom5:a": true, "invoices:read": true,
		"custom6:a": false, "orders:delete": false, "custom4:a": false} {
		res, action, _ := strings.Cut(perm, ":")
		var d Decision
		cs.decide(&d, &query{subj: &Subject{UserID: "u", TenantID: "acme"}, res: &Resource{TenantID: "acme", Type: res}, action: action, nowNs: 1})
		if d.Allowed != want {
			t.Errorf("%s: allowed %t", perm, d.Allowed)
		}
	}
}

// A tenant's sets keep alive what they need, not another tenant's names:
// when a neighbour naming thousands of permissions of its own keeps
// starting generations, each set compiled in between must not pin a
// vocabulary of those thousands (200 sets held about 85 MB).
func TestSetsDoNotPinNeighbourGenerations(t *testing.T) {
	e := &Engine{conds: mustConditions(t), intern: newInterner(), usage: newUsage(), tenants: map[string]*tenantState{}}
	pools := [2][]string{make([]string, maxVocab/2+100), make([]string, maxVocab/2+100)}
	for p := range pools {
		for i := range pools[p] {
			pools[p][i] = fmt.Sprintf("h%d_%d:x", p, i)
		}
	}
	ts := e.tenant("acme")
	pinned := map[*vocab]bool{}
	names := 0
	for u := range 20 {
		e.tenant("evil").number(pools[u%2]) // the neighbour's compile
		r := &Role{TenantID: "acme", Name: "r", Grants: []Grant{{Permission: "orders:read", Effect: Allow}}}
		p := &Policy{TenantID: "acme", UserID: "u", Version: int64(u + 1), Roles: []*Role{r},
			Bindings: []Binding{{TenantID: "acme", UserID: "u", Role: "r"}}}
		if v := e.compileShared(p, ts, 0).vocab; !pinned[v] {
			pinned[v] = true
			names += len(v.ids)
		}
	}
	if names > 1000 {
		t.Fatalf("20 sets of a tenant naming one permission pin %d vocabularies of %d names in all", len(pinned), names)
	}
}
