//! Import jobs: queued with their file, run by a worker from checkpoint to checkpoint, and
//! carried on by another worker when the first one dies half-way.

use carnet_core::Scope;
use carnet_service::imports::{ImportFormat, ImportSpec};
use carnet_service::{Carnet, Clock, SystemClock, TenantContext};
use carnet_testkit::{Backend, TestApp, on_both_backends};
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

on_both_backends!(
    an_interrupted_import_job_carries_on_without_duplicates,
    abandoned_drafts_are_purged_after_a_day
);

/// The real clock, `ahead` in the future: a worker that sees every lease as expired.
struct Ahead(chrono::TimeDelta);

impl Clock for Ahead {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now() + self.0
    }
}

/// A CSV of `n` contacts named `Last{i}`; only every other one has an e-mail, so a re-run
/// that started over would duplicate the others. Row 3 is refused (a bad e-mail).
pub fn big_csv(n: usize) -> PathBuf {
    let path = std::env::temp_dir().join(format!("carnet-big-{}.csv", uuid::Uuid::now_v7()));
    let mut text = String::from("First Name,Last Name,E-mail Address\n");
    for i in 0..n {
        let email = match i {
            1 => "not-an-address".to_owned(),
            _ if i % 2 == 0 => format!("p{i}@example.test"),
            _ => String::new(),
        };
        text.push_str(&format!("Élise,Last{i},{email}\n"));
    }
    std::fs::write(&path, text).unwrap();
    path
}

async fn an_interrupted_import_job_carries_on_without_duplicates(backend: Backend) {
    const ROWS: usize = 20_000;
    let app = TestApp::new(backend).await;
    let (tenant, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let ctx = TenantContext::system(tenant.id);
    let file = big_csv(ROWS);
    let queued = app
        .carnet
        .queue_import(
            &ctx,
            &ImportSpec::contacts(ImportFormat::Csv),
            "big.csv",
            &file,
        )
        .await
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    assert_eq!(queued.status, "queued");

    // The first worker dies after its first checkpoints: its task is dropped mid-batch,
    // like a killed process (the batch in flight is rolled back, its lease stops renewing).
    let first = app.carnet.clone();
    let running = tokio::spawn(async move { first.run_next_job("worker-a").await });
    let mut done_at_crash = 0;
    for _ in 0..2000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let job = app.carnet.import_job(&ctx, queued.id).await.unwrap();
        if job.progress.rows_done >= 2000 {
            running.abort();
            done_at_crash = job.progress.rows_done;
            break;
        }
    }
    assert!(running.await.unwrap_err().is_cancelled(), "killed half-way");
    assert!(done_at_crash > 0 && done_at_crash < ROWS as i64);
    let stalled = app.carnet.import_job(&ctx, queued.id).await.unwrap();
    assert_eq!(stalled.status, "running");
    assert!(stalled.progress.rows_done < ROWS as i64, "{stalled:?}");

    // While the lease holds, no other worker takes the job.
    assert!(app.carnet.run_next_job("worker-b").await.unwrap().is_none());

    // Once it has expired, another worker carries the job on from its checkpoint.
    let later = Carnet::new(
        app.db.db.clone(),
        Arc::new(Ahead(chrono::TimeDelta::seconds(11))),
    );
    let finished = later.run_next_job("worker-b").await.unwrap().unwrap();
    assert_eq!(finished.id, queued.id);
    assert_eq!(finished.status, "succeeded", "{finished:?}");
    assert_eq!(finished.attempts, 2);
    let p = finished.progress;
    assert_eq!(p.rows_done, ROWS as i64);
    assert_eq!((p.created, p.rejected), (ROWS as i64 - 1, 1), "{p:?}");
    let rejected = later
        .import_rejections(&ctx, queued.id, None, 10)
        .await
        .unwrap();
    assert_eq!(
        rejected.len(),
        1,
        "the refusal is recorded once: {rejected:?}"
    );
    assert_eq!(
        (rejected[0].row_number, rejected[0].field.as_str()),
        (3, "emails[0].value")
    );

    // Every row is there exactly once.
    let res = app
        .api(&key, "GET", "/api/v1/contacts/export?format=json", None)
        .await;
    let all = res.json.as_array().unwrap();
    assert_eq!(all.len(), ROWS - 1);
    let names: HashSet<&str> = all
        .iter()
        .map(|c| c["last_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), ROWS - 1, "no contact twice");
    assert!(!names.contains("Last1"));
    assert!(names.contains("Last0") && names.contains(format!("Last{}", ROWS - 1).as_str()));
    app.finish().await;
}

async fn abandoned_drafts_are_purged_after_a_day(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (tenant, _) = app.tenant_with_key("acme", &[Scope::Read]).await;
    let ctx = TenantContext::system(tenant.id);
    let file = big_csv(10);
    let draft = app
        .carnet
        .draft_import(
            &ctx,
            &ImportSpec::contacts(ImportFormat::Csv),
            "d.csv",
            &file,
        )
        .await
        .unwrap();
    let queued = app
        .carnet
        .queue_import(
            &ctx,
            &ImportSpec::contacts(ImportFormat::Csv),
            "q.csv",
            &file,
        )
        .await
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    assert_eq!(
        app.carnet.purge_stale_drafts().await.unwrap(),
        0,
        "a fresh draft stays"
    );
    let tomorrow = Carnet::new(
        app.db.db.clone(),
        Arc::new(Ahead(chrono::TimeDelta::hours(25))),
    );
    assert_eq!(tomorrow.purge_stale_drafts().await.unwrap(), 1);
    assert!(
        app.carnet.import_job(&ctx, draft.id).await.is_err(),
        "the draft is gone"
    );
    assert_eq!(
        app.carnet.import_job(&ctx, queued.id).await.unwrap().status,
        "queued",
        "only drafts are purged"
    );
    app.finish().await;
}
