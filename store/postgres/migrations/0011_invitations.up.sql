-- Invitations to join a tenant (permission.MemberStore). The token is
-- never stored: token_hash is the SHA-256 of its secret. They go with
-- their tenant.
CREATE TABLE invitations (
    id          text COLLATE "C" PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email       text NOT NULL,
    role        text NOT NULL,
    scope       text NOT NULL DEFAULT '',
    token_hash  bytea NOT NULL,
    status      text NOT NULL,
    invited_by  text NOT NULL DEFAULT '',
    accepted_by text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
-- ListInvitations pages a tenant's invitations by ID.
CREATE INDEX invitations_tenant_idx ON invitations (tenant_id, id);

-- Counting a tenant's owners (the last-owner check of every member change)
-- reads only the owner bindings.
CREATE INDEX bindings_owner_idx ON bindings (tenant_id) WHERE role = 'owner' AND scope = '' AND expires_at IS NULL;
