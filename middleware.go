package authv2

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
)

// HTTPConfig holds the settings of the net/http integration (Middleware,
// Require and the cookie helpers). Start from DefaultHTTPConfig.
type HTTPConfig struct {
	// CookieName names the session cookie. The default "__Host-authv2"
	// makes browsers themselves insist on Secure, Path=/ and no Domain.
	CookieName string
	// SameSite is http.SameSiteLaxMode (the default) or
	// http.SameSiteStrictMode; None is refused.
	SameSite http.SameSite
	// TrustedProxies are the peers whose X-Forwarded-For, Forwarded and
	// X-Forwarded-Proto headers are believed. Empty: the client IP is the
	// TCP peer and forwarding headers are ignored.
	TrustedProxies []netip.Prefix
	// TrustedOrigins ("https://app.example.com") may send cross-origin
	// unsafe requests that ride on the session cookie.
	TrustedOrigins []string
	// DevelopmentMode lets the session cookie travel over plain HTTP: it
	// drops the __Host- prefix and the Secure attribute. Never in production.
	DevelopmentMode bool
}

// DefaultHTTPConfig returns the safe defaults: a __Host- cookie with
// SameSite=Lax, no trusted proxies, no trusted origins, no development mode.
func DefaultHTTPConfig() HTTPConfig {
	return HTTPConfig{CookieName: "__Host-authv2", SameSite: http.SameSiteLaxMode}
}

// Validate returns a *ConfigError naming the first field out of range.
func (c HTTPConfig) Validate() error {
	if c.CookieName == "" || (&http.Cookie{Name: c.CookieName, Value: "x"}).Valid() != nil {
		return &ConfigError{Field: "HTTP.CookieName", Reason: "must be a valid cookie name"}
	}
	if c.SameSite != http.SameSiteLaxMode && c.SameSite != http.SameSiteStrictMode {
		return &ConfigError{Field: "HTTP.SameSite", Reason: "must be Lax or Strict"}
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return &ConfigError{Field: "HTTP.TrustedProxies", Reason: "contains an invalid prefix"}
		}
	}
	cop := http.NewCrossOriginProtection()
	for _, o := range c.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return &ConfigError{Field: "HTTP.TrustedOrigins", Reason: "not scheme://host[:port]: " + quoteShort(o)}
		}
	}
	return nil
}

// cookieName is the name actually used: development mode drops the
// prefixes that browsers refuse without Secure.
func (c HTTPConfig) cookieName() string {
	if !c.DevelopmentMode {
		return c.CookieName
	}
	n := strings.TrimPrefix(c.CookieName, "__Host-")
	return strings.TrimPrefix(n, "__Secure-")
}

// httpConfig is the Manager-wide HTTP configuration (Config.HTTP) that
// options to Middleware and Require start from.
func (m *Manager) httpConfig() HTTPConfig { return m.cfg.HTTP }

// MiddlewareOption configures Middleware and Require. Options are sealed:
// only this package implements them.
type MiddlewareOption interface{ applyMiddleware(*mwSettings) }

type mwOptionFunc func(*mwSettings)

func (f mwOptionFunc) applyMiddleware(s *mwSettings) { f(s) }

// mwSettings is one middleware's resolved configuration.
type mwSettings struct {
	HTTPConfig
	noCookie, noBearer, noCSRF, require bool
	onError                             ErrorHandler
	request                             func(*http.Request) permission.Request
	proxies                             proxyList
	cop                                 *http.CrossOriginProtection
}

// WithHTTPConfig replaces the HTTP configuration for this middleware.
func WithHTTPConfig(c HTTPConfig) MiddlewareOption {
	return mwOptionFunc(func(s *mwSettings) { s.HTTPConfig = c })
}

// WithCookieName sets the session cookie's name.
func WithCookieName(name string) MiddlewareOption {
	return mwOptionFunc(func(s *mwSettings) { s.CookieName = name })
}

// WithSameSite sets the session cookie's SameSite mode (Lax or Strict).
func WithSameSite(mode http.SameSite) MiddlewareOption {
	return mwOptionFunc(func(s *mwSettings) { s.SameSite = mode })
}

// WithTrustedProxies sets the peers whose forwarding headers are believed
// (see ParseTrustedProxies for a textual list).
func WithTrustedProxies(p ...netip.Prefix) MiddlewareOption {
	return mwOptionFunc(func(s *mwSettings) { s.TrustedProxies = append([]netip.Prefix(nil), p...) })
}

// WithTrustedOrigins lets these origins send cross-origin unsafe requests
// with the session cookie.
func WithTrustedOrigins(origins ...string) MiddlewareOption {
	return mwOptionFunc(func(s *mwSettings) { s.TrustedOrigins = append([]string(nil), origins...) })
}

// WithDevelopmentMode allows the session cookie over plain HTTP, without
// the __Host- prefix and Secure. Never use it in production.
func WithDevelopmentMode() MiddlewareOption {
	return mwOptionFunc(func(s *mwSettings) { s.DevelopmentMode = true })
}

// WithoutCookie stops the middleware reading the session cookie: only
// bearer tokens authenticate.
func WithoutCookie() MiddlewareOption { return mwOptionFunc(func(s *mwSettings) { s.noCookie = true }) }

// WithoutBearer stops the middleware reading Authorization headers: only
// the session cookie authenticates.
func WithoutBearer() MiddlewareOption { return mwOptionFunc(func(s *mwSettings) { s.noBearer = true }) }

// WithoutCSRFProtection turns the cross-origin check off. Only for
// applications that protect unsafe methods some other way.
func WithoutCSRFProtection() MiddlewareOption {
	return mwOptionFunc(func(s *mwSettings) { s.noCSRF = true })
}

// RequireAuthentication makes the middleware refuse requests without a
// valid token (401) instead of passing them on anonymous.
func RequireAuthentication() MiddlewareOption {
	return mwOptionFunc(func(s *mwSettings) { s.require = true })
}

// WithErrorHandler replaces DefaultErrorHandler.
func WithErrorHandler(h ErrorHandler) MiddlewareOption {
	return mwOptionFunc(func(s *mwSettings) { s.onError = h })
}

// WithRequest gives Require the facts about each request that conditions
// read as request.<name> (request.amount, request.channel): Require
// passes what fn returns to AuthorizeRequest, where an empty IP means the
// client's and a zero Time now. As with the resource, take the facts from
// what the handler will act on, not from headers a client could set to
// get a more favourable decision. Middleware ignores it.
func WithRequest(fn func(*http.Request) permission.Request) MiddlewareOption {
	return mwOptionFunc(func(s *mwSettings) { s.request = fn })
}

// settings resolves options over the Manager's HTTP configuration.
func (m *Manager) settings(opts []MiddlewareOption) (*mwSettings, error) {
	s := &mwSettings{HTTPConfig: m.httpConfig(), onError: DefaultErrorHandler}
	for _, o := range opts {
		o.applyMiddleware(s)
	}
	if s.SameSite == 0 {
		s.SameSite = http.SameSiteLaxMode
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.onError == nil {
		s.onError = DefaultErrorHandler
	}
	s.proxies = proxyList(s.TrustedProxies)
	s.cop = http.NewCrossOriginProtection()
	for _, o := range s.TrustedOrigins {
		_ = s.cop.AddTrustedOrigin(o) // checked by Validate
	}
	return s, nil
}

// mustSettings is settings for constructors that cannot return an error.
func (m *Manager) mustSettings(opts []MiddlewareOption) *mwSettings {
	s, err := m.settings(opts)
	if err != nil {
		// Like http.ServeMux.Handle with a bad pattern: a wiring mistake
		// found at start-up, before any request is served.
		panic(err)
	}
	return s
}

type ctxKey int

const (
	principalKey ctxKey = iota
	requestKey
	decisionKey
	clientKey
)

// requestInfo is what the middleware learned about a request.
type requestInfo struct {
	settings *mwSettings
	client   session.ClientInfo
	tls      bool
	token    string
}

// PrincipalFrom returns the caller that Middleware authenticated, if any.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey).(*Principal)
	return p, ok && p != nil
}

// MustPrincipal returns the authenticated caller. It panics when there is
// none: call it only behind RequireAuthentication or Require, where a
// missing principal is a wiring mistake, not a client's doing.
func MustPrincipal(ctx context.Context) *Principal {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		panic("authv2: MustPrincipal called on a request that Middleware did not authenticate")
	}
	return p
}

// WithPrincipal returns ctx carrying p, as Middleware does. Tests use it
// to call handlers without a session.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// ClientFrom returns the client information (IP after trusted proxies,
// user agent) that Middleware derived for the request, or that WithClient
// put in ctx: pass it to Login. The recovery flows (RequestPasswordReset,
// ResetPassword, RequestEmailVerification, VerifyEmail) read it from their
// context to throttle per client.
func ClientFrom(ctx context.Context) (session.ClientInfo, bool) {
	if c, ok := ctx.Value(clientKey).(session.ClientInfo); ok {
		return c, true
	}
	ri, ok := ctx.Value(requestKey).(*requestInfo)
	if !ok {
		return session.ClientInfo{}, false
	}
	return ri.client, true
}

// WithClient returns ctx carrying client, for flows called outside
// Middleware (a job, a gRPC handler, a test) that should be throttled per
// client as a request would be.
func WithClient(ctx context.Context, client session.ClientInfo) context.Context {
	return context.WithValue(ctx, clientKey, client)
}

// TokenFrom returns the token the request authenticated with, for
// handlers that call Logout, SwitchTenant or RotateSession. It is the
// session secret: never log or echo it.
func TokenFrom(ctx context.Context) (string, bool) {
	ri, ok := ctx.Value(requestKey).(*requestInfo)
	if !ok || ri.token == "" {
		return "", false
	}
	return ri.token, true
}

// Middleware authenticates each request and puts the *Principal in its
// context (PrincipalFrom). The token comes from the session cookie or an
// "Authorization: Bearer" header (a bearer header wins when both are
// sent), never from the URL. Requests without a usable token pass on
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
// Middleware panics if the options are invalid (an invalid cookie name,
// SameSite=None, a malformed trusted origin): a wiring mistake found at
// start-up. Check values from outside first with HTTPConfig.Validate.
func (m *Manager) Middleware(opts ...MiddlewareOption) func(http.Handler) http.Handler {
	s := m.mustSettings(opts)
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

// isDeadToken reports whether err says the token is no good (as opposed to
// the check being impossible, which must fail closed).
func isDeadToken(err error) bool {
	return errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrSessionExpired) ||
		errors.Is(err, ErrSessionRevoked) || errors.Is(err, ErrClientMismatch)
}

// token returns the request's token and whether it came from an
// Authorization header. The URL is never consulted.
func (s *mwSettings) token(r *http.Request) (tok string, bearer bool) {
	if !s.noBearer {
		if scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			if t := strings.TrimSpace(rest); t != "" {
				return t, true
			}
		}
	}
	if !s.noCookie {
		if c, err := r.Cookie(s.cookieName()); err == nil && c.Value != "" {
			return c.Value, false
		}
	}
	return "", false
}

// DecisionIDHeader is the response header in which Require returns the
// ID of its authorization decision, to correlate a refusal with the audit
// trail.
const DecisionIDHeader = "Authv2-Decision-Id"

// Require authorizes each request: Authorize(principal, action,
// resource(r)), or AuthorizeRequest with the request facts of WithRequest.
// Anonymous requests get 401, denials 403, and a failed
// check (a store outage) fails closed with 503; the decision ID is in the
// Authv2-Decision-Id response header either way. Put it behind
// Middleware. Only the WithErrorHandler and WithRequest options apply to
// it.
//
// resource builds what is acted on. Take the resource's tenant from where
// the resource really lives (the database row), or from the principal's
// session for tenant-wide actions; never from a client header: a resource
// of another tenant is then denied whatever the policy says. Conditions
// read the resource's Attributes (resource.amount). Require panics if
// resource is nil or the options are invalid: a wiring mistake.
func (m *Manager) Require(action string, resource func(*http.Request) permission.Resource, opts ...MiddlewareOption) func(http.Handler) http.Handler {
	if resource == nil {
		panic("authv2: Require needs a resource function")
	}
	s := m.mustSettings(opts)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := PrincipalFrom(r.Context())
			if !ok {
				s.onError(w, r, ErrUnauthenticated)
				return
			}
			var req permission.Request
			if s.request != nil {
				req = s.request(r)
			}
			d, err := m.AuthorizeRequest(r.Context(), p, action, resource(r), req)
			if id := d.ID.String(); id != "" {
				w.Header().Set(DecisionIDHeader, id)
			}
			switch {
			case err != nil:
				if errors.Is(err, ErrStoreUnavailable) {
					m.log.WarnContext(r.Context(), "authv2: authorizing a request failed", "error", err)
				}
				s.onError(w, r, err)
			case !d.Allowed:
				s.onError(w, r, ErrForbidden)
			default:
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), decisionKey, d)))
			}
		})
	}
}

// DecisionFrom returns the allow decision Require made for the request.
func DecisionFrom(ctx context.Context) (permission.Decision, bool) {
	d, ok := ctx.Value(decisionKey).(permission.Decision)
	return d, ok
}

// HTTPConfigFromEnv starts from DefaultHTTPConfig and applies the
// variables that are set: AUTHV2_COOKIE_NAME, AUTHV2_COOKIE_SAMESITE (lax
// or strict), AUTHV2_TRUSTED_PROXIES and AUTHV2_TRUSTED_ORIGINS (comma
// separated), AUTHV2_DEV_MODE (a boolean). A malformed value is a
// *ConfigError naming the variable.
func HTTPConfigFromEnv() (HTTPConfig, error) { return httpConfigFromLookup(os.LookupEnv) }

func httpConfigFromLookup(lookup func(string) (string, bool)) (HTTPConfig, error) {
	c := DefaultHTTPConfig()
	bad := func(name, reason string) (HTTPConfig, error) {
		return HTTPConfig{}, &ConfigError{Field: name, Reason: reason}
	}
	if v, ok := lookup("AUTHV2_COOKIE_NAME"); ok {
		c.CookieName = strings.TrimSpace(v)
	}
	if v, ok := lookup("AUTHV2_COOKIE_SAMESITE"); ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "lax":
			c.SameSite = http.SameSiteLaxMode
		case "strict":
			c.SameSite = http.SameSiteStrictMode
		default:
			return bad("AUTHV2_COOKIE_SAMESITE", "want lax or strict")
		}
	}
	if v, ok := lookup("AUTHV2_TRUSTED_PROXIES"); ok {
		p, err := ParseTrustedProxies(v)
		var ce *ConfigError
		if errors.As(err, &ce) {
			return bad("AUTHV2_TRUSTED_PROXIES", ce.Reason)
		}
		c.TrustedProxies = p
	}
	if v, ok := lookup("AUTHV2_TRUSTED_ORIGINS"); ok {
		for o := range strings.SplitSeq(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.TrustedOrigins = append(c.TrustedOrigins, o)
			}
		}
	}
	if v, ok := lookup("AUTHV2_DEV_MODE"); ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return bad("AUTHV2_DEV_MODE", "want true or false")
		}
		c.DevelopmentMode = b
	}
	if err := c.Validate(); err != nil {
		return HTTPConfig{}, err
	}
	return c, nil
}
