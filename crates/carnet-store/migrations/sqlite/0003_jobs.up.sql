-- Background jobs (imports first): a queue shared by every Carnet process on this database.
-- What a job reads and reports (the uploaded file, the refused rows) hangs off its job.
CREATE TABLE jobs (
    tenant_id     BLOB NOT NULL REFERENCES tenants (id),
    id            BLOB NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('import')),
    -- 'draft': uploaded, waiting for its column mapping (the UI's import wizard).
    status        TEXT NOT NULL CHECK (status IN ('draft', 'queued', 'running', 'succeeded', 'failed')),
    -- Where the input is: 'upload' (job_chunks, any process can run it) or 'local' (a
    -- file on the machine of the CLI that started it; only that CLI resumes it).
    source        TEXT NOT NULL CHECK (source IN ('upload', 'local')),
    spec          TEXT NOT NULL,
    actor_kind    TEXT NOT NULL CHECK (actor_kind IN ('user', 'api_key', 'system')),
    actor_id      BLOB,
    file_name     TEXT NOT NULL,
    file_size     INTEGER NOT NULL,
    file_sha256   TEXT NOT NULL,
    -- The checkpoint, committed with each batch: input items consumed and their outcome.
    rows_done     INTEGER NOT NULL DEFAULT 0,
    created       INTEGER NOT NULL DEFAULT 0,
    updated       INTEGER NOT NULL DEFAULT 0,
    unchanged     INTEGER NOT NULL DEFAULT 0,
    rejected      INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    lease_owner   TEXT,
    lease_until   TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX jobs_tenant_created ON jobs (tenant_id, created_at, id);
CREATE INDEX jobs_waiting ON jobs (status, created_at) WHERE status IN ('queued', 'running');

CREATE TABLE job_chunks (
    tenant_id  BLOB NOT NULL,
    job_id     BLOB NOT NULL,
    seq        INTEGER NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (tenant_id, job_id, seq),
    FOREIGN KEY (tenant_id, job_id) REFERENCES jobs (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE job_rejections (
    tenant_id  BLOB NOT NULL,
    job_id     BLOB NOT NULL,
    seq        INTEGER NOT NULL,
    row_number INTEGER NOT NULL,
    field      TEXT NOT NULL,
    message    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, job_id, seq),
    FOREIGN KEY (tenant_id, job_id) REFERENCES jobs (tenant_id, id) ON DELETE CASCADE
);
