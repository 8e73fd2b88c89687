package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store/postgres"
)

func TestPolicyBusDeliversToEveryListener(t *testing.T) {
	url := pgtest.URL(t)
	env := pgtest.New(t)
	bus, err := postgres.NewPolicyBus(env.DB, url, postgres.WithSchema(env.Schema))
	require.NoError(t, err)
	var mu sync.Mutex
	got := map[int][]string{}
	for i := range 2 {
		stop, err := bus.Subscribe(t.Context(), func(tenant string, version int64) {
			mu.Lock()
			defer mu.Unlock()
			got[i] = append(got[i], tenant+"@"+time.Duration(version).String())
		})
		require.NoError(t, err)
		t.Cleanup(stop)
	}
	require.NoError(t, bus.Publish(t.Context(), "acme corp", 7))
	require.NoError(t, bus.Publish(t.Context(), permission.GlobalTenant, 8))
	assert.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got[0]) == 2 && len(got[1]) == 2
	}, 5*time.Second, 5*time.Millisecond)
	mu.Lock()
	assert.Equal(t, []string{"acme corp@7ns", "@8ns"}, got[0], "tenant IDs with spaces and the global tenant survive")
	mu.Unlock()
}

func TestPolicyBusPublishFailsClosedWhenDown(t *testing.T) {
	env := pgtest.New(t)
	bus, err := postgres.NewPolicyBus(env.DB, pgtest.URL(t))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.Error(t, bus.Publish(ctx, "acme", 1))
}
