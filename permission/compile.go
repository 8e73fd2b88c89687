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
	info    *ruleInfo
}

// ruleInfo is what a decision carries of its rule: the public Rule and
// the counter of the grant's uses.
type ruleInfo struct {
	Rule
	use *useCounter // nil when not counted (Explain)
}

// ruleList is rules sorted deny first, then unconditional before
// conditional, so a check stops at the first deciding rule.
type ruleList struct {
	rules []rule
	nDeny int
	// When the list has no deny and its first allow is unconditional,
	// fast is that allow and fastScope its scope: the common check then
	// decides from the map entry alone, without touching the rules.
	fast      *ruleInfo
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

// heldGrant is a grant reached from a binding, before indexing. Its
// permission and scope are interned.
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
// every grant the user holds, the role names, and the earliest expiry of
// an active binding (past it, what the user holds changes, even when
// that binding's role grants nothing itself: principal.roles does). A
// role reached twice at one scope (diamond inheritance, two bindings)
// contributes its grants once, lasting as long as the longest-lived way
// of reaching it.
func collect(p *Policy, now int64, in *interner) (held []heldGrant, roles []string, until int64) {
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
	grants := 0
	for _, r := range byName {
		grants += len(r.Grants)
	}
	type roleAt struct{ scope, role string }
	type span struct {
		start, end int
		expires    int64
	}
	// reached is also the walk's visited set, so a cycle the store let
	// through ends the walk instead of looping.
	reached := make(map[roleAt]span, len(byName))
	out := make([]heldGrant, 0, grants)
	var walk func(name, bound, scope string, exp int64)
	walk = func(name, bound, scope string, exp int64) {
		k := roleAt{scope, name}
		r := byName[name]
		if sp, ok := reached[k]; ok {
			if sp.expires >= exp {
				return
			}
			sp.expires = exp
			reached[k] = sp
			for i := sp.start; i < sp.end; i++ {
				out[i].expires = exp
			}
		} else {
			start := len(out)
			if r != nil {
				for gi := range r.Grants {
					g := &r.Grants[gi]
					perm, ok := in.permission(g.Permission)
					out = append(out, heldGrant{perm: perm, permOK: ok, grant: g, role: r.Name, bound: bound, scope: scope, expires: exp})
				}
			}
			reached[k] = span{start, len(out), exp}
		}
		if r != nil {
			for _, parent := range r.Parents {
				walk(parent, bound, scope, exp)
			}
		}
	}
	until = never
	for _, b := range p.Bindings {
		if b.TenantID != p.TenantID || b.UserID != p.UserID {
			continue
		}
		if exp := unixNano(b.ExpiresAt); exp > now {
			until = min(until, exp)
			walk(b.Role, b.Role, in.get(b.Scope), exp)
		}
	}
	roles = make([]string, 0, len(reached))
	for k := range reached {
		if byName[k.role] != nil {
			roles = append(roles, k.role)
		}
	}
	slices.Sort(roles)
	return out, slices.Compact(roles), until
}

// Kinds of permission, for indexing.
const (
	kindExact = iota
	kindRes   // resource:*
	kindAct   // *:action
	kindAll   // *
)

func kindOf(p Permission) int {
	switch {
	case p.Resource == Wildcard && p.Action == Wildcard:
		return kindAll
	case p.Action == Wildcard:
		return kindRes
	case p.Resource == Wildcard:
		return kindAct
	}
	return kindExact
}

// compileSet builds the indexed set for a policy at time now (unix ns).
// A cold check's cost is mostly this function's allocations, so it sizes
// everything first and allocates each kind of thing once, with no map
// for the common, wildcard-free policy. Each rule gets its grant's use
// counter from u (none when u is nil).
func compileSet(p *Policy, conds *conditions, in *interner, now int64, u *usage) *compiledSet {
	held, roles, until := collect(p, now, in)
	cs := &compiledSet{
		tenant: p.TenantID, user: p.UserID, version: p.Version, validUntil: until,
		roles: roles, adapter: conds.adapter,
	}
	// Rules, and the distinct exact permissions with how many rules each.
	infos := make([]ruleInfo, 0, len(held))
	rules := make([]rule, 0, len(held))
	// Per rule: an exact permission's index in the table builder, or for
	// a wildcard one -1 - its index in held.
	where := make([]int32, 0, len(held))
	b := newTableBuilder(in.seed, len(held))
	var resN, actN map[string]int
	allN := 0
	for hi, h := range held {
		if !h.permOK {
			// A permission the engine cannot read grants nothing, and
			// cannot deny anything precisely either; validation at write
			// keeps these out.
			continue
		}
		permStr := h.grant.Permission
		if permStr == "*:*" {
			permStr = Wildcard
		}
		infos = append(infos, ruleInfo{Rule: Rule{Role: h.role, BoundRole: h.bound, Scope: h.scope, Permission: permStr,
			Effect: effectOf(h.grant.Effect), Condition: h.grant.Condition}})
		if u != nil && h.grant.Effect == Allow {
			// Keyed by the permission as written, which is how
			// UnusedGrants names the grant.
			infos[len(infos)-1].use = u.counter(p.TenantID, h.role, h.grant.Permission)
		}
		r := rule{deny: h.grant.Effect != Allow, scope: h.scope, expires: h.expires, info: &infos[len(infos)-1]}
		if h.grant.Condition != "" {
			if prog, err := conds.compile(h.grant.Condition); err != nil {
				r.broken = true
			} else {
				r.prog = prog
			}
		}
		rules = append(rules, r)
		switch kindOf(h.perm) {
		case kindExact:
			where = append(where, int32(b.add(h.perm.Resource, h.perm.Action)))
			continue
		case kindRes:
			resN = count(resN, h.perm.Resource)
		case kindAct:
			actN = count(actN, h.perm.Action)
		default:
			allN++
		}
		where = append(where, int32(-1-hi))
	}
	// Each exact list is merged with the wildcard rules that also apply
	// to it, so the common check reads one list.
	for i := range b.keys {
		k := &b.keys[i]
		k.n += resN[k.res] + actN[k.action] + allN
	}
	total := allN
	for _, k := range b.keys {
		total += k.n
	}
	for _, n := range resN {
		total += n
	}
	for _, n := range actN {
		total += n
	}
	// One backing array holds every list.
	backing := make([]rule, 0, total)
	carve := func(l *ruleList, n int) {
		l.rules = backing[len(backing) : len(backing) : len(backing)+n]
		backing = backing[:len(backing)+n]
	}
	cs.exact = b.build(carve)
	lists := make([]ruleList, len(resN)+len(actN)+1)
	cs.all = &lists[0]
	carve(cs.all, allN)
	next := 1
	wild := func(n map[string]int) map[string]*ruleList {
		if len(n) == 0 {
			return nil
		}
		m := make(map[string]*ruleList, len(n))
		for name, c := range n {
			l := &lists[next]
			next++
			carve(l, c)
			m[name] = l
		}
		return m
	}
	cs.byRes, cs.byAction = wild(resN), wild(actN)
	for i, r := range rules {
		if w := where[i]; w >= 0 {
			l := cs.exact.list(int(w))
			l.rules = append(l.rules, r)
			continue
		}
		// A wildcard rule goes to its own list and into every exact list
		// it matches.
		perm := held[-1-where[i]].perm
		own := cs.all
		switch kindOf(perm) {
		case kindRes:
			own = cs.byRes[perm.Resource]
		case kindAct:
			own = cs.byAction[perm.Action]
		}
		own.rules = append(own.rules, r)
		cs.exact.each(func(res, act string, l *ruleList) {
			if perm.Matches(res, act) {
				l.rules = append(l.rules, r)
			}
		})
	}
	cs.exact.each(func(_, _ string, l *ruleList) { sortRules(l) })
	cs.exact.slot = nil
	for i := range lists {
		sortRules(&lists[i])
	}
	return cs
}

func count(m map[string]int, k string) map[string]int {
	if m == nil {
		m = map[string]int{}
	}
	m[k]++
	return m
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
	if len(l.rules) == 0 {
		return
	}
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
//
// It returns the table entry when the fast path decided, for the memo.
func (cs *compiledSet) decide(d *Decision, subj *Subject, action string, res *Resource, req *Request, now int64, hp uint64) *permEntry {
	d.Version = cs.version
	pe := cs.exact.get(hp, res.Type, action)
	if pe != nil && pe.list.fast != nil && ScopeCovers(pe.list.fastScope, res.Scope) {
		d.Allowed, d.Effect, d.Reason, d.rule = true, Allow, ReasonAllowed, pe.list.fast
		return pe
	}
	q := query{subj: subj, res: res, req: req, action: action, nowNs: now}
	if pe != nil {
		cs.scan(d, &q, [3]*ruleList{&pe.list}, 1)
		return nil
	}
	ls, n := cs.lists(res.Type, action)
	cs.scan(d, &q, ls, n)
	return nil
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
// many users' sets it touches. It also remembers each permission string
// parsed, since a cold check meets the same few again and again. Reads
// take no lock: they are most of a cold check's calls.
type interner struct {
	seed  maphash.Seed // for the permission tables of every set
	names sync.Map     // string -> string
	perms sync.Map     // permission string -> Permission (interned halves)
	n     atomic.Int64 // entries in both, bounded by maxInterned
}

// maxInterned bounds the interner: past it (a flood of distinct names)
// new names are no longer shared, which costs speed, never correctness.
const maxInterned = 1 << 16

func newInterner() *interner { return &interner{seed: maphash.MakeSeed()} }

func (in *interner) get(s string) string {
	if v, ok := in.names.Load(s); ok {
		return v.(string)
	}
	if in.n.Load() >= maxInterned {
		return s
	}
	s = strings.Clone(s)
	v, loaded := in.names.LoadOrStore(s, s)
	if !loaded {
		in.n.Add(1)
	}
	return v.(string)
}

// permission parses s and interns both halves; ok is false when s is not
// a valid permission.
func (in *interner) permission(s string) (Permission, bool) {
	if v, ok := in.perms.Load(s); ok {
		return v.(Permission), true
	}
	p, err := ParsePermission(s)
	if err != nil {
		return Permission{}, false
	}
	p = Permission{Resource: in.get(p.Resource), Action: in.get(p.Action)}
	if in.n.Load() < maxInterned {
		if _, loaded := in.perms.LoadOrStore(strings.Clone(s), p); !loaded {
			in.n.Add(1)
		}
	}
	return p, true
}

// permTable maps an exact (resource, action) to its merged rule list. It
// is an open-addressing table in one slice: a lookup hashes the two names
// (hashPerm, with the engine's seed), then usually reads a single entry
// holding the keys (shared, interned strings) and the list's fast path,
// which saves the pointer hops of a Go map when checks jump between many
// users' sets.
type permTable struct {
	mask    uint64
	entries []permEntry
	slot    []int32 // key index (tableBuilder order) -> entry, while compiling
}

type permEntry struct {
	res, action string // res == "": empty slot
	list        ruleList
}

// hashPerm hashes a permission: the resource type in full but the action
// only by its length and end bytes: actions are few and short, and a
// second full hash would cost a tenth of the check. Actions that agree
// there land in the same probe sequence and are told apart by comparison.
func hashPerm(seed maphash.Seed, res, action string) uint64 {
	a := uint64(len(action))
	if len(action) > 0 {
		a |= uint64(action[0])<<8 | uint64(action[len(action)-1])<<16
	}
	return maphash.String(seed, res) ^ bits.RotateLeft64(a*0x9e3779b97f4a7c15, 32)
}

// get returns the entry for (res, action), whose hashPerm is h, or nil.
// The entry is shared and must not be changed; a pointer, because copying
// its list out of the table cost more than finding it.
func (t *permTable) get(h uint64, res, action string) *permEntry {
	if len(t.entries) == 0 {
		return nil
	}
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		e := &t.entries[i]
		if e.res == "" {
			return nil
		}
		if e.res == res && e.action == action {
			return e
		}
	}
}

// list returns the list of the i-th key added to the builder.
func (t *permTable) list(i int) *ruleList { return &t.entries[t.slot[i]].list }

func (t *permTable) each(f func(res, action string, l *ruleList)) {
	for i := range t.entries {
		if e := &t.entries[i]; e.res != "" {
			f(e.res, e.action, &e.list)
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

// tableBuilder gathers the distinct exact permissions of a set, counting
// the rules of each, before the table is sized. Its own index is a
// throwaway slice of key numbers, not a map.
type tableBuilder struct {
	seed  maphash.Seed
	mask  uint64
	index []int32 // key number + 1; 0: empty
	keys  []tableKey
}

type tableKey struct {
	res, action string
	hash        uint64
	n           int
}

func newTableBuilder(seed maphash.Seed, maxKeys int) *tableBuilder {
	size := uint64(1)
	for size < uint64(2*maxKeys) {
		size <<= 1
	}
	return &tableBuilder{seed: seed, mask: size - 1, index: make([]int32, size), keys: make([]tableKey, 0, maxKeys)}
}

// add counts one rule for (res, action) and returns the key's number.
func (b *tableBuilder) add(res, action string) int {
	h := hashPerm(b.seed, res, action)
	for i := h & b.mask; ; i = (i + 1) & b.mask {
		k := int(b.index[i]) - 1
		if k < 0 {
			b.keys = append(b.keys, tableKey{res: res, action: action, hash: h, n: 1})
			b.index[i] = int32(len(b.keys))
			return len(b.keys) - 1
		}
		if b.keys[k].res == res && b.keys[k].action == action {
			b.keys[k].n++
			return k
		}
	}
}

// build lays the keys out in a table sized for them, each list given its
// room by carve.
func (b *tableBuilder) build(carve func(l *ruleList, n int)) permTable {
	if len(b.keys) == 0 {
		return permTable{}
	}
	size := uint64(1)
	for size < uint64(2*len(b.keys)) {
		size <<= 1
	}
	t := permTable{mask: size - 1, entries: make([]permEntry, size), slot: make([]int32, len(b.keys))}
	for ki, k := range b.keys {
		i := k.hash & t.mask
		for t.entries[i].res != "" {
			i = (i + 1) & t.mask
		}
		t.entries[i].res, t.entries[i].action = k.res, k.action
		carve(&t.entries[i].list, k.n)
		t.slot[ki] = int32(i)
	}
	return t
}
