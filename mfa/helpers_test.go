package mfa_test

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/store/memory"
)

func ring(t testing.TB, current string, ids ...string) *mfa.KeyRing {
	t.Helper()
	keys := map[string][]byte{}
	for i, id := range append(ids, current) {
		keys[id] = bytes.Repeat([]byte{byte(i + 1)}, mfa.KeySize)
	}
	r, err := mfa.NewKeyRing(current, keys)
	require.NoError(t, err)
	return r
}

// stores are one deployment's shared stores; several TOTP values over
// them act as several instances.
type stores struct {
	creds *memory.MFAStore
	guard *memory.ReplayGuard
	chals *memory.ChallengeStore
}

func newStores() stores {
	return stores{memory.NewMFAStore(), memory.NewReplayGuard(), memory.NewChallengeStore()}
}

func newTOTP(t testing.TB, s stores, r *mfa.KeyRing) *mfa.TOTP {
	t.Helper()
	tp, err := mfa.NewTOTP(mfa.TOTPConfig{Issuer: "Example"}, r, s.creds, s.guard)
	require.NoError(t, err)
	return tp
}

// wins runs fn(0) to fn(n-1) at once and returns how many succeeded;
// every other call must fail with lost.
func wins(t *testing.T, n int, fn func(i int) error, lost error) int64 {
	t.Helper()
	var won atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			switch err := fn(i); {
			case err == nil:
				won.Add(1)
			case !errors.Is(err, lost):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	return won.Load()
}
