-- The runtime role: Carnet serves requests as carnet_app, never as the owner of the tables,
-- so that row-level security applies to every query it makes.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'carnet_app') THEN
        CREATE ROLE carnet_app NOLOGIN;
    END IF;
END
$$;

-- Control plane: tenants, users, memberships, API keys, sessions.
CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE,
    name        text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    placement   text NOT NULL DEFAULT 'main',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    email          text NOT NULL,
    email_key      text NOT NULL UNIQUE,
    display_name   text NOT NULL,
    password_hash  text NOT NULL,
    locale         text,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

CREATE TABLE memberships (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    user_id     uuid NOT NULL REFERENCES users (id),
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'member', 'readonly', 'external')),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE api_keys (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    name          text NOT NULL,
    prefix        text NOT NULL UNIQUE,
    secret_hash   text NOT NULL,
    scopes        text NOT NULL,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE sessions (
    id            uuid PRIMARY KEY,
    token_hash    text NOT NULL UNIQUE,
    user_id       uuid NOT NULL REFERENCES users (id),
    tenant_id     uuid REFERENCES tenants (id),
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    revoked_at    timestamptz,
    ip            text,
    user_agent    text
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_tenant ON sessions (tenant_id);

-- Tenant data: every table starts with tenant_id.
CREATE TABLE contacts (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    first_name   text,
    last_name    text,
    emails       jsonb NOT NULL DEFAULT '[]',
    phones       jsonb NOT NULL DEFAULT '[]',
    company_id   uuid,
    job_title    text,
    tags         jsonb NOT NULL DEFAULT '[]',
    custom       jsonb NOT NULL DEFAULT '{}',
    owner_id     uuid REFERENCES users (id),
    search_text  text NOT NULL,
    sort_last    text COLLATE "C" NOT NULL,
    sort_first   text COLLATE "C" NOT NULL,
    version      bigint NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    created_by   uuid,
    deleted_at   timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX contacts_owner ON contacts (owner_id);
CREATE INDEX contacts_sort_last ON contacts (tenant_id, sort_last, id);
CREATE INDEX contacts_sort_first ON contacts (tenant_id, sort_first, id);
CREATE INDEX contacts_updated ON contacts (tenant_id, updated_at, id);
CREATE INDEX contacts_company ON contacts (tenant_id, company_id);

CREATE TABLE contact_emails (
    tenant_id   uuid NOT NULL,
    contact_id  uuid NOT NULL,
    email_key   text NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, email_key),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX contact_emails_key ON contact_emails (tenant_id, email_key);

CREATE TABLE contact_tags (
    tenant_id   uuid NOT NULL,
    contact_id  uuid NOT NULL,
    tag_key     text NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, tag_key),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX contact_tags_key ON contact_tags (tenant_id, tag_key);

CREATE TABLE audit_events (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    occurred_at  timestamptz NOT NULL,
    actor_kind   text NOT NULL CHECK (actor_kind IN ('user', 'api_key', 'system')),
    actor_id     uuid,
    action       text NOT NULL,
    entity       text NOT NULL,
    entity_id    uuid,
    ip           text,
    request_id   text,
    changes      jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_events_entity ON audit_events (tenant_id, entity, entity_id);

CREATE TABLE idempotency_keys (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    key           text NOT NULL,
    fingerprint   text NOT NULL,
    status        integer NOT NULL,
    location      text,
    etag          text,
    body          text NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

-- Row-level security: the second wall between tenants. A missing app.tenant_id matches nothing.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'contact_emails', 'contact_tags', 'audit_events', 'idempotency_keys']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I
                USING (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)
                WITH CHECK (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)',
            t);
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA public TO carnet_app;
GRANT SELECT ON _sqlx_migrations TO carnet_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users, memberships, api_keys, sessions,
    contacts, contact_emails, contact_tags, idempotency_keys TO carnet_app;
-- The audit log is append-only for the application.
GRANT SELECT, INSERT ON audit_events TO carnet_app;
