//! Storage guarantees on each backend: durability settings, row-level security, the
//! append-only audit log, and schema checks at start-up.

use carnet_core::{ContactId, ContactInput, Scope};
use carnet_service::TenantContext;
use carnet_store::{DbLocation, SchemaStatus};
use carnet_testkit::{Backend, TestApp, TestDb, on_both_backends};
use serde_json::json;
use sqlx::{Connection, Executor, Row};

on_both_backends!(
    audit_log_is_append_only,
    schema_status_guards_start_up,
    optimistic_update_refuses_stale_versions,
    single_statement_reads_take_no_snapshot_of_their_own,
    reads_by_id_that_meet_answer_each_its_own,
    single_reads_reuse_only_connections_left_between_exchanges,
    import_lookups_use_their_indexes,
    list_pages_use_their_sort_indexes,
    selective_filters_start_from_their_index,
    seeding_writes_every_contact_and_its_audit_event,
    deleting_a_contact_takes_its_index_rows,
    a_contact_is_created_in_one_write_with_its_owner_checked,
    creates_that_meet_answer_each_its_own,
    a_change_alone_writes_all_of_it_or_nothing,
    patches_that_meet_each_apply_once
);

#[tokio::test]
async fn sqlite_is_durable_and_checks_foreign_keys() {
    let t = TestDb::new(Backend::Sqlite).await;
    let DbLocation::DataDir(dir) = &t.owner else {
        panic!("sqlite test db")
    };
    let mut c = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}",
        dir.join("carnet.sqlite").display()
    ))
    .await
    .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    drop(c);
    // The pool's own connections: synchronous=FULL (2) and foreign keys on.
    let mut tx = t.db.begin().await.unwrap();
    let carnet_store::Tx::Sqlite(conn) = &mut tx else {
        panic!("sqlite")
    };
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut **conn)
        .await
        .unwrap();
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&mut **conn)
        .await
        .unwrap();
    assert_eq!((sync, fk), (2, 1));
    let orphan = sqlx::query("INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES (x'00', x'00', 'member', 'now')")
        .execute(&mut **conn)
        .await;
    assert!(orphan.is_err(), "foreign keys are enforced");
    drop(tx);
    t.drop_db().await;
}

/// SQLite: write transactions queued for the writer share its commit. Each one's commit
/// returns only once the shared commit is done, readers see none of their writes before it,
/// and one that fails or is given up takes only its own writes with it.
#[tokio::test]
async fn sqlite_writes_queued_for_the_writer_share_its_commit() {
    use carnet_store::Tx;
    use tokio::sync::oneshot;
    async fn insert(tx: &mut Tx, slug: &str) -> Result<(), sqlx::Error> {
        let Tx::Sqlite(conn) = tx else {
            panic!("sqlite")
        };
        sqlx::query(
            "INSERT INTO tenants (id, slug, name, created_at, updated_at) VALUES (?, ?, ?, 'now', 'now')",
        )
        .bind(uuid::Uuid::now_v7())
        .bind(slug)
        .bind(slug)
        .execute(&mut **conn)
        .await
        .map(drop)
    }
    let t = TestDb::new(Backend::Sqlite).await;
    let queued = |n: usize| {
        let db = t.db.clone();
        async move {
            while db.writers_waiting() < n {
                tokio::task::yield_now().await;
            }
        }
    };
    let visible = || {
        let db = t.db.clone();
        async move {
            let mut tx = db.begin_read().await.unwrap();
            let Tx::Sqlite(conn) = &mut tx else {
                panic!("sqlite")
            };
            let slugs: Vec<String> = sqlx::query_scalar("SELECT slug FROM tenants ORDER BY slug")
                .fetch_all(&mut **conn)
                .await
                .unwrap();
            slugs
        }
    };

    let mut a = t.db.begin().await.unwrap();
    insert(&mut a, "a").await.unwrap();
    // B commits; C is given up; D fails on a duplicate; E commits when told to.
    let db = t.db.clone();
    let b = tokio::spawn(async move {
        let mut tx = db.begin().await.unwrap();
        insert(&mut tx, "b").await.unwrap();
        tx.commit().await
    });
    queued(1).await;
    let db = t.db.clone();
    let c = tokio::spawn(async move {
        let mut tx = db.begin().await.unwrap();
        insert(&mut tx, "c").await.unwrap();
    });
    queued(2).await;
    let db = t.db.clone();
    let d = tokio::spawn(async move {
        let mut tx = db.begin().await.unwrap();
        insert(&mut tx, "d").await.unwrap();
        insert(&mut tx, "a").await
    });
    queued(3).await;
    let (wrote, wrote_rx) = oneshot::channel();
    let (go, go_rx) = oneshot::channel::<()>();
    let db = t.db.clone();
    let e = tokio::spawn(async move {
        let mut tx = db.begin().await.unwrap();
        insert(&mut tx, "e").await.unwrap();
        wrote.send(()).unwrap();
        go_rx.await.unwrap();
        tx.commit().await
    });
    queued(4).await;

    let a = tokio::spawn(a.commit());
    wrote_rx.await.unwrap();
    c.await.unwrap();
    assert!(
        d.await.unwrap().is_err(),
        "a duplicate slug fails D's statement"
    );
    assert!(
        !a.is_finished() && !b.is_finished(),
        "A's and B's commits wait for the commit they share with E"
    );
    assert_eq!(
        visible().await,
        Vec::<String>::new(),
        "nothing committed yet"
    );
    go.send(()).unwrap();
    for commit in [a, b, e] {
        commit.await.unwrap().unwrap();
    }
    assert_eq!(visible().await, ["a", "b", "e"], "C and D left nothing");
    assert_eq!(t.db.writers_waiting(), 0);
    // The writer is free again: a lone transaction commits by itself.
    let mut f = t.db.begin().await.unwrap();
    insert(&mut f, "f").await.unwrap();
    f.commit().await.unwrap();
    assert_eq!(visible().await, ["a", "b", "e", "f"]);
    t.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_without_tenant_sees_no_rows() {
    let app = TestApp::new(Backend::Postgres).await;
    let (a, key_a) = app.tenant_with_key("tenant-a", &[Scope::Write]).await;
    let (b, key_b) = app.tenant_with_key("tenant-b", &[Scope::Write]).await;
    for (key, n) in [(&key_a, 3), (&key_b, 2)] {
        for i in 0..n {
            let res = app
                .api(
                    key,
                    "POST",
                    "/api/v1/contacts",
                    Some(json!({"last_name": format!("C{i}")})),
                )
                .await;
            assert_eq!(res.status, 201);
        }
    }
    let DbLocation::Url(app_url) = &app.db.app else {
        panic!("postgres")
    };
    assert!(
        app_url.contains("carnet_app@"),
        "the application connects as the non-owner role"
    );
    let mut c = sqlx::PgConnection::connect(app_url).await.unwrap();
    let who: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(who, "carnet_app");
    for table in [
        "contacts",
        "contact_emails",
        "contact_tags",
        "audit_events",
        "idempotency_keys",
        "job_chunks",
        "job_rejections",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table}: no tenant set, no rows");
        let forced: bool =
            sqlx::query_scalar("SELECT relforcerowsecurity FROM pg_class WHERE relname = $1")
                .bind(table)
                .fetch_one(&mut c)
                .await
                .unwrap();
        assert!(forced, "{table}: FORCE ROW LEVEL SECURITY");
    }
    let mut tx = c.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(a.id.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(n, 3, "only tenant A's rows");
    let sneaky = sqlx::query(
        "INSERT INTO contacts (tenant_id, id, search_text, sort_last, sort_first, created_at, updated_at)
         VALUES ($1, $2, '', '', '', now(), now())",
    )
    .bind(b.id.0)
    .bind(uuid::Uuid::now_v7())
    .execute(&mut *tx)
    .await;
    assert!(sneaky.is_err(), "cannot write into another tenant");
    tx.rollback().await.unwrap();
    let row = sqlx::query("SELECT relforcerowsecurity FROM pg_class WHERE relname = 'contacts'")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert!(row.get::<bool, _>(0), "FORCE ROW LEVEL SECURITY");
    c.close().await.unwrap();
    app.finish().await;
}

/// PostgreSQL: Carnet's own writes keep the search index's GIN pending list small (a create
/// never waits for a long move of it into the index, nor does a search scan a long list),
/// while bulk writes keep the server's default, larger list for their transactions.
#[tokio::test]
async fn gin_pending_list_is_small_for_creates_and_large_for_bulk_writes() {
    const CONTACTS: i64 = 800;
    let app = TestApp::new(Backend::Postgres).await;
    let tenant = app.carnet.create_tenant("acme", "Acme").await.unwrap();
    let DbLocation::Url(owner) = &app.db.owner else {
        unreachable!()
    };
    let mut c = sqlx::PgConnection::connect(owner).await.unwrap();
    c.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        .await
        .unwrap();
    // Autoanalyze also empties the list: kept off this table, so that only writes move it.
    c.execute("ALTER TABLE contact_search SET (autovacuum_enabled = false)")
        .await
        .unwrap();
    // Bulk: seeding writes the contacts in one transaction, which keeps them all in the
    // list: more than 256 kB of them (32 pages). Restoring an archive as well.
    let ctx = TenantContext::system(tenant.id);
    app.carnet
        .seed_contacts(&ctx, CONTACTS as usize)
        .await
        .unwrap();
    let (pages, tuples) = gin_pending(&mut c).await;
    assert_eq!(tuples, CONTACTS, "{pages} pages");
    assert!(pages > 32, "{pages} pages");
    let clean = "SELECT gin_clean_pending_list('contact_search_rest_trigrams')";
    c.execute(clean).await.unwrap();
    assert_eq!(gin_pending(&mut c).await, (0, 0));
    // Bulk too: restoring an archive of them into another workspace, in one transaction.
    let mut archive = std::io::Cursor::new(Vec::new());
    app.carnet
        .export_archive("acme", &mut archive)
        .await
        .unwrap();
    archive.set_position(0);
    let restored = app.carnet.restore_archive("copy", None, archive).await;
    assert_eq!(restored.unwrap().contacts, CONTACTS as u64);
    let (pages, tuples) = gin_pending(&mut c).await;
    assert_eq!(tuples, CONTACTS, "{pages} pages");
    assert!(pages > 32, "{pages} pages");
    c.execute(clean).await.unwrap();
    // Creates, one at a time: the list is moved into the index each time it passes 256 kB.
    for i in 0..CONTACTS {
        let body = json!({
            "first_name": format!("Éloïse-Marguerite {i}"),
            "last_name": format!("Lefèvre-Châtelain {i}"),
            "job_title": format!("Boulangère chez Dupré et fils {i}"),
            "emails": [{"value": format!("eloise.lefevre{i}@boulangerie-dupre.fr")},
                       {"value": format!("e.chatelain{i}@exemple.fr")}],
            "phones": [{"value": format!("+33 6 {:08}", 12_345_678 + i)}],
        });
        app.carnet.create_contact(&ctx, &body, None).await.unwrap();
    }
    let (pages, tuples) = gin_pending(&mut c).await;
    assert!(tuples < CONTACTS, "{tuples} contacts pending");
    assert!(pages <= 33, "{pages} pages");
    c.close().await.unwrap();
    app.finish().await;
}

/// The pages and contacts in the pending list of the search index's GIN index.
async fn gin_pending(c: &mut sqlx::PgConnection) -> (i32, i64) {
    sqlx::query_as(
        "SELECT pending_pages, pending_tuples FROM pgstatginindex('contact_search_rest_trigrams')",
    )
    .fetch_one(c)
    .await
    .unwrap()
}

/// Pooled connections are not pinged before use: after the server dropped them (a restart, a
/// failover), the next transactions still begin, on fresh connections.
#[tokio::test]
async fn dropped_postgres_connections_are_replaced() {
    let app = TestApp::new(Backend::Postgres).await;
    let tenant = app.carnet.create_tenant("acme", "Acme").await.unwrap();
    // Several connections in the pool, idle.
    let held: Vec<_> = hold_connections(&app, tenant.id, 4).await;
    drop(held);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let DbLocation::Url(owner) = &app.db.owner else {
        unreachable!()
    };
    let mut c = sqlx::PgConnection::connect(owner).await.unwrap();
    let killed = terminate_other_connections(&mut c).await;
    assert!(killed >= 4, "{killed}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
    assert_eq!(carnet_store::contacts::count(&mut tx).await.unwrap(), 0);
    drop(tx);
    // A connection for single reads, idle when the server drops it.
    let mut tx = app.db.db.tenant_read_single(tenant.id).await.unwrap();
    let missing = carnet_store::contacts::get(&mut tx, ContactId::new()).await;
    assert!(missing.unwrap().is_none());
    drop(tx);
    assert!(terminate_other_connections(&mut c).await >= 1);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // A read of one statement takes no transaction: its statement meets the dead connection.
    let mut tx = app.db.db.tenant_read_single(tenant.id).await.unwrap();
    let missing = carnet_store::contacts::get(&mut tx, ContactId::new()).await;
    assert!(missing.unwrap().is_none());
    drop(tx);
    // A read by id outside a transaction that meets no other goes alone, on these same
    // connections, and meets them dead too.
    assert!(terminate_other_connections(&mut c).await >= 1);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let missing = carnet_store::contacts::by_id(&app.db.db, tenant.id, ContactId::new()).await;
    assert!(missing.unwrap().is_none());
    // A create is one statement outside a transaction, on connections of its own: the one
    // a first create leaves idle is dead for the next, which is sent again on a fresh one,
    // and stored once.
    let ctx = TenantContext::system(tenant.id);
    let before = json!({"last_name": "Avant"});
    app.carnet
        .create_contact(&ctx, &before, None)
        .await
        .unwrap();
    assert_eq!(idle_write_connections(&app), 1);
    let body = json!({"last_name": "Après", "emails": [{"value": "apres@acme.test"}]});
    assert!(terminate_other_connections(&mut c).await >= 1);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let created = app.carnet.create_contact(&ctx, &body, None).await.unwrap();
    let carnet_service::contacts::Created::New(created) = created else {
        panic!("a new contact")
    };
    let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
    assert_eq!(carnet_store::contacts::count(&mut tx).await.unwrap(), 2);
    drop(tx);
    // Creates that go together meet dead connections too: the two on their way wait for a
    // lock on the contacts while the others queue behind them, and the server drops every
    // connection but the lock's meanwhile, those two included; they are sent again on fresh
    // connections, and each of the forty is stored once.
    let held: Vec<_> = hold_connections(&app, tenant.id, 8).await;
    drop(held);
    let mut locker = sqlx::PgConnection::connect(owner).await.unwrap();
    let locker_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut locker)
        .await
        .unwrap();
    let mut lock = locker.begin().await.unwrap();
    sqlx::query("LOCK TABLE contacts IN SHARE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(40));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (carnet, start) = (app.carnet.clone(), std::sync::Arc::clone(&start));
        tasks.spawn(async move {
            let body = json!({"last_name": format!("Ensemble {i}")});
            start.wait().await;
            carnet
                .create_contact(&TenantContext::system(tenant.id), &body, None)
                .await
        });
    }
    for _ in 0..500 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        if waiting == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let killed = terminate_other_connections_but(&mut c, locker_pid).await;
    assert!(killed >= 8, "{killed}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    lock.commit().await.unwrap();
    while let Some(done) = tasks.join_next().await {
        assert!(matches!(
            done.unwrap(),
            Ok(carnet_service::contacts::Created::New(_))
        ));
    }
    let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
    assert_eq!(carnet_store::contacts::count(&mut tx).await.unwrap(), 42);
    drop(tx);
    // Sent again, a create whose first sending was stored after all meets its own id: the
    // contact stored is the answer. Without a first sending lost, the same id is a conflict.
    let input = ContactInput {
        last_name: Some("Autre".into()),
        ..Default::default()
    };
    let event = carnet_store::audit::AuditEvent {
        id: uuid::Uuid::now_v7(),
        occurred_at: created.created_at,
        actor_kind: "system".into(),
        actor_id: None,
        action: "create".into(),
        entity: "contact".into(),
        entity_id: Some(created.id.0),
        ip: None,
        request_id: None,
        changes: vec!["last_name".into()],
    };
    let create_again = || {
        carnet_store::contacts::create(
            &app.db.db,
            tenant.id,
            created.id,
            &input,
            None,
            created.created_at,
            &event,
        )
    };
    let conflict = create_again().await;
    assert!(
        matches!(conflict, Err(carnet_store::StoreError::Conflict(_))),
        "{conflict:?}"
    );
    // The connection that answered is idle, and the server drops it, so that the next
    // create meets it dead.
    assert!(idle_write_connections(&app) > 0);
    assert!(terminate_other_connections(&mut c).await >= 1);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    match create_again().await.unwrap() {
        carnet_store::contacts::Creation::Stored(stored) => assert_eq!(*stored, created),
        other => panic!("{other:?}"),
    }
    let mut tx = app.db.db.begin_read().await.unwrap();
    assert!(
        carnet_store::tenants::by_slug(&mut tx, "acme")
            .await
            .unwrap()
            .is_some()
    );
    drop(tx);
    c.close().await.unwrap();
    app.finish().await;
}

/// On PostgreSQL a read of one statement runs outside a transaction, under the tenant the
/// connection's session holds, and sets it only when it found nothing: a session left on
/// another tenant must make it find its own rows all the same and never the other's, and
/// must not leak into the control plane's transactions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_single_reads_answer_for_their_own_tenant_whatever_the_session_holds() {
    use carnet_store::activities::{self, ActivityQuery};
    use carnet_store::{Tx, contacts};
    let app = TestApp::new(Backend::Postgres).await;
    let (a, key_a) = app.tenant_with_key("tenant-a", &[Scope::Write]).await;
    let (b, key_b) = app.tenant_with_key("tenant-b", &[Scope::Write]).await;
    let ours = app.add_contacts(&a, "Durand", 1).await[0];
    let theirs = app.add_contacts(&b, "Martin", 1).await[0];
    for (key, contact) in [(&key_a, ours), (&key_b, theirs)] {
        let body = json!({"kind": "call", "subject": "Appel", "starts_at": "2026-12-01T09:00:00Z",
                          "contact_id": contact.to_string()});
        let res = app.api(key, "POST", "/api/v1/activities", Some(body)).await;
        assert_eq!(res.status, 201);
    }
    let timeline = |contact: ContactId| ActivityQuery {
        limit: 10,
        contact_id: Some(contact),
        ..Default::default()
    };

    // Every connection for single reads reads for tenant A at once: their sessions now hold
    // A. (They serve single reads only; the control plane's transactions must never meet
    // a session's tenant.)
    let stats = app.db.db.pool_stats();
    let single_reads = stats.iter().find(|(name, _)| *name == "single_reads");
    let mut held = Vec::new();
    for _ in 0..single_reads.unwrap().1.max {
        let mut tx = app.db.db.tenant_read_single(a.id).await.unwrap();
        assert!(contacts::get(&mut tx, ours).await.unwrap().is_some());
        held.push(tx);
    }
    drop(held);
    // The control plane's transactions see no tenant's rows on any of them.
    let mut held = Vec::new();
    for _ in 0..16 {
        let mut tx = app.db.db.begin_read().await.unwrap();
        let Tx::Postgres(c) = &mut tx else {
            unreachable!()
        };
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts")
            .fetch_one(&mut **c)
            .await
            .unwrap();
        assert_eq!(n, 0, "a control-plane transaction sees no tenant");
        held.push(tx);
    }
    drop(held);

    // Reads for tenant B on connections whose session holds tenant A.
    let mut tx = read_on_session_of(&app, b.id, a.id).await;
    assert!(
        contacts::get(&mut tx, ours).await.unwrap().is_none(),
        "tenant A's contact through tenant B's read, the session on A"
    );
    let mut tx = read_on_session_of(&app, b.id, a.id).await;
    let found = contacts::get(&mut tx, theirs).await.unwrap().unwrap();
    assert_eq!(found.last_name.as_deref(), Some("Martin"));
    let mut tx = read_on_session_of(&app, b.id, a.id).await;
    assert!(
        activities::list(&mut tx, &timeline(ours))
            .await
            .unwrap()
            .is_empty()
    );
    let mut tx = read_on_session_of(&app, b.id, a.id).await;
    let listed = activities::list(&mut tx, &timeline(theirs)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].contact_id, Some(theirs));
    drop(tx);
    app.finish().await;
}

/// A connection for single reads goes back for another read only when its exchange
/// completed: one whose request was dropped mid-read is replaced.
async fn single_reads_reuse_only_connections_left_between_exchanges(backend: Backend) {
    use carnet_store::{SqliteTx, TenantTx, Tx};
    let app = TestApp::new(backend).await;
    let tenant = app.carnet.create_tenant("acme", "Acme").await.unwrap();
    let id = app.add_contacts(&tenant, "Durand", 1).await[0];
    // A mark left on the connection itself (a setting of its session), and read back.
    async fn mark(tx: &mut TenantTx, mark: i64) {
        match tx.control() {
            Tx::Postgres(c) => {
                sqlx::query("SELECT set_config('carnet.test_mark', $1, false)")
                    .bind(mark.to_string())
                    .execute(&mut **c)
                    .await
                    .unwrap();
            }
            Tx::Sqlite(c) => {
                assert!(matches!(c, SqliteTx::Single(_)), "no transaction");
                sqlx::query(&format!("PRAGMA cache_size = {mark}"))
                    .execute(&mut **c)
                    .await
                    .unwrap();
            }
        }
    }
    async fn marked(tx: &mut TenantTx) -> i64 {
        match tx.control() {
            Tx::Postgres(c) => {
                let m: String = sqlx::query_scalar(
                    "SELECT coalesce(current_setting('carnet.test_mark', true), '0')",
                )
                .fetch_one(&mut **c)
                .await
                .unwrap();
                m.parse().unwrap_or(0)
            }
            Tx::Sqlite(c) => sqlx::query_scalar("PRAGMA cache_size")
                .fetch_one(&mut **c)
                .await
                .unwrap(),
        }
    }
    // Reads one after another take the first connection, as long as it is reusable.
    let mut tx = app.db.db.tenant_read_single(tenant.id).await.unwrap();
    mark(&mut tx, 4321).await;
    let found = carnet_store::contacts::get(&mut tx, id).await.unwrap();
    assert!(found.is_some());
    drop(tx);
    let mut tx = app.db.db.tenant_read_single(tenant.id).await.unwrap();
    assert_eq!(marked(&mut tx).await, 4321, "a completed read's connection");
    // A read given up while the database works on it.
    let slow = match backend {
        Backend::Postgres => "SELECT pg_sleep(2)",
        Backend::Sqlite => {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000000)
             SELECT count(*) FROM n"
        }
    };
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(50), async {
        match tx.control() {
            Tx::Postgres(c) => sqlx::query(slow).execute(&mut **c).await.map(drop),
            Tx::Sqlite(c) => sqlx::query(slow).execute(&mut **c).await.map(drop),
        }
    })
    .await;
    assert!(gave_up.is_err(), "{gave_up:?}");
    drop(tx);
    let mut tx = app.db.db.tenant_read_single(tenant.id).await.unwrap();
    let found = carnet_store::contacts::get(&mut tx, id).await.unwrap();
    assert_eq!(found.unwrap().last_name.as_deref(), Some("Durand"));
    assert_ne!(
        marked(&mut tx).await,
        4321,
        "a connection left mid-exchange is replaced"
    );
    drop(tx);
    app.finish().await;
}

/// A single read for `reader` on a connection whose session holds `session`'s tenant, as a
/// read for `session` would have left it.
async fn read_on_session_of(
    app: &TestApp,
    reader: carnet_core::TenantId,
    session: carnet_core::TenantId,
) -> carnet_store::TenantTx {
    use carnet_store::{PgTx, Tx};
    let mut tx = app.db.db.tenant_read_single(reader).await.unwrap();
    let Tx::Postgres(c @ PgTx::Single(_)) = tx.control() else {
        panic!("a single read runs outside a transaction")
    };
    sqlx::query("SELECT set_config('app.tenant_id', $1, false)")
        .bind(session.to_string())
        .execute(&mut **c)
        .await
        .unwrap();
    tx
}

/// PostgreSQL: the connections for writes of one statement (creates among them) open and
/// idle now.
fn idle_write_connections(app: &TestApp) -> u32 {
    let stats = app.db.db.pool_stats();
    let writes = stats.iter().find(|(name, _)| *name == "writes");
    writes.map_or(0, |(_, s)| s.idle)
}

/// Ends every other connection to the test's database; how many there were.
async fn terminate_other_connections(owner: &mut sqlx::PgConnection) -> i64 {
    // No backend has process id 0.
    terminate_other_connections_but(owner, 0).await
}

/// Ends every other connection to the test's database but the one of backend `kept`; how
/// many there were.
async fn terminate_other_connections_but(owner: &mut sqlx::PgConnection, kept: i32) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> $1) t",
    )
    .bind(kept)
    .fetch_one(owner)
    .await
    .unwrap()
}

/// `n` transactions open at once, so that the pool holds `n` connections.
async fn hold_connections(
    app: &TestApp,
    tenant: carnet_core::TenantId,
    n: usize,
) -> Vec<carnet_store::TenantTx> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(app.db.db.tenant_read(tenant).await.unwrap());
    }
    held
}

async fn audit_log_is_append_only(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app.tenant_with_key("acme", &[Scope::Write]).await;
    app.api(
        &key,
        "POST",
        "/api/v1/contacts",
        Some(json!({"last_name": "A"})),
    )
    .await;
    let url = match &app.db.app {
        DbLocation::Url(u) => u.clone(),
        DbLocation::DataDir(d) => format!("sqlite://{}", d.join("carnet.sqlite").display()),
    };
    let (update, delete) = match backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            (
                c.execute("UPDATE audit_events SET action = 'forged'")
                    .await
                    .is_err(),
                c.execute("DELETE FROM audit_events").await.is_err(),
            )
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            (
                c.execute("UPDATE audit_events SET action = 'forged'")
                    .await
                    .is_err(),
                c.execute("DELETE FROM audit_events").await.is_err(),
            )
        }
    };
    assert!(update && delete, "the application cannot rewrite history");
    app.finish().await;
}

async fn schema_status_guards_start_up(backend: Backend) {
    let t = TestDb::new(backend).await;
    assert_eq!(
        carnet_store::schema_status(&t.owner).await.unwrap(),
        SchemaStatus::Current
    );
    assert_eq!(t.db.schema_status().await.unwrap(), SchemaStatus::Current);
    let exec = |sql: &'static str| {
        let owner = t.owner.clone();
        async move {
            match owner {
                DbLocation::DataDir(d) => {
                    let mut c = sqlx::SqliteConnection::connect(&format!(
                        "sqlite://{}",
                        d.join("carnet.sqlite").display()
                    ))
                    .await
                    .unwrap();
                    c.execute(sql).await.unwrap();
                }
                DbLocation::Url(u) => {
                    let mut c = sqlx::PgConnection::connect(&u).await.unwrap();
                    c.execute(sql).await.unwrap();
                }
            }
        }
    };
    exec(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         SELECT 99999, 'future', true, checksum, 0 FROM _sqlx_migrations WHERE version = 1",
    )
    .await;
    let newer = carnet_store::schema_status(&t.owner).await.unwrap();
    assert_eq!(newer, SchemaStatus::Newer(vec![99999]));
    assert!(newer.refusal().unwrap().contains("newer"));
    assert!(
        carnet_store::migrate(&t.owner, false).await.is_err(),
        "migrate refuses a newer schema"
    );
    exec("UPDATE _sqlx_migrations SET success = false WHERE version = 99999").await;
    let half = carnet_store::schema_status(&t.owner).await.unwrap();
    assert_eq!(half, SchemaStatus::HalfApplied(99999));
    assert!(half.refusal().unwrap().contains("half-applied"));
    exec("DELETE FROM _sqlx_migrations").await;
    assert_eq!(
        carnet_store::schema_status(&t.owner).await.unwrap(),
        SchemaStatus::Empty
    );
    t.drop_db().await;
}

/// A read of one statement (`tenant_read_single`, used for records by id) takes no snapshot
/// that outlives its statement: on SQLite it opens no transaction at all (the `BEGIN` and
/// `ROLLBACK` it saves are two hand-overs to the connection's thread), so each statement sees
/// what was committed before it, as on PostgreSQL. A `tenant_read` transaction on SQLite keeps
/// the snapshot of its first read, which is what reads of several statements need.
async fn single_statement_reads_take_no_snapshot_of_their_own(backend: Backend) {
    use carnet_store::contacts;
    let app = TestApp::new(backend).await;
    let tenant = app.carnet.create_tenant("acme", "Acme").await.unwrap();
    let id = app.add_contacts(&tenant, "Durand", 1).await[0];
    let name = |c: Option<carnet_core::contact::Contact>| c.unwrap().last_name.unwrap();

    let mut single = app.db.db.tenant_read_single(tenant.id).await.unwrap();
    let mut snapshot = app.db.db.tenant_read(tenant.id).await.unwrap();
    assert_eq!(
        name(contacts::get(&mut single, id).await.unwrap()),
        "Durand"
    );
    assert_eq!(
        name(contacts::get(&mut snapshot, id).await.unwrap()),
        "Durand"
    );

    let mut tx = app.db.db.tenant_write(tenant.id).await.unwrap();
    let current = contacts::get_for_update(&mut tx, id)
        .await
        .unwrap()
        .unwrap();
    let renamed = ContactInput::from_json(&json!({"last_name": "Martin"})).unwrap();
    contacts::update(&mut tx, &current, &renamed, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(
        name(contacts::get(&mut single, id).await.unwrap()),
        "Martin"
    );
    if backend == Backend::Sqlite {
        assert_eq!(
            name(contacts::get(&mut snapshot, id).await.unwrap()),
            "Durand",
            "a SQLite read transaction keeps its first snapshot"
        );
    }
    // Another tenant's single read does not see the contact.
    let other = app.carnet.create_tenant("other", "Other").await.unwrap();
    let mut theirs = app.db.db.tenant_read_single(other.id).await.unwrap();
    assert!(contacts::get(&mut theirs, id).await.unwrap().is_none());
    drop((single, snapshot, theirs));
    app.finish().await;
}

/// Reads by id outside a transaction (`contacts::by_id`, a `GET` of one record) that meet on
/// PostgreSQL go to the server together, in fewer statements than reads: each still gets its
/// own tenant's record or nothing, whatever else shared its statement (another tenant's
/// reads, the same id twice, ids no one has, a session left on another tenant).
async fn reads_by_id_that_meet_answer_each_its_own(backend: Backend) {
    use carnet_core::ActivityId;
    use carnet_store::{activities, contacts};
    let app = TestApp::new(backend).await;
    let (a, key) = app.tenant_with_key("tenant-a", &[Scope::Write]).await;
    let b = app.carnet.create_tenant("tenant-b", "B").await.unwrap();
    let ours = app.add_contacts(&a, "Durand", 60).await;
    let theirs = app.add_contacts(&b, "Martin", 60).await;
    let mut calls = Vec::new();
    for i in 0..20 {
        let body = json!({"kind": "call", "subject": format!("Appel {i}"),
                          "starts_at": "2026-12-01T09:00:00Z"});
        let res = app
            .api(&key, "POST", "/api/v1/activities", Some(body))
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        calls.push(
            res.json["id"]
                .as_str()
                .unwrap()
                .parse::<uuid::Uuid>()
                .unwrap(),
        );
    }
    if backend == Backend::Postgres {
        // Every connection for single reads left with its session on tenant A.
        let mut held = Vec::new();
        for _ in 0..8 {
            let mut tx = app.db.db.tenant_read_single(a.id).await.unwrap();
            assert!(contacts::get(&mut tx, ours[0]).await.unwrap().is_some());
            held.push(tx);
        }
    }
    // (reader, whether an activity, id, the last name or subject it must find, if any)
    let mut reads = Vec::new();
    for i in 0..60 {
        reads.push((a.id, false, ours[i].0, Some("Durand".to_owned())));
        reads.push((b.id, false, theirs[i].0, Some("Martin".to_owned())));
        reads.push((b.id, false, ours[i].0, None));
        reads.push((a.id, false, uuid::Uuid::now_v7(), None));
        if i % 5 == 0 {
            reads.push((a.id, false, ours[i].0, Some("Durand".to_owned())));
        }
        if let Some(&call) = calls.get(i) {
            reads.push((a.id, true, call, Some(format!("Appel {i}"))));
            reads.push((b.id, true, call, None));
        }
    }
    // All at once: the first go alone, the others wait for them and go together.
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(reads.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for (n, &(tenant, activity, id, _)) in reads.iter().enumerate() {
        let (db, start) = (app.db.db.clone(), std::sync::Arc::clone(&start));
        tasks.spawn(async move {
            start.wait().await;
            let found = if activity {
                let found = activities::by_id(&db, tenant, ActivityId(id)).await;
                found.unwrap().map(|a| (a.id.0, Some(a.subject)))
            } else {
                let found = contacts::by_id(&db, tenant, ContactId(id)).await;
                found.unwrap().map(|c| (c.id.0, c.last_name))
            };
            (n, found)
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (n, found) = done.unwrap();
        let (_, _, id, name) = &reads[n];
        let wanted = name.as_ref().map(|name| (*id, Some(name.clone())));
        assert_eq!(found, wanted, "read {n}");
    }
    match app.db.db.batched().reads {
        None => assert_eq!(backend, Backend::Sqlite),
        Some(batched) => {
            assert!(
                batched.members * 2 >= reads.len() as u64
                    && batched.statements * 4 <= batched.members,
                "reads that met went together: {batched:?} of {} reads",
                reads.len()
            );
        }
    }
    app.finish().await;
}

async fn optimistic_update_refuses_stale_versions(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (tenant, _) = app.tenant_with_key("acme", &[Scope::Write]).await;
    let input = ContactInput::from_json(&json!({"last_name": "Durand"})).unwrap();
    let mut tx = app.db.db.tenant_write(tenant.id).await.unwrap();
    let id = ContactId::new();
    let now = chrono::Utc::now();
    let v1 = carnet_store::contacts::insert(&mut tx, id, &input, None, now)
        .await
        .unwrap();
    let v2 = carnet_store::contacts::update(&mut tx, &v1, &input, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v2.version, 2);
    assert!(
        carnet_store::contacts::update(&mut tx, &v1, &input, now)
            .await
            .unwrap()
            .is_none()
    );
    tx.commit().await.unwrap();
    // Another tenant's transaction cannot see the row at all.
    let other = app.carnet.create_tenant("other", "Other").await.unwrap();
    let mut tx = app.db.db.tenant_read(other.id).await.unwrap();
    assert!(
        carnet_store::contacts::get(&mut tx, id)
            .await
            .unwrap()
            .is_none()
    );
    drop(tx);
    let ctx = TenantContext::system(tenant.id);
    assert_eq!(
        app.carnet
            .get_contact(&ctx, id, false)
            .await
            .unwrap()
            .version,
        2
    );
    app.finish().await;
}

/// A tenant with 3,000 contacts and fresh statistics: enough for PostgreSQL to plan as it
/// would in use.
async fn tenant_with_3000_contacts(app: &TestApp) -> carnet_store::tenants::Tenant {
    let tenant = app.carnet.create_tenant("acme", "Acme").await.unwrap();
    app.add_contacts(&tenant, "Durand", 3000).await;
    let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
    assert_eq!(carnet_store::contacts::count(&mut tx).await.unwrap(), 3000);
    drop(tx);
    if let DbLocation::Url(owner) = &app.db.owner {
        let mut c = sqlx::PgConnection::connect(owner).await.unwrap();
        c.execute("ANALYZE").await.unwrap();
    }
    tenant
}

/// The lookups an import repeats per batch stay on their indexes: a scan here made imports
/// quadratic (SQLite preferred the whole primary-key index to the e-mail index).
async fn import_lookups_use_their_indexes(backend: Backend) {
    let app = TestApp::new(backend).await;
    let tenant = tenant_with_3000_contacts(&app).await;
    let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
    let plans = carnet_store::contacts::lookup_plans(&mut tx).await.unwrap();
    // SQLite: the exact plan. PostgreSQL: a probe of an index on (tenant, looked-up key).
    let expected = match backend {
        Backend::Sqlite => [
            (
                "email lookup",
                "USING COVERING INDEX contact_emails_key (tenant_id=? AND email_key=?)",
            ),
            (
                "contacts by id",
                "USING INDEX sqlite_autoindex_contacts_1 (tenant_id=? AND id=?)",
            ),
        ],
        Backend::Postgres => [
            ("email lookup", "AND (email_key = k.wanted))"),
            ("contacts by id", "AND (id = k.wanted))"),
        ],
    };
    assert_eq!(plans.len(), expected.len());
    for ((name, plan), (want_name, want)) in plans.iter().zip(expected) {
        assert_eq!(*name, want_name);
        assert!(plan.contains(want), "{name}: {plan}");
        if backend == Backend::Postgres {
            assert!(
                plan.contains("Index Cond: ((tenant_id = "),
                "{name}: {plan}"
            );
        }
        assert!(
            !plan.contains("SCAN") && !plan.contains("Seq Scan"),
            "{name} scans: {plan}"
        );
    }
}

/// A contact's index rows (e-mail and tag keys; PostgreSQL's search row) have no foreign
/// key to it (migration 0010): deleting the contact removes them by a trigger, and only its.
async fn deleting_a_contact_takes_its_index_rows(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app.tenant_with_key("acme", &[Scope::Write]).await;
    let mut ids = Vec::new();
    for name in ["Gone", "Kept"] {
        let res = app
            .api(
                &key,
                "POST",
                "/api/v1/contacts",
                Some(json!({
                    "last_name": name,
                    "emails": [{"value": format!("{name}@a.fr")}, {"value": format!("{name}@b.fr")}],
                    "tags": ["vip", "client"],
                })),
            )
            .await;
        assert_eq!(res.status, 201, "{:?}", res.json);
        ids.push(uuid::Uuid::parse_str(res.json["id"].as_str().unwrap()).unwrap());
    }
    let (gone, kept) = (ids[0], ids[1]);
    let tables: &[&str] = match backend {
        Backend::Sqlite => &["contact_emails", "contact_tags"],
        Backend::Postgres => &["contact_emails", "contact_tags", "contact_search"],
    };
    // Each table's rows of the deleted contact and of the kept one, before and after the
    // deletion, on the owner's connection of either backend (`$1` binds on both).
    macro_rules! counts_around_delete {
        ($conn:ty, $url:expr) => {{
            let mut conn = <$conn>::connect($url).await.unwrap();
            let count = async |conn: &mut $conn| {
                let mut counts = Vec::new();
                for table in tables {
                    for id in [gone, kept] {
                        let sql = format!("SELECT count(*) FROM {table} WHERE contact_id = $1");
                        let n: i64 = sqlx::query_scalar(&sql)
                            .bind(id)
                            .fetch_one(&mut *conn)
                            .await
                            .unwrap();
                        counts.push(n);
                    }
                }
                counts
            };
            let before = count(&mut conn).await;
            sqlx::query("DELETE FROM contacts WHERE id = $1")
                .bind(gone)
                .execute(&mut conn)
                .await
                .unwrap();
            (before, count(&mut conn).await)
        }};
    }
    let (before, after) = match &app.db.owner {
        DbLocation::DataDir(d) => {
            let url = format!("sqlite://{}", d.join("carnet.sqlite").display());
            counts_around_delete!(sqlx::SqliteConnection, &url)
        }
        DbLocation::Url(u) => counts_around_delete!(sqlx::PgConnection, u),
    };
    // Per table: the deleted contact's rows, then the kept one's.
    let mut want_before = vec![2, 2, 2, 2];
    let mut want_after = vec![0, 2, 0, 2];
    if backend == Backend::Postgres {
        want_before.extend([1, 1]);
        want_after.extend([0, 1]);
    }
    assert_eq!(before, want_before);
    assert_eq!(after, want_after);
    app.finish().await;
}

/// The bulk seeder (multi-row statements, a commit per 5,000) writes exactly what it says,
/// across a batch boundary, with one audit event per contact.
async fn seeding_writes_every_contact_and_its_audit_event(backend: Backend) {
    let app = TestApp::new(backend).await;
    let tenant = app.carnet.create_tenant("acme", "Acme").await.unwrap();
    let ctx = TenantContext::system(tenant.id);
    assert_eq!(app.carnet.seed_contacts(&ctx, 5003).await.unwrap(), 5003);
    let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
    assert_eq!(carnet_store::contacts::count(&mut tx).await.unwrap(), 5003);
    let events = carnet_store::audit::recent(&mut tx, 10_000).await.unwrap();
    assert_eq!(events.len(), 5003);
    assert!(
        events
            .iter()
            .all(|e| e.action == "create" && e.entity == "contact")
    );
    let mut ids: Vec<_> = events.iter().map(|e| e.entity_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5003, "one event per contact");
}

/// Every page of a list is read from the index of its sort key, in order: no scan of the
/// tenant's contacts and no sort, whatever the page (first or after a cursor).
async fn list_pages_use_their_sort_indexes(backend: Backend) {
    use carnet_store::contacts::{ListQuery, SortField, SortValue, list_plan};
    let app = TestApp::new(backend).await;
    let tenant = tenant_with_3000_contacts(&app).await;
    let query = |sort, descending, after| ListQuery {
        sort,
        descending,
        after,
        limit: 51,
        terms: Vec::new(),
        tag: None,
        company_id: None,
        email: None,
        trashed: false,
    };
    let pk = match backend {
        Backend::Sqlite => "sqlite_autoindex_contacts_1",
        Backend::Postgres => "contacts_pkey",
    };
    let cases = [
        (
            query(SortField::LastName, false, None),
            "contacts_sort_last",
        ),
        (
            query(
                SortField::LastName,
                false,
                Some((SortValue::Text("durand".into()), uuid::Uuid::now_v7())),
            ),
            "contacts_sort_last",
        ),
        (
            query(SortField::FirstName, true, None),
            "contacts_sort_first",
        ),
        (
            query(
                SortField::UpdatedAt,
                true,
                Some((SortValue::Time(chrono::Utc::now()), uuid::Uuid::now_v7())),
            ),
            "contacts_updated",
        ),
        (query(SortField::CreatedAt, false, None), pk),
    ];
    let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
    // An e-mail filter starts from the e-mail index, not from a walk of the sort order.
    let by_email = ListQuery {
        email: Some("durand42@x.fr".into()),
        ..query(SortField::LastName, false, None)
    };
    let plan = list_plan(&mut tx, &by_email).await.unwrap();
    assert!(plan.contains("contact_emails_key"), "{plan}");
    if backend == Backend::Sqlite {
        assert!(
            plan.contains("(tenant_id=? AND id=?)") && !plan.contains("CORRELATED"),
            "contacts found by the ids the e-mail index gives: {plan}"
        );
    }
    for (q, index) in cases {
        let plan = list_plan(&mut tx, &q).await.unwrap();
        assert!(plan.contains(index), "{:?}: {plan}", q.sort);
        let sorts = plan.contains("TEMP B-TREE")
            || plan.lines().any(|l| l.trim_start().starts_with("Sort"));
        assert!(
            !sorts,
            "{:?} sorts instead of reading the index in order: {plan}",
            q.sort
        );
        assert!(!plan.contains("Seq Scan"), "{:?}: {plan}", q.sort);
    }
    drop(tx);
    app.finish().await;
}

/// A tag or company few contacts have, or a small trash, starts the list from its own index
/// (walking the sort index to find them took seconds at a million contacts); a frequent tag
/// walks the sort index. Either way the pages hold exactly the matching contacts, in order.
async fn selective_filters_start_from_their_index(backend: Backend) {
    use carnet_store::contacts::{ListQuery, SortField, list, list_plan};
    let app = TestApp::new(backend).await;
    let tenant = app.carnet.create_tenant("acme", "Acme").await.unwrap();
    let company = uuid::Uuid::now_v7();
    app.add_contacts_with(&tenant, "Durand", 5001, &json!({"tags": ["common"]}))
        .await;
    app.add_contacts_with(&tenant, "Aaron", 12, &json!({"tags": ["rare"]}))
        .await;
    let rare_company = json!({"tags": ["rare", "common"], "company_id": company});
    app.add_contacts_with(&tenant, "Martin", 30, &rare_company)
        .await;
    let zolas = app.add_contacts(&tenant, "Zola", 20).await;
    let ctx = TenantContext::system(tenant.id);
    let mut trashed = zolas[..7].to_vec();
    for id in &trashed {
        app.carnet.delete_contact(&ctx, *id, None).await.unwrap();
    }
    trashed.sort();
    if let DbLocation::Url(owner) = &app.db.owner {
        let mut c = sqlx::PgConnection::connect(owner).await.unwrap();
        c.execute("ANALYZE").await.unwrap();
    }
    let query = |tag: Option<&str>, company_id, limit| ListQuery {
        sort: SortField::LastName,
        descending: false,
        after: None,
        limit,
        terms: Vec::new(),
        tag: tag.map(str::to_owned),
        company_id,
        email: None,
        trashed: false,
    };
    let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
    let everyone = list(&mut tx, &query(None, None, 10_000)).await.unwrap();
    assert_eq!(everyone.len(), 5056);
    let cases = [
        (query(Some("rare"), None, 25), "contact_tags_key", 42),
        (query(None, Some(company), 25), "contacts_company", 30),
        (query(Some("common"), None, 25), "contacts_sort_last", 5031),
    ];
    for (q, index, count) in cases {
        let expected: Vec<_> = everyone
            .iter()
            .filter(|c| {
                let input = c.input();
                q.tag.as_ref().is_none_or(|t| input.tags.contains(t))
                    && q.company_id.is_none_or(|id| input.company_id == Some(id))
            })
            .map(|c| c.id)
            .collect();
        assert_eq!(expected.len(), count);
        let first = list(&mut tx, &q).await.unwrap();
        let last = first.last().unwrap();
        let after = ListQuery {
            after: Some((SortField::LastName.value_of(last), last.id.0)),
            ..q.clone()
        };
        let second = list(&mut tx, &after).await.unwrap();
        let got: Vec<_> = first.iter().chain(&second).map(|c| c.id).collect();
        assert_eq!(
            got,
            expected[..50.min(count)],
            "{:?} {:?}",
            q.tag,
            q.company_id
        );
        let plan = list_plan(&mut tx, &q).await.unwrap();
        assert!(plan.contains(index), "{:?}: {plan}", q.tag);
        assert!(!plan.contains("Seq Scan"), "{plan}");
        if backend == Backend::Sqlite && index != "contacts_sort_last" {
            assert!(!plan.contains("contacts_sort_last"), "no walk: {plan}");
        }
    }
    // The trash, small: from its partial index.
    let trash = ListQuery {
        trashed: true,
        ..query(None, None, 25)
    };
    let got: Vec<_> = list(&mut tx, &trash)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(got, trashed);
    let plan = list_plan(&mut tx, &trash).await.unwrap();
    assert!(plan.contains("contacts_trash"), "{plan}");
    assert!(!plan.contains("contacts_sort_last"), "no walk: {plan}");
    drop(tx);
    app.finish().await;
}

/// An owner's connection to a SQLite test database.
async fn sqlite_owner(t: &TestDb) -> sqlx::SqliteConnection {
    let DbLocation::DataDir(dir) = &t.owner else {
        panic!("sqlite test db")
    };
    sqlx::SqliteConnection::connect(&format!("sqlite://{}", dir.join("carnet.sqlite").display()))
        .await
        .unwrap()
}

/// SQLite: how many contacts lie outside their tenant's block of rowids (migration 0011),
/// how many tenants have a block, and what the full-text index's own check says of it.
async fn rowid_blocks(c: &mut sqlx::SqliteConnection) -> (i64, i64, Result<(), String>) {
    let outside: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM contacts c
         WHERE NOT EXISTS (SELECT 1 FROM contact_rowid_blocks b
                           WHERE b.tenant_id = c.tenant_id AND b.block = c.rowid >> 40)",
    )
    .fetch_one(&mut *c)
    .await
    .unwrap();
    let blocks: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT b.block) FROM tenants t JOIN contact_rowid_blocks b ON b.tenant_id = t.id",
    )
    .fetch_one(&mut *c)
    .await
    .unwrap();
    let index =
        sqlx::query("INSERT INTO contact_search (contact_search) VALUES ('integrity-check')")
            .execute(&mut *c)
            .await
            .map(drop)
            .map_err(|e| e.to_string());
    (outside, blocks, index)
}

/// SQLite: every way a contact is written (one by one, in bulk, restored from an archive)
/// gives it a rowid in its tenant's block, whatever the other tenants write meanwhile, and
/// a contact written without one is refused rather than stored where its tenant's searches
/// would not look.
#[tokio::test]
async fn sqlite_contacts_lie_in_their_tenants_rowid_blocks() {
    let app = TestApp::new(Backend::Sqlite).await;
    let (a, key_a) = app.tenant_with_key("alpha", &[Scope::Write]).await;
    let (b, key_b) = app.tenant_with_key("beta", &[Scope::Write]).await;
    for round in 0..3 {
        for (tenant, key) in [(&a, &key_a), (&b, &key_b)] {
            let body = json!({"last_name": format!("Rond {round}"), "emails": [{"value": format!("r{round}@{}.fr", tenant.slug)}]});
            let res = app.api(key, "POST", "/api/v1/contacts", Some(body)).await;
            assert_eq!(res.status, 201, "{}", res.text);
            app.add_contacts(tenant, "Lot", 30).await;
        }
    }
    let mut archive = std::io::Cursor::new(Vec::new());
    app.carnet
        .export_archive("alpha", &mut archive)
        .await
        .unwrap();
    archive.set_position(0);
    let report = app
        .carnet
        .restore_archive("gamma", None, archive)
        .await
        .unwrap();
    assert_eq!(report.contacts, 93);

    let mut c = sqlite_owner(&app.db).await;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(total, 3 * 93);
    assert_eq!(rowid_blocks(&mut c).await, (0, 3, Ok(())));
    let stray = sqlx::query(
        "INSERT INTO contacts (tenant_id, id, search_text, sort_last, sort_first, created_at, updated_at)
         VALUES (?, ?, 'x', 'x', 'x', 'now', 'now')",
    )
    .bind(b.id.0)
    .bind(uuid::Uuid::now_v7())
    .execute(&mut c)
    .await
    .unwrap_err()
    .to_string();
    assert!(
        stray.contains("rowid must lie in its tenant's block"),
        "{stray}"
    );
    c.close().await.unwrap();
    app.finish().await;
}

/// SQLite: migration 0011 moves the contacts of a database written before it, tenants'
/// rows interleaved, into their tenants' blocks, and rebuilds the search index over them:
/// each tenant's search finds its contacts, and only its.
#[tokio::test]
async fn sqlite_migration_0011_moves_contacts_into_their_tenants_blocks() {
    use carnet_store::contacts::{self, ListQuery, SortField};
    let t = TestDb::new(Backend::Sqlite).await;
    let app_tenants = [uuid::Uuid::now_v7(), uuid::Uuid::now_v7()];
    t.db.close().await;
    carnet_store::undo_to(&t.owner, 10).await.unwrap();
    let mut c = sqlite_owner(&t).await;
    for (n, tenant) in app_tenants.iter().enumerate() {
        sqlx::query(
            "INSERT INTO tenants (id, slug, name, created_at, updated_at) VALUES (?, ?, 'T', 'now', 'now')",
        )
        .bind(tenant)
        .bind(format!("t{n}"))
        .execute(&mut c)
        .await
        .unwrap();
    }
    // As the code before 0011 wrote them: SQLite's next rowid, the two tenants in turn.
    for i in 0..40 {
        let tenant = app_tenants[i % 2];
        let name = if i % 2 == 0 { "pair" } else { "impair" };
        sqlx::query(
            "INSERT INTO contacts (tenant_id, id, last_name, search_text, sort_last, sort_first, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, '', '2026-11-27T00:00:00Z', '2026-11-27T00:00:00Z')",
        )
        .bind(tenant)
        .bind(uuid::Uuid::now_v7())
        .bind(name)
        .bind(format!("{name} numero{i}"))
        .bind(name)
        .execute(&mut c)
        .await
        .unwrap();
    }
    c.close().await.unwrap();

    let report = carnet_store::migrate(&t.owner, false).await.unwrap();
    // Later migrations come after (their own tests say what they do).
    assert!(
        report.applied.starts_with(&[11, 12]),
        "{:?}",
        report.applied
    );
    let mut c = sqlite_owner(&t).await;
    assert_eq!(rowid_blocks(&mut c).await, (0, 2, Ok(())));
    c.close().await.unwrap();

    let db = carnet_store::Db::connect(&t.app).await.unwrap();
    for (tenant, term, want) in [
        (app_tenants[0], "pair", 20),
        (app_tenants[1], "impair", 20),
        (app_tenants[0], "impair", 0),
        (app_tenants[0], "numero", 20),
        (app_tenants[1], "numero1", 6),
    ] {
        let terms = vec![term.to_owned()];
        let mut tx = db.tenant_read(carnet_core::TenantId(tenant)).await.unwrap();
        assert_eq!(
            contacts::index_matches(&mut tx, &terms).await.unwrap(),
            Some(want),
            "{term}"
        );
        let q = ListQuery {
            sort: SortField::LastName,
            descending: false,
            after: None,
            limit: 100,
            terms,
            tag: None,
            company_id: None,
            email: None,
            trashed: false,
        };
        assert_eq!(
            contacts::list(&mut tx, &q).await.unwrap().len(),
            want,
            "{term}"
        );
    }
    db.close().await;
    t.drop_db().await;
}

/// SQLite: migration 0012 rebuilds the e-mail and tag key tables WITHOUT ROWID and makes the
/// owner and company indexes partial. Key rows written before it survive going down and up
/// again, contacts are still found by e-mail and tag, and a contact deleted takes its key
/// rows with it (the trigger both tables' rebuilds drop and put back).
#[tokio::test]
async fn sqlite_migration_0012_keeps_key_rows_in_slimmer_tables() {
    use carnet_store::contacts::{self, ListQuery, SortField};
    let app = TestApp::new(Backend::Sqlite).await;
    let tenant = app.carnet.create_tenant("acme", "Acme").await.unwrap();
    let ids = app
        .add_contacts_with(&tenant, "Durand", 30, &json!({"tags": ["vip", "Lyon"]}))
        .await;
    async fn key_rows(c: &mut sqlx::SqliteConnection) -> (i64, i64, String) {
        let emails: i64 = sqlx::query_scalar("SELECT count(*) FROM contact_emails")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        let tags: i64 = sqlx::query_scalar("SELECT count(*) FROM contact_tags")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        let schema: Vec<String> = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master
             WHERE name IN ('contact_emails', 'contact_tags', 'contacts_owner', 'contacts_company')
             ORDER BY name",
        )
        .fetch_all(&mut *c)
        .await
        .unwrap();
        (emails, tags, schema.join("\n"))
    }
    let slim = |schema: &str| {
        (
            schema.matches("WITHOUT ROWID").count(),
            schema.matches("IS NOT NULL").count(),
        )
    };
    app.db.db.close().await;
    for (step, version, want) in [("down", 11, (0, 0)), ("up", 12, (2, 2))] {
        if version == 11 {
            carnet_store::undo_to(&app.db.owner, 11).await.unwrap();
        } else {
            let report = carnet_store::migrate(&app.db.owner, false).await.unwrap();
            assert!(report.applied.starts_with(&[12]), "{:?}", report.applied);
        }
        let mut c = sqlite_owner(&app.db).await;
        let (emails, tags, schema) = key_rows(&mut c).await;
        assert_eq!((emails, tags), (30, 60), "{step}");
        assert_eq!(slim(&schema), want, "{step}: {schema}");
        c.close().await.unwrap();
    }

    let db = carnet_store::Db::connect(&app.db.app).await.unwrap();
    let mut tx = db.tenant_read(tenant.id).await.unwrap();
    let found = contacts::find_by_emails(&mut tx, &["durand7@x.fr".to_owned()])
        .await
        .unwrap();
    assert_eq!(found.get("durand7@x.fr").map(|c| c.id), Some(ids[7]));
    let tagged = ListQuery {
        sort: SortField::LastName,
        descending: false,
        after: None,
        limit: 100,
        terms: Vec::new(),
        tag: Some("lyon".into()),
        company_id: None,
        email: None,
        trashed: false,
    };
    assert_eq!(contacts::list(&mut tx, &tagged).await.unwrap().len(), 30);
    drop(tx);
    db.close().await;

    let mut c = sqlite_owner(&app.db).await;
    sqlx::query("DELETE FROM contacts WHERE id = ?")
        .bind(ids[7].0)
        .execute(&mut c)
        .await
        .unwrap();
    let (emails, tags, _) = key_rows(&mut c).await;
    assert_eq!((emails, tags), (29, 58));
    c.close().await.unwrap();
    app.db.drop_db().await;
}

/// A create without an idempotency key is one write (on PostgreSQL one statement that sets
/// its own tenant): its owner must be a member of this workspace (a member of another one is
/// refused, and nothing is written: no contact, no index row, no audit event), and on
/// PostgreSQL the tenant it set ends with it.
/// SQLite: creates that queue while two others wait for the writer go together, in one
/// transaction; one of them that fails (an id already stored) leaves the others of its
/// transaction to be stored alone, and reports its own error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_creates_that_meet_share_a_transaction_and_fail_alone() {
    use carnet_store::contacts::{self, Creation};
    use carnet_store::{StoreError, audit};
    let app = TestApp::new(Backend::Sqlite).await;
    let tenant = app.carnet.create_tenant("acme", "Acme").await.unwrap().id;
    let create = |id: ContactId, name: String| {
        let db = app.db.db.clone();
        tokio::spawn(async move {
            let input = ContactInput::from_json(
                &json!({"last_name": name, "emails": [{"value": format!("{name}@x.test")}]}),
            )
            .unwrap();
            let now = chrono::Utc::now();
            let event = audit::AuditEvent {
                id: uuid::Uuid::now_v7(),
                occurred_at: now,
                actor_kind: "system".into(),
                actor_id: None,
                action: "create".into(),
                entity: "contact".into(),
                entity_id: Some(id.0),
                ip: None,
                request_id: None,
                changes: vec!["last_name".into()],
            };
            contacts::create(&db, tenant, id, &input, None, now, &event).await
        })
    };
    let taken = ContactId(uuid::Uuid::now_v7());
    let first = create(taken, "Premier".into()).await.unwrap().unwrap();
    assert!(matches!(first, Creation::Stored(_)));

    // Rounds: 30 creates queued behind two that wait for the writer, held meanwhile; in the
    // second round, one of the 30 takes the id of the first contact.
    let mut stored = 1;
    for round in 0..2 {
        let before = app.db.db.batched().creates;
        let held = app.db.db.begin().await.unwrap();
        let mut tasks = Vec::new();
        for n in 0..2 {
            tasks.push((
                None,
                create(ContactId(uuid::Uuid::now_v7()), format!("R{round}a{n}")),
            ));
            while app.db.db.writers_waiting() < n + 1 {
                tokio::task::yield_now().await;
            }
        }
        for n in 0..30 {
            let id = if round == 1 && n == 17 {
                taken
            } else {
                ContactId(uuid::Uuid::now_v7())
            };
            tasks.push((Some(id), create(id, format!("R{round}n{n}"))));
        }
        // Time for the 30 to join the queue, behind the two holding its places.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        held.commit().await.unwrap();
        for (n, (id, task)) in tasks.into_iter().enumerate() {
            match (task.await.unwrap(), id) {
                (Err(StoreError::Conflict(_)), Some(id)) if id == taken => {}
                (Ok(Creation::Stored(c)), id) if id != Some(taken) => {
                    assert!(
                        id.is_none_or(|id| c.id == id),
                        "create {n} of round {round}"
                    );
                    stored += 1;
                }
                (other, _) => panic!("create {n} of round {round}: {other:?}"),
            }
        }
        let after = app.db.db.batched().creates;
        let together = (
            after.members - before.members,
            after.statements - before.statements,
        );
        if round == 0 {
            assert_eq!(together, (30, 1), "the 30 went in one transaction");
        } else {
            assert_eq!(
                together,
                (0, 0),
                "their transaction failed: they went alone"
            );
        }
    }
    let mut tx = app.db.db.tenant_read(tenant).await.unwrap();
    assert_eq!(contacts::count(&mut tx).await.unwrap(), stored);
    let events = audit::recent(&mut tx, 200).await.unwrap();
    assert_eq!(events.len() as i64, stored, "one creation event each");
    let matches = contacts::index_matches(&mut tx, &["r1n18".to_owned()]).await;
    assert_eq!(
        matches.unwrap(),
        Some(1),
        "a member of the failed transaction found"
    );
    drop(tx);
    app.finish().await;
}

async fn a_contact_is_created_in_one_write_with_its_owner_checked(backend: Backend) {
    use carnet_store::{audit, contacts};
    let app = TestApp::new(backend).await;
    let (acme, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    app.carnet.create_tenant("other", "Other").await.unwrap();
    let lea = member(&app, "other", "lea@other.test").await;
    let max = member(&app, "acme", "max@acme.test").await;
    let body = |owner: Option<carnet_core::UserId>| {
        json!({"last_name": "Durand", "emails": [{"value": "durand@acme.test"}], "tags": ["client"],
               "owner_id": owner.map(|o| o.to_string())})
    };

    let refused = app
        .api(&key, "POST", "/api/v1/contacts", Some(body(Some(lea))))
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.error_fields(), ["owner_id"]);
    let mut tx = app.db.db.tenant_read(acme.id).await.unwrap();
    assert_eq!(contacts::count(&mut tx).await.unwrap(), 0);
    assert!(audit::recent(&mut tx, 10).await.unwrap().is_empty());
    let matches = contacts::index_matches(&mut tx, &["durand".to_owned()]).await;
    assert_eq!(matches.unwrap(), Some(0), "no search row written");
    drop(tx);

    let mut created = Vec::new();
    for owner in [Some(max), None] {
        let res = app
            .api(&key, "POST", "/api/v1/contacts", Some(body(owner)))
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        assert_eq!(res.json["owner_id"], json!(owner.map(|o| o.to_string())));
        created.push(res.json["id"].as_str().unwrap().to_owned());
    }
    // Found by their e-mail key, and by their tag key and search row.
    for query in [
        "filter[email]=durand@acme.test",
        "filter[tag]=client&q=durand",
    ] {
        let found = app
            .api(&key, "GET", &format!("/api/v1/contacts?{query}"), None)
            .await;
        let data = found.json["data"].as_array().unwrap();
        assert_eq!(data.len(), 2, "{query}: {}", found.text);
    }
    let mut tx = app.db.db.tenant_read(acme.id).await.unwrap();
    let events = audit::recent(&mut tx, 10).await.unwrap();
    let mut entities: Vec<String> = events
        .iter()
        .filter(|e| e.action == "create")
        .map(|e| e.entity_id.unwrap().to_string())
        .collect();
    entities.sort();
    created.sort();
    assert_eq!(entities, created);
    drop(tx);

    if let carnet_store::Db::Postgres { pool, .. } = &app.db.db {
        // Every connection of the pool: none still holds the tenant a create's statement set.
        let mut held = Vec::new();
        for _ in 0..pool.size() {
            let mut c = pool.acquire().await.unwrap();
            let tenant: Option<String> =
                sqlx::query_scalar("SELECT current_setting('app.tenant_id', true)")
                    .fetch_one(&mut *c)
                    .await
                    .unwrap();
            assert!(
                tenant.unwrap_or_default().is_empty(),
                "a tenant left on the session"
            );
            held.push(c);
        }
        assert!(!held.is_empty());
    }
    app.finish().await;
}

/// Creates of a workspace that arrive together go to the database together: each must still
/// get its own answer (its contact as given, or its owner refused) and store its own rows
/// (index rows, search row, audit event), in its own workspace, whatever it went with.
async fn creates_that_meet_answer_each_its_own(backend: Backend) {
    use carnet_service::ServiceError;
    use carnet_service::contacts::Created;
    use carnet_store::{audit, contacts};
    let app = TestApp::new(backend).await;
    let (a, key_a) = app.tenant_with_key("tenant-a", &[Scope::Read]).await;
    let (b, key_b) = app.tenant_with_key("tenant-b", &[Scope::Read]).await;
    let max = member(&app, "tenant-a", "max@a.test").await;
    let lea = member(&app, "tenant-b", "lea@b.test").await;
    // (workspace, last name, owner, whether the owner is a member there)
    let mut creates = Vec::new();
    for i in 0..90 {
        let (tenant, member, stranger) = if i % 3 == 0 {
            (b.id, lea, max)
        } else {
            (a.id, max, lea)
        };
        let owner = match i % 7 {
            0 => Some((stranger, false)),
            1 | 2 => Some((member, true)),
            _ => None,
        };
        creates.push((tenant, format!("Nom{i:02}"), owner));
    }
    // All at once: the first go alone, the others wait for them and go together.
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(creates.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for (n, (tenant, name, owner)) in creates.iter().cloned().enumerate() {
        let (carnet, start) = (app.carnet.clone(), std::sync::Arc::clone(&start));
        tasks.spawn(async move {
            let body = json!({"last_name": name, "emails": [{"value": format!("{name}@x.test")}],
                              "tags": [format!("t{}", n % 4)],
                              "owner_id": owner.map(|(o, _)| o.to_string())});
            start.wait().await;
            let ctx = TenantContext::system(tenant);
            (n, carnet.create_contact(&ctx, &body, None).await)
        });
    }
    let mut stored: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
    while let Some(done) = tasks.join_next().await {
        let (n, created) = done.unwrap();
        let (tenant, name, owner) = &creates[n];
        match (created, owner) {
            (Ok(Created::New(c)), None | Some((_, true))) => {
                assert_eq!(c.last_name.as_deref(), Some(name.as_str()), "create {n}");
                assert_eq!(c.owner_id, owner.map(|(o, _)| o), "create {n}");
                assert_eq!(c.emails[0].value, format!("{name}@x.test"));
                stored[usize::from(*tenant == b.id)].push(c.id.to_string());
            }
            (Err(ServiceError::Validation(e)), Some((_, false))) => {
                assert_eq!(e.0[0].field, "owner_id", "create {n}");
            }
            (other, _) => panic!("create {n} ({name}, {owner:?}): {other:?}"),
        }
    }
    for mine in &mut stored {
        mine.sort();
    }
    for (tenant, key, mine) in [(a.id, &key_a, &stored[0]), (b.id, &key_b, &stored[1])] {
        let mut tx = app.db.db.tenant_read(tenant).await.unwrap();
        assert_eq!(contacts::count(&mut tx).await.unwrap(), mine.len() as i64);
        let events = audit::recent(&mut tx, 200).await.unwrap();
        let mut created: Vec<String> = events
            .iter()
            .map(|e| e.entity_id.unwrap().to_string())
            .collect();
        created.sort();
        assert_eq!(&created, mine, "one creation event for each contact stored");
        drop(tx);
        // Key rows of the contacts stored only: one e-mail and one tag each.
        for table in ["contact_emails", "contact_tags"] {
            let rows = key_rows(&app, tenant, table).await;
            assert_eq!(rows, mine.len() as i64, "{table}");
        }
        // Each found by its e-mail key, its tag key and its search row.
        for id in mine.iter() {
            let c = app
                .api(key, "GET", &format!("/api/v1/contacts/{id}"), None)
                .await;
            let name = c.json["last_name"].as_str().unwrap().to_owned();
            let tag = c.json["tags"][0].as_str().unwrap().to_owned();
            for query in [
                format!("filter[email]={name}@x.test"),
                format!("filter[tag]={tag}&q={name}"),
            ] {
                let found = app
                    .api(key, "GET", &format!("/api/v1/contacts?{query}"), None)
                    .await;
                let ids: Vec<&str> = found.json["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["id"].as_str().unwrap())
                    .collect();
                assert_eq!(ids, [id.as_str()], "{query}");
            }
        }
    }
    let batched = app.db.db.batched().creates;
    assert!(
        batched.members * 2 >= creates.len() as u64 && batched.statements * 3 <= batched.members,
        "creates that met went together: {batched:?} of {}",
        creates.len()
    );
    app.finish().await;
}

/// How many key rows of `table` the workspace `tenant` holds.
async fn key_rows(app: &TestApp, tenant: carnet_core::TenantId, table: &str) -> i64 {
    let mut tx = app.db.db.tenant_read(tenant).await.unwrap();
    let sql = format!("SELECT count(*) FROM {table} WHERE tenant_id = $1");
    match tx.control() {
        carnet_store::Tx::Postgres(c) => sqlx::query_scalar(&sql)
            .bind(tenant.0)
            .fetch_one(&mut **c)
            .await
            .unwrap(),
        carnet_store::Tx::Sqlite(c) => sqlx::query_scalar(&sql)
            .bind(tenant.0)
            .fetch_one(&mut **c)
            .await
            .unwrap(),
    }
}

/// The ids of the contacts `query` lists through the API.
async fn listed(app: &TestApp, key: &str, query: &str) -> Vec<String> {
    let found = app
        .api(key, "GET", &format!("/api/v1/contacts?{query}"), None)
        .await;
    assert_eq!(found.status, 200, "{query}: {}", found.text);
    found.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// How many `update` events the workspace's audit log holds.
async fn update_events(app: &TestApp, tenant: carnet_core::TenantId) -> usize {
    let mut tx = app.db.db.tenant_read(tenant).await.unwrap();
    let events = carnet_store::audit::recent(&mut tx, 100).await.unwrap();
    events.iter().filter(|e| e.action == "update").count()
}

/// A change read before goes alone, as one command on SQLite's writer or one statement on
/// PostgreSQL: the contact, its changed key rows and its event are all written, or, when the
/// contact is no longer at the version read or an update's new owner is not a member, none
/// of them.
async fn a_change_alone_writes_all_of_it_or_nothing(backend: Backend) {
    use carnet_core::contact::Contact;
    use carnet_store::audit::AuditEvent;
    use carnet_store::contacts::{self, ChangeAlone};
    let app = TestApp::new(backend).await;
    let (acme, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    app.carnet.create_tenant("other", "Other").await.unwrap();
    let lea = member(&app, "other", "lea@other.test").await;
    let created = app
        .api(
            &key,
            "POST",
            "/api/v1/contacts",
            Some(
                json!({"last_name": "durand", "emails": [{"value": "durand@acme.test"}],
                        "tags": ["t-durand"]}),
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id: ContactId = created.json["id"].as_str().unwrap().parse().unwrap();
    let v1 = contacts::by_id(&app.db.db, acme.id, id)
        .await
        .unwrap()
        .unwrap();
    let input = |name: &str, owner: Option<carnet_core::UserId>| {
        ContactInput::from_json(&json!({
            "last_name": name, "emails": [{"value": format!("{name}@acme.test")}],
            "tags": [format!("t-{name}")], "owner_id": owner.map(|o| o.to_string())}))
        .unwrap()
    };
    let event = |action: &str| AuditEvent {
        id: uuid::Uuid::now_v7(),
        occurred_at: chrono::Utc::now(),
        actor_kind: "system".into(),
        actor_id: None,
        action: action.into(),
        entity: "contact".into(),
        entity_id: Some(id.0),
        ip: None,
        request_id: None,
        changes: vec!["last_name".into()],
    };
    let update = |current: &Contact, input: ContactInput| {
        let (db, current, event) = (app.db.db.clone(), current.clone(), event("update"));
        async move {
            contacts::update_alone(&db, acme.id, &current, &input, event.occurred_at, &event)
                .await
                .unwrap()
        }
    };
    let trash = |current: &Contact, trashed: bool| {
        let action = if trashed { "delete" } else { "restore" };
        let (db, current, event) = (app.db.db.clone(), current.clone(), event(action));
        async move {
            contacts::set_trashed_alone(&db, acme.id, &current, trashed, event.occurred_at, &event)
                .await
                .unwrap()
        }
    };
    // Where the contact stands: its version, how often each name's e-mail and tag find it,
    // its update events.
    let state = |name: &'static str| {
        let (app, key) = (&app, &key);
        async move {
            let version = contacts::by_id(&app.db.db, acme.id, id)
                .await
                .unwrap()
                .unwrap()
                .version;
            let by_email = listed(app, key, &format!("filter[email]={name}@acme.test")).await;
            let by_tag = listed(app, key, &format!("filter[tag]=t-{name}")).await;
            let events = update_events(app, acme.id).await;
            (version, by_email.len() + by_tag.len(), events)
        }
    };

    let ChangeAlone::Changed(v2) = update(&v1, input("martin", None)).await else {
        panic!("the update at the version read applies")
    };
    assert_eq!((v2.version, v2.last_name.as_deref()), (2, Some("martin")));
    assert_eq!(state("martin").await, (2, 2, 1), "found by its new keys");
    assert_eq!(state("durand").await, (2, 0, 1), "its old keys gone");

    // Read at version 1, sent after version 2: nothing written, key rows included.
    assert!(matches!(
        update(&v1, input("bernard", None)).await,
        ChangeAlone::NotApplied
    ));
    assert_eq!(state("bernard").await, (2, 0, 1));
    assert_eq!(state("martin").await, (2, 2, 1));
    // An owner from another workspace: nothing written.
    assert!(matches!(
        update(&v2, input("petit", Some(lea))).await,
        ChangeAlone::NotApplied
    ));
    assert_eq!(state("petit").await, (2, 0, 1));
    assert_eq!(state("martin").await, (2, 2, 1));
    assert_eq!(key_rows(&app, acme.id, "contact_emails").await, 1);
    assert_eq!(key_rows(&app, acme.id, "contact_tags").await, 1);

    // To the trash and out of it the same way: at the version read, or not at all.
    let ChangeAlone::Changed(v3) = trash(&v2, true).await else {
        panic!("to the trash at the version read")
    };
    assert_eq!((v3.version, v3.deleted_at.is_some()), (3, true));
    assert!(matches!(trash(&v2, false).await, ChangeAlone::NotApplied));
    let ChangeAlone::Changed(v4) = trash(&v3, false).await else {
        panic!("out of the trash at the version read")
    };
    assert_eq!((v4.version, v4.deleted_at.is_some()), (4, false));
    let mut tx = app.db.db.tenant_read(acme.id).await.unwrap();
    let events = carnet_store::audit::recent(&mut tx, 100).await.unwrap();
    let moves: Vec<&str> = events
        .iter()
        .filter(|e| e.action != "create")
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(moves, ["restore", "delete", "update"], "newest first");
    drop(tx);
    // The database serves on: a transaction after these changes.
    let ctx = TenantContext::system(acme.id);
    let patched = app
        .carnet
        .patch_contact(&ctx, id, &json!({"job_title": "CEO"}), None)
        .await;
    assert_eq!(patched.unwrap().version, 5);
    app.finish().await;
}

/// PostgreSQL: a change alone goes on the connections of single-statement writes, whose
/// session may hold another workspace (it is then set to the change's and the change sent
/// again) or be dead (the change is sent again on a fresh one). A change whose first sending
/// was written though its answer was lost is told by its event, and answered with the
/// contact as stored; one whose was not, by the lack of it.
#[tokio::test]
async fn postgres_changes_alone_meet_other_workspaces_and_dropped_connections() {
    use carnet_store::audit::AuditEvent;
    use carnet_store::contacts::{self, ChangeAlone};
    let app = TestApp::new(Backend::Postgres).await;
    let acme = app.carnet.create_tenant("acme", "Acme").await.unwrap();
    let other = app.carnet.create_tenant("other", "Other").await.unwrap();
    let ours = new_contact(&app, acme.id, "Durand").await;
    let theirs = new_contact(&app, other.id, "Martin").await;
    let event = || AuditEvent {
        id: uuid::Uuid::now_v7(),
        occurred_at: chrono::Utc::now(),
        actor_kind: "system".into(),
        actor_id: None,
        action: "update".into(),
        entity: "contact".into(),
        entity_id: Some(ours.id.0),
        ip: None,
        request_id: None,
        changes: vec!["job_title".into()],
    };
    let input =
        ContactInput::from_json(&json!({"last_name": "Durand", "job_title": "CEO"})).unwrap();
    let update = |current: &carnet_core::contact::Contact, event: &AuditEvent| {
        let (db, current, event, input) = (
            app.db.db.clone(),
            current.clone(),
            event.clone(),
            input.clone(),
        );
        async move {
            contacts::update_alone(&db, acme.id, &current, &input, event.occurred_at, &event)
                .await
                .unwrap()
        }
    };
    // One connection for writes, its session left holding the other workspace by a change
    // of theirs.
    let ctx = TenantContext::system(other.id);
    let patched = app
        .carnet
        .patch_contact(&ctx, theirs.id, &json!({"job_title": "CTO"}), None)
        .await
        .unwrap();
    assert_eq!(patched.version, 2);
    assert_eq!(idle_write_connections(&app), 1);
    let first = event();
    let ChangeAlone::Changed(v2) = update(&ours, &first).await else {
        panic!("applies under its own workspace, whichever the session held")
    };
    assert_eq!((v2.version, v2.job_title.as_deref()), (2, Some("CEO")));
    assert_eq!(idle_write_connections(&app), 1);

    // The same change sent again, its connection dropped by the server: the sending on a
    // fresh one finds the contact at version 2 and the change's event, so it was written.
    let DbLocation::Url(owner) = &app.db.owner else {
        unreachable!()
    };
    let mut c = sqlx::PgConnection::connect(owner).await.unwrap();
    assert!(terminate_other_connections(&mut c).await >= 1);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let ChangeAlone::Changed(stored) = update(&ours, &first).await else {
        panic!("the change written before its connection was lost is the answer")
    };
    assert_eq!(stored.version, 2);
    // Another change read at version 1, its connection dropped too: not written, and said so.
    assert!(terminate_other_connections(&mut c).await >= 1);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(matches!(
        update(&ours, &event()).await,
        ChangeAlone::NotApplied
    ));
    assert_eq!(update_events(&app, acme.id).await, 1);
    // A move to the trash meets a dropped connection the same way, and is written once.
    assert!(terminate_other_connections(&mut c).await >= 1);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut trash = event();
    trash.action = "delete".into();
    let trashed =
        contacts::set_trashed_alone(&app.db.db, acme.id, &v2, true, trash.occurred_at, &trash)
            .await
            .unwrap();
    let ChangeAlone::Changed(v3) = trashed else {
        panic!("to the trash at the version read")
    };
    assert_eq!((v3.version, v3.deleted_at.is_some()), (3, true));
    let mut tx = app.db.db.tenant_read(acme.id).await.unwrap();
    let actions: Vec<String> = carnet_store::audit::recent(&mut tx, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["delete", "update", "create"], "newest first");
    drop(tx);
    app.finish().await;
}

/// PostgreSQL: an activity's creation from the API is one statement on the connections of
/// single-statement writes: the activity and its event, or, when its contact is not a live
/// contact of the workspace (in the trash, or another's) or its owner not a member, nothing.
/// A dropped connection is met with a fresh one; an activity whose first sending was stored
/// though its answer was lost is answered as stored, once.
#[tokio::test]
async fn postgres_activities_are_created_alone() {
    use carnet_core::ActivityId;
    use carnet_core::activity::ActivityInput;
    use carnet_store::activities::{self, ActivityAlone};
    use carnet_store::audit::AuditEvent;
    let app = TestApp::new(Backend::Postgres).await;
    let acme = app.carnet.create_tenant("acme", "Acme").await.unwrap();
    let other = app.carnet.create_tenant("other", "Other").await.unwrap();
    let lea = member(&app, "other", "lea@other.test").await;
    let ours = new_contact(&app, acme.id, "Durand").await.id;
    let trashed = new_contact(&app, acme.id, "Petit").await.id;
    let ctx = TenantContext::system(acme.id);
    app.carnet
        .delete_contact(&ctx, trashed, None)
        .await
        .unwrap();
    let theirs = new_contact(&app, other.id, "Martin").await.id;
    // The one connection for writes left with its session holding the other workspace (a
    // change of theirs sets it): the statement sets its own before it looks for the contact.
    let their_ctx = TenantContext::system(other.id);
    let patch = json!({"job_title": "CTO"});
    app.carnet
        .patch_contact(&their_ctx, theirs, &patch, None)
        .await
        .unwrap();
    assert_eq!(idle_write_connections(&app), 1);
    let create = |id: ActivityId, body: serde_json::Value| {
        let db = app.db.db.clone();
        async move {
            let input = ActivityInput::from_json(&body).unwrap();
            let event = AuditEvent {
                id: uuid::Uuid::now_v7(),
                occurred_at: chrono::Utc::now(),
                actor_kind: "system".into(),
                actor_id: None,
                action: "create".into(),
                entity: "activity".into(),
                entity_id: Some(id.0),
                ip: None,
                request_id: None,
                changes: vec!["subject".into()],
            };
            activities::create_alone(&db, acme.id, id, &input, None, event.occurred_at, &event)
                .await
                .unwrap()
        }
    };
    let call = |contact: Option<ContactId>, owner: Option<carnet_core::UserId>| {
        json!({"kind": "call", "subject": "Appel", "starts_at": "2026-12-01T09:00:00Z",
               "contact_id": contact.map(|c| c.to_string()),
               "owner_id": owner.map(|o| o.to_string())})
    };
    let ActivityAlone::Stored(first) = create(ActivityId::new(), call(Some(ours), None)).await
    else {
        panic!("an activity about a live contact of the workspace is stored")
    };
    assert_eq!((first.contact_id, first.version), (Some(ours), 1));
    for (refused, why) in [
        (call(Some(trashed), None), "a contact in the trash"),
        (call(Some(theirs), None), "another workspace's contact"),
        (call(None, Some(lea)), "an owner who is not a member"),
    ] {
        let id = ActivityId::new();
        assert!(
            matches!(create(id, refused).await, ActivityAlone::Refused),
            "{why}"
        );
        assert!(
            activities::by_id(&app.db.db, acme.id, id)
                .await
                .unwrap()
                .is_none(),
            "{why}"
        );
    }
    assert_eq!(key_rows(&app, acme.id, "activities").await, 1);

    // Its connection dropped by the server: sent again on a fresh one, stored once.
    let DbLocation::Url(owner) = &app.db.owner else {
        unreachable!()
    };
    let mut c = sqlx::PgConnection::connect(owner).await.unwrap();
    assert!(terminate_other_connections(&mut c).await >= 1);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let second = ActivityId::new();
    assert!(matches!(
        create(second, call(None, None)).await,
        ActivityAlone::Stored(_)
    ));
    // The same activity sent again after its answer was lost: its id is taken by the
    // first sending, so that one is the answer, and nothing more is stored.
    assert!(terminate_other_connections(&mut c).await >= 1);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let ActivityAlone::Stored(again) = create(second, call(None, None)).await else {
        panic!("the activity stored before its connection was lost is the answer")
    };
    assert_eq!(again.id, second);
    assert_eq!(key_rows(&app, acme.id, "activities").await, 2);
    let mut tx = app.db.db.tenant_read(acme.id).await.unwrap();
    let events = carnet_store::audit::recent(&mut tx, 100).await.unwrap();
    let created: Vec<_> = events.iter().filter(|e| e.entity == "activity").collect();
    assert_eq!(created.len(), 2, "one event for each activity stored");
    drop(tx);
    app.finish().await;
}

/// Patches of one contact that arrive together each apply once, in some order: on SQLite
/// those sent alone, read before the writer, find the contact changed by another and go
/// again in a transaction. The contact ends with every patch counted in its version and its
/// audit log, and the key rows of its last e-mail alone.
async fn patches_that_meet_each_apply_once(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (acme, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let created = app
        .api(
            &key,
            "POST",
            "/api/v1/contacts",
            Some(json!({"last_name": "Durand", "emails": [{"value": "durand@acme.test"}]})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id: ContactId = created.json["id"].as_str().unwrap().parse().unwrap();
    let patches = 16;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(patches));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..patches {
        let (carnet, start) = (app.carnet.clone(), std::sync::Arc::clone(&start));
        tasks.spawn(async move {
            let patch = json!({"job_title": format!("T{n}"),
                               "emails": [{"value": format!("p{n}@acme.test")}]});
            start.wait().await;
            let ctx = TenantContext::system(acme.id);
            carnet.patch_contact(&ctx, id, &patch, None).await
        });
    }
    while let Some(done) = tasks.join_next().await {
        let patched = done.unwrap();
        assert!(patched.is_ok(), "{patched:?}");
    }
    let ctx = TenantContext::system(acme.id);
    let last = app.carnet.get_contact(&ctx, id, false).await.unwrap();
    assert_eq!(last.version, 1 + patches as i64);
    assert_eq!(update_events(&app, acme.id).await, patches);
    let n: usize = last.job_title.as_deref().unwrap()[1..].parse().unwrap();
    assert_eq!(last.emails[0].value, format!("p{n}@acme.test"));
    assert_eq!(key_rows(&app, acme.id, "contact_emails").await, 1);
    for m in 0..patches {
        let found = listed(&app, &key, &format!("filter[email]=p{m}@acme.test")).await;
        assert_eq!(found.len(), usize::from(m == n), "p{m}");
    }
    app.finish().await;
}

/// A new contact of `tenant` with this last name, created through the service.
async fn new_contact(
    app: &TestApp,
    tenant: carnet_core::TenantId,
    name: &str,
) -> carnet_core::contact::Contact {
    let ctx = TenantContext::system(tenant);
    let body = json!({ "last_name": name });
    match app.carnet.create_contact(&ctx, &body, None).await.unwrap() {
        carnet_service::contacts::Created::New(contact) => contact,
        other => panic!("a new contact: {other:?}"),
    }
}

/// A new member of the workspace `slug`, with this e-mail address: their id.
async fn member(app: &TestApp, slug: &str, email: &str) -> carnet_core::UserId {
    app.user(slug, email, "correct-horse-1", carnet_core::Role::Member)
        .await;
    let mut tx = app.db.db.begin_read().await.unwrap();
    carnet_store::users::by_email(&mut tx, email)
        .await
        .unwrap()
        .unwrap()
        .id
}
