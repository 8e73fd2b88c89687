package telemetry

import (
	"context"
	"time"

	"github.com/authv2/authv2/apikey"
)

var (
	opKeyCreate, opKeyGet, opKeyList, opKeyTouch, opKeyRevoke, opKeyRevokeAll = newOp("apikey.create"), newOp("apikey.get"),
		newOp("apikey.list"), newOp("apikey.touch"), newOp("apikey.revoke"), newOp("apikey.revoke_all")
	opSACreate, opSAGet, opSAList, opSASetDisabled, opSADelete = newOp("service_account.create"), newOp("service_account.get"),
		newOp("service_account.list"), newOp("service_account.set_disabled"), newOp("service_account.delete")
)

// APIKeys instruments an apikey.Store.
type APIKeys struct {
	S apikey.Store
	T *T
}

func (w APIKeys) CreateKey(ctx context.Context, k *apikey.Key) error {
	return call0(w.T, ctx, opKeyCreate, func(ctx context.Context) error { return w.S.CreateKey(ctx, k) })
}

func (w APIKeys) GetKey(ctx context.Context, id string) (*apikey.Key, error) {
	// Written out, not through call: Authenticate's one read on a key (a
	// closure would cost an allocation per request).
	ctx, span, start := w.T.begin(ctx, opKeyGet)
	k, err := w.S.GetKey(ctx, id)
	w.T.finish(ctx, opKeyGet, span, start, err)
	return k, err
}

func (w APIKeys) ListKeys(ctx context.Context, f apikey.KeyFilter) ([]*apikey.Key, error) {
	return call(w.T, ctx, opKeyList, func(ctx context.Context) ([]*apikey.Key, error) { return w.S.ListKeys(ctx, f) })
}

func (w APIKeys) TouchKey(ctx context.Context, id string, at, notAfter time.Time) error {
	return call0(w.T, ctx, opKeyTouch, func(ctx context.Context) error { return w.S.TouchKey(ctx, id, at, notAfter) })
}

func (w APIKeys) RevokeKey(ctx context.Context, id string, at time.Time, reason string) error {
	return call0(w.T, ctx, opKeyRevoke, func(ctx context.Context) error { return w.S.RevokeKey(ctx, id, at, reason) })
}

func (w APIKeys) RevokeKeys(ctx context.Context, f apikey.KeyFilter, at time.Time, reason string) ([]string, error) {
	return call(w.T, ctx, opKeyRevokeAll, func(ctx context.Context) ([]string, error) { return w.S.RevokeKeys(ctx, f, at, reason) })
}

func (w APIKeys) CreateServiceAccount(ctx context.Context, a *apikey.ServiceAccount) error {
	return call0(w.T, ctx, opSACreate, func(ctx context.Context) error { return w.S.CreateServiceAccount(ctx, a) })
}

func (w APIKeys) GetServiceAccount(ctx context.Context, id string) (*apikey.ServiceAccount, error) {
	return call(w.T, ctx, opSAGet, func(ctx context.Context) (*apikey.ServiceAccount, error) { return w.S.GetServiceAccount(ctx, id) })
}

func (w APIKeys) ListServiceAccounts(ctx context.Context, tenantID string) ([]*apikey.ServiceAccount, error) {
	return call(w.T, ctx, opSAList, func(ctx context.Context) ([]*apikey.ServiceAccount, error) {
		return w.S.ListServiceAccounts(ctx, tenantID)
	})
}

func (w APIKeys) SetServiceAccountDisabled(ctx context.Context, id string, disabled bool, at time.Time) (*apikey.ServiceAccount, error) {
	return call(w.T, ctx, opSASetDisabled, func(ctx context.Context) (*apikey.ServiceAccount, error) {
		return w.S.SetServiceAccountDisabled(ctx, id, disabled, at)
	})
}

func (w APIKeys) DeleteServiceAccount(ctx context.Context, id string) error {
	return call0(w.T, ctx, opSADelete, func(ctx context.Context) error { return w.S.DeleteServiceAccount(ctx, id) })
}
