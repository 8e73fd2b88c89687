package permission

import (
	"fmt"
	"hash/maphash"
	"testing"
)

// Hot entries survive a stream of one-off ones: eviction samples the
// whole shard, not always the same slots.
func TestCacheKeepsHotEntries(t *testing.T) {
	c := newCache(16*cacheShards, maphash.MakeSeed()) // 16 entries per shard
	inShard0 := func(prefix string, n int) []string {
		var out []string
		for i := 0; len(out) < n; i++ {
			if u := fmt.Sprintf("%s%d", prefix, i); c.hash(u)%cacheShards == 0 {
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
			k := cacheKey{"t", u}
			lookups++
			if cs := c.get(c.hash(u), k); cs != nil {
				cs.touch(mono)
				continue
			}
			misses++
			c.put(k, &compiledSet{}, mono)
		}
		c.put(cacheKey{"t", one}, &compiledSet{}, mono)
	}
	// Sampling 8 of 16 sometimes finds only hot entries; a fixed window
	// made nine hot lookups in ten miss.
	if rate := float64(misses) / float64(lookups); rate > 0.1 {
		t.Fatalf("hot entries missed %.0f%% of lookups", 100*rate)
	}
}
