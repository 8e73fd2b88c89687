package authv2

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/authv2/authv2/apikey"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/clock"
	"github.com/authv2/authv2/internal/telemetry"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/user"
)

// This file holds the Manager, New and Close. The flows live in files
// named after them:
//
//	register.go      Register
//	login.go         Login (and the tenant check it shares with SwitchTenant)
//	authenticate.go  Authenticate: a token to a Principal
//	logout.go        Logout
//	sessions.go      session management: list, revoke, rotate, switch tenant
//	account.go       password reset and change, email verification and change,
//	                 re-authentication, one-time tokens
//	users.go         user administration: User, Disable/Lock/Unlock/DeleteUser
//	admin.go         tenants, memberships, roles, bindings
//	apikeys.go       service accounts and API keys (authenticating one too)
//	invitations.go   invitations: Invite, resend, revoke, AcceptInvitation
//	domains.go       domain capture: AddTenantDomain, VerifyTenantDomain,
//	                 RemoveTenantDomain; users verified at the domain join
//	impersonation.go impersonation: Start/EndImpersonation, Impersonations,
//	                 and the checks an impersonation session gets
//	members.go       members: ListMembers, SetMemberRoles, RemoveMember,
//	                 TransferOwnership; grantable.go: rights no wider than the actor's
//	authz.go         authorization: Authorize, Explain, Who, Roles
//	decisionlog.go   audited decisions, buffered off the caller's path
//	auditlog.go      the audit trail and its queries
//	throttle.go      login and recovery throttles; device.go device tokens
//	httpconfig.go, context.go, middleware.go, require.go,
//	cookie.go, clientip.go, problem.go                  net/http integration
//	config.go, options.go, validate.go, errors.go       configuration, input, errors

// Manager is the entry point: it holds the stores and runs every flow.
// It is safe for concurrent use. Close it to stop its background work.
type Manager struct {
	cfg            Config
	users          user.Store
	sessions       session.Store
	permissions    permission.Store
	apiKeys        apikey.Store
	impersonations session.ImpersonationStore
	keyBlocks      keyBlocks
	audit          *audit.Dispatcher
	auditStore     audit.Store
	journal        audit.Journal
	// usersOutbox and sessionsOutbox are the recording writes of stores
	// that commit events into journal (outbox.go), nil otherwise.
	usersOutbox    telemetry.RecordingUsers
	sessionsOutbox telemetry.RecordingSessions
	clock          Clock
	log            *slog.Logger
	hasher         *user.Hasher
	inputs         *inputValidator
	security       session.SecurityPolicy
	limiter        user.RateLimiter
	notifier       Notifier
	checker        user.PasswordChecker
	// txt reads domain proofs; refused holds DomainCapture.RefusedDomains
	// normalized (domains.go).
	txt           TXTResolver
	refused       []string
	passwordWords []string
	tel           *telemetry.T
	engine        *permission.Engine
	gauges        []metric.Registration
	grantUse      grantUses
	stats         *statsCache
	decisions     *decisionLog
	// decisionClock stamps audited decisions: a coarse copy of the system
	// clock (coarseClock, closed with the Manager), or the injected one.
	decisionClock Clock
	coarseClock   *clock.Coarse
	// mfa is WithMFA's dependencies, nil without it.
	mfa *mfaDeps
	// impChecks remembers the policy version at which each running
	// impersonation's rights were last compared (impersonation.go).
	impChecks impersonationChecks
	// impEnds serializes the ends of one impersonation (impersonation.go).
	impEnds keyedLocks

	// nonIPOnce makes the warning about non-IP client addresses once.
	nonIPOnce sync.Once

	// inFlight counts background work (notifier calls, audit events
	// decided off the caller's time), for FlushAudit.
	inFlight       sync.WaitGroup
	closeOnce      sync.Once
	unregisterOnce sync.Once
	stop           chan struct{}
	done           sync.WaitGroup
	// closeMu orders untilClose's and background's done.Add before
	// Close's done.Wait: once closed is set, neither starts a goroutine.
	closeMu sync.Mutex
	closed  bool
}

// New builds a Manager. Every store defaults to the in-memory one; every
// setting to DefaultConfig. An invalid setting fails here with a
// *ConfigError, never later.
func New(opts ...Option) (*Manager, error) {
	o := options{cfg: DefaultConfig()}
	for _, opt := range opts {
		opt.apply(&o)
	}
	if err := o.cfg.Validate(); err != nil {
		return nil, err
	}
	if o.clock == nil {
		o.clock = clock.System{}
	}
	if o.security == nil {
		o.security = session.IgnoreClientChanges()
	}
	if o.txt == nil {
		o.txt = &net.Resolver{}
	}
	if o.logger == nil {
		// Operational failures (an audit sink down, a store outage in the
		// background) must reach someone by default.
		o.logger = slog.Default()
	}
	mem := memory.New()
	if o.users == nil {
		o.users = mem.Users
	}
	if o.sessions == nil {
		o.sessions = mem.Sessions
	}
	if o.permissions == nil {
		o.permissions = mem.Permissions
	}
	if o.limiter == nil {
		o.limiter = mem.Limiter
	}
	if o.apiKeys == nil {
		o.apiKeys = mem.APIKeys
	}
	if o.impersonations == nil {
		o.impersonations = mem.Impersonations
	}
	if o.checker == nil {
		o.checker = defaultPasswordChecker()
	}
	explicitTracer := o.tracer != nil
	if !explicitTracer {
		o.tracer = otel.GetTracerProvider()
	}
	if o.meter == nil {
		o.meter = otel.GetMeterProvider()
	}
	tel, err := telemetry.New(o.tracer, o.meter, explicitTracer)
	if err != nil {
		return nil, &ConfigError{Field: "MeterProvider", Reason: err.Error()}
	}
	tel.Outcome = outcomeName
	usersOutbox, sessionsOutbox := outboxes(o.users, o.sessions, o.journal, tel)
	o.users = telemetry.Users{S: o.users, T: tel}
	o.sessions = telemetry.Sessions{S: o.sessions, T: tel}
	o.permissions = telemetry.Permissions{S: o.permissions, T: tel}
	o.apiKeys = telemetry.APIKeys{S: o.apiKeys, T: tel}
	o.limiter = telemetry.Limiter{S: o.limiter, T: tel}
	o.impersonations = telemetry.Impersonations{S: o.impersonations, T: tel}
	if o.cfg.RequireEmailVerification && o.notifier == nil {
		return nil, &ConfigError{Field: "RequireEmailVerification", Reason: "needs WithNotifier to deliver verification tokens"}
	}
	if o.cfg.EnumerationSafeRegistration {
		if !o.cfg.RequireEmailVerification {
			// An active account could log in at once, which a taken address cannot.
			return nil, &ConfigError{Field: "EnumerationSafeRegistration", Reason: "needs RequireEmailVerification"}
		}
		if _, ok := o.notifier.(ExistingAccountNotifier); !ok {
			return nil, &ConfigError{Field: "EnumerationSafeRegistration", Reason: "needs a Notifier that implements ExistingAccountNotifier, to tell an address's owner"}
		}
	}
	if o.cfg.PolicyMaxStaleness < 0 && o.bus == nil {
		// Nothing else would ever tell this instance of a permission
		// revoked through another one, or in the store directly.
		return nil, &ConfigError{Field: "PolicyMaxStaleness", Reason: "negative leaves invalidation to the policy bus: needs WithPolicyBus"}
	}
	if err := o.cfg.Argon2.CheckOWASPMinimum(); err != nil {
		if !o.insecureHashing {
			return nil, &ConfigError{Field: "Argon2", Reason: err.Error() + "; WithInsecurePasswordHashing allows it in tests"}
		}
		o.logger.Warn("authv2: INSECURE password hashing below OWASP's minimum (WithInsecurePasswordHashing): for tests only", "error", err)
	}
	mfaDeps, err := newMFA(o.mfa, o.logger)
	if err != nil {
		return nil, err
	}
	hasher, err := user.NewHasher(o.cfg.Argon2, o.cfg.HashConcurrency)
	if err != nil {
		return nil, &ConfigError{Field: "Argon2", Reason: err.Error()}
	}
	m := &Manager{
		cfg:            o.cfg,
		users:          o.users,
		sessions:       o.sessions,
		permissions:    o.permissions,
		apiKeys:        o.apiKeys,
		impersonations: o.impersonations,
		auditStore:     o.auditStore,
		journal:        o.journal,
		usersOutbox:    usersOutbox,
		sessionsOutbox: sessionsOutbox,
		clock:          o.clock,
		log:            o.logger,
		hasher:         hasher,
		inputs:         newInputValidator(o.cfg),
		security:       o.security,
		limiter:        o.limiter,
		notifier:       o.notifier,
		checker:        o.checker,
		txt:            o.txt,
		refused:        refusedDomains(o.cfg.DomainCapture.RefusedDomains),
		passwordWords:  o.cfg.PasswordWords,
		tel:            tel,
		mfa:            mfaDeps,
		stop:           make(chan struct{}),
	}
	m.stats = &statsCache{maxAge: o.cfg.SessionStatsMaxAge,
		staleAfter: statsStaleAfter(o.cfg.SessionStatsMaxAge),
		read: func(ctx context.Context, now time.Time) (session.Stats, error) {
			return m.sessions.Stats(ctx, session.StatsFilter{}, now)
		},
		background: m.untilClose,
	}
	engineOpts := []permission.EngineOption{
		permission.WithCacheSize(o.cfg.PolicyCacheSize),
		permission.WithMaxStaleness(o.cfg.PolicyMaxStaleness),
		permission.WithCostLimit(o.cfg.PolicyCostLimit),
		permission.WithCELOptions(o.celOpts...),
	}
	if _, system := o.clock.(clock.System); !system {
		// Only an injected clock: with none, the engine reads its own
		// coarse clock, which costs a check two atomic loads instead of a
		// time.Now call.
		engineOpts = append(engineOpts, permission.WithClock(o.clock))
	}
	if o.bus != nil {
		engineOpts = append(engineOpts, permission.WithBus(o.bus))
	}
	if m.engine, err = permission.NewEngine(o.permissions, engineOpts...); err != nil {
		return nil, &ConfigError{Field: "Engine", Reason: err.Error()}
	}
	m.audit, err = m.newDispatcher(o)
	if err != nil {
		return nil, err
	}
	if m.gauges, err = m.registerMetrics(); err != nil {
		return nil, &ConfigError{Field: "MeterProvider", Reason: err.Error()}
	}
	m.decisionClock = o.clock
	if _, system := o.clock.(clock.System); system {
		m.coarseClock = clock.NewCoarse(time.Millisecond, 1000)
		m.decisionClock = m.coarseClock
	}
	m.startDecisionLog()
	if o.cfg.CleanupInterval > 0 {
		m.done.Add(1)
		go m.cleanupLoop(o.cfg.CleanupInterval)
	}
	if m.journal != nil {
		m.done.Add(1)
		m.inFlight.Add(1) // FlushAudit waits for the replay too
		go m.replayJournal(o.cfg.AuditJournalReplayInterval)
	}
	m.grantUse.pending = map[audit.GrantUse]int64{}
	if m.auditStore != nil {
		m.done.Add(1)
		go m.grantUseLoop()
	}
	return m, nil
}

// Close stops the Manager's background work and delivers the audit events
// still queued, waiting at most until ctx ends (an *audit.UndeliveredError
// then says how many were lost). It does not close the stores: the
// application opened them, and closes them after Close returns. Close is
// idempotent.
func (m *Manager) Close(ctx context.Context) error {
	m.closeOnce.Do(func() {
		m.closeMu.Lock()
		m.closed = true
		m.closeMu.Unlock()
		close(m.stop)
		m.decisions.stopGoroutine()
		if err := m.engine.Close(); err != nil {
			m.log.Warn("authv2: closing the permission engine failed", "error", err)
		}
	})
	finished := make(chan struct{})
	go func() { m.done.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		select {
		case <-finished: // both ready: finishing wins
		default:
			return ctx.Err()
		}
	}
	// The last decisions and grant-use counts, before the audit queue
	// closes.
	m.decisions.close(ctx)
	if m.coarseClock != nil {
		m.coarseClock.Close()
	}
	useErr := m.flushGrantUse(ctx)
	err := errors.Join(m.audit.Close(ctx), useErr)
	// Metrics stay observable while the audit queue drains.
	m.unregisterOnce.Do(func() {
		for _, g := range m.gauges {
			if uerr := g.Unregister(); uerr != nil {
				m.log.Warn("authv2: unregistering metrics failed", "error", uerr)
			}
		}
	})
	return err
}

// untilClose runs work on a goroutine Close waits for, with a context
// Close cancels: unlike background's, no fixed timeout, since counting a
// million sessions can take minutes (the work bounds itself). A failure
// is logged. Once Close has begun it starts nothing and returns false, so
// that no done.Add races Close's done.Wait.
func (m *Manager) untilClose(work func(context.Context) error) bool {
	m.closeMu.Lock()
	defer m.closeMu.Unlock()
	if m.closed {
		return false
	}
	m.done.Add(1)
	go func() {
		defer m.done.Done()
		ctx, cancel := m.stopContext()
		defer cancel()
		if err := work(ctx); err != nil {
			m.log.Error("authv2: background work failed", "error", err)
		}
	}()
	return true
}

// stopContext returns a context that Close cancels when it begins, for
// background work with no deadline of its own. Call cancel when done.
func (m *Manager) stopContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-m.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// FlushAudit waits until the background work started so far is done and
// every audit event emitted so far, authorization decisions included, has
// reached every sink (or ctx ends),
// and writes the grant-use counts to the audit store. Tests call it before
// reading a sink.
func (m *Manager) FlushAudit(ctx context.Context) error {
	done := make(chan struct{})
	go func() { m.inFlight.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	m.decisions.drain(ctx, true)
	return errors.Join(m.flushGrantUse(ctx), m.audit.Flush(ctx))
}

// cleanupLoop purges expired sessions (and old rate-limit entries, expired MFA challenges) periodically; stores with native
// expiry (Redis TTLs) make this cheap.
func (m *Manager) cleanupLoop(every time.Duration) {
	m.loop(every, func(ctx context.Context) {
		now := m.clock.Now()
		n, err := m.sessions.DeleteExpired(ctx, now)
		if err != nil {
			m.log.Warn("authv2: purging expired sessions failed", "error", err)
		} else if n > 0 {
			m.log.Debug("authv2: purged expired sessions", "count", n)
		}
		if m.mfa != nil {
			m.mfa.deleteExpired(ctx, now)
		}
		if p, ok := m.limiter.(user.ExpiredDeleter); ok {
			t := m.cfg.Throttle
			keep := max(t.IPWindow, t.MaxDelay, t.FailureWindow, t.RecoveryWindow)
			if _, err := p.DeleteExpired(ctx, now.Add(-keep)); err != nil {
				m.log.Warn("authv2: purging old rate-limit entries failed", "error", err)
			}
		}
	})
}

// loop runs work every interval, each run with that interval as its
// deadline, until Close.
func (m *Manager) loop(every time.Duration, work func(ctx context.Context)) {
	defer m.done.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), every)
			work(ctx)
			cancel()
		}
	}
}
