//! The database handle: chosen once from the configuration, SQLite or PostgreSQL.

use crate::batched_reads::{self, Batches};
use crate::batching::Counts;
use crate::contacts::{CreateBatches, Creates, create_batches};
use crate::group_commit::GroupWriter;
use crate::single_reads::{Readers, Session};
use crate::{Result, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Executor, PgConnection, PgPool, SqliteConnection, SqlitePool};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// The PostgreSQL role Carnet serves requests as: it owns nothing, so row-level security applies.
pub const APP_ROLE: &str = "carnet_app";

/// PostgreSQL: what every connection Carnet opens sets for its session: [`APP_ROLE`], and a
/// pending list of 256 kB for GIN indexes (the contacts' trigram search index). A GIN index
/// takes new entries into its pending list, and the write that finds the list full moves
/// it all into the index: at PostgreSQL's default of 4 MB that move stalled a create for
/// 30 ms and more, and every search scanned the whole list meanwhile. With 256 kB the p99
/// of creates at 16 connections went from 30–40 to 10–17 ms and searches right after writes
/// scan a short list, for 5–13 % of the creates' rate at 16 connections
/// (`bench/results/http.md`, twenty-second session). Bulk writes take the server's default
/// back for their own transactions ([`BULK_GIN_PENDING_LIST`]).
pub(crate) static PG_SESSION: LazyLock<String> =
    LazyLock::new(|| format!("SET ROLE {APP_ROLE}; SET gin_pending_list_limit = '256kB'"));

/// PostgreSQL: bulk writes (imports, seeding, restores) move their entries into GIN
/// indexes in the large batches of the server's own pending list size, for their
/// transaction only: with Carnet's 256 kB an import of 300,000 contacts ran 25 % slower.
pub(crate) const BULK_GIN_PENDING_LIST: &str = "SET LOCAL gin_pending_list_limit TO DEFAULT";

/// The SQLite file inside a data directory.
pub const SQLITE_FILE: &str = "carnet.sqlite";

/// Where the data lives, as the operator said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbLocation {
    /// SQLite file `carnet.sqlite` in this directory (created if missing).
    DataDir(PathBuf),
    /// `postgres://…` / `postgresql://…`, or `sqlite://PATH` for an existing file.
    Url(String),
}

/// Which backend a [`Db`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One handle over the database, cheap to clone.
#[derive(Debug, Clone)]
pub enum Db {
    /// One writer connection (SQLite allows one writer at a time) whose transactions share
    /// their commits when they queue for it (`crate::group_commit`), a pool of readers,
    /// connections for reads of one statement ([`Db::tenant_read_single`]), and the
    /// contacts' creates that go to the writer together ([`crate::contacts::create`]).
    Sqlite {
        writer: Arc<GroupWriter>,
        readers: SqlitePool,
        single_reads: Arc<Readers<SqliteConnection>>,
        creates: Arc<CreateBatches>,
    },
    /// A pool for transactions, connections for reads of one statement
    /// ([`Db::tenant_read_single`]), the reads by id that go together, with connections of
    /// their own (`crate::batched_reads`), and connections for writes of one statement
    /// outside any transaction (`write_conns`): contacts' creates, alone or together
    /// ([`crate::contacts::create`]), changes to one contact
    /// ([`crate::contacts::update_alone`], [`crate::contacts::set_trashed_alone`]) and
    /// activities' creates ([`crate::activities::create_alone`]).
    Postgres {
        pool: PgPool,
        single_reads: Arc<Readers<PgConnection>>,
        batches: Arc<Batches>,
        creates: Arc<CreateBatches>,
        write_conns: Arc<Readers<PgConnection>>,
    },
}

/// The statements that went to the database together since start, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batched {
    /// Reads by id (`crate::batched_reads`; PostgreSQL only).
    pub reads: Option<Counts>,
    /// Contacts' creates ([`crate::contacts::create`]).
    pub creates: Counts,
}

/// Connection pool figures for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

impl DbLocation {
    pub fn backend(&self) -> Result<Backend> {
        match self {
            DbLocation::DataDir(_) => Ok(Backend::Sqlite),
            DbLocation::Url(url) => {
                if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                    Ok(Backend::Postgres)
                } else if url.starts_with("sqlite://") {
                    Ok(Backend::Sqlite)
                } else {
                    Err(StoreError::Config(format!(
                        "unsupported database URL `{}`: use postgres://… or sqlite://PATH",
                        redact(url)
                    )))
                }
            }
        }
    }
}

/// The URL without its password, fit for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Db {
    /// Opens the database. SQLite files are created only under a data directory, never from a
    /// mistyped URL; PostgreSQL connections switch to [`APP_ROLE`].
    pub async fn connect(location: &DbLocation) -> Result<Db> {
        match location {
            DbLocation::DataDir(dir) => {
                ensure_data_dir(dir)?;
                Self::open_sqlite(&dir.join(SQLITE_FILE), true).await
            }
            DbLocation::Url(url) => match location.backend()? {
                Backend::Sqlite => {
                    let path = url.trim_start_matches("sqlite://");
                    Self::open_sqlite(Path::new(path), false).await
                }
                Backend::Postgres => Self::open_postgres(url).await,
            },
        }
    }

    async fn open_sqlite(path: &Path, create: bool) -> Result<Db> {
        if !create && !path.exists() {
            return Err(StoreError::Config(format!(
                "SQLite database {} does not exist (use --data-dir to create one)",
                path.display()
            )));
        }
        let options = sqlite_options(path).create_if_missing(create);
        let writer = Arc::new(GroupWriter::new(
            options
                .clone()
                .pragma("cache_size", WRITER_CACHE)
                .connect()
                .await?,
        ));
        // No check before each acquire: a connection to a local file does not go stale, and
        // the check costs a round trip to the connection's thread per transaction.
        let read_only = options.read_only(true);
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(read_only.clone().pragma("cache_size", READER_CACHE))
            .await?;
        let single_reads = Arc::new(Readers::new(
            read_only.pragma("cache_size", SINGLE_READ_CACHE),
            Session::Plain,
            SQLITE_SINGLE_READS,
        ));
        Ok(Db::Sqlite {
            creates: Arc::new(create_batches(Creates::Sqlite(writer.clone()))),
            writer,
            readers,
            single_reads,
        })
    }

    async fn open_postgres(url: &str) -> Result<Db> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL: {e}")))?;
        let single_reads = Arc::new(Readers::new(
            options.clone(),
            Session::Plain,
            PG_SINGLE_READS,
        ));
        let batches = Arc::new(batched_reads::batches(options.clone(), PG_BATCHED_READS));
        let write_conns = Arc::new(Readers::new(
            options.clone(),
            Session::Plain,
            PG_WRITE_CONNECTIONS,
        ));
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // Checked on release (by sqlx) and on failure at BEGIN (tx::begin_pg) instead.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(PG_SESSION.as_str()).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Db::Postgres {
            creates: Arc::new(create_batches(Creates::Postgres(Arc::clone(&write_conns)))),
            pool,
            single_reads,
            batches,
            write_conns,
        })
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Whether a change to one record may go alone now, without a transaction of its own
    /// making ([`crate::contacts::update_alone`]): on SQLite, as one command on the writer
    /// (`GroupWriter::alone`) when no write holds it or waits for it (under concurrent
    /// writes changes go in transactions instead, which share their commits); always on
    /// PostgreSQL, as one statement.
    pub fn may_write_alone(&self) -> bool {
        match self {
            Db::Sqlite { writer, .. } => writer.waiting() == 0 && writer.idle(),
            Db::Postgres { .. } => true,
        }
    }

    /// Runs a trivial query: is the database answering?
    pub async fn ping(&self) -> Result<()> {
        match self {
            Db::Sqlite { readers, .. } => readers.execute("SELECT 1").await.map(drop)?,
            Db::Postgres { pool, .. } => pool.execute("SELECT 1").await.map(drop)?,
        }
        Ok(())
    }

    /// Figures of each pool.
    pub fn pool_stats(&self) -> Vec<(&'static str, PoolStats)> {
        fn stats<DB: sqlx::Database>(p: &sqlx::Pool<DB>) -> PoolStats {
            PoolStats {
                size: p.size(),
                idle: u32::try_from(p.num_idle()).unwrap_or(u32::MAX),
                max: p.options().get_max_connections(),
            }
        }
        fn writer_stats(w: &GroupWriter) -> PoolStats {
            PoolStats {
                size: 1,
                idle: u32::from(w.idle()),
                max: 1,
            }
        }
        fn single<C: crate::single_reads::Open>(r: &Readers<C>) -> PoolStats {
            let size = u32::try_from(r.size()).unwrap_or(u32::MAX);
            let lent = u32::try_from(r.lent()).unwrap_or(u32::MAX);
            PoolStats {
                size,
                idle: size.saturating_sub(lent),
                max: r.max(),
            }
        }
        match self {
            Db::Sqlite {
                writer,
                readers,
                single_reads,
                ..
            } => vec![
                ("writer", writer_stats(writer)),
                ("readers", stats(readers)),
                ("single_reads", single(single_reads)),
            ],
            Db::Postgres {
                pool,
                single_reads,
                batches,
                write_conns,
                ..
            } => {
                vec![
                    ("main", stats(pool)),
                    ("single_reads", single(single_reads)),
                    ("batched_reads", single(batches.together().readers())),
                    ("writes", single(write_conns)),
                ]
            }
        }
    }

    /// How many creates, and on PostgreSQL how many reads by id, went to the database
    /// together, in how many statements (SQLite's reads by id go alone).
    pub fn batched(&self) -> Batched {
        match self {
            Db::Sqlite { creates, .. } => Batched {
                reads: None,
                creates: creates.counts(),
            },
            Db::Postgres {
                batches, creates, ..
            } => Batched {
                reads: Some(batches.counts()),
                creates: creates.counts(),
            },
        }
    }

    /// How many write transactions wait for SQLite's writer (none on PostgreSQL, whose
    /// transactions wait for a connection of the pool instead).
    pub fn writers_waiting(&self) -> usize {
        match self {
            Db::Sqlite { writer, .. } => writer.waiting(),
            Db::Postgres { .. } => 0,
        }
    }

    /// Closes every connection (tests and shutdown).
    pub async fn close(&self) {
        match self {
            Db::Sqlite {
                writer,
                readers,
                single_reads,
                ..
            } => {
                single_reads.close().await;
                readers.close().await;
                writer.close().await;
            }
            Db::Postgres {
                pool,
                single_reads,
                batches,
                write_conns,
                ..
            } => {
                write_conns.close().await;
                batches.together().readers().close().await;
                single_reads.close().await;
                pool.close().await;
            }
        }
    }
}

/// Creates the data directory if needed.
pub(crate) fn ensure_data_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        StoreError::Config(format!(
            "cannot create data directory {}: {e}",
            dir.display()
        ))
    })
}

/// Connections for reads of one statement, besides the pools'. On PostgreSQL half the main
/// pool's: as fast under 16 concurrent reads by id as 16 of them on two cores. SQLite's
/// readers share the machine's cores with the server: as many as its reader pool.
const PG_SINGLE_READS: u32 = 8;
const SQLITE_SINGLE_READS: u32 = 4;
/// Connections for reads by id sent together (`batched_reads`): each statement carries
/// the reads of a workspace that waited, so a few serve many.
const PG_BATCHED_READS: u32 = 4;
/// Connections for writes of one statement on PostgreSQL (contacts' creates, alone or
/// together, changes to one contact, activities' creates): as many as four workspaces keep
/// creates on their way at once (two each, `contacts::create`); the other writes share them.
/// With the main pool's 16, single reads' 8 and batched reads' 4: 36 connections a server
/// in all (PostgreSQL allows 100 by default).
const PG_WRITE_CONNECTIONS: u32 = 8;

/// SQLite page caches (negative: KiB). The writer's holds the indexes that bulk writes
/// touch (the 2 MiB default made imports slow down as the database grew); each reader's
/// serves lists and searches. Pages are only allocated as they are used.
const WRITER_CACHE: &str = "-65536";
const READER_CACHE: &str = "-16384";
/// A read of one statement walks a few pages of one index: the upper levels, which a small
/// cache keeps, and a leaf, which the operating system's cache serves.
const SINGLE_READ_CACHE: &str = "-4096";

/// Durable SQLite settings: WAL, foreign keys, `synchronous=FULL`, a busy timeout.
pub(crate) fn sqlite_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_schemes_are_refused_and_passwords_redacted() {
        let loc = DbLocation::Url("mysql://u:secret@h/db".into());
        let err = loc.backend().unwrap_err().to_string();
        assert!(err.contains("unsupported"), "{err}");
        assert!(!err.contains("secret"), "{err}");
        assert_eq!(
            DbLocation::Url("postgresql://x".into()).backend().unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            redact("postgres://me:pw@host/db"),
            "postgres://me:***@host/db"
        );
        assert_eq!(redact("postgres://host/db"), "postgres://host/db");
    }
}
