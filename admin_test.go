package authv2_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/store/memory"
)

func TestAdminRolesAndBindings(t *testing.T) {
	e := newEnv(t)
	_, err := e.m.CreateTenant(t.Context(), "acme", "Acme")
	require.NoError(t, err)
	_, err = e.m.CreateTenant(t.Context(), "acme", "again")
	assert.ErrorIs(t, err, authv2.ErrConflict)
	u := e.register(t, "admin@example.com")

	require.NoError(t, e.m.PutRole(t.Context(), &permission.Role{TenantID: "acme", Name: "clerk",
		Grants: []permission.Grant{{Permission: "orders:read", Effect: permission.Allow}}}))
	require.NoError(t, e.m.PutRole(t.Context(), &permission.Role{TenantID: "acme", Name: "manager", Parents: []string{"clerk"},
		Grants: []permission.Grant{{Permission: "refunds:create", Effect: permission.Allow}}}))
	err = e.m.PutRole(t.Context(), &permission.Role{TenantID: "acme", Name: "clerk", Parents: []string{"manager"}})
	require.ErrorIs(t, err, permission.ErrCycle)
	var ce *permission.CycleError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, []string{"clerk", "manager", "clerk"}, ce.Path)

	err = e.m.PutRole(t.Context(), &permission.Role{TenantID: "acme", Name: "x", Parents: []string{"ghost"}})
	assert.ErrorIs(t, err, authv2.ErrValidation)
	err = e.m.PutRole(t.Context(), &permission.Role{TenantID: "acme", Name: "y", Grants: []permission.Grant{{Permission: "a:b", Effect: "maybe"}}})
	assert.ErrorIs(t, err, authv2.ErrValidation)

	err = e.m.Bind(t.Context(), permission.Binding{UserID: "ghost", TenantID: "acme", Role: "clerk"})
	assert.ErrorIs(t, err, authv2.ErrValidation)
	err = e.m.Bind(t.Context(), permission.Binding{UserID: u.ID, TenantID: "acme", Role: "ghost"})
	assert.ErrorIs(t, err, authv2.ErrValidation)
	require.NoError(t, e.m.Bind(t.Context(), permission.Binding{UserID: u.ID, TenantID: "acme", Role: "manager", Scope: "region:eu"}))
	bs, err := e.m.ListBindings(t.Context(), "acme", u.ID)
	require.NoError(t, err)
	require.Len(t, bs, 1)

	assert.ErrorIs(t, e.m.DeleteRole(t.Context(), "acme", "clerk"), authv2.ErrConflict, "manager inherits from clerk")
	require.NoError(t, e.m.Unbind(t.Context(), bs[0]))
	require.NoError(t, e.m.DeleteRole(t.Context(), "acme", "manager"))

	var sawBeforeAfter bool
	for _, ev := range e.sink.OfType(audit.TypeAdminChange) {
		if ev.Attributes["action"] == "role.delete" {
			sawBeforeAfter = ev.Attributes["before"] != "" && ev.Attributes["after"] == ""
			assert.Contains(t, ev.Attributes["before"], "refunds:create")
		}
	}
	assert.True(t, sawBeforeAfter, "admin changes carry before/after")
}

func TestRemoveMemberEndsSessionsInThatTenant(t *testing.T) {
	e := newEnv(t)
	_, err := e.m.CreateTenant(t.Context(), "acme", "Acme")
	require.NoError(t, err)
	_, err = e.m.Register(t.Context(), authv2.RegisterInput{Email: "m@example.com", Password: goodPassword, TenantID: "acme"})
	require.NoError(t, err)
	res := e.login(t, "m@example.com")
	require.Equal(t, "acme", res.Session.TenantID)
	require.NoError(t, e.m.RemoveMember(t.Context(), "acme", res.User.ID))
	_, err = e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrSessionRevoked)
	assert.ErrorIs(t, e.m.RemoveMember(t.Context(), "acme", res.User.ID), authv2.ErrNotFound)
}

func TestDeleteTenantEndsItsSessions(t *testing.T) {
	e := newEnv(t)
	_, err := e.m.CreateTenant(t.Context(), "gone", "Gone")
	require.NoError(t, err)
	u := e.register(t, "dt@example.com")
	require.NoError(t, e.m.PutRole(t.Context(), &permission.Role{TenantID: "gone", Name: "r"}))
	require.NoError(t, e.m.Bind(t.Context(), permission.Binding{UserID: u.ID, TenantID: "gone", Role: "r"}))
	res, err := e.m.Login(t.Context(), authv2.LoginInput{Email: "dt@example.com", Password: goodPassword, TenantID: "gone"})
	require.NoError(t, err, "a binding is enough to enter a tenant")
	elsewhere := e.login(t, "dt@example.com")
	// A member holding no binding has a session in the tenant too.
	member := e.register(t, "member@example.com")
	require.NoError(t, e.m.AddMember(t.Context(), "gone", member.ID))
	memberRes, err := e.m.Login(t.Context(), authv2.LoginInput{Email: "member@example.com", Password: goodPassword, TenantID: "gone"})
	require.NoError(t, err)

	require.NoError(t, e.m.DeleteTenant(t.Context(), "gone"))
	_, err = e.m.Authenticate(t.Context(), res.Token, session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrSessionRevoked)
	_, err = e.m.Authenticate(t.Context(), memberRes.Token, session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrSessionRevoked, "a member without a binding")
	_, err = e.m.Authenticate(t.Context(), elsewhere.Token, session.ClientInfo{})
	assert.NoError(t, err, "sessions outside the tenant are untouched")
	ts, err := e.m.ListTenants(t.Context())
	require.NoError(t, err)
	assert.Empty(t, ts)
	assert.ErrorIs(t, e.m.DeleteTenant(t.Context(), "gone"), authv2.ErrNotFound)
	rs, err := e.m.ListRoles(t.Context(), "gone")
	require.NoError(t, err)
	assert.Empty(t, rs)
}

// failOnceRevoke fails the first RevokeUser of one user.
type failOnceRevoke struct {
	session.Store
	user   string
	failed atomic.Bool
}

func (f *failOnceRevoke) RevokeUser(ctx context.Context, userID string, rf session.RevokeFilter, at time.Time, reason string) ([]string, error) {
	if userID == f.user && f.failed.CompareAndSwap(false, true) {
		return nil, store.Unavailable("session.revoke_user", errors.New("connection reset"))
	}
	return f.Store.RevokeUser(ctx, userID, rf, at, reason)
}

// A session store failing for one member while a tenant is deleted does
// not spare the other members' sessions nor the audit event, and the
// caller learns of the failure.
func TestDeleteTenantRevokesEveryoneDespiteAFailure(t *testing.T) {
	stores := memory.New()
	flaky := &failOnceRevoke{Store: stores.Sessions}
	e := newEnv(t, authv2.WithSessionStore(flaky))
	_, err := e.m.CreateTenant(t.Context(), "gone", "Gone")
	require.NoError(t, err)
	tokens := map[string]string{} // user ID -> token in the tenant
	for _, email := range []string{"a@example.com", "b@example.com"} {
		u := e.register(t, email)
		require.NoError(t, e.m.AddMember(t.Context(), "gone", u.ID))
		res, err := e.m.Login(t.Context(), authv2.LoginInput{Email: email, Password: goodPassword, TenantID: "gone"})
		require.NoError(t, err)
		tokens[u.ID] = res.Token
	}
	// Users are revoked in ID order: fail the first, so the second is
	// only reached if a failure does not stop the loop.
	ids := slices.Sorted(maps.Keys(tokens))
	flaky.user = ids[0]

	err = e.m.DeleteTenant(t.Context(), "gone")
	require.ErrorIs(t, err, authv2.ErrStoreUnavailable)
	_, err = e.m.Authenticate(t.Context(), tokens[ids[1]], session.ClientInfo{})
	assert.ErrorIs(t, err, authv2.ErrSessionRevoked, "the other member's session ends")
	found := false
	for _, ev := range e.sink.OfType(audit.TypeAdminChange) {
		found = found || ev.Attributes[audit.AttrAction] == "tenant.delete"
	}
	assert.True(t, found, "the deletion is audited")
}

// TestExpiredBindingDoesNotOpenATenant: a user whose only tie to a tenant
// is a binding that has expired can neither log in to it nor switch to it.
func TestExpiredBindingDoesNotOpenATenant(t *testing.T) {
	e := newEnv(t)
	u := e.register(t, "temp@example.com")
	_, err := e.m.CreateTenant(t.Context(), "acme", "Acme")
	require.NoError(t, err)
	require.NoError(t, e.m.PutRole(t.Context(), &permission.Role{TenantID: "acme", Name: "viewer",
		Grants: []permission.Grant{{Permission: "orders:read", Effect: permission.Allow}}}))
	require.NoError(t, e.m.Bind(t.Context(), permission.Binding{UserID: u.ID, TenantID: "acme", Role: "viewer", ExpiresAt: e.clock.Now().Add(time.Hour)}))
	res, err := e.m.Login(t.Context(), authv2.LoginInput{Email: "temp@example.com", Password: goodPassword, TenantID: "acme"})
	require.NoError(t, err, "a live binding opens the tenant")

	e.clock.Advance(2 * time.Hour)
	outside := e.login(t, "temp@example.com")
	_, err = e.m.Login(t.Context(), authv2.LoginInput{Email: "temp@example.com", Password: goodPassword, TenantID: "acme"})
	require.ErrorIs(t, err, authv2.ErrNotMember)
	_, err = e.m.SwitchTenant(t.Context(), outside.Token, "acme", "")
	require.ErrorIs(t, err, authv2.ErrNotMember)
	require.NotNil(t, res)
}

// TestCreateTenantValidatesItsInput: the tenant's ID and name are checked
// by the same validator rules as every other input, each field named.
func TestCreateTenantValidatesItsInput(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ id, name, field, reason string }{
		{"", "Acme", "ID", "is required"},
		{strings.Repeat("x", 129), "Acme", "ID", "is too long"},
		{"acme", "bad\x00name", "Name", "must be valid UTF-8 without NUL bytes"},
	} {
		_, err := e.m.CreateTenant(t.Context(), c.id, c.name)
		var ve *authv2.ValidationError
		require.ErrorAs(t, err, &ve, "%q %q", c.id, c.name)
		assert.Equal(t, c.reason, ve.Field(c.field), "%q %q", c.id, c.name)
	}
	_, err := e.m.CreateTenant(t.Context(), "acme", "Acme")
	require.NoError(t, err)
}
