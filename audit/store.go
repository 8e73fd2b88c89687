package audit

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Attribute keys with a meaning the Store analytics rely on. Emitters set
// them in Event.Attributes; stores read them (PostgreSQL: attributes->>key).
const (
	// AttrAction is the permission an authorization decision checked,
	// written "resource:action" without wildcards, e.g. "orders:refund".
	AttrAction = "action"
	// AttrResourceType is the resource type of an authorization decision,
	// e.g. "orders".
	AttrResourceType = "resource_type"
	// AttrDevice is the device label of a session event (session.created).
	AttrDevice = "device"
	// AttrActorTenant is the tenant of the actor's session, when it is
	// in one: Event.TenantID is the tenant a change concerns.
	AttrActorTenant = "actor_tenant"
	// AttrUser is the user a session event concerns, when the actor
	// (ActorUserID) may be someone else, such as an administrator.
	AttrUser = "user"
	// AttrAttempt is the ID of the event a later one adds details to: a
	// registration of a taken address, whose owner is known only after
	// the answer (user.register with Reason email_taken and a Target).
	AttrAttempt = "attempt"
	// AttrImpersonation is the ID of the impersonation record an event
	// belongs to (impersonation.started, .ended, the session.created of
	// an impersonation session).
	AttrImpersonation = "impersonation"
	// AttrCount is how many identical decisions an authz.decision event
	// stands for, in decimal, when more than one (Config.DecisionRepeatWindow
	// folds repeats); absent, the event is one decision. Analytics count
	// an event as Weight says.
	AttrCount = "count"
	// AttrLastAt is when the latest of the decisions an event with
	// AttrCount stands for was made (RFC 3339, UTC); Event.Time is the
	// earliest's.
	AttrLastAt = "last_at"
	// AttrAPIKey is the ID of the API key the actor presented, on the
	// events of a caller authenticated by a key (its decisions, the
	// changes made with it): ActorUserID is the key's owner, who may
	// hold several.
	AttrAPIKey = "api_key"
)

// MaxCount bounds what one event can count for in analytics: a count
// past it (an application's own attribute, say) counts as one, and an
// emitter folding more decisions than this into one event starts another.
const MaxCount = 1_000_000_000

// Weight is how many decisions e stands for in analytics: its AttrCount
// when that is a decimal integer from 1 to 1,000,000,000, else 1. Stores
// that count in their own query language implement the same rule.
func Weight(e *Event) int {
	c, ok := e.Attributes[AttrCount]
	if !ok || len(c) == 0 || len(c) > 10 {
		return 1
	}
	n := 0
	for i := 0; i < len(c); i++ {
		if c[i] < '0' || c[i] > '9' {
			return 1
		}
		n = n*10 + int(c[i]-'0')
	}
	if n < 1 || n > MaxCount {
		return 1
	}
	return n
}

// Limits of queries and analytics. They keep one call's cost bounded
// whatever a caller asks for.
const (
	// DefaultPageSize is the page size of a Query with Limit 0.
	DefaultPageSize = 100
	// MaxPageSize caps Query.Limit; a larger Limit is lowered to it.
	MaxPageSize = 1000
	// DefaultTopN is the result size of a ranking asked with limit <= 0.
	DefaultTopN = 10
	// MaxBuckets caps the number of buckets LoginCounts returns.
	MaxBuckets = 10000
)

// ErrInvalidQuery reports a query or analytics call the store refuses: an
// unknown cursor, an empty or reversed time window, a bad bucket width.
// Errors returned for it wrap it, so errors.Is works.
var ErrInvalidQuery = errors.New("audit: invalid query")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidQuery, fmt.Sprintf(format, args...))
}

// Store keeps audit events for queries and analytics. It is a Sink, so a
// Dispatcher can deliver to it. Implementations are safe for concurrent
// use and pass storetest.RunAuditStore.
//
// Write is idempotent on Event.ID: an event whose ID is already stored is
// skipped, so a Dispatcher retrying a batch that was partly written creates
// no duplicates (PostgreSQL: INSERT ... ON CONFLICT (id) DO NOTHING). An
// event without ID is given a fresh one (and so cannot be deduplicated).
//
// In every method an empty tenantID (Query.TenantID) matches every tenant,
// including events of no tenant. The Manager narrows it to the tenant of
// the acting principal's session, when it is in one.
// Time windows are half-open, [from, to).
type Store interface {
	Sink
	// Query returns one page of events matching q, newest first, ordered
	// by (Time, ID) descending: the order is total, so keyset pagination
	// neither skips nor repeats events that share a timestamp.
	Query(ctx context.Context, q Query) (Page, error)
	// LoginCounts counts login.success and login.failure events per
	// bucket of the given width. Buckets start at from (PostgreSQL:
	// date_bin(bucket, time, from)), every bucket in [from, to) is
	// returned, empty ones included, oldest first; the last may be
	// shorter than the others.
	LoginCounts(ctx context.Context, tenantID string, from, to time.Time, bucket time.Duration) ([]Bucket, error)
	// TopDenied ranks the permissions (Attributes[AttrAction]) of
	// authz.decision events with outcome Denied by count, highest first,
	// ties by key ascending, at most limit (DefaultTopN when limit <= 0,
	// at most MaxPageSize). Decisions without that attribute are not
	// counted.
	TopDenied(ctx context.Context, tenantID string, from, to time.Time, limit int) ([]Count, error)
	// RecordGrantUse adds grant uses, counted in the application (not
	// sampled like the allow decisions in the trail), to the store. Each
	// use adds its Count to its grant's tally for the UTC day of LastUsed,
	// whose first and last use it widens to LastUsed (PostgreSQL: an
	// upsert). Uses with Count <= 0 are ignored. Calls accumulate: the
	// same use recorded twice counts twice.
	RecordGrantUse(ctx context.Context, uses []GrantUse) error
	// UnusedGrants returns the entries of granted, in order and without
	// duplicates, that no use recorded for that role and permission in the
	// tenant exercised in [from, to). A day's tally counts when its first
	// use is before to and its last at or after from, so a window that
	// starts and ends inside one day may see uses of that day outside
	// it.
	UnusedGrants(ctx context.Context, tenantID string, from, to time.Time, granted []Grant) ([]Grant, error)
	// SessionsPerDevice counts session.created events with outcome
	// Success per device: Attributes[AttrDevice], or the user agent when
	// that is empty (PostgreSQL: COALESCE(NULLIF(attributes->>'device',
	// ''), user_agent)), "" when neither is known. Ranked like TopDenied.
	SessionsPerDevice(ctx context.Context, tenantID string, from, to time.Time, limit int) ([]Count, error)
}

// Query selects audit events. Zero fields match everything.
type Query struct {
	TenantID    string
	ActorUserID string
	Types       []Type  // any of these
	Outcome     Outcome // "" means any
	From        time.Time
	To          time.Time // exclusive
	// Limit is the page size: 0 means DefaultPageSize, above MaxPageSize
	// means MaxPageSize.
	Limit int
	// Cursor is Page.Next of the previous page, "" for the first page.
	Cursor string
}

// Page is one page of a Query.
type Page struct {
	Events []Event
	// Next is the cursor of the following page, "" when this is the last.
	Next string
}

// Bucket is the login count of one time interval starting at Start.
type Bucket struct {
	Start   time.Time
	Success int
	Failure int
}

// Count is a key and how often it occurred.
type Count struct {
	Key string
	N   int
}

// Normalize checks q and fills its defaults: what a Store implementation
// runs before querying. Errors wrap ErrInvalidQuery.
func (q Query) Normalize() (Query, error) {
	switch {
	case q.Limit < 0:
		return q, invalid("negative limit %d", q.Limit)
	case q.Limit == 0:
		q.Limit = DefaultPageSize
	case q.Limit > MaxPageSize:
		q.Limit = MaxPageSize
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return q, invalid("empty time range")
	}
	if q.Cursor != "" {
		if _, err := ParseCursor(q.Cursor); err != nil {
			return q, err
		}
	}
	return q, nil
}

// Matches reports whether e passes q's filters (not its cursor).
func (q Query) Matches(e *Event) bool {
	if q.TenantID != "" && e.TenantID != q.TenantID {
		return false
	}
	if q.ActorUserID != "" && e.ActorUserID != q.ActorUserID {
		return false
	}
	if q.Outcome != "" && e.Outcome != q.Outcome {
		return false
	}
	if !q.From.IsZero() && e.Time.Before(q.From) {
		return false
	}
	if !q.To.IsZero() && !e.Time.Before(q.To) {
		return false
	}
	if len(q.Types) == 0 {
		return true
	}
	for _, t := range q.Types {
		if e.Type == t {
			return true
		}
	}
	return false
}

// Cursor is a position in the (Time, ID) descending order of a Query: the
// last event of a page. The next page holds the events strictly after it
// in that order (PostgreSQL: WHERE (time, id) < ($1, $2)).
type Cursor struct {
	Time time.Time
	ID   string
}

// CursorAfter returns the cursor that continues after e.
func CursorAfter(e *Event) Cursor { return Cursor{Time: e.Time, ID: e.ID} }

// String encodes c as the opaque string of Page.Next.
func (c Cursor) String() string {
	raw := strconv.FormatInt(c.Time.UnixNano(), 10) + "." + c.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// Before reports whether e comes after c in a Query's newest-first
// order, that is (e.Time, e.ID) < (c.Time, c.ID).
func (c Cursor) Before(e *Event) bool {
	if !e.Time.Equal(c.Time) {
		return e.Time.Before(c.Time)
	}
	return e.ID < c.ID
}

// ParseCursor decodes Page.Next. Errors wrap ErrInvalidQuery.
func ParseCursor(s string) (Cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, invalid("malformed cursor")
	}
	nanos, id, ok := strings.Cut(string(raw), ".")
	if !ok || id == "" {
		return Cursor{}, invalid("malformed cursor")
	}
	n, err := strconv.ParseInt(nanos, 10, 64)
	if err != nil {
		return Cursor{}, invalid("malformed cursor")
	}
	return Cursor{Time: time.Unix(0, n).UTC(), ID: id}, nil
}

// CheckWindow validates an analytics window: both ends set, from before
// to. Errors wrap ErrInvalidQuery.
func CheckWindow(from, to time.Time) error {
	if from.IsZero() || to.IsZero() {
		return invalid("time window needs both ends")
	}
	if !from.Before(to) {
		return invalid("empty time window")
	}
	return nil
}

// NewBuckets returns the empty buckets LoginCounts fills: one per width
// from from, up to to. Errors wrap ErrInvalidQuery.
func NewBuckets(from, to time.Time, width time.Duration) ([]Bucket, error) {
	if err := CheckWindow(from, to); err != nil {
		return nil, err
	}
	if width <= 0 {
		return nil, invalid("bucket width must be positive")
	}
	n := to.Sub(from) / width
	if to.Sub(from)%width != 0 {
		n++
	}
	if n > MaxBuckets {
		return nil, invalid("more than %d buckets", MaxBuckets)
	}
	out := make([]Bucket, n)
	for i := range out {
		out[i].Start = from.Add(time.Duration(i) * width).UTC()
	}
	return out, nil
}

// BucketIndex returns the index in NewBuckets(from, ...) of the bucket
// holding t, assuming from <= t.
func BucketIndex(from, t time.Time, width time.Duration) int {
	return int(t.Sub(from) / width)
}

// TopLimit applies the ranking limit rule of TopDenied and
// SessionsPerDevice.
func TopLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultTopN
	case limit > MaxPageSize:
		return MaxPageSize
	}
	return limit
}

// Rank sorts counts by N descending then Key ascending, and cuts them to
// TopLimit(limit).
func Rank(counts map[string]int, limit int) []Count {
	out := make([]Count, 0, len(counts))
	for k, n := range counts {
		out = append(out, Count{Key: k, N: n})
	}
	slices.SortFunc(out, func(a, b Count) int {
		return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.Key, b.Key))
	})
	if l := TopLimit(limit); len(out) > l {
		out = out[:l]
	}
	return out
}

// Covers reports whether the granted permission (wildcards allowed:
// "orders:*", "*:read", "*") covers the concrete action "resource:action",
// with the permission engine's rules.
func Covers(granted, action string) bool {
	if granted == "*" || granted == action {
		return true
	}
	gr, ga, ok := strings.Cut(granted, ":")
	if !ok {
		return false
	}
	ar, aa, ok := strings.Cut(action, ":")
	if !ok {
		return false
	}
	return (gr == "*" || gr == ar) && (ga == "*" || ga == aa)
}

// Grant names a grant of a role: its permission as written, wildcards
// and all.
type Grant struct {
	Role       string
	Permission string
}

// GrantUse is how often a role's grant allowed a check in a tenant, and
// when it last did (to the precision of the application's flushes). For a
// grant a tenant's role inherits from a template, Role is the template.
type GrantUse struct {
	TenantID   string
	Role       string
	Permission string
	Count      int64
	LastUsed   time.Time
}

// Unused returns the entries of granted, in order and without duplicates,
// that are not in used.
func Unused(granted []Grant, used map[Grant]bool) []Grant {
	out := []Grant{}
	seen := make(map[Grant]bool, len(granted))
	for _, g := range granted {
		if !seen[g] && !used[g] {
			out = append(out, g)
		}
		seen[g] = true
	}
	return out
}
