package authv2

// This file holds what Middleware and Require put in a request's context
// and the accessors handlers read it with.

import (
	"context"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
)

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

// DecisionFrom returns the allow decision Require made for the request.
func DecisionFrom(ctx context.Context) (permission.Decision, bool) {
	d, ok := ctx.Value(decisionKey).(permission.Decision)
	return d, ok
}
