package redis

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/authv2/authv2/permission"
)

// PolicyBus carries policy-version announcements between instances over
// Redis pub/sub (on a cluster, PUBLISH reaches subscribers on every node).
// Delivery is at most once: a message published while a subscriber was
// reconnecting is lost, and the permission engine's periodic version check
// bounds how long that leaves an instance stale.
type PolicyBus struct {
	c       rueidis.Client
	channel string
}

var _ permission.PolicyBus = (*PolicyBus)(nil)

// NewPolicyBus returns a bus on the channel <prefix>policy.
func NewPolicyBus(client rueidis.Client, opts ...Option) *PolicyBus {
	return &PolicyBus{c: client, channel: newConfig(opts).prefix + "policy"}
}

// Publish announces tenantID's new version.
func (b *PolicyBus) Publish(ctx context.Context, tenantID string, version int64) error {
	msg := strconv.FormatInt(version, 10) + " " + tenantID
	return translate("policy_bus.publish", b.c.Do(ctx, b.c.B().Publish().Channel(b.channel).Message(msg).Build()).Error())
}

// Subscribe calls fn for every announcement until stop is called. It
// returns once the subscription is in place, or fails when ctx ends first
// (Redis down: *store.UnavailableError). ctx bounds only that wait; the
// subscription lives until stop, re-subscribing after a broken connection
// with a short back-off so an outage does not spin.
func (b *PolicyBus) Subscribe(ctx context.Context, fn func(tenantID string, version int64)) (func(), error) {
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	subscribed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Go(func() {
		hooked := rueidis.WithOnSubscriptionHook(run, func(rueidis.PubSubSubscription) {
			once.Do(func() { close(subscribed) })
		})
		for {
			// Receive returns when run ends or the connection breaks.
			_ = b.c.Receive(hooked, b.c.B().Subscribe().Channel(b.channel).Build(), func(m rueidis.PubSubMessage) {
				v, tenant, ok := strings.Cut(m.Message, " ")
				version, err := strconv.ParseInt(v, 10, 64)
				if ok && err == nil {
					fn(tenant, version)
				}
			})
			select {
			case <-run.Done():
				return
			case <-time.After(resubscribeDelay):
			}
		}
	})
	stop := sync.OnceFunc(func() { cancel(); wg.Wait() })
	select {
	case <-subscribed:
		return stop, nil
	case <-ctx.Done():
		stop()
		return nil, translate("policy_bus.subscribe", ctx.Err())
	}
}

// resubscribeDelay paces re-subscription while Redis is unreachable.
const resubscribeDelay = 100 * time.Millisecond
