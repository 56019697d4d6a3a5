//! The migration trees: both backends get the same tables and columns, down files undo their
//! up files, and every foreign key is indexed.

use carnet_store::schema::{self, Index};
use carnet_store::{Db, DbLocation};
use carnet_testkit::{Backend, TestDb, on_both_backends};

on_both_backends!(
    up_down_up_gives_the_same_schema,
    every_foreign_key_is_indexed
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_trees_give_the_same_tables_and_columns() {
    let sqlite = TestDb::new(Backend::Sqlite).await;
    let postgres = TestDb::new(Backend::Postgres).await;
    // The search index differs by nature: an FTS5 virtual table on SQLite (not listed) with
    // each tenant's block of rowids in it (migration 0011), a table with a trigram index on
    // PostgreSQL (migration 0004 says why).
    let a = columns_except(&sqlite.db, "contact_rowid_blocks").await;
    let b = columns_except(&postgres.db, "contact_search").await;
    assert!(a.len() > 40, "{a:?}");
    assert_eq!(a, b);
    sqlite.drop_db().await;
    postgres.drop_db().await;
}

/// The database's tables and columns, less those of `table`.
async fn columns_except(db: &Db, table: &str) -> Vec<schema::Column> {
    let mut columns = schema::columns(db).await.unwrap();
    columns.retain(|(t, _)| t != table);
    columns
}

async fn snapshot(
    location: &DbLocation,
) -> (
    Vec<(String, String)>,
    Vec<Index>,
    Vec<(String, Vec<String>)>,
) {
    let db = Db::connect(location).await.unwrap();
    let snap = (
        schema::columns(&db).await.unwrap(),
        schema::indexes(&db).await.unwrap(),
        schema::foreign_keys(&db).await.unwrap(),
    );
    db.close().await;
    snap
}

async fn up_down_up_gives_the_same_schema(backend: Backend) {
    let t = TestDb::new(backend).await;
    t.db.close().await;
    let first = snapshot(&t.owner).await;
    carnet_store::undo_all(&t.owner).await.unwrap();
    let empty = snapshot(&t.owner).await;
    assert!(
        empty.0.is_empty(),
        "down files drop every table: {:?}",
        empty.0
    );
    assert_eq!(
        carnet_store::schema_status(&t.owner).await.unwrap(),
        carnet_store::SchemaStatus::Empty
    );
    let report = carnet_store::migrate(&t.owner, false).await.unwrap();
    assert!(!report.applied.is_empty());
    let again = snapshot(&t.owner).await;
    assert_eq!(first, again);
    t.drop_db().await;
}

async fn every_foreign_key_is_indexed(backend: Backend) {
    let t = TestDb::new(backend).await;
    let fks = schema::foreign_keys(&t.db).await.unwrap();
    let indexes = schema::indexes(&t.db).await.unwrap();
    assert!(fks.len() >= 8, "{fks:?}");
    for (table, cols) in &fks {
        let covered = indexes.iter().any(|(t, _, idx_cols)| {
            t == table && idx_cols.len() >= cols.len() && {
                let mut lead: Vec<&String> = idx_cols[..cols.len()].iter().collect();
                let mut want: Vec<&String> = cols.iter().collect();
                lead.sort();
                want.sort();
                lead == want
            }
        });
        assert!(
            covered,
            "foreign key {table}({}) has no index",
            cols.join(", ")
        );
    }
    t.drop_db().await;
}
