package telemetry

import (
	"context"
	"time"

	"github.com/authv2/authv2/permission"
)

var (
	opDomainCreate, opDomainGet, opDomainList = newOp("permission.create_domain"), newOp("permission.get_domain"),
		newOp("permission.list_domains")
	opDomainVerify, opDomainDelete, opDomainJoin = newOp("permission.verify_domain"), newOp("permission.delete_domain"),
		newOp("permission.join_domain")
)

func (w Permissions) CreateDomain(ctx context.Context, d *permission.TenantDomain) error {
	return call0(w.T, ctx, opDomainCreate, func(ctx context.Context) error { return w.S.CreateDomain(ctx, d) })
}

func (w Permissions) GetDomain(ctx context.Context, tenantID, domain string) (*permission.TenantDomain, error) {
	return call(w.T, ctx, opDomainGet, func(ctx context.Context) (*permission.TenantDomain, error) {
		return w.S.GetDomain(ctx, tenantID, domain)
	})
}

func (w Permissions) ListDomains(ctx context.Context, tenantID string) ([]*permission.TenantDomain, error) {
	return call(w.T, ctx, opDomainList, func(ctx context.Context) ([]*permission.TenantDomain, error) {
		return w.S.ListDomains(ctx, tenantID)
	})
}

func (w Permissions) VerifyDomain(ctx context.Context, tenantID, domain, verifiedBy string, now time.Time, check func(*permission.TenantDomain) error) (*permission.TenantDomain, error) {
	return call(w.T, ctx, opDomainVerify, func(ctx context.Context) (*permission.TenantDomain, error) {
		return w.S.VerifyDomain(ctx, tenantID, domain, verifiedBy, now, check)
	})
}

func (w Permissions) DeleteDomain(ctx context.Context, tenantID, domain string) (*permission.TenantDomain, error) {
	return call(w.T, ctx, opDomainDelete, func(ctx context.Context) (*permission.TenantDomain, error) {
		return w.S.DeleteDomain(ctx, tenantID, domain)
	})
}

type joined struct {
	d  *permission.TenantDomain
	ok bool
}

func (w Permissions) JoinDomain(ctx context.Context, domain, userID string, now time.Time) (*permission.TenantDomain, bool, error) {
	j, err := call(w.T, ctx, opDomainJoin, func(ctx context.Context) (joined, error) {
		d, ok, err := w.S.JoinDomain(ctx, domain, userID, now)
		return joined{d, ok}, err
	})
	return j.d, j.ok, err
}
