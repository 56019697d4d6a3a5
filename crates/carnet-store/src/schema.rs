//! Schema introspection, for the tests that keep both migration trees honest.

use crate::tx::on_conn;
use crate::{Db, Result};
use sqlx::Row;

/// One column: (table, column).
pub type Column = (String, String);

/// A foreign key: (table, columns in order).
pub type ForeignKey = (String, Vec<String>);

/// An index: (table, name, columns in order).
pub type Index = (String, String, Vec<String>);

/// Every user table's columns, sorted, migrations bookkeeping excluded (and on SQLite,
/// virtual tables and their shadow tables: the search index).
pub async fn columns(db: &Db) -> Result<Vec<Column>> {
    let mut tx = db.begin_read().await?;
    let sql = match db.backend() {
        crate::Backend::Sqlite => {
            "SELECT m.name, p.name FROM pragma_table_list m, pragma_table_info(m.name) p
             WHERE m.schema = 'main' AND m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
               AND m.name <> '_sqlx_migrations'"
        }
        crate::Backend::Postgres => {
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'"
        }
    };
    let mut cols: Vec<Column> = on_conn!(&mut tx, |c| {
        sqlx::query(sql)
            .fetch_all(c)
            .await?
            .iter()
            .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
            .collect()
    });
    cols.sort();
    Ok(cols)
}

/// Every foreign key of the user tables.
pub async fn foreign_keys(db: &Db) -> Result<Vec<ForeignKey>> {
    let mut tx = db.begin_read().await?;
    let rows: Vec<(String, i64, String)> = match db.backend() {
        crate::Backend::Sqlite => on_conn!(&mut tx, |c| {
            sqlx::query(
                "SELECT m.name, f.id, f.\"from\" FROM sqlite_master m, pragma_foreign_key_list(m.name) f
                 WHERE m.type = 'table' ORDER BY m.name, f.id, f.seq",
            )
            .fetch_all(c)
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
        }),
        crate::Backend::Postgres => on_conn!(&mut tx, |c| {
            sqlx::query(
                "SELECT con.conrelid::regclass::text, con.oid::bigint, a.attname::text
                 FROM pg_constraint con
                 CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                 WHERE con.contype = 'f' AND con.connamespace = 'public'::regnamespace
                 ORDER BY 1, 2, k.ord",
            )
            .fetch_all(c)
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
        }),
    };
    Ok(group(
        rows.into_iter()
            .map(|(t, id, col)| ((t, id.to_string()), col)),
    )
    .into_iter()
    .map(|((t, _), cols)| (t, cols))
    .collect())
}

/// Every index (primary keys and unique constraints included) of the user tables.
pub async fn indexes(db: &Db) -> Result<Vec<Index>> {
    let mut tx = db.begin_read().await?;
    let rows: Vec<(String, String, String)> = match db.backend() {
        crate::Backend::Sqlite => on_conn!(&mut tx, |c| {
            sqlx::query(
                "SELECT m.name, il.name, ii.name FROM sqlite_master m, pragma_index_list(m.name) il,
                        pragma_index_info(il.name) ii
                 WHERE m.type = 'table' ORDER BY m.name, il.name, ii.seqno",
            )
            .fetch_all(c)
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
        }),
        crate::Backend::Postgres => on_conn!(&mut tx, |c| {
            sqlx::query(
                "SELECT t.relname::text, i.relname::text, a.attname::text
                 FROM pg_index x
                 JOIN pg_class t ON t.oid = x.indrelid
                 JOIN pg_class i ON i.oid = x.indexrelid
                 CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                 WHERE t.relnamespace = 'public'::regnamespace
                 ORDER BY 1, 2, k.ord",
            )
            .fetch_all(c)
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
        }),
    };
    Ok(group(rows.into_iter().map(|(t, i, col)| ((t, i), col)))
        .into_iter()
        .map(|((t, i), cols)| (t, i, cols))
        .collect())
}

/// Groups consecutive rows with the same key, keeping their order.
fn group<K: PartialEq>(rows: impl Iterator<Item = (K, String)>) -> Vec<(K, Vec<String>)> {
    let mut out: Vec<(K, Vec<String>)> = Vec::new();
    for (key, value) in rows {
        match out.last_mut() {
            Some((k, values)) if *k == key => values.push(value),
            _ => out.push((key, vec![value])),
        }
    }
    out
}
