-- Multi-factor credentials (package mfa). No foreign key to users: the
-- user store may be the application's own table (see "Adopting an
-- existing users table"); deleting a user's factors is the Manager's job.

-- A user's TOTP credential: the secret sealed with the application's key
-- ring (key_id names the key), pending while confirmed_at is NULL.
CREATE TABLE mfa_totp (
    user_id      text PRIMARY KEY,
    id           text NOT NULL,
    key_id       text NOT NULL,
    secret       bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    confirmed_at timestamptz
);
-- Re-encryption after a key rotation finds the secrets of older keys.
CREATE INDEX mfa_totp_key_id ON mfa_totp (key_id);

-- Recovery codes by keyed hash; a used code keeps its row (used_at) until
-- the set is replaced.
CREATE TABLE mfa_recovery_codes (
    user_id    text NOT NULL,
    hash       bytea NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, hash)
);

-- WebAuthn credential records. The ID is the authenticator's, unique
-- across users: a discoverable login finds the user from it.
CREATE TABLE mfa_webauthn (
    id                 bytea PRIMARY KEY,
    user_id            text NOT NULL,
    public_key         bytea NOT NULL,
    attestation_type   text NOT NULL,
    attestation_format text NOT NULL,
    sign_count         bigint NOT NULL,
    flags              smallint NOT NULL,
    transports         text[] NOT NULL,
    aaguid             bytea NOT NULL,
    name               text NOT NULL,
    created_at         timestamptz NOT NULL,
    last_used_at       timestamptz
);
CREATE INDEX mfa_webauthn_user ON mfa_webauthn (user_id, created_at);

-- Ceremony state between begin and finish, taken (deleted) once.
CREATE TABLE mfa_challenges (
    id         text PRIMARY KEY,
    user_id    text NOT NULL,
    kind       text NOT NULL,
    data       bytea NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX mfa_challenges_expires ON mfa_challenges (expires_at);

-- The highest one-time counter (TOTP step) accepted per key.
CREATE TABLE mfa_replay_guard (
    key        text PRIMARY KEY,
    counter    bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX mfa_replay_guard_expires ON mfa_replay_guard (expires_at);
