//! Transactions: [`Tx`] for the control plane, [`TenantTx`] for one tenant's data.

use crate::Result;
use crate::db::Db;
use carnet_core::TenantId;
use sqlx::{PgPool, Postgres, Sqlite, Transaction};

/// A transaction on either backend.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
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
            Tx::Sqlite(t) => t.commit().await?,
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
            Db::Sqlite { writer, .. } => Tx::Sqlite(writer.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(begin_pg(pool, "BEGIN".to_owned()).await?),
        })
    }

    /// A control-plane transaction that only reads (SQLite: served by the reader pool).
    pub async fn begin_read(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite { readers, .. } => Tx::Sqlite(readers.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(begin_pg(pool, "BEGIN".to_owned()).await?),
        })
    }

    /// A transaction on `tenant`'s data that may write.
    pub async fn tenant_write(&self, tenant: TenantId) -> Result<TenantTx> {
        let tx = match self {
            Db::Sqlite { writer, .. } => Tx::Sqlite(writer.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(begin_pg(pool, begin_for(tenant)).await?),
        };
        Ok(TenantTx { tenant, tx })
    }

    /// A transaction on `tenant`'s data that only reads (SQLite: served by the reader pool).
    pub async fn tenant_read(&self, tenant: TenantId) -> Result<TenantTx> {
        let tx = match self {
            Db::Sqlite { readers, .. } => Tx::Sqlite(readers.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(begin_pg(pool, begin_for(tenant)).await?),
        };
        Ok(TenantTx { tenant, tx })
    }
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
