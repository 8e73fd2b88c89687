package permission

import (
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

type cacheKey struct{ tenant, user string }

const cacheShards = 256

// cache holds compiled sets, keyed by (tenant, user). A read takes no
// lock and hashes the user ID once: each shard is an immutable
// open-addressing table, replaced whole (copy on write) when an entry is
// added, replaced or evicted. Shards are small (the cache size over 256),
// so a copy costs about a microsecond, against tens for the compilation
// that caused it. A full shard evicts the least recently used of a few
// sampled entries.
type cache struct {
	seed   maphash.Seed
	per    int
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	t  atomic.Pointer[setTable]
	mu sync.Mutex // serialises writers
}

// setTable is one shard's entries. Slots are indexed by the user's hash
// only (a user's sets in several tenants sit next to each other), and a
// slot keeps the hash so a probe compares strings only on a likely match.
type setTable struct {
	mask  uint64
	n     int
	slots []setSlot
}

type setSlot struct {
	hash         uint64
	tenant, user string
	cs           *compiledSet // nil: empty slot
}

// newCache makes a cache of about size entries. Its seed is the engine's,
// so a check hashes the user ID once for the memo and the cache.
func newCache(size int, seed maphash.Seed) *cache {
	c := &cache{seed: seed, per: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].t.Store(&setTable{})
	}
	return c
}

func (c *cache) hash(user string) uint64 { return maphash.String(c.seed, user) }

// get returns the set cached for k, whose user ID hashes to h.
func (c *cache) get(h uint64, k cacheKey) *compiledSet {
	t := c.shards[h%cacheShards].t.Load()
	if t.n == 0 {
		return nil
	}
	for i := (h / cacheShards) & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.cs == nil {
			return nil
		}
		if s.hash == h && s.user == k.user && s.tenant == k.tenant {
			return s.cs
		}
	}
}

func (c *cache) put(k cacheKey, cs *compiledSet, mono int64) {
	cs.touch(mono)
	h := c.hash(k.user)
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.t.Load()
	live := make([]setSlot, 0, old.n+1)
	for _, e := range old.slots {
		if e.cs != nil && (e.hash != h || e.user != k.user || e.tenant != k.tenant) {
			live = append(live, e)
		}
	}
	if len(live) >= c.per {
		// Sample from a random start: live is in table order, so a fixed
		// start would always weigh the same few entries and never evict
		// the rest, however cold.
		const samples = 8
		start := rand.IntN(len(live))
		victim := start
		for j := 1; j < min(samples, len(live)); j++ {
			if i := (start + j) % len(live); live[i].cs.used.Load() < live[victim].cs.used.Load() {
				victim = i
			}
		}
		live = append(live[:victim], live[victim+1:]...)
	}
	live = append(live, setSlot{hash: h, tenant: k.tenant, user: k.user, cs: cs})
	s.t.Store(newSetTable(live))
}

func newSetTable(entries []setSlot) *setTable {
	size := uint64(1)
	for size < uint64(2*len(entries)) {
		size <<= 1
	}
	t := &setTable{mask: size - 1, n: len(entries), slots: make([]setSlot, size)}
	for _, e := range entries {
		i := (e.hash / cacheShards) & t.mask
		for t.slots[i].cs != nil {
			i = (i + 1) & t.mask
		}
		t.slots[i] = e
	}
	return t
}

// touch records use at about millisecond granularity: writing on every
// hit would make concurrent checks of one user fight over a cache line.
func (cs *compiledSet) touch(mono int64) {
	if t := mono >> 20; cs.used.Load() != t {
		cs.used.Store(t)
	}
}
