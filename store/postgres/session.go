package postgres

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
)

// SessionStore is a PostgreSQL session.Store. Sessions are read by primary
// key; a user's sessions through an index on user_id; expiry through an index
// on the stored expires_at column (the earlier of idle and absolute expiry).
type SessionStore struct {
	h *handle
	q sessionQueries
	// lockClass is the first half of the per-user advisory lock key; it
	// names the schema, so stores in different schemas do not contend
	// (short of a hash collision, which only costs a wait).
	lockClass string
	// journal receives the events of the recording writes (OpenJournal).
	journal atomic.Pointer[Journal]
}

var _ session.Store = (*SessionStore)(nil)

type sessionQueries struct {
	// get and touch are the statements of Authenticate.
	get, touch                                                         *stmt
	insert, update, revoke, revokeUser, rotate, lockUser               string
	liveByCreated, liveBySeen, evict, listByUser, deleteExpired, stats string
	// revokeRecorded is revoke committing events (journalInsert) when it
	// finds the session, in the same statement.
	revokeRecorded string
}

const sessionCols = `id, secret_hash, user_id, tenant_id, scope, created_at, last_seen_at,
	idle_expires_at, absolute_expires_at, authenticated_at, auth_level, client_ip, user_agent,
	device_label, revoked_at, revoke_reason, security_stamp, replaced_by, attributes, auth_proofs,
	impersonator_user_id, impersonator_session_id, impersonation_id`

// deleteBatch bounds the rows one DeleteExpired statement removes, so a
// large backlog is cleared in short transactions.
const deleteBatch = 5000

func newSessionStore(h *handle) *SessionStore {
	live := `FROM {s}.sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2`
	return &SessionStore{h: h, lockClass: "authv2.sessions:" + h.schema, q: sessionQueries{
		revokeRecorded: h.q(`WITH u AS (
				UPDATE {s}.sessions SET revoked_at = $2, revoke_reason = $3
				WHERE id = $1 AND revoked_at IS NULL RETURNING 1),
			f AS (SELECT EXISTS (SELECT 1 FROM u) OR EXISTS (SELECT 1 FROM {s}.sessions WHERE id = $1) AS found),
			j AS (`) + h.journalInsertAt(4, ", f WHERE f.found") + `)
			SELECT found FROM f`,
		insert: h.q(`INSERT INTO {s}.sessions (` + sessionCols + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`),
		get: h.stmt(h.q(`SELECT ` + sessionCols + ` FROM {s}.sessions WHERE id = $1`)),
		// An expiry is final: a session past its deadline at lastSeen is
		// not renewed (see session.Store.Touch).
		touch: h.stmt(h.q(`UPDATE {s}.sessions SET last_seen_at = $2, idle_expires_at = $3
			WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2`)),
		update: h.q(`UPDATE {s}.sessions SET tenant_id = $2, scope = $3, auth_level = $4, authenticated_at = $5,
			client_ip = $6, user_agent = $7, device_label = $8, auth_proofs = $9 WHERE id = $1 AND revoked_at IS NULL`),
		// One statement tells "revoked now", "already revoked" (no write)
		// and "missing" apart.
		revoke: h.q(`WITH u AS (
				UPDATE {s}.sessions SET revoked_at = $2, revoke_reason = $3
				WHERE id = $1 AND revoked_at IS NULL RETURNING 1)
			SELECT EXISTS (SELECT 1 FROM u) OR EXISTS (SELECT 1 FROM {s}.sessions WHERE id = $1)`),
		// Expired or not: another instance's clock may lag this one's.
		revokeUser: h.q(`UPDATE {s}.sessions SET revoked_at = $2, revoke_reason = $3
			WHERE user_id = $1 AND revoked_at IS NULL AND id <> $4
			AND ($5 = '' OR tenant_id = $5) RETURNING id`),
		// Revoking the old session and inserting its successor in one
		// statement makes rotation atomic without a transaction: if the
		// insert fails, the update is undone with it. It holds the
		// user's lock (as RevokeUser does) from before it locks the old
		// row until it commits: the update takes that row only from the
		// join with the lock's one row. See RevokeUser for why.
		rotate: h.q(`WITH held AS (SELECT pg_advisory_xact_lock(hashtext($26::text), hashtext($3::text))),
			old AS (
				UPDATE {s}.sessions SET revoked_at = $24, revoke_reason = '` + session.ReasonRotated + `', replaced_by = $1
				FROM held
				WHERE id = $25 AND user_id = $3 AND revoked_at IS NULL AND expires_at > $24
				RETURNING 1)
			INSERT INTO {s}.sessions (` + sessionCols + `)
			SELECT $1::text, $2::bytea, $3::text, $4::text, $5::text, $6::timestamptz, $7::timestamptz,
				$8::timestamptz, $9::timestamptz, $10::timestamptz, $11::integer, $12::text, $13::text,
				$14::text, $15::timestamptz, $16::text, $17::text, $18::text, $19::jsonb, $20::text,
				$21::text, $22::text, $23::text
			WHERE EXISTS (SELECT 1 FROM old)`),
		lockUser: `SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))`,
		// Ties are broken by ID in byte order (COLLATE "C"), like the memory store.
		liveByCreated: h.q(`SELECT id ` + live + ` ORDER BY created_at, id COLLATE "C"`),
		liveBySeen:    h.q(`SELECT id ` + live + ` ORDER BY last_seen_at NULLS FIRST, id COLLATE "C"`),
		evict:         h.q(`UPDATE {s}.sessions SET revoked_at = $2, revoke_reason = $3 WHERE id = ANY($1)`),
		listByUser:    h.q(`SELECT ` + sessionCols + ` ` + live + ` ORDER BY created_at DESC, id COLLATE "C"`),
		deleteExpired: h.q(`DELETE FROM {s}.sessions WHERE id IN (
			SELECT id FROM {s}.sessions WHERE expires_at < $1 ORDER BY expires_at LIMIT $2)`),
		// GROUPING SETS computes every breakdown in one pass. GROUPING()
		// says which set a row belongs to: 3 tenant, 5 user, 6 device, 7 total.
		stats: h.q(`SELECT GROUPING(tenant_id, user_id, device_label),
				COALESCE(tenant_id, ''), COALESCE(user_id, ''), COALESCE(device_label, ''),
				count(*) FILTER (WHERE revoked_at IS NULL AND expires_at > $3),
				count(*) FILTER (WHERE ($4::timestamptz IS NULL OR created_at >= $4) AND ($5::timestamptz IS NULL OR created_at < $5)),
				count(*) FILTER (WHERE revoked_at IS NOT NULL AND ($4::timestamptz IS NULL OR revoked_at >= $4) AND ($5::timestamptz IS NULL OR revoked_at < $5))
			FROM {s}.sessions
			WHERE ($1 = '' OR tenant_id = $1) AND ($2 = '' OR user_id = $2)
			GROUP BY GROUPING SETS ((tenant_id), (user_id), (device_label), ())`),
	}}
}

func sessionArgs(x *session.Session) []any {
	// A map of strings always marshals.
	attrs, _ := marshalAttrs(x.Attributes)
	var imp session.Impersonator
	if x.Impersonator != nil {
		imp = *x.Impersonator
	}
	return []any{x.ID, x.SecretHash, x.UserID, x.TenantID, x.Scope, pgTime(x.CreatedAt), nullTime(x.LastSeenAt),
		pgTime(x.IdleExpiresAt), pgTime(x.AbsoluteExpiresAt), nullTime(x.AuthenticatedAt), x.AuthLevel,
		x.Client.IP, x.Client.UserAgent, x.Client.DeviceLabel, nullTime(x.RevokedAt), x.RevokeReason,
		x.SecurityStamp, x.ReplacedBy, attrs, marshalProofs(x.Proofs), imp.UserID, imp.SessionID, imp.ImpersonationID}
}

// marshalProofs encodes proofs as the auth_proofs column keeps them:
// one "factor microseconds uv credential" group per proof, groups joined
// by ";". Text rather than jsonb: Authenticate decodes the column on
// every request, and decoding JSON made a PostgreSQL Authenticate of a
// session with two proofs 7% slower than one without; splitting text is
// not measurable. The credential ID is query-escaped, so no separator
// can appear in it (base64url IDs pass unchanged).
func marshalProofs(ps mfa.Proofs) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(';')
		}
		uv := "0"
		if p.UserVerified {
			uv = "1"
		}
		b.WriteString(string(p.Factor) + " " + strconv.FormatInt(p.At.UnixMicro(), 10) + " " + uv + " " + url.QueryEscape(p.CredentialID))
	}
	return b.String()
}

// errBadProofs is a stored auth_proofs value marshalProofs did not write.
var errBadProofs = errors.New("authv2/postgres: stored session proofs are corrupt")

func unmarshalProofs(s string) (mfa.Proofs, error) {
	if s == "" {
		return nil, nil
	}
	ps := make(mfa.Proofs, 0, strings.Count(s, ";")+1)
	for group := range strings.SplitSeq(s, ";") {
		f := strings.SplitN(group, " ", 4)
		if len(f) != 4 {
			return nil, errBadProofs
		}
		at, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, errBadProofs
		}
		cred := f[3]
		if strings.Contains(cred, "%") || strings.Contains(cred, "+") {
			if cred, err = url.QueryUnescape(cred); err != nil {
				return nil, errBadProofs
			}
		}
		ps = append(ps, mfa.Proof{Factor: mfa.Factor(f[0]), At: time.UnixMicro(at).UTC(), UserVerified: f[2] == "1", CredentialID: cred})
	}
	return ps, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanSession(r scanner) (*session.Session, error) {
	var (
		x                           session.Session
		lastSeen, authAt, revokedAt sql.NullTime
		attrs                       []byte
		proofs                      string
		imp                         session.Impersonator
	)
	err := r.Scan(&x.ID, &x.SecretHash, &x.UserID, &x.TenantID, &x.Scope, &x.CreatedAt, &lastSeen,
		&x.IdleExpiresAt, &x.AbsoluteExpiresAt, &authAt, &x.AuthLevel, &x.Client.IP, &x.Client.UserAgent,
		&x.Client.DeviceLabel, &revokedAt, &x.RevokeReason, &x.SecurityStamp, &x.ReplacedBy, &attrs, &proofs,
		&imp.UserID, &imp.SessionID, &imp.ImpersonationID)
	if err != nil {
		return nil, err
	}
	if imp.UserID != "" {
		x.Impersonator = &imp
	}
	if err := unmarshalAttrs(attrs, &x.Attributes); err != nil {
		return nil, err
	}
	if x.Proofs, err = unmarshalProofs(proofs); err != nil {
		return nil, err
	}
	x.CreatedAt, x.IdleExpiresAt, x.AbsoluteExpiresAt = x.CreatedAt.UTC(), x.IdleExpiresAt.UTC(), x.AbsoluteExpiresAt.UTC()
	x.LastSeenAt, x.AuthenticatedAt, x.RevokedAt = timeOf(lastSeen), timeOf(authAt), timeOf(revokedAt)
	return &x, nil
}

// Create implements session.Store. With a limit, the user's live sessions
// are counted and the new one inserted under a transaction-scoped advisory
// lock on the user, so concurrent logins of one user take turns while other
// users are not blocked.
func (s *SessionStore) Create(ctx context.Context, x *session.Session, limit session.Limit, now time.Time) ([]string, error) {
	const op = "session.create"
	if limit.Max <= 0 {
		return nil, s.h.retry(ctx, op, func() error {
			_, err := s.h.db.ExecContext(ctx, s.q.insert, sessionArgs(x)...)
			return err
		})
	}
	var evicted []string
	err := s.h.inTx(ctx, op, func(tx *sqlx.Tx) error {
		evicted = nil
		// The lock must be its own statement: a statement's snapshot is
		// taken before it runs, and the count has to see every session
		// committed by the previous lock holder.
		if _, err := tx.ExecContext(ctx, s.q.lockUser, s.lockClass, x.UserID); err != nil {
			return err
		}
		q := s.q.liveByCreated
		if limit.Policy == session.EvictLeastRecentlyUsed {
			q = s.q.liveBySeen
		}
		var live []string
		if err := tx.SelectContext(ctx, &live, q, x.UserID, pgTime(now)); err != nil {
			return err
		}
		if excess := len(live) - limit.Max + 1; excess > 0 {
			if limit.Policy == session.Refuse {
				return store.ErrLimit
			}
			evicted = live[:excess]
			if _, err := tx.ExecContext(ctx, s.q.evict, pq.StringArray(evicted), pgTime(now), session.ReasonEvicted); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, s.q.insert, sessionArgs(x)...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return evicted, nil
}

// Get implements session.Store: one primary-key lookup.
func (s *SessionStore) Get(ctx context.Context, id string) (*session.Session, error) {
	var x *session.Session
	err := s.h.retry(ctx, "session.get", func() error {
		return s.q.get.queryRow(ctx, func(r scanner) error {
			var err error
			x, err = scanSession(r)
			return err
		}, id)
	})
	return x, err
}

// Touch implements session.Store.
func (s *SessionStore) Touch(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	return s.h.retry(ctx, "session.touch", func() error {
		return expectRow(s.q.touch.exec(ctx, id, nullTime(lastSeen), pgTime(idleExpires)))
	})
}

// Update implements session.Store.
func (s *SessionStore) Update(ctx context.Context, x *session.Session) error {
	return s.h.retry(ctx, "session.update", func() error {
		return expectRow(s.h.db.ExecContext(ctx, s.q.update, x.ID, x.TenantID, x.Scope, x.AuthLevel,
			nullTime(x.AuthenticatedAt), x.Client.IP, x.Client.UserAgent, x.Client.DeviceLabel, marshalProofs(x.Proofs)))
	})
}

// OutboxJournal returns the journal the recording writes (RevokeRecorded,
// RevokeUserRecorded) commit their events into: the one OpenJournal
// opened, nil when none is open.
func (s *SessionStore) OutboxJournal() audit.Journal { return outboxJournal(&s.journal) }

// RevokeRecorded is Revoke committing events into the journal in the same
// statement, when it succeeds (the session exists): no extra round trip.
func (s *SessionStore) RevokeRecorded(ctx context.Context, id string, at time.Time, reason string, events []audit.Event) error {
	rec, err := recorder(&s.journal, "session.revoke", events)
	if err != nil {
		return err
	}
	return s.revoke(ctx, s.q.revokeRecorded, append([]any{id, pgTime(at), reason}, rec...))
}

// RevokeUserRecorded is RevokeUser committing, in the same transaction,
// the events that events returns for the IDs of the sessions it ended
// (it may be called more than once, when the transaction is retried).
func (s *SessionStore) RevokeUserRecorded(ctx context.Context, userID string, f session.RevokeFilter, at time.Time, reason string, events func(ids []string) []audit.Event) ([]string, error) {
	const op = "session.revoke_user"
	j := s.journal.Load()
	if j == nil {
		return nil, ErrNoJournal
	}
	var ids []string
	err := s.h.inTx(ctx, op, func(tx *sqlx.Tx) error {
		var err error
		if ids, err = s.revokeUserTx(ctx, tx, userID, f, at, reason); err != nil {
			return err
		}
		evs := events(ids)
		if len(evs) == 0 {
			return nil
		}
		eventIDs, eventJSON, err := journalArgs(evs)
		if err != nil {
			return &Error{Op: op, Err: err}
		}
		_, err = tx.ExecContext(ctx, j.q.insert, j.owner, eventIDs, eventJSON)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// Revoke implements session.Store.
func (s *SessionStore) Revoke(ctx context.Context, id string, at time.Time, reason string) error {
	return s.revoke(ctx, s.q.revoke, []any{id, pgTime(at), reason})
}

// revoke runs a statement answering whether the session was found.
func (s *SessionStore) revoke(ctx context.Context, query string, args []any) error {
	return s.h.retry(ctx, "session.revoke", func() error {
		var found bool
		if err := s.h.db.QueryRowContext(ctx, query, args...).Scan(&found); err != nil {
			return err
		}
		if !found {
			return store.ErrNotFound
		}
		return nil
	})
}

// RevokeUser implements session.Store: one UPDATE under the user's lock.
func (s *SessionStore) RevokeUser(ctx context.Context, userID string, f session.RevokeFilter, at time.Time, reason string) ([]string, error) {
	var ids []string
	err := s.h.inTx(ctx, "session.revoke_user", func(tx *sqlx.Tx) error {
		var err error
		ids, err = s.revokeUserTx(ctx, tx, userID, f, at, reason)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// revokeUserTx ends the user's sessions f selects, in tx, and returns
// their IDs sorted. The UPDATE alone is not enough: its snapshot is taken
// when it starts, so when it waits for a rotation that holds the old
// session's row, it finds that row revoked once the rotation commits and
// never sees the successor, inserted after the snapshot, which then
// outlives the revocation. Taking the user's lock first, in its own
// statement, orders the UPDATE after any rotation (or limited Create)
// holding it, and its snapshot then includes their sessions.
func (s *SessionStore) revokeUserTx(ctx context.Context, tx *sqlx.Tx, userID string, f session.RevokeFilter, at time.Time, reason string) ([]string, error) {
	if _, err := tx.ExecContext(ctx, s.q.lockUser, s.lockClass, userID); err != nil {
		return nil, err
	}
	var ids []string
	if err := tx.SelectContext(ctx, &ids, s.q.revokeUser, userID, pgTime(at), reason, f.ExceptID, f.TenantID); err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return ids, nil
}

// Rotate implements session.Store.
func (s *SessionStore) Rotate(ctx context.Context, oldID string, next *session.Session, now time.Time) error {
	args := append(sessionArgs(next), pgTime(now), oldID, s.lockClass)
	return s.h.retry(ctx, "session.rotate", func() error {
		return expectRow(s.h.db.ExecContext(ctx, s.q.rotate, args...))
	})
}

// ListByUser implements session.Store.
func (s *SessionStore) ListByUser(ctx context.Context, userID string, now time.Time) ([]*session.Session, error) {
	var out []*session.Session
	err := s.h.retry(ctx, "session.list_by_user", func() error {
		out = nil
		rows, err := s.h.db.QueryContext(ctx, s.q.listByUser, userID, pgTime(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			x, err := scanSession(rows)
			if err != nil {
				return err
			}
			out = append(out, x)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteExpired implements session.Store, in batches served by the index on
// expires_at.
func (s *SessionStore) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		var n int64
		err := s.h.retry(ctx, "session.delete_expired", func() error {
			res, err := s.h.db.ExecContext(ctx, s.q.deleteExpired, pgTime(before), deleteBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, err
		}
		total += int(n)
		if n < deleteBatch {
			return total, nil
		}
	}
}

// Stats implements session.Store in one aggregate query.
func (s *SessionStore) Stats(ctx context.Context, f session.StatsFilter, now time.Time) (session.Stats, error) {
	var st session.Stats
	err := s.h.retry(ctx, "session.stats", func() error {
		st = session.NewStats()
		rows, err := s.h.db.QueryContext(ctx, s.q.stats, f.TenantID, f.UserID, pgTime(now), nullTime(f.From), nullTime(f.To))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				g                      int
				tenant, userID, device string
				live, created, revoked int
			)
			if err := rows.Scan(&g, &tenant, &userID, &device, &live, &created, &revoked); err != nil {
				return err
			}
			switch g {
			case 7:
				st.Live, st.Created, st.Revoked = live, created, revoked
			case 3:
				if live > 0 {
					st.ByTenant[tenant] = live
				}
			case 5:
				if live > 0 {
					st.ByUser[userID] = live
				}
			case 6:
				if live > 0 {
					st.ByDevice[device] = live
				}
			}
		}
		return rows.Err()
	})
	return st, err
}
