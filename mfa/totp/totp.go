// Package totp enrolls and verifies time-based one-time passwords (RFC
// 6238) over package mfa's stores: secrets sealed with an mfa.KeyRing,
// accepted steps spent in an mfa.ReplayGuard. It is a package of its own
// so that importing mfa's contracts (as every store adapter does) does
// not link github.com/pquerna/otp and its QR encoder.
package totp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/authv2/authv2/internal/randid"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/store"
)

// Config configures TOTP. The zero values of all but Issuer give the
// settings every authenticator app supports: SHA-1, 6 digits, 30 seconds,
// one step of drift either way.
type Config struct {
	Issuer    string        // shown in the authenticator app; required
	Algorithm otp.Algorithm // default SHA-1 (AlgorithmSHA1 is the zero value)
	Digits    otp.Digits    // 6 (default) or 8
	Period    time.Duration // default 30s; whole seconds
	Skew      int           // steps accepted either side of the current one; default 1, -1 for none
	QRSize    int           // QR code width and height in pixels; default 256
}

func (c *Config) defaults() error {
	if c.Digits == 0 {
		c.Digits = otp.DigitsSix
	}
	if c.Period == 0 {
		c.Period = 30 * time.Second
	}
	switch c.Skew {
	case 0:
		c.Skew = 1
	case -1:
		c.Skew = 0
	}
	if c.QRSize == 0 {
		c.QRSize = 256
	}
	switch {
	case c.Issuer == "" || strings.Contains(c.Issuer, ":"):
		return fmt.Errorf("%w: TOTP issuer must be set and contain no colon", mfa.ErrInvalidConfig)
	case c.Digits != otp.DigitsSix && c.Digits != otp.DigitsEight:
		return fmt.Errorf("%w: TOTP digits must be 6 or 8", mfa.ErrInvalidConfig)
	case c.Period < time.Second || c.Period%time.Second != 0:
		return fmt.Errorf("%w: TOTP period must be whole seconds", mfa.ErrInvalidConfig)
	case c.Skew < 0 || c.Skew > 2:
		return fmt.Errorf("%w: TOTP skew must be 0 to 2 steps", mfa.ErrInvalidConfig)
	case c.QRSize < 64 || c.QRSize > 2048:
		return fmt.Errorf("%w: QR size must be 64 to 2048 pixels", mfa.ErrInvalidConfig)
	case c.Algorithm != otp.AlgorithmSHA1 && c.Algorithm != otp.AlgorithmSHA256 && c.Algorithm != otp.AlgorithmSHA512:
		return fmt.Errorf("%w: unknown TOTP algorithm", mfa.ErrInvalidConfig)
	}
	return nil
}

// Factor enrolls and verifies time-based one-time passwords (RFC 6238) with
// github.com/pquerna/otp, keeping secrets sealed in a Store and accepted
// steps in a ReplayGuard.
type Factor struct {
	cfg   Config
	ring  *mfa.KeyRing
	store mfa.Store
	guard mfa.ReplayGuard
}

// New returns the TOTP factor over the given ring and stores.
func New(cfg Config, ring *mfa.KeyRing, s mfa.Store, guard mfa.ReplayGuard) (*Factor, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if ring == nil || s == nil || guard == nil {
		return nil, fmt.Errorf("%w: TOTP needs a key ring, a store and a replay guard", mfa.ErrInvalidConfig)
	}
	return &Factor{cfg: cfg, ring: ring, store: s, guard: guard}, nil
}

var _ mfa.TOTP = (*Factor)(nil)

// Enrollment is what Enroll hands the user, once (mfa.TOTPEnrollment).
type Enrollment = mfa.TOTPEnrollment

// purpose binds sealed TOTP secrets (mfa.AssociatedData).
const purpose = "totp"

// Enroll creates a pending TOTP credential for userID (replacing a
// pending one) labeled accountName in the app. mfa.ErrAlreadyEnrolled when
// the user has a confirmed credential.
func (t *Factor) Enroll(ctx context.Context, userID, accountName string, now time.Time) (*Enrollment, error) {
	key, err := pqtotp.Generate(pqtotp.GenerateOpts{
		Issuer: t.cfg.Issuer, AccountName: accountName, Period: uint(t.cfg.Period / time.Second),
		SecretSize: 20, // 160 bits, RFC 4226's recommendation for HMAC-SHA-1
		Digits:     t.cfg.Digits, Algorithm: t.cfg.Algorithm,
	})
	if err != nil {
		return nil, fmt.Errorf("authv2/mfa/totp: %w", err)
	}
	img, err := key.Image(t.cfg.QRSize, t.cfg.QRSize)
	if err != nil {
		return nil, fmt.Errorf("authv2/mfa/totp qr code: %w", err)
	}
	var qr bytes.Buffer
	if err := png.Encode(&qr, img); err != nil {
		return nil, fmt.Errorf("authv2/mfa/totp qr code: %w", err)
	}
	c := &mfa.TOTPCredential{ID: randid.ID(), UserID: userID, CreatedAt: now}
	c.Secret = t.ring.Seal([]byte(key.Secret()), mfa.AssociatedData(purpose, userID, c.ID))
	if err := t.store.CreateTOTP(ctx, c); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, mfa.ErrAlreadyEnrolled
		}
		return nil, err
	}
	return &Enrollment{Credential: c, Secret: key.Secret(), URI: key.URL(), QRCodePNG: qr.Bytes()}, nil
}

// Confirm completes the user's pending enrollment with a valid code, which
// is then spent: it cannot also serve a login. mfa.ErrNotEnrolled without a
// pending credential, mfa.ErrAlreadyEnrolled when it is already confirmed.
func (t *Factor) Confirm(ctx context.Context, userID, code string, now time.Time) (mfa.Proof, error) {
	c, err := t.get(ctx, userID)
	if err != nil {
		return mfa.Proof{}, err
	}
	if c.Confirmed() {
		return mfa.Proof{}, mfa.ErrAlreadyEnrolled
	}
	if err := t.spend(ctx, c, code, now); err != nil {
		return mfa.Proof{}, err
	}
	switch err := t.store.ConfirmTOTP(ctx, userID, c.ID, now); {
	case errors.Is(err, store.ErrConflict):
		return mfa.Proof{}, mfa.ErrAlreadyEnrolled
	case errors.Is(err, store.ErrNotFound):
		return mfa.Proof{}, mfa.ErrNotEnrolled // re-enrolled or deleted meanwhile
	case err != nil:
		return mfa.Proof{}, err
	}
	return mfa.Proof{Factor: mfa.FactorTOTP, At: now, CredentialID: c.ID}, nil
}

// Verify checks code against the user's confirmed credential and spends
// its time step: mfa.ErrInvalidCode, mfa.ErrCodeReused (a replay, on this
// instance or another), mfa.ErrNotEnrolled. Throttling failures is the
// caller's duty, as for passwords.
func (t *Factor) Verify(ctx context.Context, userID, code string, now time.Time) (mfa.Proof, error) {
	c, err := t.get(ctx, userID)
	if err != nil {
		return mfa.Proof{}, err
	}
	if !c.Confirmed() {
		return mfa.Proof{}, mfa.ErrNotEnrolled
	}
	if err := t.spend(ctx, c, code, now); err != nil {
		return mfa.Proof{}, err
	}
	return mfa.Proof{Factor: mfa.FactorTOTP, At: now, CredentialID: c.ID}, nil
}

func (t *Factor) get(ctx context.Context, userID string) (*mfa.TOTPCredential, error) {
	c, err := t.store.GetTOTP(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, mfa.ErrNotEnrolled
	}
	return c, err
}

// spend checks code and advances the credential's guard to the matched
// step, so the step (and every earlier one) is never accepted again.
func (t *Factor) spend(ctx context.Context, c *mfa.TOTPCredential, code string, now time.Time) error {
	step, err := t.Check(c, code, now)
	if err != nil {
		return err
	}
	// After the start of step+skew+1 no code of step or earlier verifies;
	// one period more absorbs clock differences between instances.
	period := int64(t.cfg.Period / time.Second)
	expires := time.Unix((step+int64(t.cfg.Skew)+2)*period, 0)
	err = t.guard.Advance(ctx, "totp:"+c.ID, step, expires, now)
	if errors.Is(err, store.ErrConflict) {
		return mfa.ErrCodeReused
	}
	return err
}

// Check reports the time step code matches for credential c at now (the
// current step first, then those within the skew), without any store:
// mfa.ErrInvalidCode when none does. Callers must spend the step (Verify
// does) to refuse replays.
func (t *Factor) Check(c *mfa.TOTPCredential, code string, now time.Time) (int64, error) {
	want, ok := t.parseCode(code)
	if !ok {
		return 0, mfa.ErrInvalidCode
	}
	secret, err := t.ring.Open(c.Secret, mfa.AssociatedData(purpose, c.UserID, c.ID))
	if err != nil {
		return 0, err
	}
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(strings.ToUpper(string(secret)), "="))
	if err != nil {
		return 0, fmt.Errorf("authv2/mfa/totp: stored secret is not base32: %w", mfa.ErrTampered)
	}
	h := newHOTP(t.cfg.Algorithm, key, t.cfg.Digits)
	current := now.Unix() / int64(t.cfg.Period/time.Second)
	for i := range 2*t.cfg.Skew + 1 {
		// 0, -1, +1, -2, +2: the likeliest step first.
		step := current + int64((i+1)/2)
		if i%2 == 1 {
			step = current - int64((i+1)/2)
		}
		if step >= 0 && subtle.ConstantTimeEq(int32(h.value(uint64(step))), int32(want)) == 1 {
			return step, nil
		}
	}
	return 0, mfa.ErrInvalidCode
}

// parseCode reads a code of the configured length, ignoring spaces.
func (t *Factor) parseCode(code string) (uint32, bool) {
	var n uint32
	digits := 0
	for i := range len(code) {
		switch c := code[i]; {
		case c == ' ':
		case c >= '0' && c <= '9' && digits < t.cfg.Digits.Length():
			n = n*10 + uint32(c-'0')
			digits++
		default:
			return 0, false
		}
	}
	return n, digits == t.cfg.Digits.Length()
}

// hotp computes RFC 4226 values of one key for several counters with one
// HMAC key schedule. It stands in for pquerna/otp's validator, which
// cannot say which step matched (the replay guard needs it) and decodes
// the secret and keys a new HMAC for each step tried, three times the
// cost; TestHOTPAgreesWithPquerna holds it to the library's codes.
type hotp struct {
	mac hash.Hash
	mod uint32
	sum []byte
}

func newHOTP(alg otp.Algorithm, key []byte, digits otp.Digits) *hotp {
	mod := uint32(1)
	for range digits.Length() {
		mod *= 10
	}
	mac := hmac.New(alg.Hash, key)
	return &hotp{mac: mac, mod: mod, sum: make([]byte, 0, mac.Size())}
}

func (h *hotp) value(counter uint64) uint32 {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	h.mac.Reset()
	h.mac.Write(msg[:])
	sum := h.mac.Sum(h.sum[:0])
	off := sum[len(sum)-1] & 0xf // dynamic truncation, RFC 4226 section 5.3
	return (binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff) % h.mod
}

// DeleteExpired drops the replay guard's records of codes past their
// window, when the guard keeps them until asked (PostgreSQL's; memory and
// Redis expire theirs), and returns how many. The Manager's cleanup loop
// calls it.
func (t *Factor) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	if d, ok := t.guard.(interface {
		DeleteExpired(ctx context.Context, before time.Time) (int, error)
	}); ok {
		return d.DeleteExpired(ctx, before)
	}
	return 0, nil
}

// Reseal re-encrypts up to limit (at least 1) stored TOTP secrets not
// sealed under the ring's current key and returns how many it rewrote;
// call it until it returns 0 and no error after a key rotation, then
// retire the old key. A credential re-enrolled meanwhile is skipped (its
// new secret is already current). A secret that does not open
// (mfa.ErrTampered, mfa.ErrUnknownKey) does not stop the others: the
// error names each such credential and user, for the operator to delete
// (the user enrolls again) or to restore the key of.
func (t *Factor) Reseal(ctx context.Context, limit int) (int, error) {
	if limit < 1 {
		// A store lists nothing for it, and 0 means "done": the old key
		// would be retired with secrets still sealed under it.
		return 0, fmt.Errorf("%w: Reseal needs a limit of at least 1", mfa.ErrInvalidConfig)
	}
	cs, err := t.store.ListTOTPNotSealedWith(ctx, t.ring.CurrentKeyID(), limit)
	if err != nil {
		return 0, err
	}
	n := 0
	var unopened []error
	for _, c := range cs {
		s, changed, err := t.ring.Reseal(c.Secret, mfa.AssociatedData(purpose, c.UserID, c.ID))
		if err != nil {
			unopened = append(unopened, fmt.Errorf("authv2/mfa/totp: credential %q of user %q: %w", c.ID, c.UserID, err))
			continue
		}
		if !changed {
			continue
		}
		switch err := t.store.UpdateTOTPSecret(ctx, c.UserID, c.ID, c.Secret.KeyID, s); {
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		case err != nil:
			return n, err
		default:
			n++
		}
	}
	return n, errors.Join(unopened...)
}
