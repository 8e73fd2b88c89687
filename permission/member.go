package permission

import (
	"context"
	"errors"
	"slices"
	"time"
)

// OwnerRole is the role name that makes its holder an owner of a tenant:
// a binding of it over the whole tenant (scope "") that does not expire.
// What an owner may do is the grants of the role of that name (a tenant
// role or a template), which the application defines like any other; the
// store only keeps count of owners, so that a tenant that has one never
// loses the last (ErrLastOwner).
const OwnerRole = "owner"

// ErrLastOwner: the change would leave a tenant that has owners with none.
var ErrLastOwner = errors.New("authv2/permission: a tenant keeps at least one owner")

// IsOwner reports whether b makes its user an owner of b.TenantID. A
// binding narrowed to a scope or due to expire does not: an owner must
// stay one until someone removes the binding.
func IsOwner(b Binding) bool { return b.Role == OwnerRole && b.Scope == "" && b.ExpiresAt.IsZero() }

// Member is a user's standing in one tenant: their membership, if any,
// and their bindings there.
type Member struct {
	TenantID string
	UserID   string
	// IsMember says the user has a membership; JoinedAt is its creation.
	IsMember bool
	JoinedAt time.Time
	Bindings []Binding // ordered by role, then scope
}

// Owner reports whether one of the member's bindings makes them an owner.
func (m *Member) Owner() bool { return slices.ContainsFunc(m.Bindings, IsOwner) }

// CountOwners counts the bindings of bs that make an owner.
func CountOwners(bs []Binding) int {
	n := 0
	for _, b := range bs {
		if IsOwner(b) {
			n++
		}
	}
	return n
}

// Clone returns a deep copy.
func (m Member) Clone() Member {
	m.Bindings = slices.Clone(m.Bindings)
	return m
}

// InvitationStatus is where an invitation stands.
type InvitationStatus string

// Invitation states. A pending invitation past its ExpiresAt is expired;
// no state records that, the time does.
const (
	InvitationPending  InvitationStatus = "pending"
	InvitationAccepted InvitationStatus = "accepted"
	InvitationRevoked  InvitationStatus = "revoked"
)

// Invitation asks the owner of an email address to join a tenant with a
// role at a scope. The token that accepts it is never stored: TokenHash
// is the SHA-256 of its secret.
type Invitation struct {
	ID        string
	TenantID  string
	Email     string // as entered; compared case-insensitively
	Role      string
	Scope     string
	TokenHash []byte
	Status    InvitationStatus
	InvitedBy string // the user who invited (or last resent)
	// AcceptedBy is the user who accepted it.
	AcceptedBy string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	ExpiresAt  time.Time
}

// Clone returns a deep copy.
func (inv *Invitation) Clone() *Invitation {
	if inv == nil {
		return nil
	}
	c := *inv
	c.TokenHash = slices.Clone(inv.TokenHash)
	return &c
}

// MemberStore is the part of a Store that manages who belongs to a
// tenant: invitations, and changes to one member at a time under the
// owner invariant. Every method that changes bindings bumps the tenant's
// policy version like PutBinding.
type MemberStore interface {
	// ListMemberPage returns up to limit members of the tenant (users with
	// a membership) whose user ID sorts after after, ordered by user ID,
	// each with their bindings in the tenant (empty, not an error, past
	// the last or for no such tenant).
	ListMemberPage(ctx context.Context, tenantID, after string, limit int) ([]Member, error)
	// UpdateMember reads the user's membership and bindings in the tenant,
	// lets fn change them (IsMember, JoinedAt and Bindings; a binding's
	// TenantID and UserID must stay the member's), and writes the result,
	// all in one step serialized with every other binding write of the
	// tenant. It returns the member before and after: store.ErrNotFound
	// when the user has neither membership nor binding there, or a new
	// binding names a role that does not exist; ErrLastOwner when the
	// tenant had an owner (IsOwner) and would have none; fn's own error,
	// with nothing written. A member with no membership and no bindings
	// after fn is gone.
	UpdateMember(ctx context.Context, tenantID, userID string, fn func(*Member) error) (before, after Member, err error)

	// CreateInvitation stores inv: store.ErrNotFound when its tenant does
	// not exist, store.ErrConflict when its ID does.
	CreateInvitation(ctx context.Context, inv *Invitation) error
	// GetInvitation returns the invitation or store.ErrNotFound.
	GetInvitation(ctx context.Context, id string) (*Invitation, error)
	// ListInvitations returns up to limit of the tenant's invitations whose
	// ID sorts after after, ordered by ID.
	ListInvitations(ctx context.Context, tenantID, after string, limit int) ([]*Invitation, error)
	// UpdateInvitation applies fn to the invitation and saves the result
	// atomically (concurrent updates and accepts are serialized); fn's
	// error aborts with nothing written. fn must not change ID or
	// TenantID. store.ErrNotFound if there is no such invitation.
	UpdateInvitation(ctx context.Context, id string, fn func(*Invitation) error) (*Invitation, error)
	// AcceptInvitation, in one atomic step: reads the invitation, lets
	// check refuse it (its error is returned, nothing written), marks it
	// accepted by userID at now, gives userID a membership of its tenant
	// (kept if they had one) and a binding of its role at its scope. A
	// role or tenant that no longer exists is store.ErrNotFound, with the
	// invitation left pending.
	AcceptInvitation(ctx context.Context, id, userID string, now time.Time, check func(*Invitation) error) (*Invitation, error)
}
