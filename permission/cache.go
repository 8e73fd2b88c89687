package permission

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

type cacheKey struct{ tenant, user string }

const cacheShards = 256

// cache holds compiled sets. Reads take no lock and follow one pointer
// less than a slot-per-entry design: each shard's map is immutable and
// replaced whole (copy on write) when an entry is added, replaced or
// evicted. Shards are small (the cache size over 256), so a copy costs
// about a microsecond, against tens for the compilation that caused it. A
// full shard evicts the least recently used of a few sampled entries.
type cache struct {
	seed   maphash.Seed
	per    int
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	m  atomic.Pointer[map[cacheKey]*compiledSet]
	mu sync.Mutex // serialises writers
}

func newCache(size int) *cache {
	c := &cache{seed: maphash.MakeSeed(), per: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		m := map[cacheKey]*compiledSet{}
		c.shards[i].m.Store(&m)
	}
	return c
}

func (c *cache) shard(k cacheKey) *cacheShard {
	return &c.shards[maphash.String(c.seed, k.user)%cacheShards]
}

func (c *cache) get(k cacheKey) *compiledSet {
	return (*c.shard(k).m.Load())[k]
}

func (c *cache) put(k cacheKey, cs *compiledSet, mono int64) {
	cs.touch(mono)
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.m.Load()
	m := make(map[cacheKey]*compiledSet, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if _, ok := m[k]; !ok && len(m) >= c.per {
		const samples = 8
		var victim cacheKey
		oldest, n := int64(0), 0
		for vk, v := range m {
			if u := v.used.Load(); n == 0 || u < oldest {
				victim, oldest = vk, u
			}
			if n++; n == samples {
				break
			}
		}
		delete(m, victim)
	}
	m[k] = cs
	s.m.Store(&m)
}

// touch records use at about millisecond granularity: writing on every
// hit would make concurrent checks of one user fight over a cache line.
func (cs *compiledSet) touch(mono int64) {
	if t := mono >> 20; cs.used.Load() != t {
		cs.used.Store(t)
	}
}
