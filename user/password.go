package user

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Argon2Params are argon2id cost parameters. Memory is in KiB.
type Argon2Params struct {
	Memory      uint32
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32
	KeyLength   uint32
}

// DefaultArgon2Params is OWASP's recommendation: m=19456 KiB (19 MiB), t=2, p=1.
var DefaultArgon2Params = Argon2Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Validate rejects parameters too weak to protect a password, and
// parameters whose hashes DecodePHC would refuse to read back (every user
// would be locked out). The floor is deliberately low (8 KiB, t=1) so
// tests can use cheap hashes; production deployments should keep the
// defaults.
func (p Argon2Params) Validate() error {
	switch {
	case p.Memory < 8:
		return errors.New("argon2 memory must be at least 8 KiB")
	case p.Memory < 8*uint32(p.Parallelism):
		return errors.New("argon2 memory must be at least 8 KiB per lane (parallelism)")
	case p.Memory > maxPHCMemory:
		return errors.New("argon2 memory must be at most 4 GiB")
	case p.Iterations > maxPHCIterations:
		return fmt.Errorf("argon2 iterations must be at most %d", maxPHCIterations)
	case p.SaltLength > maxPHCKeyOrSalt || p.KeyLength > maxPHCKeyOrSalt:
		return fmt.Errorf("argon2 salt and key must be at most %d bytes", maxPHCKeyOrSalt)
	case p.Iterations < 1:
		return errors.New("argon2 iterations must be at least 1")
	case p.Parallelism < 1:
		return errors.New("argon2 parallelism must be at least 1")
	case p.SaltLength < 8:
		return errors.New("argon2 salt must be at least 8 bytes")
	case p.KeyLength < 16:
		return errors.New("argon2 key must be at least 16 bytes")
	}
	return nil
}

// owaspMinMemory is the least memory (KiB) OWASP's Password Storage Cheat
// Sheet accepts for argon2id at each iteration count (1 to 5); five and
// more iterations need 7 MiB.
var owaspMinMemory = [...]uint32{1: 47104, 2: 19456, 3: 12288, 4: 9216, 5: 7168}

// ErrBelowOWASP: argon2id parameters below OWASP's minimum.
var ErrBelowOWASP = errors.New("authv2/user: argon2id parameters below OWASP's minimum")

// CheckOWASPMinimum reports, as an error matching ErrBelowOWASP, argon2id
// parameters cheaper than every configuration OWASP recommends (m=47104
// KiB t=1, m=19456 t=2, m=12288 t=3, m=9216 t=4, m=7168 t=5, all p=1),
// or a salt under 16 bytes. Only tests should hash below it.
func (p Argon2Params) CheckOWASPMinimum() error {
	need := owaspMinMemory[min(max(p.Iterations, 1), 5)]
	switch {
	case p.Memory < need:
		return fmt.Errorf("%w: %d KiB with %d iterations (needs at least %d KiB)", ErrBelowOWASP, p.Memory, p.Iterations, need)
	case p.SaltLength < 16:
		return fmt.Errorf("%w: a %d-byte salt (needs at least 16)", ErrBelowOWASP, p.SaltLength)
	}
	return nil
}

// weakerThan reports whether p costs less than policy on any axis.
func (p Argon2Params) weakerThan(policy Argon2Params) bool {
	return p.Memory < policy.Memory || p.Iterations < policy.Iterations ||
		p.Parallelism < policy.Parallelism || p.KeyLength < policy.KeyLength || p.SaltLength < policy.SaltLength
}

// MaxPasswordBytes caps the raw input hashed, so a multi-megabyte "password"
// cannot be used to burn CPU. 128 code points of 4 bytes each fit.
const MaxPasswordBytes = 512

var (
	// ErrMismatch: the password does not match the hash.
	ErrMismatch = errors.New("authv2/user: password does not match")
	// ErrMalformedHash: the stored hash is not a PHC argon2id or bcrypt string.
	ErrMalformedHash = errors.New("authv2/user: malformed password hash")
	// ErrPasswordTooLong: over MaxPasswordBytes, or over bcrypt's 72 bytes when verifying bcrypt.
	ErrPasswordTooLong = errors.New("authv2/user: password too long")
)

// Hasher hashes and verifies passwords. At most Concurrency hashes run at
// once; the others wait (or give up when their context ends), so a login
// flood queues instead of exhausting memory (each argon2id hash allocates
// Params.Memory KiB).
type Hasher struct {
	params Argon2Params
	sem    chan struct{}
	dummy  string // a hash of a random password, verified for unknown users

	// inFlight, when set (by tests only), is told +1 when a hash slot is
	// taken and -1 when it is given back.
	inFlight func(delta int)
}

// NewHasher returns a Hasher. concurrency <= 0 means runtime.GOMAXPROCS(0).
func NewHasher(params Argon2Params, concurrency int) (*Hasher, error) {
	if err := params.Validate(); err != nil {
		return nil, err
	}
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{params: params, sem: make(chan struct{}, concurrency)}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails on supported platforms
	dummy, err := h.hash(secret)
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

// Params returns the policy parameters new hashes use.
func (h *Hasher) Params() Argon2Params { return h.params }

func (h *Hasher) acquire(ctx context.Context) error {
	// select picks at random among ready cases: without this check a caller
	// that has already gone away would still get a slot half of the time.
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.sem <- struct{}{}:
		if h.inFlight != nil {
			h.inFlight(1)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() {
	if h.inFlight != nil {
		h.inFlight(-1)
	}
	<-h.sem
}

// Hash returns the PHC string of password under the policy parameters.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", ErrPasswordTooLong
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.hash([]byte(password))
}

func (h *Hasher) hash(password []byte) (string, error) {
	salt := make([]byte, h.params.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("authv2/user: salt: %w", err)
	}
	key := argon2.IDKey(password, salt, h.params.Iterations, h.params.Memory, h.params.Parallelism, h.params.KeyLength)
	return EncodePHC(h.params, salt, key), nil
}

// Verify checks password against encoded. needsRehash is true when the
// password matched but the hash is bcrypt or weaker than the policy, so the
// caller should store a fresh Hash. A mismatch returns ErrMismatch.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (needsRehash bool, err error) {
	if len(password) > MaxPasswordBytes {
		return false, ErrPasswordTooLong
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	return h.verify([]byte(password), encoded)
}

// VerifyDummy spends the same time as verifying a real password and always
// fails. Login calls it for unknown accounts so that timing does not reveal
// which emails are registered.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	if len(password) > MaxPasswordBytes {
		return ErrPasswordTooLong
	}
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	_, _ = h.verify([]byte(password), h.dummy)
	return ErrMismatch
}

func (h *Hasher) verify(password []byte, encoded string) (bool, error) {
	if isBcrypt(encoded) {
		// bcrypt ignores bytes after the 72nd; refusing longer input keeps
		// two passwords that differ only there from both verifying.
		if len(password) > 72 {
			return false, ErrPasswordTooLong
		}
		// Like the argon2 bounds below: a tampered cost of 31 would spin
		// for days.
		if cost, err := bcrypt.Cost([]byte(encoded)); err != nil || cost > maxBcryptCost {
			return false, ErrMalformedHash
		}
		switch err := bcrypt.CompareHashAndPassword([]byte(encoded), password); {
		case err == nil:
			return true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, ErrMismatch
		default:
			return false, ErrMalformedHash
		}
	}
	p, salt, key, err := DecodePHC(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey(password, salt, p.Iterations, p.Memory, p.Parallelism, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, ErrMismatch
	}
	return p.weakerThan(h.params), nil
}

func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// b64 accepts only canonical unpadded base64 (zero trailing bits), so one
// hash has one spelling.
var b64 = base64.RawStdEncoding.Strict()

// EncodePHC formats an argon2id hash as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>.
func EncodePHC(p Argon2Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Upper bounds on parameters read from a stored hash, so a tampered hash
// cannot make Verify allocate gigabytes.
const (
	maxPHCMemory     = 4 << 20 // KiB: 4 GiB
	maxPHCIterations = 64
	maxPHCKeyOrSalt  = 1024
	maxBcryptCost    = 16 // about 4 s; legacy systems use 10 to 14
)

// DecodePHC parses an argon2id PHC string. It returns ErrMalformedHash for
// anything else, including versions other than 19 and absurd parameters.
func DecodePHC(s string) (Argon2Params, []byte, []byte, error) {
	parts := strings.Split(s, "$")
	// The base64 decoder skips CR and LF; they have no place in a hash.
	if strings.ContainsAny(s, "\r\n") || len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		return Argon2Params{}, nil, nil, ErrMalformedHash
	}
	var p Argon2Params
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return Argon2Params{}, nil, nil, ErrMalformedHash
	}
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(fields[i], name)
		if !ok {
			return Argon2Params{}, nil, nil, ErrMalformedHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return Argon2Params{}, nil, nil, ErrMalformedHash
		}
		switch i {
		case 0:
			p.Memory = uint32(n)
		case 1:
			p.Iterations = uint32(n)
		case 2:
			if n > 255 {
				return Argon2Params{}, nil, nil, ErrMalformedHash
			}
			p.Parallelism = uint8(n)
		}
	}
	// The reference implementation (libargon2) refuses salts under 8
	// bytes and keys under 4; a stored hash below them was not made by a
	// real argon2id and cannot be trusted to verify anything.
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > maxPHCKeyOrSalt {
		return Argon2Params{}, nil, nil, ErrMalformedHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 4 || len(key) > maxPHCKeyOrSalt {
		return Argon2Params{}, nil, nil, ErrMalformedHash
	}
	if p.Memory < 8*uint32(p.Parallelism) || p.Memory > maxPHCMemory || p.Iterations < 1 ||
		p.Iterations > maxPHCIterations || p.Parallelism < 1 {
		return Argon2Params{}, nil, nil, ErrMalformedHash
	}
	p.SaltLength = uint32(len(salt))
	p.KeyLength = uint32(len(key))
	return p, salt, key, nil
}
