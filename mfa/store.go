package mfa

import (
	"context"
	"time"
)

// TOTPCredential is a user's authenticator-app credential. A user has at
// most one; it is pending until Confirm accepted a code.
type TOTPCredential struct {
	ID     string // random, bound into the sealed secret's associated data
	UserID string
	Secret Sealed // the base32 secret, sealed with the KeyRing

	CreatedAt   time.Time
	ConfirmedAt time.Time // zero while pending
}

// Confirmed reports whether the enrollment was completed with a valid code.
func (c *TOTPCredential) Confirmed() bool { return !c.ConfirmedAt.IsZero() }

// RecoveryCode is one stored recovery code: its keyed hash, never the code.
type RecoveryCode struct {
	Hash   []byte
	UsedAt time.Time // zero while unused
}

// WebAuthnFlags are the authenticator data flags kept with a credential.
// UserVerified is the credential's uvInitialized (WebAuthn §6.1): whether
// its registration verified the user; a login does not change it (the
// login's Proof says whether that login did).
type WebAuthnFlags struct {
	UserPresent    bool
	UserVerified   bool
	BackupEligible bool // never changes for a credential
	BackupState    bool
}

// The authenticator data flag bits (WebAuthn §6.1), the form the stores
// keep.
const (
	flagUP = 1 << 0
	flagUV = 1 << 2
	flagBE = 1 << 3
	flagBS = 1 << 4
)

// Bits returns the flags as the authenticator data encodes them.
func (f WebAuthnFlags) Bits() uint8 {
	var b uint8
	for _, x := range []struct {
		on  bool
		bit uint8
	}{{f.UserPresent, flagUP}, {f.UserVerified, flagUV}, {f.BackupEligible, flagBE}, {f.BackupState, flagBS}} {
		if x.on {
			b |= x.bit
		}
	}
	return b
}

// FlagsFromBits is the inverse of WebAuthnFlags.Bits; other bits are
// ignored.
func FlagsFromBits(b uint8) WebAuthnFlags {
	return WebAuthnFlags{UserPresent: b&flagUP != 0, UserVerified: b&flagUV != 0, BackupEligible: b&flagBE != 0, BackupState: b&flagBS != 0}
}

// WebAuthnCredential is a registered passkey or security key: the
// WebAuthn credential record plus its name and use times.
type WebAuthnCredential struct {
	ID                []byte // the credential ID the authenticator chose; unique across users
	UserID            string
	PublicKey         []byte // COSE-encoded
	AttestationType   string
	AttestationFormat string
	SignCount         uint32
	Flags             WebAuthnFlags
	Transports        []string
	AAGUID            []byte
	Name              string // chosen by the user, for lists

	CreatedAt  time.Time
	LastUsedAt time.Time // zero until the first login with it
}

// Store keeps users' factor credentials. Implementations are safe for
// concurrent use and translate their driver's errors into package store's
// sentinels: store.ErrNotFound, store.ErrConflict, store.ErrInvalid and
// *store.UnavailableError. Times are stored at microsecond precision.
type Store interface {
	// CreateTOTP stores c as the user's TOTP credential. A pending
	// credential of the user is replaced (enrollment starts over); a
	// confirmed one is kept and CreateTOTP returns store.ErrConflict.
	CreateTOTP(ctx context.Context, c *TOTPCredential) error
	// GetTOTP returns the user's TOTP credential, pending or confirmed, or
	// store.ErrNotFound.
	GetTOTP(ctx context.Context, userID string) (*TOTPCredential, error)
	// ConfirmTOTP marks the user's pending credential id confirmed at at.
	// store.ErrNotFound when the user has no credential id; store.ErrConflict
	// when it is already confirmed (of two concurrent confirmations, one
	// wins).
	ConfirmTOTP(ctx context.Context, userID, id string, at time.Time) error
	// UpdateTOTPSecret replaces the sealed secret of credential id with s,
	// only while the stored secret is still sealed under oldKeyID (a
	// compare-and-set, so a key rotation racing a re-enrollment cannot
	// overwrite the new secret): store.ErrConflict otherwise,
	// store.ErrNotFound when the credential is gone.
	UpdateTOTPSecret(ctx context.Context, userID, id, oldKeyID string, s Sealed) error
	// ListTOTPNotSealedWith returns up to limit credentials whose secret
	// is sealed under a key other than keyID, for re-encryption after a
	// key rotation.
	ListTOTPNotSealedWith(ctx context.Context, keyID string, limit int) ([]*TOTPCredential, error)
	// DeleteTOTP removes the user's TOTP credential, or store.ErrNotFound.
	DeleteTOTP(ctx context.Context, userID string) error

	// ReplaceRecoveryCodes stores hashes as the user's recovery codes,
	// voiding every code stored before, in one atomic step;
	// store.ErrConflict, and nothing changes, when a hash is there twice.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, at time.Time) error
	// UseRecoveryCode marks the user's unused code of that hash used at
	// at, atomically: of concurrent uses of one code exactly one succeeds,
	// the others (and any later use, or an unknown hash) get
	// store.ErrNotFound.
	UseRecoveryCode(ctx context.Context, userID string, hash []byte, at time.Time) error
	// ListRecoveryCodes returns the user's current codes (used or not),
	// in no particular order; none is not an error.
	ListRecoveryCodes(ctx context.Context, userID string) ([]RecoveryCode, error)
	// DeleteRecoveryCodes removes the user's codes; none is not an error.
	DeleteRecoveryCodes(ctx context.Context, userID string) error

	// CreateWebAuthn stores a new credential: store.ErrConflict when its
	// ID is already registered, to this user or another.
	CreateWebAuthn(ctx context.Context, c *WebAuthnCredential) error
	// GetWebAuthn returns the credential of that ID, whoever owns it (a
	// discoverable login learns the user from the credential), or
	// store.ErrNotFound.
	GetWebAuthn(ctx context.Context, id []byte) (*WebAuthnCredential, error)
	// ListWebAuthn returns the user's credentials, oldest first; none is
	// not an error.
	ListWebAuthn(ctx context.Context, userID string) ([]*WebAuthnCredential, error)
	// RenameWebAuthn sets the name of the user's credential id, or
	// store.ErrNotFound (also when another user owns id).
	RenameWebAuthn(ctx context.Context, userID string, id []byte, name string) error
	// RecordWebAuthnUse stores the sign count and flags of a successful
	// assertion and sets LastUsedAt, as a compare-and-set on the sign
	// count: when signCount or the stored count is non-zero, signCount must
	// be greater than the stored count, else store.ErrConflict and nothing
	// changes (a cloned authenticator, or a second instance accepting the
	// same assertion). store.ErrNotFound when the user has no credential
	// id.
	RecordWebAuthnUse(ctx context.Context, userID string, id []byte, signCount uint32, flags WebAuthnFlags, at time.Time) error
	// DeleteWebAuthn removes the user's credential id, or store.ErrNotFound
	// (also when another user owns id).
	DeleteWebAuthn(ctx context.Context, userID string, id []byte) error
}

// Challenge is the server-side state of a ceremony in progress (a
// WebAuthn challenge, later a pending login), kept between its begin and
// finish requests.
type Challenge struct {
	ID        string // random, at least 128 bits; the client's handle on the ceremony
	UserID    string // "" for a ceremony that does not know its user yet (passkey login)
	Kind      string // what the ceremony is, so one kind cannot finish another
	Data      []byte // opaque to the store
	ExpiresAt time.Time
}

// ChallengeStore keeps ceremony state for a short time, to be used once.
// Implementations are safe for concurrent use, across instances sharing
// the backend, and translate driver errors as Store does.
type ChallengeStore interface {
	// PutChallenge stores c until c.ExpiresAt: store.ErrConflict when a
	// live challenge has the same ID.
	PutChallenge(ctx context.Context, c *Challenge, now time.Time) error
	// TakeChallenge returns the challenge id and deletes it in one atomic
	// step: of concurrent takes exactly one gets it, the others (and every
	// later take) get store.ErrNotFound, as does a challenge expired at
	// now and an ID no challenge has, whatever its bytes (it comes from
	// the client).
	TakeChallenge(ctx context.Context, id string, now time.Time) (*Challenge, error)
}

// ReplayGuard remembers, per key, the highest counter accepted, so that a
// one-time value (a TOTP step) is accepted once across instances.
// Implementations are safe for concurrent use and translate driver errors
// as Store does.
type ReplayGuard interface {
	// Advance records counter for key if it is greater than the counter
	// recorded for key, atomically (compare-and-set): store.ErrConflict
	// when it is not, so of concurrent advances to one counter exactly one
	// succeeds. A record may be forgotten after its expiresAt (as of now):
	// the caller chooses expiresAt after which no value it would accept
	// can carry that counter or a lower one.
	Advance(ctx context.Context, key string, counter int64, expiresAt, now time.Time) error
}
