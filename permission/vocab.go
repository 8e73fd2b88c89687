package permission

import "maps"

// vocab numbers a tenant's exact permissions ("orders:read") from 0, so
// that a compiled set can hold the permissions it names as a bitmap. A
// tenant has one vocabulary that its sets share: it only grows (copy on
// write, under the tenant's lock), so a number once given keeps its
// meaning, and a set compiled against an older copy reads the newest one
// alike. Past maxVocab numbers the tenant starts a new generation; sets
// of the old one keep reading the copy they were compiled with.
type vocab struct {
	ids map[string]int32
	gen int64
}

// maxVocab bounds one generation of a tenant's vocabulary: a policy
// rewritten over and over with new permission names would otherwise grow
// it, and every bitmap with it, without end.
const maxVocab = 1 << 14

// lookup returns the number of resource:action. No permission part is
// longer than maxNameLen or holds ':' (ParsePermission), so the key is
// built in a stack buffer and a longer request cannot name one.
func (v *vocab) lookup(res, action string) (int32, bool) {
	if len(res) > maxNameLen || len(action) > maxNameLen {
		return 0, false
	}
	var buf [2*maxNameLen + 1]byte
	k := append(append(append(buf[:0], res...), ':'), action...)
	id, ok := v.ids[string(k)]
	return id, ok
}

// newVocab numbers keys privately (a set compiled for Explain).
func newVocab(keys []string) *vocab {
	v := &vocab{ids: make(map[string]int32, len(keys))}
	for _, k := range keys {
		if _, ok := v.ids[k]; !ok {
			v.ids[k] = int32(len(v.ids))
		}
	}
	return v
}

// number returns the tenant's vocabulary with every key numbered.
func (ts *tenantState) number(keys []string) *vocab {
	ts.smu.Lock()
	defer ts.smu.Unlock()
	cur := ts.vocab.Load()
	if cur == nil {
		cur = &vocab{ids: map[string]int32{}}
		ts.vocab.Store(cur)
	}
	missing := 0
	for _, k := range keys {
		if _, ok := cur.ids[k]; !ok {
			missing++
		}
	}
	if missing == 0 {
		return cur
	}
	next := &vocab{}
	if len(cur.ids)+missing > maxVocab {
		next.ids, next.gen = make(map[string]int32, len(keys)), cur.gen+1
	} else {
		next.ids, next.gen = maps.Clone(cur.ids), cur.gen
	}
	for _, k := range keys {
		if _, ok := next.ids[k]; !ok {
			next.ids[k] = int32(len(next.ids))
		}
	}
	ts.vocab.Store(next)
	return next
}
