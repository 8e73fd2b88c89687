package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

// runDomainStore runs the permission.DomainStore cases, grouped by method
// (a part of RunPermissionStore).
func runDomainStore(t *testing.T, newStore PermissionStoreFactory) {
	method(t, "CreateDomain", newStore, domainCreate)
	method(t, "ListDomains", newStore, domainList)
	method(t, "VerifyDomain", newStore, domainVerify)
	method(t, "DeleteDomain", newStore, domainDelete)
	method(t, "JoinDomain", newStore, domainJoin)
}

// withDomainTenants returns a store holding the tenants and a template
// role "viewer" every tenant resolves.
func withDomainTenants(t *testing.T, newStore PermissionStoreFactory, tenants ...string) permission.Store {
	t.Helper()
	s := withTenants(t, newStore, tenants...)
	require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: permission.GlobalTenant, Name: "viewer",
		Grants: []permission.Grant{{Permission: "docs:read", Effect: permission.Allow}}, CreatedAt: base, UpdatedAt: base}))
	return s
}

func claim(tenantID, domain string) *permission.TenantDomain {
	return &permission.TenantDomain{TenantID: tenantID, Domain: domain, Role: "viewer", Scope: "region:eu",
		Token: "tok-" + tenantID, CreatedBy: "admin-" + tenantID, CreatedAt: base}
}

// verifyClaim stores a claim of the tenant and verifies it.
func verifyClaim(t *testing.T, s permission.Store, tenantID, domain string) *permission.TenantDomain {
	t.Helper()
	require.NoError(t, s.CreateDomain(ctx(t), claim(tenantID, domain)))
	d, err := s.VerifyDomain(ctx(t), tenantID, domain, "admin-"+tenantID, base, func(*permission.TenantDomain) error { return nil })
	require.NoError(t, err)
	return d
}

func anyClaim(*permission.TenantDomain) error { return nil }

func domainCreate(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := withDomainTenants(t, newStore, "t1")
		want := claim("t1", "example.com")
		require.NoError(t, s.CreateDomain(ctx(t), want))
		got, err := s.GetDomain(ctx(t), "t1", "example.com")
		require.NoError(t, err)
		assertTimeEqual(t, want.CreatedAt, got.CreatedAt)
		assert.False(t, got.Verified())
		got.CreatedAt = want.CreatedAt
		assert.Equal(t, want, got)
		_, err = s.GetDomain(ctx(t), "t1", "other.example")
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.GetDomain(ctx(t), "t2", "example.com")
		assert.ErrorIs(t, err, store.ErrNotFound, "another tenant's view")
	})
	t.Run("DuplicateAndMissingTenant", func(t *testing.T) {
		t.Parallel()
		s := withDomainTenants(t, newStore, "t1")
		require.NoError(t, s.CreateDomain(ctx(t), claim("t1", "example.com")))
		assert.ErrorIs(t, s.CreateDomain(ctx(t), claim("t1", "example.com")), store.ErrConflict)
		assert.ErrorIs(t, s.CreateDomain(ctx(t), claim("nope", "example.com")), store.ErrNotFound)
	})
	t.Run("ManyTenantsMayClaimOneDomain", func(t *testing.T) {
		t.Parallel()
		// A pending claim blocks nobody: otherwise any tenant could squat
		// a domain it cannot prove.
		s := withDomainTenants(t, newStore, "t1", "t2")
		verifyClaim(t, s, "t1", "example.com")
		require.NoError(t, s.CreateDomain(ctx(t), claim("t2", "example.com")))
	})
	t.Run("GoWithTheirTenant", func(t *testing.T) {
		t.Parallel()
		s := withDomainTenants(t, newStore, "t1", "t2")
		verifyClaim(t, s, "t1", "example.com")
		require.NoError(t, s.DeleteTenant(ctx(t), "t1"))
		_, err := s.GetDomain(ctx(t), "t1", "example.com")
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, _, err = s.JoinDomain(ctx(t), "example.com", "u1", base)
		assert.ErrorIs(t, err, store.ErrNotFound)
		verifyClaim(t, s, "t2", "example.com") // the domain is free again
	})
}

func domainList(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("OrderedByDomainWithinTheTenant", func(t *testing.T) {
		t.Parallel()
		s := withDomainTenants(t, newStore, "t1", "t2")
		for _, d := range []string{"c.example", "a.example", "b.example"} {
			require.NoError(t, s.CreateDomain(ctx(t), claim("t1", d)))
		}
		require.NoError(t, s.CreateDomain(ctx(t), claim("t2", "a.example")))
		got, err := s.ListDomains(ctx(t), "t1")
		require.NoError(t, err)
		names := make([]string, len(got))
		for i, d := range got {
			names[i] = d.Domain
			assert.Equal(t, "t1", d.TenantID)
		}
		assert.Equal(t, []string{"a.example", "b.example", "c.example"}, names)
		none, err := s.ListDomains(ctx(t), "nope")
		require.NoError(t, err)
		assert.Empty(t, none)
	})
}

func domainVerify(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("MarksVerified", func(t *testing.T) {
		t.Parallel()
		s := withDomainTenants(t, newStore, "t1")
		require.NoError(t, s.CreateDomain(ctx(t), claim("t1", "example.com")))
		later := base.Add(time.Minute)
		d, err := s.VerifyDomain(ctx(t), "t1", "example.com", "u9", later, anyClaim)
		require.NoError(t, err)
		assert.True(t, d.Verified())
		assertTimeEqual(t, later, d.VerifiedAt)
		assert.Equal(t, "u9", d.VerifiedBy)
		got, err := s.GetDomain(ctx(t), "t1", "example.com")
		require.NoError(t, err)
		assertTimeEqual(t, later, got.VerifiedAt)
		_, err = s.VerifyDomain(ctx(t), "t1", "nope.example", "u9", later, anyClaim)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("RefusalWritesNothing", func(t *testing.T) {
		t.Parallel()
		s := withDomainTenants(t, newStore, "t1")
		require.NoError(t, s.CreateDomain(ctx(t), claim("t1", "example.com")))
		boom := errors.New("boom")
		var seen *permission.TenantDomain
		_, err := s.VerifyDomain(ctx(t), "t1", "example.com", "u9", base, func(d *permission.TenantDomain) error {
			seen = d
			return boom
		})
		assert.ErrorIs(t, err, boom)
		require.NotNil(t, seen)
		assert.Equal(t, "tok-t1", seen.Token, "check sees the stored claim")
		got, err := s.GetDomain(ctx(t), "t1", "example.com")
		require.NoError(t, err)
		assert.False(t, got.Verified())
	})
	t.Run("SecondTenantConflicts", func(t *testing.T) {
		t.Parallel()
		s := withDomainTenants(t, newStore, "t1", "t2")
		verifyClaim(t, s, "t1", "example.com")
		require.NoError(t, s.CreateDomain(ctx(t), claim("t2", "example.com")))
		_, err := s.VerifyDomain(ctx(t), "t2", "example.com", "u2", base, anyClaim)
		assert.ErrorIs(t, err, store.ErrConflict)
		got, err := s.GetDomain(ctx(t), "t2", "example.com")
		require.NoError(t, err)
		assert.False(t, got.Verified(), "the loser stays unverified")
		_, err = s.VerifyDomain(ctx(t), "t1", "example.com", "u1", base, anyClaim)
		assert.NoError(t, err, "the holder may verify again")
		_, err = s.DeleteDomain(ctx(t), "t1", "example.com")
		require.NoError(t, err)
		_, err = s.VerifyDomain(ctx(t), "t2", "example.com", "u2", base, anyClaim)
		assert.NoError(t, err, "free once the holder removed it")
	})
	t.Run("ConcurrentTenantsOneWins", func(t *testing.T) {
		t.Parallel()
		const n = 200
		tenants := make([]string, n)
		for i := range tenants {
			tenants[i] = fmt.Sprintf("t%03d", i)
		}
		s := withDomainTenants(t, newStore, tenants...)
		for _, id := range tenants {
			require.NoError(t, s.CreateDomain(ctx(t), claim(id, "example.com")))
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i, id := range tenants {
			wg.Go(func() {
				_, errs[i] = s.VerifyDomain(context.WithoutCancel(ctx(t)), id, "example.com", "admin", base, anyClaim)
			})
		}
		wg.Wait()
		won, winner := 0, ""
		for i, err := range errs {
			if err == nil {
				won++
				winner = tenants[i]
				continue
			}
			assert.ErrorIs(t, err, store.ErrConflict)
		}
		require.Equal(t, 1, won, "exactly one tenant verifies the domain")
		verifiedCount := 0
		for _, id := range tenants {
			d, err := s.GetDomain(ctx(t), id, "example.com")
			require.NoError(t, err)
			if d.Verified() {
				verifiedCount++
				assert.Equal(t, winner, id)
			}
		}
		assert.Equal(t, 1, verifiedCount)
		d, _, err := s.JoinDomain(ctx(t), "example.com", "u1", base)
		require.NoError(t, err)
		assert.Equal(t, winner, d.TenantID)
	})
}

func domainDelete(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("RemovesAndReturns", func(t *testing.T) {
		t.Parallel()
		s := withDomainTenants(t, newStore, "t1", "t2")
		verifyClaim(t, s, "t1", "example.com")
		require.NoError(t, s.CreateDomain(ctx(t), claim("t2", "example.com")))
		d, err := s.DeleteDomain(ctx(t), "t1", "example.com")
		require.NoError(t, err)
		assert.Equal(t, "tok-t1", d.Token)
		assert.True(t, d.Verified())
		_, err = s.DeleteDomain(ctx(t), "t1", "example.com")
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.GetDomain(ctx(t), "t2", "example.com")
		assert.NoError(t, err, "another tenant's claim stays")
		_, _, err = s.JoinDomain(ctx(t), "example.com", "u1", base)
		assert.ErrorIs(t, err, store.ErrNotFound, "no verified claim left")
	})
}

func domainJoin(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("OnlyThroughAVerifiedClaim", func(t *testing.T) {
		t.Parallel()
		s := withDomainTenants(t, newStore, "t1", "t2")
		require.NoError(t, s.CreateDomain(ctx(t), claim("t1", "example.com")))
		require.NoError(t, s.CreateDomain(ctx(t), claim("t2", "example.com")))
		d, _, err := s.JoinDomain(ctx(t), "example.com", "u1", base)
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.Nil(t, d)
		_, _, err = s.JoinDomain(ctx(t), "sub.example.com", "u1", base)
		assert.ErrorIs(t, err, store.ErrNotFound)
		ms, err := s.ListMemberships(ctx(t), "u1")
		require.NoError(t, err)
		assert.Empty(t, ms)
	})
	t.Run("JoinsWithTheRoleInOneStep", func(t *testing.T) {
		t.Parallel()
		s := withDomainTenants(t, newStore, "t1")
		verifyClaim(t, s, "t1", "example.com")
		v0, err := s.Version(ctx(t), "t1")
		require.NoError(t, err)
		later := base.Add(time.Hour)
		d, joined, err := s.JoinDomain(ctx(t), "example.com", "u1", later)
		require.NoError(t, err)
		assert.True(t, joined)
		assert.Equal(t, "t1", d.TenantID)
		ms, err := s.ListMemberships(ctx(t), "u1")
		require.NoError(t, err)
		require.Len(t, ms, 1)
		assertTimeEqual(t, later, ms[0].CreatedAt)
		assertClaimBinding(t, s, "u1")
		v1, err := s.Version(ctx(t), "t1")
		require.NoError(t, err)
		assert.Greater(t, v1, v0, "a binding was added: version bumped")
	})
	t.Run("MemberWithBindingsIsLeftAlone", func(t *testing.T) {
		t.Parallel()
		s := withDomainTenants(t, newStore, "t1")
		verifyClaim(t, s, "t1", "example.com")
		require.NoError(t, s.AddMember(ctx(t), permission.Membership{TenantID: "t1", UserID: "u1", CreatedAt: base}))
		require.NoError(t, s.PutBinding(ctx(t), permission.Binding{TenantID: "t1", UserID: "u1", Role: "viewer", CreatedAt: base}))
		_, joined, err := s.JoinDomain(ctx(t), "example.com", "u1", base.Add(time.Hour))
		require.NoError(t, err)
		assert.False(t, joined)
		bs, err := s.ListBindings(ctx(t), "t1", "u1")
		require.NoError(t, err)
		require.Len(t, bs, 1, "a member's roles are the admins' business")
		assert.Empty(t, bs[0].Scope, "the claim's scope was not added")
		_, joined, err = s.JoinDomain(ctx(t), "example.com", "u2", base)
		require.NoError(t, err)
		assert.True(t, joined)
		_, joined, err = s.JoinDomain(ctx(t), "example.com", "u2", base)
		require.NoError(t, err)
		assert.False(t, joined, "idempotent")
	})
	t.Run("MemberWithoutBindingsGetsTheRole", func(t *testing.T) {
		t.Parallel()
		s := withDomainTenants(t, newStore, "t1")
		verifyClaim(t, s, "t1", "example.com")
		// A bare membership (a registration with a tenant, a binding
		// removed) grants nothing: the claim's binding is what the
		// verified address is worth.
		require.NoError(t, s.AddMember(ctx(t), permission.Membership{TenantID: "t1", UserID: "u1", CreatedAt: base}))
		_, joined, err := s.JoinDomain(ctx(t), "example.com", "u1", base.Add(time.Hour))
		require.NoError(t, err)
		assert.True(t, joined)
		assertClaimBinding(t, s, "u1")
		ms, err := s.ListMemberships(ctx(t), "u1")
		require.NoError(t, err)
		require.Len(t, ms, 1)
		assertTimeEqual(t, base, ms[0].CreatedAt) // the membership is kept as it was
	})
	t.Run("MissingRoleWritesNothing", func(t *testing.T) {
		t.Parallel()
		s := withDomainTenants(t, newStore, "t1")
		d := claim("t1", "example.com")
		d.Role = "gone"
		require.NoError(t, s.CreateDomain(ctx(t), d))
		_, err := s.VerifyDomain(ctx(t), "t1", "example.com", "admin", base, anyClaim)
		require.NoError(t, err)
		got, _, err := s.JoinDomain(ctx(t), "example.com", "u1", base)
		assert.ErrorIs(t, err, store.ErrNotFound)
		require.NotNil(t, got, "the claim, to tell a missing role from no claim")
		assert.Equal(t, "gone", got.Role)
		ms, err := s.ListMemberships(ctx(t), "u1")
		require.NoError(t, err)
		assert.Empty(t, ms, "no membership without its binding")
	})
	t.Run("ConcurrentWithRemovalIsAllOrNothing", func(t *testing.T) {
		t.Parallel()
		s := withDomainTenants(t, newStore, "t1")
		verifyClaim(t, s, "t1", "example.com")
		const n = 100
		var wg sync.WaitGroup
		joined := make([]bool, n)
		errs := make([]error, n)
		var started atomic.Int32
		for i := range n {
			wg.Go(func() {
				started.Add(1)
				_, joined[i], errs[i] = s.JoinDomain(context.WithoutCancel(ctx(t)), "example.com", fmt.Sprintf("u%03d", i), base)
			})
		}
		for started.Load() < n/2 {
			time.Sleep(time.Millisecond)
		}
		_, err := s.DeleteDomain(ctx(t), "t1", "example.com")
		require.NoError(t, err)
		_, _, err = s.JoinDomain(ctx(t), "example.com", "late", base)
		assert.ErrorIs(t, err, store.ErrNotFound, "no join once the removal returned")
		wg.Wait()
		for i := range n {
			user := fmt.Sprintf("u%03d", i)
			ms, err := s.ListMemberships(ctx(t), user)
			require.NoError(t, err)
			bs, err := s.ListBindings(ctx(t), "t1", user)
			require.NoError(t, err)
			if errs[i] == nil {
				assert.True(t, joined[i])
				assert.Len(t, ms, 1, user)
				assert.Len(t, bs, 1, user)
				continue
			}
			assert.ErrorIs(t, errs[i], store.ErrNotFound)
			assert.Empty(t, ms, user)
			assert.Empty(t, bs, user)
		}
	})
}

// assertClaimBinding checks that the user holds exactly claim's binding
// in t1: viewer at region:eu, without expiry.
func assertClaimBinding(t *testing.T, s permission.Store, userID string) {
	t.Helper()
	bs, err := s.ListBindings(ctx(t), "t1", userID)
	require.NoError(t, err)
	require.Len(t, bs, 1)
	assert.Equal(t, "viewer", bs[0].Role)
	assert.Equal(t, "region:eu", bs[0].Scope)
	assert.True(t, bs[0].ExpiresAt.IsZero())
}
