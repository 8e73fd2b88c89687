package permission

import (
	"context"
	"sync"
)

// PolicyBus carries policy version changes between the instances of a
// service, so a permission revoked on one stops working on all of them at
// once rather than after the next poll. Implementations: NewLocalBus (one
// process), and Redis or PostgreSQL LISTEN/NOTIFY adapters in the store
// packages. Delivery may be lossy: the engine's polling of store.Version
// bounds staleness when a message is lost.
type PolicyBus interface {
	// Publish announces that tenantID's policy is now at version
	// (GlobalTenant: a template changed, every tenant is affected).
	Publish(ctx context.Context, tenantID string, version int64) error
	// Subscribe calls fn for every announcement, including this
	// instance's own, until stop is called. fn must not block.
	Subscribe(ctx context.Context, fn func(tenantID string, version int64)) (stop func(), err error)
}

// LocalBus is an in-process PolicyBus: Publish calls every subscriber
// before it returns. It suits tests and several engines in one process.
type LocalBus struct {
	mu   sync.RWMutex
	next int
	subs map[int]func(string, int64)
}

var _ PolicyBus = (*LocalBus)(nil)

// NewLocalBus returns an empty LocalBus.
func NewLocalBus() *LocalBus { return &LocalBus{subs: map[int]func(string, int64){}} }

// Publish implements PolicyBus.
func (b *LocalBus) Publish(ctx context.Context, tenantID string, version int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, fn := range b.subs {
		fn(tenantID, version)
	}
	return nil
}

// Subscribe implements PolicyBus.
func (b *LocalBus) Subscribe(ctx context.Context, fn func(tenantID string, version int64)) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.next
	b.next++
	b.subs[id] = fn
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, id)
			b.mu.Unlock()
		})
	}, nil
}
