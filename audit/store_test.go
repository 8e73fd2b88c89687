package audit_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/audit"
)

func TestCursorRoundTrip(t *testing.T) {
	at := time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.UTC)
	c := audit.CursorAfter(&audit.Event{ID: "id.with.dots", Time: at})
	got, err := audit.ParseCursor(c.String())
	require.NoError(t, err)
	assert.Equal(t, c, got)
	assert.True(t, got.Time.Equal(at))

	for _, bad := range []string{"!", "bm9kb3Q", "eC55", "MTIz", "MTIzLg"} { // !, "nodot", "x.y", "123", "123."
		_, err := audit.ParseCursor(bad)
		assert.ErrorIs(t, err, audit.ErrInvalidQuery, bad)
	}
}

func TestCursorOrder(t *testing.T) {
	c := audit.Cursor{Time: time.Unix(100, 0), ID: "m"}
	assert.True(t, c.Before(&audit.Event{Time: time.Unix(99, 0), ID: "z"}))
	assert.True(t, c.Before(&audit.Event{Time: time.Unix(100, 0), ID: "a"}))
	assert.False(t, c.Before(&audit.Event{Time: time.Unix(100, 0), ID: "m"}))
	assert.False(t, c.Before(&audit.Event{Time: time.Unix(100, 0), ID: "n"}))
	assert.False(t, c.Before(&audit.Event{Time: time.Unix(101, 0), ID: "a"}))
}

func TestQueryNormalize(t *testing.T) {
	q, err := audit.Query{}.Normalize()
	require.NoError(t, err)
	assert.Equal(t, audit.DefaultPageSize, q.Limit)
	q, err = audit.Query{Limit: 1 << 20}.Normalize()
	require.NoError(t, err)
	assert.Equal(t, audit.MaxPageSize, q.Limit)
	at := time.Unix(100, 0)
	for _, bad := range []audit.Query{{Limit: -1}, {From: at, To: at}, {From: at.Add(time.Second), To: at}, {Cursor: "%%"}} {
		_, err := bad.Normalize()
		assert.ErrorIs(t, err, audit.ErrInvalidQuery)
	}
}

func TestNewBuckets(t *testing.T) {
	from := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b, err := audit.NewBuckets(from, from.Add(150*time.Minute), time.Hour)
	require.NoError(t, err)
	require.Len(t, b, 3, "the last bucket is partial")
	assert.Equal(t, from.Add(2*time.Hour), b[2].Start)
	assert.Equal(t, 2, audit.BucketIndex(from, from.Add(149*time.Minute), time.Hour))

	_, err = audit.NewBuckets(from, from.Add(time.Hour), 0)
	assert.ErrorIs(t, err, audit.ErrInvalidQuery)
	_, err = audit.NewBuckets(from, from.Add(time.Hour), time.Nanosecond)
	assert.ErrorIs(t, err, audit.ErrInvalidQuery, "too many buckets")
	_, err = audit.NewBuckets(time.Time{}, from, time.Hour)
	assert.ErrorIs(t, err, audit.ErrInvalidQuery)
}

func TestCovers(t *testing.T) {
	for _, c := range []struct {
		granted, action string
		want            bool
	}{
		{"orders:read", "orders:read", true},
		{"orders:read", "orders:write", false},
		{"orders:*", "orders:write", true},
		{"orders:*", "invoices:write", false},
		{"*:read", "invoices:read", true},
		{"*:read", "invoices:write", false},
		{"*", "anything:at_all", true},
		{"*:*", "a:b", true},
		{"orders", "orders:read", false},
		{"orders:*", "orders", false},
		{"ord*:read", "orders:read", false},
	} {
		assert.Equal(t, c.want, audit.Covers(c.granted, c.action), "%s covers %s", c.granted, c.action)
	}
}

func TestUnused(t *testing.T) {
	g := func(role, perm string) audit.Grant { return audit.Grant{Role: role, Permission: perm} }
	got := audit.Unused(
		[]audit.Grant{g("clerk", "orders:read"), g("clerk", "orders:*"), g("viewer", "orders:read"), g("clerk", "orders:*")},
		map[audit.Grant]bool{g("clerk", "orders:read"): true})
	assert.Equal(t, []audit.Grant{g("clerk", "orders:*"), g("viewer", "orders:read")}, got, "per role, in order, once")
	assert.Equal(t, []audit.Grant{}, audit.Unused(nil, nil))
}

func TestRank(t *testing.T) {
	got := audit.Rank(map[string]int{"b": 2, "a": 2, "c": 5, "d": 1}, 3)
	assert.Equal(t, []audit.Count{{Key: "c", N: 5}, {Key: "a", N: 2}, {Key: "b", N: 2}}, got)
	assert.Len(t, audit.Rank(map[string]int{"a": 1}, 0), 1)
	assert.Equal(t, audit.DefaultTopN, audit.TopLimit(-3))
	assert.Equal(t, audit.MaxPageSize, audit.TopLimit(1<<30))
}

func FuzzParseCursor(f *testing.F) {
	f.Add(audit.Cursor{Time: time.Unix(1, 2), ID: "x"}.String())
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := audit.ParseCursor(s)
		if err != nil {
			return
		}
		again, err := audit.ParseCursor(c.String())
		require.NoError(t, err)
		assert.True(t, c.Time.Equal(again.Time))
		assert.Equal(t, c.ID, again.ID)
	})
}

func TestWeight(t *testing.T) {
	for count, want := range map[string]int{
		"": 1, "1": 1, "7": 7, "1000000000": 1_000_000_000, "1000000001": 1, "0": 1, "-3": 1, "+3": 1,
		"3 ": 1, "x": 1, "99999999999": 1, "٣": 1,
	} {
		e := audit.Event{Attributes: map[string]string{audit.AttrCount: count}}
		assert.Equal(t, want, audit.Weight(&e), "count %q", count)
	}
	assert.Equal(t, 1, audit.Weight(&audit.Event{}), "no attribute")
}
