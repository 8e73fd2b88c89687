package authv2

import (
	"encoding/binary"
	"hash/maphash"
	"time"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/permission"
)

// repeats folds audited decisions that repeat one another into one event
// per window. A service's denials are mostly the same few questions
// asked again (a menu probing what a user may not do, page after page):
// each would otherwise cost an audit event and a write to the audit
// store, and a deny-heavy service would be paced by its audit store.
//
// The first decision of each kind in a window is emitted as it comes,
// as its own event, so nothing waits longer than it did before; the
// decisions identical to it that follow within the window are counted
// and emitted together when the window closes, as one event carrying
// the first repeat's ID and trace, the earliest repeat's time, their
// count and the time of the latest. Identical means every field an
// event shows but the IDs and times: the user, session, tenant,
// impersonator, API key, client, permission, resource, outcome, reason, rule and
// policy version. So every decision is in the trail, with its kind,
// count and time range; what a repeat loses is its own decision and
// trace ID.
//
// The window closes after Config.DecisionRepeatWindow, when limit kinds
// are held, and on FlushAudit and Close. Only the log's goroutine (under
// its drain lock) touches it.
type repeats struct {
	window time.Duration
	limit  int
	now    func() time.Time

	start time.Time // when the window opened; zero: closed
	seed  maphash.Seed
	buf   []byte           // hash's, reused
	index map[uint64]int32 // a kind's hash: into kinds
	kinds []kindState      // the kinds seen in the window
	held  []decisionRecord // the first repeat of each kind that repeated, with count and last
}

// kindState is a kind seen in the window and where its repeats are held
// (-1: none yet).
type kindState struct {
	kind decisionKind
	held int32
}

// decisionKind is what makes two decisions the same kind: every field
// decisionEvent reads but the decision ID, the time and the trace ID.
type decisionKind struct {
	userID, sessionID, tenantID, impersonatorID string
	apiKeyID                                    string
	ip, userAgent, action                       string
	resType, resID, resTenant, resScope         string
	allowed                                     bool
	reason                                      permission.Reason
	role, grant                                 string
	version                                     int64
}

func kindOf(r *decisionRecord) decisionKind {
	rule := r.d.Rule()
	return decisionKind{
		userID: r.userID, sessionID: r.sessionID, tenantID: r.tenantID, impersonatorID: r.impersonatorID, apiKeyID: r.apiKeyID,
		ip: r.ip, userAgent: r.userAgent, action: r.action,
		resType: r.res.Type, resID: r.res.ID, resTenant: r.res.TenantID, resScope: r.res.Scope,
		allowed: r.d.Allowed, reason: r.d.Reason, role: rule.Role, grant: rule.Permission, version: r.d.Version,
	}
}

func newRepeats(window time.Duration, limit int, now func() time.Time) *repeats {
	return &repeats{window: window, limit: max(1, limit), now: now, index: map[uint64]int32{}, seed: maphash.MakeSeed()}
}

// hash hashes k's fields in one call, over their bytes laid end to end,
// each preceded by its length, in a buffer the log reuses: a Go map keyed
// by the kind itself hashed each of its strings apart, and so did writing
// them one by one to a maphash.Hash, which cost the log more per decision
// than the check that made it. Kinds with the same hash are compared in
// full.
func (rp *repeats) hash(k *decisionKind) uint64 {
	b := rp.buf[:0]
	for _, s := range [...]string{k.userID, k.sessionID, k.tenantID, k.impersonatorID, k.apiKeyID, k.ip, k.userAgent, k.action,
		k.resType, k.resID, k.resTenant, k.resScope, string(k.reason), k.role, k.grant} {
		b = append(binary.AppendUvarint(b, uint64(len(s))), s...)
	}
	b = binary.AppendVarint(b, k.version)
	if k.allowed {
		b = append(b, 1)
	}
	rp.buf = b
	return maphash.Bytes(rp.seed, b)
}

// fold keeps the batch's repeats and returns the decisions to emit now:
// the batch's first decision of each kind, in order, in batch's own
// array.
func (rp *repeats) fold(batch []decisionRecord) []decisionRecord {
	if rp.start.IsZero() && len(batch) > 0 {
		rp.start = rp.now()
	}
	out := batch[:0]
	for i := range batch {
		r := &batch[i]
		k := kindOf(r)
		h := rp.hash(&k)
		j, seen := rp.index[h]
		switch {
		case !seen:
			if len(rp.kinds) < rp.limit {
				rp.index[h] = int32(len(rp.kinds))
				rp.kinds = append(rp.kinds, kindState{kind: k, held: -1})
			}
			// Past the limit, what is new is emitted as it comes until
			// the window closes (at the latest at the end of this drain).
			out = append(out, *r)
		case rp.kinds[j].kind != k:
			// Another kind with the same hash: never folded together.
			out = append(out, *r)
		case rp.kinds[j].held < 0 || rp.held[rp.kinds[j].held].count >= audit.MaxCount:
			// The kind's first repeat, or its record is as full as
			// audit.Weight counts: a new record, the full one emitted
			// with the others.
			rp.kinds[j].held = int32(len(rp.held))
			rp.held = append(rp.held, *r)
			rp.held[len(rp.held)-1].count, rp.held[len(rp.held)-1].last = 1, r.at
		default:
			hr := &rp.held[rp.kinds[j].held]
			hr.count++
			// Callers stamp a decision before they take the log's lock:
			// the buffer is in time order only roughly, so the range is
			// widened both ways.
			if r.at.Before(hr.at) {
				hr.at = r.at
			}
			if r.at.After(hr.last) {
				hr.last = r.at
			}
		}
	}
	return out
}

// due reports whether the window should close now. A clock set back
// (the decision clock is the wall clock, without a monotonic reading)
// closes it too: otherwise it would stay open, its repeats held, until the
// clock caught up.
func (rp *repeats) due() bool {
	if rp.start.IsZero() {
		return false
	}
	open := rp.now().Sub(rp.start)
	return len(rp.kinds) >= rp.limit || open >= rp.window || open < 0
}

// take closes the window and returns the repeats it held, one record per
// kind that repeated, in the order their first repeat came. The records
// are valid until the next fold.
func (rp *repeats) take() []decisionRecord {
	out := rp.held
	rp.held = rp.held[:0]
	clear(rp.kinds) // the strings may be freed
	rp.kinds = rp.kinds[:0]
	clear(rp.index)
	rp.start = time.Time{}
	return out
}
