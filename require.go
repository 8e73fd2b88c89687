package authv2

// This file holds the handler-level checks that sit behind Middleware:
// Require (authorization) and RequireAuthenticated. They read the
// principal Middleware put in the context, never the session again.

import (
	"context"
	"errors"
	"net/http"

	"github.com/authv2/authv2/permission"
)

// DecisionIDHeader is the response header in which Require returns the
// ID of its authorization decision, to correlate a refusal with the audit
// trail. A decision that repeats one made earlier in
// Config.DecisionRepeatWindow is counted in its kind's event (same user,
// session, client, permission, resource, outcome), which does not carry
// its ID: look that one up by kind and time.
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
// resource is nil: a wiring mistake.
func (m *Manager) Require(action string, resource func(*http.Request) permission.Resource, opts ...MiddlewareOption) func(http.Handler) http.Handler {
	if resource == nil {
		panic("authv2: Require needs a resource function")
	}
	s := m.settings(opts)
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
			if err == nil && d.Allowed && s.assurance != nil {
				err = m.CheckAssurance(p, s.assurance(r))
				d.Allowed = err == nil
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

// RequireAuthenticated answers 401 to a request that the Middleware in
// front of it did not authenticate, and passes the others on. Use it on
// the routes of a router whose Middleware lets anonymous requests through
// (r.With(authv2.RequireAuthenticated) in chi): it reads the principal
// already in the context, where nesting a second Middleware with
// RequireAuthentication would read the session store again. Refusals go
// through that Middleware's ErrorHandler (DefaultErrorHandler without one).
func RequireAuthenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := PrincipalFrom(r.Context()); ok {
			next.ServeHTTP(w, r)
			return
		}
		onError := DefaultErrorHandler
		if ri, ok := r.Context().Value(requestKey).(*requestInfo); ok {
			onError = ri.settings.onError
		}
		onError(w, r, ErrUnauthenticated)
	})
}
