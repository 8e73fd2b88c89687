package main

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/mfa/totp"
	"github.com/authv2/authv2/mfa/webauthn"
)

// mfaStores are where second factors live: credentials, pending logins
// and WebAuthn ceremonies, and the TOTP replay guard.
type mfaStores struct {
	factors    mfa.Store
	challenges mfa.ChallengeStore
	guard      mfa.ReplayGuard
}

// mfaOption enables TOTP, recovery codes and WebAuthn when the keys are
// configured: AUTHV2_MFA_KEY seals TOTP secrets (AES-256-GCM) and
// AUTHV2_MFA_RECOVERY_KEY keys the recovery-code hashes, each 32 bytes in
// standard base64, kept like any other secret (a lost key loses every
// enrolled factor). WebAuthn's relying party is AUTHV2_WEBAUTHN_RP_ID
// (default localhost) with the origins AUTHV2_WEBAUTHN_ORIGINS
// (comma-separated; default http://localhost:8080). nil when no key is
// set: MFA is off and its routes answer 500.
func mfaOption(getenv func(string) string, s mfaStores) (authv2.Option, error) {
	sealKey, recoveryKey := getenv("AUTHV2_MFA_KEY"), getenv("AUTHV2_MFA_RECOVERY_KEY")
	if sealKey == "" && recoveryKey == "" {
		return nil, nil
	}
	seal, err := decodeKey("AUTHV2_MFA_KEY", sealKey)
	if err != nil {
		return nil, err
	}
	recovery, err := decodeKey("AUTHV2_MFA_RECOVERY_KEY", recoveryKey)
	if err != nil {
		return nil, err
	}
	// One key, ID "1"; to rotate, a deployment would list the old keys
	// too and reseal (totp.Factor.Reseal).
	ring, err := mfa.NewKeyRing("1", map[string][]byte{"1": seal})
	if err != nil {
		return nil, fmt.Errorf("AUTHV2_MFA_KEY: %w", err)
	}
	tp, err := totp.New(totp.Config{Issuer: "authv2 example"}, ring, s.factors, s.guard)
	if err != nil {
		return nil, err
	}
	rpID := getenv("AUTHV2_WEBAUTHN_RP_ID")
	if rpID == "" {
		rpID = "localhost"
	}
	origins := []string{"http://localhost:8080"}
	if o := getenv("AUTHV2_WEBAUTHN_ORIGINS"); o != "" {
		origins = strings.Split(o, ",")
	}
	rp, err := webauthn.New(webauthn.Config{RPID: rpID, RPDisplayName: "authv2 example", RPOrigins: origins}, s.factors, s.challenges)
	if err != nil {
		return nil, fmt.Errorf("AUTHV2_WEBAUTHN_RP_ID / AUTHV2_WEBAUTHN_ORIGINS: %w", err)
	}
	return authv2.WithMFA(authv2.MFA{Store: s.factors, Challenges: s.challenges, TOTP: tp, WebAuthn: rp.JSON(), RecoveryKey: recovery}), nil
}

func decodeKey(name, v string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(k) != mfa.KeySize {
		return nil, fmt.Errorf("%s must be %d bytes in standard base64 (openssl rand -base64 %d)", name, mfa.KeySize, mfa.KeySize)
	}
	return k, nil
}
