package authv2

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

// Config holds every tunable. The zero value is not valid; start from
// DefaultConfig or ConfigFromEnv. Options given to New override it.
type Config struct {
	Session session.Policy

	// PasswordMinLength and PasswordMaxLength count Unicode code points.
	PasswordMinLength int
	PasswordMaxLength int
	// Argon2 is the hashing cost for new hashes; weaker stored hashes are
	// upgraded on the next successful login.
	Argon2 user.Argon2Params
	// HashConcurrency bounds concurrent password hashes; 0 means GOMAXPROCS.
	HashConcurrency int

	// CleanupInterval is how often expired sessions are purged from the
	// session store; 0 disables the background purge.
	CleanupInterval time.Duration
}

// DefaultConfig follows OWASP and NIST SP 800-63B.
func DefaultConfig() Config {
	return Config{
		Session:           session.DefaultPolicy,
		PasswordMinLength: 8,
		PasswordMaxLength: 128,
		Argon2:            user.DefaultArgon2Params,
		CleanupInterval:   10 * time.Minute,
	}
}

// Validate returns a *ConfigError naming the first field out of range.
func (c Config) Validate() error {
	if err := c.Session.Validate(); err != nil {
		return &ConfigError{Field: "Session", Reason: err.Error()}
	}
	switch {
	case c.PasswordMinLength < 8:
		return &ConfigError{Field: "PasswordMinLength", Reason: "must be at least 8 (NIST SP 800-63B)"}
	case c.PasswordMaxLength < 64 || c.PasswordMaxLength > 128:
		return &ConfigError{Field: "PasswordMaxLength", Reason: "must be between 64 and 128"}
	case c.PasswordMinLength > c.PasswordMaxLength:
		return &ConfigError{Field: "PasswordMinLength", Reason: "must not exceed PasswordMaxLength"}
	case c.HashConcurrency < 0:
		return &ConfigError{Field: "HashConcurrency", Reason: "must not be negative"}
	case c.CleanupInterval < 0:
		return &ConfigError{Field: "CleanupInterval", Reason: "must not be negative"}
	}
	if err := c.Argon2.Validate(); err != nil {
		return &ConfigError{Field: "Argon2", Reason: err.Error()}
	}
	return nil
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

func uint32Var(dst func(*Config) *uint32) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return err
		}
		*dst(c) = uint32(n)
		return nil
	}
}

var envVars = []envVar{
	{"AUTHV2_SESSION_IDLE_TIMEOUT", durationVar(func(c *Config) *time.Duration { return &c.Session.IdleTimeout })},
	{"AUTHV2_SESSION_ABSOLUTE_TIMEOUT", durationVar(func(c *Config) *time.Duration { return &c.Session.AbsoluteTimeout })},
	{"AUTHV2_SESSION_TOUCH_INTERVAL", durationVar(func(c *Config) *time.Duration { return &c.Session.TouchInterval })},
	{"AUTHV2_SESSION_MAX_PER_USER", intVar(func(c *Config) *int { return &c.Session.MaxPerUser })},
	{"AUTHV2_SESSION_EVICTION", func(c *Config, v string) error {
		switch strings.ToLower(v) {
		case "oldest":
			c.Session.Eviction = session.EvictOldest
		case "lru":
			c.Session.Eviction = session.EvictLeastRecentlyUsed
		case "refuse":
			c.Session.Eviction = session.Refuse
		default:
			return fmt.Errorf("want oldest, lru or refuse")
		}
		return nil
	}},
	{"AUTHV2_PASSWORD_MIN_LENGTH", intVar(func(c *Config) *int { return &c.PasswordMinLength })},
	{"AUTHV2_PASSWORD_MAX_LENGTH", intVar(func(c *Config) *int { return &c.PasswordMaxLength })},
	{"AUTHV2_ARGON2_MEMORY_KIB", uint32Var(func(c *Config) *uint32 { return &c.Argon2.Memory })},
	{"AUTHV2_ARGON2_ITERATIONS", uint32Var(func(c *Config) *uint32 { return &c.Argon2.Iterations })},
	{"AUTHV2_HASH_CONCURRENCY", intVar(func(c *Config) *int { return &c.HashConcurrency })},
	{"AUTHV2_CLEANUP_INTERVAL", durationVar(func(c *Config) *time.Duration { return &c.CleanupInterval })},
}

// ConfigFromEnv starts from DefaultConfig and applies the AUTHV2_*
// variables that are set. A malformed or out-of-range value is a
// *ConfigError naming the variable.
func ConfigFromEnv() (Config, error) { return configFromLookup(os.LookupEnv) }

func configFromLookup(lookup func(string) (string, bool)) (Config, error) {
	c := DefaultConfig()
	for _, ev := range envVars {
		v, ok := lookup(ev.name)
		if !ok {
			continue
		}
		if err := ev.set(&c, strings.TrimSpace(v)); err != nil {
			return Config{}, &ConfigError{Field: ev.name, Reason: err.Error()}
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}
