package mfa_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/authv2/authv2/mfa"
)

func TestProofsLevel(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pw := mfa.Proof{Factor: mfa.FactorPassword, At: at}
	totp := mfa.Proof{Factor: mfa.FactorTOTP, At: at}
	rc := mfa.Proof{Factor: mfa.FactorRecoveryCode, At: at}
	key := mfa.Proof{Factor: mfa.FactorWebAuthn, At: at}
	passkey := mfa.Proof{Factor: mfa.FactorWebAuthn, At: at, UserVerified: true}
	for name, c := range map[string]struct {
		ps   mfa.Proofs
		want mfa.AAL
	}{
		"nothing":                    {nil, mfa.AALNone},
		"password":                   {mfa.Proofs{pw}, mfa.AAL1},
		"password and TOTP":          {mfa.Proofs{pw, totp}, mfa.AAL2},
		"password and recovery":      {mfa.Proofs{pw, rc}, mfa.AAL2},
		"password and security key":  {mfa.Proofs{pw, key}, mfa.AAL2},
		"security key first":         {mfa.Proofs{key, pw}, mfa.AAL2},
		"passkey with UV":            {mfa.Proofs{passkey}, mfa.AAL2},
		"security key alone":         {mfa.Proofs{key}, mfa.AAL1},
		"TOTP and a key (two haves)": {mfa.Proofs{totp, key}, mfa.AAL1},
		"unknown factor":             {mfa.Proofs{{Factor: "sms", At: at}}, mfa.AALNone},
	} {
		assert.Equal(t, c.want, c.ps.Level(), name)
	}
	assert.Equal(t, "aal2", mfa.AAL2.String())
	assert.Equal(t, "aal1", mfa.AAL1.String())
	assert.Equal(t, "none", mfa.AALNone.String())
}

func TestProofsSatisfiesFreshness(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ps := mfa.Proofs{
		{Factor: mfa.FactorPassword, At: now.Add(-time.Hour)},
		{Factor: mfa.FactorTOTP, At: now.Add(-time.Hour)},
	}
	assert.True(t, ps.Satisfies(mfa.AAL2, 0, now), "no age limit")
	assert.False(t, ps.Satisfies(mfa.AAL2, 10*time.Minute, now), "an hour-old AAL2 is not fresh")
	assert.True(t, ps.Satisfies(mfa.AAL2, 2*time.Hour, now))
	assert.False(t, ps.Satisfies(mfa.AAL1, 10*time.Minute, now))
	assert.True(t, ps.Satisfies(mfa.AALNone, 10*time.Minute, now))

	withPassword := append(ps, mfa.Proof{Factor: mfa.FactorPassword, At: now.Add(-time.Minute)})
	assert.True(t, withPassword.Satisfies(mfa.AAL1, 10*time.Minute, now))
	assert.False(t, withPassword.Satisfies(mfa.AAL2, 10*time.Minute, now), "a fresh password does not refresh AAL2")

	stepUp := append(ps, mfa.Proof{Factor: mfa.FactorTOTP, At: now.Add(-time.Minute)})
	assert.True(t, stepUp.Satisfies(mfa.AAL2, 10*time.Minute, now), "step-up: a fresh second factor on an AAL2 session")
	assert.Len(t, stepUp.Since(now.Add(-10*time.Minute)), 1)

	onlyTOTP := mfa.Proofs{{Factor: mfa.FactorTOTP, At: now}}
	assert.False(t, onlyTOTP.Satisfies(mfa.AAL2, 10*time.Minute, now), "a session below AAL2 never satisfies it")
}

// Only a factor Level counts can make a level fresh: a proof of a factor
// this package does not know (a session written by a newer version, a
// typo in the Manager) neither raises the level nor stands in for a
// second factor proven again.
func TestProofsSatisfiesIgnoresUnknownFactors(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ps := mfa.Proofs{
		{Factor: mfa.FactorPassword, At: now.Add(-time.Hour)},
		{Factor: mfa.FactorTOTP, At: now.Add(-time.Hour)},
	}
	for _, f := range []mfa.Factor{"", "sms", "TOTP"} {
		fresh := append(ps, mfa.Proof{Factor: f, At: now.Add(-time.Minute)})
		assert.False(t, fresh.Satisfies(mfa.AAL2, 10*time.Minute, now), "%q is no second factor", f)
		assert.False(t, fresh.Satisfies(mfa.AAL1, 10*time.Minute, now), "%q is no factor", f)
	}
}
