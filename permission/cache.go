package permission

import (
	"maps"
	"sync"
	"sync/atomic"
)

const cacheShards = 256

// cache points each recently checked user, per tenant, at a compiled set,
// which users with the same bindings share. An entry is small (a map
// slot, the tenant, a pointer and a use stamp), so the cache can hold
// every active user of a large installation. A read takes no lock and
// hashes the user ID once: each shard is an immutable Go map from user
// to the user's entries (one per tenant, chained), replaced whole (copy
// on write) when an entry is added or evicted. A shard is the cache size
// over 256 entries, so a copy costs a few microseconds, against the store
// read that caused it. A full shard evicts the least recently used of a
// few users sampled by Go's randomised map iteration.
type cache struct {
	per    int
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	m  atomic.Pointer[map[string]*cached]
	n  int        // entries, chained ones included; guarded by mu
	mu sync.Mutex // serialises writers
}

// cached is one user's set in one tenant; next is the same user's entry
// in another tenant. Entries are immutable but for the use stamp.
type cached struct {
	tenant string
	cs     *compiledSet
	next   *cached
	used   atomic.Int64 // coarse last use, for eviction
}

func newCache(size int) *cache {
	c := &cache{per: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].m.Store(&map[string]*cached{})
	}
	return c
}

// shard spreads users over shards by their ID's length and last bytes:
// not a hash table's hash (the shard's map hashes the ID), only a cheap
// spread; a skew costs larger copies on write, never a wrong answer.
func (c *cache) shard(user string) *cacheShard {
	h := uint64(len(user))
	for i := max(0, len(user)-8); i < len(user); i++ {
		h = h*31 + uint64(user[i])
	}
	return &c.shards[h%cacheShards]
}

// get returns the entry cached for the user in the tenant, or nil.
func (c *cache) get(tenant, user string) *cached {
	for ce := (*c.shard(user).m.Load())[user]; ce != nil; ce = ce.next {
		if ce.tenant == tenant {
			return ce
		}
	}
	return nil
}

// put caches cs for the user in the tenant, replacing the user's entry
// there. The user's other entries are copied into a new chain, so a
// reader never sees a chain change.
func (c *cache) put(tenant, user string, cs *compiledSet, mono int64) {
	s := c.shard(user)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := maps.Clone(*s.m.Load())
	head := &cached{tenant: tenant, cs: cs}
	head.touch(mono)
	n := 1
	old := m[user]
	for ce := old; ce != nil; ce = ce.next {
		s.n--
		if ce.tenant != tenant {
			cp := &cached{tenant: ce.tenant, cs: ce.cs, next: head.next}
			cp.used.Store(ce.used.Load())
			head.next = cp
			n++
		}
	}
	if old == nil && s.n+n > c.per {
		s.n -= evict(m)
	}
	m[user] = head
	s.n += n
	s.m.Store(&m)
}

// evict removes the least recently used of a few sampled users from m
// and returns how many entries went with them. Go randomises where map
// iteration starts, so the first few users are a fair sample.
func evict(m map[string]*cached) int {
	const samples = 8
	var victim string
	oldest, seen := int64(0), 0
	for u, ce := range m {
		if t := ce.used.Load(); seen == 0 || t < oldest {
			victim, oldest = u, t
		}
		if seen++; seen == samples {
			break
		}
	}
	n := 0
	for ce := m[victim]; ce != nil; ce = ce.next {
		n++
	}
	delete(m, victim)
	return n
}

// touch records use at about millisecond granularity: writing on every
// hit would make concurrent checks of one user fight over a cache line.
func (ce *cached) touch(mono int64) {
	if t := mono >> 20; ce.used.Load() != t {
		ce.used.Store(t)
	}
}
