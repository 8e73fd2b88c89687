package handlers

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/user"
)

// RegisterFunc creates the account for POST /register. in carries the
// client's email, password and display name only; TenantID and
// Attributes are empty, because registration is anonymous and must not
// let a client choose what it joins. A nil user with a nil error is the
// enumeration-safe answer (Config.EnumerationSafeRegistration): 202.
type RegisterFunc func(ctx context.Context, in authv2.RegisterInput) (*user.User, error)

// Option configures New. Options supply dependencies; the routes and
// their rules are fixed, so every application's kit behaves alike.
type Option func(*kit)

// WithLogger logs server-side failures (5xx answers) to l. Without it
// they are not logged.
func WithLogger(l *slog.Logger) Option {
	return func(k *kit) {
		if l != nil {
			k.log = l
		}
	}
}

// WithRegister replaces Manager.Register for POST /register, for an
// application that registers users its own way: into a tenant it creates
// for them, with roles it binds, after checks of its own.
func WithRegister(f RegisterFunc) Option {
	return func(k *kit) {
		if f != nil {
			k.register = f
		}
	}
}

// kit holds the dependencies every handler shares.
type kit struct {
	m        *authv2.Manager
	log      *slog.Logger
	register RegisterFunc
}

// New returns the kit's routes (see the package documentation) as one
// handler. Serve it behind m.Middleware, without RequireAuthentication:
// the kit decides itself which routes need a caller. New panics if m is
// nil, a wiring mistake like an invalid pattern given to http.ServeMux.
func New(m *authv2.Manager, opts ...Option) http.Handler {
	if m == nil {
		panic("handlers: New needs a Manager")
	}
	k := &kit{m: m, log: slog.New(slog.DiscardHandler), register: m.Register}
	for _, o := range opts {
		o(k)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /register", k.handleRegister)
	mux.HandleFunc("POST /login", k.handleLogin)
	mux.HandleFunc("POST /password-reset", k.handleResetRequest)
	mux.HandleFunc("POST /password-reset/complete", k.handleResetComplete)
	mux.HandleFunc("POST /email-verification", k.handleVerifyRequest)
	mux.HandleFunc("POST /email-verification/complete", k.handleVerifyComplete)

	mux.Handle("POST /logout", k.authed(k.handleLogout))
	mux.Handle("GET /me", k.authed(k.handleMe))
	mux.Handle("GET /sessions", k.signedIn(k.handleListSessions))
	mux.Handle("DELETE /sessions/{id}", k.signedIn(k.handleRevokeSession))
	mux.Handle("POST /reauthenticate", k.authed(k.handleReauthenticate))
	mux.Handle("POST /password", k.authed(k.handleChangePassword))
	mux.Handle("POST /email", k.authed(k.handleChangeEmail))
	mux.Handle("POST /switch-tenant", k.authed(k.handleSwitchTenant))

	mux.Handle("POST /api-keys", k.authed(k.handleCreateAPIKey))
	mux.Handle("GET /api-keys", k.authed(k.handleListAPIKeys))
	mux.Handle("DELETE /api-keys", k.signedIn(k.handleRevokeAPIKeys))
	mux.Handle("DELETE /api-keys/{id}", k.signedIn(k.handleRevokeAPIKey))
	mux.Handle("POST /service-accounts", k.admin(k.handleCreateServiceAccount))
	mux.Handle("GET /service-accounts", k.admin(k.handleListServiceAccounts))
	mux.Handle("DELETE /service-accounts/{id}", k.admin(k.handleDeleteServiceAccount))
	mux.Handle("POST /service-accounts/{id}/disable", k.admin(k.handleDisableServiceAccount))
	mux.Handle("POST /service-accounts/{id}/enable", k.admin(k.handleEnableServiceAccount))
	mux.Handle("POST /service-accounts/{id}/api-keys", k.admin(k.handleCreateServiceAccountKey))
	mux.Handle("GET /service-accounts/{id}/api-keys", k.admin(k.handleListServiceAccountKeys))
	mux.Handle("DELETE /service-accounts/{id}/api-keys/{key}", k.admin(k.handleRevokeServiceAccountKey))
	mux.HandleFunc("POST /invitations/accept", k.handleAcceptInvitation)
	mux.Handle("GET /invitations", k.tenantAdmin("read", k.handleListInvitations))
	mux.Handle("POST /invitations", k.tenantAdmin("invite", k.handleInvite))
	mux.Handle("POST /invitations/{id}/resend", k.tenantAdmin("invite", k.handleResendInvitation))
	mux.Handle("DELETE /invitations/{id}", k.tenantAdmin("invite", k.handleRevokeInvitation))
	mux.Handle("GET /members", k.tenantAdmin("read", k.handleListMembers))
	mux.Handle("PUT /members/{id}/roles", k.tenantAdmin("update", k.handleSetRoles))
	mux.Handle("DELETE /members/{id}", k.tenantAdmin("remove", k.handleRemoveMember))
	mux.Handle("POST /ownership", k.tenantAdmin("", k.handleTransferOwnership))
	// Domain capture hands the domain's role to everyone verified there:
	// managing it takes the right to invite.
	mux.Handle("GET /domains", k.tenantAdmin("read", k.handleListDomains))
	mux.Handle("POST /domains", k.tenantAdmin("invite", k.handleAddDomain))
	mux.Handle("POST /domains/{domain}/verify", k.tenantAdmin("invite", k.handleVerifyDomain))
	mux.Handle("DELETE /domains/{domain}", k.tenantAdmin("invite", k.handleRemoveDomain))
	mux.Handle("POST /impersonations", k.authed(k.handleStartImpersonation))
	mux.Handle("POST /impersonations/end", k.authed(k.handleEndImpersonation))
	mux.Handle("GET /impersonations", k.authed(k.handleListImpersonations))
	k.mfaRoutes(mux)
	return k.behindMiddleware(mux)
}

// behindMiddleware refuses requests that did not go through
// Manager.Middleware. Served without it the kit would have no client IP
// to throttle by, would read no session, and (worst, because it would
// otherwise seem to work) would log browsers in without CSRF protection.
func (k *kit) behindMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := authv2.ClientFrom(r.Context()); !ok {
			k.log.ErrorContext(r.Context(), "handlers: the kit is served without Manager.Middleware; refusing the request")
			k.fail(w, r, errNotBehindMiddleware)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authed lets only authenticated callers through, so the kit can share
// one middleware (without RequireAuthentication) with public routes.
func (k *kit) authed(h func(http.ResponseWriter, *http.Request, *authv2.Principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := authv2.PrincipalFrom(r.Context())
		if !ok {
			k.fail(w, r, authv2.ErrUnauthenticated)
			return
		}
		h(w, r, p)
	})
}

// signedIn is authed for the routes that manage the caller's own sessions
// and keys, which the Manager leaves to whoever calls it (an
// administrator's tooling may end anyone's): an API key is limited to its
// patterns, not its owner's account, so it may not see where the owner
// is signed in, sign them out or revoke their keys (403 session-required).
func (k *kit) signedIn(h func(http.ResponseWriter, *http.Request, *authv2.Principal)) http.Handler {
	return k.authed(func(w http.ResponseWriter, r *http.Request, p *authv2.Principal) {
		if p.APIKey != nil {
			k.fail(w, r, authv2.ErrSessionRequired)
			return
		}
		h(w, r, p)
	})
}
