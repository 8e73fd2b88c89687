package authv2_test

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/user"
)

// impEnv is a tenant "acme" (with MFA configured) where support staff
// (role support: docs and users:impersonate) may act as a viewer (role
// viewer: docs:read) but not as the owner (role owner: everything); a
// second tenant "globex" has a member of its own.
type impEnv struct {
	*mfaEnv
	support, viewer, owner, outsider *user.User
	supportLogin                     *authv2.LoginResult
	supportP                         *authv2.Principal
}

func newImpEnv(t testing.TB, s backendStores, opts ...authv2.Option) *impEnv {
	t.Helper()
	return newImpEnvWith(t, s, authv2test.Config(), opts...)
}

func newImpEnvWith(t testing.TB, s backendStores, cfg authv2.Config, opts ...authv2.Option) *impEnv {
	t.Helper()
	e := &impEnv{mfaEnv: newMFAEnv(t, s, cfg, opts...)}
	ctx := t.Context()
	for _, id := range []string{"acme", "globex"} {
		_, err := e.m.CreateTenant(ctx, id, id)
		require.NoError(t, err)
	}
	for _, r := range []*permission.Role{
		{TenantID: "acme", Name: permission.OwnerRole, Grants: []permission.Grant{{Permission: "*", Effect: permission.Allow}}},
		{TenantID: "acme", Name: "support", Grants: []permission.Grant{
			{Permission: "docs:*", Effect: permission.Allow}, {Permission: authv2.PermissionImpersonate, Effect: permission.Allow}}},
		{TenantID: "acme", Name: "viewer", Grants: []permission.Grant{{Permission: "docs:read", Effect: permission.Allow}}},
		{TenantID: "globex", Name: "viewer", Grants: []permission.Grant{{Permission: "docs:read", Effect: permission.Allow}}},
	} {
		require.NoError(t, e.m.PutRole(ctx, r))
	}
	e.owner = e.join(t, "owner@example.com", "acme", permission.OwnerRole)
	e.support = e.join(t, "support@example.com", "acme", "support")
	e.viewer = e.join(t, "viewer@example.com", "acme", "viewer")
	e.outsider = e.join(t, "outsider@example.com", "globex", "viewer")
	e.supportLogin = e.loginIn(t, "support@example.com", "acme")
	e.supportP = e.principal(t, e.supportLogin.Token)
	return e
}

// join registers email as a member of tenant with role.
func (e *impEnv) join(t testing.TB, email, tenant, role string) *user.User {
	t.Helper()
	u, err := e.m.Register(t.Context(), authv2.RegisterInput{Email: email, Password: goodPassword, DisplayName: "Test"})
	require.NoError(t, err)
	require.NoError(t, e.m.AddMember(t.Context(), tenant, u.ID))
	require.NoError(t, e.m.Bind(t.Context(), permission.Binding{UserID: u.ID, TenantID: tenant, Role: role}))
	return u
}

func (e *impEnv) loginIn(t testing.TB, email, tenant string) *authv2.LoginResult {
	t.Helper()
	res, err := e.m.Login(t.Context(), authv2.LoginInput{Email: email, Password: goodPassword, TenantID: tenant,
		Client: session.ClientInfo{IP: "192.0.2.20"}})
	require.NoError(t, err)
	return res
}

func (e *impEnv) start(t testing.TB, p *authv2.Principal, target string) (*authv2.Impersonation, error) {
	t.Helper()
	return e.m.StartImpersonation(t.Context(), p, authv2.StartImpersonationInput{TargetUserID: target, Reason: "ticket #42"})
}

func (e *impEnv) authenticate(t *testing.T, tok string) (*authv2.Principal, error) {
	t.Helper()
	return e.m.Authenticate(t.Context(), tok, session.ClientInfo{IP: "192.0.2.20"})
}

// TestImpersonationJourneyOnEveryBackend: support staff act as a viewer
// in a session that names both; what they do is audited with both
// identities; ending it leaves their own session as it was; the viewer
// reads the record with the reason given.
func TestImpersonationJourneyOnEveryBackend(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			e := newImpEnv(t, b.stores(t))
			imp, err := e.start(t, e.supportP, e.viewer.ID)
			require.NoError(t, err)
			assert.Equal(t, e.viewer.ID, imp.Session.UserID)
			assert.Equal(t, "acme", imp.Session.TenantID)
			assert.Equal(t, time.Hour, imp.Session.AbsoluteExpiresAt.Sub(imp.Record.StartedAt), "1 hour by default")

			p, err := e.authenticate(t, imp.Token)
			require.NoError(t, err)
			assert.Equal(t, e.viewer.ID, p.UserID, "acting as the viewer")
			require.NotNil(t, p.Impersonator)
			assert.Equal(t, &session.Impersonator{UserID: e.support.ID, SessionID: e.supportP.SessionID, ImpersonationID: imp.Record.ID}, p.Impersonator)
			assert.True(t, e.m.Can(t.Context(), p, "read", permission.Resource{Type: "docs", TenantID: "acme"}), "with the viewer's rights")
			assert.False(t, e.m.Can(t.Context(), p, "write", permission.Resource{Type: "docs", TenantID: "acme"}), "and only those")
			assert.ErrorIs(t, e.m.RequireFreshAuth(p), authv2.ErrImpersonation)

			// What the impersonation does is audited with both identities.
			_, err = e.m.SetMemberRoles(authv2.WithActor(t.Context(), p), "acme", e.viewer.ID,
				[]permission.Binding{{Role: "viewer"}})
			require.NoError(t, err)
			var both []audit.Event
			for _, ev := range e.sink.Events() {
				if ev.ActorUserID == e.viewer.ID && ev.ImpersonatorUserID == e.support.ID {
					both = append(both, ev)
				}
			}
			types := make([]audit.Type, 0, len(both))
			for _, ev := range both {
				types = append(types, ev.Type)
			}
			assert.Subset(t, types, []audit.Type{audit.TypeSessionCreated, audit.TypeAuthorizeDecision, audit.TypeAdminChange}, "got %v", types)
			started := e.sink.OfType(audit.TypeImpersonationStarted)
			require.Len(t, started, 1)
			assert.Equal(t, e.support.ID, started[0].ActorUserID)
			assert.Equal(t, "user:"+e.viewer.ID, started[0].Target)
			assert.Equal(t, "ticket #42", started[0].Attributes["reason"])

			rec, err := e.m.EndImpersonation(t.Context(), p)
			require.NoError(t, err)
			assert.Equal(t, e.supportP.SessionID, rec.ActorSessionID, "back to the actor's own session")
			assert.Equal(t, session.ImpersonationEnded, rec.EndReason)
			_, err = e.authenticate(t, imp.Token)
			assert.ErrorIs(t, err, authv2.ErrSessionRevoked)
			own, err := e.authenticate(t, e.supportLogin.Token)
			require.NoError(t, err)
			assert.Nil(t, own.Impersonator)
			ended := e.sink.OfType(audit.TypeImpersonationEnded)
			require.Len(t, ended, 1)
			assert.Equal(t, e.support.ID, ended[0].ActorUserID)

			viewerP := e.principal(t, e.loginIn(t, "viewer@example.com", "acme").Token)
			list, err := e.m.Impersonations(t.Context(), viewerP, "", 0)
			require.NoError(t, err)
			require.Len(t, list, 1)
			assert.Equal(t, e.support.ID, list[0].ActorUserID)
			assert.Equal(t, "ticket #42", list[0].Reason)
			assert.False(t, list[0].EndedAt.IsZero())
			mine, err := e.m.Impersonations(t.Context(), e.supportP, "", 0)
			require.NoError(t, err)
			assert.Empty(t, mine, "the list is of the user acted as")
		})
	}
}

// TestImpersonationRefusals: never without the permission, of someone
// with more rights, across tenants, of oneself, from an API key or an
// impersonation, without a reason, or for longer than the maximum.
func TestImpersonationRefusals(t *testing.T) {
	e := newImpEnv(t, backendStores{})
	viewerP := e.principal(t, e.loginIn(t, "viewer@example.com", "acme").Token)
	key, err := e.m.CreateAPIKey(authv2.WithActor(t.Context(), e.supportP), authv2.CreateAPIKeyInput{Permissions: []string{"*"}, Name: "k"})
	require.NoError(t, err)
	keyP, err := e.authenticate(t, key.Secret)
	require.NoError(t, err)
	imp, err := e.start(t, e.supportP, e.viewer.ID)
	require.NoError(t, err)
	impP, err := e.authenticate(t, imp.Token)
	require.NoError(t, err)
	noTenant := e.principal(t, e.mfaEnv.login(t, "support@example.com").Token)

	in := func(target string) authv2.StartImpersonationInput {
		return authv2.StartImpersonationInput{TargetUserID: target, Reason: "ticket"}
	}
	disabled, err := e.m.Register(t.Context(), authv2.RegisterInput{Email: "disabled@example.com", Password: goodPassword, DisplayName: "D"})
	require.NoError(t, err)
	require.NoError(t, e.m.AddMember(t.Context(), "acme", disabled.ID))
	require.NoError(t, e.m.DisableUser(t.Context(), disabled.ID))

	for name, c := range map[string]struct {
		p    *authv2.Principal
		in   authv2.StartImpersonationInput
		want error
	}{
		"without the permission":      {viewerP, in(e.support.ID), authv2.ErrForbidden},
		"an owner from support":       {e.supportP, in(e.owner.ID), authv2.ErrExceedsOwnRights},
		"across tenants":              {e.supportP, in(e.outsider.ID), authv2.ErrNotMember},
		"oneself":                     {e.supportP, in(e.support.ID), authv2.ErrValidation},
		"from an API key":             {keyP, in(e.viewer.ID), authv2.ErrSessionRequired},
		"chained":                     {impP, in(e.owner.ID), authv2.ErrImpersonation},
		"from no tenant":              {noTenant, in(e.viewer.ID), authv2.ErrNotMember},
		"an unknown user":             {e.supportP, in("ghost"), authv2.ErrNotFound},
		"a disabled user":             {e.supportP, in(disabled.ID), authv2.ErrValidation},
		"no reason":                   {e.supportP, authv2.StartImpersonationInput{TargetUserID: e.viewer.ID}, authv2.ErrValidation},
		"a reason too long":           {e.supportP, authv2.StartImpersonationInput{TargetUserID: e.viewer.ID, Reason: strings.Repeat("x", 501)}, authv2.ErrValidation},
		"longer than the maximum":     {e.supportP, authv2.StartImpersonationInput{TargetUserID: e.viewer.ID, Reason: "r", Duration: time.Hour + time.Second}, authv2.ErrValidation},
		"a negative duration":         {e.supportP, authv2.StartImpersonationInput{TargetUserID: e.viewer.ID, Reason: "r", Duration: -time.Minute}, authv2.ErrValidation},
		"no principal":                {nil, in(e.viewer.ID), authv2.ErrUnauthenticated},
		"a principal with no session": {&authv2.Principal{UserID: e.support.ID, TenantID: "acme"}, in(e.viewer.ID), authv2.ErrSessionRequired},
		"a made-up session":           {&authv2.Principal{UserID: e.support.ID, TenantID: "acme", SessionID: session.NewID(e.support.ID)}, in(e.viewer.ID), authv2.ErrSessionRevoked},
		"another's session":           {&authv2.Principal{UserID: e.support.ID, TenantID: "acme", SessionID: viewerP.SessionID}, in(e.owner.ID), authv2.ErrSessionRevoked},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.m.StartImpersonation(t.Context(), c.p, c.in)
			assert.ErrorIs(t, err, c.want)
		})
	}
	// The problem a client sees.
	pd := authv2.ProblemFor(authv2.ErrImpersonation)
	assert.Equal(t, 403, pd.Status)
	assert.Contains(t, pd.Type, "impersonation")
}

// TestImpersonationCanRequireAStepUp: a step-up rule on the permission
// makes starting an impersonation need a second factor.
func TestImpersonationCanRequireAStepUp(t *testing.T) {
	cfg := authv2test.Config()
	cfg.MFA.StepUp = map[string]authv2.Assurance{authv2.PermissionImpersonate: {Level: mfa.AAL2}}
	e := newImpEnvWith(t, backendStores{}, cfg)
	_, err := e.start(t, e.supportP, e.viewer.ID)
	var su *authv2.StepUpError
	require.ErrorAs(t, err, &su)
}

// TestRevokingAnImpersonationSessionClosesItsRecord: an administrator
// who revokes the impersonation session by ID ends the record too.
func TestRevokingAnImpersonationSessionClosesItsRecord(t *testing.T) {
	e := newImpEnv(t, backendStores{})
	imp, err := e.start(t, e.supportP, e.viewer.ID)
	require.NoError(t, err)
	require.NoError(t, e.m.RevokeSession(t.Context(), imp.Session.ID, ""))
	_, err = e.authenticate(t, imp.Token)
	assert.ErrorIs(t, err, authv2.ErrSessionRevoked)
	list, err := e.m.ListImpersonations(t.Context(), session.ImpersonationFilter{TargetUserID: e.viewer.ID}, "", 0)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, session.ImpersonationEnded, list[0].EndReason)
	assert.False(t, list[0].EndedAt.IsZero())
}

// TestImpersonationRecordFollowsItsSession: an impersonation whose
// session ends another way (the member signs out everywhere, the idle
// timeout) reads as ended, when and why its session did, rotations
// followed.
func TestImpersonationRecordFollowsItsSession(t *testing.T) {
	e := newImpEnv(t, backendStores{})
	revoked, err := e.start(t, e.supportP, e.viewer.ID)
	require.NoError(t, err)
	rot, err := e.m.RotateSession(t.Context(), revoked.Token)
	require.NoError(t, err)
	_, err = e.m.RevokeSessions(t.Context(), e.viewer.ID, authv2.RevokeOptions{})
	require.NoError(t, err)
	_, err = e.authenticate(t, rot.Token)
	assert.ErrorIs(t, err, authv2.ErrSessionRevoked)
	idle, err := e.start(t, e.supportP, e.viewer.ID)
	require.NoError(t, err)
	e.clock.Advance(authv2test.Config().Session.IdleTimeout)
	// The actor's own session stays live (it is a principal the test holds).
	list, err := e.m.ListImpersonations(t.Context(), session.ImpersonationFilter{TargetUserID: e.viewer.ID}, "", 0)
	require.NoError(t, err)
	byID := map[string]*session.Impersonation{}
	for _, r := range list {
		byID[r.ID] = r
	}
	require.Contains(t, byID, revoked.Record.ID)
	require.Contains(t, byID, idle.Record.ID)
	assert.Equal(t, session.ReasonRevoked, byID[revoked.Record.ID].EndReason)
	assert.Equal(t, session.ImpersonationIdle, byID[idle.Record.ID].EndReason)
	assert.Equal(t, idle.Session.IdleExpiresAt, byID[idle.Record.ID].EndedAt)
	again, err := e.m.ListImpersonations(t.Context(), session.ImpersonationFilter{TargetUserID: e.viewer.ID}, "", 0)
	require.NoError(t, err)
	assert.Equal(t, list, again, "settled once, stored")
}

// TestImpersonationDeadline: the session ends at its deadline however it
// is used or rotated; a shorter duration may be asked for; the
// configuration is checked.
func TestImpersonationDeadline(t *testing.T) {
	e := newImpEnv(t, backendStores{})
	imp, err := e.start(t, e.supportP, e.viewer.ID)
	require.NoError(t, err)
	tok := imp.Token
	for range 5 {
		e.clock.Advance(11 * time.Minute)
		// The actor's own session is renewed with it, so it does not
		// idle out meanwhile (30 minutes by default).
		_, err := e.authenticate(t, tok)
		require.NoError(t, err)
	}
	rot, err := e.m.RotateSession(t.Context(), tok)
	require.NoError(t, err)
	assert.Equal(t, imp.Session.Impersonator, rot.Session.Impersonator, "a rotation stays an impersonation")
	assert.Equal(t, imp.Session.AbsoluteExpiresAt, rot.Session.AbsoluteExpiresAt, "and keeps its deadline")
	e.clock.Advance(5*time.Minute + time.Second)
	_, err = e.authenticate(t, rot.Token)
	assert.ErrorIs(t, err, authv2.ErrSessionExpired, "past the hour")

	short, err := e.m.StartImpersonation(t.Context(), e.supportP, authv2.StartImpersonationInput{TargetUserID: e.viewer.ID, Reason: "r", Duration: 10 * time.Minute})
	require.NoError(t, err)
	assert.Equal(t, 10*time.Minute, short.Session.ExpiresAt().Sub(short.Record.StartedAt))
	e.clock.Advance(10 * time.Minute)
	_, err = e.authenticate(t, short.Token)
	assert.ErrorIs(t, err, authv2.ErrSessionExpired)
	viewerP := e.principal(t, e.loginIn(t, "viewer@example.com", "acme").Token)
	list, err := e.m.Impersonations(t.Context(), viewerP, "", 0)
	require.NoError(t, err)
	require.Len(t, list, 2)
	for _, r := range list {
		assert.Equal(t, r.ExpiresAt, r.EndedBy(e.clock.Now()), "expired")
	}

	for name, mutate := range map[string]func(*authv2.Config){
		"default above the maximum": func(c *authv2.Config) { c.ImpersonationTTL = 2 * time.Hour },
		"maximum above a day":       func(c *authv2.Config) { c.ImpersonationMaxTTL, c.ImpersonationTTL = 25*time.Hour, time.Hour },
		"zero":                      func(c *authv2.Config) { c.ImpersonationTTL = 0 },
	} {
		c := authv2test.Config()
		mutate(&c)
		assert.ErrorIs(t, c.Validate(), authv2.ErrInvalidConfig, name)
	}
}

// TestImpersonationEndsWithTheActor: the impersonation session is usable
// only while its actor's own session is live, the actor holds the
// permission, and the user acted as holds no more than the actor could
// grant; it ends at its next use otherwise.
func TestImpersonationEndsWithTheActor(t *testing.T) {
	cases := map[string]struct {
		change func(t *testing.T, e *impEnv)
		reason string
	}{
		"permission removed": {func(t *testing.T, e *impEnv) {
			require.NoError(t, e.m.Unbind(t.Context(), permission.Binding{UserID: e.support.ID, TenantID: "acme", Role: "support"}))
			require.NoError(t, e.m.Bind(t.Context(), permission.Binding{UserID: e.support.ID, TenantID: "acme", Role: "viewer"}))
		}, session.ImpersonationRightRevoked},
		"actor logged out": {func(t *testing.T, e *impEnv) {
			require.NoError(t, e.m.Logout(t.Context(), e.supportLogin.Token))
		}, session.ImpersonationActorGone},
		"actor's session rotated": {func(t *testing.T, e *impEnv) {
			_, err := e.m.RotateSession(t.Context(), e.supportLogin.Token)
			require.NoError(t, err)
			e.clock.Advance(authv2test.Config().Session.RotationGrace + time.Second)
		}, session.ImpersonationActorGone},
		"actor changed their password": {func(t *testing.T, e *impEnv) {
			_, err := e.m.ChangePassword(t.Context(), e.supportP, goodPassword, "another correct horse staple")
			require.NoError(t, err)
		}, session.ImpersonationActorGone},
		"actor disabled": {func(t *testing.T, e *impEnv) {
			require.NoError(t, e.m.DisableUser(t.Context(), e.support.ID))
		}, session.ImpersonationActorGone},
		"target promoted": {func(t *testing.T, e *impEnv) {
			require.NoError(t, e.m.Bind(t.Context(), permission.Binding{UserID: e.viewer.ID, TenantID: "acme", Role: permission.OwnerRole}))
			e.clock.Advance(authv2test.Config().Session.TouchInterval) // checked on renewal
		}, session.ImpersonationRightsChanged},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := newImpEnv(t, backendStores{})
			imp, err := e.start(t, e.supportP, e.viewer.ID)
			require.NoError(t, err)
			_, err = e.authenticate(t, imp.Token)
			require.NoError(t, err)
			c.change(t, e)
			_, err = e.authenticate(t, imp.Token)
			assert.ErrorIs(t, err, authv2.ErrSessionRevoked, "the next request is refused")
			viewerP := e.principal(t, e.loginIn(t, "viewer@example.com", "acme").Token)
			list, err := e.m.Impersonations(t.Context(), viewerP, "", 0)
			require.NoError(t, err)
			require.Len(t, list, 1)
			assert.Equal(t, c.reason, list[0].EndReason)
			ended := e.sink.OfType(audit.TypeImpersonationEnded)
			require.Len(t, ended, 1)
			assert.Equal(t, c.reason, ended[0].Reason)
		})
	}
	t.Run("logout of the impersonation", func(t *testing.T) {
		e := newImpEnv(t, backendStores{})
		imp, err := e.start(t, e.supportP, e.viewer.ID)
		require.NoError(t, err)
		require.NoError(t, e.m.Logout(t.Context(), imp.Token))
		rec, err := e.m.ListImpersonations(t.Context(), session.ImpersonationFilter{ActorUserID: e.support.ID}, "", 0)
		require.NoError(t, err)
		require.Len(t, rec, 1)
		assert.Equal(t, session.ImpersonationLoggedOut, rec[0].EndReason)
		_, err = e.authenticate(t, e.supportLogin.Token)
		assert.NoError(t, err, "the actor's session stays")
	})
}

// TestConcurrentImpersonationsAgainstARevokedPermission: hundreds of
// StartImpersonation calls race the removal of the actor's permission, on
// every backend; once it is removed, no session any of them opened is
// usable, and every later start is refused.
func TestConcurrentImpersonationsAgainstARevokedPermission(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { raceStartsAgainstRevocation(t, newImpEnv(t, b.stores(t))) })
	}
}

func raceStartsAgainstRevocation(t *testing.T, e *impEnv) {
	const n = 300
	var (
		mu       sync.Mutex
		tokens   []string
		finished atomic.Int32
		wg       sync.WaitGroup
	)
	revoked := make(chan struct{})
	go func() {
		defer close(revoked)
		// Revoke while the starts are under way: a third are done.
		for finished.Load() < n/3 {
			runtime.Gosched()
		}
		assert.NoError(t, e.m.Unbind(context.Background(), permission.Binding{UserID: e.support.ID, TenantID: "acme", Role: "support"}))
	}()
	for range n {
		wg.Go(func() {
			defer finished.Add(1)
			imp, err := e.m.StartImpersonation(context.Background(), e.supportP, authv2.StartImpersonationInput{TargetUserID: e.viewer.ID, Reason: "race"})
			if err != nil {
				// Refused by the permission check, or by the rights check that
				// follows it when the removal came in between.
				if !errors.Is(err, authv2.ErrForbidden) && !errors.Is(err, authv2.ErrExceedsOwnRights) {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			mu.Lock()
			tokens = append(tokens, imp.Token)
			mu.Unlock()
		})
	}
	wg.Wait()
	<-revoked
	require.NotEmpty(t, tokens, "some starts ran before the removal")
	for _, tok := range tokens {
		_, err := e.authenticate(t, tok)
		assert.ErrorIs(t, err, authv2.ErrSessionRevoked)
	}
	_, err := e.start(t, e.supportP, e.viewer.ID)
	assert.ErrorIs(t, err, authv2.ErrForbidden)
	t.Logf("%d of %d starts ran before the removal; none is usable after it", len(tokens), n)
}

// impersonationGates calls every Manager method that must refuse an
// impersonation session, by name, with one (p, its token, and ctx naming
// it as the actor).
func impersonationGates(e *impEnv, p *authv2.Principal, tok string) map[string]func(context.Context) error {
	viewer := e.viewer.ID
	return map[string]func(context.Context) error{
		"ChangePassword": func(ctx context.Context) error {
			_, err := e.m.ChangePassword(ctx, p, goodPassword, "another correct horse staple")
			return err
		},
		"ChangeEmail": func(ctx context.Context) error {
			_, err := e.m.ChangeEmail(ctx, p, "new@example.com")
			return err
		},
		"Reauthenticate": func(ctx context.Context) error {
			_, err := e.m.Reauthenticate(ctx, tok, goodPassword)
			return err
		},
		"RequireFreshAuth": func(context.Context) error { return e.m.RequireFreshAuth(p) },
		"EnrollTOTP": func(ctx context.Context) error {
			_, err := e.m.EnrollTOTP(ctx, p)
			return err
		},
		"ConfirmTOTP":    func(ctx context.Context) error { return e.m.ConfirmTOTP(ctx, p, "123456") },
		"RemoveTOTP":     func(ctx context.Context) error { return e.m.RemoveTOTP(ctx, p) },
		"RemoveWebAuthn": func(ctx context.Context) error { return e.m.RemoveWebAuthn(ctx, p, "cred") },
		"RenameWebAuthn": func(ctx context.Context) error { return e.m.RenameWebAuthn(ctx, p, "cred", "name") },
		"GenerateRecoveryCodes": func(ctx context.Context) error {
			_, err := e.m.GenerateRecoveryCodes(ctx, p)
			return err
		},
		"BeginWebAuthnRegistration": func(ctx context.Context) error {
			_, _, err := e.m.BeginWebAuthnRegistration(ctx, p)
			return err
		},
		"FinishWebAuthnRegistration": func(ctx context.Context) error {
			_, err := e.m.FinishWebAuthnRegistration(ctx, p, "challenge", []byte("{}"), "name")
			return err
		},
		"BeginStepUpWebAuthn": func(ctx context.Context) error {
			_, _, err := e.m.BeginStepUpWebAuthn(ctx, p)
			return err
		},
		"StepUp": func(ctx context.Context) error {
			_, err := e.m.StepUp(ctx, tok, authv2.SecondFactor{Factor: mfa.FactorTOTP, Code: "123456"})
			return err
		},
		"DisableMFA": func(ctx context.Context) error { return e.m.DisableMFA(ctx, viewer) },
		"CreateAPIKey": func(ctx context.Context) error {
			_, err := e.m.CreateAPIKey(ctx, authv2.CreateAPIKeyInput{Permissions: []string{"docs:read"}, Name: "k"})
			return err
		},
		"RevokeAPIKey": func(ctx context.Context) error { return e.m.RevokeAPIKey(ctx, "key") },
		"RevokeAPIKeys": func(ctx context.Context) error {
			_, err := e.m.RevokeAPIKeys(ctx, viewer, "")
			return err
		},
		"RevokeSession": func(ctx context.Context) error { return e.m.RevokeSession(ctx, e.supportP.SessionID, "") },
		"RevokeSessions": func(ctx context.Context) error {
			_, err := e.m.RevokeSessions(ctx, viewer, authv2.RevokeOptions{})
			return err
		},
		"SwitchTenant": func(ctx context.Context) error {
			_, err := e.m.SwitchTenant(ctx, tok, "globex", "")
			return err
		},
		"DisableUser": func(ctx context.Context) error { return e.m.DisableUser(ctx, viewer) },
		"LockUser":    func(ctx context.Context) error { return e.m.LockUser(ctx, viewer) },
		"UnlockUser":  func(ctx context.Context) error { return e.m.UnlockUser(ctx, viewer) },
		"DeleteUser":  func(ctx context.Context) error { return e.m.DeleteUser(ctx, viewer) },
		"AcceptInvitation": func(ctx context.Context) error {
			_, err := e.m.AcceptInvitation(ctx, p, authv2.AcceptInvitationInput{Token: "av2i_x"})
			return err
		},
		"StartImpersonation": func(ctx context.Context) error {
			_, err := e.m.StartImpersonation(ctx, p, authv2.StartImpersonationInput{TargetUserID: e.owner.ID, Reason: "r"})
			return err
		},
		"Impersonations": func(ctx context.Context) error {
			_, err := e.m.Impersonations(ctx, p, "", 0)
			return err
		},
	}
}

// notGated are the Manager's other methods, each with why an
// impersonation session may call it: reads, the user's ordinary work
// (authorized by the application's Require as the user acted as, whose
// rights the actor holds anyway), flows that take no principal of the
// user's, and operations of the service itself.
var notGated = map[string]string{
	"APIKey": "read", "ListAPIKeys": "read", "ListSessions": "read", "MFAStatus": "read", "User": "read",
	"ListTenants": "read", "ListRoles": "read", "ListBindings": "read", "ListMembers": "read", "ListInvitations": "read",
	"ServiceAccount": "read", "ListServiceAccounts": "read", "ListImpersonations": "administrators' read",
	"QueryAudit": "read", "LoginCounts": "read", "TopDenied": "read", "SessionsPerDevice": "read", "UnusedGrants": "read",
	"SessionStats": "read", "EffectivePermissions": "read", "Who": "read", "Roles": "read",
	"Authorize": "decides as the user acted as", "AuthorizeRequest": "decides", "AuthorizeBatch": "decides", "Can": "decides",
	"Explain": "decides", "CheckAssurance": "level 1 with no proof: refuses anything stronger",
	"Authenticate": "how an impersonation session is used", "Logout": "ends the impersonation",
	"RotateSession": "keeps the impersonator and the deadline", "EndImpersonation": "the way back",
	"CreateTenant": "tenant administration, as the user acted as", "DeleteTenant": "tenant administration",
	"AddMember": "tenant administration", "PutRole": "tenant administration", "DeleteRole": "tenant administration",
	"Bind": "tenant administration", "Unbind": "tenant administration", "SetMemberRoles": "within the actor's rights",
	"RemoveMember": "within the actor's rights", "TransferOwnership": "within the actor's rights",
	"Invite": "within the actor's rights (checkGrantable)", "ResendInvitation": "tenant administration",
	"RevokeInvitation": "tenant administration",
	"AddTenantDomain":  "within the actor's rights (checkGrantable), as Invite", "VerifyTenantDomain": "tenant administration",
	"RemoveTenantDomain": "tenant administration", "ListTenantDomains": "read",
	"LoginFailures": "test-only export (export_test.go)", "TrustedFailures": "test-only export (export_test.go)",
	"CreateServiceAccount": "no credential: its keys need CreateAPIKey", "DisableServiceAccount": "tenant administration",
	"EnableServiceAccount": "tenant administration", "DeleteServiceAccount": "tenant administration",
	"Register": "anonymous", "Login": "anonymous", "RequestPasswordReset": "anonymous, mails the owner",
	"ResetPassword": "needs the owner's mailed token", "RequestEmailVerification": "mails the owner",
	"VerifyEmail": "needs the owner's mailed token", "EnrollTOTPForLogin": "pending login token",
	"BeginLoginWebAuthn": "pending login token", "CompleteLogin": "pending login token",
	"BeginPasskeyLogin": "anonymous", "PasskeyLogin": "anonymous",
	"Middleware": "wiring", "Require": "wiring", "SetSessionCookie": "wiring", "ClearSessionCookie": "wiring",
	"DeviceToken": "wiring", "Close": "service", "FlushAudit": "service",
}

// TestImpersonationCannotReachCredentials: every credential, factor,
// session, key and account change refuses an impersonation session with
// ErrImpersonation, and every Manager method is classified, so a new one
// cannot be added without deciding.
func TestImpersonationCannotReachCredentials(t *testing.T) {
	e := newImpEnv(t, backendStores{})
	imp, err := e.start(t, e.supportP, e.viewer.ID)
	require.NoError(t, err)
	p, err := e.authenticate(t, imp.Token)
	require.NoError(t, err)
	gates := impersonationGates(e, p, imp.Token)
	for name, call := range gates {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, call(authv2.WithActor(t.Context(), p)), authv2.ErrImpersonation)
		})
	}
	mt := reflect.TypeOf(e.m)
	var unclassified []string
	for i := range mt.NumMethod() {
		name := mt.Method(i).Name
		_, gated := gates[name]
		if _, other := notGated[name]; gated == other {
			unclassified = append(unclassified, name)
		}
	}
	slices.Sort(unclassified)
	assert.Empty(t, unclassified, "each Manager method is either gated or listed in notGated, not both")
	// Nothing changed: the viewer's own sessions are alive, and so is the actor's.
	_, err = e.authenticate(t, e.supportLogin.Token)
	assert.NoError(t, err)
	_, err = e.authenticate(t, imp.Token)
	assert.NoError(t, err)
}

// BenchmarkAuthenticateImpersonation measures what an impersonation
// session costs Authenticate over a user's own session (memory stores):
// the actor's session read and the permission check on every use.
func BenchmarkAuthenticateImpersonation(b *testing.B) {
	e := newImpEnv(b, backendStores{})
	imp, err := e.start(b, e.supportP, e.viewer.ID)
	require.NoError(b, err)
	for name, tok := range map[string]string{"own": e.supportLogin.Token, "impersonation": imp.Token} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.m.Authenticate(ctx, tok, session.ClientInfo{IP: "192.0.2.20"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var orderApprove = permission.Resource{Type: "orders", TenantID: "acme"}

// TestImpersonationConditionOnRolesDoesNotEscalate: a grant whose
// condition reads principal.roles was "covered" by checkGrantable when the
// actor holds the same conditioned grant, although the condition is false
// for the actor and true for the target: acting as the target reaches a
// right the actor does not have.
func TestImpersonationConditionOnRolesDoesNotEscalate(t *testing.T) {
	e := newImpEnv(t, backendStores{})
	ctx := t.Context()
	for _, r := range []*permission.Role{
		{TenantID: "acme", Name: "clerk", Grants: []permission.Grant{
			{Permission: "orders:approve", Effect: permission.Allow, Condition: `"senior" in principal.roles`}}},
		// senior grants nothing itself: it only makes clerk's condition true.
		{TenantID: "acme", Name: "senior"},
	} {
		require.NoError(t, e.m.PutRole(ctx, r))
	}
	require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: e.support.ID, TenantID: "acme", Role: "clerk"}))
	target := e.join(t, "senior@example.com", "acme", "clerk")
	require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: target.ID, TenantID: "acme", Role: "senior"}))

	e.cannotApproveAs(t, target.ID)
}

// TestImpersonationConditionOnAttributesDoesNotEscalate: the same with a
// condition on the user's attributes (which the session copies from the
// target).
func TestImpersonationConditionOnAttributesDoesNotEscalate(t *testing.T) {
	e := newImpEnv(t, backendStores{})
	ctx := t.Context()
	require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "approver", Grants: []permission.Grant{
		{Permission: "orders:approve", Effect: permission.Allow, Condition: `principal.attributes.clearance == "high"`}}}))
	require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: e.support.ID, TenantID: "acme", Role: "approver"}))
	target, err := e.m.Register(ctx, authv2.RegisterInput{Email: "cleared@example.com", Password: goodPassword, DisplayName: "C",
		Attributes: map[string]string{"clearance": "high"}})
	require.NoError(t, err)
	require.NoError(t, e.m.AddMember(ctx, "acme", target.ID))
	require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: target.ID, TenantID: "acme", Role: "approver"}))

	e.cannotApproveAs(t, target.ID)
}

// TestImpersonationConditionedDenyOfTheActorHolds: a deny the actor is
// under only through a condition on their roles is not matched by the
// same conditioned deny in the target's role: the condition is false for
// the target, who may approve what the actor may not.
func TestImpersonationConditionedDenyOfTheActorHolds(t *testing.T) {
	e := newImpEnv(t, backendStores{})
	ctx := t.Context()
	for _, r := range []*permission.Role{
		{TenantID: "acme", Name: "approver", Grants: []permission.Grant{
			{Permission: "orders:approve", Effect: permission.Allow},
			{Permission: "orders:approve", Effect: permission.Deny, Condition: `"trainee" in principal.roles`}}},
		{TenantID: "acme", Name: "trainee"},
	} {
		require.NoError(t, e.m.PutRole(ctx, r))
	}
	for _, role := range []string{"approver", "trainee"} {
		require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: e.support.ID, TenantID: "acme", Role: role}))
	}
	e.cannotApproveAs(t, e.join(t, "approver@example.com", "acme", "approver").ID)
}

// cannotApproveAs checks that the actor, who cannot approve orders, is
// refused an impersonation of target, who can, and that if one starts
// anyway it cannot approve them.
func (e *impEnv) cannotApproveAs(t *testing.T, target string) {
	t.Helper()
	ctx := t.Context()
	assert.False(t, e.m.Can(ctx, e.supportP, "approve", orderApprove), "the actor cannot approve orders")
	imp, err := e.start(t, e.supportP, target)
	if err == nil {
		p, aerr := e.authenticate(t, imp.Token)
		require.NoError(t, aerr)
		assert.False(t, e.m.Can(ctx, p, "approve", orderApprove), "acting as the target must not approve orders")
	}
	assert.ErrorIs(t, err, authv2.ErrExceedsOwnRights, "the target holds a right the actor does not")
}

// TestImpersonationRightsCheckedAtEveryUse: the rights comparison runs at
// each use, not only on renewal (once per TouchInterval): a target
// promoted, their role edited, or an actor demoted (keeping
// users:impersonate) ends the impersonation at its next request.
func TestImpersonationRightsCheckedAtEveryUse(t *testing.T) {
	t.Run("target promoted", func(t *testing.T) {
		e := newImpEnv(t, backendStores{})
		imp, err := e.start(t, e.supportP, e.viewer.ID)
		require.NoError(t, err)
		require.NoError(t, e.m.Bind(t.Context(), permission.Binding{UserID: e.viewer.ID, TenantID: "acme", Role: permission.OwnerRole}))
		p, err := e.authenticate(t, imp.Token)
		if err == nil {
			assert.False(t, e.m.Can(t.Context(), p, "delete", permission.Resource{Type: "tenants", TenantID: "acme"}),
				"acting as an owner")
		}
		assert.ErrorIs(t, err, authv2.ErrSessionRevoked, "the next request is refused")
	})
	t.Run("target's role edited", func(t *testing.T) {
		e := newImpEnv(t, backendStores{})
		imp, err := e.start(t, e.supportP, e.viewer.ID)
		require.NoError(t, err)
		require.NoError(t, e.m.PutRole(t.Context(), &permission.Role{TenantID: "acme", Name: "viewer", Grants: []permission.Grant{
			{Permission: "*", Effect: permission.Allow}}}))
		_, err = e.authenticate(t, imp.Token)
		assert.ErrorIs(t, err, authv2.ErrSessionRevoked, "the next request is refused")
	})
	t.Run("actor demoted", func(t *testing.T) {
		e := newImpEnv(t, backendStores{})
		ctx := t.Context()
		require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "impersonator", Grants: []permission.Grant{
			{Permission: authv2.PermissionImpersonate, Effect: permission.Allow}}}))
		imp, err := e.start(t, e.supportP, e.viewer.ID)
		require.NoError(t, err)
		// The actor keeps the permission but loses docs:*.
		require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: e.support.ID, TenantID: "acme", Role: "impersonator"}))
		require.NoError(t, e.m.Unbind(ctx, permission.Binding{UserID: e.support.ID, TenantID: "acme", Role: "support"}))
		assert.False(t, e.m.Can(ctx, e.supportP, "read", permission.Resource{Type: "docs", TenantID: "acme"}))
		p, err := e.authenticate(t, imp.Token)
		if err == nil {
			assert.False(t, e.m.Can(ctx, p, "read", permission.Resource{Type: "docs", TenantID: "acme"}),
				"reads docs the actor no longer may")
		}
		assert.ErrorIs(t, err, authv2.ErrSessionRevoked, "the next request is refused")
	})
}

// TestReusedImpersonationTokenEndsOnlyTheImpersonation: presenting an
// impersonation token after its rotation's grace ends that impersonation
// (its successor and its record), not every session of the user acted
// as: the impersonator must not sign the member out everywhere, which
// RevokeSessions refuses them. The events name the impersonator.
func TestReusedImpersonationTokenEndsOnlyTheImpersonation(t *testing.T) {
	e := newImpEnv(t, backendStores{})
	viewerLogin := e.loginIn(t, "viewer@example.com", "acme")
	imp, err := e.start(t, e.supportP, e.viewer.ID)
	require.NoError(t, err)
	rot, err := e.m.RotateSession(t.Context(), imp.Token)
	require.NoError(t, err)
	e.clock.Advance(authv2test.Config().Session.RotationGrace + time.Second)
	_, err = e.authenticate(t, imp.Token) // the old token, again
	assert.ErrorIs(t, err, authv2.ErrSessionRevoked)

	_, err = e.authenticate(t, viewerLogin.Token)
	assert.NoError(t, err, "the member's own session must survive what the impersonator does")
	require.NoError(t, e.m.FlushAudit(t.Context()))
	for _, ev := range e.sink.Events() {
		if ev.Type == audit.TypeSessionReuse || (ev.Type == audit.TypeSessionRevoked && ev.Reason == session.ReasonReuse) {
			assert.Equal(t, e.support.ID, ev.ImpersonatorUserID, "%s names the impersonator", ev.Type)
		}
	}
	_, err = e.authenticate(t, rot.Token)
	assert.ErrorIs(t, err, authv2.ErrSessionRevoked, "the impersonation's successor ended")
	_, err = e.authenticate(t, e.supportLogin.Token)
	assert.NoError(t, err, "the actor's own session is not the copy")
	list, err := e.m.ListImpersonations(t.Context(), session.ImpersonationFilter{TargetUserID: e.viewer.ID}, "", 0)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, session.ImpersonationTokenReuse, list[0].EndReason)
	require.Len(t, e.sink.OfType(audit.TypeSessionReuse), 1)
}

// TestImpersonationRotationEventNamesTheImpersonator: session.rotated of an
// impersonation session carries no ImpersonatorUserID, with or without
// the impersonation principal in ctx (stamp matches the old session ID,
// the event carries the new one).
func TestImpersonationRotationEventNamesTheImpersonator(t *testing.T) {
	e := newImpEnv(t, backendStores{})
	imp, err := e.start(t, e.supportP, e.viewer.ID)
	require.NoError(t, err)
	p, err := e.authenticate(t, imp.Token)
	require.NoError(t, err)
	rot, err := e.m.RotateSession(authv2.WithActor(t.Context(), p), imp.Token)
	require.NoError(t, err)
	_, err = e.m.RotateSession(t.Context(), rot.Token) // no principal in ctx
	require.NoError(t, err)
	require.NoError(t, e.m.FlushAudit(t.Context()))
	rotated := e.sink.OfType(audit.TypeSessionRotated)
	require.Len(t, rotated, 2)
	for _, ev := range rotated {
		assert.Equal(t, e.viewer.ID, ev.ActorUserID)
		assert.Equal(t, e.support.ID, ev.ImpersonatorUserID, "both identities on session.rotated")
	}
}

// TestImpersonationEarlyEndListedAfterTheDeadline: an impersonation whose
// session the member ended early (sign out everywhere), listed for the
// first time after its deadline, reads as ended by the sign-out, not as
// having run to that deadline.
func TestImpersonationEarlyEndListedAfterTheDeadline(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			e := newImpEnv(t, b.stores(t))
			_, err := e.start(t, e.supportP, e.viewer.ID)
			require.NoError(t, err)
			e.clock.Advance(time.Minute)
			_, err = e.m.RevokeSessions(t.Context(), e.viewer.ID, authv2.RevokeOptions{})
			require.NoError(t, err)
			e.clock.Advance(time.Hour)
			list, err := e.m.ListImpersonations(t.Context(), session.ImpersonationFilter{TargetUserID: e.viewer.ID}, "", 0)
			require.NoError(t, err)
			require.Len(t, list, 1)
			assert.Equal(t, session.ReasonRevoked, list[0].EndReason, "ended by the member's sign-out, not expired")
			assert.Less(t, list[0].EndedBy(e.clock.Now()).Sub(list[0].StartedAt), 2*time.Minute, "it lasted a minute")
		})
	}
}

// TestImpersonationRecordClosedWithTheSignOut: a member signing out
// everywhere closes the record of an impersonation of them at once, not
// only when it is listed (the session store may have forgotten the
// session by then).
func TestImpersonationRecordClosedWithTheSignOut(t *testing.T) {
	imps := memory.NewImpersonationStore()
	e := newImpEnv(t, backendStores{impersonations: imps})
	imp, err := e.start(t, e.supportP, e.viewer.ID)
	require.NoError(t, err)
	e.clock.Advance(time.Minute)
	_, err = e.m.RevokeSessions(t.Context(), e.viewer.ID, authv2.RevokeOptions{})
	require.NoError(t, err)
	rec, err := imps.GetImpersonation(t.Context(), imp.Record.ID)
	require.NoError(t, err)
	assert.Equal(t, session.ReasonRevoked, rec.EndReason)
	assert.Equal(t, e.clock.Now(), rec.EndedAt)
}

// TestEndImpersonationOnceUnderConcurrency: many concurrent ends
// (double-clicks, retries) all succeed and record one impersonation.ended.
func TestEndImpersonationOnceUnderConcurrency(t *testing.T) {
	e := newImpEnv(t, backendStores{})
	imp, err := e.start(t, e.supportP, e.viewer.ID)
	require.NoError(t, err)
	p, err := e.authenticate(t, imp.Token)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := e.m.EndImpersonation(context.Background(), p)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	_, err = e.m.EndImpersonation(t.Context(), p)
	assert.NoError(t, err, "ending one that ended already succeeds")
	assert.Equal(t, 1, len(e.sink.OfType(audit.TypeImpersonationEnded)), "one impersonation.ended recorded")
}

// TestImpersonationRevokingTheRecordedSessionAfterRotation: the record's
// SessionID is the first session; after a rotation, an administrator
// revoking it (the ID ListImpersonations shows) ends the impersonation.
func TestImpersonationRevokingTheRecordedSessionAfterRotation(t *testing.T) {
	e := newImpEnv(t, backendStores{})
	imp, err := e.start(t, e.supportP, e.viewer.ID)
	require.NoError(t, err)
	rot, err := e.m.RotateSession(t.Context(), imp.Token)
	require.NoError(t, err)
	list, err := e.m.ListImpersonations(t.Context(), session.ImpersonationFilter{TargetUserID: e.viewer.ID}, "", 0)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.NoError(t, e.m.RevokeSession(t.Context(), list[0].SessionID, ""))
	_, err = e.authenticate(t, rot.Token)
	assert.ErrorIs(t, err, authv2.ErrSessionRevoked, "revoking the recorded session ends the impersonation")
}

// TestEndImpersonationWithAStalePrincipalAfterARotation: ending the
// impersonation with the principal of a request authenticated before a
// concurrent rotation ends the successor too: the record says ended, and
// the impersonation is over.
func TestEndImpersonationWithAStalePrincipalAfterARotation(t *testing.T) {
	e := newImpEnv(t, backendStores{})
	imp, err := e.start(t, e.supportP, e.viewer.ID)
	require.NoError(t, err)
	stale, err := e.authenticate(t, imp.Token)
	require.NoError(t, err)
	rot, err := e.m.RotateSession(t.Context(), imp.Token)
	require.NoError(t, err)
	rec, err := e.m.EndImpersonation(t.Context(), stale)
	require.NoError(t, err)
	require.False(t, rec.EndedAt.IsZero(), "the record reads as ended")
	_, err = e.authenticate(t, rot.Token)
	assert.ErrorIs(t, err, authv2.ErrSessionRevoked, "so the impersonation must be over")
}

// TestImpersonationStopsOnEveryInstance: two Managers share one set of
// stores. Whatever one instance does to end an impersonation (the actor
// losing the right to impersonate, the impersonation ended, the actor's
// own sessions revoked, the actor disabled), the other instance refuses
// the impersonation session too: at once, or once it re-reads the
// tenant's policy version (Config.PolicyMaxStaleness, real time).
func TestImpersonationStopsOnEveryInstance(t *testing.T) {
	client := session.ClientInfo{IP: "192.0.2.20"}
	ends := map[string]func(ctx context.Context, t *testing.T, e *impEnv, other *authv2.Manager, tok string){
		"permission removed": func(ctx context.Context, t *testing.T, e *impEnv, other *authv2.Manager, _ string) {
			require.NoError(t, other.Unbind(ctx, permission.Binding{UserID: e.support.ID, TenantID: "acme", Role: "support"}))
		},
		"ended": func(ctx context.Context, t *testing.T, _ *impEnv, other *authv2.Manager, tok string) {
			p, err := other.Authenticate(ctx, tok, client)
			require.NoError(t, err)
			_, err = other.EndImpersonation(ctx, p)
			require.NoError(t, err)
		},
		"actor's sessions revoked": func(ctx context.Context, t *testing.T, e *impEnv, other *authv2.Manager, _ string) {
			_, err := other.RevokeSessions(ctx, e.support.ID, authv2.RevokeOptions{})
			require.NoError(t, err)
		},
		"actor disabled": func(ctx context.Context, t *testing.T, e *impEnv, other *authv2.Manager, _ string) {
			require.NoError(t, other.DisableUser(ctx, e.support.ID))
		},
	}
	docs := permission.Resource{Type: "docs", TenantID: "acme"}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for name, end := range ends {
				t.Run(name, func(t *testing.T) {
					s := b.stores(t)
					e := newImpEnv(t, s)
					other, err := authv2.New(append(s.options(), authv2.WithClock(e.clock), authv2.WithConfig(authv2test.Config()),
						authv2.WithInsecurePasswordHashing(), authv2.WithLogger(discardLogger()))...)
					require.NoError(t, err)
					t.Cleanup(func() { require.NoError(t, other.Close(context.Background())) })
					ctx := t.Context()
					imp, err := e.start(t, e.supportP, e.viewer.ID)
					require.NoError(t, err)
					for _, m := range []*authv2.Manager{e.m, other} {
						p, err := m.Authenticate(ctx, imp.Token, client)
						require.NoError(t, err)
						require.True(t, m.Can(ctx, p, "read", docs), "both instances serve the impersonation first")
					}
					end(ctx, t, e, other, imp.Token)
					var last error
					require.Eventually(t, func() bool {
						_, last = e.m.Authenticate(ctx, imp.Token, client)
						return last != nil
					}, 10*time.Second, 5*time.Millisecond, "the first instance still serves the impersonation")
					assert.ErrorIs(t, last, authv2.ErrSessionRevoked)
					_, err = other.Authenticate(ctx, imp.Token, client)
					assert.ErrorIs(t, err, authv2.ErrSessionRevoked)
				})
			}
		})
	}
}

// An administrator who ends an impersonation with an API key (revoking
// its session) is named with the key, as in every event made with one:
// the event's actor is the impersonator, so the key goes with ended_by.
func TestImpersonationEndedWithAnAPIKeyNamesTheKey(t *testing.T) {
	e := newImpEnv(t, backendStores{})
	imp, err := e.start(t, e.supportP, e.viewer.ID)
	require.NoError(t, err)
	owner := e.principal(t, e.loginIn(t, "owner@example.com", "acme").Token)
	key, err := e.m.CreateAPIKey(authv2.WithActor(t.Context(), owner), authv2.CreateAPIKeyInput{Name: "ops", Permissions: []string{"*"}})
	require.NoError(t, err)
	byKey, err := e.m.Authenticate(t.Context(), key.Secret, session.ClientInfo{IP: "192.0.2.30"})
	require.NoError(t, err)
	require.NoError(t, e.m.RevokeSession(authv2.WithActor(t.Context(), byKey), imp.Session.ID, ""))
	ended := e.sink.OfType(audit.TypeImpersonationEnded)
	require.Len(t, ended, 1)
	assert.Equal(t, e.owner.ID, ended[0].Attributes["ended_by"])
	assert.Equal(t, key.Key.ID, ended[0].Attributes["ended_by_api_key"], "the key it was ended with")
}
