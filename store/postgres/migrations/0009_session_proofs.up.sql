-- A session keeps the factors proven in it (password, TOTP, recovery
-- code, WebAuthn) and when, for step-up checks: a JSON array of
-- {"f": factor, "at": microseconds since the epoch, "c": credential ID,
-- "uv": user verified}. Sessions from before this migration read as
-- having none (their auth_level stays as written).
ALTER TABLE sessions ADD COLUMN auth_proofs jsonb NOT NULL DEFAULT '[]'::jsonb;
