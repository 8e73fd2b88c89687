package permission

import (
	"encoding/binary"
	"maps"
	"sync"
	"sync/atomic"
)

const cacheShards = 256

// cache points each recently checked (tenant, user) at a compiled set,
// which users with the same bindings share. An entry is a map slot: the
// key and the set pointer, held by value, so a check follows no pointer
// between the map and the set. A read takes no lock: each shard is an
// immutable Go map, replaced whole (copy on write) when an entry is added
// or evicted. A shard is the cache size over 256 entries, so a copy costs
// a few microseconds, against the store read that caused it. A full
// shard evicts the oldest of a few entries sampled by Go's randomised
// map iteration: entries are immutable, so "oldest" is by when they were
// stored, not last used (a busy user evicted this way costs one store
// read to come back).
type cache struct {
	per    int
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	m  atomic.Pointer[map[string]cached]
	mu sync.Mutex // serialises writers
}

type cached struct {
	cs     *compiledSet
	stored int64 // coarse time it was stored, for eviction
}

func newCache(size int) *cache {
	c := &cache{per: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].m.Store(&map[string]cached{})
	}
	return c
}

// shard spreads users over shards by their ID's length and last bytes:
// not a hash table's hash (the shard's map hashes the key), only a cheap
// spread; a skew costs larger copies on write, never a wrong answer.
func (c *cache) shard(user string) *cacheShard {
	h := uint64(len(user))
	for i := max(0, len(user)-8); i < len(user); i++ {
		h = h*31 + uint64(user[i])
	}
	return &c.shards[h%cacheShards]
}

// cacheKey is the tenant's length, the tenant and the user: no pair of
// IDs can make another pair's key. It is built in buf, which a check
// keeps on its stack; only IDs longer than buf together allocate.
func cacheKey(buf []byte, tenant, user string) []byte {
	buf = binary.AppendUvarint(buf[:0], uint64(len(tenant)))
	return append(append(buf, tenant...), user...)
}

// get returns the set cached for the user in the tenant, or nil.
func (c *cache) get(tenant, user string) *compiledSet {
	var buf [128]byte
	return (*c.shard(user).m.Load())[string(cacheKey(buf[:], tenant, user))].cs
}

// put caches cs for the user in the tenant, replacing the entry there.
func (c *cache) put(tenant, user string, cs *compiledSet, mono int64) {
	k := string(cacheKey(nil, tenant, user))
	s := c.shard(user)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := maps.Clone(*s.m.Load())
	if _, ok := m[k]; !ok && len(m) >= c.per {
		evict(m)
	}
	m[k] = cached{cs: cs, stored: mono}
	s.m.Store(&m)
}

// evict removes the oldest of a few sampled entries from m. Go randomises
// where map iteration starts, so the first few entries are a fair
// sample.
func evict(m map[string]cached) {
	const samples = 8
	var victim string
	oldest, seen := int64(0), 0
	for k, ce := range m {
		if seen == 0 || ce.stored < oldest {
			victim, oldest = k, ce.stored
		}
		if seen++; seen == samples {
			break
		}
	}
	delete(m, victim)
}
