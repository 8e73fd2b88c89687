package authv2

// This file holds Middleware: authentication of each request. Its
// configuration is in httpconfig.go, what it leaves in the context in
// context.go, and the checks behind it in require.go.

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/authv2/authv2/internal/token"
	"github.com/authv2/authv2/session"
)

// Middleware authenticates each request and puts the *Principal in its
// context (PrincipalFrom). The token comes from the session cookie or an
// "Authorization: Bearer" header (a bearer header wins when both are
// sent), never from the URL; an API key (av2k_...) only from the header,
// giving a principal of its owner's kind. Requests without a usable token pass on
// anonymous, or get 401 with RequireAuthentication; a stale cookie is
// treated as no token, an invalid bearer token always gets 401.
//
// Unsafe methods (POST, PUT, PATCH, DELETE...) that do not carry a bearer
// token, cookie-authenticated and anonymous alike (so login CSRF is
// covered), go through http.CrossOriginProtection first.
//
// A store outage fails closed: 503, never an anonymous pass. Refusals go
// through the ErrorHandler (DefaultErrorHandler writes problem+json).
// The response writer is not wrapped.
//
// The cookie name, SameSite mode, trusted proxies and origins and
// development mode are Config.HTTP's; opts only choose this mount's
// behaviour (RequireAuthentication, WithoutCookie, WithoutBearer,
// WithoutCSRFProtection, WithErrorHandler).
func (m *Manager) Middleware(opts ...MiddlewareOption) func(http.Handler) http.Handler {
	s := m.settings(opts)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ri := &requestInfo{
				settings: s,
				client:   session.ClientInfo{IP: clientIP(r, s.proxies), UserAgent: r.UserAgent()},
				tls:      viaTLS(r, s.proxies),
			}
			tok, bearer := s.token(r)
			if !bearer && !s.noCSRF {
				if err := s.cop.Check(r); err != nil {
					s.onError(w, r, ErrCrossOrigin)
					return
				}
			}
			ctx := context.WithValue(r.Context(), requestKey, ri)
			if tok == "" {
				if s.require {
					s.onError(w, r.WithContext(ctx), ErrUnauthenticated)
					return
				}
				next.ServeHTTP(w, r.WithContext(ctx))
				return
			}
			p, err := m.Authenticate(ctx, tok, ri.client)
			switch {
			case err == nil:
				ri.token = tok
				ctx = WithPrincipal(ctx, p)
			case deadToken(err) && !bearer && !s.require:
				// A stale cookie on a public page is no reason to refuse it.
			default:
				if !deadToken(err) && !errors.Is(err, context.Canceled) {
					m.log.WarnContext(ctx, "authv2: authenticating a request failed", "error", err)
				}
				s.onError(w, r.WithContext(ctx), err)
				return
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// token returns the request's token and whether it came from an
// Authorization header. The URL is never consulted. An API key is taken
// from the header only.
func (s *mwSettings) token(r *http.Request) (tok string, bearer bool) {
	if !s.noBearer {
		if scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			if t := strings.TrimSpace(rest); t != "" {
				return t, true
			}
		}
	}
	if !s.noCookie {
		// An API key is a bearer credential only: in a cookie, a browser
		// would send it cross-site, and no flow ever sets one there.
		if c, err := r.Cookie(s.cookieName()); err == nil && c.Value != "" && !token.IsKey(c.Value) {
			return c.Value, false
		}
	}
	return "", false
}
