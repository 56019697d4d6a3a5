-- Control plane: tenants, users, memberships, API keys, sessions.
CREATE TABLE tenants (
    id          BLOB PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    placement   TEXT NOT NULL DEFAULT 'main',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE users (
    id             BLOB PRIMARY KEY,
    email          TEXT NOT NULL,
    email_key      TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    locale         TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE TABLE memberships (
    tenant_id   BLOB NOT NULL REFERENCES tenants (id),
    user_id     BLOB NOT NULL REFERENCES users (id),
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'member', 'readonly', 'external')),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE api_keys (
    tenant_id     BLOB NOT NULL REFERENCES tenants (id),
    id            BLOB NOT NULL,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL UNIQUE,
    secret_hash   TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE sessions (
    id            BLOB PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    user_id       BLOB NOT NULL REFERENCES users (id),
    tenant_id     BLOB REFERENCES tenants (id),
    csrf_token    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    revoked_at    TEXT,
    ip            TEXT,
    user_agent    TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_tenant ON sessions (tenant_id);

-- Tenant data: every table starts with tenant_id.
CREATE TABLE contacts (
    tenant_id    BLOB NOT NULL REFERENCES tenants (id),
    id           BLOB NOT NULL,
    first_name   TEXT,
    last_name    TEXT,
    emails       TEXT NOT NULL DEFAULT '[]',
    phones       TEXT NOT NULL DEFAULT '[]',
    company_id   BLOB,
    job_title    TEXT,
    tags         TEXT NOT NULL DEFAULT '[]',
    custom       TEXT NOT NULL DEFAULT '{}',
    owner_id     BLOB REFERENCES users (id),
    search_text  TEXT NOT NULL,
    sort_last    TEXT NOT NULL,
    sort_first   TEXT NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    created_by   BLOB,
    deleted_at   TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX contacts_owner ON contacts (owner_id);
CREATE INDEX contacts_sort_last ON contacts (tenant_id, sort_last, id);
CREATE INDEX contacts_sort_first ON contacts (tenant_id, sort_first, id);
CREATE INDEX contacts_updated ON contacts (tenant_id, updated_at, id);
CREATE INDEX contacts_company ON contacts (tenant_id, company_id);

CREATE TABLE contact_emails (
    tenant_id   BLOB NOT NULL,
    contact_id  BLOB NOT NULL,
    email_key   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, email_key),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX contact_emails_key ON contact_emails (tenant_id, email_key);

CREATE TABLE contact_tags (
    tenant_id   BLOB NOT NULL,
    contact_id  BLOB NOT NULL,
    tag_key     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, tag_key),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX contact_tags_key ON contact_tags (tenant_id, tag_key);

CREATE TABLE audit_events (
    tenant_id    BLOB NOT NULL REFERENCES tenants (id),
    id           BLOB NOT NULL,
    occurred_at  TEXT NOT NULL,
    actor_kind   TEXT NOT NULL CHECK (actor_kind IN ('user', 'api_key', 'system')),
    actor_id     BLOB,
    action       TEXT NOT NULL,
    entity       TEXT NOT NULL,
    entity_id    BLOB,
    ip           TEXT,
    request_id   TEXT,
    changes      TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_events_entity ON audit_events (tenant_id, entity, entity_id);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;

CREATE TABLE idempotency_keys (
    tenant_id     BLOB NOT NULL REFERENCES tenants (id),
    key           TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    status        INTEGER NOT NULL,
    location      TEXT,
    etag          TEXT,
    body          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
