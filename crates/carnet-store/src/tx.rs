//! Transactions: [`Tx`] for the control plane, [`TenantTx`] for one tenant's data.

use crate::Result;
use crate::db::Db;
use carnet_core::TenantId;
use sqlx::{Postgres, Sqlite, Transaction};

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
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// A control-plane transaction that only reads (SQLite: served by the reader pool).
    pub async fn begin_read(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite { readers, .. } => Tx::Sqlite(readers.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// A transaction on `tenant`'s data that may write.
    pub async fn tenant_write(&self, tenant: TenantId) -> Result<TenantTx> {
        bind_tenant(self.begin().await?, tenant).await
    }

    /// A transaction on `tenant`'s data that only reads.
    pub async fn tenant_read(&self, tenant: TenantId) -> Result<TenantTx> {
        bind_tenant(self.begin_read().await?, tenant).await
    }
}

/// On PostgreSQL, sets `app.tenant_id` for this transaction only: row-level security then
/// hides every other tenant's rows, even from a query that forgot its filter.
async fn bind_tenant(mut tx: Tx, tenant: TenantId) -> Result<TenantTx> {
    if let Tx::Postgres(t) = &mut tx {
        sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
            .bind(tenant.to_string())
            .execute(&mut **t)
            .await?;
    }
    Ok(TenantTx { tenant, tx })
}
