package mfa

import "testing"

// SealedCredential builds a TOTP credential holding secret, sealed as
// Enroll would.
func SealedCredential(_ testing.TB, r *KeyRing, userID, id, secret string) *TOTPCredential {
	return &TOTPCredential{ID: id, UserID: userID, Secret: r.Seal([]byte(secret), boundAD(totpPurpose, userID, id))}
}
