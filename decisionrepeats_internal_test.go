package authv2

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/permission"
)

// A folded record that the audit queue refuses is all its decisions lost,
// and the error logged says so: an operator counting lost decisions from
// the log must not read one where a window's repeats were hundreds.
func TestLostFoldedDecisionsAreLoggedWithTheirCount(t *testing.T) {
	var logs bytes.Buffer
	m, err := New(WithInsecurePasswordHashing(), WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, m.Close(ctx)) // the audit queue refuses from now on
	logs.Reset()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	m.emitDecisions(ctx, []decisionRecord{
		{userID: "u1", at: now},
		{userID: "u1", at: now, count: 40, last: now.Add(time.Second)},
	})
	var line struct {
		Msg   string `json:"msg"`
		Count int    `json:"count"`
	}
	require.NoError(t, json.Unmarshal(logs.Bytes(), &line), "one line: %s", logs.String())
	assert.Equal(t, "authv2: authorization decisions not recorded in the audit trail", line.Msg)
	assert.Equal(t, 41, line.Count, "decisions lost, not events")
}

// The decision clock is the wall clock (clock.Coarse keeps no monotonic
// reading): set back by an hour, it must not keep a window open for an
// hour more, holding its repeats (lost on a crash) past
// DecisionRepeatWindow.
func TestRepeatWindowClosesWhenTheClockGoesBack(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rp := newRepeats(time.Second, 100, func() time.Time { return now })
	r := decisionRecord{userID: "u1", at: now}
	rp.fold([]decisionRecord{r, r})
	require.False(t, rp.due(), "just opened")
	now = now.Add(-time.Hour) // NTP steps the clock back
	assert.True(t, rp.due(), "the window cannot tell how long it has been open: close it")
}

// A folded event's Time and last_at bound every repeat it stands for.
// Callers stamp a decision before they take the log's lock, so records
// reach the buffer a little out of time order: the first repeat in the
// buffer need not be the earliest.
func TestFoldedRecordSpansEveryRepeat(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rp := newRepeats(time.Hour, 100, func() time.Time { return t0 })
	at := func(ms int) decisionRecord {
		return decisionRecord{userID: "u1", at: t0.Add(time.Duration(ms) * time.Millisecond)}
	}
	out := rp.fold([]decisionRecord{at(0), at(3), at(1), at(2)})
	require.Len(t, out, 1)
	held := rp.take()
	require.Len(t, held, 1)
	assert.Equal(t, 3, held[0].count)
	assert.Equal(t, t0.Add(time.Millisecond), held[0].at, "Time: the earliest repeat")
	assert.Equal(t, t0.Add(3*time.Millisecond), held[0].last, "last_at: the latest")
}

// A kind whose held record has folded as many decisions as one event can
// count for (audit.MaxCount, past which audit.Weight counts one) starts a
// second record: no repeat is lost to the cap.
func TestHeldRecordStopsAtMaxCount(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rp := newRepeats(time.Hour, 10, func() time.Time { return now })
	rec := decisionRecord{userID: "u", at: now}
	rp.fold([]decisionRecord{rec, rec})
	require.Len(t, rp.held, 1)
	rp.held[0].count = audit.MaxCount - 1
	rp.fold([]decisionRecord{rec, rec, rec})
	held := rp.take()
	require.Len(t, held, 2)
	assert.Equal(t, audit.MaxCount, held[0].count)
	assert.Equal(t, 2, held[1].count)
}

// ruleDecisions returns three denials of one policy version from a real
// engine (a Decision's rule cannot be set by hand): two whose rules differ
// in the role only, and one whose rule differs from the first in the
// grant only.
func ruleDecisions(t *testing.T) (roleA, roleB, otherGrant permission.Decision) {
	t.Helper()
	m, err := New(WithInsecurePasswordHashing())
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Close(context.Background())) })
	ctx := t.Context()
	deny := func(tenant, user string) permission.Decision {
		d, err := m.Authorize(ctx, &Principal{UserID: user, TenantID: tenant}, "delete", permission.Resource{Type: "orders", ID: "o-1", TenantID: tenant})
		require.NoError(t, err)
		require.False(t, d.Allowed)
		return d
	}
	users := map[string]string{}
	for _, tenant := range []string{"acme", "globex"} {
		_, err := m.CreateTenant(ctx, tenant, tenant)
		require.NoError(t, err)
	}
	for _, role := range []string{"a", "b"} {
		u, err := m.Register(ctx, RegisterInput{Email: role + "@example.com", Password: "correct horse battery staple"})
		require.NoError(t, err)
		users[role] = u.ID
	}
	// The same steps in each tenant, so both end at the same version.
	for _, tenant := range []string{"acme", "globex"} {
		grant := map[string]string{"acme": "orders:delete", "globex": "orders:*"}[tenant]
		for _, role := range []string{"a", "b"} {
			require.NoError(t, m.PutRole(ctx, &permission.Role{TenantID: tenant, Name: role, Grants: []permission.Grant{{Permission: grant, Effect: permission.Deny}}}))
			require.NoError(t, m.Bind(ctx, permission.Binding{UserID: users[role], TenantID: tenant, Role: role}))
		}
	}
	roleA, roleB, otherGrant = deny("acme", users["a"]), deny("acme", users["b"]), deny("globex", users["a"])
	require.Equal(t, roleA.Version, otherGrant.Version)
	require.Equal(t, roleA.Reason, otherGrant.Reason)
	require.Equal(t, permission.Rule{Role: "a", Permission: "orders:delete"}, permission.Rule{Role: roleA.Rule().Role, Permission: roleA.Rule().Permission})
	require.Equal(t, "b", roleB.Rule().Role)
	require.Equal(t, "orders:*", otherGrant.Rule().Permission)
	return roleA, roleB, otherGrant
}

// Decisions differing in one field an event shows are never folded
// together, whatever the field holds: separators that make two resources
// one Target, NULs, a string's end moved into the next field.
func TestRepeatsKeepKindsDifferingInOneFieldApart(t *testing.T) {
	roleA, roleB, otherGrant := ruleDecisions(t)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	base := decisionRecord{userID: "u", sessionID: "s", tenantID: "acme", impersonatorID: "admin", ip: "192.0.2.1", userAgent: "agent",
		action: "delete", res: permission.Resource{Type: "orders", ID: "o:1", TenantID: "acme", Scope: "region:eu"}, d: roleA, at: now}
	variants := map[string]func(r *decisionRecord){
		"user":                    func(r *decisionRecord) { r.userID = "v" },
		"user with a NUL":         func(r *decisionRecord) { r.userID = "u\x00" },
		"user's end into session": func(r *decisionRecord) { r.userID, r.sessionID = "", "us" },
		"session":                 func(r *decisionRecord) { r.sessionID = "" },
		"tenant":                  func(r *decisionRecord) { r.tenantID = "globex" },
		"impersonator":            func(r *decisionRecord) { r.impersonatorID = "" },
		"api key":                 func(r *decisionRecord) { r.apiKeyID = "k1" },
		"ip":                      func(r *decisionRecord) { r.ip = "192.0.2.10" },
		"user agent":              func(r *decisionRecord) { r.userAgent = "agent\x00" },
		"ip's end into agent":     func(r *decisionRecord) { r.ip, r.userAgent = "192.0.2.", "1agent" },
		"action":                  func(r *decisionRecord) { r.action = "Delete" },
		"same target, other type": func(r *decisionRecord) { r.res.Type, r.res.ID = "orders:o", "1" },
		"resource tenant":         func(r *decisionRecord) { r.res.TenantID = "" },
		"scope":                   func(r *decisionRecord) { r.res.Scope = "region:eu/" },
		"outcome":                 func(r *decisionRecord) { r.d.Allowed = true },
		"reason":                  func(r *decisionRecord) { r.d.Reason = permission.ReasonNoMatch },
		"version":                 func(r *decisionRecord) { r.d.Version = -r.d.Version },
		"rule's role":             func(r *decisionRecord) { r.d = roleB },
		"rule's grant":            func(r *decisionRecord) { r.d = otherGrant },
	}
	for name, mutate := range variants {
		t.Run(name, func(t *testing.T) {
			other := base
			mutate(&other)
			other.d.ID = base.d.ID
			rp := newRepeats(time.Hour, 100, func() time.Time { return now })
			out := rp.fold([]decisionRecord{base, other, base, other, other, base, other})
			require.Len(t, out, 2, "each kind's first")
			assert.Equal(t, base, out[0])
			assert.Equal(t, other, out[1])
			held := rp.take()
			require.Len(t, held, 2)
			assert.Equal(t, kindOf(&base), kindOf(&held[0]))
			assert.Equal(t, 2, held[0].count)
			assert.Equal(t, kindOf(&other), kindOf(&held[1]))
			assert.Equal(t, 3, held[1].count)
		})
	}
}

// Two kinds with one hash (here forced: the index entry of one is made
// the other's) are compared in full and never folded together: the one
// that collides is emitted decision by decision.
func TestRepeatsNeverFoldKindsWhoseHashesCollide(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rp := newRepeats(time.Hour, 100, func() time.Time { return now })
	a := decisionRecord{userID: "a", at: now}
	b := decisionRecord{userID: "b", at: now.Add(time.Second)}
	require.Len(t, rp.fold([]decisionRecord{a, a}), 1)
	kb := kindOf(&b)
	rp.index[rp.hash(&kb)] = rp.index[func() uint64 { ka := kindOf(&a); return rp.hash(&ka) }()]
	out := rp.fold([]decisionRecord{b, a, b, b})
	require.Len(t, out, 3)
	for _, r := range out {
		assert.Equal(t, "b", r.userID)
	}
	held := rp.take()
	require.Len(t, held, 1)
	assert.Equal(t, "a", held[0].userID)
	assert.Equal(t, 2, held[0].count)
}
