//! Transactions: [`Tx`] for the control plane, [`TenantTx`] for one tenant's data.

use crate::Result;
use crate::db::Db;
use carnet_core::TenantId;
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres, Sqlite, SqliteConnection, Transaction};
use std::ops::{Deref, DerefMut};

/// A transaction on either backend.
pub enum Tx {
    Sqlite(SqliteTx),
    Postgres(Transaction<'static, Postgres>),
}

/// A SQLite connection in a transaction, or without one for a read of a single statement.
pub enum SqliteTx {
    Transaction(Transaction<'static, Sqlite>),
    /// One statement reads one snapshot by itself: no `BEGIN` and no `ROLLBACK` to send to
    /// the connection's thread (each a hand-over between threads, the largest cost of a
    /// point read on SQLite).
    Single(PoolConnection<Sqlite>),
}

impl Deref for SqliteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match self {
            SqliteTx::Transaction(t) => t,
            SqliteTx::Single(c) => c,
        }
    }
}

impl DerefMut for SqliteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            SqliteTx::Transaction(t) => t,
            SqliteTx::Single(c) => c,
        }
    }
}

/// Runs `$body` with `$c` bound to the transaction's connection; expanded once per backend,
/// so the same SQL text and binds serve both.
macro_rules! on_conn {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::tx::Tx::Sqlite(t) => {
                let $c: &mut sqlx::SqliteConnection = &mut *t;
                $body
            }
            $crate::tx::Tx::Postgres(t) => {
                let $c: &mut sqlx::PgConnection = &mut *t;
                $body
            }
        }
    };
}
pub(crate) use on_conn;

impl Tx {
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(SqliteTx::Transaction(t)) => t.commit().await?,
            Tx::Sqlite(SqliteTx::Single(_)) => {}
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// A transaction bound to one tenant: the only way to reach tenant data.
pub struct TenantTx {
    tenant: TenantId,
    pub(crate) tx: Tx,
}

impl TenantTx {
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await
    }

    /// The same transaction, for control-plane lookups (memberships, users) made while
    /// working on this tenant's data.
    pub fn control(&mut self) -> &mut Tx {
        &mut self.tx
    }
}

impl Db {
    /// A control-plane transaction that may write.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite { writer, .. } => sqlite_tx(writer.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(begin_pg(pool, "BEGIN".to_owned()).await?),
        })
    }

    /// A control-plane transaction that only reads (SQLite: served by the reader pool).
    pub async fn begin_read(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite { readers, .. } => sqlite_tx(readers.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(begin_pg(pool, "BEGIN".to_owned()).await?),
        })
    }

    /// A transaction on `tenant`'s data that may write.
    pub async fn tenant_write(&self, tenant: TenantId) -> Result<TenantTx> {
        let tx = match self {
            Db::Sqlite { writer, .. } => sqlite_tx(writer.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(begin_pg(pool, begin_for(tenant)).await?),
        };
        Ok(TenantTx { tenant, tx })
    }

    /// A transaction on `tenant`'s data that only reads (SQLite: served by the reader pool).
    pub async fn tenant_read(&self, tenant: TenantId) -> Result<TenantTx> {
        let tx = match self {
            Db::Sqlite { readers, .. } => sqlite_tx(readers.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(begin_pg(pool, begin_for(tenant)).await?),
        };
        Ok(TenantTx { tenant, tx })
    }

    /// For a read of `tenant`'s data in **one statement** (a record by its id): on SQLite a
    /// reader connection outside any transaction, since one statement sees one snapshot by
    /// itself; on PostgreSQL a transaction as [`Db::tenant_read`] (the tenant setting lives
    /// in one). Reads of several statements that must agree take [`Db::tenant_read`].
    pub async fn tenant_read_single(&self, tenant: TenantId) -> Result<TenantTx> {
        let tx = match self {
            Db::Sqlite { readers, .. } => Tx::Sqlite(SqliteTx::Single(readers.acquire().await?)),
            Db::Postgres(pool) => Tx::Postgres(begin_pg(pool, begin_for(tenant)).await?),
        };
        Ok(TenantTx { tenant, tx })
    }
}

fn sqlite_tx(t: Transaction<'static, Sqlite>) -> Tx {
    Tx::Sqlite(SqliteTx::Transaction(t))
}

/// Begins a PostgreSQL transaction with `statement`. Pooled connections are not checked
/// before use (that costs a round trip per transaction): one the server dropped meanwhile
/// (restart, failover) fails here, before any work was done, is closed by the pool, and the
/// next one is tried; after a restart every idle connection may be dead, hence one attempt
/// more than the pool holds.
async fn begin_pg(pool: &PgPool, statement: String) -> Result<Transaction<'static, Postgres>> {
    let mut attempts = pool.options().get_max_connections() + 1;
    loop {
        attempts -= 1;
        match pool.begin_with(statement.clone()).await {
            Err(e) if attempts > 0 && connection_lost(&e) => continue,
            other => return Ok(other?),
        }
    }
}

/// An error that says the connection, not the statement, failed.
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        // Class 57: operator intervention (shutdown, crash, connection terminated).
        sqlx::Error::Database(d) => d.code().is_some_and(|c| c.starts_with("57P")),
        _ => false,
    }
}

/// PostgreSQL: `BEGIN` and the setting of `app.tenant_id` for this transaction only, in one
/// round trip (a simple query of two statements; the id is a UUID's canonical text, with
/// nothing to escape). Row-level security then hides every other tenant's rows, even from a
/// query that forgot its filter.
fn begin_for(tenant: TenantId) -> String {
    format!("BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true)")
}
