package permission_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/authv2/authv2/permission"
)

// TestOwnersAreWholeTenantBindingsThatDoNotExpire: only a binding of the
// owner role over the whole tenant, with no expiry, makes an owner.
func TestOwnersAreWholeTenantBindingsThatDoNotExpire(t *testing.T) {
	owner := permission.Binding{TenantID: "t", UserID: "u", Role: permission.OwnerRole}
	scoped, expiring, other := owner, owner, owner
	scoped.Scope = "region:eu"
	expiring.ExpiresAt = time.Unix(1, 0)
	other.Role = "admin"
	assert.True(t, permission.IsOwner(owner))
	for _, b := range []permission.Binding{scoped, expiring, other} {
		assert.False(t, permission.IsOwner(b), "%+v", b)
	}
	assert.Equal(t, 2, permission.CountOwners([]permission.Binding{owner, scoped, owner, other}))
	m := permission.Member{Bindings: []permission.Binding{other, scoped}}
	assert.False(t, m.Owner())
	c := m.Clone()
	c.Bindings[0] = owner
	assert.True(t, c.Owner())
	assert.False(t, m.Owner(), "a clone shares no bindings")
}

// TestInvitationCloneSharesNoHash: a clone's token hash is its own.
func TestInvitationCloneSharesNoHash(t *testing.T) {
	inv := &permission.Invitation{ID: "i", TokenHash: []byte{1, 2}}
	c := inv.Clone()
	c.TokenHash[0] = 9
	assert.Equal(t, byte(1), inv.TokenHash[0])
	assert.Nil(t, (*permission.Invitation)(nil).Clone())
}
