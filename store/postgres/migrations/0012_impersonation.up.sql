-- Impersonation (Manager.StartImpersonation in the root package).
--
-- An impersonation session names its real actor: their user ID, the
-- session they started it from (it is usable only while that one is), and
-- the impersonation record. '' on a user's own session. They never change
-- once written.
ALTER TABLE sessions
    ADD COLUMN impersonator_user_id text NOT NULL DEFAULT '',
    ADD COLUMN impersonator_session_id text NOT NULL DEFAULT '',
    ADD COLUMN impersonation_id text NOT NULL DEFAULT '';

-- Every audit event recorded during an impersonation names the real actor
-- too (actor_user_id is the user acted as).
ALTER TABLE audit_events ADD COLUMN impersonator_user_id text NOT NULL DEFAULT '';

-- The record of each impersonation (session.ImpersonationStore): kept
-- after its session is forgotten, for the user acted as to read. No
-- foreign keys, as for sessions: the user store may be the application's.
CREATE TABLE impersonations (
    id               text COLLATE "C" PRIMARY KEY,
    tenant_id        text NOT NULL,
    actor_user_id    text NOT NULL,
    actor_session_id text NOT NULL,
    target_user_id   text NOT NULL,
    session_id       text NOT NULL,
    reason           text NOT NULL,
    started_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    ended_at         timestamptz,
    end_reason       text NOT NULL DEFAULT ''
);
-- A user's list of the impersonations of their account, newest first; an
-- actor's; a tenant's.
CREATE INDEX impersonations_target_idx ON impersonations (target_user_id, started_at DESC, id DESC);
CREATE INDEX impersonations_actor_idx ON impersonations (actor_user_id, started_at DESC, id DESC);
CREATE INDEX impersonations_tenant_idx ON impersonations (tenant_id, started_at DESC, id DESC);
