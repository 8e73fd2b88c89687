package permission

import (
	"cmp"
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
	// fast is that allow, fastScope its scope and fastUse its counter:
	// the common check then decides and counts from the list's head
	// alone, without touching the rules or the rule's details.
	fast      *ruleInfo
	fastUse   *useCounter
	fastScope string
}

type permKey struct{ res, action string }

// compiledSet is the immutable, indexed form of a policy in one tenant,
// as one set of effective bindings reaches it. It names no user: every
// user of the tenant whose active bindings have the same roles, scopes
// and expiries at the same policy version shares one set (see
// signature).
//
// The tenant's vocabulary numbers every exact permission its sets name
// (see vocab); a set is a bitmap over those numbers and, in number order,
// one merged list per bit set: the exact rules of that permission and
// the wildcard rules that apply to it. A check that names a permission
// the set lacks (most denials) costs the vocabulary's probe, shared by
// every user of the tenant and so hot in the CPU cache, and one word of
// the bitmap.
type compiledSet struct {
	// The fields a check reads come first, so a denial of a permission
	// the set lacks reads one or two lines of it.
	ts      *tenantState // nil for a set compiled for Explain
	vocab   *vocab       // numbers every permission of the bitmap
	version int64
	// validUntil is the earliest binding expiry (unix nanoseconds): past
	// it the set is recompiled so expired bindings drop out and
	// principal.roles stays true.
	validUntil int64
	// The bitmap: bit i set when the set holds a list for permission i,
	// the first 128 bits in head, any further ones in more.
	head [2]uint64
	wild bool // byRes, byAction or all holds a rule
	more []uint64

	lists    []ruleList           // one per bit of the bitmap, in bit order
	byRes    map[string]*ruleList // resource:*
	byAction map[string]*ruleList // *:action
	all      *ruleList            // *
	roles    []string             // every role the bindings reach, sorted
	tenant   string
	adapter  types.Adapter
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
// Each rule gets its grant's use counter from u (none when u is nil).
// number numbers the exact permissions: the tenant's vocabulary
// (tenantState.number), or a private one when number is nil.
func compileSet(p *Policy, conds *conditions, in *interner, now int64, u *usage, number func([]string) *vocab) *compiledSet {
	held, roles, until := collect(p, now, in)
	cs := &compiledSet{
		tenant: p.TenantID, version: p.Version, validUntil: until,
		roles: roles, adapter: conds.adapter, all: &ruleList{},
	}
	rules := make([]rule, 0, len(held))
	perms := make([]Permission, 0, len(held))
	written := make([]string, 0, len(held)) // each rule's permission as the grant has it
	for _, h := range held {
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
		info := &ruleInfo{Rule: Rule{Role: h.role, BoundRole: h.bound, Scope: h.scope, Permission: permStr,
			Effect: effectOf(h.grant.Effect), Condition: h.grant.Condition}}
		if u != nil && h.grant.Effect == Allow {
			// Keyed by the permission as written, which is how
			// UnusedGrants names the grant.
			info.use = u.counter(p.TenantID, h.role, h.grant.Permission)
		}
		r := rule{deny: h.grant.Effect != Allow, scope: h.scope, expires: h.expires, info: info}
		if h.grant.Condition != "" {
			if prog, err := conds.compile(h.grant.Condition); err != nil {
				r.broken = true
			} else {
				r.prog = prog
			}
		}
		rules = append(rules, r)
		perms = append(perms, h.perm)
		written = append(written, h.grant.Permission)
	}
	// Each exact permission's list also holds the wildcard rules that
	// apply to it, so the common check reads one list; the wildcard lists
	// answer permissions no grant names exactly.
	add := func(m map[string]*ruleList, k string, r rule) map[string]*ruleList {
		if m == nil {
			m = map[string]*ruleList{}
		}
		if m[k] == nil {
			m[k] = &ruleList{}
		}
		m[k].rules = append(m[k].rules, r)
		return m
	}
	// An exact permission as written is its vocabulary key,
	// "resource:action" (ParsePermission accepts no other form).
	type exactList struct {
		key string
		ruleList
	}
	exact := map[permKey]*exactList{}
	for i, p := range perms {
		if k := (permKey{p.Resource, p.Action}); kindOf(p) == kindExact && exact[k] == nil {
			exact[k] = &exactList{key: in.get(written[i])}
		}
	}
	for i, r := range rules {
		switch p := perms[i]; kindOf(p) {
		case kindExact:
			l := exact[permKey{p.Resource, p.Action}]
			l.rules = append(l.rules, r)
			continue
		case kindRes:
			cs.byRes = add(cs.byRes, p.Resource, r)
		case kindAct:
			cs.byAction = add(cs.byAction, p.Action, r)
		default:
			cs.all.rules = append(cs.all.rules, r)
		}
		for k, l := range exact {
			if perms[i].Matches(k.res, k.action) {
				l.rules = append(l.rules, r)
			}
		}
	}
	keys := make([]string, 0, len(exact))
	byKey := make(map[string]*exactList, len(exact))
	for _, l := range exact {
		keys = append(keys, l.key)
		byKey[l.key] = l
	}
	if number == nil {
		number = newVocab
	}
	cs.vocab = number(keys)
	ids := make([]int32, len(keys))
	top := int32(-1)
	for i, k := range keys {
		ids[i] = cs.vocab.ids[k]
		top = max(top, ids[i])
	}
	if top >= 128 {
		cs.more = make([]uint64, (top-128)/64+1)
	}
	for _, id := range ids {
		if id < 128 {
			cs.head[id/64] |= 1 << (id % 64)
		} else {
			cs.more[(id-128)/64] |= 1 << (id % 64)
		}
	}
	// lists in number order: the rank of a permission's bit is its list.
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(cs.vocab.ids[a], cs.vocab.ids[b]) })
	cs.lists = make([]ruleList, len(keys))
	for i, k := range keys {
		cs.lists[i] = byKey[k].ruleList
		sortRules(&cs.lists[i])
	}
	cs.wild = len(cs.byRes)+len(cs.byAction)+len(cs.all.rules) > 0
	for _, l := range cs.byRes {
		sortRules(l)
	}
	for _, l := range cs.byAction {
		sortRules(l)
	}
	sortRules(cs.all)
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
		l.fast, l.fastUse, l.fastScope = l.rules[0].info, l.rules[0].info.use, l.rules[0].scope
	}
}

// wildLists returns the wildcard rule lists that can apply to (res, action),
// for a permission the set holds no merged list of.
func (cs *compiledSet) wildLists(res, action string) (ls [3]*ruleList, n int) {
	if !cs.wild {
		return ls, 0
	}
	if l := cs.byRes[res]; l != nil {
		ls[n] = l
		n++
	}
	if l := cs.byAction[action]; l != nil {
		ls[n] = l
		n++
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
	// condRan records that a condition was evaluated: the decision may
	// then depend on who asks, not only on the set (Who).
	condRan bool
	// use is the counter of the grant that allowed, for Authorize to
	// count (Who and Explain do not).
	use *useCounter
}

func (q *query) activation(act **activation, roles []string, ad types.Adapter) *activation {
	q.condRan = true
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
// covering the resource's scope) is answered from the list alone;
// anything else goes through scan. A permission the set does not name
// costs one map probe and the wildcard lists, usually empty.
func (cs *compiledSet) decide(d *Decision, q *query) {
	d.Version = cs.version
	if l := cs.exactList(q.res.Type, q.action); l != nil {
		if l.fast != nil && ScopeCovers(l.fastScope, q.res.Scope) {
			d.Allowed, d.Effect, d.Reason, d.rule, q.use = true, Allow, ReasonAllowed, l.fast, l.fastUse
			return
		}
		cs.scan(d, q, [3]*ruleList{l}, 1)
		return
	}
	ls, n := cs.wildLists(q.res.Type, q.action)
	cs.scan(d, q, ls, n)
}

// exactList returns the merged list of an exact permission, or nil.
func (cs *compiledSet) exactList(res, action string) *ruleList {
	v := cs.vocab
	if ts := cs.ts; ts != nil {
		// The tenant's newest vocabulary numbers everything this set's
		// did, the same way, and is the one other sets' checks keep hot.
		if cur := ts.vocab.Load(); cur != nil && cur.gen == v.gen {
			v = cur
		}
	}
	id, ok := v.lookup(res, action)
	if !ok {
		return nil
	}
	var w uint64
	switch i := int(id / 64); {
	case i < len(cs.head):
		w = cs.head[i]
	case i-len(cs.head) < len(cs.more):
		w = cs.more[i-len(cs.head)]
	}
	bit := uint64(1) << (id % 64)
	if w&bit == 0 {
		return nil
	}
	// The list's index is the number of bits below this one.
	n := bits.OnesCount64(w & (bit - 1))
	for i := range int(id / 64) {
		if i < len(cs.head) {
			n += bits.OnesCount64(cs.head[i])
		} else {
			n += bits.OnesCount64(cs.more[i-len(cs.head)])
		}
	}
	return &cs.lists[n]
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
			d.Allowed, d.Effect, d.Reason, d.rule, q.use = true, Allow, ReasonAllowed, r.info, r.info.use
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
	names sync.Map     // string -> string
	perms sync.Map     // permission string -> Permission (interned halves)
	n     atomic.Int64 // entries in both, bounded by maxInterned
}

// maxInterned bounds the interner: past it (a flood of distinct names)
// new names are no longer shared, which costs speed, never correctness.
const maxInterned = 1 << 16

func newInterner() *interner { return &interner{} }

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
