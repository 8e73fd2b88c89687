package user

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var cheapParams = Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func TestHashWaitsForSlotUntilDeadline(t *testing.T) {
	h, err := NewHasher(cheapParams, 1)
	require.NoError(t, err)
	encoded, err := h.Hash(context.Background(), "pw")
	require.NoError(t, err)
	h.sem <- struct{}{} // the only slot is busy
	defer func() { <-h.sem }()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = h.Hash(ctx, "pw")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	_, err = h.Verify(ctx, "pw", encoded)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, h.VerifyDummy(ctx, "pw"), context.DeadlineExceeded)
}

func TestHashConcurrencyBound(t *testing.T) {
	const bound = 2
	h, err := NewHasher(Argon2Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, bound)
	require.NoError(t, err)
	var cur, peak atomic.Int64
	h.inFlight = func(d int) {
		n := cur.Add(int64(d))
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 4 {
				_, err := h.Hash(context.Background(), "pw")
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, peak.Load(), int64(bound))
	assert.GreaterOrEqual(t, peak.Load(), int64(1))
	assert.Zero(t, cur.Load())
}
