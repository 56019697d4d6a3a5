-- Activities: calls, meetings, tasks and e-mails on the tenant's calendar, each usually
-- about one contact. `source_uid` keeps the UID of an activity imported from another
-- calendar, so that importing the same file again updates instead of duplicating.
CREATE TABLE activities (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('call', 'meeting', 'task', 'email')),
    subject      text NOT NULL,
    description  text,
    location     text,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz,
    done         boolean NOT NULL DEFAULT false,
    contact_id   uuid,
    owner_id     uuid REFERENCES users (id),
    source_uid   text,
    version      bigint NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    created_by   uuid,
    deleted_at   timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX activities_starts ON activities (tenant_id, starts_at, id);
CREATE INDEX activities_contact ON activities (tenant_id, contact_id, starts_at, id);
CREATE INDEX activities_owner ON activities (owner_id);
CREATE UNIQUE INDEX activities_source_uid ON activities (tenant_id, source_uid);

ALTER TABLE activities ENABLE ROW LEVEL SECURITY;
ALTER TABLE activities FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON activities
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON activities TO carnet_app;
