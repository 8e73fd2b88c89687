package totp

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	mrand "math/rand/v2"
	"testing"

	"github.com/pquerna/otp"
	libhotp "github.com/pquerna/otp/hotp"
	"github.com/stretchr/testify/require"
)

// TestHOTPAgreesWithPquerna checks the verifier's HOTP against
// pquerna/otp's generator over random keys, counters, algorithms and
// lengths.
func TestHOTPAgreesWithPquerna(t *testing.T) {
	for i := range 3000 {
		key := make([]byte, 10+i%30)
		_, _ = rand.Read(key)
		alg := []otp.Algorithm{otp.AlgorithmSHA1, otp.AlgorithmSHA256, otp.AlgorithmSHA512}[i%3]
		digits := []otp.Digits{otp.DigitsSix, otp.DigitsEight}[i/3%2]
		counter := mrand.Uint64N(1 << 40)
		want, err := libhotp.GenerateCodeCustom(base32.StdEncoding.EncodeToString(key), counter, libhotp.ValidateOpts{Digits: digits, Algorithm: alg})
		require.NoError(t, err)
		got := fmt.Sprintf("%0*d", digits.Length(), newHOTP(alg, key, digits).value(counter))
		require.Equal(t, want, got, "alg %v digits %v counter %d", alg, digits, counter)
	}
}

// RFC 4226 appendix D.
func TestHOTPRFC4226Vectors(t *testing.T) {
	h := newHOTP(otp.AlgorithmSHA1, []byte("12345678901234567890"), otp.DigitsSix)
	for i, want := range []uint32{755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489} {
		require.Equal(t, want, h.value(uint64(i)), "counter %d", i)
	}
}
