package permission

import (
	"cmp"
	"context"
	"slices"
)

// whoIndex is a tenant's users grouped by compiled set, as of one policy
// version: Who decides once per set and hands the answer to every user
// of the set, deciding user by user only where a condition ran (it may
// read principal.id). Users are sorted, so answers come out sorted.
type whoIndex struct {
	version    int64
	validUntil int64 // the earliest expiry of any set's bindings
	users      []string
	group      []int32 // users[i] holds sets[group[i]]
	sets       []*compiledSet
}

// whoAttempts bounds how often Who re-reads the tenant when its version
// moves while it reads; past it, Who decides user by user as a check
// would.
const whoAttempts = 3

// Who lists, sorted, the users of tenantID allowed to perform action on
// res, deciding for each as Authorize would for a subject with no
// attributes and no session scope. Conditions that need principal
// attributes therefore fail to evaluate and do not allow.
//
// It answers from an index of the tenant's bindings by compiled set, kept
// while the tenant's policy version holds: the first Who after a change
// reads every binding and role of the tenant (four store reads and a
// version check), later ones read nothing.
func (e *Engine) Who(ctx context.Context, tenantID, action string, res Resource, req Request) ([]string, error) {
	if err := ValidateScope(res.Scope); err != nil {
		return nil, err
	}
	if e.closed.Load() {
		return nil, ErrClosed
	}
	now, mono := e.times()
	ts := e.tenant(tenantID)
	idx, bs, err := e.whoIndex(ctx, tenantID, ts, now, mono)
	if err != nil {
		return nil, err
	}
	if idx == nil {
		return e.whoPerUser(ctx, tenantID, bs, action, &res, &req, now, mono)
	}
	if len(idx.users) == 0 {
		return nil, nil
	}
	if _, err := precheck(&Subject{UserID: idx.users[0], TenantID: tenantID}, action, &res); err != nil {
		return nil, err
	}
	const (
		undecided = iota
		allAllowed
		allDenied
		perUser
	)
	verdict := make([]int8, len(idx.sets))
	var out []string
	for i, u := range idx.users {
		g := idx.group[i]
		v := verdict[g]
		if v == undecided || v == perUser {
			allowed, condRan := decideAs(idx.sets[g], u, tenantID, action, &res, &req, now)
			switch {
			case condRan:
				v = perUser
			case allowed:
				v = allAllowed
			default:
				v = allDenied
			}
			verdict[g] = v
			if v == perUser {
				if allowed {
					out = append(out, u)
				}
				continue
			}
		}
		if v == allAllowed {
			out = append(out, u)
		}
	}
	return out, nil
}

// decideAs decides for user with no attributes and no session scope,
// counting no grant use: an administrator asking who could act is not
// anyone acting. condRan reports that a condition was evaluated.
func decideAs(cs *compiledSet, user, tenantID, action string, res *Resource, req *Request, now int64) (allowed, condRan bool) {
	subj := Subject{UserID: user, TenantID: tenantID}
	if why, _ := precheck(&subj, action, res); why != "" {
		return false, false
	}
	var d Decision
	q := query{subj: &subj, res: res, req: req, action: action, nowNs: now}
	cs.decide(&d, &q)
	return d.Allowed, q.condRan
}

// whoIndex returns the tenant's current index, building it when the
// policy moved on or a binding expired. When the version kept moving
// while it read, it returns no index but the bindings last read.
func (e *Engine) whoIndex(ctx context.Context, tenantID string, ts *tenantState, now, mono int64) (*whoIndex, []Binding, error) {
	if idx := ts.who.Load(); idx != nil {
		if err := e.fresh(ctx, tenantID, ts, mono); err != nil {
			return nil, nil, err
		}
		if idx.version >= ts.known.Load() && now < idx.validUntil {
			return idx, nil, nil
		}
	}
	var bs []Binding
	for range whoAttempts {
		v, err := e.store.Version(ctx, tenantID)
		if err != nil {
			return nil, nil, err
		}
		if bs, err = e.store.ListBindings(ctx, tenantID, ""); err != nil {
			return nil, nil, err
		}
		roles, err := e.store.ListRoles(ctx, tenantID)
		if err != nil {
			return nil, nil, err
		}
		if tenantID != GlobalTenant {
			templates, err := e.store.ListRoles(ctx, GlobalTenant)
			if err != nil {
				return nil, nil, err
			}
			roles = append(roles, templates...)
		}
		after, err := e.store.Version(ctx, tenantID)
		if err != nil {
			return nil, nil, err
		}
		if after != v {
			continue // a write landed between the reads
		}
		ts.observe(v)
		idx := e.buildWho(tenantID, v, bs, roles, ts, now)
		if e.cache != nil {
			ts.who.Store(idx)
		}
		return idx, nil, nil
	}
	return nil, bs, nil
}

// buildWho groups the tenant's bindings by user and each user by compiled
// set; sets are shared with checks through the tenant's registry.
func (e *Engine) buildWho(tenantID string, version int64, bs []Binding, roles []*Role, ts *tenantState, now int64) *whoIndex {
	byUser := func(a, b Binding) int { return cmp.Compare(a.UserID, b.UserID) }
	if !slices.IsSortedFunc(bs, byUser) {
		bs = slices.Clone(bs)
		slices.SortStableFunc(bs, byUser)
	}
	idx := &whoIndex{version: version, validUntil: never}
	bySig := map[string]int32{}
	for i := 0; i < len(bs); {
		j := i + 1
		for j < len(bs) && bs[j].UserID == bs[i].UserID {
			j++
		}
		p := &Policy{TenantID: tenantID, UserID: bs[i].UserID, Version: version, Bindings: bs[i:j], Roles: roles}
		sig := signature(p, now)
		g, ok := bySig[sig]
		if !ok {
			g = int32(len(idx.sets))
			bySig[sig] = g
			cs := e.compileShared(p, ts, now)
			idx.sets = append(idx.sets, cs)
			idx.validUntil = min(idx.validUntil, cs.validUntil)
		}
		idx.users = append(idx.users, bs[i].UserID)
		idx.group = append(idx.group, g)
		i = j
	}
	return idx
}

// whoPerUser decides user by user through the cache, as a check would.
func (e *Engine) whoPerUser(ctx context.Context, tenantID string, bs []Binding, action string, res *Resource, req *Request, now, mono int64) ([]string, error) {
	users := make([]string, 0, len(bs))
	for _, b := range bs {
		users = append(users, b.UserID)
	}
	slices.Sort(users)
	var out []string
	for _, u := range slices.Compact(users) {
		subj := Subject{UserID: u, TenantID: tenantID}
		if why, err := precheck(&subj, action, res); why != "" {
			if err != nil {
				return nil, err
			}
			continue
		}
		cs, err := e.set(ctx, tenantID, u, now, mono)
		if err != nil {
			return nil, err
		}
		if allowed, _ := decideAs(cs, u, tenantID, action, res, req, now); allowed {
			out = append(out, u)
		}
	}
	return out, nil
}
