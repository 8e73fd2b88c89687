package telemetry

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/user"
)

// op is one store operation with its attribute sets built once, so that
// recording a sample allocates nothing.
type op struct {
	name     string
	span     string
	attr     attribute.KeyValue
	outcomes [4][]metric.RecordOption // ok, not_found, refused, error: passed as is, never re-sliced
}

func newOp(name string) *op {
	o := &op{name: name, span: "authv2.store " + name, attr: attribute.String("authv2.store.op", name)}
	for i, outcome := range []string{"ok", "not_found", "refused", "error"} {
		o.outcomes[i] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(o.attr, attribute.String("authv2.outcome", outcome)))}
	}
	return o
}

// begin starts timing op; with telemetry off it costs nothing.
func (t *T) begin(ctx context.Context, o *op) (context.Context, trace.Span, time.Time) {
	if !t.tracing && !t.metrics {
		return ctx, noopSpan, time.Time{}
	}
	span := noopSpan
	if trace.SpanFromContext(ctx).IsRecording() {
		// Store spans only as children: a store call outside a traced
		// operation is not worth a root span of its own.
		ctx, span = t.Start(ctx, o.span)
	}
	return ctx, span, time.Now()
}

// finish records op's duration tagged with its outcome (a missing record
// is an outcome, not an error) and ends the span.
func (t *T) finish(ctx context.Context, o *op, span trace.Span, start time.Time, err error) {
	if !t.tracing && !t.metrics {
		return
	}
	i := 0
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound):
		i = 1
	case IsFailure(err):
		i = 3
	default:
		i = 2
	}
	t.StoreDuration.Record(ctx, time.Since(start).Seconds(), o.outcomes[i]...)
	t.End(span, err)
}

var (
	opUserCreate, opUserGet, opUserGetByEmail, opUserUpdate, opUserDelete = newOp("user.create"), newOp("user.get"),
		newOp("user.get_by_email"), newOp("user.update"), newOp("user.delete")
	opSessCreate, opSessGet, opSessTouch, opSessUpdate, opSessRevoke = newOp("session.create"), newOp("session.get"),
		newOp("session.touch"), newOp("session.update"), newOp("session.revoke")
	opSessRevokeUser, opSessRotate, opSessList, opSessDeleteExpired, opSessStats = newOp("session.revoke_user"),
		newOp("session.rotate"), newOp("session.list"), newOp("session.delete_expired"), newOp("session.stats")
	opTenantCreate, opTenantGet, opTenantList, opTenantDelete = newOp("permission.create_tenant"), newOp("permission.get_tenant"),
		newOp("permission.list_tenants"), newOp("permission.delete_tenant")
	opMemberAdd, opMemberRemove, opMemberList = newOp("permission.add_member"), newOp("permission.remove_member"),
		newOp("permission.list_memberships")
	opMembersList                                  = newOp("permission.list_members")
	opRemoveUser                                   = newOp("permission.remove_user")
	opRolePut, opRoleGet, opRoleList, opRoleDelete = newOp("permission.put_role"), newOp("permission.get_role"),
		newOp("permission.list_roles"), newOp("permission.delete_role")
	opBindingPut, opBindingDelete, opBindingList = newOp("permission.put_binding"), newOp("permission.delete_binding"),
		newOp("permission.list_bindings")
	opLoadPolicy, opVersion                = newOp("permission.load_policy"), newOp("permission.version")
	opMemberPage, opMemberUpdate           = newOp("permission.list_member_page"), newOp("permission.update_member")
	opInviteCreate, opInviteGet            = newOp("permission.create_invitation"), newOp("permission.get_invitation")
	opInviteList, opInviteUpdate, opAccept = newOp("permission.list_invitations"), newOp("permission.update_invitation"),
		newOp("permission.accept_invitation")
)

// call times one operation returning a value.
func call[R any](t *T, ctx context.Context, o *op, fn func(context.Context) (R, error)) (R, error) {
	ctx, span, start := t.begin(ctx, o)
	r, err := fn(ctx)
	t.finish(ctx, o, span, start, err)
	return r, err
}

// call0 times one operation returning only an error.
func call0(t *T, ctx context.Context, o *op, fn func(context.Context) error) error {
	ctx, span, start := t.begin(ctx, o)
	err := fn(ctx)
	t.finish(ctx, o, span, start, err)
	return err
}

// Users instruments a user.Store.
type Users struct {
	S user.Store
	T *T
}

func (w Users) Create(ctx context.Context, u *user.User) error {
	return call0(w.T, ctx, opUserCreate, func(ctx context.Context) error { return w.S.Create(ctx, u) })
}

func (w Users) Get(ctx context.Context, id string) (*user.User, error) {
	return call(w.T, ctx, opUserGet, func(ctx context.Context) (*user.User, error) { return w.S.Get(ctx, id) })
}

func (w Users) GetByEmail(ctx context.Context, email string) (*user.User, error) {
	return call(w.T, ctx, opUserGetByEmail, func(ctx context.Context) (*user.User, error) { return w.S.GetByEmail(ctx, email) })
}

func (w Users) Update(ctx context.Context, id string, fn func(*user.User) error) (*user.User, error) {
	return call(w.T, ctx, opUserUpdate, func(ctx context.Context) (*user.User, error) { return w.S.Update(ctx, id, fn) })
}

func (w Users) Delete(ctx context.Context, id string) error {
	return call0(w.T, ctx, opUserDelete, func(ctx context.Context) error { return w.S.Delete(ctx, id) })
}

// Sessions instruments a session.Store.
type Sessions struct {
	S session.Store
	T *T
}

func (w Sessions) Create(ctx context.Context, s *session.Session, l session.Limit, now time.Time) ([]string, error) {
	return call(w.T, ctx, opSessCreate, func(ctx context.Context) ([]string, error) { return w.S.Create(ctx, s, l, now) })
}

func (w Sessions) Get(ctx context.Context, id string) (*session.Session, error) {
	// Written out, not through call: this is Authenticate's one store read,
	// and a closure here would cost an allocation per request.
	ctx, span, start := w.T.begin(ctx, opSessGet)
	s, err := w.S.Get(ctx, id)
	w.T.finish(ctx, opSessGet, span, start, err)
	return s, err
}

func (w Sessions) Touch(ctx context.Context, id string, seen, idle time.Time) error {
	return call0(w.T, ctx, opSessTouch, func(ctx context.Context) error { return w.S.Touch(ctx, id, seen, idle) })
}

func (w Sessions) Update(ctx context.Context, s *session.Session) error {
	return call0(w.T, ctx, opSessUpdate, func(ctx context.Context) error { return w.S.Update(ctx, s) })
}

func (w Sessions) Revoke(ctx context.Context, id string, at time.Time, reason string) error {
	return call0(w.T, ctx, opSessRevoke, func(ctx context.Context) error { return w.S.Revoke(ctx, id, at, reason) })
}

func (w Sessions) RevokeUser(ctx context.Context, userID string, f session.RevokeFilter, at time.Time, reason string) ([]string, error) {
	return call(w.T, ctx, opSessRevokeUser, func(ctx context.Context) ([]string, error) { return w.S.RevokeUser(ctx, userID, f, at, reason) })
}

func (w Sessions) Rotate(ctx context.Context, oldID string, next *session.Session, now time.Time) error {
	return call0(w.T, ctx, opSessRotate, func(ctx context.Context) error { return w.S.Rotate(ctx, oldID, next, now) })
}

func (w Sessions) ListByUser(ctx context.Context, userID string, now time.Time) ([]*session.Session, error) {
	return call(w.T, ctx, opSessList, func(ctx context.Context) ([]*session.Session, error) { return w.S.ListByUser(ctx, userID, now) })
}

func (w Sessions) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	return call(w.T, ctx, opSessDeleteExpired, func(ctx context.Context) (int, error) { return w.S.DeleteExpired(ctx, before) })
}

func (w Sessions) Stats(ctx context.Context, f session.StatsFilter, now time.Time) (session.Stats, error) {
	return call(w.T, ctx, opSessStats, func(ctx context.Context) (session.Stats, error) { return w.S.Stats(ctx, f, now) })
}

// Permissions instruments a permission.Store.
type Permissions struct {
	S permission.Store
	T *T
}

func (w Permissions) CreateTenant(ctx context.Context, t *permission.Tenant) error {
	return call0(w.T, ctx, opTenantCreate, func(ctx context.Context) error { return w.S.CreateTenant(ctx, t) })
}

func (w Permissions) GetTenant(ctx context.Context, id string) (*permission.Tenant, error) {
	return call(w.T, ctx, opTenantGet, func(ctx context.Context) (*permission.Tenant, error) { return w.S.GetTenant(ctx, id) })
}

func (w Permissions) ListTenants(ctx context.Context) ([]*permission.Tenant, error) {
	return call(w.T, ctx, opTenantList, w.S.ListTenants)
}

func (w Permissions) DeleteTenant(ctx context.Context, id string) error {
	return call0(w.T, ctx, opTenantDelete, func(ctx context.Context) error { return w.S.DeleteTenant(ctx, id) })
}

func (w Permissions) AddMember(ctx context.Context, m permission.Membership) error {
	return call0(w.T, ctx, opMemberAdd, func(ctx context.Context) error { return w.S.AddMember(ctx, m) })
}

func (w Permissions) RemoveMember(ctx context.Context, tenantID, userID string) error {
	return call0(w.T, ctx, opMemberRemove, func(ctx context.Context) error { return w.S.RemoveMember(ctx, tenantID, userID) })
}

func (w Permissions) RemoveUser(ctx context.Context, userID string) ([]string, error) {
	return call(w.T, ctx, opRemoveUser, func(ctx context.Context) ([]string, error) { return w.S.RemoveUser(ctx, userID) })
}

func (w Permissions) ListMemberships(ctx context.Context, userID string) ([]permission.Membership, error) {
	return call(w.T, ctx, opMemberList, func(ctx context.Context) ([]permission.Membership, error) {
		return w.S.ListMemberships(ctx, userID)
	})
}

func (w Permissions) ListMembers(ctx context.Context, tenantID string) ([]permission.Membership, error) {
	return call(w.T, ctx, opMembersList, func(ctx context.Context) ([]permission.Membership, error) {
		return w.S.ListMembers(ctx, tenantID)
	})
}

func (w Permissions) PutRole(ctx context.Context, r *permission.Role) error {
	return call0(w.T, ctx, opRolePut, func(ctx context.Context) error { return w.S.PutRole(ctx, r) })
}

func (w Permissions) GetRole(ctx context.Context, tenantID, name string) (*permission.Role, error) {
	return call(w.T, ctx, opRoleGet, func(ctx context.Context) (*permission.Role, error) { return w.S.GetRole(ctx, tenantID, name) })
}

func (w Permissions) ListRoles(ctx context.Context, tenantID string) ([]*permission.Role, error) {
	return call(w.T, ctx, opRoleList, func(ctx context.Context) ([]*permission.Role, error) { return w.S.ListRoles(ctx, tenantID) })
}

func (w Permissions) DeleteRole(ctx context.Context, tenantID, name string) error {
	return call0(w.T, ctx, opRoleDelete, func(ctx context.Context) error { return w.S.DeleteRole(ctx, tenantID, name) })
}

func (w Permissions) PutBinding(ctx context.Context, b permission.Binding) error {
	return call0(w.T, ctx, opBindingPut, func(ctx context.Context) error { return w.S.PutBinding(ctx, b) })
}

func (w Permissions) DeleteBinding(ctx context.Context, b permission.Binding) error {
	return call0(w.T, ctx, opBindingDelete, func(ctx context.Context) error { return w.S.DeleteBinding(ctx, b) })
}

func (w Permissions) ListBindings(ctx context.Context, tenantID, userID string) ([]permission.Binding, error) {
	return call(w.T, ctx, opBindingList, func(ctx context.Context) ([]permission.Binding, error) {
		return w.S.ListBindings(ctx, tenantID, userID)
	})
}

func (w Permissions) LoadPolicy(ctx context.Context, tenantID, userID string) (*permission.Policy, error) {
	return call(w.T, ctx, opLoadPolicy, func(ctx context.Context) (*permission.Policy, error) {
		return w.S.LoadPolicy(ctx, tenantID, userID)
	})
}

func (w Permissions) Version(ctx context.Context, tenantID string) (int64, error) {
	return call(w.T, ctx, opVersion, func(ctx context.Context) (int64, error) { return w.S.Version(ctx, tenantID) })
}

func (w Permissions) ListMemberPage(ctx context.Context, tenantID, after string, limit int) ([]permission.Member, error) {
	return call(w.T, ctx, opMemberPage, func(ctx context.Context) ([]permission.Member, error) {
		return w.S.ListMemberPage(ctx, tenantID, after, limit)
	})
}

func (w Permissions) UpdateMember(ctx context.Context, tenantID, userID string, fn func(*permission.Member) error) (before, after permission.Member, err error) {
	both, err := call(w.T, ctx, opMemberUpdate, func(ctx context.Context) ([2]permission.Member, error) {
		b, a, err := w.S.UpdateMember(ctx, tenantID, userID, fn)
		return [2]permission.Member{b, a}, err
	})
	return both[0], both[1], err
}

func (w Permissions) CreateInvitation(ctx context.Context, inv *permission.Invitation) error {
	return call0(w.T, ctx, opInviteCreate, func(ctx context.Context) error { return w.S.CreateInvitation(ctx, inv) })
}

func (w Permissions) GetInvitation(ctx context.Context, id string) (*permission.Invitation, error) {
	return call(w.T, ctx, opInviteGet, func(ctx context.Context) (*permission.Invitation, error) { return w.S.GetInvitation(ctx, id) })
}

func (w Permissions) ListInvitations(ctx context.Context, tenantID, after string, limit int) ([]*permission.Invitation, error) {
	return call(w.T, ctx, opInviteList, func(ctx context.Context) ([]*permission.Invitation, error) {
		return w.S.ListInvitations(ctx, tenantID, after, limit)
	})
}

func (w Permissions) UpdateInvitation(ctx context.Context, id string, fn func(*permission.Invitation) error) (*permission.Invitation, error) {
	return call(w.T, ctx, opInviteUpdate, func(ctx context.Context) (*permission.Invitation, error) { return w.S.UpdateInvitation(ctx, id, fn) })
}

func (w Permissions) AcceptInvitation(ctx context.Context, id, userID string, now time.Time, check func(*permission.Invitation) error) (*permission.Invitation, error) {
	return call(w.T, ctx, opAccept, func(ctx context.Context) (*permission.Invitation, error) {
		return w.S.AcceptInvitation(ctx, id, userID, now, check)
	})
}

var opLimitHit, opLimitCount, opLimitReserve, opLimitRelease, opLimitReset, opLimitDeleteExpired = newOp("limiter.hit"),
	newOp("limiter.count"), newOp("limiter.reserve"), newOp("limiter.release"), newOp("limiter.reset"), newOp("limiter.delete_expired")

// Limiter instruments a user.RateLimiter: the login throttle's calls are
// store round trips on every login, timed like the others.
type Limiter struct {
	S user.RateLimiter
	T *T
}

func (w Limiter) Hit(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (int, error) {
	return call(w.T, ctx, opLimitHit, func(ctx context.Context) (int, error) { return w.S.Hit(ctx, key, limit, window, now) })
}

func (w Limiter) Count(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (int, time.Time, error) {
	var oldest time.Time
	n, err := call(w.T, ctx, opLimitCount, func(ctx context.Context) (n int, err error) {
		n, oldest, err = w.S.Count(ctx, key, limit, window, now)
		return n, err
	})
	return n, oldest, err
}

func (w Limiter) Reserve(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (bool, time.Time, error) {
	var retryAt time.Time
	ok, err := call(w.T, ctx, opLimitReserve, func(ctx context.Context) (ok bool, err error) {
		ok, retryAt, err = w.S.Reserve(ctx, key, limit, window, now)
		return ok, err
	})
	return ok, retryAt, err
}

func (w Limiter) Release(ctx context.Context, key string, at time.Time) error {
	return call0(w.T, ctx, opLimitRelease, func(ctx context.Context) error { return w.S.Release(ctx, key, at) })
}

func (w Limiter) Reset(ctx context.Context, key string) error {
	return call0(w.T, ctx, opLimitReset, func(ctx context.Context) error { return w.S.Reset(ctx, key) })
}

// DeleteExpired forwards to the limiter's user.ExpiredDeleter; one that
// has none (TTLs, bounded logs) has nothing to purge.
func (w Limiter) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	d, ok := w.S.(user.ExpiredDeleter)
	if !ok {
		return 0, nil
	}
	return call(w.T, ctx, opLimitDeleteExpired, func(ctx context.Context) (int, error) { return d.DeleteExpired(ctx, before) })
}
