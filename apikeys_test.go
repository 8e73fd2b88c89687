package authv2_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/apikey"
	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

var keyClient = session.ClientInfo{IP: "198.51.100.7", UserAgent: "ci-bot/1"}

// keyFixture is a tenant "acme" with a role "clerk" (orders:read,
// orders:write, invoices:read) bound to Ann, who is signed in there.
type keyFixture struct {
	*env
	ann  *user.User
	sess *authv2.Principal // Ann's session principal
}

func newKeyFixture(t *testing.T, opts ...authv2.Option) *keyFixture {
	t.Helper()
	e := newEnv(t, opts...)
	ctx := t.Context()
	_, err := e.m.CreateTenant(ctx, "acme", "Acme")
	require.NoError(t, err)
	_, err = e.m.CreateTenant(ctx, "globex", "Globex")
	require.NoError(t, err)
	for _, tenant := range []string{"acme", "globex"} {
		require.NoError(t, e.m.PutRole(ctx, &permission.Role{TenantID: tenant, Name: "clerk", Grants: []permission.Grant{
			{Permission: "orders:read", Effect: permission.Allow},
			{Permission: "orders:write", Effect: permission.Allow},
			{Permission: "invoices:read", Effect: permission.Allow},
		}}))
	}
	ann := e.register(t, "ann@example.com")
	require.NoError(t, e.m.AddMember(ctx, "acme", ann.ID))
	require.NoError(t, e.m.Bind(ctx, permission.Binding{UserID: ann.ID, TenantID: "acme", Role: "clerk"}))
	res, err := e.m.Login(ctx, authv2.LoginInput{Email: "ann@example.com", Password: goodPassword, TenantID: "acme", Client: keyClient})
	require.NoError(t, err)
	p, err := e.m.Authenticate(ctx, res.Token, keyClient)
	require.NoError(t, err)
	return &keyFixture{env: e, ann: ann, sess: p}
}

// asAnn is a context whose actor is Ann's session.
func (f *keyFixture) asAnn(t *testing.T) context.Context {
	return authv2.WithActor(t.Context(), f.sess)
}

func (f *keyFixture) newKey(t *testing.T, perms ...string) *authv2.CreatedAPIKey {
	t.Helper()
	k, err := f.m.CreateAPIKey(f.asAnn(t), authv2.CreateAPIKeyInput{Name: "ci", Permissions: perms})
	require.NoError(t, err)
	return k
}

func keyOrder(tenant string) permission.Resource {
	return permission.Resource{Type: "orders", ID: "o1", TenantID: tenant}
}

func TestAPIKeyJourney(t *testing.T) {
	f := newKeyFixture(t)
	ctx := t.Context()
	k := f.newKey(t, "orders:read")
	assert.Regexp(t, `^av2k_[A-Za-z0-9_-]{81}$`, k.Secret)
	assert.NotContains(t, string(k.Key.SecretHash), k.Secret[5+32:], "only a hash is kept")
	assert.Equal(t, "acme", k.Key.TenantID, "the actor's session tenant by default")
	assert.Equal(t, f.ann.ID, k.Key.CreatedBy)

	p, err := f.m.Authenticate(ctx, k.Secret, keyClient)
	require.NoError(t, err)
	assert.Equal(t, authv2.PrincipalUser, p.Kind)
	assert.Equal(t, f.ann.ID, p.UserID)
	assert.Equal(t, "acme", p.TenantID)
	assert.Nil(t, p.Session)
	require.NotNil(t, p.APIKey)
	assert.Equal(t, k.Key.ID, p.APIKey.ID)

	d, err := f.m.Authorize(ctx, p, "read", keyOrder("acme"))
	require.NoError(t, err)
	assert.True(t, d.Allowed, "the owner holds it and the key names it")
	d, err = f.m.Authorize(ctx, p, "write", keyOrder("acme"))
	require.NoError(t, err)
	assert.False(t, d.Allowed, "the owner holds it, the key does not name it")
	assert.Equal(t, authv2.ReasonOutsideAPIKey, d.Reason)
	assert.False(t, d.ID.IsZero(), "the decision keeps its ID for the audit trail")

	ds, err := f.m.AuthorizeBatch(ctx, p, []permission.Query{{Action: "read", Resource: keyOrder("acme")}, {Action: "write", Resource: keyOrder("acme")}}, permission.Request{})
	require.NoError(t, err)
	assert.True(t, ds[0].Allowed)
	assert.False(t, ds[1].Allowed)

	list, err := f.m.ListAPIKeys(ctx, apikey.KeyFilter{OwnerID: f.ann.ID})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, t0, list[0].LastUsedAt, "the first use writes last-used")

	require.NoError(t, f.m.RevokeAPIKey(f.asAnn(t), k.Key.ID))
	_, err = f.m.Authenticate(ctx, k.Secret, keyClient)
	assert.ErrorIs(t, err, authv2.ErrAPIKeyRevoked)

	dup := f.newKey(t, "orders:read", "*:*", "orders:read")
	assert.Equal(t, []string{"*", "orders:read"}, dup.Key.Permissions, "patterns are stored canonical, once each")

	created := f.sink.OfType(audit.TypeAPIKeyCreated)
	require.Len(t, created, 2)
	assert.Equal(t, f.ann.ID, created[0].ActorUserID)
	assert.Equal(t, "apikey:"+k.Key.ID, created[0].Target)
	revoked := f.sink.OfType(audit.TypeAPIKeyRevoked)
	require.Len(t, revoked, 1)
	assert.Equal(t, f.ann.ID, revoked[0].ActorUserID)
	denied := f.sink.OfType(audit.TypeAPIKeyDenied)
	require.Len(t, denied, 1)
	assert.Equal(t, "revoked", denied[0].Reason)
	assert.Equal(t, keyClient.IP, denied[0].IP)
}

// countingKeys counts the API key store's reads and writes.
type countingKeys struct {
	apikey.Store
	gets, touches atomic.Int64
}

func (c *countingKeys) GetKey(ctx context.Context, id string) (*apikey.Key, error) {
	c.gets.Add(1)
	return c.Store.GetKey(ctx, id)
}

func (c *countingKeys) TouchKey(ctx context.Context, id string, at, notAfter time.Time) error {
	c.touches.Add(1)
	return c.Store.TouchKey(ctx, id, at, notAfter)
}

func TestAPIKeyAuthenticateIsOneReadAndLastUsedOncePerMinute(t *testing.T) {
	keys := &countingKeys{Store: apikey.Store(nil)}
	f := newKeyFixture(t, authv2.WithAPIKeyStore(keys))
	keys.Store = f.stores.APIKeys
	k := f.newKey(t, "orders:read")
	users := f.sessions.gets.Load()
	for i := range 10 {
		f.clock.Advance(10 * time.Second)
		_, err := f.m.Authenticate(t.Context(), k.Secret, keyClient)
		require.NoError(t, err, i)
	}
	assert.EqualValues(t, 10, keys.gets.Load(), "one key read per use")
	assert.Equal(t, users, f.sessions.gets.Load(), "no session read")
	// Uses at 10 s, 20 s ... 100 s: written at 10 s and 70 s.
	assert.EqualValues(t, 2, keys.touches.Load(), "last-used written at most once a minute")
	got, err := f.m.APIKey(t.Context(), k.Key.ID)
	require.NoError(t, err)
	assert.Equal(t, t0.Add(70*time.Second), got.LastUsedAt)
}

func TestAPIKeyExpires(t *testing.T) {
	f := newKeyFixture(t)
	k, err := f.m.CreateAPIKey(f.asAnn(t), authv2.CreateAPIKeyInput{Name: "short", Permissions: []string{"orders:read"},
		ExpiresAt: t0.Add(time.Hour)})
	require.NoError(t, err)
	_, err = f.m.Authenticate(t.Context(), k.Secret, keyClient)
	require.NoError(t, err)
	f.clock.Advance(time.Hour)
	_, err = f.m.Authenticate(t.Context(), k.Secret, keyClient)
	assert.ErrorIs(t, err, authv2.ErrAPIKeyExpired)
	assert.Equal(t, "expired", f.sink.OfType(audit.TypeAPIKeyDenied)[0].Reason)

	_, err = f.m.CreateAPIKey(f.asAnn(t), authv2.CreateAPIKeyInput{Name: "past", Permissions: []string{"orders:read"},
		ExpiresAt: f.clock.Now()})
	var ve *authv2.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.NotEmpty(t, ve.Field("ExpiresAt"))
}

// TestAPIKeysDieWithTheirOwner: every change that ends a user's sessions
// because of the account (the security stamp rotates) or the tenant ends
// the user's keys too; signing out everywhere does not.
func TestAPIKeysDieWithTheirOwner(t *testing.T) {
	changes := map[string]func(t *testing.T, f *keyFixture) error{
		"DisableUser": func(t *testing.T, f *keyFixture) error { return f.m.DisableUser(t.Context(), f.ann.ID) },
		"LockUser":    func(t *testing.T, f *keyFixture) error { return f.m.LockUser(t.Context(), f.ann.ID) },
		"DeleteUser":  func(t *testing.T, f *keyFixture) error { return f.m.DeleteUser(t.Context(), f.ann.ID) },
		"ChangePassword": func(t *testing.T, f *keyFixture) error {
			_, err := f.m.ChangePassword(t.Context(), f.sess, goodPassword, "a whole new passphrase 42")
			return err
		},
		"ChangeEmail": func(t *testing.T, f *keyFixture) error {
			_, err := f.m.ChangeEmail(t.Context(), f.sess, "ann2@example.com")
			return err
		},
		"RemoveMember": func(t *testing.T, f *keyFixture) error { return f.m.RemoveMember(t.Context(), "acme", f.ann.ID) },
		"DeleteTenant": func(t *testing.T, f *keyFixture) error { return f.m.DeleteTenant(t.Context(), "acme") },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			f := newKeyFixture(t)
			k := f.newKey(t, "orders:read")
			require.NoError(t, change(t, f))
			_, err := f.m.Authenticate(t.Context(), k.Secret, keyClient)
			assert.ErrorIs(t, err, authv2.ErrAPIKeyRevoked)
			ev := f.sink.OfType(audit.TypeAPIKeyRevoked)
			require.Len(t, ev, 1)
			assert.Equal(t, "apikey:"+k.Key.ID, ev[0].Target)
			if name == "LockUser" || name == "DisableUser" {
				require.NoError(t, f.m.UnlockUser(t.Context(), f.ann.ID))
				_, err = f.m.Authenticate(t.Context(), k.Secret, keyClient)
				assert.ErrorIs(t, err, authv2.ErrAPIKeyRevoked, "re-enabling the user does not revive a key")
			}
		})
	}
	t.Run("SignOutEverywhereKeepsKeys", func(t *testing.T) {
		f := newKeyFixture(t)
		k := f.newKey(t, "orders:read")
		_, err := f.m.RevokeSessions(t.Context(), f.ann.ID, authv2.RevokeOptions{})
		require.NoError(t, err)
		_, err = f.m.Authenticate(t.Context(), k.Secret, keyClient)
		assert.NoError(t, err)
	})
}

// racingUsers pauses CreateAPIKey's first read of the owner so that an
// account change can run in between.
type racingUsers struct {
	user.Store
	once  sync.Once
	pause func()
}

func (r *racingUsers) Get(ctx context.Context, id string) (*user.User, error) {
	u, err := r.Store.Get(ctx, id)
	if r.pause != nil {
		r.once.Do(r.pause)
	}
	return u, err
}

// TestNoAPIKeyOutlivesARacingAccountChange: a user disabled while their
// key is being created does not keep it, whichever comes first.
func TestNoAPIKeyOutlivesARacingAccountChange(t *testing.T) {
	users := &racingUsers{}
	f := newKeyFixture(t)
	users.Store = f.stores.Users
	m, err := authv2.New(authv2.WithClock(f.clock), authv2.WithConfig(authv2test.Config()), authv2.WithInsecurePasswordHashing(),
		authv2.WithUserStore(users), authv2.WithSessionStore(f.stores.Sessions), authv2.WithPermissionStore(f.stores.Permissions),
		authv2.WithAPIKeyStore(f.stores.APIKeys), authv2.WithLogger(discardLogger()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	users.pause = func() { require.NoError(t, f.m.DisableUser(t.Context(), f.ann.ID)) }
	_, err = m.CreateAPIKey(f.asAnn(t), authv2.CreateAPIKeyInput{Name: "race", Permissions: []string{"orders:read"}})
	require.ErrorIs(t, err, authv2.ErrConflict)
	keys, err := m.ListAPIKeys(t.Context(), apikey.KeyFilter{OwnerID: f.ann.ID})
	require.NoError(t, err)
	require.Len(t, keys, 1)
	assert.False(t, keys[0].Live(f.clock.Now()), "the key written after the disable is revoked by its creator")
}

func TestAPIKeyOfOneTenantIsRefusedInAnother(t *testing.T) {
	f := newKeyFixture(t)
	ctx := t.Context()
	// Ann is bound in globex too, so only the key's tenant stands between.
	require.NoError(t, f.m.Bind(ctx, permission.Binding{UserID: f.ann.ID, TenantID: "globex", Role: "clerk"}))
	k := f.newKey(t, "*")
	p, err := f.m.Authenticate(ctx, k.Secret, keyClient)
	require.NoError(t, err)
	d, err := f.m.Authorize(ctx, p, "read", keyOrder("globex"))
	require.NoError(t, err)
	assert.False(t, d.Allowed)
	assert.Equal(t, permission.ReasonCrossTenant, d.Reason)

	_, err = f.m.CreateAPIKey(f.asAnn(t), authv2.CreateAPIKeyInput{Name: "x", TenantID: "initech", Permissions: []string{"orders:read"}})
	assert.ErrorIs(t, err, authv2.ErrNotMember, "a key in a tenant the owner has no access to")
}

// TestAPIKeyNeverDoesMoreThanItsOwner: both the owner's policy (at the
// time of the check) and the key's patterns must allow.
func TestAPIKeyNeverDoesMoreThanItsOwner(t *testing.T) {
	f := newKeyFixture(t)
	ctx := t.Context()
	_, err := f.m.CreateAPIKey(f.asAnn(t), authv2.CreateAPIKeyInput{Name: "greedy", Permissions: []string{"orders:read", "users:delete"}})
	var ve *authv2.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Contains(t, ve.Field("Permissions"), "users:delete")

	k := f.newKey(t, "orders:*")
	p, err := f.m.Authenticate(ctx, k.Secret, keyClient)
	require.NoError(t, err)
	assert.True(t, f.m.Can(ctx, p, "write", keyOrder("acme")))
	assert.False(t, f.m.Can(ctx, p, "delete", keyOrder("acme")), "the key names orders:*, the owner holds no orders:delete")

	require.NoError(t, f.m.Unbind(ctx, permission.Binding{UserID: f.ann.ID, TenantID: "acme", Role: "clerk"}))
	d, err := f.m.Authorize(ctx, p, "read", keyOrder("acme"))
	require.NoError(t, err)
	assert.False(t, d.Allowed, "the owner lost the role: the key's orders:* grants nothing")
	assert.Equal(t, permission.ReasonNoMatch, d.Reason)
}

func TestAPIKeyCannotMintKeysOrChangeCredentials(t *testing.T) {
	f := newKeyFixture(t)
	k := f.newKey(t, "*")
	p, err := f.m.Authenticate(t.Context(), k.Secret, keyClient)
	require.NoError(t, err)
	_, err = f.m.CreateAPIKey(authv2.WithActor(t.Context(), p), authv2.CreateAPIKeyInput{Name: "child", Permissions: []string{"orders:read"}})
	assert.ErrorIs(t, err, authv2.ErrSessionRequired)
	_, err = f.m.ChangePassword(t.Context(), p, goodPassword, "another long passphrase")
	assert.ErrorIs(t, err, authv2.ErrSessionRequired)
	_, err = f.m.ChangeEmail(t.Context(), p, "evil@example.com")
	assert.ErrorIs(t, err, authv2.ErrSessionRequired)
	assert.Equal(t, http.StatusForbidden, authv2.ProblemFor(authv2.ErrSessionRequired).Status)
}

func TestServiceAccounts(t *testing.T) {
	f := newKeyFixture(t)
	ctx := f.asAnn(t)
	sa, err := f.m.CreateServiceAccount(ctx, "acme", "exporter", "nightly export")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(sa.ID, "sa_"))
	assert.Equal(t, f.ann.ID, sa.CreatedBy)

	_, err = f.m.CreateAPIKey(ctx, authv2.CreateAPIKeyInput{OwnerID: sa.ID, Name: "k", Permissions: []string{"orders:read"}})
	var ve *authv2.ValidationError
	require.ErrorAs(t, err, &ve, "a service account without roles holds nothing")

	require.NoError(t, f.m.Bind(ctx, permission.Binding{UserID: sa.ID, TenantID: "acme", Role: "clerk"}))
	err = f.m.Bind(ctx, permission.Binding{UserID: sa.ID, TenantID: "globex", Role: "clerk"})
	require.ErrorAs(t, err, &ve, "a service account is bound in its own tenant only")

	k, err := f.m.CreateAPIKey(ctx, authv2.CreateAPIKeyInput{OwnerID: sa.ID, Name: "k", Permissions: []string{"orders:read"}})
	require.NoError(t, err)
	assert.Equal(t, "acme", k.Key.TenantID)
	assert.Equal(t, apikey.OwnerServiceAccount, k.Key.OwnerKind)
	p, err := f.m.Authenticate(t.Context(), k.Secret, keyClient)
	require.NoError(t, err)
	assert.True(t, p.IsServiceAccount())
	assert.Equal(t, sa.ID, p.UserID)
	assert.True(t, f.m.Can(t.Context(), p, "read", keyOrder("acme")))

	list, err := f.m.ListServiceAccounts(t.Context(), "acme")
	require.NoError(t, err)
	require.Len(t, list, 1)

	require.NoError(t, f.m.DisableServiceAccount(ctx, sa.ID))
	_, err = f.m.Authenticate(t.Context(), k.Secret, keyClient)
	assert.ErrorIs(t, err, authv2.ErrAPIKeyRevoked)
	_, err = f.m.CreateAPIKey(ctx, authv2.CreateAPIKeyInput{OwnerID: sa.ID, Name: "k2", Permissions: []string{"orders:read"}})
	require.ErrorAs(t, err, &ve, "no key for a disabled account")
	require.NoError(t, f.m.EnableServiceAccount(ctx, sa.ID))
	_, err = f.m.Authenticate(t.Context(), k.Secret, keyClient)
	assert.ErrorIs(t, err, authv2.ErrAPIKeyRevoked, "enabling does not revive keys")

	k2, err := f.m.CreateAPIKey(ctx, authv2.CreateAPIKeyInput{OwnerID: sa.ID, Name: "k2", Permissions: []string{"orders:read"}})
	require.NoError(t, err)
	require.NoError(t, f.m.DeleteServiceAccount(ctx, sa.ID))
	_, err = f.m.Authenticate(t.Context(), k2.Secret, keyClient)
	assert.ErrorIs(t, err, authv2.ErrAPIKeyRevoked)
	_, err = f.m.ServiceAccount(t.Context(), sa.ID)
	assert.ErrorIs(t, err, authv2.ErrNotFound)
	bs, err := f.m.ListBindings(t.Context(), "acme", sa.ID)
	require.NoError(t, err)
	assert.Empty(t, bs)

	var actions []string
	for _, e := range f.sink.OfType(audit.TypeAdminChange) {
		if e.Target == "service_account:"+sa.ID {
			actions = append(actions, e.Attributes["action"])
			assert.Equal(t, f.ann.ID, e.ActorUserID)
		}
	}
	assert.Equal(t, []string{"service_account.create", "service_account.disable", "service_account.enable", "service_account.delete"}, actions)

	_, err = f.m.Login(t.Context(), authv2.LoginInput{Email: sa.ID, Password: "anything at all 123"})
	assert.ErrorIs(t, err, authv2.ErrInvalidCredentials, "a service account has no password")
}

// TestConcurrentRevocationsAndUses: once RevokeAPIKey (or RevokeAPIKeys)
// has returned, no use that starts afterwards succeeds, with hundreds of
// revocations racing hundreds of uses.
func TestConcurrentRevocationsAndUses(t *testing.T) {
	for _, b := range backends() {
		if b.name == "redis-cluster" || b.name == "redis" {
			continue // keys live in memory on these backends: the memory case covers them
		}
		t.Run(b.name, func(t *testing.T) {
			f := newKeyFixture(t, b.opts(t)...)
			const n = 200
			keys := make([]*authv2.CreatedAPIKey, n)
			for i := range keys {
				keys[i] = f.newKey(t, "orders:read")
			}
			var revoked [n]atomic.Bool
			var violations, uses atomic.Int64
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					if i%50 == 0 {
						return // a quarter of the revocations are the bulk one below
					}
					if assert.NoError(t, f.m.RevokeAPIKey(t.Context(), keys[i].Key.ID)) {
						revoked[i].Store(true)
					}
				})
				wg.Go(func() {
					for range 5 {
						was := revoked[i].Load()
						_, err := f.m.Authenticate(t.Context(), keys[i].Secret, keyClient)
						uses.Add(1)
						if was && err == nil {
							violations.Add(1)
						}
						if err != nil && !errors.Is(err, authv2.ErrAPIKeyRevoked) {
							t.Errorf("use: %v", err)
						}
					}
				})
			}
			wg.Wait()
			ids, err := f.m.RevokeAPIKeys(t.Context(), f.ann.ID, "")
			require.NoError(t, err)
			assert.Len(t, ids, n/50, "the bulk revocation ends exactly the keys still live")
			for i := range keys {
				_, err := f.m.Authenticate(t.Context(), keys[i].Secret, keyClient)
				assert.ErrorIs(t, err, authv2.ErrAPIKeyRevoked)
			}
			assert.Zero(t, violations.Load(), "a use after its key's revocation returned succeeded")
			assert.EqualValues(t, 5*n, uses.Load())
		})
	}
}

func TestAPIKeyHostileInput(t *testing.T) {
	f := newKeyFixture(t)
	k := f.newKey(t, "orders:read")
	body := k.Secret[5:]
	for name, tok := range map[string]string{
		"prefix only":      "av2k_",
		"short":            k.Secret[:len(k.Secret)-1],
		"long":             k.Secret + "A",
		"bad checksum":     k.Secret[:len(k.Secret)-2] + "zz",
		"session prefix":   "av2_" + body,
		"nul":              "av2k_" + strings.Repeat("\x00", 81),
		"unicode":          "av2k_" + strings.Repeat("é", 40) + "a",
		"huge":             "av2k_" + strings.Repeat("A", 1<<16),
		"spaces":           "av2k_ " + body[1:],
		"unknown id":       forgeKey(strings.Repeat("A", 32), k.Secret),
		"other key secret": forgeKey(k.Key.ID, f.newKey(t, "orders:read").Secret),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.m.Authenticate(t.Context(), tok, keyClient)
			require.Error(t, err)
			pr := authv2.ProblemFor(err)
			assert.Equal(t, http.StatusUnauthorized, pr.Status, "%v", err)
		})
	}
	ctx := f.asAnn(t)
	for name, in := range map[string]authv2.CreateAPIKeyInput{
		"no name":          {Permissions: []string{"orders:read"}},
		"no permissions":   {Name: "x"},
		"bad pattern":      {Name: "x", Permissions: []string{"Orders:READ"}},
		"too many":         {Name: "x", Permissions: strings.Split(strings.Repeat("orders:read,", 65), ",")[:65]},
		"bad scope":        {Name: "x", Permissions: []string{"orders:read"}, Scope: "region:eu/../x"},
		"nul in name":      {Name: "a\x00b", Permissions: []string{"orders:read"}},
		"control in owner": {OwnerID: "u\n1", Name: "x", Permissions: []string{"orders:read"}},
		"long name":        {Name: strings.Repeat("n", 201), Permissions: []string{"orders:read"}},
	} {
		t.Run("Create/"+name, func(t *testing.T) {
			_, err := f.m.CreateAPIKey(ctx, in)
			assert.ErrorIs(t, err, authv2.ErrValidation)
			assert.Equal(t, http.StatusBadRequest, authv2.ProblemFor(err).Status)
		})
	}
	_, err := f.m.CreateAPIKey(ctx, authv2.CreateAPIKeyInput{OwnerID: "nobody", TenantID: "acme", Name: "x", Permissions: []string{"orders:read"}})
	assert.ErrorIs(t, err, authv2.ErrNotFound)
	assert.ErrorIs(t, f.m.RevokeAPIKey(ctx, "nope"), authv2.ErrNotFound)
	_, err = f.m.ListAPIKeys(ctx, apikey.KeyFilter{})
	assert.ErrorIs(t, err, authv2.ErrValidation)
	_, err = f.m.CreateServiceAccount(ctx, "acme", " ", "")
	assert.ErrorIs(t, err, authv2.ErrValidation)
	_, err = f.m.CreateServiceAccount(ctx, "no-such-tenant", "bot", "")
	assert.ErrorIs(t, err, authv2.ErrNotFound)
}

// TestAPIKeyGuessingIsThrottled: a client whose keys keep failing is
// refused before any store read once its budget (IPLimit per IPWindow) is
// spent, even with a right key; other clients are not.
func TestAPIKeyGuessingIsThrottled(t *testing.T) {
	cfg := authv2test.Config()
	cfg.Throttle.IPLimit, cfg.Throttle.IPWindow = 5, time.Hour
	keys := &countingKeys{}
	f := newKeyFixture(t, authv2.WithConfig(cfg), authv2.WithAPIKeyStore(keys))
	keys.Store = f.stores.APIKeys
	k := f.newKey(t, "orders:read")
	guesser := session.ClientInfo{IP: "203.0.113.9"}
	wrong := forgeKey(k.Key.ID, f.newKey(t, "orders:read").Secret)
	var throttled int
	for range 8 {
		_, err := f.m.Authenticate(t.Context(), wrong, guesser)
		var te *authv2.ThrottledError
		if errors.As(err, &te) {
			throttled++
			assert.Positive(t, te.RetryAfter)
		} else {
			assert.ErrorIs(t, err, authv2.ErrUnauthenticated)
		}
	}
	assert.Equal(t, 2, throttled, "5 failures fit the budget, the 6th overspends it, then refused")
	reads := keys.gets.Load()
	_, err := f.m.Authenticate(t.Context(), k.Secret, guesser)
	assert.ErrorIs(t, err, authv2.ErrThrottled, "a blocked client is refused, right key or not")
	assert.Equal(t, reads, keys.gets.Load(), "without reading the key store")
	assert.Equal(t, http.StatusTooManyRequests, authv2.ProblemFor(err).Status)
	_, err = f.m.Authenticate(t.Context(), k.Secret, keyClient)
	assert.NoError(t, err, "another client is not affected")

	f.clock.Advance(time.Hour + time.Second)
	_, err = f.m.Authenticate(t.Context(), k.Secret, guesser)
	assert.NoError(t, err, "the block ends with the window")

	var reasons []string
	for _, e := range f.sink.OfType(audit.TypeAPIKeyDenied) {
		reasons = append(reasons, e.Reason)
	}
	assert.Equal(t, []string{"secret_mismatch", "secret_mismatch", "secret_mismatch", "secret_mismatch", "secret_mismatch",
		"secret_mismatch", "ip_throttled"}, reasons, "every failure audited, and the block once")
}

func TestAPIKeyUsesAuditedBySampling(t *testing.T) {
	for _, rate := range []float64{0, 1} {
		cfg := authv2test.Config()
		cfg.APIKeyUseAuditRate = rate
		f := newKeyFixture(t, authv2.WithConfig(cfg))
		k := f.newKey(t, "orders:read")
		for range 10 {
			_, err := f.m.Authenticate(t.Context(), k.Secret, keyClient)
			require.NoError(t, err)
		}
		used := f.sink.OfType(audit.TypeAPIKeyUsed)
		assert.Len(t, used, int(rate*10), "rate %v", rate)
		if len(used) > 0 {
			assert.Equal(t, f.ann.ID, used[0].ActorUserID)
			assert.Equal(t, keyClient.IP, used[0].IP)
		}
	}
	cfg := authv2test.Config()
	cfg.APIKeyUseAuditRate = 1.5
	_, err := authv2.New(authv2.WithConfig(cfg))
	assert.ErrorIs(t, err, authv2.ErrInvalidConfig)
}

func TestMiddlewareAcceptsAPIKeysAsBearerOnly(t *testing.T) {
	f := newKeyFixture(t)
	k := f.newKey(t, "orders:read")
	var got *authv2.Principal
	h := f.m.Middleware(authv2.RequireAuthentication())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = authv2.MustPrincipal(r.Context())
	}))
	do := func(set func(*http.Request)) int {
		got = nil
		r := httptest.NewRequest(http.MethodPost, "https://api.example.com/orders", nil)
		set(r)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	assert.Equal(t, http.StatusOK, do(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+k.Secret) }))
	require.NotNil(t, got)
	assert.Equal(t, k.Key.ID, got.APIKey.ID)
	assert.Equal(t, http.StatusUnauthorized, do(func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: authv2test.Config().HTTP.CookieName, Value: k.Secret})
		r.Header.Set("Origin", "https://api.example.com")
	}), "a key in a cookie is no credential")
	assert.Nil(t, got)
	assert.Equal(t, http.StatusUnauthorized, do(func(r *http.Request) { r.Header.Set("Authorization", "Bearer av2k_garbage") }))
	require.NoError(t, f.m.RevokeAPIKey(t.Context(), k.Key.ID))
	assert.Equal(t, http.StatusUnauthorized, do(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+k.Secret) }))
}

func TestAPIKeyStoreOutageFailsClosed(t *testing.T) {
	keys := &failingKeys{}
	f := newKeyFixture(t, authv2.WithAPIKeyStore(keys))
	keys.Store = f.stores.APIKeys
	k := f.newKey(t, "orders:read")
	keys.fail.Store(true)
	_, err := f.m.Authenticate(t.Context(), k.Secret, keyClient)
	assert.ErrorIs(t, err, authv2.ErrStoreUnavailable)
	assert.Equal(t, http.StatusServiceUnavailable, authv2.ProblemFor(err).Status)
}

// downKeys is an API key store that cannot be reached.
type downKeys struct{}

var errKeysDown = errors.New("dial tcp: connection refused")

func (downKeys) CreateKey(context.Context, *apikey.Key) error        { return errKeysDown }
func (downKeys) GetKey(context.Context, string) (*apikey.Key, error) { return nil, errKeysDown }
func (downKeys) ListKeys(context.Context, apikey.KeyFilter) ([]*apikey.Key, error) {
	return nil, errKeysDown
}
func (downKeys) TouchKey(context.Context, string, time.Time, time.Time) error { return errKeysDown }
func (downKeys) RevokeKey(context.Context, string, time.Time, string) error   { return errKeysDown }
func (downKeys) RevokeKeys(context.Context, apikey.KeyFilter, time.Time, string) ([]string, error) {
	return nil, errKeysDown
}
func (downKeys) CreateServiceAccount(context.Context, *apikey.ServiceAccount) error {
	return errKeysDown
}
func (downKeys) GetServiceAccount(context.Context, string) (*apikey.ServiceAccount, error) {
	return nil, errKeysDown
}
func (downKeys) ListServiceAccounts(context.Context, string) ([]*apikey.ServiceAccount, error) {
	return nil, errKeysDown
}
func (downKeys) SetServiceAccountDisabled(context.Context, string, bool, time.Time) (*apikey.ServiceAccount, error) {
	return nil, errKeysDown
}
func (downKeys) DeleteServiceAccount(context.Context, string) error { return errKeysDown }

// TestAPIKeyFlowsFailClosedOnAnOutage: every key and service-account
// flow answers ErrStoreUnavailable (503) without the driver's text, and
// an account change that ends keys reports the failure.
func TestAPIKeyFlowsFailClosedOnAnOutage(t *testing.T) {
	e := newEnv(t, authv2.WithAPIKeyStore(downKeys{}))
	u := e.register(t, "ann@example.com")
	ctx := t.Context()
	calls := map[string]func() error{
		"CreateAPIKey": func() error {
			_, err := e.m.CreateAPIKey(ctx, authv2.CreateAPIKeyInput{OwnerID: u.ID, TenantID: "acme", Name: "k", Permissions: []string{"*"}})
			return err
		},
		"APIKey":                func() error { _, err := e.m.APIKey(ctx, "k"); return err },
		"ListAPIKeys":           func() error { _, err := e.m.ListAPIKeys(ctx, apikey.KeyFilter{OwnerID: u.ID}); return err },
		"RevokeAPIKey":          func() error { return e.m.RevokeAPIKey(ctx, "k") },
		"RevokeAPIKeys":         func() error { _, err := e.m.RevokeAPIKeys(ctx, u.ID, ""); return err },
		"CreateServiceAccount":  func() error { _, err := e.m.CreateServiceAccount(ctx, "acme", "bot", ""); return err },
		"ServiceAccount":        func() error { _, err := e.m.ServiceAccount(ctx, "sa_1"); return err },
		"ListServiceAccounts":   func() error { _, err := e.m.ListServiceAccounts(ctx, "acme"); return err },
		"DisableServiceAccount": func() error { return e.m.DisableServiceAccount(ctx, "sa_1") },
		"DeleteServiceAccount":  func() error { return e.m.DeleteServiceAccount(ctx, "sa_1") },
		"Authenticate": func() error {
			_, err := e.m.Authenticate(ctx, forgeKey(strings.Repeat("A", 32), "av2k_"+strings.Repeat("A", 81)), keyClient)
			return err
		},
		"DisableUser": func() error { return e.m.DisableUser(ctx, u.ID) },
	}
	_, err := e.m.CreateTenant(ctx, "acme", "Acme")
	require.NoError(t, err)
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			assert.ErrorIs(t, err, authv2.ErrStoreUnavailable)
			assert.NotContains(t, err.Error(), "connection refused")
		})
	}
}

type failingKeys struct {
	apikey.Store
	fail atomic.Bool
}

func (f *failingKeys) GetKey(ctx context.Context, id string) (*apikey.Key, error) {
	if f.fail.Load() {
		return nil, errors.New("connection refused")
	}
	return f.Store.GetKey(ctx, id)
}

// forgeKey builds a well-formed key (its checksum right) from a key ID
// and another key's secret.
func forgeKey(id, other string) string {
	body := "av2k_" + id + other[5+32:5+32+43]
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE([]byte(body)))
	return body + base64.RawURLEncoding.EncodeToString(sum[:])
}

// A key that does not name a permission is denied as outside the key,
// whether the check comes alone or in a batch, even where a step-up rule
// covers the permission too: both paths refine the engine's allow in one
// order (the key's patterns, then the assurance).
func TestAPIKeyOutsidePatternsWinsOverStepUpAloneAndInBatch(t *testing.T) {
	cfg := authv2test.Config()
	cfg.MFA.StepUp = map[string]authv2.Assurance{"orders:write": {Level: mfa.AAL2}}
	f := newKeyFixture(t, authv2.WithConfig(cfg))
	k := f.newKey(t, "orders:read")
	p, err := f.m.Authenticate(t.Context(), k.Secret, keyClient)
	require.NoError(t, err)
	res := permission.Resource{Type: "orders", ID: "o1", TenantID: "acme"}

	d, err := f.m.AuthorizeRequest(t.Context(), p, "write", res, permission.Request{})
	require.NoError(t, err, "not a step-up: the key does not name the permission")
	assert.False(t, d.Allowed)
	assert.Equal(t, authv2.ReasonOutsideAPIKey, d.Reason)

	ds, err := f.m.AuthorizeBatch(t.Context(), p, []permission.Query{{Action: "write", Resource: res}}, permission.Request{})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	assert.Equal(t, d.Allowed, ds[0].Allowed)
	assert.Equal(t, d.Reason, ds[0].Reason)
}

// TestDeleteTenantDeletesItsServiceAccounts: a service account belongs to
// its tenant; deleting the tenant deletes it (keys, bindings, record), so
// a tenant later created under the same ID inherits no machine identity.
func TestDeleteTenantDeletesItsServiceAccounts(t *testing.T) {
	f := newKeyFixture(t)
	ctx := f.asAnn(t)
	sa, err := f.m.CreateServiceAccount(ctx, "acme", "exporter", "")
	require.NoError(t, err)
	unbound, err := f.m.CreateServiceAccount(ctx, "acme", "idle", "no binding, no key")
	require.NoError(t, err)
	other, err := f.m.CreateServiceAccount(ctx, "globex", "exporter", "")
	require.NoError(t, err)
	require.NoError(t, f.m.Bind(ctx, permission.Binding{UserID: sa.ID, TenantID: "acme", Role: "clerk"}))
	k, err := f.m.CreateAPIKey(ctx, authv2.CreateAPIKeyInput{OwnerID: sa.ID, Name: "k", Permissions: []string{"orders:read"}})
	require.NoError(t, err)

	require.NoError(t, f.m.DeleteTenant(t.Context(), "acme"))
	_, err = f.m.Authenticate(t.Context(), k.Secret, keyClient)
	assert.ErrorIs(t, err, authv2.ErrAPIKeyRevoked)
	for _, id := range []string{sa.ID, unbound.ID} {
		_, err = f.m.ServiceAccount(t.Context(), id)
		assert.ErrorIs(t, err, authv2.ErrNotFound, "service account %s outlived its tenant", id)
	}
	_, err = f.m.ServiceAccount(t.Context(), other.ID)
	assert.NoError(t, err, "another tenant's service account stays")

	_, err = f.m.CreateTenant(t.Context(), "acme", "Acme again")
	require.NoError(t, err)
	list, err := f.m.ListServiceAccounts(t.Context(), "acme")
	require.NoError(t, err)
	assert.Empty(t, list, "a new tenant under the old ID starts with no service account")
}

// TestExplainAgreesWithAuthorize: Explain's decision is Authorize's, after
// the Manager's own refinements: an API key's patterns, and the step-up
// rule a session short of the assurance fails.
func TestExplainAgreesWithAuthorize(t *testing.T) {
	cfg := authv2test.Config()
	cfg.MFA.StepUp = map[string]authv2.Assurance{"orders:write": {Level: mfa.AAL2}}
	f := newKeyFixture(t, authv2.WithConfig(cfg))
	k := f.newKey(t, "orders:read")
	key, err := f.m.Authenticate(t.Context(), k.Secret, keyClient)
	require.NoError(t, err)
	for _, c := range []struct {
		name   string
		p      *authv2.Principal
		action string
	}{
		{"key within its patterns", key, "read"},
		{"key outside its patterns", key, "write"},
		{"session short of the step-up", f.sess, "write"},
		{"session without step-up", f.sess, "read"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, _ := f.m.Authorize(t.Context(), c.p, c.action, keyOrder("acme"))
			x, err := f.m.Explain(t.Context(), c.p, c.action, keyOrder("acme"), permission.Request{})
			require.NoError(t, err)
			assert.Equal(t, d.Allowed, x.Decision.Allowed)
			assert.Equal(t, d.Effect, x.Decision.Effect)
			assert.Equal(t, d.Reason, x.Decision.Reason)
		})
	}
}

// An audit event made with an API key names the key (audit.AttrAPIKey),
// not only its owner: the decisions a key's calls got and the changes
// made with it. Two keys of one owner asking the same thing are two kinds
// of decision, folded apart.
func TestAPIKeyNamedInItsAuditEvents(t *testing.T) {
	f := newKeyFixture(t)
	ctx := t.Context()
	keys := []*authv2.CreatedAPIKey{f.newKey(t, "orders:read"), f.newKey(t, "orders:read")}
	for _, k := range keys {
		p, err := f.m.Authenticate(ctx, k.Secret, keyClient)
		require.NoError(t, err)
		for range 3 {
			d, err := f.m.Authorize(ctx, p, "delete", keyOrder("acme"))
			require.NoError(t, err)
			require.False(t, d.Allowed)
		}
		require.NoError(t, f.m.PutRole(authv2.WithActor(ctx, p), &permission.Role{TenantID: "acme", Name: "viewer-" + k.Key.ID,
			Grants: []permission.Grant{{Permission: "orders:read", Effect: permission.Allow}}}))
	}
	denied := map[string]int{}
	for _, e := range f.sink.OfType(audit.TypeAuthorizeDecision) {
		if e.Outcome == audit.Denied {
			denied[e.Attributes[audit.AttrAPIKey]] += audit.Weight(&e)
		}
	}
	assert.Equal(t, map[string]int{keys[0].Key.ID: 3, keys[1].Key.ID: 3}, denied)
	changed := map[string]string{}
	for _, e := range f.sink.OfType(audit.TypeAdminChange) {
		changed[e.Target] = e.Attributes[audit.AttrAPIKey]
	}
	for _, k := range keys {
		assert.Contains(t, changed, "role:viewer-"+k.Key.ID)
		assert.Equal(t, k.Key.ID, changed["role:viewer-"+k.Key.ID], "the change names the key it was made with")
	}
	// A session's events name no key.
	_, err := f.m.Authorize(ctx, f.sess, "delete", keyOrder("acme"))
	require.NoError(t, err)
	for _, e := range f.sink.OfType(audit.TypeAuthorizeDecision) {
		if e.ActorSessionID != "" {
			assert.NotContains(t, e.Attributes, audit.AttrAPIKey)
		}
	}
}
