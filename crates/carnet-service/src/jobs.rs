//! The background worker: claims waiting jobs one at a time and runs them. Every Carnet
//! instance runs one; they share the queue through the database.

use crate::Carnet;
use std::time::Duration;

/// How long a claim on a job lasts without a checkpoint renewing it. A worker that dies
/// holds its job this long at most before another one carries it on.
pub const LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

/// How long an upload waits in the import wizard's mapping step before it is deleted.
pub const DRAFT_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// How often an idle worker looks for work it was not told about (jobs queued by another
/// instance, leases of dead workers that expired).
const POLL: Duration = Duration::from_secs(2);

impl Carnet {
    /// Deletes the uploads left in the import wizard's mapping step for longer than
    /// [`DRAFT_LIFETIME`]; returns how many went.
    pub async fn purge_stale_drafts(&self) -> crate::ServiceResult<u64> {
        Ok(carnet_store::jobs::purge_drafts(&self.db, self.now() - DRAFT_LIFETIME).await?)
    }

    /// Runs jobs until `stop` resolves; between jobs, waits for a new one or the next poll.
    pub async fn work_jobs(&self, owner: &str, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let ran = tokio::select! {
                ran = self.run_next_job(owner) => ran,
                () = &mut stop => return,
            };
            match ran {
                Ok(Some(job)) => {
                    tracing::info!(job = %job.id, status = %job.status, rows = job.progress.rows_done, "job finished");
                    continue;
                }
                Ok(None) => {
                    if let Err(e) = self.purge_stale_drafts().await {
                        tracing::error!(error = %e, "purging abandoned imports");
                    }
                }
                Err(e) => tracing::error!(error = %e, "job worker"),
            }
            tokio::select! {
                () = self.jobs_waiting.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                () = &mut stop => return,
            }
        }
    }
}
