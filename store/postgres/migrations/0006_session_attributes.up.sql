-- A session keeps a copy of its user's attributes as they were when it was
-- issued, so conditions can read them without Authenticate reading the
-- user. Sessions from before this migration read as having none.
ALTER TABLE sessions ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}'::jsonb;
