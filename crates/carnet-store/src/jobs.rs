//! Background jobs: a queue in the database, claimed with a lease that the running worker
//! renews with every checkpoint. A worker that dies stops renewing; once its lease has
//! expired another one claims the job and carries on from the last checkpoint.

use crate::Result;
use crate::db::Db;
use crate::params::{MAX_PARAMS, positional, values_rows};
use crate::tx::{TenantTx, Tx, on_conn};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

/// One job and its progress.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Job {
    pub tenant_id: Uuid,
    pub id: Uuid,
    /// `import`.
    pub kind: String,
    /// `draft` (waiting for its settings), `queued`, `running`, `succeeded` or `failed`.
    pub status: String,
    /// `upload` (the file is in `job_chunks`) or `local` (a file of the CLI that started it).
    pub source: String,
    /// What to do (entity, format, mode, …), as the service wrote it.
    #[sqlx(json)]
    pub spec: Value,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub file_name: String,
    pub file_size: i64,
    pub file_sha256: String,
    #[sqlx(flatten)]
    pub progress: Progress,
    pub error: Option<String>,
    pub attempts: i32,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A job's checkpoint: how many input items it has consumed and what became of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Progress {
    pub rows_done: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    /// Refused rows (a row refused for several fields counts once).
    pub rejected: i64,
}

/// A job to queue.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub id: Uuid,
    pub kind: &'a str,
    /// `queued`, or `draft` for a job whose settings are still being chosen.
    pub status: &'a str,
    pub source: &'a str,
    pub spec: &'a Value,
    pub actor_kind: &'a str,
    pub actor_id: Option<Uuid>,
    pub file_name: &'a str,
    pub file_size: i64,
    pub file_sha256: &'a str,
}

/// One refused input row, as a job reports it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Rejection {
    pub seq: i64,
    pub row_number: i64,
    pub field: String,
    pub message: String,
}

const COLUMNS: &str = "tenant_id, id, kind, status, source, spec, actor_kind, actor_id, file_name, file_size, file_sha256, rows_done, created, updated, unchanged, rejected, error, attempts, lease_owner, lease_until, created_at, updated_at, started_at, finished_at";

pub async fn insert(tx: &mut TenantTx, job: &NewJob<'_>, now: DateTime<Utc>) -> Result<()> {
    let tenant = tx.tenant().0;
    on_conn!(&mut tx.tx, |c| {
        sqlx::query(
            "INSERT INTO jobs (tenant_id, id, kind, status, source, spec, actor_kind, actor_id, file_name, file_size, file_sha256, created_at, updated_at)
             VALUES ($1, $2, $3, $12, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(tenant)
        .bind(job.id)
        .bind(job.kind)
        .bind(job.source)
        .bind(sqlx::types::Json(job.spec))
        .bind(job.actor_kind)
        .bind(job.actor_id)
        .bind(job.file_name)
        .bind(job.file_size)
        .bind(job.file_sha256)
        .bind(now)
        .bind(job.status)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// The tenant's job `id`.
pub async fn get(tx: &mut TenantTx, id: Uuid) -> Result<Option<Job>> {
    let tenant = tx.tenant().0;
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE tenant_id = $1 AND id = $2");
    Ok(on_conn!(&mut tx.tx, |c| {
        sqlx::query_as(&sql)
            .bind(tenant)
            .bind(id)
            .fetch_optional(c)
            .await?
    }))
}

/// The tenant's most recent jobs of `kind`, newest first.
pub async fn recent(tx: &mut TenantTx, kind: &str, limit: i64) -> Result<Vec<Job>> {
    let tenant = tx.tenant().0;
    let sql = format!(
        "SELECT {COLUMNS} FROM jobs WHERE tenant_id = $1 AND kind = $2
         ORDER BY created_at DESC, id DESC LIMIT $3"
    );
    Ok(on_conn!(&mut tx.tx, |c| {
        sqlx::query_as(&sql)
            .bind(tenant)
            .bind(kind)
            .bind(limit)
            .fetch_all(c)
            .await?
    }))
}

/// An unfinished local job of the tenant for the same file and spec: the one an
/// interrupted `carnet import` of that file left behind.
pub async fn find_unfinished_local(
    tx: &mut TenantTx,
    file_sha256: &str,
    spec: &Value,
) -> Result<Option<Job>> {
    let tenant = tx.tenant().0;
    let sql = format!(
        "SELECT {COLUMNS} FROM jobs
         WHERE tenant_id = $1 AND source = 'local' AND status IN ('queued', 'running')
           AND file_sha256 = $2
         ORDER BY created_at, id"
    );
    let candidates: Vec<Job> = on_conn!(&mut tx.tx, |c| {
        sqlx::query_as(&sql)
            .bind(tenant)
            .bind(file_sha256)
            .fetch_all(c)
            .await?
    });
    // Compared here, not in SQL: JSON equality differs between the backends.
    Ok(candidates.into_iter().find(|j| &j.spec == spec))
}

/// Queues a draft with its final settings; `false` if it is not a draft (any more).
pub async fn start_draft(
    tx: &mut TenantTx,
    id: Uuid,
    spec: &Value,
    now: DateTime<Utc>,
) -> Result<bool> {
    let tenant = tx.tenant().0;
    let done = on_conn!(&mut tx.tx, |c| {
        sqlx::query(
            "UPDATE jobs SET status = 'queued', spec = $1, updated_at = $2
             WHERE tenant_id = $3 AND id = $4 AND status = 'draft'",
        )
        .bind(sqlx::types::Json(spec))
        .bind(now)
        .bind(tenant)
        .bind(id)
        .execute(c)
        .await?
        .rows_affected()
    });
    Ok(done == 1)
}

/// Deletes the drafts (with their files) last changed before `before`, in every tenant:
/// uploads whose mapping step was abandoned. Returns how many went.
pub async fn purge_drafts(db: &Db, before: DateTime<Utc>) -> Result<u64> {
    let mut tx = db.begin().await?;
    let gone = on_conn!(&mut tx, |c| {
        sqlx::query("DELETE FROM jobs WHERE status = 'draft' AND updated_at < $1")
            .bind(before)
            .execute(c)
            .await?
            .rows_affected()
    });
    tx.commit().await?;
    Ok(gone)
}

/// Stores the `seq`-th chunk of an uploaded file.
pub async fn put_chunk(tx: &mut TenantTx, job: Uuid, seq: i32, data: &[u8]) -> Result<()> {
    let tenant = tx.tenant().0;
    on_conn!(&mut tx.tx, |c| {
        sqlx::query(
            "INSERT INTO job_chunks (tenant_id, job_id, seq, data) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant)
        .bind(job)
        .bind(seq)
        .bind(data)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// The `seq`-th chunk of a job's file; `None` past the end.
pub async fn chunk(tx: &mut TenantTx, job: Uuid, seq: i32) -> Result<Option<Vec<u8>>> {
    let tenant = tx.tenant().0;
    Ok(on_conn!(&mut tx.tx, |c| {
        sqlx::query_scalar(
            "SELECT data FROM job_chunks WHERE tenant_id = $1 AND job_id = $2 AND seq = $3",
        )
        .bind(tenant)
        .bind(job)
        .bind(seq)
        .fetch_optional(c)
        .await?
    }))
}

/// Claims the oldest job that is waiting, or whose worker's lease has expired, among
/// the jobs of `source`; the claim lasts until `lease_until`.
pub async fn claim(
    db: &Db,
    source: &str,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Option<Job>> {
    let mut tx = db.begin().await?;
    // PostgreSQL: instances skip the rows others are claiming instead of waiting on them.
    // SQLite: one writer at a time already makes the claim atomic.
    let lock = match &tx {
        Tx::Postgres(_) => "FOR UPDATE SKIP LOCKED",
        Tx::Sqlite(_) => "",
    };
    let sql = format!(
        "UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = $2,
                attempts = attempts + 1, started_at = COALESCE(started_at, $3), updated_at = $3
         WHERE (tenant_id, id) = (
             SELECT tenant_id, id FROM jobs
             WHERE source = $4
               AND (status = 'queued' OR (status = 'running' AND lease_until < $3))
             ORDER BY created_at, id LIMIT 1 {lock})
         RETURNING {COLUMNS}"
    );
    let job: Option<Job> = on_conn!(&mut tx, |c| {
        sqlx::query_as(&sql)
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .bind(source)
            .fetch_optional(c)
            .await?
    });
    tx.commit().await?;
    Ok(job)
}

/// Claims job `id` of the tenant if it is waiting, or if its lease has expired.
pub async fn claim_one(
    tx: &mut TenantTx,
    id: Uuid,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Option<Job>> {
    let tenant = tx.tenant().0;
    let sql = format!(
        "UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = $2,
                attempts = attempts + 1, started_at = COALESCE(started_at, $3), updated_at = $3
         WHERE tenant_id = $4 AND id = $5
           AND (status = 'queued' OR (status = 'running' AND lease_until < $3))
         RETURNING {COLUMNS}"
    );
    Ok(on_conn!(&mut tx.tx, |c| {
        sqlx::query_as(&sql)
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .bind(tenant)
            .bind(id)
            .fetch_optional(c)
            .await?
    }))
}

/// Records progress and renews the lease, in the transaction that wrote the work it
/// describes. `false` when `owner` no longer holds the job (its lease expired and another
/// worker claimed it): the caller must roll back.
pub async fn checkpoint(
    tx: &mut TenantTx,
    id: Uuid,
    owner: &str,
    progress: Progress,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<bool> {
    let tenant = tx.tenant().0;
    let done = on_conn!(&mut tx.tx, |c| {
        sqlx::query(
            "UPDATE jobs SET rows_done = $1, created = $2, updated = $3, unchanged = $4,
                    rejected = $5, lease_until = $6, updated_at = $7
             WHERE tenant_id = $8 AND id = $9 AND status = 'running' AND lease_owner = $10",
        )
        .bind(progress.rows_done)
        .bind(progress.created)
        .bind(progress.updated)
        .bind(progress.unchanged)
        .bind(progress.rejected)
        .bind(lease_until)
        .bind(now)
        .bind(tenant)
        .bind(id)
        .bind(owner)
        .execute(c)
        .await?
        .rows_affected()
    });
    Ok(done == 1)
}

/// Ends a job that `owner` holds: `succeeded`, or `failed` with `error`. Its uploaded file
/// is deleted; the report stays. `false` when `owner` no longer holds it.
pub async fn finish(
    tx: &mut TenantTx,
    id: Uuid,
    owner: &str,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let tenant = tx.tenant().0;
    let status = if error.is_some() {
        "failed"
    } else {
        "succeeded"
    };
    let done = on_conn!(&mut tx.tx, |c| {
        let done = sqlx::query(
            "UPDATE jobs SET status = $1, error = $2, lease_owner = NULL, lease_until = NULL,
                    finished_at = $3, updated_at = $3
             WHERE tenant_id = $4 AND id = $5 AND status = 'running' AND lease_owner = $6",
        )
        .bind(status)
        .bind(error)
        .bind(now)
        .bind(tenant)
        .bind(id)
        .bind(owner)
        .execute(&mut *c)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM job_chunks WHERE tenant_id = $1 AND job_id = $2")
            .bind(tenant)
            .bind(id)
            .execute(&mut *c)
            .await?;
        done
    });
    Ok(done == 1)
}

/// Appends refused rows to a job's report, numbered from `first_seq`.
pub async fn add_rejections(
    tx: &mut TenantTx,
    job: Uuid,
    first_seq: i64,
    rows: &[(i64, &str, &str)],
) -> Result<()> {
    const WIDTH: usize = 6;
    let tenant = tx.tenant().0;
    let mut seq = first_seq;
    for chunk in rows.chunks(MAX_PARAMS / WIDTH) {
        let sql = positional(
            &tx.tx,
            &format!(
                "INSERT INTO job_rejections (tenant_id, job_id, seq, row_number, field, message) VALUES {}",
                values_rows(chunk.len(), "(?, ?, ?, ?, ?, ?)")
            ),
        );
        on_conn!(&mut tx.tx, |c| {
            let mut q = sqlx::query(&sql);
            for (row, field, message) in chunk {
                q = q
                    .bind(tenant)
                    .bind(job)
                    .bind(seq)
                    .bind(*row)
                    .bind(*field)
                    .bind(*message);
                seq += 1;
            }
            q.execute(c).await?;
        });
    }
    Ok(())
}

/// How many refusals a job has recorded (the next `seq`).
pub async fn rejection_count(tx: &mut TenantTx, job: Uuid) -> Result<i64> {
    let tenant = tx.tenant().0;
    Ok(on_conn!(&mut tx.tx, |c| {
        sqlx::query_scalar(
            "SELECT count(*) FROM job_rejections WHERE tenant_id = $1 AND job_id = $2",
        )
        .bind(tenant)
        .bind(job)
        .fetch_one(c)
        .await?
    }))
}

/// A page of a job's refused rows, in row order, after refusal `after` (a `seq`).
pub async fn rejections(
    tx: &mut TenantTx,
    job: Uuid,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<Rejection>> {
    let tenant = tx.tenant().0;
    Ok(on_conn!(&mut tx.tx, |c| {
        sqlx::query_as(
            "SELECT seq, row_number, field, message FROM job_rejections
             WHERE tenant_id = $1 AND job_id = $2 AND seq > $3
             ORDER BY seq LIMIT $4",
        )
        .bind(tenant)
        .bind(job)
        .bind(after.unwrap_or(-1))
        .bind(limit)
        .fetch_all(c)
        .await?
    }))
}
