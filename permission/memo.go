package permission

import (
	"math/bits"
	"strings"
	"sync/atomic"
)

// memo remembers recent allows decided by a compiled set's fast path (an
// unconditional allow, no deny in play), keyed by tenant, user, resource
// type and action. A service checking many users spends most of a check
// waiting for memory: each user's compiled set is kilobytes, and the one
// probe into it misses the CPU cache. The memo holds a few hundred bytes
// per remembered check in one table, so a repeated check reads one entry
// instead of the user's set.
//
// It is four-way set-associative (a check may sit in any slot of its
// group of four, all in one cache line), one immutable entry per slot,
// replaced whole. When all four hold current checks, one is replaced only
// on a fraction of the checks that would fill it, so hot checks competing
// for a group do not turn every check into an allocation. An entry carries the version and expiry of the set
// it came from and is used only while the set would be: the same tests
// as the cache, against the same tenant state.
type memo struct {
	mask  uint64
	slots []atomic.Pointer[memoEntry]
}

type memoEntry struct {
	hash                      uint64
	tenant, user, res, action string
	version                   int64
	validUntil                int64
	ts                        *tenantState
	scope                     string   // the allow's scope: the resource must be under it
	rule                      ruleInfo // a copy, so the entry does not keep the set alive
}

func newMemo(size int) *memo {
	n := uint64(memoWays)
	for n < uint64(size) {
		n <<= 1
	}
	return &memo{mask: n - 1, slots: make([]atomic.Pointer[memoEntry], n)}
}

// key combines the hashes of a check's user (maphash) and permission
// (hashPerm). The user's is rotated so that a user and a resource type
// with the same name do not cancel out, nor swap places.
func memoKey(hu, hp uint64) uint64 { return bits.RotateLeft64(hu, 32) ^ hp }

const memoWays = 4

// get returns the entry for the check, or nil. The caller still checks
// that it is current.
func (m *memo) get(h uint64, tenant, user, res, action string) *memoEntry {
	group := m.slots[h&m.mask&^(memoWays-1):][:memoWays]
	for i := range group {
		e := group[i].Load()
		if e == nil {
			return nil // groups fill from the front
		}
		if e.hash == h && e.user == user && e.res == res && e.action == action && e.tenant == tenant {
			return e
		}
	}
	return nil
}

// remember records an allow the fast path of cs decided, for tenant and
// user, at now. It takes a slot of the group that is empty, or holds an
// entry no longer usable (older policy version, or past its expiry),
// else, one time in eight (random is a random byte, from the decision
// ID), one of the four.
func (m *memo) remember(h uint64, tenant, user string, cs *compiledSet, pe *permEntry, now int64, random byte) {
	group := m.slots[h&m.mask&^(memoWays-1):][:memoWays]
	var slot *atomic.Pointer[memoEntry]
	for i := range group {
		if e := group[i].Load(); e == nil || e.version < e.ts.known.Load() || now >= e.validUntil {
			slot = &group[i]
			break
		}
	}
	if slot == nil {
		if random&7 != 0 {
			return
		}
		slot = &group[random>>6]
	}
	slot.Store(&memoEntry{
		hash: h, tenant: tenant, user: strings.Clone(user), res: pe.res, action: pe.action,
		version: cs.version, validUntil: cs.validUntil, ts: cs.ts, scope: pe.list.fastScope, rule: *pe.list.fast,
	})
}
