package redis

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/session"
)

func TestPackRoundTrip(t *testing.T) {
	vals := []string{"", "a", strings.Repeat("x", 300), "\x00\x01:|", "\xff"}
	got := make([]string, len(vals))
	require.NoError(t, unpack(pack(packStamped, vals...), packStamped, got))
	assert.Equal(t, vals, got)

	for name, blob := range map[string]string{
		"empty":          "",
		"other version":  pack(packFirst, "a", "b", "c"),
		"too few values": pack(packStamped, "a", "b"),
		"trailing bytes": pack(packStamped, "a", "b", "c") + "z",
		"length too big": "\x02\x05ab",
		"bad varint":     "\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
	} {
		assert.ErrorIs(t, unpack(blob, packStamped, make([]string, 3)), errCorrupt, name)
	}
}

// Whatever Redis hands back, unpack returns values or errCorrupt, never
// panics, and what pack makes unpacks to itself.
func FuzzUnpack(f *testing.F) {
	f.Add(pack(packStamped, "id", "hash", "user", "1", "2", "stamp"), "a", "b")
	f.Add("\x02\x80", "", "")
	f.Add(pack(packAttributed, "id", "hash", "user", "1", "2", "stamp", "k", "v"), "", "")
	f.Add(pack(packImpersonated, "id", "hash", "user", "1", "2", "stamp", "actor", "sess", "imp", "k", "v"), "", "")
	f.Fuzz(func(t *testing.T, blob, a, b string) {
		var dst [6]string
		if _, _, err := unpackStatic(blob, &dst); err != nil && !errors.Is(err, errCorrupt) {
			t.Fatalf("unexpected error %v", err)
		}
		got := make([]string, 2)
		if err := unpack(pack(packFirst, a, b), packFirst, got); err != nil || got[0] != a || got[1] != b {
			t.Fatalf("round trip of %q, %q: %q, %v", a, b, got, err)
		}
	})
}

// A "d" written before sessions carried a security stamp (version 1, five
// values) still reads, with stamp ""; a version-1 blob with six values
// does not.
func TestUnpackStaticOlderLayout(t *testing.T) {
	var d [6]string
	attrs, _, err := unpackStatic(pack(packFirst, "id", "hash", "user", "1", "2"), &d)
	require.NoError(t, err)
	assert.Equal(t, [6]string{"id", "hash", "user", "1", "2", ""}, d)
	assert.Nil(t, attrs)
	attrs, _, err = unpackStatic(pack(packStamped, "id", "hash", "user", "1", "2", "s"), &d)
	require.NoError(t, err)
	assert.Equal(t, "s", d[5])
	assert.Nil(t, attrs, "a version-2 record has no attributes")
	_, _, err = unpackStatic(pack(packFirst, "id", "hash", "user", "1", "2", "s"), &d)
	assert.ErrorIs(t, err, errCorrupt)
}

// Version 3 appends the attributes as key, value pairs; a session without
// attributes is still written as version 2, which older builds read.
func TestPackStaticAttributes(t *testing.T) {
	x := &session.Session{ID: "id", SecretHash: []byte("hash"), UserID: "user", SecurityStamp: "s"}
	assert.Equal(t, byte(packStamped), packStatic(x)[0])
	x.Attributes = map[string]string{"b": "2", "a": "1", "": ""}
	blob := packStatic(x)
	assert.Equal(t, byte(packAttributed), blob[0])
	var d [6]string
	attrs, _, err := unpackStatic(blob, &d)
	require.NoError(t, err)
	assert.Equal(t, x.Attributes, attrs)
	assert.Equal(t, "s", d[5])

	for name, blob := range map[string]string{
		"odd pair":      pack(packAttributed, "id", "hash", "user", "1", "2", "s", "k"),
		"duplicate key": pack(packAttributed, "id", "hash", "user", "1", "2", "s", "k", "1", "k", "2"),
		"short":         pack(packAttributed, "id", "hash", "user", "1", "2"),
	} {
		_, _, err := unpackStatic(blob, &d)
		assert.ErrorIs(t, err, errCorrupt, name)
	}
}

// Version 5 carries the impersonator between the stamp and the
// attributes; only impersonation sessions are written in it.
func TestPackStaticImpersonator(t *testing.T) {
	x := &session.Session{ID: "id", SecretHash: []byte("hash"), UserID: "user", SecurityStamp: "s",
		Impersonator: &session.Impersonator{UserID: "actor", SessionID: "sess", ImpersonationID: "imp"}}
	blob := packStatic(x)
	assert.Equal(t, byte(packImpersonated), blob[0])
	var d [6]string
	attrs, imp, err := unpackStatic(blob, &d)
	require.NoError(t, err)
	assert.Nil(t, attrs)
	assert.Equal(t, x.Impersonator, imp)
	x.Attributes = map[string]string{"plan": "pro"}
	attrs, imp, err = unpackStatic(packStatic(x), &d)
	require.NoError(t, err)
	assert.Equal(t, x.Attributes, attrs)
	assert.Equal(t, x.Impersonator, imp)
	_, _, err = unpackStatic(pack(packImpersonated, "id", "hash", "user", "1", "2", "s", "actor"), &d)
	assert.ErrorIs(t, err, errCorrupt, "a partial impersonator")
}

// "m" with proofs is version 4 and reads back; one without is version 1,
// as builds from before proofs wrote it, and reads as having none; a
// version-4 blob with no proof or a partial one is corrupt.
func TestPackMutableProofs(t *testing.T) {
	at := time.UnixMicro(1_800_000_000_123_456).UTC()
	x := &session.Session{TenantID: "t", Scope: "s", AuthenticatedAt: at, AuthLevel: 2,
		Proofs: mfa.Proofs{{Factor: mfa.FactorPassword, At: at}, {Factor: mfa.FactorWebAuthn, At: at.Add(time.Second), CredentialID: "cred", UserVerified: true}}}
	blob := packMutable(x)
	assert.Equal(t, byte(packProofs), blob[0])
	var m [7]string
	ps, err := unpackMutable(blob, &m)
	require.NoError(t, err)
	assert.Equal(t, x.Proofs, ps)
	assert.Equal(t, "2", m[3])

	x.Proofs = nil
	blob = packMutable(x)
	assert.Equal(t, byte(packFirst), blob[0], "readable by builds from before proofs")
	ps, err = unpackMutable(blob, &m)
	require.NoError(t, err)
	assert.Nil(t, ps)

	seven := []string{"t", "s", "1", "2", "ip", "ua", "dev"}
	for name, bad := range map[string]string{
		"no proof":      pack(packProofs, seven...),
		"partial proof": pack(packProofs, append(seven, "totp", "1")...),
		"wrong version": pack(packStamped, seven...),
	} {
		_, err := unpackMutable(bad, &m)
		assert.ErrorIs(t, err, errCorrupt, name)
	}
}
