// Package mfa holds the building blocks of multi-factor authentication:
// TOTP (RFC 6238) with secrets sealed under an application key ring,
// single-use recovery codes, WebAuthn passkeys and security keys, the
// assurance levels a session can reach, and the store contracts they
// need. It imports neither the root package nor any store: the Manager
// wires these blocks into its login, session and authorization flows.
//
// # Factors
//
// TOTP: package mfa/totp enrolls (a pending credential whose secret is
// sealed with the KeyRing's current key), confirms an enrollment with one
// valid code, and verifies codes of the current 30-second step or one
// step either side, each only once: the matched step is advanced in a
// ReplayGuard with a compare-and-set, so two instances given the same
// code cannot both accept it, and a code older than the last accepted one
// is refused too.
//
// Recovery codes: Generate returns ten codes of 120 random bits each, to
// show once; the store keeps their keyed hashes. Using a code is one
// atomic store write, so of two concurrent uses exactly one wins;
// generating a new set voids the old one.
//
// WebAuthn: package mfa/webauthn runs the ceremonies (registration,
// second-factor login, passwordless login with discoverable credentials)
// over this package's stores, with github.com/go-webauthn/webauthn. The
// ceremony state lives in a ChallengeStore under a random ID with a short
// TTL and is taken (read and deleted at once) by the finishing call, so
// an assertion cannot be replayed. A sign count that does not grow is
// refused, and the store applies the new count with a compare-and-set,
// so two instances cannot both accept one assertion.
//
// The factors that need a third-party library are subpackages, so that
// the store adapters, which import this package, link neither.
//
// # Assurance
//
// A Proof records which factor was proven, when and with which
// credential; Proofs.Level derives the NIST SP 800-63B level (AAL1, AAL2)
// and Proofs.Satisfies answers step-up questions ("AAL2 within the last
// ten minutes").
//
// # Stores
//
// Store keeps factor credentials (memory and PostgreSQL), ChallengeStore
// keeps ceremony state and ReplayGuard the last accepted TOTP step
// (memory, PostgreSQL and Redis). Their contracts are in their doc
// comments and in store/storetest.
package mfa
