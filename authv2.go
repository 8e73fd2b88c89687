package authv2

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/clock"
	"github.com/authv2/authv2/internal/telemetry"
	"github.com/authv2/authv2/internal/token"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/user"
)

// Manager is the entry point: it holds the stores and runs every flow.
// It is safe for concurrent use. Close it to stop its background work.
type Manager struct {
	cfg           Config
	users         user.Store
	sessions      session.Store
	permissions   permission.Store
	audit         *audit.Dispatcher
	auditStore    audit.Store
	clock         Clock
	log           *slog.Logger
	hasher        *user.Hasher
	inputs        *inputValidator
	security      session.SecurityPolicy
	limiter       user.RateLimiter
	notifier      Notifier
	checker       user.PasswordChecker
	passwordWords []string
	tel           *telemetry.T
	engine        *permission.Engine
	gauges        []metric.Registration
	grantUse      grantUses

	// nonIPOnce makes the warning about non-IP client addresses once.
	nonIPOnce sync.Once

	// inFlight counts background work (notifier calls, audit events
	// decided off the caller's time), for FlushAudit.
	inFlight       sync.WaitGroup
	closeOnce      sync.Once
	unregisterOnce sync.Once
	stop           chan struct{}
	done           sync.WaitGroup
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
	o.users = telemetry.Users{S: o.users, T: tel}
	o.sessions = telemetry.Sessions{S: o.sessions, T: tel}
	o.permissions = telemetry.Permissions{S: o.permissions, T: tel}
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
	if err := o.cfg.Argon2.CheckOWASPMinimum(); err != nil {
		if !o.insecureHashing {
			return nil, &ConfigError{Field: "Argon2", Reason: err.Error() + "; WithInsecurePasswordHashing allows it in tests"}
		}
		o.logger.Warn("authv2: INSECURE password hashing below OWASP's minimum (WithInsecurePasswordHashing): for tests only", "error", err)
	}
	hasher, err := user.NewHasher(o.cfg.Argon2, o.cfg.HashConcurrency)
	if err != nil {
		return nil, &ConfigError{Field: "Argon2", Reason: err.Error()}
	}
	m := &Manager{
		cfg:           o.cfg,
		users:         o.users,
		sessions:      o.sessions,
		permissions:   o.permissions,
		auditStore:    o.auditStore,
		clock:         o.clock,
		log:           o.logger,
		hasher:        hasher,
		inputs:        newInputValidator(o.cfg),
		security:      o.security,
		limiter:       o.limiter,
		notifier:      o.notifier,
		checker:       o.checker,
		passwordWords: o.words,
		tel:           tel,
		stop:          make(chan struct{}),
	}
	var engineOpts []permission.EngineOption
	if _, system := o.clock.(clock.System); !system {
		// Only an injected clock: with none, the engine reads its own
		// coarse clock, which costs a check two atomic loads instead of a
		// time.Now call.
		engineOpts = append(engineOpts, permission.WithClock(o.clock))
	}
	if o.bus != nil {
		engineOpts = append(engineOpts, permission.WithBus(o.bus))
	}
	if m.engine, err = permission.NewEngine(o.permissions, append(engineOpts, o.engineOpts...)...); err != nil {
		return nil, &ConfigError{Field: "Engine", Reason: err.Error()}
	}
	m.audit, err = m.newDispatcher(o)
	if err != nil {
		return nil, err
	}
	if m.gauges, err = m.registerMetrics(); err != nil {
		return nil, &ConfigError{Field: "MeterProvider", Reason: err.Error()}
	}
	if o.cfg.CleanupInterval > 0 {
		m.done.Add(1)
		go m.cleanupLoop(o.cfg.CleanupInterval)
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
		close(m.stop)
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
	// The last grant-use counts, before the audit queue closes.
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

// FlushAudit waits until the background work started so far is done and
// every audit event emitted so far has reached every sink (or ctx ends),
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
	return errors.Join(m.flushGrantUse(ctx), m.audit.Flush(ctx))
}

// cleanupLoop purges expired sessions (and old rate-limit entries) periodically; stores with native
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
		// Limiters with rows to purge (PostgreSQL) say so with this method;
		// those with TTLs (Redis) or bounded logs (memory) need nothing.
		if p, ok := m.limiter.(interface {
			DeleteExpired(context.Context, time.Time) (int, error)
		}); ok {
			keep := max(m.cfg.Throttle.IPWindow, m.cfg.Throttle.MaxDelay)
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

// translate maps a store error to what callers see. Store sentinels are
// already the public ones (ErrNotFound, ErrConflict, ErrStoreUnavailable);
// anything else a store returned is wrapped as unavailable, so a custom
// store's raw driver error cannot leak to a caller.
func translate(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrInvalid):
		// Input the edge checks let through but the store refused: still
		// the caller's input, so a 400 and never an outage.
		return &ValidationError{Fields: []FieldError{{Field: "input", Reason: "contains a value the store cannot keep"}}, Err: err}
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict),
		errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrLimit),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, permission.ErrCycle):
		return err
	default:
		return store.Unavailable(op, err)
	}
}

// newID returns a random identifier: 128 bits, base64url.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// emit records an audit event: metrics at once, the event through the
// dispatcher's bounded queue. A full queue makes the caller wait (unless
// the configuration drops and counts); an event lost because the caller's
// context ended is logged, never silent.
func (m *Manager) emit(ctx context.Context, e audit.Event) {
	m.count(ctx, &e)
	if e.ID == "" {
		e.ID = newID()
	}
	if e.Time.IsZero() {
		e.Time = m.clock.Now().UTC()
	}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		e.TraceID = sc.TraceID().String()
	}
	if err := m.audit.Emit(ctx, e); err != nil {
		m.log.Error("authv2: audit event not recorded", "event_type", string(e.Type), "event_id", e.ID, "error", err)
	}
}

// RegisterInput is what Register needs. Unknown fields cannot be smuggled
// in: status, roles and tenants other than TenantID are never taken from it.
type RegisterInput struct {
	Email       string
	Password    string
	DisplayName string
	// TenantID, when set, makes the user a member of that existing tenant
	// and their default tenant for logins.
	TenantID   string
	Attributes map[string]string
}

// Register creates a user with a password: active, or
// pending_verification with a token sent through the Notifier when
// Config.RequireEmailVerification is on. Input errors come back
// as a *ValidationError listing every rejected field; a taken email is
// ErrUserExists.
//
// With Config.EnumerationSafeRegistration, a taken email answers exactly
// as a new one: (nil, nil), the same work on the caller's time, and the
// address's owner told through the Notifier (ExistingAccountNotifier);
// the new user exists once they verify the address.
func (m *Manager) Register(ctx context.Context, in RegisterInput) (_ *user.User, err error) {
	ctx, span := m.tel.Start(ctx, "authv2.Register")
	defer func() { m.tel.End(span, err) }()
	if err := m.inputs.register(in); err != nil {
		return nil, err
	}
	if in.TenantID != "" {
		if _, err := m.permissions.GetTenant(ctx, in.TenantID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, &ValidationError{Fields: []FieldError{{Field: "TenantID", Reason: "no such tenant"}}}
			}
			return nil, translate("tenant.get", err)
		}
	}
	if err := m.runPasswordChecker(ctx, in.Email, in.DisplayName, in.Password); err != nil {
		return nil, err
	}
	hash, err := m.hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	now := m.clock.Now()
	status := user.StatusActive
	if m.cfg.RequireEmailVerification {
		status = user.StatusPendingVerification
	}
	u := &user.User{
		ID:                newID(),
		SecurityStamp:     newID(),
		Email:             in.Email,
		DisplayName:       in.DisplayName,
		Status:            status,
		PasswordHash:      hash,
		PasswordChangedAt: now,
		DefaultTenantID:   in.TenantID,
		Attributes:        in.Attributes,
		CreatedAt:         now,
		UpdatedAt:         now,
	}
	safe := m.cfg.EnumerationSafeRegistration
	if err := m.users.Create(ctx, u); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			return nil, translate("user.create", err)
		}
		if !safe {
			return nil, ErrUserExists
		}
		m.background(ctx, func(ctx context.Context) error {
			owner, err := m.users.GetByEmail(ctx, in.Email)
			if err != nil {
				return translate("user.get_by_email", err)
			}
			m.emit(ctx, audit.Event{Type: audit.TypeRegister, Outcome: audit.Failure, Target: owner.ID, Reason: "email_taken"})
			return m.notifier.(ExistingAccountNotifier).AccountExists(ctx, owner)
		})
		return nil, nil
	}
	if in.TenantID != "" {
		if err := m.permissions.AddMember(ctx, permission.Membership{UserID: u.ID, TenantID: in.TenantID, CreatedAt: now}); err != nil {
			return nil, translate("membership.add", err)
		}
	}
	m.emit(ctx, audit.Event{Type: audit.TypeRegister, Outcome: audit.Success, ActorUserID: u.ID, TenantID: in.TenantID, Target: u.ID})
	if safe {
		// Off the caller's time, like the taken address's notice.
		m.background(ctx, func(ctx context.Context) error {
			return m.issueToken(ctx, user.TokenEmailVerification, u, m.cfg.VerifyTokenTTL)
		})
		return nil, nil
	}
	if status == user.StatusPendingVerification {
		if err := m.issueToken(ctx, user.TokenEmailVerification, u, m.cfg.VerifyTokenTTL); err != nil {
			return nil, err
		}
	}
	return u.Clone(), nil
}

// LoginInput is what Login needs.
type LoginInput struct {
	Email    string
	Password string
	// TenantID selects the tenant of the new session; "" means the user's
	// default tenant (or none).
	TenantID string
	Scope    string
	Client   session.ClientInfo
	// DeviceToken is the device token the client presented (from the
	// device cookie: Manager.DeviceToken), "" if none. A valid one for this
	// user exempts the attempt from the account lock that failures from
	// other clients impose; it has its own failure budget instead.
	DeviceToken string
}

// LoginResult is a successful login. Token is the only copy of the session
// secret: hand it to the client and do not log it.
type LoginResult struct {
	User    *user.User
	Session *session.Session
	Token   string
	// DeviceToken marks the client as one the user logged in from:
	// hand it back (SetSessionCookie sets it as the device cookie) and
	// pass it in LoginInput.DeviceToken next time. Like Token, it is a
	// secret.
	DeviceToken string
}

// Login checks a password and opens a session. Every credential failure
// is ErrInvalidCredentials, and an unknown email costs the same time as a
// wrong password.
func (m *Manager) Login(ctx context.Context, in LoginInput) (_ *LoginResult, err error) {
	ctx, span := m.tel.Start(ctx, "authv2.Login")
	defer func() { m.tel.End(span, err) }()
	if err := cmp.Or(checkText("Email", in.Email, "TenantID", in.TenantID), checkScope("Scope", in.Scope)); err != nil {
		return nil, err
	}
	// A failure is recorded in a tenant only when the user is known and
	// belongs to it (failureTenant): in.TenantID is whatever the caller typed.
	failIn := func(ctx context.Context, userID, tenantID, reason string) {
		m.emit(ctx, audit.Event{Type: audit.TypeLoginFailure, Outcome: audit.Failure, ActorUserID: userID,
			TenantID: tenantID, IP: in.Client.IP, UserAgent: in.Client.UserAgent, Reason: reason})
	}
	fail := func(userID, tenantID, reason string) { failIn(ctx, userID, tenantID, reason) }
	// failKnown records a known user's failure. Finding the tenant it
	// counts in reads the permission store, which an unknown email does
	// not: that happens off the caller's time, so that a wrong password
	// for a real account takes no longer than an unknown email.
	failKnown := func(u *user.User, reason string) {
		if in.TenantID == "" && u.DefaultTenantID == "" {
			fail(u.ID, "", reason)
			return
		}
		m.background(ctx, func(ctx context.Context) error {
			failIn(ctx, u.ID, m.failureTenant(ctx, u, in.TenantID), reason)
			return nil
		})
	}
	now := m.clock.Now()
	// Each attempt reserves its place in the throttles before any hash is
	// computed (throttle.go), so a flood against one account or from one IP
	// costs almost nothing, and concurrency cannot get more hashes through.
	at, retry, err := m.reserveClient(ctx, in.Client.IP, now)
	if err != nil {
		return nil, err
	} else if retry > 0 {
		fail("", "", "ip_throttled")
		return nil, m.throttledError(retry)
	}
	u, err := m.users.GetByEmail(ctx, in.Email)
	if errors.Is(err, store.ErrNotFound) {
		// An unknown email is throttled like an account, so that a fast
		// "throttled" answer does not reveal which emails exist.
		if retry, err := m.reserveUnknown(ctx, in.Email, now); err != nil {
			return nil, err
		} else if retry > 0 {
			fail("", "", "unknown_user_throttled")
			return nil, m.throttledError(retry)
		}
		// Spend a real hash's time so the response does not say the email is unknown.
		if err := m.hasher.VerifyDummy(ctx, in.Password); err != nil && !errors.Is(err, user.ErrMismatch) && !errors.Is(err, user.ErrPasswordTooLong) {
			return nil, err
		}
		fail("", "", "unknown_user")
		return nil, ErrInvalidCredentials
	}
	if err != nil {
		return nil, translate("user.get_by_email", err)
	}
	if retry, err := at.reserveAccount(ctx, u, in.DeviceToken); errors.Is(err, store.ErrNotFound) {
		fail("", "", "unknown_user") // deleted since it was read
		return nil, ErrInvalidCredentials
	} else if err != nil {
		return nil, err
	} else if retry > 0 {
		failKnown(u, "account_throttled")
		return nil, m.throttledError(retry)
	}
	rehash, err := m.hasher.Verify(ctx, in.Password, u.PasswordHash)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !errors.Is(err, user.ErrMismatch) && !errors.Is(err, user.ErrPasswordTooLong) {
			m.log.Error("authv2: stored password hash unusable", "user_id", u.ID, "error", err)
		}
		at.failed(ctx)
		failKnown(u, "bad_password")
		return nil, ErrInvalidCredentials
	}
	// Status is checked only after the password so that a correct guess
	// against a disabled account and a wrong one look the same.
	switch u.Status {
	case user.StatusActive:
	case user.StatusPendingVerification:
		if m.cfg.RequireEmailVerification {
			failKnown(u, "email_not_verified")
			return nil, ErrEmailNotVerified // the caller proved the password: no enumeration
		}
	default:
		failKnown(u, "status_"+string(u.Status))
		return nil, ErrInvalidCredentials
	}
	tenantID := in.TenantID
	if tenantID == "" {
		tenantID = u.DefaultTenantID
	}
	if tenantID != "" {
		if err := m.checkTenantAccess(ctx, u.ID, tenantID); err != nil {
			fail(u.ID, "", "not_member")
			return nil, err
		}
	}
	var newHash string
	if rehash {
		if newHash, err = m.hasher.Hash(ctx, in.Password); err != nil {
			return nil, err
		}
	}
	// The session is written before the user's record is saved, and the
	// save refuses if the security stamp read above has changed: an account
	// change either rotated the stamp before this save (the login ends its
	// own session) or after it, and so also before its own revocation of
	// the user's sessions, which then finds this one (docs/DESIGN.md).
	sess, tok, err := m.openSession(ctx, u, tenantID, in.Scope, in.Client, now, now)
	if err != nil {
		fail(u.ID, tenantID, "session")
		return nil, err
	}
	stamp, verified := u.SecurityStamp, u.PasswordHash
	saved, err := m.users.Update(ctx, u.ID, func(x *user.User) error {
		// The password checked must still be the user's: a change that
		// keeps the stamp (RevokeOnPasswordChange off) must not be undone
		// by this login's rehash, nor let the old password in.
		if x.SecurityStamp != stamp || x.PasswordHash != verified {
			return errAccountChanged
		}
		at.proven(x)
		x.LastLoginAt = now
		if newHash != "" {
			x.PasswordHash = newHash
		}
		return nil
	})
	if err != nil {
		m.abandonSession(ctx, sess)
		if errors.Is(err, errAccountChanged) || errors.Is(err, store.ErrNotFound) {
			fail(u.ID, tenantID, "account_changed")
			return nil, ErrInvalidCredentials
		}
		fail(u.ID, tenantID, "session")
		return nil, translate("user.update", err)
	}
	u = saved
	at.succeeded(ctx)
	if newHash != "" {
		m.emit(ctx, audit.Event{Type: audit.TypePasswordRehash, Outcome: audit.Success, ActorUserID: u.ID, Target: u.ID})
	}
	m.emit(ctx, audit.Event{Type: audit.TypeLoginSuccess, Outcome: audit.Success, ActorUserID: u.ID, ActorSessionID: sess.ID,
		TenantID: tenantID, Scope: in.Scope, IP: in.Client.IP, UserAgent: in.Client.UserAgent})
	return &LoginResult{User: u, Session: sess, Token: tok, DeviceToken: at.issued}, nil
}

// errAccountChanged refuses a save whose security stamp is no longer the
// user's: an account change happened since the record was read.
var errAccountChanged = errors.New("authv2: account changed concurrently")

// abandonSession ends a session its flow could not complete. Failing to
// end it is logged loudly: the flow fails either way, and the session's
// security stamp no longer matches its user's.
func (m *Manager) abandonSession(ctx context.Context, sess *session.Session) {
	err := m.sessions.Revoke(context.WithoutCancel(ctx), sess.ID, m.clock.Now(), session.ReasonAccountChanged)
	if err != nil {
		m.log.Error("authv2: ending a session opened during an account change failed", "session_id", sess.ID, "error", err)
		return
	}
	m.emit(ctx, audit.Event{Type: audit.TypeSessionRevoked, Outcome: audit.Success, ActorUserID: sess.UserID, Target: sess.ID, Reason: session.ReasonAccountChanged})
}

// failureTenant is the tenant a failed login of u is recorded in: the one
// the caller named, else u's default, and only when u belongs to it. The
// caller types the tenant, so recording it as given would let anyone add
// failures to any tenant's figures (LoginCounts); a store error records
// none rather than fail the answer.
func (m *Manager) failureTenant(ctx context.Context, u *user.User, named string) string {
	t := cmp.Or(named, u.DefaultTenantID)
	if t == "" || m.checkTenantAccess(ctx, u.ID, t) != nil {
		return ""
	}
	return t
}

// checkTenantAccess succeeds when the user is a member of, or holds a
// binding that has not expired in, the tenant.
func (m *Manager) checkTenantAccess(ctx context.Context, userID, tenantID string) error {
	ms, err := m.permissions.ListMemberships(ctx, userID)
	if err != nil {
		return translate("membership.list", err)
	}
	for _, x := range ms {
		if x.TenantID == tenantID {
			return nil
		}
	}
	bs, err := m.permissions.ListBindings(ctx, tenantID, userID)
	if err != nil {
		return translate("binding.list", err)
	}
	now := m.clock.Now()
	for _, b := range bs {
		if b.ActiveAt(now) {
			return nil
		}
	}
	return ErrNotMember
}

// newSession builds a session record and its token.
// newSession builds a session of u, which carries u's security stamp and
// a copy of u's attributes: conditions read them from the session, so
// Authenticate never reads the user.
func (m *Manager) newSession(u *user.User, tenantID, scope string, client session.ClientInfo, now, authAt time.Time) (*session.Session, string, error) {
	id := session.NewID(u.ID)
	tok, secret, err := token.New(id)
	if err != nil {
		return nil, "", err
	}
	p := m.cfg.Session
	return &session.Session{
		ID:                id,
		SecretHash:        session.HashSecret(secret),
		UserID:            u.ID,
		TenantID:          tenantID,
		Scope:             scope,
		CreatedAt:         now,
		LastSeenAt:        now,
		IdleExpiresAt:     now.Add(p.IdleTimeout),
		AbsoluteExpiresAt: now.Add(p.AbsoluteTimeout),
		AuthenticatedAt:   authAt,
		AuthLevel:         1,
		SecurityStamp:     u.SecurityStamp,
		Attributes:        sessionAttributes(u.Attributes),
		Client:            client,
	}, tok, nil
}

// openSession creates a session under the per-user limit.
func (m *Manager) openSession(ctx context.Context, u *user.User, tenantID, scope string, client session.ClientInfo, now, authAt time.Time) (*session.Session, string, error) {
	sess, tok, err := m.newSession(u, tenantID, scope, client, now, authAt)
	if err != nil {
		return nil, "", err
	}
	evicted, err := m.sessions.Create(ctx, sess, m.cfg.Session.Limit(), now)
	if errors.Is(err, store.ErrLimit) {
		return nil, "", ErrSessionLimit
	}
	if err != nil {
		return nil, "", translate("session.create", err)
	}
	for _, id := range evicted {
		m.emit(ctx, audit.Event{Type: audit.TypeSessionEvicted, Outcome: audit.Success, ActorUserID: u.ID, Target: id, Reason: session.ReasonEvicted})
	}
	m.emit(ctx, audit.Event{Type: audit.TypeSessionCreated, Outcome: audit.Success, ActorUserID: u.ID, ActorSessionID: sess.ID,
		TenantID: tenantID, Scope: scope, IP: client.IP, UserAgent: client.UserAgent,
		Attributes: map[string]string{audit.AttrDevice: client.DeviceLabel}})
	return sess, tok, nil
}

// Authenticate turns a token into a Principal. It reads the session store
// once (plus, at most once per TouchInterval, a write of last-seen) and
// never the user store: everything that must end access revokes sessions.
// A malformed token fails without touching the store.
func (m *Manager) Authenticate(ctx context.Context, tok string, client session.ClientInfo) (_ *Principal, err error) {
	ctx, span := m.tel.StartHot(ctx, "authv2.Authenticate")
	defer m.endSpan(span, &err)
	sess, now, err := m.liveSession(ctx, tok, true)
	if err != nil {
		return nil, err
	}
	verdict := m.security.Check(sess, client)
	if verdict.Action != session.SecurityAllow {
		outcome := audit.Success
		if verdict.Action == session.SecurityReject {
			outcome = audit.Denied
		}
		m.emit(ctx, audit.Event{Type: audit.TypeSessionSecurity, Outcome: outcome, ActorUserID: sess.UserID,
			ActorSessionID: sess.ID, TenantID: sess.TenantID, IP: client.IP, UserAgent: client.UserAgent, Reason: verdict.Reason})
		if verdict.Action == session.SecurityReject {
			return nil, ErrClientMismatch
		}
	}
	if now.Sub(sess.LastSeenAt) >= m.cfg.Session.TouchInterval {
		idle := now.Add(m.cfg.Session.IdleTimeout)
		if err := m.sessions.Touch(ctx, sess.ID, now, idle); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, ErrSessionRevoked // revoked between the read and the write
			}
			return nil, translate("session.touch", err)
		}
		sess.LastSeenAt, sess.IdleExpiresAt = now, idle
		m.emit(ctx, audit.Event{Type: audit.TypeSessionRenewed, Outcome: audit.Success, ActorUserID: sess.UserID,
			ActorSessionID: sess.ID, TenantID: sess.TenantID, IP: client.IP, UserAgent: client.UserAgent})
	}
	return &Principal{
		Client:          client,
		UserID:          sess.UserID,
		TenantID:        sess.TenantID,
		Scope:           sess.Scope,
		SessionID:       sess.ID,
		AuthLevel:       sess.AuthLevel,
		AuthenticatedAt: sess.AuthenticatedAt,
		ExpiresAt:       sess.ExpiresAt(),
		Risk:            verdict.Reason,
		Attributes:      sess.Attributes,
		subjectAttrs:    subjectAttributes(sess.Attributes),
		Session:         sess,
	}, nil
}

// lookup parses a token and returns its session if the secret matches,
// whatever the session's state.
func (m *Manager) lookup(ctx context.Context, tok string) (*session.Session, error) {
	id, secret, err := token.Parse(tok)
	if err != nil {
		return nil, ErrUnauthenticated
	}
	sess, err := m.sessions.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, translate("session.get", err)
	}
	sum := sha256.Sum256(secret[:])
	if subtle.ConstantTimeCompare(sum[:], sess.SecretHash) != 1 {
		return nil, ErrUnauthenticated
	}
	return sess, nil
}

// liveSession returns the session of tok if it is usable now, and now.
// With inGrace, a token rotated away moments ago stands for its successor
// (see successorInGrace).
func (m *Manager) liveSession(ctx context.Context, tok string, inGrace bool) (*session.Session, time.Time, error) {
	sess, err := m.lookup(ctx, tok)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := m.clock.Now()
	if inGrace && !sess.RevokedAt.IsZero() {
		sess = m.successorInGrace(ctx, sess, now)
	}
	if err := m.checkLive(ctx, sess, now); err != nil {
		return nil, time.Time{}, err
	}
	return sess, now, nil
}

// checkLive reports why a session can no longer be used, auditing expiry.
func (m *Manager) checkLive(ctx context.Context, sess *session.Session, now time.Time) error {
	if !sess.RevokedAt.IsZero() {
		if m.rotatedAway(sess) && now.Sub(sess.RevokedAt) > m.cfg.Session.RotationGrace {
			m.tokenReused(ctx, sess, now)
		}
		return ErrSessionRevoked
	}
	if !now.Before(sess.ExpiresAt()) {
		m.emit(ctx, audit.Event{Type: audit.TypeSessionExpired, Outcome: audit.Failure, ActorUserID: sess.UserID,
			ActorSessionID: sess.ID, TenantID: sess.TenantID})
		return ErrSessionExpired
	}
	return nil
}

// Logout ends the session of tok everywhere at once. Logging out a session
// that already ended succeeds; a token that names no session is
// ErrUnauthenticated.
func (m *Manager) Logout(ctx context.Context, tok string) (err error) {
	ctx, span := m.tel.Start(ctx, "authv2.Logout")
	defer m.endSpan(span, &err)
	sess, err := m.lookup(ctx, tok)
	if err != nil {
		return err
	}
	now := m.clock.Now()
	if !sess.RevokedAt.IsZero() {
		// A logout sent with the token a rotation just replaced ends the
		// successor: the client asked to sign out of the session it holds.
		sess = m.successorInGrace(ctx, sess, now)
	}
	if !sess.RevokedAt.IsZero() {
		return nil
	}
	if err := m.sessions.Revoke(ctx, sess.ID, now, session.ReasonLogout); err != nil {
		return translate("session.revoke", err)
	}
	m.emit(ctx, audit.Event{Type: audit.TypeLogout, Outcome: audit.Success, ActorUserID: sess.UserID, ActorSessionID: sess.ID, TenantID: sess.TenantID})
	return nil
}

// User returns the user with the given ID, or ErrNotFound.
func (m *Manager) User(ctx context.Context, id string) (*user.User, error) {
	if err := checkText("ID", id); err != nil {
		return nil, err
	}
	u, err := m.users.Get(ctx, id)
	if err != nil {
		return nil, translate("user.get", err)
	}
	return u, nil
}
