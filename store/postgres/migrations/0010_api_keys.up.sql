-- +goose Up
-- Machine identities (package apikey): service accounts and API keys.
-- No foreign keys to users or tenants: the user store may be the
-- application's own table, and revoking a departed owner's keys is the
-- Manager's job, as for sessions.

-- A key is read by primary key on every request that carries it; only the
-- SHA-256 of its secret is stored.
CREATE TABLE api_keys (
    id            text PRIMARY KEY,
    secret_hash   bytea NOT NULL,
    owner_id      text NOT NULL,
    owner_kind    text NOT NULL,
    tenant_id     text NOT NULL,
    scope         text NOT NULL,
    permissions   text[] NOT NULL,
    name          text NOT NULL,
    created_at    timestamptz NOT NULL,
    created_by    text NOT NULL,
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    revoke_reason text NOT NULL DEFAULT ''
);
-- Listing and revoking an owner's keys (in a tenant); listing a tenant's.
CREATE INDEX api_keys_owner ON api_keys (owner_id, tenant_id);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

CREATE TABLE service_accounts (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL,
    name        text NOT NULL,
    description text NOT NULL,
    disabled    boolean NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    created_by  text NOT NULL
);
CREATE INDEX service_accounts_tenant ON service_accounts (tenant_id, id);
