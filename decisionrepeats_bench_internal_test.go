package authv2

import (
	"strconv"
	"testing"
	"time"

	"github.com/authv2/authv2/permission"
)

// BenchmarkRepeatsFold is the decision log's work per audited decision
// when the decisions repeat (16,384 kinds asked round and round, as the
// deny-heavy stream of bench/ does): one fold per record.
func BenchmarkRepeatsFold(b *testing.B) {
	const kinds = 16384
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rp := newRepeats(time.Hour, 4*kinds, func() time.Time { return now })
	recs := make([]decisionRecord, kinds)
	for i := range recs {
		u := strconv.Itoa(i % 1000)
		recs[i] = decisionRecord{userID: "user" + u, sessionID: "s-user" + u, tenantID: "tenant00" + strconv.Itoa(i%10),
			action: "act" + strconv.Itoa(i%5), res: permission.Resource{Type: "res" + strconv.Itoa(i%40), TenantID: "tenant00" + strconv.Itoa(i%10)},
			d: permission.Decision{Reason: permission.ReasonNoMatch, Version: 3}, at: now}
	}
	rp.fold(append([]decisionRecord(nil), recs...))
	batch := make([]decisionRecord, 256)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		copy(batch, recs[i:i+len(batch)])
		rp.fold(batch)
		if i += len(batch); i == kinds {
			i = 0
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/record")
}
