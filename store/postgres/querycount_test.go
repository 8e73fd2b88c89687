package postgres_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/postgres"
	"github.com/authv2/authv2/user"
)

// counter counts the statements and transactions that reach the server.
type counter struct {
	queries, execs, prepares, begins atomic.Int64
}

func (c *counter) reset() {
	c.queries.Store(0)
	c.execs.Store(0)
	c.prepares.Store(0)
	c.begins.Store(0)
}

// statements counts the statements run, prepared or not; a preparation is
// counted apart (prepares).
func (c *counter) statements() int64 { return c.queries.Load() + c.execs.Load() }

type countingConnector struct {
	driver.Connector
	c *counter
}

func (cc countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := cc.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &countingConn{conn.(pqConn), cc.c}, nil
}

// pqConn is the set of interfaces lib/pq's connection implements and
// database/sql uses; forwarding all of them keeps the wrapped connection on
// the same code paths as an unwrapped one.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.NamedValueChecker
	driver.SessionResetter
	driver.Validator
}

type countingConn struct {
	pqConn
	c *counter
}

func (w *countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	w.c.queries.Add(1)
	return w.pqConn.QueryContext(ctx, q, args)
}

func (w *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	w.c.execs.Add(1)
	return w.pqConn.ExecContext(ctx, q, args)
}

func (w *countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	w.c.prepares.Add(1)
	st, err := w.pqConn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &countingStmt{st.(pqStmt), w.c}, nil
}

// pqStmt is the set of interfaces lib/pq's prepared statement implements.
type pqStmt interface {
	driver.Stmt
	driver.StmtQueryContext
	driver.StmtExecContext
}

// countingStmt counts the executions of a prepared statement with the
// statements sent unprepared: each is one round trip.
type countingStmt struct {
	pqStmt
	c *counter
}

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.c.queries.Add(1)
	return s.pqStmt.QueryContext(ctx, args)
}

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.c.execs.Add(1)
	return s.pqStmt.ExecContext(ctx, args)
}

func (w *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	w.c.begins.Add(1)
	return w.pqConn.BeginTx(ctx, opts)
}

func openCounting(t *testing.T) (*sql.DB, *counter) {
	base, err := pq.NewConnector(pgtest.URL(t))
	require.NoError(t, err)
	c := &counter{}
	db := sql.OpenDB(countingConnector{base, c})
	db.SetMaxOpenConns(pgtest.MaxOpenConns)
	t.Cleanup(func() { _ = db.Close() })
	return db, c
}

// putHierarchy creates in tenant t1 a chain of depth roles, the deepest
// (r<depth>) inheriting down to the template r1, and binds u1 to the top.
func putHierarchy(t testing.TB, ps permission.Store, depth int) {
	ctx := context.Background()
	require.NoError(t, ps.CreateTenant(ctx, &permission.Tenant{ID: "t1", Name: "T1"}))
	require.NoError(t, ps.PutRole(ctx, &permission.Role{TenantID: permission.GlobalTenant, Name: "r1",
		Grants: []permission.Grant{{Permission: "*:read", Effect: permission.Allow}}}))
	for i := 2; i <= depth; i++ {
		require.NoError(t, ps.PutRole(ctx, &permission.Role{TenantID: "t1", Name: roleName(i), Parents: []string{roleName(i - 1)},
			Grants: []permission.Grant{{Permission: roleName(i) + ":do", Effect: permission.Allow, Condition: "request.amount <= 500.0"}}}))
	}
	require.NoError(t, ps.PutBinding(ctx, permission.Binding{UserID: "u1", TenantID: "t1", Role: roleName(depth), Scope: "region:eu"}))
}

func roleName(i int) string { return "r" + string(rune('0'+i)) }

// TestLoadPolicyIsOneQuery proves the absence of N+1: a five-level
// hierarchy loads with exactly one statement and no transaction.
func TestLoadPolicyIsOneQuery(t *testing.T) {
	db, c := openCounting(t)
	env := pgtest.NewSchema(t, db)
	ps := env.Stores.Permissions
	putHierarchy(t, ps, 5)

	c.reset()
	p, err := ps.LoadPolicy(t.Context(), "t1", "u1")
	require.NoError(t, err)
	assert.Equal(t, int64(1), c.statements(), "LoadPolicy must be one round trip")
	assert.Equal(t, int64(0), c.begins.Load())
	require.Len(t, p.Roles, 5)
	require.Len(t, p.Bindings, 1)
	v, err := ps.Version(t.Context(), "t1")
	require.NoError(t, err)
	assert.Equal(t, v, p.Version)
	assert.Equal(t, "/r1", p.Roles[0].TenantID+"/"+p.Roles[0].Name)
	assert.Equal(t, []string{"r4"}, p.Roles[4].Parents)
	assert.Equal(t, "request.amount <= 500.0", p.Roles[4].Grants[0].Condition)
}

// TestHotPathsAreOneQuery pins the cost of the calls Authenticate and
// Authorize make: one statement each, no transaction. The hot ones are
// prepared on their first call and only executed afterwards, unless
// preparation is off.
func TestHotPathsAreOneQuery(t *testing.T) {
	db, c := openCounting(t)
	db.SetMaxOpenConns(1) // one connection: a statement is prepared once
	env := pgtest.NewSchema(t, db)
	putHierarchy(t, env.Stores.Permissions, 5)
	now := time.Now()
	for _, prepared := range []bool{true, false} {
		t.Run(fmt.Sprintf("prepared=%t", prepared), func(t *testing.T) {
			opts := []postgres.Option{postgres.WithSchema(env.Schema)}
			if !prepared {
				opts = append(opts, postgres.WithoutPreparedStatements())
			}
			st, err := postgres.New(db, opts...)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, st.Close()) })
			x := &session.Session{ID: session.NewID("u1"), SecretHash: session.HashSecret([]byte("s")), UserID: "u1",
				CreatedAt: now, LastSeenAt: now, IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(2 * time.Hour)}
			_, err = st.Sessions.Create(t.Context(), x, session.Limit{}, now)
			require.NoError(t, err)

			for _, call := range []struct {
				name string
				hot  bool
				run  func() error
			}{
				{"session.Get", true, func() error { _, err := st.Sessions.Get(t.Context(), x.ID); return err }},
				{"session.Touch", true, func() error { return st.Sessions.Touch(t.Context(), x.ID, now, now.Add(time.Hour)) }},
				{"permission.Version", true, func() error { _, err := st.Permissions.Version(t.Context(), "t1"); return err }},
				{"permission.LoadPolicy", true, func() error { _, err := st.Permissions.LoadPolicy(t.Context(), "t1", "u1"); return err }},
				{"session.Create", false, func() error {
					y := *x
					y.ID = session.NewID("u1")
					_, err := st.Sessions.Create(t.Context(), &y, session.Limit{}, now)
					return err
				}},
				{"session.Rotate", false, func() error {
					y := *x
					y.ID = session.NewID("u1")
					err := st.Sessions.Rotate(t.Context(), x.ID, &y, now)
					x = &y
					return err
				}},
			} {
				for _, warm := range []bool{false, true} {
					c.reset()
					require.NoError(t, call.run(), call.name)
					assert.Equal(t, int64(1), c.statements(), call.name)
					assert.Equal(t, int64(0), c.begins.Load(), call.name)
					want := int64(0)
					if prepared && call.hot && !warm {
						want = 1
					}
					assert.Equal(t, want, c.prepares.Load(), "%s, warm=%t: preparations", call.name, warm)
				}
			}
		})
	}
}

// TestOutboxWritesCostNoRoundTrip: a recording write (the outbox) sends
// as many statements and transactions as the write it extends, so a
// logout or revocation with its event durable costs what one without does;
// the Append it replaces is one more statement.
func TestOutboxWritesCostNoRoundTrip(t *testing.T) {
	db, c := openCounting(t)
	env := pgtest.NewSchema(t, db)
	st := env.Stores
	j, err := st.OpenJournal(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = j.Close() })
	now := time.Now()
	ev := func() []audit.Event {
		return []audit.Event{{ID: randid(), Type: audit.TypeLogout, Outcome: audit.Success}}
	}
	newSession := func() *session.Session {
		x := &session.Session{ID: session.NewID("u1"), SecretHash: session.HashSecret([]byte("s")), UserID: "u1",
			CreatedAt: now, LastSeenAt: now, IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(2 * time.Hour)}
		_, err := st.Sessions.Create(t.Context(), x, session.Limit{}, now)
		require.NoError(t, err)
		return x
	}
	n := 0
	newUser := func() *user.User {
		n++
		return &user.User{ID: fmt.Sprintf("u%d", n), Email: fmt.Sprintf("u%d@example.com", n), Status: user.StatusActive, SecurityStamp: "s"}
	}
	touch := func(x *user.User) error { x.DisplayName = "x"; return nil }
	u := newUser()
	require.NoError(t, st.Users.Create(t.Context(), u))
	for _, pair := range []struct {
		name            string
		plain, recorded func() error
	}{
		{"session.Revoke", func() error { return st.Sessions.Revoke(t.Context(), newSession().ID, now, "r") },
			func() error { return st.Sessions.RevokeRecorded(t.Context(), newSession().ID, now, "r", ev()) }},
		{"user.Create", func() error { return st.Users.Create(t.Context(), newUser()) },
			func() error { return st.Users.CreateRecorded(t.Context(), newUser(), ev()) }},
		{"user.Update", func() error { _, err := st.Users.Update(t.Context(), u.ID, touch); return err },
			func() error { _, err := st.Users.UpdateRecorded(t.Context(), u.ID, touch, ev()); return err }},
	} {
		count := func(run func() error) (int64, int64) {
			c.reset()
			require.NoError(t, run(), pair.name)
			return c.statements(), c.begins.Load()
		}
		ps, pb := count(pair.plain)
		rs, rb := count(pair.recorded)
		assert.Equal(t, ps, rs, "%s: statements", pair.name)
		assert.Equal(t, pb, rb, "%s: transactions", pair.name)
	}
	c.reset()
	require.NoError(t, j.Append(t.Context(), ev()))
	assert.Equal(t, int64(1), c.statements(), "Append, which an outbox write saves")
	var rows int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM "`+env.Schema+`".audit_journal`).Scan(&rows))
	assert.Equal(t, 4, rows, "every recording write committed its event")
}

var idSeq atomic.Int64

func randid() string { return fmt.Sprintf("ev%d", idSeq.Add(1)) }
