package permission

import (
	"hash/maphash"
	"testing"
)

// An entry past its expiry is replaced in place, not copied into the next
// slot: a check whose binding expired must not fill its group with
// copies of itself.
func TestMemoReusesExpiredSlots(t *testing.T) {
	m := newMemo(memoWays)
	seed := maphash.MakeSeed()
	ts := &tenantState{}
	rule := &ruleInfo{Rule: Rule{Role: "r"}}
	pe := &permEntry{res: "orders", action: "read", list: ruleList{fast: rule}}
	h := memoKey(maphash.String(seed, "u"), hashPerm(seed, "orders", "read"))
	for now := int64(0); now < 10; now++ {
		cs := &compiledSet{version: 1, validUntil: now + 1, ts: ts} // each set expires at the next tick
		m.remember(h, "t", "u", cs, pe, now, 1)
		if e := m.get(h, "t", "u", "orders", "read"); e == nil || e.validUntil != now+1 {
			t.Fatalf("tick %d: the fresh entry is not the one found: %+v", now, e)
		}
	}
	used := 0
	for i := range m.slots {
		if m.slots[i].Load() != nil {
			used++
		}
	}
	if used != 1 {
		t.Fatalf("%d slots used by one check", used)
	}
}
