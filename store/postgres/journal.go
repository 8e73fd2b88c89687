package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/randid"
)

// ErrAsyncCommit is returned by OpenJournal when the server's
// synchronous_commit is off: a commit would then return before its WAL
// record is on disk, and a crash of the server could lose an event a flow
// answered for.
var ErrAsyncCommit = errors.New("authv2/postgres: synchronous_commit is off: audit journal writes would not be durable")

// ErrJournalOpen is returned by OpenJournal while a journal it opened on
// the same Stores is still open: the stores' recording writes commit into
// one journal, the one its Manager delivers from. Another Manager on the
// same database opens its journal on Stores of its own (New).
var ErrJournalOpen = errors.New("authv2/postgres: an audit journal is already open on these stores")

// ErrInvalidPosition reports a Leftover position this journal did not
// return.
var ErrInvalidPosition = errors.New("authv2/postgres: invalid journal position")

// Journal is an audit.Journal in the audit_journal table, shared by every
// instance of a service on the database. Each open Journal is an owner:
// the rows it appends (and the rows the stores' recording writes commit
// for it, the outbox) are its own, and it holds, on a connection of its
// own, a session-level advisory lock naming it for as long as it is open.
// When its process dies the server ends that connection and frees the
// lock; the next Leftover of another Journal takes its rows over
// (claiming an owner takes a transaction-scoped try-lock on it too, so
// two instances never take the same rows). So a live instance's events
// in flight are never another's leftovers, and a dead one's are replayed
// once.
//
// The lock lives as long as its connection, which a live process can
// lose too (the server terminated it, the network broke it): the Journal
// checks it every lockCheck and takes the lock again on a new connection
// when it is gone. In between, the instance is not an owner, and another
// instance reading its leftovers then may replay its events too (delivery
// is at least once).
//
// A Journal is safe for concurrent use; Close it after the Manager using
// it. It holds one connection of the pool while open.
type Journal struct {
	h     *handle
	owner string
	q     journalQueries
	// stores are detached from the journal by Close.
	stores *Stores
	once   sync.Once
	// conn holds the owner's advisory lock, nil while it is lost. Only
	// keep uses it, and Close once keep has returned.
	conn *sql.Conn
	// life ends with Close, which stop ends; kept is closed when keep
	// has returned.
	life context.Context
	stop context.CancelFunc
	kept chan struct{}
}

// lockCheck is how often an open Journal checks the connection holding
// its lock: the longest a lost lock stays lost once the server can be
// reached again. A check is one empty query on that connection.
const lockCheck = time.Second

var _ audit.Journal = (*Journal)(nil)

type journalQueries struct {
	insert, claim, page, remove string
}

// journalInsert is the statement that writes events for owner $1 from
// ids $2 and events $3 (their JSON), keeping their order in seq; an ID
// already kept is kept once. The outbox writes of the stores embed it in
// their own statements (see recorded).
const journalInsert = `INSERT INTO {s}.audit_journal (id, owner, event)
	SELECT x.id, $%d::text, x.ev FROM unnest($%d::text[], $%d::text[]) WITH ORDINALITY AS x(id, ev, i)%s
	ORDER BY x.i ON CONFLICT (id) DO NOTHING`

// journalInsertAt returns journalInsert with its parameters numbered from
// n, and joined to from (", f WHERE f.found" and the like) when not "".
func (h *handle) journalInsertAt(n int, from string) string {
	return h.q(fmt.Sprintf(journalInsert, n, n+1, n+2, from))
}

// OpenJournal opens the audit journal of these stores: it takes a
// connection from the pool for the journal's lock (see Journal), checks
// that commits are synchronous, and makes the user and session stores
// record the events of their recording writes in it (the outbox: see
// UserStore.CreateRecorded). Pass it to the Manager with
// authv2.WithAuditJournal; close it after the Manager. Migrate must have
// run (migration 0008). One journal at a time is open on a Stores: while
// one is, OpenJournal returns ErrJournalOpen.
func (s *Stores) OpenJournal(ctx context.Context) (*Journal, error) {
	const op = "journal.open"
	if s.h.closed.Load() {
		return nil, ErrClosed
	}
	var mode string
	if err := s.h.db.QueryRowContext(ctx, `SHOW synchronous_commit`).Scan(&mode); err != nil {
		return nil, translate(op, err)
	}
	if mode == "off" {
		return nil, ErrAsyncCommit
	}
	if s.Users.journal.Load() != nil {
		return nil, ErrJournalOpen
	}
	owner := randid.ID()
	conn, err := lockOwner(ctx, s.h, owner)
	if err != nil {
		return nil, translate(op, err)
	}
	j := &Journal{h: s.h, owner: owner, conn: conn, stores: s, kept: make(chan struct{}), q: journalQueries{
		insert: s.h.journalInsertAt(1, ""),
		// An owner other than this one whose lock is free is gone: its
		// rows become this journal's leftovers. The try-lock is
		// transaction-scoped, so it also keeps a concurrent claim of
		// the same owner out until this statement commits.
		claim: s.h.q(`UPDATE {s}.audit_journal SET owner = $1, leftover = true
			WHERE owner IN (SELECT o.owner FROM (SELECT DISTINCT owner FROM {s}.audit_journal WHERE owner <> $1) o
				WHERE pg_try_advisory_xact_lock(hashtextextended(o.owner, 0)))`),
		page:   s.h.q(`SELECT seq, event FROM {s}.audit_journal WHERE owner = $1 AND leftover AND seq > $2 ORDER BY seq LIMIT $3`),
		remove: s.h.q(`DELETE FROM {s}.audit_journal WHERE id = ANY($1)`),
	}}
	// The user store's pointer is the gate: one journal at a time.
	if !s.Users.journal.CompareAndSwap(nil, j) {
		_ = discard(conn)
		return nil, ErrJournalOpen
	}
	s.Sessions.journal.Store(j)
	j.life, j.stop = context.WithCancel(context.Background())
	go j.keep()
	return j, nil
}

// errLockTaken: an owner's lock is held by another session. For a fresh,
// random owner it cannot happen short of a hash collision; for an owner
// whose connection was lost, the server has not ended the old session
// yet (it still holds the lock for the owner, so nothing is lost).
var errLockTaken = errors.New("owner lock taken")

// lockOwner takes owner's session-level advisory lock on a connection of
// its own, which it returns.
func lockOwner(ctx context.Context, h *handle, owner string) (*sql.Conn, error) {
	conn, err := h.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var locked bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, owner).Scan(&locked); err != nil || !locked {
		discard(conn)
		return nil, cmp.Or(err, errLockTaken)
	}
	return conn, nil
}

// discard closes conn instead of handing it back to the pool: ending its
// server session frees its lock, whatever state the connection is in.
func discard(conn *sql.Conn) error {
	var err error
	_ = conn.Raw(func(dc any) error {
		if c, ok := dc.(io.Closer); ok {
			err = c.Close()
		}
		return driver.ErrBadConn
	})
	_ = conn.Close()
	return err
}

// keep checks the lock's connection every lockCheck until Close, and
// takes the lock again when the connection is gone.
func (j *Journal) keep() {
	defer close(j.kept)
	t := time.NewTicker(lockCheck)
	defer t.Stop()
	for {
		select {
		case <-j.life.Done():
			return
		case <-t.C:
		}
		j.check()
	}
}

func (j *Journal) check() {
	if j.conn != nil {
		ctx, cancel := context.WithTimeout(j.life, lockCheck)
		err := j.conn.PingContext(ctx)
		cancel()
		if err == nil || j.life.Err() != nil {
			return
		}
		_ = discard(j.conn)
		j.conn = nil
	}
	ctx, cancel := context.WithTimeout(j.life, lockCheck)
	defer cancel()
	if conn, err := lockOwner(ctx, j.h, j.owner); err == nil {
		j.conn = conn
	}
}

// Close detaches the journal from the stores and releases its lock and
// connection: its rows left in the table become another instance's
// leftovers. Close is idempotent.
func (j *Journal) Close() error {
	var err error
	j.once.Do(func() {
		// The user store's pointer last: it lets the next journal open.
		j.stores.Sessions.journal.CompareAndSwap(j, nil)
		j.stores.Users.journal.CompareAndSwap(j, nil)
		j.stop()
		<-j.kept
		if j.conn != nil {
			// Released before the connection closes: the server ends a
			// closed connection's backend, and with it the lock, only
			// later, and a successor should not wait for that.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, _ = j.conn.ExecContext(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, j.owner)
			cancel()
			err = discard(j.conn)
		}
	})
	return err
}

// Owner is the ID naming this journal's rows, for operators and tests.
func (j *Journal) Owner() string { return j.owner }

// journalArgs encodes events for journalInsert: their IDs (an event
// without one is given a fresh ID) and their JSON.
func journalArgs(events []audit.Event) (ids, evs pq.StringArray, err error) {
	ids, evs = make(pq.StringArray, len(events)), make(pq.StringArray, len(events))
	for i := range events {
		e := events[i]
		if e.ID == "" {
			e.ID = randid.ID()
		}
		b, err := json.Marshal(&e)
		if err != nil {
			return nil, nil, fmt.Errorf("authv2/postgres: encoding audit event %s: %w", e.ID, err)
		}
		ids[i], evs[i] = e.ID, string(b)
	}
	return ids, evs, nil
}

// Append implements audit.Journal: one INSERT, committed (synchronously:
// OpenJournal checked) before it returns.
func (j *Journal) Append(ctx context.Context, events []audit.Event) error {
	const op = "journal.append"
	if len(events) == 0 {
		return ctx.Err()
	}
	ids, evs, err := journalArgs(events)
	if err != nil {
		return &Error{Op: op, Err: err}
	}
	return j.h.retry(ctx, op, func() error {
		_, err := j.h.db.ExecContext(ctx, j.q.insert, j.owner, ids, evs)
		return err
	})
}

// Leftover implements audit.Journal. The first page ("" as after) first
// takes over the rows of every owner that is gone (see Journal): besides
// those of this process's predecessor, those of any other instance that
// died, which no one else has taken. A position is the decimal seq of the
// last row of the previous page.
func (j *Journal) Leftover(ctx context.Context, after string, limit int) ([]audit.Event, string, error) {
	const op = "journal.leftover"
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		return nil, "", fmt.Errorf("authv2/postgres: Leftover limit %d must be positive", limit)
	}
	var from int64
	if after != "" {
		n, err := strconv.ParseInt(after, 10, 64)
		if err != nil || n < 0 {
			return nil, "", fmt.Errorf("%w: %q", ErrInvalidPosition, after)
		}
		from = n
	} else {
		err := j.h.retry(ctx, op, func() error {
			_, err := j.h.db.ExecContext(ctx, j.q.claim, j.owner)
			return err
		})
		if err != nil {
			return nil, "", err
		}
	}
	var (
		out  []audit.Event
		last int64
		more bool
	)
	err := j.h.retry(ctx, op, func() error {
		out, more = out[:0], false
		rows, err := j.h.db.QueryContext(ctx, j.q.page, j.owner, from, limit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var seq int64
			var b []byte
			if err := rows.Scan(&seq, &b); err != nil {
				return err
			}
			if len(out) == limit {
				more = true // the row after a full page
				return rows.Close()
			}
			var e audit.Event
			if err := json.Unmarshal(b, &e); err != nil {
				return fmt.Errorf("authv2/postgres: decoding journal row %d: %w", seq, err)
			}
			out, last = append(out, e), seq
		}
		return rows.Err()
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if more {
		next = strconv.FormatInt(last, 10)
	}
	return out, next, nil
}

// Remove implements audit.Journal: one DELETE, whoever owns the rows.
func (j *Journal) Remove(ctx context.Context, ids []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	return j.h.retry(ctx, "journal.remove", func() error {
		_, err := j.h.db.ExecContext(ctx, j.q.remove, pq.StringArray(ids))
		return err
	})
}

// ErrNoJournal is returned by a recording write (the outbox) of a store
// whose journal is not open: OpenJournal was not called, or the journal
// was closed.
var ErrNoJournal = errors.New("authv2/postgres: no audit journal open")

// recorder returns the open journal of a store and the arguments of its
// outbox insert for events: owner, IDs, JSON.
func recorder(p *atomic.Pointer[Journal], op string, events []audit.Event) ([]any, error) {
	j := p.Load()
	if j == nil {
		return nil, ErrNoJournal
	}
	ids, evs, err := journalArgs(events)
	if err != nil {
		return nil, &Error{Op: op, Err: err}
	}
	return []any{j.owner, ids, evs}, nil
}

// outboxJournal is OutboxJournal of a store: its open journal, nil (not a
// typed nil) when there is none.
func outboxJournal(p *atomic.Pointer[Journal]) audit.Journal {
	if j := p.Load(); j != nil {
		return j
	}
	return nil
}
