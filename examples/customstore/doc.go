// Command customstore shows how an application that already has a users
// table adopts authv2: it implements user.Store over that table with plain
// database/sql and lib/pq, passes the storetest conformance suite, and lets
// authv2 upgrade the table's bcrypt digests to argon2id as users log in.
//
// Run it against any PostgreSQL database (it creates the schema
// customstore_demo and a legacy app_users table in it if missing):
//
//	AUTHV2_POSTGRES_URL='postgres://user@localhost:5432/db?sslmode=disable' go run ./examples/customstore
//
// Without the variable it prints this usage and exits 0.
//
// # The legacy table
//
// The application's table is not shaped like user.User:
//
//	app_users(id text primary key, email text not null unique, full_name text,
//	          password_digest text, is_active boolean, created_at timestamptz)
//
// The store maps id, email, full_name (DisplayName), password_digest
// (PasswordHash) and created_at to the User fields of the same meaning.
// Status is derived from is_active: true reads as active; false reads as
// the non-active state authv2 last recorded (pending_verification, locked)
// or as disabled. The legacy application's is_active always wins, so an
// account it deactivates cannot log in through authv2 and one it
// reactivates can.
//
// # Adoption steps
//
//  1. Make email uniqueness case-insensitive, as user.Store requires:
//     CREATE UNIQUE INDEX CONCURRENTLY app_users_email_lower_key ON
//     app_users (lower(email)). First find the accounts it would refuse with
//     SELECT lower(email), array_agg(id) FROM app_users GROUP BY 1 HAVING
//     count(*) > 1, and merge or rename them; adopt here reports them as
//     store.ErrConflict. The same index serves GetByEmail.
//  2. Add one side table for the state the legacy table has no column for
//     (LastLoginAt, PasswordChangedAt,
//     DefaultTenantID, Attributes, single-use token hashes, UpdatedAt, and
//     the non-active status): authv2_user_extras(user_id text primary key
//     references app_users(id) on delete cascade, data jsonb). This is the
//     least invasive choice: app_users keeps its shape, so the legacy ORM,
//     reports and SELECT * consumers are untouched; authv2's state has a
//     single owner; existing users need no backfill (a missing row reads as
//     the zero state); and undoing the adoption is DROP TABLE plus DROP
//     INDEX. The price is that these fields are not columns: to query them
//     in SQL (for example "who is locked"), use jsonb operators or move a
//     field into a real column later. If app_users has a bigint key, give
//     the side table a text key of its own and map IDs there, since authv2
//     generates string IDs for new users.
//  3. Implement the five methods of user.Store (LegacyUserStore in
//     store.go). Create writes both rows in one transaction. Update locks
//     the app_users row with SELECT ... FOR UPDATE, then reads both tables
//     in a second statement, applies fn and writes both, so concurrent
//     logins never lose a failed-attempt increment. (A single SELECT ...
//     FOR UPDATE OF u over the join is not enough: after waiting for the
//     lock PostgreSQL rechecks the locked row but not the joined extras
//     row, and the conformance case ConcurrentUpdatesLoseNothing then
//     counts 14 of 200.) Delete removes the app_users row; the extras row
//     follows by cascade.
//  4. Translate errors at the driver's edge with postgres.Translate, the
//     classification authv2's own stores use: no rows becomes
//     store.ErrNotFound, unique_violation (23505) store.ErrConflict, a data
//     exception store.ErrInvalid, and a server that cannot be reached, is
//     shutting down or timed out store.Unavailable(op, err), whose message
//     hides the driver's text. Anything else becomes a *postgres.Error
//     naming only the operation and SQLSTATE.
//  5. Run storetest.RunUserStore against the store on a real database,
//     each case in a fresh schema (customstore_test.go does this).
//  6. Pass the store to authv2.New with authv2.WithUserStore.
//
// # Importing bcrypt hashes
//
// Nothing to convert: PasswordHash may hold a bcrypt hash, so the legacy
// password_digest values are used as they are. When a user logs in with
// the right password, the Manager sees the bcrypt hash, hashes the
// password again with argon2id and saves it through Update; the store
// writes it back to password_digest. A failed login does not rehash. Users
// who never log in keep their bcrypt digest; the legacy application can
// keep verifying bcrypt digests only until their owners' first login
// through authv2, after which it must accept the $argon2id$ form or stop
// checking passwords itself.
package main
