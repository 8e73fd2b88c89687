package mfa

import "time"

// AAL is an authenticator assurance level of NIST SP 800-63B.
type AAL int

const (
	// AALNone: nothing proven.
	AALNone AAL = 0
	// AAL1: one factor (a password, or a passkey without user
	// verification).
	AAL1 AAL = 1
	// AAL2: two distinct factors (a password and a TOTP code, recovery
	// code or security key), or a passkey that verified the user (a
	// multi-factor cryptographic authenticator).
	AAL2 AAL = 2
)

// String returns "aal1", "aal2" or "none".
func (a AAL) String() string {
	switch a {
	case AAL1:
		return "aal1"
	case AAL2:
		return "aal2"
	}
	return "none"
}

// Factor names a kind of proof.
type Factor string

// The factors a Proof can record.
const (
	FactorPassword     Factor = "password"
	FactorTOTP         Factor = "totp"
	FactorRecoveryCode Factor = "recovery_code"
	FactorWebAuthn     Factor = "webauthn"
)

// Proof records one factor proven: which, when, with which credential,
// and for WebAuthn whether the authenticator verified the user (PIN or
// biometrics).
type Proof struct {
	Factor       Factor
	At           time.Time
	CredentialID string // the TOTP credential ID or the base64url WebAuthn credential ID; "" for passwords and recovery codes
	UserVerified bool
}

// Proofs are the factors proven in one session, in the order proven.
type Proofs []Proof

// Level is the assurance the proofs reach together: AAL2 for a
// user-verifying passkey, or for something known (a password) and
// something had (a TOTP app, a recovery code list, a security key);
// AAL1 for any one proof.
func (ps Proofs) Level() AAL {
	var know, have bool
	for _, p := range ps {
		switch p.Factor {
		case FactorPassword:
			know = true
		case FactorTOTP, FactorRecoveryCode:
			have = true
		case FactorWebAuthn:
			if p.UserVerified {
				return AAL2
			}
			have = true
		}
	}
	switch {
	case know && have:
		return AAL2
	case know || have:
		return AAL1
	}
	return AALNone
}

// Since returns the proofs made at or after t.
func (ps Proofs) Since(t time.Time) Proofs {
	var out Proofs
	for _, p := range ps {
		if !p.At.Before(t) {
			out = append(out, p)
		}
	}
	return out
}

// Satisfies reports whether the proofs reach level and, when maxAge is
// positive, whether it was proven again within maxAge before now: for
// AAL2, a second factor (TOTP, recovery code or WebAuthn) proven that
// recently; for AAL1, any factor (a factor Level does not know counts
// for neither). This is the step-up test ("AAL2 within 10 minutes"):
// the app prompts for the second factor, not the password as well, since
// the session itself stands for the first.
func (ps Proofs) Satisfies(level AAL, maxAge time.Duration, now time.Time) bool {
	if ps.Level() < level {
		return false
	}
	if maxAge <= 0 || level == AALNone {
		return true
	}
	for _, p := range ps.Since(now.Add(-maxAge)) {
		switch p.Factor {
		case FactorPassword:
			if level == AAL1 {
				return true
			}
		case FactorTOTP, FactorRecoveryCode, FactorWebAuthn:
			return true
		}
	}
	return false
}
