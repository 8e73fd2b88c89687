package mfatest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"github.com/authv2/authv2/internal/randid"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/mfa/totp"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/store/memory"
)

// TOTPReplayAcrossInstances is the replay attack on a deployment whose
// instances share guards (one mfa.ReplayGuard per instance, over one
// backend): n goroutines, spread over the instances, submit codes of the
// previous, current and next step at once, half of them the current
// one. Each step must be accepted at most once (and one at least), and
// every refusal must be mfa.ErrCodeReused. Times are the real
// clock's, since a Redis guard's TTL runs on the server's.
func TOTPReplayAcrossInstances(t *testing.T, n int, guards ...mfa.ReplayGuard) {
	t.Helper()
	creds, ring := memory.NewMFAStore(), Ring(t, "k1")
	instances := make([]*totp.Factor, len(guards))
	for i, g := range guards {
		f, err := totp.New(totp.Config{Issuer: "Example"}, ring, creds, g)
		if err != nil {
			t.Fatal(err)
		}
		instances[i] = f
	}
	ctx := context.Background()
	// Confirmed an hour ago, under a credential of its own: the
	// confirming step is far behind the ones attacked.
	user := "u-" + randid.ID()
	e, err := instances[0].Enroll(ctx, user, "ada@example.com", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour)
	if _, err := instances[0].Confirm(ctx, user, mustCode(t, e.Secret, at), at); err != nil {
		t.Fatal(err)
	}
	// Mid-step, so that all goroutines see the same current step.
	now := time.Now()
	if now.Unix()%30 > 25 {
		time.Sleep(6 * time.Second)
		now = time.Now()
	}
	codes := map[int64]string{}
	cur := now.Unix() / 30
	for step := cur - 1; step <= cur+1; step++ {
		codes[step] = mustCode(t, e.Secret, time.Unix(step*30, 0))
	}
	var (
		mu       sync.Mutex
		accepted = map[int64]int{}
		wg       sync.WaitGroup
	)
	for i := range n {
		step := cur + int64(i%4) - 2 // -2 stands for the current step too
		if step == cur-2 {
			step = cur
		}
		wg.Go(func() {
			_, err := instances[i%len(instances)].Verify(ctx, user, codes[step], time.Now())
			switch {
			case err == nil:
				mu.Lock()
				accepted[step]++
				mu.Unlock()
			case !errors.Is(err, mfa.ErrCodeReused):
				t.Errorf("step %+d: %v", step-cur, err)
			}
		})
	}
	wg.Wait()
	total := 0
	for step, k := range accepted {
		total += k
		if k > 1 {
			t.Errorf("the code of step %+d was accepted %d times", step-cur, k)
		}
	}
	if total == 0 {
		t.Error("no code was accepted")
	}
}

func mustCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := pqtotp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// RecoveryCodeRaceAcrossInstances spends one recovery code from n
// goroutines spread over instances (one mfa.Store each, over one
// backend): exactly one may succeed, the others get mfa.ErrInvalidCode.
func RecoveryCodeRaceAcrossInstances(t *testing.T, n int, stores ...mfa.Store) {
	t.Helper()
	key := make([]byte, 32)
	rcs := make([]*mfa.RecoveryCodes, len(stores))
	for i, s := range stores {
		rc, err := mfa.NewRecoveryCodes(key, s)
		if err != nil {
			t.Fatal(err)
		}
		rcs[i] = rc
	}
	user, now := "u-"+randid.ID(), time.Now()
	codes, err := rcs[0].Generate(context.Background(), user, now)
	if err != nil {
		t.Fatal(err)
	}
	if won := Wins(t, n, func(i int) error {
		_, err := rcs[i%len(rcs)].Use(context.Background(), user, codes[0], now)
		return err
	}, mfa.ErrInvalidCode); won != 1 {
		t.Errorf("the code was used %d times", won)
	}
}

// ChallengeRaceAcrossInstances takes one challenge from n goroutines
// spread over instances: exactly one may get it.
func ChallengeRaceAcrossInstances(t *testing.T, n int, stores ...mfa.ChallengeStore) {
	t.Helper()
	now := time.Now()
	c := &mfa.Challenge{ID: randid.ID(), UserID: "u1", Kind: "k", Data: []byte("{}"), ExpiresAt: now.Add(time.Minute)}
	if err := stores[0].PutChallenge(context.Background(), c, now); err != nil {
		t.Fatal(err)
	}
	if won := Wins(t, n, func(i int) error {
		_, err := stores[i%len(stores)].TakeChallenge(context.Background(), c.ID, now)
		return err
	}, store.ErrNotFound); won != 1 {
		t.Errorf("the challenge was taken %d times", won)
	}
}
