package postgres

import (
	"database/sql"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jmoiron/sqlx"
)

// DefaultSchema is the schema the tables live in unless WithSchema says otherwise.
const DefaultSchema = "authv2"

// Option configures New and Migrate. Pass the same options to both.
// Options are sealed: only this package implements them.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	schema string
	// unprepared turns statement preparation off (see WithoutPreparedStatements).
	unprepared bool
}

// WithSchema puts the tables in schema instead of DefaultSchema. The name
// must be a plain identifier (letters, digits, underscore; not starting with
// a digit; at most 63 bytes): it is quoted, but a name that needs quoting is
// almost always a mistake.
func WithSchema(schema string) Option { return optionFunc(func(c *config) { c.schema = schema }) }

// WithoutPreparedStatements makes the stores send every statement unnamed,
// parsed and planned on each call, as PgBouncer in transaction mode
// requires (before PgBouncer 1.21, or with max_prepared_statements = 0):
// it hands each transaction any server connection, where a statement
// prepared on another one does not exist. By default the statements of
// the hot paths (session Get and Touch, LoadPolicy, Version) are prepared
// once per pooled connection, which saves a round trip and the planning
// on each call. Migrate ignores this option.
func WithoutPreparedStatements() Option {
	return optionFunc(func(c *config) { c.unprepared = true })
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// ErrInvalidSchema is returned by New and Migrate for a schema name that is
// not a plain identifier.
var ErrInvalidSchema = errors.New("authv2/postgres: invalid schema name")

func newConfig(opts []Option) (config, error) {
	c := config{schema: DefaultSchema}
	for _, o := range opts {
		o.apply(&c)
	}
	if !identRE.MatchString(c.schema) {
		return c, ErrInvalidSchema
	}
	return c, nil
}

// quoteIdent quotes a validated identifier for SQL text.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Stores bundles the PostgreSQL stores, sharing one *sql.DB.
type Stores struct {
	Users       *UserStore
	Sessions    *SessionStore
	Permissions *PermissionStore
	Limiter     *RateLimiter
	Audit       *AuditStore
	MFA         *MFAStore
	Challenges  *ChallengeStore
	ReplayGuard *ReplayGuard
	APIKeys     *APIKeyStore
	// Impersonations keeps impersonation records (migration 0012).
	Impersonations *ImpersonationStore

	h *handle
}

// New returns the stores over db, which the application opened (with lib/pq:
// sql.Open("postgres", dsn)) and still owns. New does no I/O; run Migrate
// (or your migration tool) first. Stores.Close releases what the stores
// prepared on db's connections; closing db releases it too.
func New(db *sql.DB, opts ...Option) (*Stores, error) {
	if db == nil {
		return nil, errors.New("authv2/postgres: nil *sql.DB")
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	h := newHandle(db, c)
	return &Stores{
		h:              h,
		Users:          newUserStore(h),
		Sessions:       newSessionStore(h),
		Permissions:    newPermissionStore(h),
		Limiter:        newRateLimiter(h),
		Audit:          newAuditStore(h),
		MFA:            newMFAStore(h),
		Challenges:     newChallengeStore(h),
		ReplayGuard:    newReplayGuard(h),
		APIKeys:        newAPIKeyStore(h),
		Impersonations: newImpersonationStore(h),
	}, nil
}

// Close releases the statements the stores prepared (on every pooled
// connection: at once on idle ones, on the others when their current call
// returns). It does not close the *sql.DB, which the application owns.
// After Close every store method returns ErrClosed. Close is idempotent.
func (s *Stores) Close() error { return s.h.close() }

// handle is what every store shares: the database, its schema and the
// statements prepared on it.
type handle struct {
	db     *sqlx.DB
	schema string
	// q rewrites the {s} placeholder of a query template to the quoted schema.
	q       func(string) string
	prepare bool

	mu     sync.Mutex // guards stmts
	stmts  []*stmt
	closed atomic.Bool
}

func newHandle(db *sql.DB, c config) *handle {
	r := strings.NewReplacer("{s}", quoteIdent(c.schema))
	return &handle{db: sqlx.NewDb(db, "postgres"), schema: c.schema, q: r.Replace, prepare: !c.unprepared}
}
