package authv2

import (
	"context"
	"log/slog"

	"github.com/authv2/authv2/apikey"

	"github.com/google/cel-go/cel"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/clock"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

// Store interfaces, re-exported so applications can speak of them simply.
type (
	UserStore       = user.Store
	SessionStore    = session.Store
	PermissionStore = permission.Store
	AuditSink       = audit.Sink
	AuditStore      = audit.Store
)

// Clock tells the time. Inject one with WithClock to test time rules.
type Clock = clock.Clock

// Option configures a Manager. Options are sealed: only this package
// implements them, so new ones can be added without breaking callers.
type Option interface{ apply(*options) }

type options struct {
	cfg            Config
	users          user.Store
	sessions       session.Store
	permissions    permission.Store
	apiKeys        apikey.Store
	impersonations session.ImpersonationStore
	sinks          []audit.Sink
	auditStore     audit.Store
	journal        audit.Journal
	clock          Clock
	logger         *slog.Logger
	// insecureHashing lets argon2id run below OWASP's minimum (tests).
	insecureHashing bool
	security        session.SecurityPolicy
	limiter         user.RateLimiter
	notifier        Notifier
	checker         user.PasswordChecker
	celOpts         []cel.EnvOption
	bus             permission.PolicyBus
	tracer          trace.TracerProvider
	meter           metric.MeterProvider
	mfa             *MFA
	txt             TXTResolver
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithConfig sets every value New uses (DefaultConfig otherwise). It is
// the only way to set one: options carry dependencies (stores, clock,
// logger, sinks...), never values, so no setting depends on the order of
// options. New does not read the environment; ConfigFromEnv does. The
// Manager keeps its own copies of c's slices and map: changing c after
// WithConfig changes no Manager, nor do two Managers built with one
// option share them.
func WithConfig(c Config) Option {
	c = c.clone()
	return optionFunc(func(o *options) { o.cfg = c.clone() })
}

// WithUserStore sets the user store (in-memory by default).
func WithUserStore(s user.Store) Option { return optionFunc(func(o *options) { o.users = s }) }

// WithSessionStore sets the session store (in-memory by default).
func WithSessionStore(s session.Store) Option {
	return optionFunc(func(o *options) { o.sessions = s })
}

// WithPermissionStore sets the permission store (in-memory by default).
func WithPermissionStore(s permission.Store) Option {
	return optionFunc(func(o *options) { o.permissions = s })
}

// WithAPIKeyStore sets the store of API keys and service accounts
// (in-memory by default).
func WithAPIKeyStore(s apikey.Store) Option {
	return optionFunc(func(o *options) { o.apiKeys = s })
}

// WithImpersonationStore sets the store of impersonation records
// (in-memory by default).
func WithImpersonationStore(s session.ImpersonationStore) Option {
	return optionFunc(func(o *options) { o.impersonations = s })
}

// WithAuditSink adds a sink that receives every audit event. Several may
// be given; each receives every event.
func WithAuditSink(s audit.Sink) Option {
	return optionFunc(func(o *options) { o.sinks = append(o.sinks, s) })
}

// WithClock sets the clock every time rule reads (the system clock in UTC
// by default).
func WithClock(c Clock) Option { return optionFunc(func(o *options) { o.clock = c }) }

// WithInsecurePasswordHashing lets Config.Argon2 be cheaper than OWASP's
// minimum, for test suites that hash thousands of passwords. New refuses
// such parameters without it, and logs a warning with it. Never use it in
// production: a stolen hash database is then cheap to crack.
func WithInsecurePasswordHashing() Option {
	return optionFunc(func(o *options) { o.insecureHashing = true })
}

// WithLogger sets the logger for operational messages (slog.Default by
// default). Audit events go to audit sinks, not here.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(o *options) { o.logger = l }) }

// WithSecurityPolicy sets how Authenticate treats a request whose client
// (IP, user agent) differs from the session's. The default ignores changes;
// see session.RecordClientChanges, RejectUserAgentChange, RejectIPChange.
func WithSecurityPolicy(p session.SecurityPolicy) Option {
	return optionFunc(func(o *options) { o.security = p })
}

// WithRateLimiter sets where failed attempts per client IP, per unknown
// email and per trusted device are counted (in memory by default; use the
// PostgreSQL or Redis one when running several instances).
func WithRateLimiter(l user.RateLimiter) Option {
	return optionFunc(func(o *options) { o.limiter = l })
}

// WithNotifier sets the hook that delivers password-reset and verification
// tokens to users (it sends the e-mail). Without one, those flows fail with
// ErrInvalidConfig.
func WithNotifier(n Notifier) Option { return optionFunc(func(o *options) { o.notifier = n }) }

// WithTracerProvider sets where spans go (the global provider by default).
// A no-op provider (trace/noop) switches span creation off entirely.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(o *options) { o.tracer = tp })
}

// WithMeterProvider sets where metrics go (the global provider by default).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(o *options) { o.meter = mp })
}

// WithAuditStore sends every audit event to s (as WithAuditSink does) and
// serves the audit query and analytics methods from it.
func WithAuditStore(s audit.Store) Option {
	return optionFunc(func(o *options) { o.sinks = append(o.sinks, s); o.auditStore = s })
}

// WithAuditJournal makes every account, session and administrative event
// durable before its flow answers: the event is appended to j (for
// instance a store/spool file), delivered to the sinks from the queue, and
// removed from j once every sink has it. New starts delivering what an
// earlier process left in j, so a crash loses no event a client got an
// answer for, and every sink, stores or not, receives each event at least
// once across restarts. Authorization decisions do not go through j.
func WithAuditJournal(j audit.Journal) Option {
	return optionFunc(func(o *options) { o.journal = j })
}

// WithPolicyBus carries policy changes between the instances of a service
// (Redis pub/sub, PostgreSQL LISTEN/NOTIFY, or permission.NewLocalBus in one
// process), so a revoked permission stops working everywhere at once.
// Without one, instances notice changes by polling the permission store
// (see Config.PolicyMaxStaleness).
func WithPolicyBus(b permission.PolicyBus) Option { return optionFunc(func(o *options) { o.bus = b }) }

// WithCELOptions adds CEL environment options for conditions: the
// application's own functions (cel.Function), extension libraries
// (ext.Strings()), constants. They are code, so an option; the engine's
// values (cache size, staleness, cost limit) are Config fields.
func WithCELOptions(opts ...cel.EnvOption) Option {
	return optionFunc(func(o *options) { o.celOpts = append(o.celOpts, opts...) })
}

// WithPasswordChecker replaces the password checker run on register,
// change and reset (by default the common-password blocklist and the
// user's own email and name). Combine yours with the defaults using
// user.CombineCheckers(user.CommonPasswords(), user.ContextWords(), yours).
func WithPasswordChecker(c user.PasswordChecker) Option {
	return optionFunc(func(o *options) { o.checker = c })
}

// TXTResolver looks up the TXT records of a DNS name, as
// (*net.Resolver).LookupTXT does; VerifyTenantDomain reads a tenant's
// proof through it.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// WithTXTResolver sets the DNS resolver VerifyTenantDomain uses (a
// net.Resolver with the system's settings by default); tests pass a fake.
func WithTXTResolver(r TXTResolver) Option { return optionFunc(func(o *options) { o.txt = r }) }
