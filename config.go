package authv2

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

// Config holds every tunable value; pass it to New with WithConfig, the
// one way to set a value (options carry dependencies only). The zero
// value is not valid; start from DefaultConfig or ConfigFromEnv.
//
// A field's own range is its validate tag (validator/v10, as for flow
// inputs), so the rule sits next to the field it bounds; rules between
// fields are code in Validate.
type Config struct {
	Session session.Policy

	// PasswordMinLength and PasswordMaxLength count Unicode code points.
	PasswordMinLength int `validate:"min=8"`
	PasswordMaxLength int `validate:"min=64,max=128"`
	// PasswordWords are words specific to the service (product, company)
	// that no password may contain, beside the user's own (ASVS 6.2.11).
	PasswordWords []string
	// Argon2 is the hashing cost for new hashes; weaker stored hashes are
	// upgraded on the next successful login.
	Argon2 user.Argon2Params
	// HashConcurrency bounds concurrent password hashes; 0 means GOMAXPROCS.
	HashConcurrency int `validate:"min=0"`

	Throttle ThrottleConfig

	// ReauthWindow is how recent a credential proof must be for sensitive
	// operations (change password or email, manage other users' sessions).
	ReauthWindow time.Duration `validate:"gt=0"`
	// RevokeOnPasswordChange ends every other session of a user who
	// changes their password.
	RevokeOnPasswordChange bool
	// ResetTokenTTL and VerifyTokenTTL bound single-use tokens.
	ResetTokenTTL  time.Duration `validate:"gt=0,max=24h"`
	VerifyTokenTTL time.Duration `validate:"gt=0"`
	// InvitationTTL bounds an invitation's token (Invite, ResendInvitation).
	InvitationTTL time.Duration `validate:"gt=0"`
	// ImpersonationTTL is how long an impersonation session lasts when
	// StartImpersonation is asked for no duration (1 hour by default);
	// ImpersonationMaxTTL the longest it may be asked for (1 hour by
	// default, at most 24 hours). The session ends at its deadline, renewed
	// by use or not.
	ImpersonationTTL    time.Duration `validate:"gt=0"`
	ImpersonationMaxTTL time.Duration `validate:"gt=0,max=24h"`
	// RequireEmailVerification registers users as pending_verification,
	// and refuses their logins until they verify.
	RequireEmailVerification bool
	// EnumerationSafeRegistration makes Register answer a taken address
	// exactly as a new one and tell the address's owner instead
	// (ExistingAccountNotifier). Needs RequireEmailVerification.
	EnumerationSafeRegistration bool

	// AuditAllowRate is the share of allowed authorization decisions
	// audited, from 0 (none) to 1 (all). Denials are always audited.
	AuditAllowRate float64

	// APIKeyUseAuditRate is the share of successful API key
	// authentications audited (apikey.use), from 0 (none) to 1 (all).
	// Every refused key is audited.
	APIKeyUseAuditRate float64
	// APIKeyLastUsedInterval is how often an API key's last-used time is
	// written: at most once per interval, not on every use.
	APIKeyLastUsedInterval time.Duration `validate:"gt=0"`

	// AuditQueueSize bounds the audit events waiting for their sinks.
	// The queue is allocated whole when New runs, hence a bound of its
	// own: a mistyped size fails as a *ConfigError, not as New panicking
	// or running out of memory.
	AuditQueueSize int `validate:"min=1,max=1048576"`
	// AuditDropWhenFull drops (and counts) events when the audit queue is
	// full, instead of making the caller wait.
	AuditDropWhenFull bool
	// AuditBatchSize caps the events given to one sink write.
	AuditBatchSize int `validate:"min=1"`
	// AuditMaxLatency lets a sink wait this long for a batch to fill; 0
	// writes as soon as the sink is free (batches then grow under load).
	AuditMaxLatency time.Duration `validate:"min=0"`
	// AuditBackoffMin and AuditBackoffMax bound the wait after a failed
	// sink write: the minimum first, doubling up to the maximum.
	AuditBackoffMin time.Duration
	AuditBackoffMax time.Duration
	// AuditWriteTimeout bounds one sink write; 0 means no bound beyond
	// Close's context.
	AuditWriteTimeout time.Duration `validate:"min=0"`
	// AuditJournalReplayInterval is how often, besides at start, the
	// Manager reads its audit journal (WithAuditJournal) for events left
	// undelivered: those of an instance that died since (a journal
	// several instances share, such as PostgreSQL's, hands them over) or
	// whose session the server had not ended yet when this one started,
	// and those whose removal failed. 0 reads it at start only.
	AuditJournalReplayInterval time.Duration `validate:"min=0"`
	// DecisionFlushInterval bounds how long an audited authorization
	// decision waits in memory before it is handed to the audit queue
	// (while the queue keeps up): on a crash, the decisions of the last
	// interval, never more than 2 × DecisionBufferSize, are lost besides
	// what the queue held. Account, session and administrative events do
	// not wait here.
	DecisionFlushInterval time.Duration `validate:"gt=0,max=1m"`
	// DecisionBufferSize is how many audited decisions each of the
	// decision log's two buffers holds; one is handed over as soon as it
	// is half full, and a caller that finds both full waits for room
	// (decisions are never dropped).
	DecisionBufferSize int `validate:"min=1,max=1048576"`
	// DecisionRepeatWindow folds repeated audited decisions: within a
	// window, the first decision of each kind (same user, session,
	// tenant, client, permission, resource, outcome, reason, rule and
	// policy version) is its own event as before, and the ones identical
	// to it that follow become one event when the window closes, with
	// their count (audit.AttrCount) and the time of the last
	// (audit.AttrLastAt); each repeat's own decision and trace ID are
	// not kept. Every decision is still counted, never sampled. The log
	// holds at most 4 × DecisionBufferSize kinds per window (the window
	// closes early when full), and on a crash the repeats of the open
	// window are lost with the buffers. 0 makes every decision its own
	// event.
	DecisionRepeatWindow time.Duration `validate:"min=0,max=1h"`

	// PolicyCacheSize bounds the (tenant, user) pairs whose policy the
	// engine remembers (each points at a compiled policy shared by users
	// with the same bindings; see permission.WithCacheSize); 0 compiles on
	// every check, which only tests want.
	PolicyCacheSize int `validate:"min=0"`
	// PolicyMaxStaleness bounds how long a revoked permission keeps working
	// on an instance that hears no policy bus message: the engine asks the
	// store again after it. 0 asks on every check; a negative value never
	// asks on its own, leaving invalidation to the bus (New refuses it
	// without WithPolicyBus).
	PolicyMaxStaleness time.Duration
	// PolicyCostLimit caps the CEL cost of evaluating one condition; a
	// condition over it fails to evaluate (an allow does not match, a deny
	// denies).
	PolicyCostLimit uint64 `validate:"min=1"`

	// HTTP holds the middleware's settings: cookie, proxies, origins,
	// development mode.
	HTTP HTTPConfig

	// CleanupInterval is how often expired sessions are purged from the
	// session store; 0 disables the background purge.
	CleanupInterval time.Duration `validate:"min=0"`

	// SessionStatsMaxAge is how often the live-session counts behind the
	// authv2.sessions.active gauge and an unfiltered SessionStats are read
	// from the session store, however often metrics are scraped; between
	// reads, and while one runs, callers get the last counts. 0 counts on
	// every call.
	//
	// Counts are served for at most max(10×SessionStatsMaxAge, 5m) after
	// the read that produced them, and a read is cancelled after as long:
	// past it, callers wait for a fresh read, or get ErrStoreUnavailable
	// at once if the read under way has run that long, so a store that
	// stops answering shows as an error rather than as the last counts.
	SessionStatsMaxAge time.Duration `validate:"min=0"`

	// MFA holds the values of multi-factor authentication (its
	// dependencies come with WithMFA).
	MFA MFAConfig

	// DomainCapture holds the values of tenants' email domains
	// (AddTenantDomain; the DNS resolver comes with WithTXTResolver).
	DomainCapture DomainCaptureConfig
}

// DomainCaptureConfig says which email domains tenants may claim.
type DomainCaptureConfig struct {
	// RefusedDomains are email domains no tenant may claim, nor any
	// subdomain of them (ErrPublicDomain): public mail providers, whose
	// users are the public, not one organization. DefaultConfig sets
	// DefaultRefusedDomains; each entry must be a domain name.
	RefusedDomains []string
}

// MFAConfig bounds the second step of a login and says which actions
// need a stronger or fresher authentication.
type MFAConfig struct {
	// PendingTTL is how long a pending login (the password proven, the
	// second factor awaited) stays usable.
	PendingTTL time.Duration `validate:"gt=0,max=1h"`
	// PendingAttempts is how many wrong second factors one pending login
	// takes before the password must be entered again (the user's
	// second-factor throttle, Throttle.AfterFailures per MaxDelay, applies
	// across them).
	PendingAttempts int `validate:"min=1,max=10"`
	// StepUp maps permissions ("orders:refund") to the assurance Authorize
	// demands for them once the policy allows: a principal short of it is
	// denied with a *StepUpError saying what is missing.
	StepUp map[string]Assurance
	// PasskeyBeginLimit bounds the passwordless logins one client
	// (ClientFrom, counted like Throttle.IPLimit) may begin per
	// Throttle.IPWindow: a begin stores a challenge for whoever asks,
	// before anyone is known. 0: no bound.
	PasskeyBeginLimit int `validate:"min=0"`
}

// ThrottleConfig limits password guessing.
type ThrottleConfig struct {
	// AfterFailures failed logins of one email within MaxDelay, and
	// MaxFailures within FailureWindow, throttle it: further attempts are
	// refused without a hash until the oldest failure leaves its window. An
	// email with an account and one without have the same budgets, so the
	// throttle's answers and timing do not reveal which emails have
	// accounts. A right password gives back its own place only; a password
	// reset and UnlockUser empty them. A user's trusted clients (a device
	// token, a live session re-authenticating) have budgets of their own,
	// AfterFailures per MaxDelay each and MaxFailures per FailureWindow
	// together, which untrusted failures do not spend; second factors
	// have the same two per user. MaxFailures is at most 100, so no
	// budget sees 100 failures before a lock of up to FailureWindow (NIST
	// SP 800-63B 5.2.2).
	AfterFailures int           `validate:"min=1,max=100"`
	MaxDelay      time.Duration `validate:"gt=0"`
	MaxFailures   int           `validate:"min=1,max=100"`
	FailureWindow time.Duration `validate:"gt=0"`
	// IPLimit failed attempts per IPWindow from one client IP, across
	// accounts, slow password spraying; 0 disables the IP limit.
	IPLimit  int
	IPWindow time.Duration
	// IPv6Prefix is how many leading bits of an IPv6 address make one
	// client for the IP limit: one host commonly holds a whole /64, so
	// counting per address would let it rotate past the limit. IPv4
	// addresses (IPv4-mapped IPv6 included) count per address.
	IPv6Prefix int `validate:"min=32,max=128"`
	// RecoveryLimit bounds the password-reset and verification requests
	// for one address or user per RecoveryWindow, whether or not it has an
	// account, so nobody can flood a mailbox through authv2. Requests and
	// failed token uses also count against the client's IPLimit per
	// IPWindow; failed uses of one user's tokens, against AfterFailures per
	// MaxDelay.
	RecoveryLimit  int
	RecoveryWindow time.Duration
	// DistinctError makes throttled logins fail with *ThrottledError
	// (carrying a retry-after) instead of ErrInvalidCredentials.
	DistinctError bool
}

// DefaultConfig follows OWASP and NIST SP 800-63B.
func DefaultConfig() Config {
	return Config{
		Session:           session.DefaultPolicy,
		PasswordMinLength: 8,
		PasswordMaxLength: 128,
		Argon2:            user.DefaultArgon2Params,
		Throttle: ThrottleConfig{
			AfterFailures: 10, MaxDelay: time.Hour, MaxFailures: 100, FailureWindow: 24 * time.Hour,
			IPLimit: 100, IPWindow: time.Hour, IPv6Prefix: 64,
			RecoveryLimit: 5, RecoveryWindow: time.Hour,
		},
		ReauthWindow:               15 * time.Minute,
		RevokeOnPasswordChange:     true,
		ResetTokenTTL:              time.Hour,
		VerifyTokenTTL:             48 * time.Hour,
		APIKeyLastUsedInterval:     time.Minute,
		InvitationTTL:              7 * 24 * time.Hour,
		ImpersonationTTL:           time.Hour,
		ImpersonationMaxTTL:        time.Hour,
		AuditQueueSize:             audit.DefaultQueueSize,
		AuditBatchSize:             audit.DefaultBatchSize,
		AuditBackoffMin:            audit.DefaultBackoffMin,
		AuditBackoffMax:            audit.DefaultBackoffMax,
		AuditWriteTimeout:          audit.DefaultWriteTimeout,
		AuditJournalReplayInterval: time.Minute,
		DecisionFlushInterval:      100 * time.Millisecond,
		DecisionBufferSize:         4096,
		DecisionRepeatWindow:       time.Second,
		PolicyCacheSize:            permission.DefaultCacheSize,
		PolicyMaxStaleness:         permission.DefaultMaxStaleness,
		PolicyCostLimit:            permission.DefaultCostLimit,
		HTTP:                       DefaultHTTPConfig(),
		CleanupInterval:            10 * time.Minute,
		SessionStatsMaxAge:         time.Minute,
		MFA:                        MFAConfig{PendingTTL: 5 * time.Minute, PendingAttempts: 5, PasskeyBeginLimit: 1000},
		DomainCapture:              DomainCaptureConfig{RefusedDomains: DefaultRefusedDomains()},
	}
}

// Validate returns a *ConfigError naming the first field out of range:
// the session policy, then each field's own range (its validate tag, in
// field order), then the rules between fields, argon2id and HTTP.
func (c Config) Validate() error {
	if err := c.Session.Validate(); err != nil {
		return &ConfigError{Field: "Session", Reason: err.Error()}
	}
	if err := configValidator.Struct(c); err != nil {
		var verrs validator.ValidationErrors
		if !errors.As(err, &verrs) || len(verrs) == 0 {
			return &ConfigError{Field: "Config", Reason: err.Error()}
		}
		return configErrorFor(verrs[0])
	}
	switch {
	case c.PasswordMinLength > c.PasswordMaxLength:
		return &ConfigError{Field: "PasswordMinLength", Reason: "must not exceed PasswordMaxLength"}
	case c.Throttle.MaxFailures < c.Throttle.AfterFailures:
		return &ConfigError{Field: "Throttle.MaxFailures", Reason: "must not be below AfterFailures"}
	case c.Throttle.FailureWindow < c.Throttle.MaxDelay:
		return &ConfigError{Field: "Throttle.FailureWindow", Reason: "must not be shorter than MaxDelay"}
	case c.Throttle.IPLimit < 0 || (c.Throttle.IPLimit > 0 && c.Throttle.IPWindow <= 0):
		return &ConfigError{Field: "Throttle.IPLimit", Reason: "must not be negative, with a positive IPWindow"}
	case c.Throttle.RecoveryLimit < 1 || c.Throttle.RecoveryWindow <= 0:
		return &ConfigError{Field: "Throttle.RecoveryLimit", Reason: "must be positive, with a positive RecoveryWindow"}
	// Code, not a tag: validator's min and max let NaN through.
	case !(c.AuditAllowRate >= 0 && c.AuditAllowRate <= 1):
		return &ConfigError{Field: "AuditAllowRate", Reason: "must be between 0 and 1"}
	case !(c.APIKeyUseAuditRate >= 0 && c.APIKeyUseAuditRate <= 1):
		return &ConfigError{Field: "APIKeyUseAuditRate", Reason: "must be between 0 and 1"}
	case c.ImpersonationTTL > c.ImpersonationMaxTTL:
		return &ConfigError{Field: "ImpersonationTTL", Reason: "must not exceed ImpersonationMaxTTL"}
	case c.AuditBackoffMin <= 0 || c.AuditBackoffMax < c.AuditBackoffMin:
		return &ConfigError{Field: "AuditBackoffMin", Reason: "must be positive and not above AuditBackoffMax"}
	}
	if err := c.Argon2.Validate(); err != nil {
		return &ConfigError{Field: "Argon2", Reason: err.Error()}
	}
	if err := validateStepUp(c.MFA); err != nil {
		return err
	}
	for _, d := range c.DomainCapture.RefusedDomains {
		if _, ok := normalizeDomain(d); !ok {
			return &ConfigError{Field: "DomainCapture.RefusedDomains", Reason: fmt.Sprintf("%q is not a domain name", d)}
		}
	}
	return c.HTTP.Validate()
}

// clone returns c with copies of its slices and map. A Config is passed
// by value, but these would still be shared: the caller changing one
// after New would change a running Manager's settings past Validate
// (widen TrustedProxies, drop a StepUp) and race its readers.
func (c Config) clone() Config {
	c.PasswordWords = slices.Clone(c.PasswordWords)
	c.HTTP.TrustedProxies = slices.Clone(c.HTTP.TrustedProxies)
	c.HTTP.TrustedOrigins = slices.Clone(c.HTTP.TrustedOrigins)
	c.DomainCapture.RefusedDomains = slices.Clone(c.DomainCapture.RefusedDomains)
	c.MFA.StepUp = maps.Clone(c.MFA.StepUp)
	return c
}

// configValidator checks Config's validate tags; it caches each struct's
// rules, so one serves every call.
var configValidator = validator.New()

// citations name the source of a bound that is not the library's choice.
var citations = map[string]string{"PasswordMinLength": " (NIST SP 800-63B)"}

// configErrorFor turns validator's report on one field into the
// *ConfigError callers match on: Field is the Config path
// ("Throttle.AfterFailures"), Reason the field's whole rule in words
// (ConfigFromEnv then adds the AUTHV2_* variables that set it).
func configErrorFor(fe validator.FieldError) *ConfigError {
	_, field, _ := strings.Cut(fe.StructNamespace(), ".") // drop "Config."
	t := reflect.TypeFor[Config]()
	var sf reflect.StructField
	for name := range strings.SplitSeq(field, ".") {
		sf, _ = t.FieldByName(name)
		t = sf.Type
	}
	return &ConfigError{Field: field, Reason: describeRule(sf.Tag.Get("validate")) + citations[field]}
}

// describeRule says in words what a validate tag of Config accepts: the
// reasons Validate gave when the rules were code.
func describeRule(tag string) string {
	rules := map[string]string{}
	for r := range strings.SplitSeq(tag, ",") {
		k, v, _ := strings.Cut(r, "=")
		rules[k] = v
	}
	lo, hasMin := rules["min"]
	hi, hasMax := rules["max"]
	gt, positive := rules["gt"]
	positive = positive && gt == "0"
	switch {
	case hasMin && hasMax:
		return "must be between " + lo + " and " + hi
	case positive && hasMax:
		return "must be positive and at most " + hi
	case positive:
		return "must be positive"
	case lo == "0":
		return "must not be negative"
	case hasMin:
		return "must be at least " + lo
	}
	return "is invalid (" + tag + ")"
}

// removedEnvVars are variables earlier versions read: one still set is
// refused, with what replaced it, rather than silently ignored.
var removedEnvVars = map[string]string{
	"AUTHV2_THROTTLE_BASE_DELAY": "was removed: the login throttle has no doubling lock; " +
		"see AUTHV2_THROTTLE_AFTER_FAILURES per AUTHV2_THROTTLE_MAX_DELAY and AUTHV2_THROTTLE_MAX_FAILURES per AUTHV2_THROTTLE_FAILURE_WINDOW",
}

// envVar describes one AUTHV2_* variable; the README's table lists them.
type envVar struct {
	name string
	set  func(c *Config, v string) error
}

func durationVar(dst func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		*dst(c) = d
		return nil
	}
}

func intVar(dst func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		*dst(c) = n
		return nil
	}
}

func boolVar(dst func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		*dst(c) = b
		return nil
	}
}

// enumVar parses one of the names of choices, in any case; want lists
// them for the error.
func enumVar[T any](want string, choices map[string]T, dst func(*Config) *T) func(*Config, string) error {
	return func(c *Config, v string) error {
		x, ok := choices[strings.ToLower(v)]
		if !ok {
			return errors.New("want " + want)
		}
		*dst(c) = x
		return nil
	}
}

// uintVar parses an unsigned number of bits bits (32 or 64) into *dst.
func uintVar[T uint32 | uint64](bits int, dst func(*Config) *T) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseUint(v, 10, bits)
		if err != nil {
			return err
		}
		*dst(c) = T(n)
		return nil
	}
}

var envVars = []envVar{
	{"AUTHV2_SESSION_IDLE_TIMEOUT", durationVar(func(c *Config) *time.Duration { return &c.Session.IdleTimeout })},
	{"AUTHV2_SESSION_ABSOLUTE_TIMEOUT", durationVar(func(c *Config) *time.Duration { return &c.Session.AbsoluteTimeout })},
	{"AUTHV2_SESSION_TOUCH_INTERVAL", durationVar(func(c *Config) *time.Duration { return &c.Session.TouchInterval })},
	{"AUTHV2_SESSION_ROTATION_GRACE", durationVar(func(c *Config) *time.Duration { return &c.Session.RotationGrace })},
	{"AUTHV2_SESSION_MAX_PER_USER", intVar(func(c *Config) *int { return &c.Session.MaxPerUser })},
	{"AUTHV2_SESSION_EVICTION", enumVar("oldest, lru or refuse",
		map[string]session.EvictionPolicy{"oldest": session.EvictOldest, "lru": session.EvictLeastRecentlyUsed, "refuse": session.Refuse},
		func(c *Config) *session.EvictionPolicy { return &c.Session.Eviction })},
	{"AUTHV2_PASSWORD_MIN_LENGTH", intVar(func(c *Config) *int { return &c.PasswordMinLength })},
	{"AUTHV2_PASSWORD_MAX_LENGTH", intVar(func(c *Config) *int { return &c.PasswordMaxLength })},
	{"AUTHV2_ARGON2_MEMORY_KIB", uintVar(32, func(c *Config) *uint32 { return &c.Argon2.Memory })},
	{"AUTHV2_ARGON2_ITERATIONS", uintVar(32, func(c *Config) *uint32 { return &c.Argon2.Iterations })},
	{"AUTHV2_HASH_CONCURRENCY", intVar(func(c *Config) *int { return &c.HashConcurrency })},
	{"AUTHV2_THROTTLE_AFTER_FAILURES", intVar(func(c *Config) *int { return &c.Throttle.AfterFailures })},
	{"AUTHV2_THROTTLE_MAX_DELAY", durationVar(func(c *Config) *time.Duration { return &c.Throttle.MaxDelay })},
	{"AUTHV2_THROTTLE_MAX_FAILURES", intVar(func(c *Config) *int { return &c.Throttle.MaxFailures })},
	{"AUTHV2_THROTTLE_FAILURE_WINDOW", durationVar(func(c *Config) *time.Duration { return &c.Throttle.FailureWindow })},
	{"AUTHV2_THROTTLE_IP_LIMIT", intVar(func(c *Config) *int { return &c.Throttle.IPLimit })},
	{"AUTHV2_THROTTLE_IP_WINDOW", durationVar(func(c *Config) *time.Duration { return &c.Throttle.IPWindow })},
	{"AUTHV2_THROTTLE_IPV6_PREFIX", intVar(func(c *Config) *int { return &c.Throttle.IPv6Prefix })},
	{"AUTHV2_THROTTLE_RECOVERY_LIMIT", intVar(func(c *Config) *int { return &c.Throttle.RecoveryLimit })},
	{"AUTHV2_THROTTLE_RECOVERY_WINDOW", durationVar(func(c *Config) *time.Duration { return &c.Throttle.RecoveryWindow })},
	{"AUTHV2_THROTTLE_DISTINCT_ERROR", boolVar(func(c *Config) *bool { return &c.Throttle.DistinctError })},
	{"AUTHV2_REAUTH_WINDOW", durationVar(func(c *Config) *time.Duration { return &c.ReauthWindow })},
	{"AUTHV2_REVOKE_ON_PASSWORD_CHANGE", boolVar(func(c *Config) *bool { return &c.RevokeOnPasswordChange })},
	{"AUTHV2_RESET_TOKEN_TTL", durationVar(func(c *Config) *time.Duration { return &c.ResetTokenTTL })},
	{"AUTHV2_VERIFY_TOKEN_TTL", durationVar(func(c *Config) *time.Duration { return &c.VerifyTokenTTL })},
	{"AUTHV2_INVITATION_TTL", durationVar(func(c *Config) *time.Duration { return &c.InvitationTTL })},
	{"AUTHV2_IMPERSONATION_TTL", durationVar(func(c *Config) *time.Duration { return &c.ImpersonationTTL })},
	{"AUTHV2_IMPERSONATION_MAX_TTL", durationVar(func(c *Config) *time.Duration { return &c.ImpersonationMaxTTL })},
	{"AUTHV2_REQUIRE_EMAIL_VERIFICATION", boolVar(func(c *Config) *bool { return &c.RequireEmailVerification })},
	{"AUTHV2_ENUMERATION_SAFE_REGISTRATION", boolVar(func(c *Config) *bool { return &c.EnumerationSafeRegistration })},
	{"AUTHV2_AUDIT_ALLOW_RATE", func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		c.AuditAllowRate = f
		return err
	}},
	{"AUTHV2_APIKEY_USE_AUDIT_RATE", func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		c.APIKeyUseAuditRate = f
		return err
	}},
	{"AUTHV2_APIKEY_LAST_USED_INTERVAL", durationVar(func(c *Config) *time.Duration { return &c.APIKeyLastUsedInterval })},
	{"AUTHV2_AUDIT_QUEUE_SIZE", intVar(func(c *Config) *int { return &c.AuditQueueSize })},
	{"AUTHV2_AUDIT_DROP_WHEN_FULL", boolVar(func(c *Config) *bool { return &c.AuditDropWhenFull })},
	{"AUTHV2_AUDIT_BATCH_SIZE", intVar(func(c *Config) *int { return &c.AuditBatchSize })},
	{"AUTHV2_AUDIT_MAX_LATENCY", durationVar(func(c *Config) *time.Duration { return &c.AuditMaxLatency })},
	{"AUTHV2_AUDIT_BACKOFF_MIN", durationVar(func(c *Config) *time.Duration { return &c.AuditBackoffMin })},
	{"AUTHV2_AUDIT_BACKOFF_MAX", durationVar(func(c *Config) *time.Duration { return &c.AuditBackoffMax })},
	{"AUTHV2_AUDIT_WRITE_TIMEOUT", durationVar(func(c *Config) *time.Duration { return &c.AuditWriteTimeout })},
	{"AUTHV2_AUDIT_JOURNAL_REPLAY_INTERVAL", durationVar(func(c *Config) *time.Duration { return &c.AuditJournalReplayInterval })},
	{"AUTHV2_DECISION_FLUSH_INTERVAL", durationVar(func(c *Config) *time.Duration { return &c.DecisionFlushInterval })},
	{"AUTHV2_DECISION_BUFFER_SIZE", intVar(func(c *Config) *int { return &c.DecisionBufferSize })},
	{"AUTHV2_DECISION_REPEAT_WINDOW", durationVar(func(c *Config) *time.Duration { return &c.DecisionRepeatWindow })},
	{"AUTHV2_POLICY_CACHE_SIZE", intVar(func(c *Config) *int { return &c.PolicyCacheSize })},
	{"AUTHV2_POLICY_MAX_STALENESS", durationVar(func(c *Config) *time.Duration { return &c.PolicyMaxStaleness })},
	{"AUTHV2_POLICY_COST_LIMIT", uintVar(64, func(c *Config) *uint64 { return &c.PolicyCostLimit })},
	{"AUTHV2_CLEANUP_INTERVAL", durationVar(func(c *Config) *time.Duration { return &c.CleanupInterval })},
	{"AUTHV2_SESSION_STATS_MAX_AGE", durationVar(func(c *Config) *time.Duration { return &c.SessionStatsMaxAge })},
	{"AUTHV2_COOKIE_NAME", func(c *Config, v string) error { c.HTTP.CookieName = v; return nil }},
	{"AUTHV2_COOKIE_SAMESITE", enumVar("lax or strict",
		map[string]http.SameSite{"lax": http.SameSiteLaxMode, "strict": http.SameSiteStrictMode},
		func(c *Config) *http.SameSite { return &c.HTTP.SameSite })},
	{"AUTHV2_TRUSTED_PROXIES", func(c *Config, v string) error {
		p, err := ParseTrustedProxies(v)
		var ce *ConfigError
		if errors.As(err, &ce) {
			return errors.New(ce.Reason) // the variable, not the field, names it
		}
		c.HTTP.TrustedProxies = p
		return err
	}},
	{"AUTHV2_TRUSTED_ORIGINS", func(c *Config, v string) error {
		for o := range strings.SplitSeq(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.HTTP.TrustedOrigins = append(c.HTTP.TrustedOrigins, o)
			}
		}
		return nil
	}},
	{"AUTHV2_PASSWORD_WORDS", func(c *Config, v string) error {
		for w := range strings.SplitSeq(v, ",") {
			if w = strings.TrimSpace(w); w != "" {
				c.PasswordWords = append(c.PasswordWords, w)
			}
		}
		return nil
	}},
	{"AUTHV2_REFUSED_EMAIL_DOMAINS", func(c *Config, v string) error {
		// Replaces the default list; an empty value refuses none.
		c.DomainCapture.RefusedDomains = []string{}
		for d := range strings.SplitSeq(v, ",") {
			if d = strings.TrimSpace(d); d != "" {
				c.DomainCapture.RefusedDomains = append(c.DomainCapture.RefusedDomains, d)
			}
		}
		return nil
	}},
	{"AUTHV2_DEV_MODE", boolVar(func(c *Config) *bool { return &c.HTTP.DevelopmentMode })},
}

// ConfigFromEnv starts from DefaultConfig and applies the AUTHV2_*
// variables that are set (the README's table lists them). New never reads
// the environment itself: pass the result with WithConfig. A malformed
// value is a *ConfigError whose Field is the variable; a value out of
// range, one whose Field is the Config field and whose Reason names the
// variables that set it.
func ConfigFromEnv() (Config, error) { return configFromLookup(os.LookupEnv) }

func configFromLookup(lookup func(string) (string, bool)) (Config, error) {
	c := DefaultConfig()
	for name, why := range removedEnvVars {
		if _, ok := lookup(name); ok {
			return Config{}, &ConfigError{Field: name, Reason: why}
		}
	}
	var set []envVar
	for _, ev := range envVars {
		v, ok := lookup(ev.name)
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if err := ev.set(&c, v); err != nil {
			return Config{}, &ConfigError{Field: ev.name, Reason: err.Error()}
		}
		set = append(set, envVar{name: ev.name, set: func(c *Config, _ string) error { return ev.set(c, v) }})
	}
	if err := c.Validate(); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.Reason += blame(ce.Field, set)
		}
		return Config{}, err
	}
	return c, nil
}

// blame names the variables that, each applied alone to DefaultConfig,
// put field out of range, so that the operator reading a range error
// knows which variable to fix; "" when only their combination is wrong.
func blame(field string, set []envVar) string {
	var names []string
	for _, ev := range set {
		c := DefaultConfig()
		_ = ev.set(&c, "") // parsed once already
		var ce *ConfigError
		if errors.As(c.Validate(), &ce) && ce.Field == field {
			names = append(names, ev.name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return " (set by " + strings.Join(names, ", ") + ")"
}
