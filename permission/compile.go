package permission

import (
	"cmp"
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
)

// rule is one grant as the user holds it: at a binding's scope, with its
// condition compiled.
type rule struct {
	deny  bool
	scope string
	prog  cel.Program // nil: unconditional
	// broken: the condition did not compile. An allow never matches; a
	// deny always does (fail closed).
	broken  bool
	expires int64 // binding expiry, unix nanoseconds (never: no expiry)
	info    *Rule
}

// ruleList is rules sorted deny first, then unconditional before
// conditional, so a check stops at the first deciding rule.
type ruleList struct {
	rules []rule
	nDeny int
	// When the list has no deny and its first allow is unconditional,
	// fast is that allow and fastScope its scope: the common check then
	// decides from the map entry alone, without touching the rules.
	fast      *Rule
	fastScope string
}

type permKey struct{ res, action string }

// compiledSet is the immutable, indexed form of one user's policy in one
// tenant. Lookups for an exact permission find every rule that can apply
// (exact, resource:*, *:action, *) in one map probe.
type compiledSet struct {
	tenant, user string
	version      int64
	// validUntil is the earliest binding expiry (unix nanoseconds): past
	// it the set is recompiled so expired bindings drop out and
	// principal.roles stays true.
	validUntil int64
	exact      permTable            // one probe reaches the fast path
	byRes      map[string]*ruleList // resource:*
	byAction   map[string]*ruleList // *:action
	all        *ruleList            // *
	roles      []string             // every role the user holds here, sorted
	adapter    types.Adapter

	ts   *tenantState
	used atomic.Int64 // coarse last use, for eviction
}

// heldGrant is a grant reached from a binding, before indexing.
type heldGrant struct {
	perm    Permission
	permOK  bool
	grant   *Grant // into the policy's role, which the engine owns
	role    string
	bound   string
	scope   string
	expires int64
}

// collect walks each active binding's role and its ancestors and returns
// every grant the user holds, deduplicated, plus the role names.
func collect(p *Policy, now int64) ([]heldGrant, []string) {
	byName := make(map[string]*Role, len(p.Roles))
	for _, r := range p.Roles {
		// A tenant role shadows the template of the same name.
		if old, ok := byName[r.Name]; ok && old.TenantID == p.TenantID {
			continue
		}
		if r.TenantID != p.TenantID && r.TenantID != GlobalTenant {
			continue // never let another tenant's role in, whatever the store sent
		}
		byName[r.Name] = r
	}
	// The same grant reached twice at one scope (diamond inheritance,
	// two bindings) is held once.
	type dedup struct {
		scope string
		g     *Grant
	}
	grants := 0
	for _, r := range byName {
		grants += len(r.Grants)
	}
	seen := make(map[dedup]int, grants)
	roleSet := make(map[string]bool, len(byName))
	out := make([]heldGrant, 0, min(grants*max(1, len(p.Bindings)), 4096))
	for _, b := range p.Bindings {
		if b.TenantID != p.TenantID || b.UserID != p.UserID {
			continue
		}
		exp := unixNano(b.ExpiresAt)
		if exp <= now {
			continue
		}
		visited := map[string]bool{}
		var walk func(name string)
		walk = func(name string) {
			if visited[name] {
				return
			}
			visited[name] = true
			r, ok := byName[name]
			if !ok {
				return
			}
			roleSet[name] = true
			for gi := range r.Grants {
				g := &r.Grants[gi]
				k := dedup{b.Scope, g}
				if i, dup := seen[k]; dup {
					// Keep the grant that lasts longest.
					if out[i].expires < exp {
						out[i].expires = exp
					}
					continue
				}
				perm, err := ParsePermission(g.Permission)
				seen[k] = len(out)
				out = append(out, heldGrant{perm: perm, permOK: err == nil, grant: g, role: r.Name, bound: b.Role, scope: b.Scope, expires: exp})
			}
			for _, parent := range r.Parents {
				walk(parent)
			}
		}
		walk(b.Role)
	}
	roles := make([]string, 0, len(roleSet))
	for r := range roleSet {
		roles = append(roles, r)
	}
	slices.Sort(roles)
	return out, roles
}

// compileSet builds the indexed set for a policy at time now (unix ns).
// It sizes everything first and allocates each kind of thing once: a cold
// check's cost is mostly allocation.
func compileSet(p *Policy, conds *conditions, in *interner, now int64) *compiledSet {
	held, roles := collect(p, now)
	cs := &compiledSet{
		tenant: p.TenantID, user: p.UserID, version: p.Version, validUntil: never,
		roles: roles, adapter: conds.adapter,
	}
	type keyed struct {
		r    rule
		perm Permission
	}
	rs := make([]keyed, 0, len(held))
	infos := make([]Rule, 0, len(held))
	exactN := map[permKey]int{}
	resN := map[string]int{}
	actN := map[string]int{}
	allN := 0
	for _, h := range held {
		if !h.permOK {
			// A permission the engine cannot read grants nothing, and
			// cannot deny anything precisely either; validation at write
			// keeps these out.
			continue
		}
		cs.validUntil = min(cs.validUntil, h.expires)
		perm := Permission{Resource: in.get(h.perm.Resource), Action: in.get(h.perm.Action)}
		permStr := h.grant.Permission
		if permStr == "*:*" {
			permStr = Wildcard
		}
		infos = append(infos, Rule{Role: h.role, BoundRole: h.bound, Scope: h.scope, Permission: permStr,
			Effect: effectOf(h.grant.Effect), Condition: h.grant.Condition})
		r := rule{deny: h.grant.Effect != Allow, scope: in.get(h.scope), expires: h.expires, info: &infos[len(infos)-1]}
		if h.grant.Condition != "" {
			if prog, err := conds.compile(h.grant.Condition); err != nil {
				r.broken = true
			} else {
				r.prog = prog
			}
		}
		rs = append(rs, keyed{r, perm})
		switch {
		case perm.Resource == Wildcard && perm.Action == Wildcard:
			allN++
		case perm.Action == Wildcard:
			resN[perm.Resource]++
		case perm.Resource == Wildcard:
			actN[perm.Action]++
		default:
			exactN[permKey{perm.Resource, perm.Action}]++
		}
	}
	// One backing array holds every list: each exact list merged with
	// the wildcard rules that also apply to it, then the wildcard lists.
	total := allN
	for k, n := range exactN {
		total += n + resN[k.res] + actN[k.action] + allN
	}
	for _, n := range resN {
		total += n
	}
	for _, n := range actN {
		total += n
	}
	backing := make([]rule, 0, total)
	lists := make([]ruleList, 0, len(exactN)+len(resN)+len(actN)+1)
	carve := func(n int) *ruleList {
		lists = append(lists, ruleList{rules: backing[len(backing) : len(backing) : len(backing)+n]})
		backing = backing[:len(backing)+n]
		return &lists[len(lists)-1]
	}
	exact := make(map[permKey]*ruleList, len(exactN))
	for k, n := range exactN {
		exact[k] = carve(n + resN[k.res] + actN[k.action] + allN)
	}
	cs.byRes = make(map[string]*ruleList, len(resN))
	for k, n := range resN {
		cs.byRes[k] = carve(n)
	}
	cs.byAction = make(map[string]*ruleList, len(actN))
	for k, n := range actN {
		cs.byAction[k] = carve(n)
	}
	cs.all = carve(allN)
	for _, x := range rs {
		res, act := x.perm.Resource, x.perm.Action
		switch {
		case res == Wildcard && act == Wildcard:
			cs.all.rules = append(cs.all.rules, x.r)
			for _, l := range exact {
				l.rules = append(l.rules, x.r)
			}
		case act == Wildcard:
			cs.byRes[res].rules = append(cs.byRes[res].rules, x.r)
			for k, l := range exact {
				if k.res == res {
					l.rules = append(l.rules, x.r)
				}
			}
		case res == Wildcard:
			cs.byAction[act].rules = append(cs.byAction[act].rules, x.r)
			for k, l := range exact {
				if k.action == act {
					l.rules = append(l.rules, x.r)
				}
			}
		default:
			l := exact[permKey{res, act}]
			l.rules = append(l.rules, x.r)
		}
	}
	for i := range lists {
		sortRules(&lists[i])
	}
	cs.exact = newPermTable(exact, in.seed)
	return cs
}

func effectOf(e Effect) Effect {
	if e == Allow {
		return Allow
	}
	return Deny
}

// sortRules puts denies first, then unconditional allows, then
// conditional ones, and records where the allows start.
func sortRules(l *ruleList) {
	rank := func(r *rule) int {
		switch {
		case r.deny:
			return 0
		case r.prog == nil && !r.broken:
			return 1
		default:
			return 2
		}
	}
	slices.SortStableFunc(l.rules, func(a, b rule) int { return cmp.Compare(rank(&a), rank(&b)) })
	n := 0
	for n < len(l.rules) && l.rules[n].deny {
		n++
	}
	l.nDeny = n
	if n == 0 && len(l.rules) > 0 && l.rules[0].prog == nil && !l.rules[0].broken {
		l.fast, l.fastScope = l.rules[0].info, l.rules[0].scope
	}
}

// lists returns the rule lists that can apply to (res, action): the
// merged exact list when there is one, else the three wildcard lists.
func (cs *compiledSet) lists(res, action string) (ls [3]*ruleList, n int) {
	if len(cs.byRes) > 0 {
		if l := cs.byRes[res]; l != nil {
			ls[n] = l
			n++
		}
	}
	if len(cs.byAction) > 0 {
		if l := cs.byAction[action]; l != nil {
			ls[n] = l
			n++
		}
	}
	if len(cs.all.rules) > 0 {
		ls[n] = cs.all
		n++
	}
	return ls, n
}

// query is one check in flight. Conditions get an activation built from
// copies of the inputs, and only when a condition runs, so the common
// path neither allocates nor lets the caller's arguments escape.
type query struct {
	subj   *Subject
	res    *Resource
	req    *Request
	action string
	nowNs  int64 // policy time, unix nanoseconds
}

func (q *query) activation(act **activation, roles []string, ad types.Adapter) *activation {
	if *act == nil {
		*act = newActivation(*q.subj, *q.res, *q.req, roles, q.nowNs, ad)
	}
	return *act
}

//go:noinline
func newActivation(subj Subject, res Resource, req Request, roles []string, now int64, ad types.Adapter) *activation {
	return &activation{subj: subj, res: res, req: req, roles: roles, now: time.Unix(0, now).UTC(), adapter: ad}
}

// decide fills d from the set. The common check (an exact permission
// whose merged rules hold no deny and start with an unconditional allow
// covering the resource's scope) is answered from the index entry alone;
// anything else goes through scan.
func (cs *compiledSet) decide(d *Decision, subj *Subject, action string, res *Resource, req *Request, now int64) {
	d.Version = cs.version
	l := cs.exact.get(res.Type, action)
	if l != nil && l.fast != nil && ScopeCovers(l.fastScope, res.Scope) {
		d.Allowed, d.Effect, d.Reason, d.rule = true, Allow, ReasonAllowed, l.fast
		return
	}
	q := query{subj: subj, res: res, req: req, action: action, nowNs: now}
	if l != nil {
		cs.scan(d, &q, [3]*ruleList{l}, 1)
		return
	}
	ls, n := cs.lists(res.Type, action)
	cs.scan(d, &q, ls, n)
}

// scan decides from the lists that apply: any applicable deny wins, then
// any applicable allow, else no match.
func (cs *compiledSet) scan(d *Decision, q *query, ls [3]*ruleList, n int) {
	var act *activation
	allowErr := false
	// Denies first, across every list.
	for i := 0; i < n; i++ {
		l := ls[i]
		for j := 0; j < l.nDeny; j++ {
			r := &l.rules[j]
			if r.expires <= q.nowNs || !ScopeCovers(r.scope, q.res.Scope) {
				continue
			}
			if r.broken {
				d.Reason, d.rule = ReasonConditionErr, r.info
				return
			}
			if r.prog != nil {
				ok, err := eval(r.prog, q.activation(&act, cs.roles, cs.adapter))
				if err != nil {
					d.Reason, d.rule = ReasonConditionErr, r.info
					return
				}
				if !ok {
					continue
				}
			}
			d.Reason, d.rule = ReasonDenied, r.info
			return
		}
	}
	for i := 0; i < n; i++ {
		l := ls[i]
		for j := l.nDeny; j < len(l.rules); j++ {
			r := &l.rules[j]
			if r.broken || r.expires <= q.nowNs || !ScopeCovers(r.scope, q.res.Scope) {
				continue
			}
			if r.prog != nil {
				ok, err := eval(r.prog, q.activation(&act, cs.roles, cs.adapter))
				if err != nil {
					allowErr = true
					continue
				}
				if !ok {
					continue
				}
			}
			d.Allowed, d.Effect, d.Reason, d.rule = true, Allow, ReasonAllowed, r.info
			return
		}
	}
	d.Reason = ReasonNoMatch
	if allowErr {
		d.Reason = ReasonAllowCondFail
	}
}

// interner makes every compiled set share one copy of each name and
// scope, so the strings a check compares stay in the CPU cache however
// many users' sets it touches.
type interner struct {
	seed maphash.Seed // for the permission tables of every set
	mu   sync.Mutex
	m    map[string]string
}

func newInterner() *interner { return &interner{seed: maphash.MakeSeed(), m: map[string]string{}} }

func (in *interner) get(s string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if v, ok := in.m[s]; ok {
		return v
	}
	if len(in.m) >= 1<<16 {
		return s // a flood of distinct names: stop sharing, stay correct
	}
	s = strings.Clone(s)
	in.m[s] = s
	return s
}

// permTable maps an exact (resource, action) to its merged rule list. It
// is an open-addressing table in one slice: a lookup hashes the two
// names, then usually reads a single entry holding the keys (shared,
// interned strings) and the list's fast path, which saves the pointer
// hops of a Go map when checks jump between many users' sets.
type permTable struct {
	seed    maphash.Seed
	mask    uint64
	entries []permEntry
}

type permEntry struct {
	res, action string // res == "": empty slot
	list        ruleList
}

func newPermTable(m map[permKey]*ruleList, seed maphash.Seed) permTable {
	size := uint64(1)
	for size < uint64(2*len(m)) {
		size <<= 1
	}
	t := permTable{seed: seed, mask: size - 1, entries: make([]permEntry, size)}
	for k, l := range m {
		i := t.hash(k.res, k.action) & t.mask
		for t.entries[i].res != "" {
			i = (i + 1) & t.mask
		}
		t.entries[i] = permEntry{res: k.res, action: k.action, list: *l}
	}
	return t
}

// hash hashes the resource type in full but the action only by its
// length and end bytes: actions are few and short, and a second full hash
// would cost a tenth of the check. Actions that agree there land in the
// same probe sequence and are told apart by comparison.
func (t *permTable) hash(res, action string) uint64 {
	a := uint64(len(action))
	if len(action) > 0 {
		a |= uint64(action[0])<<8 | uint64(action[len(action)-1])<<16
	}
	return maphash.String(t.seed, res) ^ bits.RotateLeft64(a*0x9e3779b97f4a7c15, 32)
}

// get returns the list for (res, action), or nil. The list is shared and
// must not be changed; a pointer, because copying it out of the table
// cost more than finding it.
func (t *permTable) get(res, action string) *ruleList {
	if len(t.entries) == 0 {
		return nil
	}
	for i := t.hash(res, action) & t.mask; ; i = (i + 1) & t.mask {
		e := &t.entries[i]
		if e.res == "" {
			return nil
		}
		if e.res == res && e.action == action {
			return &e.list
		}
	}
}

func (t *permTable) len() int {
	n := 0
	for i := range t.entries {
		if t.entries[i].res != "" {
			n++
		}
	}
	return n
}
