// Package authv2 is an embeddable authentication and authorization SDK for
// multi-tenant Go services.
//
// # Getting started
//
// A Manager, built with functional options, holds the stores and runs every
// flow. With no options every store is in memory, so this runs as is:
//
//	m, err := authv2.New()
//	if err != nil { ... }
//	defer m.Close(ctx)
//	u, err := m.Register(ctx, authv2.RegisterInput{Email: "ada@example.com", Password: "correct horse battery staple"})
//	res, err := m.Login(ctx, authv2.LoginInput{Email: "ada@example.com", Password: "correct horse battery staple"})
//	p, err := m.Authenticate(ctx, res.Token, session.ClientInfo{IP: ip, UserAgent: ua})
//
// # Stores
//
// Users, sessions and permissions live behind the interfaces user.Store,
// session.Store and permission.Store (re-exported here as UserStore,
// SessionStore, PermissionStore). Implementations: store/memory (the
// default), store/postgres, and store/redis for sessions. Every
// implementation passes the conformance suite in store/storetest; run it
// against your own store too.
//
// # Sessions and tokens
//
// A token is opaque: "av2_", the session ID, a 256-bit secret and a
// checksum. The store keeps only the SHA-256 of the secret. Sessions have
// an idle and an absolute timeout (30 minutes and 12 hours by default,
// NIST SP 800-63B AAL2), an optional per-user limit with eviction, and can
// be listed, rotated, moved to another tenant and revoked one by one or all
// at once.
//
// # Errors
//
// Errors are sentinels (all in errors.go, with the table that gives each
// its problem type, HTTP status and telemetry outcome), the typed errors
// *ValidationError, *ConfigError, *ThrottledError and
// *InsecureCookieError, or context errors, possibly wrapped: test them
// with errors.Is and errors.As. Store failures surface as ErrStoreUnavailable and never carry
// driver text. Login reports ErrInvalidCredentials for every credential
// failure, so responses do not reveal which accounts exist.
//
// # Time
//
// Every time rule reads the Clock given with WithClock, so tests can prove
// timeouts to the second.
package authv2
