// Package memory is the in-memory implementation of every authv2 store. It
// is a real store, not a mock: safe for concurrent use, atomic where the
// contracts ask for atomicity, and it passes store/storetest. It is the
// default when a Manager is given no store; its data lives as long as the
// process.
package memory

// Stores bundles one instance of each store, sharing nothing but the package.
type Stores struct {
	Users       *UserStore
	Sessions    *SessionStore
	Permissions *PermissionStore
	Limiter     *RateLimiter
	APIKeys     *APIKeyStore
	// Impersonations keeps impersonation records.
	Impersonations *ImpersonationStore
}

// New returns a fresh set of empty stores.
func New() *Stores {
	return &Stores{Users: NewUserStore(), Sessions: NewSessionStore(), Permissions: NewPermissionStore(), Limiter: NewRateLimiter(),
		APIKeys: NewAPIKeyStore(), Impersonations: NewImpersonationStore()}
}
