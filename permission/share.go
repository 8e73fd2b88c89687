package permission

import (
	"encoding/binary"
	"slices"
	"strings"
	"weak"
)

// signature names what a policy gives its user: each active binding's
// role, scope and expiry, sorted, the user left out. At one policy
// version, two users of a tenant with the same signature reach the same
// roles and grants, so they share one compiled set (principal.roles
// included: it is the roles the bindings reach). Each field is length
// prefixed, so no name can pose as a separator.
func signature(p *Policy, now int64) string {
	parts := make([]string, 0, len(p.Bindings))
	var buf []byte
	for _, b := range p.Bindings {
		exp := unixNano(b.ExpiresAt)
		if b.TenantID != p.TenantID || b.UserID != p.UserID || exp <= now {
			continue // as collect: neither reaches the set
		}
		buf = buf[:0]
		buf = binary.AppendUvarint(buf, uint64(len(b.Role)))
		buf = append(buf, b.Role...)
		buf = binary.AppendUvarint(buf, uint64(len(b.Scope)))
		buf = append(buf, b.Scope...)
		buf = binary.AppendVarint(buf, exp)
		parts = append(parts, string(buf))
	}
	slices.Sort(parts)
	return strings.Join(parts, "")
}

// shared returns the set the tenant already holds for sig at cs's
// version, or records cs as that set and returns it. Sets are held
// weakly: a set lives as long as a cached user (or a Who index) points
// at it, and the registry forgets it afterwards.
func (ts *tenantState) shared(sig string, cs *compiledSet) *compiledSet {
	ts.smu.Lock()
	defer ts.smu.Unlock()
	if ts.sets == nil {
		ts.sets = map[string]weak.Pointer[compiledSet]{}
	}
	if old := ts.sets[sig].Value(); old != nil && old.version >= cs.version {
		if old.version == cs.version {
			return old
		}
		return cs // a newer set is registered; this caller read an older version
	}
	ts.sets[sig] = weak.Make(cs)
	if len(ts.sets) > 2*ts.swept+64 {
		// Drop the entries whose sets are gone, so the registry stays
		// about as large as the live sets.
		for k, w := range ts.sets {
			if w.Value() == nil {
				delete(ts.sets, k)
			}
		}
		ts.swept = len(ts.sets)
	}
	return cs
}

// lookupShared returns the live set registered for sig at version, or
// nil.
func (ts *tenantState) lookupShared(sig string, version int64) *compiledSet {
	ts.smu.Lock()
	defer ts.smu.Unlock()
	if cs := ts.sets[sig].Value(); cs != nil && cs.version == version {
		return cs
	}
	return nil
}
