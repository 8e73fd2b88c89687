-- The durable copy of audit events between the moment a flow records them
-- and the moment every sink has them (audit.Journal, postgres.Journal).
-- Events are written here in the same transaction as the state change
-- they record when the flow's commit point is one write to this database
-- (the outbox), else appended before the flow answers.
--
-- owner is the Journal that delivers the row: each open Journal holds a
-- session-level advisory lock on hashtextextended(owner, 0) for as long as
-- its process lives, so a row whose owner's lock is free is a leftover of
-- a process that is gone. leftover marks the rows a Journal took over that
-- way, which its Leftover returns. event is the event's JSON as text (not
-- jsonb, which refuses the \u0000 escape a client's text may carry).
CREATE TABLE audit_journal (
    seq      bigserial PRIMARY KEY,
    id       text NOT NULL UNIQUE,
    owner    text NOT NULL,
    leftover boolean NOT NULL DEFAULT false,
    event    text NOT NULL
);
-- Leftover pages through one owner's taken-over rows; the takeover looks
-- for owners.
CREATE INDEX audit_journal_owner ON audit_journal (owner, seq);
