// Package mfatest holds test helpers shared by package mfa and its
// subpackages.
package mfatest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/descope/virtualwebauthn"

	"github.com/authv2/authv2/mfa"
)

// Ring returns a key ring sealing with current and opening with ids too;
// a key ID has the same bytes in every ring this returns.
func Ring(t testing.TB, current string, ids ...string) *mfa.KeyRing {
	t.Helper()
	keys := map[string][]byte{}
	for _, id := range append(ids, current) {
		keys[id] = bytes.Repeat([]byte(id+"-"), mfa.KeySize)[:mfa.KeySize]
	}
	r, err := mfa.NewKeyRing(current, keys)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Wins runs fn(0) to fn(n-1) at once and returns how many succeeded;
// every other call must fail with lost.
func Wins(t *testing.T, n int, fn func(i int) error, lost error) int64 {
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

// VirtualCredential returns a virtual P-256 WebAuthn credential whose
// coordinates both take 32 bytes: virtualwebauthn encodes them with
// big.Int.Bytes, which drops leading zeros (one key in 128), and
// go-webauthn rightly refuses the short coordinate.
func VirtualCredential(t testing.TB) virtualwebauthn.Credential {
	t.Helper()
	for {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(k.X.Bytes()) == 32 && len(k.Y.Bytes()) == 32 {
			der, err := x509.MarshalPKCS8PrivateKey(k)
			if err != nil {
				t.Fatal(err)
			}
			return virtualwebauthn.NewCredentialWithImportedKey(virtualwebauthn.KeyTypeEC2, der)
		}
	}
}
