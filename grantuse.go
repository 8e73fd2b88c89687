package authv2

import (
	"context"
	"sync"
	"time"

	"github.com/authv2/authv2/audit"
)

// grantUseFlushInterval is how often the counts of grant use go to the
// audit store: how late UnusedGrants may learn of a use, and the
// precision of its "last used" times.
const grantUseFlushInterval = 30 * time.Second

// grantUses carries grant-use counts from the engine to the audit store.
// Counts a failed write could not deliver wait for the next flush, merged
// per grant, so an outage of the store loses none and grows nothing but
// the number of grants.
type grantUses struct {
	mu      sync.Mutex
	pending map[audit.GrantUse]int64 // key: the use without Count
}

// flushGrantUse writes the engine's grant-use counts, stamped now, to the
// audit store. Without a store there is nowhere to write them.
func (m *Manager) flushGrantUse(ctx context.Context) error {
	if m.auditStore == nil {
		return nil
	}
	m.grantUse.mu.Lock()
	defer m.grantUse.mu.Unlock()
	now := m.clock.Now()
	for _, u := range m.engine.TakeGrantUse() {
		k := audit.GrantUse{TenantID: u.TenantID, Role: u.Role, Permission: u.Permission}
		m.grantUse.pending[k] += u.Count
	}
	if len(m.grantUse.pending) == 0 {
		return nil
	}
	uses := make([]audit.GrantUse, 0, len(m.grantUse.pending))
	for k, n := range m.grantUse.pending {
		k.Count, k.LastUsed = n, now
		uses = append(uses, k)
	}
	if err := m.auditStore.RecordGrantUse(ctx, uses); err != nil {
		return translate("audit.record_grant_use", err)
	}
	clear(m.grantUse.pending)
	return nil
}

// grantUseLoop flushes grant use periodically until Close, which flushes
// what is left.
func (m *Manager) grantUseLoop() {
	m.loop(grantUseFlushInterval, func(ctx context.Context) {
		if err := m.flushGrantUse(ctx); err != nil {
			m.log.Warn("authv2: recording grant use failed; retrying at the next flush", "error", err)
		}
	})
}
