// Package postgres stores authv2's users, sessions, authorization model and
// login rate-limit counters in PostgreSQL, through github.com/jmoiron/sqlx over a *sql.DB that the
// application opens and owns.
//
// # Usage
//
//	db, err := sql.Open("postgres", "postgres://app@db/app?sslmode=verify-full") // import _ "github.com/lib/pq"
//	...
//	applied, err := postgres.Migrate(ctx, db) // the migrations it applied, to log
//	...
//	stores, err := postgres.New(db)
//	...
//	m, err := authv2.New(
//		authv2.WithUserStore(stores.Users),
//		authv2.WithSessionStore(stores.Sessions),
//		authv2.WithPermissionStore(stores.Permissions),
//		authv2.WithRateLimiter(stores.Limiter),
//	)
//
// The Manager's cleanup loop (Config.CleanupInterval) calls
// stores.Sessions.DeleteExpired and stores.Limiter.DeleteExpired; both use
// an index on the expiry. Call them yourself only for stores used without
// a Manager.
//
// The pool settings (SetMaxOpenConns and friends), TLS and timeouts belong
// to the application's *sql.DB. With lib/pq, add binary_parameters=yes to
// the connection string: lib/pq then sends a query with parameters in one
// network round trip instead of two (parse, then execute) for the
// statements the stores do not prepare. The stores never pass a []byte
// where the server expects text, so they are correct in either mode. The
// pgx driver is meant to work too: open
// the pool with github.com/jackc/pgx/v5/stdlib (sql.Open("pgx", dsn)) and
// pass it to Migrate and New unchanged. Nothing here depends on lib/pq's
// connection: errors are classified by the SQLSTATE both drivers expose
// (SQLState() string), and text[] values travel in PostgreSQL's text form.
// The tests run on lib/pq only, to keep pgx out of the module's
// dependencies.
//
// # Prepared statements
//
// The statements of the hot paths, session Get and Touch (Authenticate),
// LoadPolicy and Version (Authorize), are prepared on first use and kept:
// database/sql prepares each once per pooled connection, and every later
// call is one round trip that the server runs with a cached plan, where
// an unnamed statement costs lib/pq two round trips and the server a
// fresh plan (BenchmarkSessionGet, BenchmarkLoadPolicy). The other
// statements (writes, listings) are sent unnamed. Stores.Close releases
// the prepared statements; call it before db.Close if the pool outlives
// the stores.
//
// A migration that changes the type of a column a prepared statement
// returns makes the server refuse it ("cached plan must not change result
// type"); the store then prepares it again and retries the call once.
// Other schema changes are re-planned by the server itself.
//
// Named prepared statements do not survive PgBouncer in transaction mode
// before version 1.21 (or with max_prepared_statements = 0): each
// transaction may get another server connection. Pass
// WithoutPreparedStatements to New there; every statement is then sent
// unnamed, as the conformance suite also runs them.
//
// # Schema and migrations
//
// The tables live in one schema, DefaultSchema ("authv2") unless WithSchema
// names another; pass the same options to Migrate and New. Queries name
// their tables schema-qualified, so the stores work whatever the
// connection's search_path is, and need no per-connection setup on a pool
// they do not own.
//
// The schema is a series of plain, numbered SQL files embedded as
// Migrations. Migrate applies the pending ones in one transaction, under a
// PostgreSQL advisory lock keyed by the schema, and records them in the
// schema's schema_migrations table: several instances starting together
// migrate once. The files use unqualified table names (Migrate sets
// search_path for its transaction), contain no procedural code, and start
// with a goose annotation that other tools read as a comment, so
// goose, golang-migrate or atlas can apply them instead:
//
//	goose.SetBaseFS(postgres.Migrations)
//	goose.Up(db, "migrations") // with search_path set to the schema
//
// # Tenancy
//
// Every tenant-owned row (memberships, roles, bindings, policy versions)
// carries tenant_id, in its primary key, and every query on them names the
// tenant. Global role templates are roles with an empty tenant_id and have no
// tenants row: a generated column (NULL for templates) carries the foreign
// key to tenants, so tenant roles cascade with their tenant while templates
// stand alone. A role name resolves to the tenant's role first, then the
// template. The three stores are independent: no foreign key joins users,
// sessions and bindings, so an application may keep sessions elsewhere
// (Redis) and users here.
//
// # Consistency
//
//   - LoadPolicy is one recursive query returning the bindings, the role
//     closure and the policy version from one snapshot.
//   - Role and binding writes bump the tenant's version (templates bump a
//     global counter, included in every tenant's Version) in the same
//     transaction; the bump also serializes that tenant's writes, so the
//     cycle check of PutRole sees a stable graph.
//   - Session.Create with a limit counts and inserts under a
//     transaction-scoped advisory lock on the user.
//   - User.Update holds the row lock (SELECT ... FOR UPDATE) while the
//     callback runs.
//
// # Audit journal and outbox
//
// Stores.OpenJournal opens the audit journal (table audit_journal), an
// audit.Journal for authv2.WithAuditJournal that every instance on the
// database shares: see Journal for who owns which rows. Once it is open,
// the user and session stores have recording writes (CreateRecorded,
// UpdateRecorded, RevokeRecorded, RevokeUserRecorded) that commit a
// flow's events in the statement or transaction of its change: the
// Manager uses them when given that journal, so that a login, logout,
// revocation, registration or password change and its audit events are
// committed together or not at all. It needs synchronous_commit on and a
// connection that keeps session-level advisory locks (not a pooler in
// transaction mode for it).
//
// # Errors
//
// Driver errors never reach callers as such: no rows becomes
// store.ErrNotFound, a unique violation store.ErrConflict, a missing parent
// row (foreign key) store.ErrNotFound; serialization failures and deadlocks
// are retried a few times; an unreachable or shutting-down server, a broken
// connection or a deadline becomes a *store.UnavailableError. Anything else
// is an *Error whose message names the operation and SQLSTATE only. The
// driver's error stays reachable through errors.As, for logs.
package postgres
