package user_test

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/authv2/authv2/authv2test"
	"github.com/authv2/authv2/user"
)

// cheap keeps every test but the production-defaults one fast.
var cheap = authv2test.FastPasswordParams

func newHasher(t testing.TB, p user.Argon2Params) *user.Hasher {
	t.Helper()
	h, err := user.NewHasher(p, 0)
	require.NoError(t, err)
	return h
}

func TestHashProductionDefaults(t *testing.T) {
	require.Equal(t, user.Argon2Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		user.DefaultArgon2Params, "OWASP's argon2id minimum")
	h := newHasher(t, user.DefaultArgon2Params)
	ctx := context.Background()

	encoded, err := h.Hash(ctx, "correct horse battery staple")
	require.NoError(t, err)
	// 16-byte salt: 22 characters; 32-byte key: 43 characters; no padding.
	assert.Regexp(t, regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`), encoded)

	rehash, err := h.Verify(ctx, "correct horse battery staple", encoded)
	require.NoError(t, err)
	assert.False(t, rehash)
	_, err = h.Verify(ctx, "correct horse battery stapler", encoded)
	assert.ErrorIs(t, err, user.ErrMismatch)
}

func TestHashVerifyRoundTrip(t *testing.T) {
	h := newHasher(t, cheap)
	ctx := context.Background()
	for _, pw := range []string{
		"password",
		"pass word with spaces ",
		"ünïcødé пароль 密码 🔑",
		strings.Repeat("x", user.MaxPasswordBytes),
		"",
	} {
		encoded, err := h.Hash(ctx, pw)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(encoded, "$argon2id$v=19$m=64,t=1,p=1$"), encoded)

		rehash, err := h.Verify(ctx, pw, encoded)
		require.NoError(t, err, "password %q", pw)
		assert.False(t, rehash)

		wrongs := []string{"#" + pw[min(1, len(pw)):]} // same length (but for "")
		if len(pw) < user.MaxPasswordBytes {
			wrongs = append(wrongs, pw+"x", pw+" ", strings.ToUpper(pw)+"!")
		}
		for _, wrong := range wrongs {
			rehash, err := h.Verify(ctx, wrong, encoded)
			assert.ErrorIs(t, err, user.ErrMismatch, "password %q against hash of %q", wrong, pw)
			assert.False(t, rehash)
		}
	}
}

func TestHashSaltsAreUnique(t *testing.T) {
	h := newHasher(t, cheap)
	ctx := context.Background()
	const n = 1000
	hashes := make(map[string]struct{}, n)
	salts := make(map[string]struct{}, n)
	for range n {
		encoded, err := h.Hash(ctx, "same password")
		require.NoError(t, err)
		p, salt, _, err := user.DecodePHC(encoded)
		require.NoError(t, err)
		require.Equal(t, uint32(16), p.SaltLength)
		hashes[encoded] = struct{}{}
		salts[string(salt)] = struct{}{}
	}
	assert.Len(t, hashes, n)
	assert.Len(t, salts, n)
}

func TestVerifyNeedsRehash(t *testing.T) {
	policy := user.Argon2Params{Memory: 64, Iterations: 2, Parallelism: 2, SaltLength: 16, KeyLength: 32}
	ph := newHasher(t, policy)
	ctx := context.Background()

	with := func(f func(*user.Argon2Params)) user.Argon2Params {
		p := policy
		f(&p)
		return p
	}
	for _, tc := range []struct {
		name   string
		stored user.Argon2Params
		want   bool
	}{
		{"equal", policy, false},
		{"more memory", with(func(p *user.Argon2Params) { p.Memory = 128 }), false},
		{"more iterations", with(func(p *user.Argon2Params) { p.Iterations = 3 }), false},
		{"more parallelism", with(func(p *user.Argon2Params) { p.Parallelism = 4 }), false},
		{"longer salt", with(func(p *user.Argon2Params) { p.SaltLength = 32 }), false},
		{"longer key", with(func(p *user.Argon2Params) { p.KeyLength = 64 }), false},
		{"all stronger", user.Argon2Params{Memory: 256, Iterations: 3, Parallelism: 4, SaltLength: 32, KeyLength: 64}, false},
		{"less memory", with(func(p *user.Argon2Params) { p.Memory = 32 }), true},
		{"fewer iterations", with(func(p *user.Argon2Params) { p.Iterations = 1 }), true},
		{"less parallelism", with(func(p *user.Argon2Params) { p.Parallelism = 1 }), true},
		{"shorter salt", with(func(p *user.Argon2Params) { p.SaltLength = 8 }), true},
		{"shorter key", with(func(p *user.Argon2Params) { p.KeyLength = 16 }), true},
		{"stronger but less memory", with(func(p *user.Argon2Params) { p.Memory = 32; p.Iterations = 8 }), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			encoded, err := newHasher(t, tc.stored).Hash(ctx, "pw")
			require.NoError(t, err)
			rehash, err := ph.Verify(ctx, "pw", encoded)
			require.NoError(t, err)
			assert.Equal(t, tc.want, rehash)

			// A wrong password never asks for a rehash.
			rehash, err = ph.Verify(ctx, "other", encoded)
			assert.ErrorIs(t, err, user.ErrMismatch)
			assert.False(t, rehash)
		})
	}
}

func TestVerifyBcryptImport(t *testing.T) {
	h := newHasher(t, cheap)
	ctx := context.Background()

	t.Run("cost 10", func(t *testing.T) {
		hash, err := bcrypt.GenerateFromPassword([]byte("legacy password"), 10)
		require.NoError(t, err)
		rehash, err := h.Verify(ctx, "legacy password", string(hash))
		require.NoError(t, err)
		assert.True(t, rehash, "bcrypt hashes must be upgraded to argon2id")

		rehash, err = h.Verify(ctx, "legacy passworD", string(hash))
		assert.ErrorIs(t, err, user.ErrMismatch)
		assert.False(t, rehash)
	})

	t.Run("prefixes 2a 2b 2y", func(t *testing.T) {
		hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(hash), "$2a$"))
		for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
			encoded := prefix + string(hash[4:])
			rehash, err := h.Verify(ctx, "pw", encoded)
			assert.NoError(t, err, prefix)
			assert.True(t, rehash, prefix)
		}
	})

	t.Run("no truncation at 72 bytes", func(t *testing.T) {
		base := strings.Repeat("k", 72)
		hash, err := bcrypt.GenerateFromPassword([]byte(base), bcrypt.MinCost)
		require.NoError(t, err)

		_, err = h.Verify(ctx, base, string(hash))
		require.NoError(t, err, "exactly 72 bytes is bcrypt's limit and verifies")

		// Differ only at byte 73: bcrypt would ignore it, so neither may verify.
		for _, pw := range []string{base + "a", base + "b", base + strings.Repeat("z", 100)} {
			rehash, err := h.Verify(ctx, pw, string(hash))
			assert.ErrorIs(t, err, user.ErrPasswordTooLong, "%d bytes", len(pw))
			assert.False(t, rehash)
		}
	})

	t.Run("tampered cost", func(t *testing.T) {
		hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(hash), "$2a$04$"))
		// Cost 31 would run 2^31 rounds: refused without computing.
		encoded := "$2a$31$" + string(hash[7:])
		rehash, err := h.Verify(ctx, "pw", encoded)
		assert.ErrorIs(t, err, user.ErrMalformedHash)
		assert.False(t, rehash)
	})
}

// validPHC returns a well-formed PHC string and its parts.
func validPHC() (user.Argon2Params, []byte, []byte, string) {
	salt := []byte("0123456789abcdef")
	key := []byte("0123456789abcdef0123456789abcdef")
	return cheap, salt, key, user.EncodePHC(cheap, salt, key)
}

func TestEncodeDecodePHC(t *testing.T) {
	p, salt, key, s := validPHC()
	assert.Equal(t, "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY", s)
	gp, gs, gk, err := user.DecodePHC(s)
	require.NoError(t, err)
	assert.Equal(t, p, gp)
	assert.Equal(t, salt, gs)
	assert.Equal(t, key, gk)
}

func TestDecodePHCAcceptsBoundaries(t *testing.T) {
	salt := base64.RawStdEncoding.EncodeToString([]byte("saltsalt"))
	key := base64.RawStdEncoding.EncodeToString([]byte("keykeykeykeykeyk"))
	for _, tc := range []struct {
		params string
		want   user.Argon2Params
	}{
		{"m=8,t=1,p=1", user.Argon2Params{Memory: 8, Iterations: 1, Parallelism: 1}},
		{"m=4194304,t=64,p=255", user.Argon2Params{Memory: 4194304, Iterations: 64, Parallelism: 255}},
		{"m=2040,t=1,p=255", user.Argon2Params{Memory: 2040, Iterations: 1, Parallelism: 255}},
		{"m=19456,t=2,p=1", user.Argon2Params{Memory: 19456, Iterations: 2, Parallelism: 1}},
	} {
		p, _, _, err := user.DecodePHC("$argon2id$v=19$" + tc.params + "$" + salt + "$" + key)
		require.NoError(t, err, tc.params)
		tc.want.SaltLength, tc.want.KeyLength = 8, 16
		assert.Equal(t, tc.want, p, tc.params)
	}
}

func TestDecodePHCRejectsMalformed(t *testing.T) {
	_, _, _, valid := validPHC()
	parts := strings.Split(valid, "$") // "", alg, v, params, salt, key
	build := func(alg, v, params, salt, key string) string {
		return strings.Join([]string{"", alg, v, params, salt, key}, "$")
	}
	alg, ver, params, salt, key := parts[1], parts[2], parts[3], parts[4], parts[5]
	b64 := base64.RawStdEncoding.EncodeToString

	cases := map[string]string{
		"empty":                "",
		"dollar":               "$",
		"argon2i":              build("argon2i", ver, params, salt, key),
		"argon2d":              build("argon2d", ver, params, salt, key),
		"upper case alg":       build("ARGON2ID", ver, params, salt, key),
		"scrypt":               build("scrypt", ver, params, salt, key),
		"v=16":                 build(alg, "v=16", params, salt, key),
		"v=20":                 build(alg, "v=20", params, salt, key),
		"version missing":      "$" + strings.Join([]string{alg, params, salt, key}, "$"),
		"params missing":       "$" + strings.Join([]string{alg, ver, salt, key}, "$"),
		"salt missing":         "$" + strings.Join([]string{alg, ver, params, key}, "$"),
		"key missing":          "$" + strings.Join([]string{alg, ver, params, salt}, "$"),
		"trailing dollar":      valid + "$",
		"extra field":          valid + "$" + key,
		"no leading dollar":    valid[1:],
		"leading junk":         "x" + valid,
		"m missing":            build(alg, ver, "t=1,p=1", salt, key),
		"p missing":            build(alg, ver, "m=64,t=1", salt, key),
		"extra param":          build(alg, ver, "m=64,t=1,p=1,k=1", salt, key),
		"params reordered":     build(alg, ver, "t=1,m=64,p=1", salt, key),
		"param spaces":         build(alg, ver, "m=64, t=1, p=1", salt, key),
		"param empty value":    build(alg, ver, "m=,t=1,p=1", salt, key),
		"param negative":       build(alg, ver, "m=-64,t=1,p=1", salt, key),
		"param plus sign":      build(alg, ver, "m=+64,t=1,p=1", salt, key),
		"param hex":            build(alg, ver, "m=0x40,t=1,p=1", salt, key),
		"m=0":                  build(alg, ver, "m=0,t=1,p=1", salt, key),
		"salt of 7 bytes":      build(alg, ver, params, b64([]byte("1234567")), key),
		"key of 3 bytes":       build(alg, ver, params, salt, b64([]byte("123"))),
		"m below 8 KiB":        build(alg, ver, "m=7,t=1,p=1", salt, key),
		"m below 8*p":          build(alg, ver, "m=15,t=1,p=2", salt, key),
		"m above 4 GiB":        build(alg, ver, "m=4194305,t=1,p=1", salt, key),
		"m overflows uint32":   build(alg, ver, "m=4294967296,t=1,p=1", salt, key),
		"m max uint32":         build(alg, ver, "m=4294967295,t=1,p=1", salt, key),
		"t=0":                  build(alg, ver, "m=64,t=0,p=1", salt, key),
		"t absurd":             build(alg, ver, "m=64,t=65,p=1", salt, key),
		"p=0":                  build(alg, ver, "m=64,t=1,p=0", salt, key),
		"p=256":                build(alg, ver, "m=4096,t=1,p=256", salt, key),
		"empty salt":           build(alg, ver, params, "", key),
		"empty key":            build(alg, ver, params, salt, ""),
		"tiny key":             build(alg, ver, params, salt, b64([]byte("abc"))),
		"huge salt":            build(alg, ver, params, b64(make([]byte, 1025)), key),
		"huge key":             build(alg, ver, params, salt, b64(make([]byte, 1025))),
		"salt bad base64":      build(alg, ver, params, "!!!!", key),
		"key bad base64":       build(alg, ver, params, salt, "****"),
		"salt padded":          build(alg, ver, params, base64.StdEncoding.EncodeToString([]byte("0123456789abcdef")), key),
		"salt url alphabet":    build(alg, ver, params, "-_-_-_-_-_-_", key),
		"salt one char":        build(alg, ver, params, "A", key),
		"key non-canonical":    build(alg, ver, params, salt, key[:len(key)-1]+"h"),
		"salt with newline":    build(alg, ver, params, salt[:8]+"\n"+salt[8:], key),
		"key with CR":          build(alg, ver, params, salt, key[:8]+"\r"+key[8:]),
		"bcrypt":               "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"bcrypt as argon":      build(alg, ver, params, "N9qo8uLOickgx2ZMRZoMye", "IjZAgcfl7p92ldGxad68LJZdL17lhWy!"),
		"NUL":                  valid + "\x00",
		"invalid utf8 in salt": build(alg, ver, params, "\xff\xfe", key),
	}
	h := newHasher(t, cheap)
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			p, gotSalt, gotKey, err := user.DecodePHC(s)
			assert.ErrorIs(t, err, user.ErrMalformedHash)
			assert.Equal(t, user.Argon2Params{}, p)
			assert.Nil(t, gotSalt)
			assert.Nil(t, gotKey)

			if strings.HasPrefix(s, "$2") {
				return // a valid bcrypt hash is not a malformed one for Verify
			}
			var rehash bool
			require.NotPanics(t, func() { rehash, err = h.Verify(context.Background(), "pw", s) })
			assert.ErrorIs(t, err, user.ErrMalformedHash)
			assert.False(t, rehash)
		})
	}
}

func TestVerifyMalformedBcrypt(t *testing.T) {
	h := newHasher(t, cheap)
	for _, s := range []string{"$2a$", "$2b$10$", "$2y$10$tooShort", "$2a$xx$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"} {
		var rehash bool
		var err error
		require.NotPanics(t, func() { rehash, err = h.Verify(context.Background(), "pw", s) }, s)
		assert.ErrorIs(t, err, user.ErrMalformedHash, s)
		assert.False(t, rehash, s)
	}
}

func TestMaxPasswordBytes(t *testing.T) {
	h := newHasher(t, cheap)
	ctx := context.Background()
	atMax := strings.Repeat("a", user.MaxPasswordBytes)
	over := atMax + "a"

	encoded, err := h.Hash(ctx, atMax)
	require.NoError(t, err)
	_, err = h.Verify(ctx, atMax, encoded)
	require.NoError(t, err)

	got, err := h.Hash(ctx, over)
	assert.ErrorIs(t, err, user.ErrPasswordTooLong)
	assert.Empty(t, got)
	rehash, err := h.Verify(ctx, over, encoded)
	assert.ErrorIs(t, err, user.ErrPasswordTooLong)
	assert.False(t, rehash)
	assert.ErrorIs(t, h.VerifyDummy(ctx, over), user.ErrPasswordTooLong)
	// Multi-megabyte input is refused just the same, without hashing.
	_, err = h.Hash(ctx, strings.Repeat("a", 10<<20))
	assert.ErrorIs(t, err, user.ErrPasswordTooLong)
}

func TestVerifyDummyAlwaysMismatches(t *testing.T) {
	h := newHasher(t, cheap)
	ctx := context.Background()
	for _, pw := range []string{"", "password", "ünïcødé", strings.Repeat("p", user.MaxPasswordBytes)} {
		assert.ErrorIs(t, h.VerifyDummy(ctx, pw), user.ErrMismatch, pw)
	}
}

func TestNewHasherRejectsWeakParams(t *testing.T) {
	for name, p := range map[string]user.Argon2Params{
		"zero":        {},
		"memory":      {Memory: 7, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		"iterations":  {Memory: 64, Iterations: 0, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		"parallelism": {Memory: 64, Iterations: 1, Parallelism: 0, SaltLength: 16, KeyLength: 32},
		"salt":        {Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 7, KeyLength: 32},
		"key":         {Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 15},
		// Hashes DecodePHC could not read back: every login would fail.
		"memory per lane": {Memory: 8, Iterations: 1, Parallelism: 2, SaltLength: 16, KeyLength: 32},
		"iterations cap":  {Memory: 64, Iterations: 65, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		"salt cap":        {Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 2000, KeyLength: 32},
		"key cap":         {Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 2000},
	} {
		h, err := user.NewHasher(p, 1)
		assert.Error(t, err, name)
		assert.Nil(t, h, name)
	}
	h, err := user.NewHasher(cheap, 1)
	require.NoError(t, err)
	assert.Equal(t, cheap, h.Params())
	// At the bounds, what is hashed verifies.
	edge := user.Argon2Params{Memory: 16, Iterations: 1, Parallelism: 2, SaltLength: 1024, KeyLength: 16}
	h, err = user.NewHasher(edge, 1)
	require.NoError(t, err)
	enc, err := h.Hash(context.Background(), "correct horse battery")
	require.NoError(t, err)
	_, err = h.Verify(context.Background(), "correct horse battery", enc)
	require.NoError(t, err)
}

// A caller whose context has already ended gets its error and no hash,
// even when a slot is free.
func TestCanceledContext(t *testing.T) {
	h := newHasher(t, cheap)
	encoded, err := h.Hash(context.Background(), "pw")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 50 {
		got, err := h.Hash(ctx, "pw")
		require.ErrorIs(t, err, context.Canceled)
		require.Empty(t, got)
		_, err = h.Verify(ctx, "pw", encoded)
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, h.VerifyDummy(ctx, "pw"), context.Canceled)
	}
}

func TestConcurrentUse(t *testing.T) {
	h, err := user.NewHasher(cheap, 2)
	require.NoError(t, err)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			pw := strings.Repeat("p", i+1)
			encoded, err := h.Hash(ctx, pw)
			if err == nil {
				_, err = h.Verify(ctx, pw, encoded)
			}
			if err == nil {
				if e := h.VerifyDummy(ctx, pw); !errors.Is(e, user.ErrMismatch) {
					err = e
				}
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

func BenchmarkHashDefault(b *testing.B) {
	h := newHasher(b, user.DefaultArgon2Params)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCheckOWASPMinimum(t *testing.T) {
	ok := []user.Argon2Params{
		user.DefaultArgon2Params,
		{Memory: 47104, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 12288, Iterations: 3, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 9216, Iterations: 4, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 7168, Iterations: 5, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 7168, Iterations: 9, Parallelism: 2, SaltLength: 32, KeyLength: 32},
	}
	for _, p := range ok {
		assert.NoError(t, p.CheckOWASPMinimum(), "%+v", p)
	}
	weak := []user.Argon2Params{
		{Memory: 8, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 47103, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 19455, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 7167, Iterations: 64, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 8, KeyLength: 32},
	}
	for _, p := range weak {
		assert.ErrorIs(t, p.CheckOWASPMinimum(), user.ErrBelowOWASP, "%+v", p)
	}
}
