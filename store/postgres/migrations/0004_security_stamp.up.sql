-- The security stamp changes with every security-relevant change to a
-- user; a session records the stamp it was issued under. replaced_by names
-- a rotated-away session's successor, so reuse of its token is detected.
-- pending_email holds a new address until it is verified.
ALTER TABLE users ADD COLUMN security_stamp text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN pending_email text NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN security_stamp text NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN replaced_by text NOT NULL DEFAULT '';
