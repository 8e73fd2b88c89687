package permission

import (
	"context"
	"time"
)

// TenantDomain is a tenant's claim of an email domain: once verified, a
// user whose email address at exactly that domain becomes verified joins
// the tenant with Role at Scope. Domain is in the form the Manager
// normalizes it to (lower case ASCII, A-labels for an internationalized
// name, no trailing dot); stores compare it byte for byte.
type TenantDomain struct {
	TenantID string
	Domain   string
	Role     string
	Scope    string
	// Token is the value the tenant publishes in DNS to prove it controls
	// the domain. It is not a secret (DNS is public): it only ties the
	// record to this claim.
	Token     string
	CreatedBy string
	CreatedAt time.Time
	// VerifiedAt is when the claim was proven; zero while it is not, and
	// an unverified claim captures nobody.
	VerifiedAt time.Time
	VerifiedBy string
}

// Verified reports whether the claim was proven.
func (d *TenantDomain) Verified() bool { return !d.VerifiedAt.IsZero() }

// Clone returns a copy.
func (d *TenantDomain) Clone() *TenantDomain {
	if d == nil {
		return nil
	}
	c := *d
	return &c
}

// DomainStore is the part of a Store that keeps tenants' email domains
// (domain capture). Any number of tenants may claim one domain; at most
// one claim of a domain is verified at a time.
type DomainStore interface {
	// CreateDomain stores d: store.ErrNotFound when its tenant does not
	// exist, store.ErrConflict when the tenant already claims the domain
	// (or d is verified and another tenant's verified claim has it).
	CreateDomain(ctx context.Context, d *TenantDomain) error
	// GetDomain returns the tenant's claim of domain or store.ErrNotFound.
	GetDomain(ctx context.Context, tenantID, domain string) (*TenantDomain, error)
	// ListDomains returns the tenant's claims ordered by domain (empty,
	// not an error, for none or no such tenant).
	ListDomains(ctx context.Context, tenantID string) ([]*TenantDomain, error)
	// VerifyDomain, in one atomic step: reads the tenant's claim
	// (store.ErrNotFound), lets check refuse it (its error is returned,
	// nothing written), and marks it verified by verifiedBy at now. While
	// another tenant's claim of the same domain is verified it is
	// store.ErrConflict: of concurrent verifications of one domain by
	// different tenants exactly one succeeds.
	VerifyDomain(ctx context.Context, tenantID, domain, verifiedBy string, now time.Time, check func(*TenantDomain) error) (*TenantDomain, error)
	// DeleteDomain removes the tenant's claim and returns it, or
	// store.ErrNotFound. Once it returns, JoinDomain no longer joins
	// anyone through the claim.
	DeleteDomain(ctx context.Context, tenantID, domain string) (*TenantDomain, error)
	// JoinDomain, in one atomic step: finds the verified claim of domain
	// (store.ErrNotFound when there is none, whatever unverified claims
	// exist) and, unless userID already holds a binding in its tenant,
	// gives them a membership at now (a membership they have stays as it
	// is) and a binding of the claim's role at its scope. It returns the
	// claim and whether it wrote (the user joined). A role that
	// no longer exists is store.ErrNotFound with the claim returned (so a
	// caller can tell it from no claim at all), and nothing written.
	JoinDomain(ctx context.Context, domain, userID string, now time.Time) (*TenantDomain, bool, error)
}
