-- Activities: calls, meetings, tasks and e-mails on the tenant's calendar, each usually
-- about one contact. `source_uid` keeps the UID of an activity imported from another
-- calendar, so that importing the same file again updates instead of duplicating.
CREATE TABLE activities (
    tenant_id    BLOB NOT NULL REFERENCES tenants (id),
    id           BLOB NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('call', 'meeting', 'task', 'email')),
    subject      TEXT NOT NULL,
    description  TEXT,
    location     TEXT,
    starts_at    TEXT NOT NULL,
    ends_at      TEXT,
    done         INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    contact_id   BLOB,
    owner_id     BLOB REFERENCES users (id),
    source_uid   TEXT,
    version      INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    created_by   BLOB,
    deleted_at   TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX activities_starts ON activities (tenant_id, starts_at, id);
CREATE INDEX activities_contact ON activities (tenant_id, contact_id, starts_at, id);
CREATE INDEX activities_owner ON activities (owner_id);
CREATE UNIQUE INDEX activities_source_uid ON activities (tenant_id, source_uid);
