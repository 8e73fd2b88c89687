package authv2

import (
	"context"
	"encoding/json"

	"github.com/authv2/authv2/audit"
)

// actorKey carries the principal WithActor names.
type actorKey struct{}

// WithActor returns ctx naming p as who makes the administrative changes
// called with it, for work that runs without Middleware (jobs, command-line
// tools). It takes precedence over the principal Middleware put in the
// context. The Manager records the actor in the audit events of those
// changes; it does not authorize them: that is the application's Require.
func WithActor(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, actorKey{}, p)
}

// actorFrom returns who is making a change: WithActor's principal, else
// the one Middleware authenticated, else nil (unknown).
func actorFrom(ctx context.Context) *Principal {
	if p, ok := ctx.Value(actorKey{}).(*Principal); ok && p != nil {
		return p
	}
	p, _ := PrincipalFrom(ctx)
	return p
}

// withActor sets the actor of an event from ctx. The actor's tenant goes
// in an attribute: TenantID is the tenant the change is about, which a
// platform administrator's session need not be in.
func withActor(ctx context.Context, e audit.Event) audit.Event {
	a := actorFrom(ctx)
	if a == nil {
		return e
	}
	e.ActorUserID, e.ActorSessionID = a.UserID, a.SessionID
	if a.TenantID != "" {
		e.Attributes = withAttr(e.Attributes, audit.AttrActorTenant, a.TenantID)
	}
	if a.APIKey != nil {
		e.Attributes = withAttr(e.Attributes, audit.AttrAPIKey, a.APIKey.ID)
	}
	return e
}

// withAttr sets k to v in attrs, making the map when there is none.
func withAttr(attrs map[string]string, k, v string) map[string]string {
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs[k] = v
	return attrs
}

// impersonation is who acts in ctx while impersonating.
type impersonation struct{ actor, session, by string }

// impersonatedBy returns the actor in ctx (WithActor, else the request's
// principal) when it is an impersonation session, else nil: the events it
// makes name the real actor too (Event.ImpersonatorUserID).
func impersonatedBy(ctx context.Context) *impersonation {
	a := actorFrom(ctx)
	if !a.IsImpersonation() {
		return nil
	}
	return &impersonation{actor: a.UserID, session: a.SessionID, by: a.Impersonator.UserID}
}

// changeAttrs returns attributes holding the before and after states of a
// change as JSON, so the audit trail shows what the change did. A nil
// state (nothing before a creation, nothing after a deletion) is left out.
func changeAttrs(before, after any) map[string]string {
	attrs := map[string]string{}
	for k, v := range map[string]any{"before": before, "after": after} {
		if v == nil {
			continue
		}
		if b, err := json.Marshal(v); err == nil && string(b) != "null" {
			attrs[k] = string(b)
		}
	}
	return attrs
}
