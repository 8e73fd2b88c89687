-- +goose Up
-- The audit trail of audit.Store: one row per audit.Event, written in
-- batches by an audit.Dispatcher and never updated.
--
-- id is the event's ID. Writes are idempotent on it (INSERT ... ON CONFLICT
-- (id) DO NOTHING), so a batch retried after a lost answer adds nothing
-- twice. It sorts with the "C" collation, byte by byte like Go strings,
-- because (time, id) is the keyset order of queries and their cursors: the
-- database's locale must not decide it.
--
-- Text columns are NOT NULL with '' for "unknown", as in audit.Event. The
-- free attribute map is a jsonb object of strings.
CREATE TABLE audit_events (
    id               text COLLATE "C" PRIMARY KEY,
    time             timestamptz NOT NULL,
    type             text NOT NULL,
    outcome          text NOT NULL DEFAULT '',
    actor_user_id    text NOT NULL DEFAULT '',
    actor_session_id text NOT NULL DEFAULT '',
    tenant_id        text NOT NULL DEFAULT '',
    scope            text NOT NULL DEFAULT '',
    target           text NOT NULL DEFAULT '',
    ip               text NOT NULL DEFAULT '',
    user_agent       text NOT NULL DEFAULT '',
    decision_id      text NOT NULL DEFAULT '',
    trace_id         text NOT NULL DEFAULT '',
    reason           text NOT NULL DEFAULT '',
    attributes       jsonb NOT NULL DEFAULT '{}'::jsonb
);
-- Pages newest first: of one tenant, of one actor, of everything.
CREATE INDEX audit_events_tenant_time_idx ON audit_events (tenant_id, time DESC, id DESC);
CREATE INDEX audit_events_actor_time_idx ON audit_events (actor_user_id, time DESC, id DESC);
CREATE INDEX audit_events_time_idx ON audit_events (time DESC, id DESC);
-- The analytics read one event type in a time window, of one tenant or of
-- all. The second index also serves queries filtered by type only.
CREATE INDEX audit_events_tenant_type_time_idx ON audit_events (tenant_id, type, time);
CREATE INDEX audit_events_type_time_idx ON audit_events (type, time);
