package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
)

// runMemberStore runs the permission.MemberStore cases, grouped by method
// (a part of RunPermissionStore).
func runMemberStore(t *testing.T, newStore PermissionStoreFactory) {
	method(t, "ListMemberPage", newStore, memberListPage)
	method(t, "UpdateMember", newStore, memberUpdate)
	method(t, "CreateInvitation", newStore, invitationCreate)
	method(t, "ListInvitations", newStore, invitationList)
	method(t, "UpdateInvitation", newStore, invitationUpdate)
	method(t, "AcceptInvitation", newStore, invitationAccept)
}

// withRoles returns a store holding tenant t1 with roles owner and viewer.
func withRoles(t *testing.T, newStore PermissionStoreFactory) permission.Store {
	t.Helper()
	s := withTenants(t, newStore, "t1")
	for _, name := range []string{permission.OwnerRole, "viewer"} {
		require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: "t1", Name: name,
			Grants: []permission.Grant{{Permission: "docs:read", Effect: permission.Allow}}, CreatedAt: base, UpdatedAt: base}))
	}
	return s
}

func bind(t *testing.T, s permission.Store, user, role, scope string) {
	t.Helper()
	require.NoError(t, s.PutBinding(ctx(t), permission.Binding{TenantID: "t1", UserID: user, Role: role, Scope: scope, CreatedAt: base}))
}

func ownerCount(t *testing.T, s permission.Store) int {
	t.Helper()
	bs, err := s.ListBindings(ctx(t), "t1", "")
	require.NoError(t, err)
	return permission.CountOwners(bs)
}

func memberListPage(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("PagesByUserWithBindings", func(t *testing.T) {
		t.Parallel()
		s := withRoles(t, newStore)
		for _, u := range []string{"u3", "u1", "u2"} {
			require.NoError(t, s.AddMember(ctx(t), permission.Membership{TenantID: "t1", UserID: u, CreatedAt: base}))
		}
		bind(t, s, "u2", "viewer", "region:eu")
		bind(t, s, "u2", permission.OwnerRole, "")
		bind(t, s, "u9", "viewer", "") // bound, not a member: not listed
		page, err := s.ListMemberPage(ctx(t), "t1", "", 2)
		require.NoError(t, err)
		require.Len(t, page, 2)
		assert.Equal(t, []string{"u1", "u2"}, []string{page[0].UserID, page[1].UserID})
		assert.True(t, page[0].IsMember)
		assertTimeEqual(t, base, page[0].JoinedAt)
		assert.Empty(t, page[0].Bindings)
		require.Len(t, page[1].Bindings, 2)
		assert.Equal(t, permission.OwnerRole, page[1].Bindings[0].Role, "ordered by role")
		assert.True(t, page[1].Owner())
		rest, err := s.ListMemberPage(ctx(t), "t1", "u2", 2)
		require.NoError(t, err)
		require.Len(t, rest, 1)
		assert.Equal(t, "u3", rest[0].UserID)
		none, err := s.ListMemberPage(ctx(t), "nope", "", 10)
		require.NoError(t, err)
		assert.Empty(t, none)
	})
}

func memberUpdate(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("ReplacesBindingsAndMembership", func(t *testing.T) {
		t.Parallel()
		s := withRoles(t, newStore)
		require.NoError(t, s.AddMember(ctx(t), permission.Membership{TenantID: "t1", UserID: "u1", CreatedAt: base}))
		bind(t, s, "u1", "viewer", "")
		v0, err := s.Version(ctx(t), "t1")
		require.NoError(t, err)
		later := base.Add(time.Hour)
		before, after, err := s.UpdateMember(ctx(t), "t1", "u1", func(m *permission.Member) error {
			m.Bindings = append(m.Bindings, permission.Binding{TenantID: "t1", UserID: "u1", Role: "viewer", Scope: "region:eu", CreatedAt: later})
			return nil
		})
		require.NoError(t, err)
		assert.Len(t, before.Bindings, 1)
		require.Len(t, after.Bindings, 2)
		assertTimeEqual(t, base, after.Bindings[0].CreatedAt) // the kept binding keeps its time
		v1, err := s.Version(ctx(t), "t1")
		require.NoError(t, err)
		assert.Greater(t, v1, v0, "bindings changed: version bumped")

		_, after, err = s.UpdateMember(ctx(t), "t1", "u1", func(m *permission.Member) error {
			m.IsMember, m.Bindings = false, nil
			return nil
		})
		require.NoError(t, err)
		assert.False(t, after.IsMember)
		assert.Empty(t, after.Bindings)
		ms, err := s.ListMemberships(ctx(t), "u1")
		require.NoError(t, err)
		assert.Empty(t, ms)
		_, _, err = s.UpdateMember(ctx(t), "t1", "u1", func(*permission.Member) error { return nil })
		assert.ErrorIs(t, err, store.ErrNotFound, "gone: neither membership nor binding")
	})
	t.Run("RefusalWritesNothing", func(t *testing.T) {
		t.Parallel()
		s := withRoles(t, newStore)
		bind(t, s, "u1", "viewer", "")
		boom := errors.New("boom")
		_, _, err := s.UpdateMember(ctx(t), "t1", "u1", func(m *permission.Member) error {
			m.Bindings = nil
			return boom
		})
		assert.ErrorIs(t, err, boom)
		_, _, err = s.UpdateMember(ctx(t), "t1", "u1", func(m *permission.Member) error {
			m.Bindings = []permission.Binding{{TenantID: "t1", UserID: "u1", Role: "nosuch"}}
			return nil
		})
		assert.ErrorIs(t, err, store.ErrNotFound, "a role that does not exist")
		bs, err := s.ListBindings(ctx(t), "t1", "u1")
		require.NoError(t, err)
		assert.Len(t, bs, 1)
	})
	t.Run("KeepsTheLastOwner", func(t *testing.T) {
		t.Parallel()
		s := withRoles(t, newStore)
		bind(t, s, "u1", permission.OwnerRole, "")
		bind(t, s, "u2", permission.OwnerRole, "region:eu") // scoped: not an owner
		drop := func(m *permission.Member) error { m.IsMember, m.Bindings = false, nil; return nil }
		_, _, err := s.UpdateMember(ctx(t), "t1", "u1", drop)
		assert.ErrorIs(t, err, permission.ErrLastOwner)
		_, _, err = s.UpdateMember(ctx(t), "t1", "u1", func(m *permission.Member) error {
			m.Bindings[0].ExpiresAt = base.Add(time.Hour) // an expiring owner binding is no owner
			return nil
		})
		assert.ErrorIs(t, err, permission.ErrLastOwner)
		_, _, err = s.UpdateMember(ctx(t), "t1", "u2", drop)
		require.NoError(t, err, "the scoped binding was no owner")
		bind(t, s, "u3", permission.OwnerRole, "")
		_, _, err = s.UpdateMember(ctx(t), "t1", "u1", drop)
		require.NoError(t, err, "another owner remains")
		assert.Equal(t, 1, ownerCount(t, s))
	})
	t.Run("TenantWithoutOwnersIsFree", func(t *testing.T) {
		t.Parallel()
		s := withRoles(t, newStore)
		bind(t, s, "u1", "viewer", "")
		_, _, err := s.UpdateMember(ctx(t), "t1", "u1", func(m *permission.Member) error { m.Bindings = nil; return nil })
		require.NoError(t, err, "the invariant guards tenants that have an owner")
	})
	t.Run("ConcurrentRemovalsKeepOneOwner", func(t *testing.T) {
		t.Parallel()
		// Every owner tries to step down at once: exactly one must stay.
		// (TestConcurrentRemovalsKeepAnOwnerOnEveryBackend in the root
		// package runs 200 through the Manager.)
		const n = 100
		s := withRoles(t, newStore)
		for i := range n {
			bind(t, s, fmt.Sprintf("u%03d", i), permission.OwnerRole, "")
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		refused := 0
		for i := range n {
			wg.Go(func() {
				_, _, err := s.UpdateMember(ctx(t), "t1", fmt.Sprintf("u%03d", i), func(m *permission.Member) error {
					m.Bindings = nil
					return nil
				})
				if errors.Is(err, permission.ErrLastOwner) {
					mu.Lock()
					refused++
					mu.Unlock()
				} else {
					assert.NoError(t, err)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, 1, refused)
		assert.Equal(t, 1, ownerCount(t, s))
	})
	t.Run("ConcurrentRemovalsOfTwoOwnersKeepOne", func(t *testing.T) {
		t.Parallel()
		// In each of many tenants at once, two admins remove the last two
		// owners at the same moment: one removal wins, the other is
		// refused, in every tenant.
		const tenants = 50
		s := newStore(t)
		require.NoError(t, s.PutRole(ctx(t), &permission.Role{TenantID: permission.GlobalTenant, Name: permission.OwnerRole,
			Grants: []permission.Grant{{Permission: "*", Effect: permission.Allow}}, CreatedAt: base, UpdatedAt: base}))
		for i := range tenants {
			id := fmt.Sprintf("t%02d", i)
			require.NoError(t, s.CreateTenant(ctx(t), &permission.Tenant{ID: id, Name: id, CreatedAt: base}))
			for _, u := range []string{"a", "b"} {
				require.NoError(t, s.PutBinding(ctx(t), permission.Binding{TenantID: id, UserID: u, Role: permission.OwnerRole, CreatedAt: base}))
			}
		}
		errs := make([][2]error, tenants)
		var wg sync.WaitGroup
		for i := range tenants {
			for j, u := range []string{"a", "b"} {
				wg.Go(func() {
					_, _, errs[i][j] = s.UpdateMember(ctx(t), fmt.Sprintf("t%02d", i), u, func(m *permission.Member) error {
						m.IsMember, m.Bindings = false, nil
						return nil
					})
				})
			}
		}
		wg.Wait()
		for i, e := range errs {
			bs, err := s.ListBindings(ctx(t), fmt.Sprintf("t%02d", i), "")
			require.NoError(t, err)
			assert.Equal(t, 1, permission.CountOwners(bs), "tenant %d: %v", i, e)
			assert.True(t, (e[0] == nil) != (e[1] == nil), "tenant %d: one wins, one is refused: %v", i, e)
			for _, err := range e {
				if err != nil {
					assert.ErrorIs(t, err, permission.ErrLastOwner)
				}
			}
		}
	})
}

func invitation(id, tenant string) *permission.Invitation {
	return &permission.Invitation{ID: id, TenantID: tenant, Email: "Ann@Example.com", Role: "viewer", Scope: "region:eu",
		TokenHash: []byte("0123456789abcdef0123456789abcdef"), Status: permission.InvitationPending, InvitedBy: "boss",
		CreatedAt: base, UpdatedAt: base, ExpiresAt: base.Add(time.Hour)}
}

func invitationCreate(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := withRoles(t, newStore)
		want := invitation("i1", "t1")
		require.NoError(t, s.CreateInvitation(ctx(t), want))
		got, err := s.GetInvitation(ctx(t), "i1")
		require.NoError(t, err)
		assertTimeEqual(t, want.ExpiresAt, got.ExpiresAt)
		assertTimeEqual(t, want.CreatedAt, got.CreatedAt)
		got.CreatedAt, got.UpdatedAt, got.ExpiresAt = want.CreatedAt, want.UpdatedAt, want.ExpiresAt
		assert.Equal(t, want, got)
		_, err = s.GetInvitation(ctx(t), "nope")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DuplicateAndMissingTenant", func(t *testing.T) {
		t.Parallel()
		s := withRoles(t, newStore)
		require.NoError(t, s.CreateInvitation(ctx(t), invitation("i1", "t1")))
		assert.ErrorIs(t, s.CreateInvitation(ctx(t), invitation("i1", "t1")), store.ErrConflict)
		assert.ErrorIs(t, s.CreateInvitation(ctx(t), invitation("i2", "nope")), store.ErrNotFound)
	})
	t.Run("GoWithTheirTenant", func(t *testing.T) {
		t.Parallel()
		s := withRoles(t, newStore)
		require.NoError(t, s.CreateInvitation(ctx(t), invitation("i1", "t1")))
		require.NoError(t, s.DeleteTenant(ctx(t), "t1"))
		_, err := s.GetInvitation(ctx(t), "i1")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

func invitationList(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("PagesByIDWithinTheTenant", func(t *testing.T) {
		t.Parallel()
		s := withTenants(t, newStore, "t1", "t2")
		for _, id := range []string{"i3", "i1", "i2"} {
			require.NoError(t, s.CreateInvitation(ctx(t), invitation(id, "t1")))
		}
		require.NoError(t, s.CreateInvitation(ctx(t), invitation("i0", "t2")))
		page, err := s.ListInvitations(ctx(t), "t1", "", 2)
		require.NoError(t, err)
		require.Len(t, page, 2)
		assert.Equal(t, []string{"i1", "i2"}, []string{page[0].ID, page[1].ID})
		rest, err := s.ListInvitations(ctx(t), "t1", "i2", 2)
		require.NoError(t, err)
		require.Len(t, rest, 1)
		assert.Equal(t, "i3", rest[0].ID)
	})
}

func invitationUpdate(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("ReadModifyWrite", func(t *testing.T) {
		t.Parallel()
		s := withRoles(t, newStore)
		require.NoError(t, s.CreateInvitation(ctx(t), invitation("i1", "t1")))
		later := base.Add(time.Minute)
		got, err := s.UpdateInvitation(ctx(t), "i1", func(inv *permission.Invitation) error {
			inv.TokenHash, inv.ExpiresAt, inv.UpdatedAt = []byte("another hash of thirty-two bytes"), later.Add(time.Hour), later
			inv.TenantID = "t2" // ignored
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, "t1", got.TenantID)
		read, err := s.GetInvitation(ctx(t), "i1")
		require.NoError(t, err)
		assert.Equal(t, []byte("another hash of thirty-two bytes"), read.TokenHash)
		assertTimeEqual(t, later.Add(time.Hour), read.ExpiresAt)

		boom := errors.New("boom")
		_, err = s.UpdateInvitation(ctx(t), "i1", func(inv *permission.Invitation) error {
			inv.Status = permission.InvitationRevoked
			return boom
		})
		assert.ErrorIs(t, err, boom)
		read, err = s.GetInvitation(ctx(t), "i1")
		require.NoError(t, err)
		assert.Equal(t, permission.InvitationPending, read.Status, "a refused update writes nothing")
		_, err = s.UpdateInvitation(ctx(t), "nope", func(*permission.Invitation) error { return nil })
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

func pendingOnly(inv *permission.Invitation) error {
	if inv.Status != permission.InvitationPending {
		return errNotPending
	}
	return nil
}

var errNotPending = errors.New("not pending")

func invitationAccept(t *testing.T, newStore PermissionStoreFactory) {
	t.Run("JoinsWithTheRoleInOneStep", func(t *testing.T) {
		t.Parallel()
		s := withRoles(t, newStore)
		require.NoError(t, s.CreateInvitation(ctx(t), invitation("i1", "t1")))
		v0, err := s.Version(ctx(t), "t1")
		require.NoError(t, err)
		now := base.Add(time.Minute)
		got, err := s.AcceptInvitation(ctx(t), "i1", "u1", now, pendingOnly)
		require.NoError(t, err)
		assert.Equal(t, permission.InvitationAccepted, got.Status)
		assert.Equal(t, "u1", got.AcceptedBy)
		ms, err := s.ListMemberships(ctx(t), "u1")
		require.NoError(t, err)
		require.Len(t, ms, 1)
		bs, err := s.ListBindings(ctx(t), "t1", "u1")
		require.NoError(t, err)
		require.Len(t, bs, 1)
		assert.Equal(t, "viewer", bs[0].Role)
		assert.Equal(t, "region:eu", bs[0].Scope)
		v1, err := s.Version(ctx(t), "t1")
		require.NoError(t, err)
		assert.Greater(t, v1, v0)
		_, err = s.AcceptInvitation(ctx(t), "i1", "u2", now, pendingOnly)
		assert.ErrorIs(t, err, errNotPending, "single use")
	})
	t.Run("RefusalOrMissingRoleWritesNothing", func(t *testing.T) {
		t.Parallel()
		s := withRoles(t, newStore)
		inv := invitation("i1", "t1")
		inv.Role = "gone"
		require.NoError(t, s.CreateInvitation(ctx(t), inv))
		_, err := s.AcceptInvitation(ctx(t), "i1", "u1", base, pendingOnly)
		assert.ErrorIs(t, err, store.ErrNotFound)
		got, err := s.GetInvitation(ctx(t), "i1")
		require.NoError(t, err)
		assert.Equal(t, permission.InvitationPending, got.Status)
		ms, err := s.ListMemberships(ctx(t), "u1")
		require.NoError(t, err)
		assert.Empty(t, ms, "no membership without its binding")
		_, err = s.AcceptInvitation(ctx(t), "nope", "u1", base, pendingOnly)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("ConcurrentAcceptsOneWins", func(t *testing.T) {
		t.Parallel()
		s := withRoles(t, newStore)
		require.NoError(t, s.CreateInvitation(ctx(t), invitation("i1", "t1")))
		const n = 100
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.AcceptInvitation(context.WithoutCancel(ctx(t)), "i1", fmt.Sprintf("u%03d", i), base, pendingOnly)
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else {
				assert.ErrorIs(t, err, errNotPending)
			}
		}
		assert.Equal(t, 1, won)
		members, err := s.ListMembers(ctx(t), "t1")
		require.NoError(t, err)
		assert.Len(t, members, 1)
	})
}
