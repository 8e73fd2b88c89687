package authv2

// This file holds the net/http integration's configuration: HTTPConfig
// (Config.HTTP), the values, and the options of Middleware and Require,
// the per-mount switches (which credentials to read, whether to require
// one, how to answer a refusal).

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/authv2/authv2/permission"
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

// MiddlewareOption configures one Middleware or Require. Options are
// switches of that mount only; the values (cookie name, SameSite, trusted
// proxies and origins, development mode) are Config.HTTP's, so the
// cookie SetSessionCookie sends outside any Middleware is the one every
// Middleware reads. Options are sealed: only this package implements them.
type MiddlewareOption interface{ applyMiddleware(*mwSettings) }

type mwOptionFunc func(*mwSettings)

func (f mwOptionFunc) applyMiddleware(s *mwSettings) { f(s) }

// mwSettings is one middleware's resolved configuration.
type mwSettings struct {
	HTTPConfig
	noCookie, noBearer, noCSRF, require bool
	onError                             ErrorHandler
	request                             func(*http.Request) permission.Request
	assurance                           func(*http.Request) Assurance
	proxies                             proxyList
	cop                                 *http.CrossOriginProtection
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

// WithAssurance makes Require demand, of a request the policy allows,
// the assurance fn returns for it (AAL2 within ten minutes for a refund
// over a limit; the zero Assurance for none): a session short of it gets
// a *StepUpError through the error handler (403, problem type
// step-up-required, with what is missing), and the client steps up
// (Manager.StepUp) and retries. Config.MFA.StepUp demands an assurance
// per permission instead, wherever Authorize runs. Middleware ignores it.
func WithAssurance(fn func(*http.Request) Assurance) MiddlewareOption {
	return mwOptionFunc(func(s *mwSettings) { s.assurance = fn })
}

// settings resolves options over the Manager's HTTP configuration
// (Config.HTTP, validated by New, so resolving cannot fail).
func (m *Manager) settings(opts []MiddlewareOption) *mwSettings {
	s := &mwSettings{HTTPConfig: m.cfg.HTTP, onError: DefaultErrorHandler}
	for _, o := range opts {
		o.applyMiddleware(s)
	}
	if s.onError == nil {
		s.onError = DefaultErrorHandler
	}
	s.proxies = proxyList(s.TrustedProxies)
	s.cop = http.NewCrossOriginProtection()
	for _, o := range s.TrustedOrigins {
		_ = s.cop.AddTrustedOrigin(o) // checked by Config.Validate in New
	}
	return s
}
