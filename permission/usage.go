package permission

import (
	"sync"
	"sync/atomic"
)

// GrantUse is how many checks one grant allowed in one tenant since the
// previous Engine.TakeGrantUse.
type GrantUse struct {
	TenantID string
	// Role is the role carrying the grant: for a grant inherited from a
	// parent or a template, that parent or template, not the bound role.
	Role string
	// Permission is the grant's permission as written in the role.
	Permission string
	Count      int64
}

// useKey names a grant in a tenant. A template's grant is counted per
// tenant that uses it.
type useKey struct{ tenant, role, permission string }

// useCounter counts the allows of one grant. Compiled sets point at
// it, so a check counts with one atomic add: no lookup,
// no lock, no allocation.
type useCounter struct {
	n        atomic.Int64
	key      useKey
	reported int64 // n at the last take; guarded by usage.mu
}

// add counts one allow; nil (a set compiled for Explain) counts nothing.
func (c *useCounter) add() {
	if c != nil {
		c.n.Add(1)
	}
}

// usage holds the engine's grant counters. Counters are created when a
// policy is compiled and never removed, so a set still in a cache never
// counts into a counter no one reads; there is one per grant of the
// tenants' roles this engine has compiled, like the per-tenant version
// state.
type usage struct {
	mu       sync.Mutex
	counters map[useKey]*useCounter
}

func newUsage() *usage { return &usage{counters: map[useKey]*useCounter{}} }

// counter returns the counter of a grant, creating it.
func (u *usage) counter(tenant, role, permission string) *useCounter {
	u.mu.Lock()
	defer u.mu.Unlock()
	k := useKey{tenant, role, permission}
	c := u.counters[k]
	if c == nil {
		c = &useCounter{key: k}
		u.counters[k] = c
	}
	return c
}

// take returns the grants used since the previous take, with how often.
func (u *usage) take() []GrantUse {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []GrantUse
	for _, c := range u.counters {
		n := c.n.Load()
		if n == c.reported {
			continue
		}
		out = append(out, GrantUse{TenantID: c.key.tenant, Role: c.key.role, Permission: c.key.permission, Count: n - c.reported})
		c.reported = n
	}
	return out
}

// TakeGrantUse returns, for every grant that allowed a check through
// Authorize or AuthorizeBatch since the previous call, how many it
// allowed, and starts counting afresh. Explain and Who are not counted:
// they are questions about the policy, not uses of it. Counting does not
// depend on any sampling: a grant that allowed one check is reported.
func (e *Engine) TakeGrantUse() []GrantUse { return e.usage.take() }
