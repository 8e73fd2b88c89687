-- +goose Up
-- authv2 schema, version 1.
--
-- Plain SQL on purpose: any migration tool can apply this file. Table names
-- are unqualified: authv2's own Migrate sets search_path to the configured
-- schema (default authv2) for the transaction that runs it. With another
-- tool, point search_path at the schema the stores are configured with.

-- Users are global identities: no tenant column.
CREATE TABLE users (
    id                  text PRIMARY KEY,
    email               text NOT NULL,
    -- email_key is user.NormalizeEmail(email), computed by the store, so
    -- uniqueness follows the Go contract exactly rather than the database
    -- locale's idea of lower().
    email_key           text NOT NULL,
    display_name        text NOT NULL DEFAULT '',
    status              text NOT NULL,
    password_hash       text NOT NULL DEFAULT '',
    password_changed_at timestamptz,
    failed_attempts     integer NOT NULL DEFAULT 0,
    locked_until        timestamptz,
    last_login_at       timestamptz,
    default_tenant_id   text NOT NULL DEFAULT '',
    attributes          jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Single-use tokens by purpose: {"password_reset": {"hash": base64 of
    -- the SHA-256, "expires_at": RFC 3339}}. Only ever read with the user.
    tokens              jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at          timestamptz,
    updated_at          timestamptz
);
CREATE UNIQUE INDEX users_email_key_idx ON users (email_key);

-- Sessions belong to a user, not to a tenant: a session moves between
-- tenants (SwitchTenant), so tenant_id is an attribute here, not an owner.
CREATE TABLE sessions (
    id                  text PRIMARY KEY,
    secret_hash         bytea NOT NULL,
    user_id             text NOT NULL,
    tenant_id           text NOT NULL DEFAULT '',
    scope               text NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL,
    last_seen_at        timestamptz,
    idle_expires_at     timestamptz NOT NULL,
    absolute_expires_at timestamptz NOT NULL,
    -- Session.ExpiresAt, kept as a column so DeleteExpired and liveness
    -- tests can use an index.
    expires_at          timestamptz GENERATED ALWAYS AS (LEAST(idle_expires_at, absolute_expires_at)) STORED,
    authenticated_at    timestamptz,
    auth_level          integer NOT NULL DEFAULT 0,
    client_ip           text NOT NULL DEFAULT '',
    user_agent          text NOT NULL DEFAULT '',
    device_label        text NOT NULL DEFAULT '',
    revoked_at          timestamptz,
    revoke_reason       text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_idx ON sessions (user_id, created_at);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- The global tenant ('') of role templates is not a row: it is not an
-- organization, and a row would make it deletable and listable.
CREATE TABLE tenants (
    id         text PRIMARY KEY CHECK (id <> ''),
    name       text NOT NULL DEFAULT '',
    attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz
);

CREATE TABLE memberships (
    tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    text NOT NULL,
    created_at timestamptz,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id, tenant_id);

-- Roles of a tenant and global templates (tenant_id = '') share one table,
-- keyed by (tenant_id, name), so a name resolves tenant-first then template
-- with one index probe. owner_tenant_id is NULL for templates, which exempts
-- them from the foreign key while tenant roles still cascade with their
-- tenant.
CREATE TABLE roles (
    tenant_id       text NOT NULL,
    name            text NOT NULL,
    owner_tenant_id text GENERATED ALWAYS AS (NULLIF(tenant_id, '')) STORED
                    REFERENCES tenants (id) ON DELETE CASCADE,
    description     text NOT NULL DEFAULT '',
    parents         text[] NOT NULL DEFAULT '{}',
    grants          jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at      timestamptz,
    updated_at      timestamptz,
    PRIMARY KEY (tenant_id, name)
);
-- Serves "does any role inherit from X" when deleting a role.
CREATE INDEX roles_parents_idx ON roles USING gin (parents);

-- A binding names a role, which may be the tenant's own or a template, so
-- there is no foreign key to roles: the store resolves and locks the role in
-- the writing transaction instead.
CREATE TABLE bindings (
    tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    text NOT NULL,
    role       text NOT NULL,
    scope      text NOT NULL DEFAULT '',
    expires_at timestamptz,
    created_at timestamptz,
    PRIMARY KEY (tenant_id, user_id, role, scope)
);
-- Serves "is role X bound anywhere" when deleting a role or template.
CREATE INDEX bindings_role_idx ON bindings (role, tenant_id);

-- One counter per tenant, plus tenant_id = '' for template writes. No
-- foreign key: the counter must outlive a deleted tenant, so a tenant
-- recreated under the same ID never reuses a version a cache has seen.
CREATE TABLE policy_versions (
    tenant_id text PRIMARY KEY,
    version   bigint NOT NULL
);
