package telemetry

import (
	"context"
	"time"

	"github.com/authv2/authv2/session"
)

var opImpCreate, opImpGet, opImpEnd, opImpList = newOp("impersonation.create"), newOp("impersonation.get"),
	newOp("impersonation.end"), newOp("impersonation.list")

// Impersonations instruments a session.ImpersonationStore.
type Impersonations struct {
	S session.ImpersonationStore
	T *T
}

func (w Impersonations) CreateImpersonation(ctx context.Context, i *session.Impersonation) error {
	return call0(w.T, ctx, opImpCreate, func(ctx context.Context) error { return w.S.CreateImpersonation(ctx, i) })
}

func (w Impersonations) GetImpersonation(ctx context.Context, id string) (*session.Impersonation, error) {
	return call(w.T, ctx, opImpGet, func(ctx context.Context) (*session.Impersonation, error) { return w.S.GetImpersonation(ctx, id) })
}

func (w Impersonations) EndImpersonation(ctx context.Context, id string, at time.Time, reason string) (*session.Impersonation, error) {
	return call(w.T, ctx, opImpEnd, func(ctx context.Context) (*session.Impersonation, error) {
		return w.S.EndImpersonation(ctx, id, at, reason)
	})
}

func (w Impersonations) ListImpersonations(ctx context.Context, f session.ImpersonationFilter, after string, limit int) ([]*session.Impersonation, error) {
	return call(w.T, ctx, opImpList, func(ctx context.Context) ([]*session.Impersonation, error) {
		return w.S.ListImpersonations(ctx, f, after, limit)
	})
}
