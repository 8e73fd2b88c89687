-- How often each role's grant allowed a check, per tenant and UTC day:
-- audit.Store.RecordGrantUse adds the Manager's in-process counts with an
-- upsert, and UnusedGrants reads which grants were used in a window. It is
-- kept apart from audit_events because allowed decisions are only
-- sampled there, and a count per day stays small however busy a grant is.
--
-- first_used and last_used bound the day's uses (to the precision of the
-- Manager's flushes), so a window cutting a day in two still gets an
-- answer from the rows alone.
CREATE TABLE grant_use (
    tenant_id  text NOT NULL,
    role       text NOT NULL,
    permission text NOT NULL,
    day        date NOT NULL,
    uses       bigint NOT NULL,
    first_used timestamptz NOT NULL,
    last_used  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, role, permission, day)
);
-- UnusedGrants across tenants reads by day.
CREATE INDEX grant_use_day ON grant_use (day);
