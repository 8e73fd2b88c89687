-- A session keeps the factors proven in it (password, TOTP, recovery
-- code, WebAuthn) and when, for step-up checks: one "factor
-- microseconds-since-the-epoch user-verified(0|1) credential-id" group
-- per proof, groups joined by ";", the credential ID query-escaped.
-- Text, not jsonb: it is decoded on every Authenticate. Sessions from
-- before this migration read as having none (their auth_level stays as
-- written).
ALTER TABLE sessions ADD COLUMN auth_proofs text NOT NULL DEFAULT '';
