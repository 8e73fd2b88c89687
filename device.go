package authv2

import (
	"crypto/subtle"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/authv2/authv2/user"
)

// Device tokens follow OWASP's "Slow Down Online Guessing Attacks with
// Device Cookies": a successful login marks its client as a device the
// user logs in from. Failures from untrusted clients throttle untrusted
// clients only (the email's budgets); a client presenting a valid device
// token of the user is not subject to them and has its own failure
// budgets, so no guesser can lock the owner out of a device they used
// before.
//
// A device token is av2d_ + base64url(user ID) + "." + a 256-bit secret,
// made like the single-use tokens. The user record keeps the secret's
// SHA-256 and expiry in User.Tokens under "device:" + the hash's first 8
// bytes in hex, so checking a token needs no extra store.
const (
	devicePrefix = "av2d_"
	// deviceTokenPurpose names device tokens to newOneTimeToken and
	// parseOneTimeToken; records are kept under deviceSlot, not under it.
	deviceTokenPurpose = "device"
	deviceSlotPrefix   = "device:"
	// deviceTTL is how long a device stays trusted after its last login.
	deviceTTL = 90 * 24 * time.Hour
	// maxDevices bounds the device tokens kept per user: each is a budget
	// of guesses for whoever holds it, and the record must stay small.
	maxDevices = 10
)

// deviceSlot is the key of User.Tokens that keeps a device token's hash.
func deviceSlot(hash []byte) string { return deviceSlotPrefix + hex.EncodeToString(hash[:8]) }

// deviceKey is the rate-limiter key of a trusted device's failure budget.
func deviceKey(userID, slot string) string { return "login-device:" + userID + ":" + slot }

// trustedSlot returns the slot of tok if it is a device token of u, valid
// at now; "" otherwise.
func trustedSlot(u *user.User, tok string, now time.Time) string {
	if tok == "" {
		return ""
	}
	userID, hash, ok := parseOneTimeToken(deviceTokenPurpose, tok)
	if !ok || userID != u.ID {
		return ""
	}
	slot := deviceSlot(hash[:])
	stored, ok := u.Tokens[slot]
	if !ok || subtle.ConstantTimeCompare(stored.Hash, hash[:]) != 1 || !now.Before(stored.ExpiresAt) {
		return ""
	}
	return slot
}

// forgetDevices drops every device token of x, inside the update of a
// password reset: the reset may be the owner taking the account back
// from whoever used the old password, and a device that logged in with it
// must not keep a failure budget of its own. The owner's devices become
// trusted again at their next login.
func forgetDevices(x *user.User) {
	for k := range x.Tokens {
		if strings.HasPrefix(k, deviceSlotPrefix) {
			delete(x.Tokens, k)
		}
	}
}

// trustDevice records in x, inside the update of a successful login, that
// the client is a trusted device, and returns its device token: the
// presented one (valid for slot) with a fresh expiry, or a new one.
// Expired device tokens are dropped and, beyond maxDevices, the one
// closest to expiring (the least recently used) is evicted.
func trustDevice(x *user.User, presented, slot string, now time.Time) string {
	if x.Tokens == nil {
		x.Tokens = map[string]user.OneTimeToken{}
	}
	var devices []string
	for k, t := range x.Tokens {
		if strings.HasPrefix(k, deviceSlotPrefix) {
			if !now.Before(t.ExpiresAt) {
				delete(x.Tokens, k)
				continue
			}
			devices = append(devices, k)
		}
	}
	if rec, ok := x.Tokens[slot]; ok && slot != "" {
		rec.ExpiresAt = now.Add(deviceTTL)
		x.Tokens[slot] = rec
		return presented
	}
	tok, rec := newOneTimeToken(deviceTokenPurpose, x.ID, now.Add(deviceTTL))
	slices.SortFunc(devices, func(a, b string) int { return x.Tokens[a].ExpiresAt.Compare(x.Tokens[b].ExpiresAt) })
	for _, k := range devices[:max(0, len(devices)-maxDevices+1)] {
		delete(x.Tokens, k)
	}
	x.Tokens[deviceSlot(rec.Hash)] = rec
	return tok
}
