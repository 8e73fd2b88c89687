package postgres

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/mfa"
)

// auth_proofs round-trips any credential ID, separators included, and a
// value it did not write is refused rather than misread.
func TestProofsColumnRoundTrip(t *testing.T) {
	at := time.UnixMicro(1_800_000_000_123_456).UTC()
	in := mfa.Proofs{
		{Factor: mfa.FactorPassword, At: at},
		{Factor: mfa.FactorWebAuthn, At: at.Add(time.Second), CredentialID: "AQID-_w", UserVerified: true},
		{Factor: mfa.FactorTOTP, At: at.Add(2 * time.Second), CredentialID: "odd; id %+ here"},
	}
	s := marshalProofs(in)
	assert.Contains(t, s, "AQID-_w", "base64url IDs are stored as they are")
	out, err := unmarshalProofs(s)
	require.NoError(t, err)
	assert.Equal(t, in, out)
	none, err := unmarshalProofs(marshalProofs(nil))
	require.NoError(t, err)
	assert.Nil(t, none)
	for _, bad := range []string{"password", "totp x 0 c", "totp 1 0 %zz", ";"} {
		_, err := unmarshalProofs(bad)
		assert.ErrorIs(t, err, errBadProofs, "%q", bad)
	}
}
