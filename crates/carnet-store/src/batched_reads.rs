//! PostgreSQL: reads of one tenant's records by id that meet on their way to the server go
//! together, as one statement.
//!
//! A read by id is one round trip (`single_reads`): a message to the server, the server's
//! work of one statement (parse, plan, an index probe, its answer), a message back, and a
//! wake-up at each end. Under concurrent reads, on a machine whose cores the server shares
//! with Carnet and its clients, those per-statement costs are most of what a read costs.
//!
//! So reads by id of one tenant's records of one kind go together when they meet
//! ([`crate::batching`]: a read that meets none goes at once, alone, with the statement it
//! always had; those that arrive while [`MOST_IN_FLIGHT`] are on their way wait and go as one
//! statement of many ids, an array, each id probed on the primary key). At 16 concurrent
//! reads of one workspace on two cores that is about five reads a statement, and a third
//! more reads a second (`bench/results/http.md`).
//!
//! The statements go on connections of their own, whose sessions use generic plans
//! (`plan_cache_mode`): the planner, left to choose, plans a statement of a few ids afresh at
//! each run (its estimate for an array it does not know is ten ids, a plan for the actual
//! few looks cheaper), and planning then cost the server more than the probes. Those
//! connections run nothing else, and a primary-key probe per id is the plan for any array.
//!
//! Each statement goes through [`crate::tx::rows_by_ids`], under the same tenant rules as a
//! read alone.

use crate::batching::{Queues, Together};
use crate::single_reads::{Readers, Session};
use crate::tx::rows_by_ids;
use carnet_core::TenantId;
use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::{PgConnection, Row};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// The most reads (alone or together) of one tenant's records of one kind on their way at
/// once. Two: while the server answers one, Carnet sends the other or hands out the answers
/// of the last. (One did as well, within this machine's noise; more leave fewer reads to
/// wait, and so to go together.)
const MOST_IN_FLIGHT: usize = 2;

/// The most ids one statement carries.
const MOST_PER_STATEMENT: usize = 64;

/// The statement reading the records of `$2::uuid[]` for tenant `$1` from `table` (aliased
/// `alias`), each id probed on the primary key. `columns` must hold `id`.
pub(crate) fn by_ids_sql(columns: &str, table: &str, alias: &str) -> String {
    format!(
        "SELECT {columns} FROM unnest($2::uuid[]) AS k(wanted)
         CROSS JOIN LATERAL (SELECT {columns} FROM {table} {alias}
                             WHERE {alias}.tenant_id = $1 AND {alias}.id = k.wanted) {alias}"
    )
}

/// The reads by id waiting, per tenant and statement (see [`by_ids_sql`]).
pub(crate) type Batches = Queues<ReadsById>;

/// Reads by id, on connections of their own.
#[derive(Debug)]
pub struct ReadsById {
    readers: Arc<Readers<PgConnection>>,
}

/// At most `max` connections of `options`, with generic plans, opened as statements need
/// them.
pub(crate) fn batches(options: PgConnectOptions, max: u32) -> Batches {
    let reads = ReadsById {
        readers: Arc::new(Readers::new(options, Session::GenericPlans, max)),
    };
    Queues::new(reads, MOST_IN_FLIGHT, MOST_PER_STATEMENT)
}

impl ReadsById {
    /// The connections statements go on.
    pub(crate) fn readers(&self) -> &Readers<PgConnection> {
        &self.readers
    }
}

impl Together for ReadsById {
    /// A tenant, and the statement that reads its records of one kind.
    type Key = (TenantId, &'static str);
    /// The id read.
    type Item = Uuid;
    /// Its row, if the tenant has one.
    type Answer = Option<PgRow>;

    /// A second read of the same id waits for the next statement.
    fn clash(a: &Uuid, b: &Uuid) -> bool {
        a == b
    }

    async fn send(&self, (tenant, sql): Self::Key, ids: &[Uuid]) -> Option<Vec<Option<PgRow>>> {
        let rows = rows_by_ids(&self.readers, tenant, ids, sql).await.ok()?;
        answers(ids, rows)
    }
}

/// Each id's row, or `None` if the statement found none for it; `None` for all when a row
/// is not one of [`by_ids_sql`] (each read then runs alone).
fn answers(ids: &[Uuid], rows: Vec<PgRow>) -> Option<Vec<Option<PgRow>>> {
    let mut by_id: HashMap<Uuid, PgRow> = HashMap::with_capacity(rows.len());
    for row in rows {
        by_id.insert(row.try_get::<Uuid, _>("id").ok()?, row);
    }
    Some(ids.iter().map(|id| by_id.remove(id)).collect())
}
