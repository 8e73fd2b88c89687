package permission

import (
	"fmt"
	"testing"
)

// BenchmarkCompile is the engine's share of a cold check: indexing a
// loaded policy (2 bindings reaching 7 roles of 10 grants each).
func BenchmarkCompile(b *testing.B) {
	p := &Policy{TenantID: "t", UserID: "u", Version: 1}
	for i := range 7 {
		r := &Role{TenantID: "t", Name: fmt.Sprintf("role%d", i)}
		if i < 6 {
			r.Parents = []string{fmt.Sprintf("role%d", i+1)}
		}
		for g := range 10 {
			r.Grants = append(r.Grants, Grant{Permission: fmt.Sprintf("res%02d:act%d", (i*10+g)%20, g%5), Effect: Allow})
		}
		p.Roles = append(p.Roles, r)
	}
	p.Bindings = []Binding{{TenantID: "t", UserID: "u", Role: "role0"}, {TenantID: "t", UserID: "u", Role: "role3", Scope: "s:1"}}
	conds, err := newConditions(DefaultCostLimit, nil)
	if err != nil {
		b.Fatal(err)
	}
	in := newInterner()
	b.ReportAllocs()
	for b.Loop() {
		cs := compileSet(p, conds, in, 0, nil, nil)
		if len(cs.lists) == 0 {
			b.Fatal("empty")
		}
	}
}
