package permission

import (
	"fmt"
	"testing"
)

// Hot entries survive a stream of one-off ones: eviction samples the
// whole shard, not always the same slots.
func TestCacheKeepsHotEntries(t *testing.T) {
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
	hot, cold := inShard0("hot", 10), inShard0("cold", 2000)
	misses, lookups := 0, 0
	for round, one := range cold {
		mono := int64(round+1) << 20
		for _, u := range hot {
			lookups++
			if ce := c.get("t", u); ce != nil {
				ce.touch(mono)
				continue
			}
			misses++
			c.put("t", u, &compiledSet{}, mono)
		}
		c.put("t", one, &compiledSet{}, mono)
	}
	// Sampling 8 of 16 sometimes finds only hot entries; a fixed window
	// made nine hot lookups in ten miss.
	if rate := float64(misses) / float64(lookups); rate > 0.1 {
		t.Fatalf("hot entries missed %.0f%% of lookups", 100*rate)
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
