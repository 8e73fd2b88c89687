-- Tenants' email domains (permission.DomainStore, domain capture). Any
-- number of tenants may claim a domain; the partial unique index lets at
-- most one claim of it be verified. Claims go with their tenant.
CREATE TABLE tenant_domains (
    tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    domain      text COLLATE "C" NOT NULL,
    role        text NOT NULL,
    scope       text NOT NULL DEFAULT '',
    token       text NOT NULL,
    created_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    verified_at timestamptz,
    verified_by text NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, domain)
);
-- One verified claim per domain; JoinDomain finds it by this index.
CREATE UNIQUE INDEX tenant_domains_verified_idx ON tenant_domains (domain) WHERE verified_at IS NOT NULL;
