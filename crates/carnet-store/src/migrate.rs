//! Schema migrations: embedded SQL trees for both backends, applied as the owner role.

use crate::db::{Backend, DbLocation, SQLITE_FILE, ensure_data_dir, sqlite_options};
use crate::{Result, StoreError};
use sqlx::migrate::Migrator;
use sqlx::{Connection, PgConnection, Row, SqliteConnection};
use std::path::{Path, PathBuf};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// Where a database's schema stands against this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaStatus {
    /// No migration was ever applied.
    Empty,
    /// Up to date.
    Current,
    /// Older: these versions are still to apply.
    Pending(Vec<i64>),
    /// A migration started and did not finish.
    HalfApplied(i64),
    /// Written by a newer Carnet: this build does not know these versions.
    Newer(Vec<i64>),
}

impl SchemaStatus {
    /// Why the server must not start on this schema, with what to do; `None` when it may.
    pub fn refusal(&self) -> Option<String> {
        match self {
            SchemaStatus::Empty | SchemaStatus::Current => None,
            SchemaStatus::Pending(v) => Some(format!(
                "the database schema is older than this Carnet (pending migrations {v:?}); \
                 run `carnet migrate` first (it takes a backup)"
            )),
            SchemaStatus::HalfApplied(v) => Some(format!(
                "migration {v} was left half-applied; restore the backup taken before it \
                 (see `carnet migrate`) or repair the database, then run `carnet migrate` again"
            )),
            SchemaStatus::Newer(v) => Some(format!(
                "the database schema is newer than this Carnet (unknown migrations {v:?}); \
                 run the newer Carnet, or roll the schema back with that version"
            )),
        }
    }
}

enum OwnerConn {
    Sqlite(SqliteConnection, PathBuf),
    Postgres(PgConnection),
}

async fn owner_connection(location: &DbLocation) -> Result<OwnerConn> {
    match location {
        DbLocation::DataDir(dir) => {
            ensure_data_dir(dir)?;
            let path = dir.join(SQLITE_FILE);
            let conn =
                SqliteConnection::connect_with(&sqlite_options(&path).create_if_missing(true))
                    .await?;
            Ok(OwnerConn::Sqlite(conn, path))
        }
        DbLocation::Url(url) => match location.backend()? {
            Backend::Sqlite => {
                let path = PathBuf::from(url.trim_start_matches("sqlite://"));
                if !path.exists() {
                    return Err(StoreError::Config(format!(
                        "SQLite database {} does not exist",
                        path.display()
                    )));
                }
                let conn = SqliteConnection::connect_with(&sqlite_options(&path)).await?;
                Ok(OwnerConn::Sqlite(conn, path))
            }
            Backend::Postgres => Ok(OwnerConn::Postgres(PgConnection::connect(url).await?)),
        },
    }
}

/// The schema's state, read as the owner.
pub async fn schema_status(location: &DbLocation) -> Result<SchemaStatus> {
    match owner_connection(location).await? {
        OwnerConn::Sqlite(mut c, _) => status_of(&SQLITE, applied_sqlite(&mut c).await?),
        OwnerConn::Postgres(mut c) => status_of(&POSTGRES, applied_postgres(&mut c).await?),
    }
}

/// What `carnet migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    pub before: SchemaStatus,
    pub applied: Vec<i64>,
    /// The copy taken before migrating a database that already held data.
    pub backup: Option<PathBuf>,
}

/// Applies every pending migration. With `dry_run`, only reports what it would apply.
/// A SQLite database that already holds data is first copied beside itself (`VACUUM INTO`).
pub async fn migrate(location: &DbLocation, dry_run: bool) -> Result<MigrateReport> {
    let conn = owner_connection(location).await?;
    let (before, migrator) = match &conn {
        OwnerConn::Sqlite(..) => (schema_status(location).await?, &SQLITE),
        OwnerConn::Postgres(_) => (schema_status(location).await?, &POSTGRES),
    };
    let applied = match &before {
        SchemaStatus::Current => Vec::new(),
        SchemaStatus::Empty => migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| m.version)
            .collect(),
        SchemaStatus::Pending(v) => v.clone(),
        other => return Err(StoreError::Schema(other.refusal().unwrap_or_default())),
    };
    if dry_run || applied.is_empty() {
        return Ok(MigrateReport {
            before,
            applied,
            backup: None,
        });
    }
    let backup = match conn {
        OwnerConn::Sqlite(mut c, path) => {
            let backup = if matches!(before, SchemaStatus::Pending(_)) {
                Some(backup_sqlite(&mut c, &path).await?)
            } else {
                None
            };
            SQLITE.run(&mut c).await?;
            backup
        }
        OwnerConn::Postgres(mut c) => {
            POSTGRES.run(&mut c).await?;
            None
        }
    };
    Ok(MigrateReport {
        before,
        applied,
        backup,
    })
}

/// Rolls every migration back (tests prove that down files undo their up files).
pub async fn undo_all(location: &DbLocation) -> Result<()> {
    undo_to(location, 0).await
}

/// Rolls back every migration after `version` (tests of a migration over older data).
pub async fn undo_to(location: &DbLocation, version: i64) -> Result<()> {
    match owner_connection(location).await? {
        OwnerConn::Sqlite(mut c, _) => SQLITE.undo(&mut c, version).await?,
        OwnerConn::Postgres(mut c) => POSTGRES.undo(&mut c, version).await?,
    }
    Ok(())
}

async fn backup_sqlite(conn: &mut SqliteConnection, path: &Path) -> Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let target = path.with_file_name(format!("carnet-before-migrate-{stamp}.sqlite"));
    sqlx::query("VACUUM INTO $1")
        .bind(target.to_string_lossy().into_owned())
        .execute(&mut *conn)
        .await?;
    Ok(target)
}

type Applied = Option<Vec<(i64, bool)>>;

async fn applied_sqlite(c: &mut SqliteConnection) -> Result<Applied> {
    let exists: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut *c)
    .await?;
    if exists == 0 {
        return Ok(None);
    }
    let rows = sqlx::query("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut *c)
        .await?;
    Ok(Some(
        rows.iter()
            .map(|r| (r.get::<i64, _>(0), r.get::<bool, _>(1)))
            .collect(),
    ))
}

async fn applied_postgres(c: &mut PgConnection) -> Result<Applied> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut *c)
        .await?;
    if !exists {
        return Ok(None);
    }
    let rows = sqlx::query("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut *c)
        .await?;
    Ok(Some(
        rows.iter()
            .map(|r| (r.get::<i64, _>(0), r.get::<bool, _>(1)))
            .collect(),
    ))
}

fn status_of(migrator: &Migrator, applied: Applied) -> Result<SchemaStatus> {
    let known: Vec<i64> = migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .collect();
    let Some(applied) = applied.filter(|a| !a.is_empty()) else {
        return Ok(SchemaStatus::Empty);
    };
    if let Some((v, _)) = applied.iter().find(|(_, ok)| !ok) {
        return Ok(SchemaStatus::HalfApplied(*v));
    }
    let newer: Vec<i64> = applied
        .iter()
        .map(|(v, _)| *v)
        .filter(|v| !known.contains(v))
        .collect();
    if !newer.is_empty() {
        return Ok(SchemaStatus::Newer(newer));
    }
    let pending: Vec<i64> = known
        .into_iter()
        .filter(|v| !applied.iter().any(|(a, _)| a == v))
        .collect();
    Ok(if pending.is_empty() {
        SchemaStatus::Current
    } else {
        SchemaStatus::Pending(pending)
    })
}

impl crate::Db {
    /// The schema's state as seen by the running application (for `/readyz`).
    pub async fn schema_status(&self) -> Result<SchemaStatus> {
        match self {
            crate::Db::Sqlite { readers, .. } => {
                let mut c = readers.acquire().await?;
                status_of(&SQLITE, applied_sqlite(&mut c).await?)
            }
            crate::Db::Postgres { pool, .. } => {
                let mut c = pool.acquire().await?;
                status_of(&POSTGRES, applied_postgres(&mut c).await?)
            }
        }
    }
}

/// A digest of every migration of `backend`: changes whenever a migration file does
/// (test harnesses key their template databases on it).
pub fn fingerprint(backend: Backend) -> String {
    let migrator = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    let mut bytes = Vec::new();
    for m in migrator.iter() {
        bytes.extend_from_slice(&m.version.to_le_bytes());
        bytes.extend_from_slice(&m.checksum);
    }
    use sha2::Digest;
    sha2::Sha256::digest(&bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}
