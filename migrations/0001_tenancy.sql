-- 0001_tenancy: the tenancy skeleton every later table follows (DESIGN.md §3).
--
-- * `smc_app` is the role request queries run as (the server switches to it with a transaction-local
--   SET ROLE): it owns no table and cannot bypass row-level security.
-- * Every tenant-owned table leads its primary key and indexes with `tenant_id`, has row-level
--   security ENABLEd and FORCEd (so even a non-superuser owner is held to it), and one policy comparing
--   `tenant_id` with the transaction's `smc.tenant_id` setting. No setting means no rows.

DO $$
BEGIN
    CREATE ROLE smc_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
EXCEPTION
    -- Roles are cluster-wide: another database of this cluster (or a concurrent migrator) made it.
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- The login role that runs the server must be able to SET ROLE smc_app.
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'smc_app', 'MEMBER') THEN
        EXECUTE format('GRANT smc_app TO %I', current_user);
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO smc_app;

-- The tenant of the current transaction, or NULL when none is set.
CREATE FUNCTION smc_current_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('smc.tenant_id', true), '')::uuid $$;

-- A tenant: the unit of isolation and billing.
CREATE TABLE tenants (
    tenant_id  uuid PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (tenant_id = smc_current_tenant())
    WITH CHECK (tenant_id = smc_current_tenant());

-- A person who signs in; belongs to exactly one tenant.
CREATE TABLE users (
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    user_id       uuid NOT NULL,
    email         text NOT NULL CHECK (email = lower(btrim(email)) AND length(email) BETWEEN 3 AND 320),
    display_name  text CHECK (display_name IS NULL OR length(display_name) <= 200),
    role          text NOT NULL DEFAULT 'owner' CHECK (role IN ('owner', 'member')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);

CREATE UNIQUE INDEX users_tenant_email ON users (tenant_id, email);

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users
    USING (tenant_id = smc_current_tenant())
    WITH CHECK (tenant_id = smc_current_tenant());

GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users TO smc_app;
GRANT EXECUTE ON FUNCTION smc_current_tenant() TO smc_app;
