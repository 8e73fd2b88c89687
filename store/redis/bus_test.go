package redis_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/internal/redistest"
	"github.com/authv2/authv2/store/redis"
)

func TestPolicyBus(t *testing.T) {
	for name, addrs := range map[string]func(t *testing.T) []string{
		"redis":   func(t *testing.T) []string { return []string{redistest.Addr(t)} },
		"cluster": func(t *testing.T) []string { return redistest.ClusterAddrs(t) },
	} {
		t.Run(name, func(t *testing.T) {
			prefix := redistest.Prefix(t)
			pub := redis.NewPolicyBus(redistest.Client(t, addrs(t), false), redis.WithKeyPrefix(prefix))
			sub := redis.NewPolicyBus(redistest.Client(t, addrs(t), false), redis.WithKeyPrefix(prefix))
			var mu sync.Mutex
			var got []string
			stop, err := sub.Subscribe(t.Context(), func(tenant string, version int64) {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, tenant+"@"+time.Duration(version).String())
			})
			require.NoError(t, err)
			defer stop()
			require.NoError(t, pub.Publish(t.Context(), "acme corp", 3))
			require.NoError(t, pub.Publish(t.Context(), "", 4))
			assert.Eventually(t, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(got) == 2
			}, 5*time.Second, 5*time.Millisecond)
			mu.Lock()
			assert.Equal(t, []string{"acme corp@3ns", "@4ns"}, got)
			mu.Unlock()
		})
	}
}
