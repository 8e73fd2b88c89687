package postgres_test

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/internal/mfatest"
	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/store/postgres"
)

func TestMFAChallengesAndGuardDeleteExpired(t *testing.T) {
	s := pgtest.New(t).Stores
	ctx, base := t.Context(), time.Now().UTC()
	for i, exp := range []time.Duration{time.Minute, time.Hour} {
		c := &mfa.Challenge{ID: string(rune('a' + i)), Kind: "k", Data: []byte{1}, ExpiresAt: base.Add(exp)}
		require.NoError(t, s.Challenges.PutChallenge(ctx, c, base))
		require.NoError(t, s.ReplayGuard.Advance(ctx, c.ID, 1, base.Add(exp), base))
	}
	n, err := s.Challenges.DeleteExpired(ctx, base.Add(10*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = s.ReplayGuard.DeleteExpired(ctx, base.Add(10*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = s.Challenges.TakeChallenge(ctx, "b", base)
	assert.NoError(t, err, "the live challenge stays")
}

// TestMFAMethodsFailCleanlyWhenUnreachable is the MFA stores' part of
// TestEveryMethodFailsCleanlyWhenUnreachable.
func TestMFAMethodsFailCleanlyWhenUnreachable(t *testing.T) {
	s := unreachableStores(t)
	ctx, now := t.Context(), time.Now()
	id := []byte{1}
	calls := map[string]func() error{
		"CreateTOTP":            func() error { return s.MFA.CreateTOTP(ctx, &mfa.TOTPCredential{UserID: "u1"}) },
		"GetTOTP":               func() error { _, err := s.MFA.GetTOTP(ctx, "u1"); return err },
		"ConfirmTOTP":           func() error { return s.MFA.ConfirmTOTP(ctx, "u1", "c1", now) },
		"UpdateTOTPSecret":      func() error { return s.MFA.UpdateTOTPSecret(ctx, "u1", "c1", "k1", mfa.Sealed{}) },
		"ListTOTPNotSealedWith": func() error { _, err := s.MFA.ListTOTPNotSealedWith(ctx, "k", 1); return err },
		"DeleteTOTP":            func() error { return s.MFA.DeleteTOTP(ctx, "u1") },
		"ReplaceRecoveryCodes":  func() error { return s.MFA.ReplaceRecoveryCodes(ctx, "u1", [][]byte{id}, now) },
		"UseRecoveryCode":       func() error { return s.MFA.UseRecoveryCode(ctx, "u1", id, now) },
		"ListRecoveryCodes":     func() error { _, err := s.MFA.ListRecoveryCodes(ctx, "u1"); return err },
		"DeleteRecoveryCodes":   func() error { return s.MFA.DeleteRecoveryCodes(ctx, "u1") },
		"CreateWebAuthn":        func() error { return s.MFA.CreateWebAuthn(ctx, &mfa.WebAuthnCredential{ID: id}) },
		"GetWebAuthn":           func() error { _, err := s.MFA.GetWebAuthn(ctx, id); return err },
		"ListWebAuthn":          func() error { _, err := s.MFA.ListWebAuthn(ctx, "u1"); return err },
		"RenameWebAuthn":        func() error { return s.MFA.RenameWebAuthn(ctx, "u1", id, "n") },
		"RecordWebAuthnUse":     func() error { return s.MFA.RecordWebAuthnUse(ctx, "u1", id, 1, mfa.WebAuthnFlags{}, now) },
		"DeleteWebAuthn":        func() error { return s.MFA.DeleteWebAuthn(ctx, "u1", id) },
		"PutChallenge":          func() error { return s.Challenges.PutChallenge(ctx, &mfa.Challenge{ID: "c"}, now) },
		"TakeChallenge":         func() error { _, err := s.Challenges.TakeChallenge(ctx, "c", now); return err },
		"Challenges.DeleteExpired": func() error {
			_, err := s.Challenges.DeleteExpired(ctx, now)
			return err
		},
		"Advance":                   func() error { return s.ReplayGuard.Advance(ctx, "k", 1, now, now) },
		"ReplayGuard.DeleteExpired": func() error { _, err := s.ReplayGuard.DeleteExpired(ctx, now); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) { assertCleanFailure(t, call()) })
	}
}

// unreachableStores returns stores on a server that is not there.
func unreachableStores(t *testing.T) *postgres.Stores {
	t.Helper()
	pgtest.URL(t)
	db, err := sql.Open("postgres", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return pgtest.NewSchemaless(t, db)
}

// Two instances, each with a pool of its own, attack one TOTP code and
// its neighbours, one recovery code and one challenge.
func TestMFAReplayAcrossInstancesOnPostgres(t *testing.T) {
	env := pgtest.New(t)
	other, err := postgres.New(pgtest.Open(t), postgres.WithSchema(env.Schema))
	require.NoError(t, err)
	mfatest.TOTPReplayAcrossInstances(t, 300, env.Stores.ReplayGuard, other.ReplayGuard)
	mfatest.RecoveryCodeRaceAcrossInstances(t, 300, env.Stores.MFA, other.MFA)
	mfatest.ChallengeRaceAcrossInstances(t, 300, env.Stores.Challenges, other.Challenges)
}

// A compare-and-set that waited for a row another transaction deletes (or
// re-keys) must see it gone: ErrNotFound, not the ErrConflict its
// statement's snapshot would say. A conflict on RecordWebAuthnUse is read
// as a cloned authenticator; on ConfirmTOTP as "already enrolled".
func TestMFACompareAndSetAfterAConcurrentDelete(t *testing.T) {
	env := pgtest.New(t)
	s, ctx, now := env.Stores.MFA, t.Context(), time.Now()
	// blocked runs fn while a transaction holds the row with dml done,
	// commits once fn waits for the row's lock, and returns fn's error.
	blocked := func(dml string, arg any, fn func() error) error {
		tx, err := env.DB.BeginTx(ctx, nil)
		require.NoError(t, err)
		_, err = tx.ExecContext(ctx, strings.ReplaceAll(dml, "{s}", `"`+env.Schema+`"`), arg)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- fn() }()
		require.Eventually(t, func() bool {
			var n int
			require.NoError(t, env.DB.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%'`, env.Schema).Scan(&n))
			return n > 0
		}, 10*time.Second, 10*time.Millisecond)
		require.NoError(t, tx.Commit())
		return <-done
	}

	wc := &mfa.WebAuthnCredential{ID: []byte{1}, UserID: "u1", PublicKey: []byte{1}, CreatedAt: now}
	require.NoError(t, s.CreateWebAuthn(ctx, wc))
	err := blocked(`DELETE FROM {s}.mfa_webauthn WHERE id = $1`, wc.ID, func() error {
		return s.RecordWebAuthnUse(ctx, "u1", wc.ID, 1, wc.Flags, now)
	})
	assert.ErrorIs(t, err, store.ErrNotFound, "deleted while the assertion was recorded")

	require.NoError(t, s.CreateTOTP(ctx, &mfa.TOTPCredential{ID: "c1", UserID: "u1", Secret: mfa.Sealed{KeyID: "k", Ciphertext: []byte{1}}, CreatedAt: now}))
	err = blocked(`UPDATE {s}.mfa_totp SET id = 'c2' WHERE user_id = $1`, "u1", func() error {
		return s.ConfirmTOTP(ctx, "u1", "c1", now)
	})
	assert.ErrorIs(t, err, store.ErrNotFound, "re-enrolled while the old enrollment was confirmed")
}
