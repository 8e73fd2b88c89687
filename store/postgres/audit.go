package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lib/pq"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/randid"
)

// AuditStore is a PostgreSQL audit.Store over the audit_events table. Put
// an audit.Dispatcher in front of it: Write inserts a whole batch in one
// statement, and the Dispatcher retries a batch that failed.
//
// Instants are kept to the microsecond (truncated), as in the other
// stores. PostgreSQL text cannot hold a NUL byte or invalid UTF-8, so Write
// replaces those with U+FFFD in every field, attribute keys included,
// rather than fail: an event carrying a client's bytes must not block the
// audit trail behind it. Everything else is stored exactly as given.
type AuditStore struct {
	h *handle
	q auditQueries
}

var _ audit.Store = (*AuditStore)(nil)

type auditQueries struct {
	insert, selectFrom, loginCounts, topDenied, perDevice string
	recordUse, usedGrants                                 string
}

const auditCols = `id, time, type, outcome, actor_user_id, actor_session_id, tenant_id, scope, target,
	ip, user_agent, decision_id, trace_id, reason, attributes, impersonator_user_id`

func newAuditStore(h *handle) *AuditStore {
	// Analytics: $1 from, $2 to, then the query's own parameters; the
	// tenant condition, when there is one, is appended with the last
	// placeholder (see analytics).
	const window = ` FROM {s}.audit_events WHERE time >= $1 AND time < $2`
	return &AuditStore{h: h, q: auditQueries{
		// One statement per batch whatever its size: 16 array parameters,
		// unnested into rows. Times travel as microseconds since the epoch,
		// which is exact and covers every instant PostgreSQL can store.
		insert: h.q(`INSERT INTO {s}.audit_events (` + auditCols + `)
			SELECT id, 'epoch'::timestamptz + us * interval '1 microsecond', type, outcome, actor_user_id,
				actor_session_id, tenant_id, scope, target, ip, user_agent, decision_id, trace_id, reason, attributes::jsonb,
				impersonator_user_id
			FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
				$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[])
				AS e (id, us, type, outcome, actor_user_id, actor_session_id, tenant_id, scope, target,
					ip, user_agent, decision_id, trace_id, reason, attributes, impersonator_user_id)
			ON CONFLICT (id) DO NOTHING`),
		selectFrom: h.q(`SELECT ` + auditCols + ` FROM {s}.audit_events`),
		// $3 bucket width in microseconds, $4 and $5 the two login types.
		loginCounts: h.q(`SELECT date_bin($3::bigint * interval '1 microsecond', time, $1::timestamptz) AS start,
				count(*) FILTER (WHERE type = $4) AS success, count(*) FILTER (WHERE type = $5) AS failure` +
			window + ` AND type IN ($4, $5)`),
		// $3 type, $4 outcome, $5 attribute key, $6 limit. An event
		// counts as audit.Weight says: its count attribute when that is
		// an integer from 1 to 1e9, else 1 (nested CASEs, because only
		// CASE fixes the order of evaluation: the cast must not see a
		// count that is not digits).
		topDenied: h.q(`SELECT (attributes->>$5::text) COLLATE "C" AS key,
				sum(CASE WHEN attributes->>'` + audit.AttrCount + `' ~ '^[0-9]{1,10}$' THEN
					CASE WHEN (attributes->>'` + audit.AttrCount + `')::bigint BETWEEN 1 AND ` + strconv.Itoa(audit.MaxCount) + `
						THEN (attributes->>'` + audit.AttrCount + `')::bigint ELSE 1 END
					ELSE 1 END)::bigint AS n` + window +
			` AND type = $3 AND outcome = $4 AND attributes->>$5::text IS NOT NULL`),
		// One statement per batch: the uses are unnested, summed per grant
		// and day (an upsert may touch a row once), then added.
		recordUse: h.q(`INSERT INTO {s}.grant_use AS g (tenant_id, role, permission, day, uses, first_used, last_used)
			SELECT tenant_id, role, permission, (at AT TIME ZONE 'UTC')::date, sum(n), min(at), max(at)
			FROM (SELECT tenant_id, role, permission, n, 'epoch'::timestamptz + us * interval '1 microsecond' AS at
				FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS u (tenant_id, role, permission, n, us)
				WHERE n > 0) u
			GROUP BY 1, 2, 3, 4
			ON CONFLICT (tenant_id, role, permission, day) DO UPDATE SET uses = g.uses + EXCLUDED.uses,
				first_used = LEAST(g.first_used, EXCLUDED.first_used), last_used = GREATEST(g.last_used, EXCLUDED.last_used)`),
		// $1 from, $2 to; the day bounds let the index narrow the scan.
		usedGrants: h.q(`SELECT DISTINCT role, permission FROM {s}.grant_use
			WHERE day >= ($1::timestamptz AT TIME ZONE 'UTC')::date AND day <= ($2::timestamptz AT TIME ZONE 'UTC')::date
			AND first_used < $2 AND last_used >= $1`),
		perDevice: h.q(`SELECT COALESCE(NULLIF(attributes->>$5::text, ''), user_agent) COLLATE "C" AS key, count(*) AS n` + window +
			` AND type = $3 AND outcome = $4`),
	}}
}

// Write implements audit.Sink: one INSERT ... ON CONFLICT (id) DO NOTHING
// for the whole batch. Events whose ID is stored already are skipped; an
// event without ID gets a fresh one. events is not modified.
func (s *AuditStore) Write(ctx context.Context, events []audit.Event) error {
	const op = "audit.write"
	if len(events) == 0 {
		return nil
	}
	n := len(events)
	var (
		us                                     = make(pq.Int64Array, n)
		ids, types, outcomes, actors, sessions = make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n)
		tenants, scopes, targets, ips, agents  = make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n)
		decisions, traces, reasons, attributes = make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n)
		impersonators                          = make(pq.StringArray, n)
	)
	for i := range events {
		e := &events[i]
		id := e.ID
		if id == "" {
			id = randid.ID() // an event written without ID, named as audit.Dispatcher names them
		}
		ids[i] = storable(id)
		us[i] = e.Time.UnixMicro() // truncates, like pgTime
		types[i], outcomes[i] = storable(string(e.Type)), storable(string(e.Outcome))
		actors[i], sessions[i], impersonators[i] = storable(e.ActorUserID), storable(e.ActorSessionID), storable(e.ImpersonatorUserID)
		tenants[i], scopes[i], targets[i] = storable(e.TenantID), storable(e.Scope), storable(e.Target)
		ips[i], agents[i] = storable(e.IP), storable(e.UserAgent)
		decisions[i], traces[i], reasons[i] = storable(e.DecisionID), storable(e.TraceID), storable(e.Reason)
		attrs, err := marshalAttrs(storableMap(e.Attributes))
		if err != nil {
			return &Error{Op: op, Err: err}
		}
		attributes[i] = attrs
	}
	return s.h.retry(ctx, op, func() error {
		_, err := s.h.db.ExecContext(ctx, s.q.insert, ids, us, types, outcomes, actors, sessions,
			tenants, scopes, targets, ips, agents, decisions, traces, reasons, attributes, impersonators)
		return err
	})
}

type auditRow struct {
	ID             string    `db:"id"`
	Time           time.Time `db:"time"`
	Type           string    `db:"type"`
	Outcome        string    `db:"outcome"`
	ActorUserID    string    `db:"actor_user_id"`
	ActorSessionID string    `db:"actor_session_id"`
	TenantID       string    `db:"tenant_id"`
	Scope          string    `db:"scope"`
	Target         string    `db:"target"`
	IP             string    `db:"ip"`
	UserAgent      string    `db:"user_agent"`
	DecisionID     string    `db:"decision_id"`
	TraceID        string    `db:"trace_id"`
	Reason         string    `db:"reason"`
	Attributes     []byte    `db:"attributes"`
	Impersonator   string    `db:"impersonator_user_id"`
}

func (r *auditRow) event() (audit.Event, error) {
	e := audit.Event{
		ID: r.ID, Time: r.Time.UTC(), Type: audit.Type(r.Type), Outcome: audit.Outcome(r.Outcome),
		ActorUserID: r.ActorUserID, ActorSessionID: r.ActorSessionID, TenantID: r.TenantID, Scope: r.Scope,
		Target: r.Target, IP: r.IP, UserAgent: r.UserAgent, DecisionID: r.DecisionID, TraceID: r.TraceID,
		Reason: r.Reason, ImpersonatorUserID: r.Impersonator,
	}
	return e, unmarshalAttrs(r.Attributes, &e.Attributes)
}

// args numbers query parameters while a statement is built.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// Query implements audit.Store. Only the filters q sets appear in the
// statement, so the planner sees plain conditions and picks the index of
// the most selective one; the page reads one row more than it returns, to
// know whether there is a next page.
func (s *AuditStore) Query(ctx context.Context, q audit.Query) (audit.Page, error) {
	const op = "audit.query"
	q, err := q.Normalize()
	if err != nil {
		return audit.Page{}, err
	}
	query, a, err := s.pageQuery(q)
	if err != nil {
		return audit.Page{}, err
	}
	var rows []auditRow
	if err := s.h.retry(ctx, op, func() error {
		rows = rows[:0]
		return s.h.db.SelectContext(ctx, &rows, query, a...)
	}); err != nil {
		return audit.Page{}, err
	}
	page := audit.Page{Events: make([]audit.Event, 0, min(len(rows), q.Limit))}
	for i := range rows {
		if i == q.Limit {
			page.Next = audit.CursorAfter(&page.Events[i-1]).String()
			break
		}
		e, err := rows[i].event()
		if err != nil {
			return audit.Page{}, &Error{Op: op, Err: err}
		}
		page.Events = append(page.Events, e)
	}
	return page, nil
}

// pageQuery builds the statement of a normalized query.
func (s *AuditStore) pageQuery(q audit.Query) (string, []any, error) {
	var (
		a     args
		where []string
	)
	if q.TenantID != "" {
		where = append(where, "tenant_id = "+a.add(q.TenantID))
	}
	if q.ActorUserID != "" {
		where = append(where, "actor_user_id = "+a.add(q.ActorUserID))
	}
	if len(q.Types) > 0 {
		types := make(pq.StringArray, len(q.Types))
		for i, t := range q.Types {
			types[i] = string(t)
		}
		where = append(where, "type = ANY("+a.add(types)+"::text[])")
	}
	if q.Outcome != "" {
		where = append(where, "outcome = "+a.add(string(q.Outcome)))
	}
	if !q.From.IsZero() {
		where = append(where, "time >= "+a.add(pgTime(q.From)))
	}
	if !q.To.IsZero() {
		where = append(where, "time < "+a.add(pgTime(q.To)))
	}
	if q.Cursor != "" {
		c, err := audit.ParseCursor(q.Cursor)
		if err != nil {
			return "", nil, err
		}
		where = append(where, "(time, id) < ("+a.add(pgTime(c.Time))+"::timestamptz, "+a.add(c.ID)+"::text)")
	}
	var b strings.Builder
	b.WriteString(s.q.selectFrom)
	for i, w := range where {
		if i == 0 {
			b.WriteString(" WHERE ")
		} else {
			b.WriteString(" AND ")
		}
		b.WriteString(w)
	}
	b.WriteString(" ORDER BY time DESC, id DESC LIMIT " + a.add(q.Limit+1))
	return b.String(), a, nil
}

// analytics runs one of the window queries with its parameters after the
// window's, narrowed to tenantID when it is set, grouped and ordered as
// suffix says, and hands each row to scan.
func (s *AuditStore) analytics(ctx context.Context, op, query, tenantID string, from, to time.Time,
	params []any, suffix string, scan func(scan func(...any) error) error) error {
	a := append(args{pgTime(from), pgTime(to)}, params...)
	if tenantID != "" {
		query += " AND tenant_id = " + a.add(tenantID)
	}
	query += " " + suffix
	return s.h.retry(ctx, op, func() error {
		rows, err := s.h.db.QueryContext(ctx, query, a...)
		if err != nil {
			return err
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			if err := scan(rows.Scan); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// LoginCounts implements audit.Store with date_bin, so buckets start at
// from. The width must be a whole number of microseconds, the precision
// PostgreSQL keeps; other widths are audit.ErrInvalidQuery.
func (s *AuditStore) LoginCounts(ctx context.Context, tenantID string, from, to time.Time, bucket time.Duration) ([]audit.Bucket, error) {
	out, err := audit.NewBuckets(from, to, bucket)
	if err != nil {
		return nil, err
	}
	if bucket%time.Microsecond != 0 {
		return nil, fmt.Errorf("%w: bucket width must be a whole number of microseconds", audit.ErrInvalidQuery)
	}
	// Bins start at the origin as PostgreSQL sees it, which drops from's
	// nanoseconds: index them from that same origin.
	origin := pgTime(from)
	// Rows are written into out only once the query succeeded, so a
	// retried attempt cannot count twice.
	type row struct {
		start            time.Time
		success, failure int
	}
	var got []row
	err = s.analytics(ctx, "audit.login_counts", s.q.loginCounts, tenantID, from, to,
		[]any{bucket.Microseconds(), string(audit.TypeLoginSuccess), string(audit.TypeLoginFailure)}, "GROUP BY start",
		func(scan func(...any) error) error {
			var r row
			if err := scan(&r.start, &r.success, &r.failure); err != nil {
				return err
			}
			got = append(got, r)
			return nil
		})
	if err != nil {
		return nil, err
	}
	for _, r := range got {
		if i := audit.BucketIndex(origin, r.start, bucket); i >= 0 && i < len(out) {
			out[i].Success += r.success
			out[i].Failure += r.failure
		}
	}
	return out, nil
}

// rank runs a GROUP BY key query ranked like audit.Rank: count
// descending, then key in byte order (the queries give key the "C"
// collation, which compares as Go does).
func (s *AuditStore) rank(ctx context.Context, op, query, tenantID string, from, to time.Time, params []any, limit int) ([]audit.Count, error) {
	if err := audit.CheckWindow(from, to); err != nil {
		return nil, err
	}
	var out []audit.Count
	err := s.analytics(ctx, op, query, tenantID, from, to, params,
		`GROUP BY key ORDER BY n DESC, key LIMIT `+strconv.Itoa(audit.TopLimit(limit)),
		func(scan func(...any) error) error {
			var c audit.Count
			if err := scan(&c.Key, &c.N); err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []audit.Count{}
	}
	return out, nil
}

// TopDenied implements audit.Store.
func (s *AuditStore) TopDenied(ctx context.Context, tenantID string, from, to time.Time, limit int) ([]audit.Count, error) {
	return s.rank(ctx, "audit.top_denied", s.q.topDenied, tenantID, from, to,
		[]any{string(audit.TypeAuthorizeDecision), string(audit.Denied), audit.AttrAction}, limit)
}

// SessionsPerDevice implements audit.Store.
func (s *AuditStore) SessionsPerDevice(ctx context.Context, tenantID string, from, to time.Time, limit int) ([]audit.Count, error) {
	return s.rank(ctx, "audit.sessions_per_device", s.q.perDevice, tenantID, from, to,
		[]any{string(audit.TypeSessionCreated), string(audit.Success), audit.AttrDevice}, limit)
}

// RecordGrantUse implements audit.Store: one upsert for the whole batch.
func (s *AuditStore) RecordGrantUse(ctx context.Context, uses []audit.GrantUse) error {
	if len(uses) == 0 {
		return ctx.Err()
	}
	n := len(uses)
	tenants, roles, perms := make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n)
	counts, us := make(pq.Int64Array, n), make(pq.Int64Array, n)
	for i, u := range uses {
		tenants[i], roles[i], perms[i] = storable(u.TenantID), storable(u.Role), storable(u.Permission)
		counts[i], us[i] = u.Count, u.LastUsed.UnixMicro()
	}
	return s.h.retry(ctx, "audit.record_grant_use", func() error {
		_, err := s.h.db.ExecContext(ctx, s.q.recordUse, tenants, roles, perms, counts, us)
		return err
	})
}

// UnusedGrants implements audit.Store: the database returns the grants
// used in the window (bounded by the tenant's grants, not by how often
// they were used), and audit.Unused keeps the others.
func (s *AuditStore) UnusedGrants(ctx context.Context, tenantID string, from, to time.Time, granted []audit.Grant) ([]audit.Grant, error) {
	if err := audit.CheckWindow(from, to); err != nil {
		return nil, err
	}
	query, a := s.q.usedGrants, args{pgTime(from), pgTime(to)}
	if tenantID != "" {
		query += " AND tenant_id = " + a.add(tenantID)
	}
	used := map[audit.Grant]bool{}
	err := s.h.retry(ctx, "audit.unused_grants", func() error {
		clear(used)
		rows, err := s.h.db.QueryContext(ctx, query, a...)
		if err != nil {
			return err
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			var g audit.Grant
			if err := rows.Scan(&g.Role, &g.Permission); err != nil {
				return err
			}
			used[g] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return audit.Unused(granted, used), nil
}

// storable returns s as PostgreSQL text can hold it: invalid UTF-8 and NUL
// bytes become U+FFFD. Valid text, the common case, is returned as is.
func storable(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// storableMap applies storable to keys and values, copying m only when
// something changes.
func storableMap(m map[string]string) map[string]string {
	for k, v := range m {
		if storable(k) != k || storable(v) != v {
			out := make(map[string]string, len(m))
			for k, v := range m {
				out[storable(k)] = storable(v)
			}
			return out
		}
	}
	return m
}
