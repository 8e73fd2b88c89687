package permission

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

type cacheKey struct{ tenant, user string }

const cacheShards = 256

// cache holds compiled sets. Reads take no lock: each shard's map is
// immutable and replaced whole (copy on write) when a key is added or
// evicted, which is rare; a recompiled set for a known key is swapped into
// its slot atomically without touching the map. A full shard evicts the
// least recently used of a few sampled entries.
type cache struct {
	seed   maphash.Seed
	per    int
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	m  atomic.Pointer[map[cacheKey]*slot]
	mu sync.Mutex // serialises writers
}

type slot struct {
	cs   atomic.Pointer[compiledSet]
	used atomic.Int64 // coarse last use, for eviction
}

func newCache(size int) *cache {
	c := &cache{seed: maphash.MakeSeed(), per: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		m := map[cacheKey]*slot{}
		c.shards[i].m.Store(&m)
	}
	return c
}

func (c *cache) shard(k cacheKey) *cacheShard {
	return &c.shards[maphash.String(c.seed, k.user)%cacheShards]
}

func (c *cache) get(k cacheKey) *slot {
	return (*c.shard(k).m.Load())[k]
}

// put stores cs under k and returns its slot.
func (c *cache) put(k cacheKey, cs *compiledSet, mono int64) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.m.Load()
	if sl, ok := old[k]; ok {
		sl.cs.Store(cs)
		sl.touch(mono)
		return
	}
	m := make(map[cacheKey]*slot, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if len(m) >= c.per {
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
	sl := &slot{}
	sl.cs.Store(cs)
	sl.touch(mono)
	m[k] = sl
	s.m.Store(&m)
}

func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		n += len(*c.shards[i].m.Load())
	}
	return n
}

// touch records use at about millisecond granularity: writing on every
// hit would make concurrent checks of one user fight over a cache line.
func (sl *slot) touch(mono int64) {
	if t := mono >> 20; sl.used.Load() != t {
		sl.used.Store(t)
	}
}
