//! Transactions: [`Tx`] for the control plane, [`TenantTx`] for one tenant's data.

use crate::Result;
use crate::batching::Joined;
use crate::db::Db;
use crate::group_commit::{GroupTx, GroupWriter};
use crate::single_reads::{Reader, Readers};
use carnet_core::TenantId;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, Transaction};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// A transaction on either backend.
pub enum Tx {
    Sqlite(SqliteTx),
    Postgres(PgTx),
}

/// A SQLite connection in a transaction, or without one for a read of a single statement.
pub enum SqliteTx {
    /// A read on one of the readers.
    Transaction(Transaction<'static, Sqlite>),
    /// A write on the writer, whose commit it may share (`group_commit`).
    Write(GroupTx),
    /// One statement reads one snapshot by itself: no `BEGIN` and no `ROLLBACK` to send to
    /// the connection's thread (each a hand-over between threads, the largest cost of a
    /// point read on SQLite), and no test of the connection when it is given back
    /// (`single_reads`).
    Single(Reader<SqliteConnection>),
}

impl Deref for SqliteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match self {
            SqliteTx::Transaction(t) => t,
            SqliteTx::Write(w) => w,
            SqliteTx::Single(c) => c,
        }
    }
}

impl DerefMut for SqliteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            SqliteTx::Transaction(t) => t,
            SqliteTx::Write(w) => w,
            SqliteTx::Single(c) => c,
        }
    }
}

/// A PostgreSQL connection in a transaction, or without one for a read of a single statement.
pub enum PgTx {
    Transaction(Transaction<'static, Postgres>),
    /// A read of one statement in autocommit, under the tenant the connection's session
    /// already holds (see [`Db::tenant_read_single`]): one round trip on the request's path
    /// instead of two, and no `ROLLBACK` after it.
    Single(PgSingle),
}

/// The connection of a [`PgTx::Single`] and what its read has done to it so far.
pub struct PgSingle {
    conn: Reader<PgConnection>,
    readers: Arc<Readers<PgConnection>>,
    /// This read set the session's tenant: an empty answer is now the true one.
    tenant_set: bool,
    /// New connections still to open when the server dropped the one in hand.
    retries: u32,
}

impl Deref for PgTx {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        match self {
            PgTx::Transaction(t) => t,
            PgTx::Single(s) => &s.conn,
        }
    }
}

impl DerefMut for PgTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            PgTx::Transaction(t) => t,
            PgTx::Single(s) => &mut s.conn,
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
            Tx::Sqlite(SqliteTx::Write(w)) => w.commit().await?,
            Tx::Sqlite(SqliteTx::Single(_)) => {}
            Tx::Postgres(PgTx::Transaction(t)) => t.commit().await?,
            Tx::Postgres(PgTx::Single(_)) => {}
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

    /// Settles the `outcome` of a read of one statement: `Some` when it is the answer, `None`
    /// when the read must run again. Only a PostgreSQL [`PgTx::Single`] runs one again:
    /// - after an answer `empty` says is empty, once, with the session's tenant set to this
    ///   one, if the session held another tenant, whose row-level security hid this tenant's
    ///   rows. (A non-empty answer is right whatever the session held: the read's own
    ///   `tenant_id` filter and the policy both passed, so the two tenants are one.)
    /// - after the server dropped the connection (a restart, a failover), on a fresh one.
    ///
    /// A single read's connection (either backend) is settled by the outcome
    /// ([`Reader::settle`]): free for the next read once its statement answered or was
    /// refused.
    pub(crate) async fn settle<T>(
        &mut self,
        outcome: std::result::Result<T, sqlx::Error>,
        empty: impl Fn(&T) -> bool,
    ) -> Result<Option<T>> {
        match &mut self.tx {
            Tx::Sqlite(SqliteTx::Single(reader)) => {
                reader.settle(&outcome);
                Ok(Some(outcome?))
            }
            Tx::Postgres(PgTx::Single(single)) => single.settle(self.tenant, outcome, empty).await,
            _ => Ok(Some(outcome?)),
        }
    }
}

impl PgSingle {
    /// A connection of `readers`, lent for one read (or one write of one statement:
    /// `contacts::alone_pg`).
    pub(crate) async fn lend(readers: &Arc<Readers<PgConnection>>) -> Result<PgSingle> {
        Ok(PgSingle {
            conn: readers.acquire().await?,
            readers: Arc::clone(readers),
            tenant_set: false,
            retries: 1,
        })
    }

    /// The connection in hand.
    pub(crate) fn conn(&mut self) -> &mut Reader<PgConnection> {
        &mut self.conn
    }

    /// Whether the statement went again on a fresh connection after the server dropped the
    /// one it went on first (which may have carried it out before it was lost).
    pub(crate) fn sent_again(&self) -> bool {
        self.retries == 0
    }

    /// [`TenantTx::settle`] for a read of `tenant`'s data on this connection.
    pub(crate) async fn settle<T>(
        &mut self,
        tenant: TenantId,
        outcome: std::result::Result<T, sqlx::Error>,
        empty: impl Fn(&T) -> bool,
    ) -> Result<Option<T>> {
        self.conn.settle(&outcome);
        match outcome {
            Err(e) if self.retries > 0 && connection_lost(&e) => {
                self.retries -= 1;
                self.readers.reconnect(&mut self.conn).await?;
                self.tenant_set = false;
                Ok(None)
            }
            Ok(answer) if empty(&answer) && !self.tenant_set => {
                let held: std::result::Result<(bool, String), _> = sqlx::query_as(SESSION_TENANT)
                    .bind(tenant.0.to_string())
                    .fetch_one(&mut *self.conn)
                    .await;
                self.conn.settle(&held);
                let (held_ours, _) = held?;
                self.tenant_set = true;
                Ok(held_ours.then_some(answer))
            }
            other => Ok(Some(other?)),
        }
    }
}

/// PostgreSQL: the rows `sql` reads for `tenant` (`$1` the tenant, `$2` an array of
/// distinct `ids`, each row with its `id`), in a single read on a connection of `readers`,
/// settled as [`TenantTx::settle`] says: when none is found, they are looked for again under
/// this tenant (one row found says the session held it, and the others do not exist).
pub(crate) async fn rows_by_ids(
    readers: &Arc<Readers<PgConnection>>,
    tenant: TenantId,
    ids: &[uuid::Uuid],
    sql: &str,
) -> Result<Vec<PgRow>> {
    let mut single = PgSingle::lend(readers).await?;
    loop {
        let outcome = sqlx::query(sql)
            .bind(tenant.0)
            .bind(ids)
            .fetch_all(&mut *single.conn)
            .await;
        if let Some(rows) = single.settle(tenant, outcome, Vec::is_empty).await? {
            return Ok(rows);
        }
    }
}

/// The row of `tenant`'s record `id` that `sql` reads (`$1` the tenant, `$2` the id), if any;
/// in a single read, settled as [`TenantTx::settle`] says.
pub(crate) async fn row_by_id<R>(tx: &mut TenantTx, id: uuid::Uuid, sql: &str) -> Result<Option<R>>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin,
{
    let tenant = tx.tenant().0;
    loop {
        let outcome: std::result::Result<Option<R>, sqlx::Error> = on_conn!(&mut tx.tx, |c| {
            sqlx::query_as(sql)
                .bind(tenant)
                .bind(id)
                .fetch_optional(c)
                .await
        });
        if let Some(row) = tx.settle(outcome, Option::is_none).await? {
            return Ok(row);
        }
    }
}

/// `tenant`'s record `id` as `single_sql` reads it alone (`$1` the tenant, `$2` the id), or,
/// on PostgreSQL when a read of its kind is already on its way, as `batch_sql` reads it
/// together with the others that wait for that one (`batched_reads`; `$2` an array of ids).
/// Either way outside any transaction.
pub(crate) async fn record_by_id<R>(
    db: &Db,
    tenant: TenantId,
    id: uuid::Uuid,
    single_sql: &str,
    batch_sql: &'static str,
) -> Result<Option<R>>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, PgRow>
        + Send
        + Unpin,
{
    let mut place = None;
    if let Db::Postgres { batches, .. } = db {
        match batches.join((tenant, batch_sql), || id).await {
            Joined::Answered(row) => return Ok(row.map(|r| R::from_row(&r)).transpose()?),
            Joined::Alone(in_flight) => place = Some(in_flight),
            Joined::Unanswered => {}
        }
    }
    let mut tx = db.tenant_read_single(tenant).await?;
    let row = row_by_id(&mut tx, id, single_sql).await;
    // The place held until now: the reads that arrived meanwhile waited, and go together.
    drop(place);
    row
}

impl Db {
    /// A control-plane transaction that may write.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite { writer, .. } => sqlite_write(writer).await?,
            Db::Postgres { pool, .. } => begin_pg(pool, "BEGIN".to_owned()).await?,
        })
    }

    /// A control-plane transaction that only reads (SQLite: served by the reader pool).
    pub async fn begin_read(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite { readers, .. } => sqlite_tx(readers.begin().await?),
            Db::Postgres { pool, .. } => begin_pg(pool, "BEGIN".to_owned()).await?,
        })
    }

    /// A transaction on `tenant`'s data that may write.
    pub async fn tenant_write(&self, tenant: TenantId) -> Result<TenantTx> {
        let tx = match self {
            Db::Sqlite { writer, .. } => return sqlite_tenant_write(writer, tenant).await,
            Db::Postgres { pool, .. } => begin_pg(pool, begin_for(tenant)).await?,
        };
        Ok(TenantTx { tenant, tx })
    }

    /// A transaction on `tenant`'s data that only reads (SQLite: served by the reader pool).
    pub async fn tenant_read(&self, tenant: TenantId) -> Result<TenantTx> {
        let tx = match self {
            Db::Sqlite { readers, .. } => sqlite_tx(readers.begin().await?),
            Db::Postgres { pool, .. } => begin_pg(pool, begin_for(tenant)).await?,
        };
        Ok(TenantTx { tenant, tx })
    }

    /// For a read of `tenant`'s data in **one statement** (a record by its id, a page of
    /// activities) outside any transaction, since one statement sees one snapshot by itself.
    /// Reads of several statements that must agree take [`Db::tenant_read`].
    ///
    /// On PostgreSQL the read runs under the tenant the connection's *session* holds, and
    /// its result goes through `TenantTx::settle`, which sets the session's tenant and runs
    /// the read again when it found nothing. So every such read **must filter on
    /// `tenant_id` itself**: row-level security then only ever hides rows, and a session left
    /// on another tenant makes a read find nothing, never another tenant's rows. These
    /// connections serve single reads only (`single_reads`): no transaction meets a session's
    /// tenant.
    pub async fn tenant_read_single(&self, tenant: TenantId) -> Result<TenantTx> {
        let tx = match self {
            Db::Sqlite { single_reads, .. } => {
                Tx::Sqlite(SqliteTx::Single(single_reads.acquire().await?))
            }
            Db::Postgres { single_reads, .. } => {
                Tx::Postgres(PgTx::Single(PgSingle::lend(single_reads).await?))
            }
        };
        Ok(TenantTx { tenant, tx })
    }
}

/// A write transaction on SQLite's writer.
async fn sqlite_write(writer: &GroupWriter) -> Result<Tx> {
    Ok(Tx::Sqlite(SqliteTx::Write(writer.begin().await?)))
}

/// SQLite: a write transaction on `tenant`'s data, on `writer` ([`Db::tenant_write`]).
pub(crate) async fn sqlite_tenant_write(
    writer: &GroupWriter,
    tenant: TenantId,
) -> Result<TenantTx> {
    Ok(TenantTx {
        tenant,
        tx: sqlite_write(writer).await?,
    })
}

fn sqlite_tx(t: Transaction<'static, Sqlite>) -> Tx {
    Tx::Sqlite(SqliteTx::Transaction(t))
}

/// Begins a PostgreSQL transaction with `statement`. Pooled connections are not checked
/// before use (that costs a round trip per transaction): one the server dropped meanwhile
/// (restart, failover) fails here, before any work was done, is closed by the pool, and the
/// next one is tried; after a restart every idle connection may be dead, hence one attempt
/// more than the pool holds.
async fn begin_pg(pool: &PgPool, statement: String) -> Result<Tx> {
    let mut attempts = pool.options().get_max_connections() + 1;
    loop {
        attempts -= 1;
        match pool.begin_with(statement.clone()).await {
            Err(e) if attempts > 0 && connection_lost(&e) => continue,
            other => return Ok(Tx::Postgres(PgTx::Transaction(other?))),
        }
    }
}

/// An error that says the connection, not the statement, failed.
pub(crate) fn connection_lost(e: &sqlx::Error) -> bool {
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

/// PostgreSQL: the first part of a `WITH` for a write of **one statement** outside any
/// transaction (autocommit): it sets `app.tenant_id` to `$1` for the statement's own
/// transaction. Every part that writes must read from it, or from a part that does, so that
/// the tenant is set before any row is written; row-level security then checks each row
/// against it, and the setting ends with the statement. One round trip instead of three
/// (`BEGIN` with the tenant, the statement, `COMMIT`).
pub(crate) const PG_STATEMENT_TENANT: &str =
    "tenant AS MATERIALIZED (SELECT set_config('app.tenant_id', $1::uuid::text, true))";

/// PostgreSQL: whether the connection's session held the tenant `$1` (the materialized part
/// reads it before anything else runs), and the session's tenant set to `$1`.
const SESSION_TENANT: &str =
    "WITH held AS MATERIALIZED (SELECT current_setting('app.tenant_id', true) AS tenant)
     SELECT held.tenant IS NOT DISTINCT FROM $1, set_config('app.tenant_id', $1, false) FROM held";
