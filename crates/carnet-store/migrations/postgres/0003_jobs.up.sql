-- Background jobs (imports first): a queue shared by every Carnet instance on this database.
-- `jobs` is read across tenants by the workers that claim them, so it is a control-plane
-- table (no row-level security); every query that serves a request also filters by tenant.
-- What a job reads and reports (the uploaded file, the refused rows) is tenant data.
CREATE TABLE jobs (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('import')),
    -- 'draft': uploaded, waiting for its column mapping (the UI's import wizard).
    status        text NOT NULL CHECK (status IN ('draft', 'queued', 'running', 'succeeded', 'failed')),
    -- Where the input is: 'upload' (job_chunks, any instance can run it) or 'local' (a
    -- file on the machine of the CLI that started it; only that CLI resumes it).
    source        text NOT NULL CHECK (source IN ('upload', 'local')),
    spec          jsonb NOT NULL,
    actor_kind    text NOT NULL CHECK (actor_kind IN ('user', 'api_key', 'system')),
    actor_id      uuid,
    file_name     text NOT NULL,
    file_size     bigint NOT NULL,
    file_sha256   text NOT NULL,
    -- The checkpoint, committed with each batch: input items consumed and their outcome.
    rows_done     bigint NOT NULL DEFAULT 0,
    created       bigint NOT NULL DEFAULT 0,
    updated       bigint NOT NULL DEFAULT 0,
    unchanged     bigint NOT NULL DEFAULT 0,
    rejected      bigint NOT NULL DEFAULT 0,
    error         text,
    attempts      integer NOT NULL DEFAULT 0,
    lease_owner   text,
    lease_until   timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    started_at    timestamptz,
    finished_at   timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX jobs_tenant_created ON jobs (tenant_id, created_at, id);
CREATE INDEX jobs_waiting ON jobs (status, created_at) WHERE status IN ('queued', 'running');

CREATE TABLE job_chunks (
    tenant_id  uuid NOT NULL,
    job_id     uuid NOT NULL,
    seq        integer NOT NULL,
    data       bytea NOT NULL,
    PRIMARY KEY (tenant_id, job_id, seq),
    FOREIGN KEY (tenant_id, job_id) REFERENCES jobs (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE job_rejections (
    tenant_id  uuid NOT NULL,
    job_id     uuid NOT NULL,
    seq        bigint NOT NULL,
    row_number bigint NOT NULL,
    field      text NOT NULL,
    message    text NOT NULL,
    PRIMARY KEY (tenant_id, job_id, seq),
    FOREIGN KEY (tenant_id, job_id) REFERENCES jobs (tenant_id, id) ON DELETE CASCADE
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['job_chunks', 'job_rejections']
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

GRANT SELECT, INSERT, UPDATE, DELETE ON jobs, job_chunks, job_rejections TO carnet_app;
