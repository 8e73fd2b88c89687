package totp_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/internal/mfatest"
	"github.com/authv2/authv2/internal/pgtest"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/mfa/totp"
	"github.com/authv2/authv2/store/memory"
)

// stores are one deployment's shared stores; several Factors over them
// act as several instances.
type stores struct {
	creds *memory.MFAStore
	guard *memory.ReplayGuard
}

func newStores() stores { return stores{memory.NewMFAStore(), memory.NewReplayGuard()} }

func newTOTP(t testing.TB, s stores, r *mfa.KeyRing) *totp.Factor {
	t.Helper()
	tp, err := totp.New(totp.Config{Issuer: "Example"}, r, s.creds, s.guard)
	require.NoError(t, err)
	return tp
}

// sealed builds a credential holding secret, sealed as Enroll does.
func sealed(r *mfa.KeyRing, userID, id, secret string) *mfa.TOTPCredential {
	return &mfa.TOTPCredential{ID: id, UserID: userID, Secret: r.Seal([]byte(secret), mfa.AssociatedData("totp", userID, id))}
}

// t0 is the start of a 30-second step.
var t0 = time.Unix(1_800_000_000, 0).UTC()

func code(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := pqtotp.GenerateCode(secret, at)
	require.NoError(t, err)
	return c
}

// enrolled returns a TOTP with u1 enrolled and confirmed at t0-1h, and the
// secret.
func enrolled(t *testing.T) (*totp.Factor, stores, string) {
	t.Helper()
	s := newStores()
	tp := newTOTP(t, s, mfatest.Ring(t, "k1"))
	e, err := tp.Enroll(t.Context(), "u1", "ada@example.com", t0.Add(-time.Hour))
	require.NoError(t, err)
	_, err = tp.Confirm(t.Context(), "u1", code(t, e.Secret, t0.Add(-time.Hour)), t0.Add(-time.Hour))
	require.NoError(t, err)
	return tp, s, e.Secret
}

func TestTOTPEnrollment(t *testing.T) {
	s := newStores()
	tp := newTOTP(t, s, mfatest.Ring(t, "k1"))
	ctx := t.Context()
	e, err := tp.Enroll(ctx, "u1", "ada@example.com", t0)
	require.NoError(t, err)

	assert.Len(t, e.Secret, 32, "160 bits of base32")
	u, err := url.Parse(e.URI)
	require.NoError(t, err)
	assert.Equal(t, "otpauth", u.Scheme)
	assert.Equal(t, "totp", u.Host)
	assert.Equal(t, "/Example:ada@example.com", u.Path)
	q := u.Query()
	assert.Equal(t, e.Secret, q.Get("secret"))
	assert.Equal(t, "Example", q.Get("issuer"))
	assert.Equal(t, "SHA1", q.Get("algorithm"))
	assert.Equal(t, "6", q.Get("digits"))
	assert.Equal(t, "30", q.Get("period"))
	assert.True(t, bytes.HasPrefix(e.QRCodePNG, []byte("\x89PNG\r\n\x1a\n")), "a PNG")

	stored, err := s.creds.GetTOTP(ctx, "u1")
	require.NoError(t, err)
	assert.False(t, stored.Confirmed(), "pending until a code confirms it")
	assert.Equal(t, "k1", stored.Secret.KeyID)
	assert.NotContains(t, string(stored.Secret.Ciphertext), e.Secret, "the secret is sealed at rest")
	raw, _ := base32.StdEncoding.DecodeString(e.Secret)
	assert.False(t, bytes.Contains(stored.Secret.Ciphertext, raw))

	_, err = tp.Verify(ctx, "u1", code(t, e.Secret, t0), t0)
	assert.ErrorIs(t, err, mfa.ErrNotEnrolled, "a pending credential does not log in")
	_, err = tp.Confirm(ctx, "u1", "000000", t0)
	assert.ErrorIs(t, err, mfa.ErrInvalidCode)

	p, err := tp.Confirm(ctx, "u1", code(t, e.Secret, t0), t0)
	require.NoError(t, err)
	assert.Equal(t, mfa.Proof{Factor: mfa.FactorTOTP, At: t0, CredentialID: e.Credential.ID}, p)
	_, err = tp.Confirm(ctx, "u1", code(t, e.Secret, t0.Add(30*time.Second)), t0.Add(30*time.Second))
	assert.ErrorIs(t, err, mfa.ErrAlreadyEnrolled)
	_, err = tp.Verify(ctx, "u1", code(t, e.Secret, t0), t0)
	assert.ErrorIs(t, err, mfa.ErrCodeReused, "the confirming code is spent")
	_, err = tp.Enroll(ctx, "u1", "ada@example.com", t0)
	assert.ErrorIs(t, err, mfa.ErrAlreadyEnrolled)

	_, err = tp.Confirm(ctx, "nobody", "123456", t0)
	assert.ErrorIs(t, err, mfa.ErrNotEnrolled)
	_, err = tp.Verify(ctx, "nobody", "123456", t0)
	assert.ErrorIs(t, err, mfa.ErrNotEnrolled)
}

func TestTOTPReEnrollmentReplacesPending(t *testing.T) {
	s := newStores()
	tp := newTOTP(t, s, mfatest.Ring(t, "k1"))
	first, err := tp.Enroll(t.Context(), "u1", "ada", t0)
	require.NoError(t, err)
	second, err := tp.Enroll(t.Context(), "u1", "ada", t0)
	require.NoError(t, err)
	_, err = tp.Confirm(t.Context(), "u1", code(t, first.Secret, t0), t0)
	assert.ErrorIs(t, err, mfa.ErrInvalidCode, "the first enrollment's secret is gone")
	_, err = tp.Confirm(t.Context(), "u1", code(t, second.Secret, t0), t0)
	assert.NoError(t, err)
}

func TestTOTPVerifyDriftAndReplay(t *testing.T) {
	tp, _, secret := enrolled(t)
	ctx := t.Context()
	now := t0.Add(10 * time.Second)

	_, err := tp.Verify(ctx, "u1", code(t, secret, now.Add(-60*time.Second)), now)
	assert.ErrorIs(t, err, mfa.ErrInvalidCode, "two steps behind")
	_, err = tp.Verify(ctx, "u1", code(t, secret, now.Add(60*time.Second)), now)
	assert.ErrorIs(t, err, mfa.ErrInvalidCode, "two steps ahead")

	p, err := tp.Verify(ctx, "u1", code(t, secret, now.Add(-30*time.Second)), now)
	require.NoError(t, err, "one step behind is drift")
	assert.Equal(t, mfa.FactorTOTP, p.Factor)
	_, err = tp.Verify(ctx, "u1", code(t, secret, now.Add(-30*time.Second)), now)
	assert.ErrorIs(t, err, mfa.ErrCodeReused)

	_, err = tp.Verify(ctx, "u1", code(t, secret, now), now)
	require.NoError(t, err)
	_, err = tp.Verify(ctx, "u1", code(t, secret, now), now.Add(15*time.Second))
	assert.ErrorIs(t, err, mfa.ErrCodeReused, "the same code later in its window")
	_, err = tp.Verify(ctx, "u1", code(t, secret, now.Add(30*time.Second)), now)
	require.NoError(t, err, "one step ahead is drift")
	_, err = tp.Verify(ctx, "u1", code(t, secret, now), now.Add(30*time.Second))
	assert.ErrorIs(t, err, mfa.ErrCodeReused, "an older step than one accepted")

	c := code(t, secret, now.Add(60*time.Second))
	_, err = tp.Verify(ctx, "u1", c[:3]+" "+c[3:], now.Add(60*time.Second))
	assert.NoError(t, err, "a code typed with a space")
	for _, bad := range []string{"", "12345", "1234567", "12a456", "١٢٣٤٥٦"} {
		_, err = tp.Verify(ctx, "u1", bad, now)
		assert.ErrorIs(t, err, mfa.ErrInvalidCode, "%q", bad)
	}
}

func TestTOTPCodeAcceptedOnceAcrossInstances(t *testing.T) {
	_, s, secret := enrolled(t)
	r := mfatest.Ring(t, "k1")
	instances := []*totp.Factor{newTOTP(t, s, r), newTOTP(t, s, r), newTOTP(t, s, r), newTOTP(t, s, r)}
	c := code(t, secret, t0)
	won := mfatest.Wins(t, 16, func(i int) error {
		_, err := instances[i%len(instances)].Verify(context.Background(), "u1", c, t0)
		return err
	}, mfa.ErrCodeReused)
	assert.Equal(t, int64(1), won)
}

// RFC 6238 appendix B: the SHA-1 vectors (8 digits, secret
// "12345678901234567890").
func TestTOTPCheckRFC6238Vectors(t *testing.T) {
	s := newStores()
	r := mfatest.Ring(t, "k1")
	tp, err := totp.New(totp.Config{Issuer: "RFC", Digits: otp.DigitsEight, Skew: -1}, r, s.creds, s.guard)
	require.NoError(t, err)
	secret := base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))
	c := sealed(r, "u1", "c1", secret)
	for unix, want := range map[int64]string{59: "94287082", 1111111109: "07081804", 1234567890: "89005924", 2000000000: "69279037"} {
		step, err := tp.Check(c, want, time.Unix(unix, 0))
		require.NoError(t, err, "T=%d", unix)
		assert.Equal(t, unix/30, step)
	}
	_, err = tp.Check(c, "94287082", time.Unix(59+30, 0))
	assert.ErrorIs(t, err, mfa.ErrInvalidCode, "no drift with Skew -1")
}

func TestTOTPSecretBoundToItsRow(t *testing.T) {
	_, s, secret := enrolled(t)
	r := mfatest.Ring(t, "k1")
	tp := newTOTP(t, s, r)
	c, err := s.creds.GetTOTP(t.Context(), "u1")
	require.NoError(t, err)
	moved := *c
	moved.UserID = "mallory"
	_, err = tp.Check(&moved, code(t, secret, t0), t0)
	assert.ErrorIs(t, err, mfa.ErrTampered, "a ciphertext copied to another user's row does not open")
	_, err = newTOTP(t, s, mfatest.Ring(t, "k9")).Check(c, code(t, secret, t0), t0)
	assert.ErrorIs(t, err, mfa.ErrUnknownKey)
}

func TestTOTPResealAfterRotation(t *testing.T) {
	_, s, secret := enrolled(t)
	ctx := t.Context()
	rotated := newTOTP(t, s, mfatest.Ring(t, "k2", "k1"))
	n, err := rotated.Reseal(ctx, 10)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = rotated.Reseal(ctx, 10)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing left under the old key")
	c, err := s.creds.GetTOTP(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, "k2", c.Secret.KeyID)
	_, err = rotated.Verify(ctx, "u1", code(t, secret, t0), t0)
	assert.NoError(t, err, "the re-sealed secret verifies")
}

func TestTOTPConfigValidation(t *testing.T) {
	s := newStores()
	r := mfatest.Ring(t, "k1")
	for name, cfg := range map[string]totp.Config{
		"no issuer": {},
		"colon":     {Issuer: "a:b"},
		"digits":    {Issuer: "x", Digits: 7},
		"period":    {Issuer: "x", Period: 1500 * time.Millisecond},
		"skew":      {Issuer: "x", Skew: 3},
		"qr":        {Issuer: "x", QRSize: 10},
		"algorithm": {Issuer: "x", Algorithm: otp.AlgorithmMD5},
	} {
		_, err := totp.New(cfg, r, s.creds, s.guard)
		assert.ErrorIs(t, err, mfa.ErrInvalidConfig, name)
	}
	_, err := totp.New(totp.Config{Issuer: "x"}, nil, s.creds, s.guard)
	assert.ErrorIs(t, err, mfa.ErrInvalidConfig)
}

// A limit of zero or less would list nothing and report 0, which the
// rotation procedure reads as "done, retire the old key": every secret
// still sealed under it would then never open again.
func TestTOTPResealRefusesANonPositiveLimit(t *testing.T) {
	_, s, _ := enrolled(t)
	rotated := newTOTP(t, s, mfatest.Ring(t, "k2", "k1"))
	for _, limit := range []int{0, -1} {
		n, err := rotated.Reseal(t.Context(), limit)
		assert.ErrorIs(t, err, mfa.ErrInvalidConfig, "limit %d", limit)
		assert.Zero(t, n)
	}
	c, err := s.creds.GetTOTP(t.Context(), "u1")
	require.NoError(t, err)
	assert.Equal(t, "k1", c.Secret.KeyID, "still to re-seal")
}

// sortedStore lists credentials to re-seal by user ID, as the
// PostgreSQL store does, so a test can put a given row first.
type sortedStore struct{ *memory.MFAStore }

func (s sortedStore) ListTOTPNotSealedWith(ctx context.Context, keyID string, limit int) ([]*mfa.TOTPCredential, error) {
	all, err := s.MFAStore.ListTOTPNotSealedWith(ctx, keyID, 1<<20)
	slices.SortFunc(all, func(a, b *mfa.TOTPCredential) int { return strings.Compare(a.UserID, b.UserID) })
	return all[:min(limit, len(all))], err
}

// One secret that no longer opens (its ciphertext damaged, or its key
// retired too early) must not stop the rotation of every other one, and
// the error must say which credential it is, since the operator has to
// delete or restore it.
func TestTOTPResealGoesPastASecretThatDoesNotOpen(t *testing.T) {
	s := stores{memory.NewMFAStore(), memory.NewReplayGuard()}
	old := mfatest.Ring(t, "k1")
	ctx := t.Context()
	bad := sealed(old, "a-user", "a-cred", "JBSWY3DPEHPK3PXP")
	bad.Secret.Ciphertext[len(bad.Secret.Ciphertext)-1] ^= 1
	require.NoError(t, s.creds.CreateTOTP(ctx, bad))
	require.NoError(t, s.creds.CreateTOTP(ctx, sealed(old, "b-user", "b-cred", "JBSWY3DPEHPK3PXP")))
	tp, err := totp.New(totp.Config{Issuer: "Example"}, mfatest.Ring(t, "k2", "k1"), sortedStore{s.creds}, s.guard)
	require.NoError(t, err)

	n, err := tp.Reseal(ctx, 10)
	assert.Equal(t, 1, n, "the good secret is re-sealed")
	require.ErrorIs(t, err, mfa.ErrTampered)
	assert.Contains(t, err.Error(), `"a-cred"`)
	assert.Contains(t, err.Error(), `"a-user"`)
	good, err := s.creds.GetTOTP(ctx, "b-user")
	require.NoError(t, err)
	assert.Equal(t, "k2", good.Secret.KeyID)
}

// DeleteExpired reaches a guard that keeps its records until asked (the
// PostgreSQL one) and is a no-op for one that expires its own (memory).
func TestTOTPDeleteExpiredReachesTheGuard(t *testing.T) {
	n, err := newTOTP(t, newStores(), mfatest.Ring(t, "k1")).DeleteExpired(t.Context(), time.Now())
	require.NoError(t, err)
	assert.Zero(t, n)

	env := pgtest.New(t)
	f, err := totp.New(totp.Config{Issuer: "Example"}, mfatest.Ring(t, "k1"), env.Stores.MFA, env.Stores.ReplayGuard)
	require.NoError(t, err)
	now := time.Now()
	require.NoError(t, env.Stores.ReplayGuard.Advance(t.Context(), "u1", 7, now.Add(-time.Minute), now.Add(-2*time.Minute)))
	n, err = f.DeleteExpired(t.Context(), now)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}
