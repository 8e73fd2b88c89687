package token_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/internal/token"
)

const b64URLChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// sessionID is a well-formed 32-character session ID.
const sessionID = "abcdefghijABCDEFGHIJ0123456789-_"

func newToken(t testing.TB) (string, []byte) {
	t.Helper()
	tok, secret, err := token.New(sessionID)
	require.NoError(t, err)
	return tok, secret
}

// rederive rebuilds a token from its parts the way the format documents it,
// independently of the package's own code.
func rederive(id string, secret [32]byte) string {
	body := token.Prefix + id + base64.RawURLEncoding.EncodeToString(secret[:])
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE([]byte(body)))
	return body + base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestLength(t *testing.T) {
	assert.Equal(t, 4+32+43+6, token.Length)
}

func TestNewParseRoundTrip(t *testing.T) {
	tok, secret := newToken(t)
	require.Len(t, secret, 32)

	id, got, err := token.Parse(tok)
	require.NoError(t, err)
	assert.Equal(t, sessionID, id)
	assert.Equal(t, secret, got[:])
	assert.Equal(t, tok, rederive(id, got))
}

func TestNewRejectsBadSessionID(t *testing.T) {
	for name, id := range map[string]string{
		"empty":     "",
		"short":     sessionID[:31],
		"long":      sessionID + "a",
		"bad char":  sessionID[:31] + "+",
		"padding":   sessionID[:31] + "=",
		"non-ascii": sessionID[:30] + "é",
	} {
		t.Run(name, func(t *testing.T) {
			tok, secret, err := token.New(id)
			assert.ErrorIs(t, err, token.ErrMalformed)
			assert.Empty(t, tok)
			assert.Nil(t, secret)
		})
	}
}

func TestNewTokensUniqueAndWellFormed(t *testing.T) {
	const n = 10_000
	seen := make(map[string]struct{}, n)
	secrets := make(map[string]struct{}, n)
	for range n {
		tok, secret := newToken(t)
		require.Len(t, tok, token.Length)
		require.True(t, strings.HasPrefix(tok, token.Prefix), tok)
		for _, c := range tok[len(token.Prefix):] {
			require.True(t, strings.ContainsRune(b64URLChars, c), "character %q in %s", c, tok)
		}
		seen[tok] = struct{}{}
		secrets[string(secret)] = struct{}{}
	}
	assert.Len(t, seen, n, "duplicate tokens")
	assert.Len(t, secrets, n, "duplicate secrets")
}

// Every single-character substitution anywhere in a valid token must be
// rejected: the checksum covers every character, and the encoding of the
// checksum and secret is canonical (no ignored trailing bits).
func TestParseRejectsAnySingleCharacterChange(t *testing.T) {
	for range 20 {
		tok, _ := newToken(t)
		b := []byte(tok)
		for i := range b {
			orig := b[i]
			for c := 0; c < 256; c++ {
				if byte(c) == orig {
					continue
				}
				b[i] = byte(c)
				_, _, err := token.Parse(string(b))
				if !assert.ErrorIs(t, err, token.ErrMalformed, "position %d changed %q -> %q", i, orig, c) {
					return
				}
			}
			b[i] = orig
		}
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	tok, _ := newToken(t)
	cases := map[string]string{
		"empty":               "",
		"prefix only":         token.Prefix,
		"one short":           tok[:len(tok)-1],
		"one long":            tok + "A",
		"doubled":             tok + tok,
		"no prefix":           tok[len(token.Prefix):],
		"wrong prefix":        "av1_" + tok[len(token.Prefix):],
		"upper prefix":        "AV2_" + tok[len(token.Prefix):],
		"std base64 plus":     tok[:10] + "+" + tok[11:],
		"std base64 slash":    tok[:10] + "/" + tok[11:],
		"padding":             tok[:len(tok)-1] + "=",
		"space":               tok[:10] + " " + tok[11:],
		"newline":             tok[:10] + "\n" + tok[11:],
		"NUL":                 tok[:10] + "\x00" + tok[11:],
		"non-ascii":           tok[:len(tok)-2] + "é",
		"swapped halves":      token.Prefix + tok[len(token.Prefix)+idLen():len(tok)-6] + tok[len(token.Prefix):len(token.Prefix)+idLen()] + tok[len(tok)-6:],
		"all A":               token.Prefix + strings.Repeat("A", token.Length-len(token.Prefix)),
		"bearer prefix":       "Bearer " + tok[:token.Length-7],
		"trailing whitespace": tok[:len(tok)-1] + " ",
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			id, secret, err := token.Parse(s)
			assert.ErrorIs(t, err, token.ErrMalformed)
			assert.Empty(t, id)
			assert.Equal(t, [32]byte{}, secret)
		})
	}
}

func idLen() int { return len(sessionID) }

// A forger who knows the format can compute a valid CRC for any string, so
// the checksum alone must not let two spellings of one secret both parse:
// non-canonical base64 (non-zero trailing bits) is rejected.
func TestParseRejectsNonCanonicalSecret(t *testing.T) {
	tok, _ := newToken(t)
	body := []byte(tok[:token.Length-6])
	last := len(body) - 1 // last secret character carries 2 unused bits
	idx := strings.IndexByte(b64URLChars, body[last])
	require.GreaterOrEqual(t, idx, 0)
	body[last] = b64URLChars[idx^1]
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE(body))
	forged := string(body) + base64.RawURLEncoding.EncodeToString(sum[:])

	_, _, err := token.Parse(forged)
	assert.ErrorIs(t, err, token.ErrMalformed)
}

func TestParseDoesNotAllocate(t *testing.T) {
	tok, _ := newToken(t)
	bad := tok[:len(tok)-1] + "x"
	var err error
	allocs := testing.AllocsPerRun(1000, func() {
		_, _, err = token.Parse(tok)
	})
	require.NoError(t, err)
	assert.Zero(t, allocs, "Parse of a valid token")
	allocs = testing.AllocsPerRun(1000, func() {
		_, _, err = token.Parse(bad)
	})
	require.Error(t, err)
	assert.Zero(t, allocs, "Parse of an invalid token")
}

// No code of this module reachable from the token package may import
// math/rand. The standard library's crypto/rand itself reaches math/rand
// (math/big for rand.Int, crypto/internal/randutil), so a bare "math/rand
// is absent from go list -deps" can never hold; what matters is that no
// non-standard package in the graph, the token package included, imports it.
func TestNoMathRandInDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go binary not found: cannot list dependencies")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f",
		`{{if not .Standard}}{{.ImportPath}}{{range .Imports}} {{.}}{{end}}{{end}}`,
		"github.com/authv2/authv2/internal/token").Output()
	require.NoError(t, err)
	var pkgs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		pkgs = append(pkgs, fields[0])
		for _, imp := range fields[1:] {
			assert.False(t, imp == "math/rand" || imp == "math/rand/v2", "%s imports %s", fields[0], imp)
		}
		if fields[0] == "github.com/authv2/authv2/internal/token" {
			assert.Contains(t, fields[1:], "crypto/rand", "sanity: token draws from crypto/rand")
		}
	}
	require.NoError(t, sc.Err())
	require.Contains(t, pkgs, "github.com/authv2/authv2/internal/token", "sanity: the listing is complete")
}

func FuzzParse(f *testing.F) {
	tok, _, err := token.New(sessionID)
	require.NoError(f, err)
	f.Add(tok)
	f.Add("")
	f.Add(token.Prefix)
	f.Add(tok[:len(tok)-1] + "B")
	f.Add(tok[len(token.Prefix):] + "xxxx")
	f.Add(token.Prefix + strings.Repeat("_", token.Length-len(token.Prefix)))
	f.Add(strings.Repeat("\xff", token.Length))
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, err := token.Parse(s)
		if err != nil {
			if !errors.Is(err, token.ErrMalformed) {
				t.Fatalf("Parse(%q) error %v is not ErrMalformed", s, err)
			}
			if id != "" || secret != [32]byte{} {
				t.Fatalf("Parse(%q) failed but returned data", s)
			}
			return
		}
		if got := rederive(id, secret); got != s {
			t.Fatalf("Parse(%q) accepted a token that re-derives to %q", s, got)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	tok, _ := newToken(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := token.Parse(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func TestKeyRoundTripAndDistinctFromSessionTokens(t *testing.T) {
	key, secret, err := token.NewKey(sessionID)
	require.NoError(t, err)
	require.Len(t, key, token.KeyLength)
	assert.True(t, strings.HasPrefix(key, token.KeyPrefix))
	assert.True(t, token.IsKey(key))
	assert.Regexp(t, "^"+token.KeyPattern+"$", key)

	id, got, err := token.ParseKey(key)
	require.NoError(t, err)
	assert.Equal(t, sessionID, id)
	assert.Equal(t, secret, got[:])

	_, _, err = token.Parse(key)
	assert.ErrorIs(t, err, token.ErrMalformed, "a key is not a session token")
	tok, _ := newToken(t)
	_, _, err = token.ParseKey(tok)
	assert.ErrorIs(t, err, token.ErrMalformed, "a session token is not a key")
	assert.False(t, token.IsKey(tok))
	assert.NotRegexp(t, token.KeyPattern, tok)

	// A session token given the key prefix fails the checksum, which
	// covers the prefix.
	_, _, err = token.ParseKey("av2k_" + tok[len(token.Prefix):] + "A")
	assert.ErrorIs(t, err, token.ErrMalformed)
}

func TestParseKeyRejectsAnySingleCharacterChange(t *testing.T) {
	key, _, err := token.NewKey(sessionID)
	require.NoError(t, err)
	b := []byte(key)
	for i := range b {
		orig := b[i]
		for c := 0; c < 256; c++ {
			if byte(c) == orig {
				continue
			}
			b[i] = byte(c)
			if _, _, err := token.ParseKey(string(b)); !assert.ErrorIs(t, err, token.ErrMalformed, "position %d", i) {
				return
			}
		}
		b[i] = orig
	}
}

func TestParseKeyDoesNotAllocate(t *testing.T) {
	key, _, err := token.NewKey(sessionID)
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(1000, func() { _, _, err = token.ParseKey(key) })
	require.NoError(t, err)
	assert.Zero(t, allocs)
}
