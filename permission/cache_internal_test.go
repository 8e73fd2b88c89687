package permission

import (
	"fmt"
	"strings"
	"testing"
)

// A full shard stays at its size and evicts old entries first: an entry
// just stored is there, and what was stored long ago is mostly gone.
func TestCacheEvictsOldEntries(t *testing.T) {
	c := newCache(16 * cacheShards) // 16 entries per shard
	inShard0 := func(prefix string, n int) []string {
		var out []string
		for i := 0; len(out) < n; i++ {
			if u := fmt.Sprintf("%s%d", prefix, i); c.shard(u) == &c.shards[0] {
				out = append(out, u)
			}
		}
		return out
	}
	old, stream := inShard0("old", 16), inShard0("new", 2000)
	cs := &compiledSet{}
	for _, u := range old {
		c.put("t", u, cs, 1)
	}
	for i, u := range stream {
		c.put("t", u, cs, int64(i+2))
		if c.get("t", u) != cs {
			t.Fatalf("%s missing right after it was stored", u)
		}
		if n := len(*c.shards[0].m.Load()); n > 16 {
			t.Fatalf("shard holds %d entries", n)
		}
	}
	left := 0
	for _, u := range old {
		if c.get("t", u) != nil {
			left++
		}
	}
	if left > 0 {
		t.Fatalf("%d of 16 entries of the first store outlived 2,000 newer ones", left)
	}
}

// Entries are per (tenant, user), and no split of the same bytes into
// tenant and user finds another pair's entry.
func TestCacheKeysTenantAndUser(t *testing.T) {
	c := newCache(1024)
	a, b := &compiledSet{}, &compiledSet{}
	c.put("ab", "c", a, 1)
	c.put("a", "bc", b, 1)
	if c.get("ab", "c") != a || c.get("a", "bc") != b || c.get("abc", "") != nil || c.get("", "abc") != nil {
		t.Fatal("keys collide")
	}
	long := strings.Repeat("t", 200)
	c.put(long, "u", a, 1)
	if c.get(long, "u") != a {
		t.Fatal("a long key is lost")
	}
}

// Users with the same effective bindings point at one compiled set; a
// user whose bindings differ gets another.
func TestUsersShareCompiledSets(t *testing.T) {
	p := func(user string, roles ...string) *Policy {
		pol := &Policy{TenantID: "t", UserID: user, Version: 3, Roles: []*Role{
			{TenantID: "t", Name: "a", Grants: []Grant{{Permission: "x:read", Effect: Allow}}},
			{TenantID: "t", Name: "b", Grants: []Grant{{Permission: "y:read", Effect: Allow}}},
		}}
		for _, r := range roles {
			pol.Bindings = append(pol.Bindings, Binding{TenantID: "t", UserID: user, Role: r})
		}
		return pol
	}
	e := &Engine{conds: mustConditions(t), intern: newInterner(), usage: newUsage()}
	ts := &tenantState{}
	a1 := e.compileShared(p("u1", "a", "b"), ts, 0)
	a2 := e.compileShared(p("u2", "b", "a"), ts, 0)
	if a1 != a2 {
		t.Fatal("same bindings in another order compiled twice")
	}
	if b := e.compileShared(p("u3", "a"), ts, 0); b == a1 {
		t.Fatal("different bindings share a set")
	}
	newer := p("u1", "a", "b")
	newer.Version = 4
	if c := e.compileShared(newer, ts, 0); c == a1 || c.version != 4 {
		t.Fatal("a newer version reused an older set")
	}
}

func mustConditions(t *testing.T) *conditions {
	t.Helper()
	c, err := newConditions(DefaultCostLimit, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A set compiled before the tenant's vocabulary grew reads the newer
// vocabulary alike, and a set of an older generation keeps its own.
func TestSetsOutliveVocabularyGrowth(t *testing.T) {
	p := func(user string, perms ...string) *Policy {
		r := &Role{TenantID: "t", Name: "r" + user}
		for _, perm := range perms {
			r.Grants = append(r.Grants, Grant{Permission: perm, Effect: Allow})
		}
		return &Policy{TenantID: "t", UserID: user, Version: 1, Roles: []*Role{r},
			Bindings: []Binding{{TenantID: "t", UserID: user, Role: r.Name}}}
	}
	e := &Engine{conds: mustConditions(t), intern: newInterner(), usage: newUsage()}
	ts := &tenantState{}
	allows := func(cs *compiledSet, res, action string) bool {
		var d Decision
		cs.decide(&d, &query{subj: &Subject{UserID: "u", TenantID: "t"}, res: &Resource{TenantID: "t", Type: res}, action: action, nowNs: 1})
		return d.Allowed
	}
	a := e.compileShared(p("a", "x:read"), ts, 0)
	b := e.compileShared(p("b", "y:read", "x:write", "z:read"), ts, 0)
	if !allows(a, "x", "read") || allows(a, "y", "read") || allows(a, "x", "write") {
		t.Fatal("the first set misreads the grown vocabulary")
	}
	if !allows(b, "y", "read") || !allows(b, "x", "write") || allows(b, "x", "read") {
		t.Fatal("the second set misreads the vocabulary")
	}
	// Fill the generation: the next set starts another one.
	many := make([]string, maxVocab)
	for i := range many {
		many[i] = fmt.Sprintf("r%d:a", i)
	}
	gen := ts.number(many).gen
	c := e.compileShared(p("c", "x:write", "w:read"), ts, 0)
	if c.vocab.gen == a.vocab.gen || ts.vocab.Load().gen == gen {
		t.Fatal("no new generation")
	}
	if !allows(c, "w", "read") || !allows(c, "x", "write") || allows(c, "x", "read") {
		t.Fatal("a set of the new generation misreads it")
	}
	if !allows(a, "x", "read") || allows(a, "w", "read") || !allows(b, "z", "read") || allows(b, "w", "read") {
		t.Fatal("a set of the old generation misreads its own")
	}
	// Numbers past the bitmap's first words.
	wide := &tenantState{}
	wide.number(many[:200])
	d := e.compileShared(p("d", "r150:a", "r3:a", "r199:a", "q:x"), wide, 0)
	for _, perm := range []string{"r150:a", "r3:a", "r199:a", "q:x", "r151:a", "r4:a", "r0:a", "q:y"} {
		res, action, _ := strings.Cut(perm, ":")
		want := perm != "r151:a" && perm != "r4:a" && perm != "r0:a" && perm != "q:y"
		if allows(d, res, action) != want {
			t.Fatalf("%s: allowed %t", perm, !want)
		}
	}
}
