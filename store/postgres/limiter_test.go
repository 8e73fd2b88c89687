package postgres_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/internal/pgtest"
)

func TestRateLimiterDeleteExpired(t *testing.T) {
	l := pgtest.New(t).Stores.Limiter
	ctx := t.Context()
	base := time.Now().UTC()
	_, err := l.Hit(ctx, "ip:old", 10, time.Minute, base)
	require.NoError(t, err)
	_, err = l.Hit(ctx, "ip:new", 10, time.Minute, base.Add(10*time.Minute))
	require.NoError(t, err)

	n, err := l.DeleteExpired(ctx, base.Add(5*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	got, oldest, err := l.Count(ctx, "ip:new", 10, time.Minute, base.Add(10*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, got)
	assert.True(t, oldest.Equal(base.Add(10*time.Minute).Truncate(time.Microsecond)))

	// A later hit with a shorter window never shortens the row's life.
	_, err = l.Hit(ctx, "ip:new", 10, time.Second, base.Add(10*time.Minute+time.Second))
	require.NoError(t, err)
	n, err = l.DeleteExpired(ctx, base.Add(10*time.Minute+30*time.Second))
	require.NoError(t, err)
	assert.Zero(t, n)
}
