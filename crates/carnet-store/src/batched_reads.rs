//! PostgreSQL: reads of one tenant's records by id that meet on their way to the server go
//! together, as one statement.
//!
//! A read by id is one round trip (`single_reads`): a message to the server, the server's
//! work of one statement (parse, plan, an index probe, its answer), a message back, and a
//! wake-up at each end. Under concurrent reads, on a machine whose cores the server shares
//! with Carnet and its clients, those per-statement costs are most of what a read costs.
//!
//! So a read that arrives while fewer than [`MOST_IN_FLIGHT`] reads of its kind and tenant
//! are on their way goes at once, alone, with the statement it always had: a read that meets
//! no other waits for nothing. One that arrives while that many are on their way waits, with
//! every other read that arrives meanwhile, and when one of those places comes back they go
//! as one statement of many ids (an array, each id probed on the primary key); reads that
//! still arrive meanwhile go in the next. At 16 concurrent reads of one workspace on two
//! cores that is about five reads a statement, and a third more reads a second
//! (`bench/results/http.md`).
//!
//! The statements go on connections of their own, whose sessions use generic plans
//! (`plan_cache_mode`): the planner, left to choose, plans a statement of a few ids afresh at
//! each run (its estimate for an array it does not know is ten ids, a plan for the actual
//! few looks cheaper), and planning then cost the server more than the probes. Those
//! connections run nothing else, and a primary-key probe per id is the plan for any array.
//!
//! A place comes back when its read is done: it is then handed to a task of its own that
//! sends the reads waiting, so that a request given up (its client gone) never strands the
//! reads that waited behind it. A read whose statement failed, or whose task ended without
//! answering, runs again alone, and its caller reports what that finds. Each statement goes
//! through [`crate::tx::rows_by_ids`], under the same tenant rules as a read alone.

use crate::single_reads::{Readers, Session};
use crate::tx::rows_by_ids;
use carnet_core::TenantId;
use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::{PgConnection, Row};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::oneshot;
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

/// The reads waiting, per tenant and statement, the connections their statements go on, and
/// the counts `/metrics` shows.
#[derive(Debug)]
pub struct Batches {
    queues: Mutex<HashMap<Key, Queue>>,
    readers: Arc<Readers<PgConnection>>,
    reads: AtomicU64,
    statements: AtomicU64,
}

/// A tenant, and the statement that reads its records of one kind (see [`by_ids_sql`]).
type Key = (TenantId, &'static str);

#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<Waiter>,
    in_flight: usize,
}

/// A read waiting for its statement, and where its row goes.
#[derive(Debug)]
struct Waiter {
    id: Uuid,
    answer: oneshot::Sender<Option<PgRow>>,
}

/// How many reads went together, in how many statements that answered, since start (reads
/// alone are not counted, nor those of a statement that failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchedReads {
    pub reads: u64,
    pub statements: u64,
}

impl Batches {
    /// At most `max` connections of `options`, with generic plans, opened as statements
    /// need them.
    pub(crate) fn new(options: PgConnectOptions, max: u32) -> Batches {
        Batches {
            queues: Mutex::default(),
            readers: Arc::new(Readers::new(options, Session::GenericPlans, max)),
            reads: AtomicU64::new(0),
            statements: AtomicU64::new(0),
        }
    }

    /// The connections statements go on.
    pub(crate) fn readers(&self) -> &Readers<PgConnection> {
        &self.readers
    }

    /// Joins the reads of `tenant`'s records that `sql` reads: [`Joined::Alone`] when fewer
    /// than [`MOST_IN_FLIGHT`] are on their way (the caller reads alone, holding a place
    /// until its read is done), otherwise the row of the statement `id` waited for.
    pub(crate) async fn join(
        self: &Arc<Self>,
        tenant: TenantId,
        sql: &'static str,
        id: Uuid,
    ) -> Joined {
        let key = (tenant, sql);
        let answered = {
            let mut queues = self.lock();
            let queue = queues.entry(key).or_default();
            if queue.in_flight < MOST_IN_FLIGHT {
                queue.in_flight += 1;
                return Joined::Alone(InFlight {
                    batches: Arc::clone(self),
                    key,
                    may_hand_over: true,
                });
            }
            let (answer, answered) = oneshot::channel();
            queue.waiting.push(Waiter { id, answer });
            answered
        };
        match answered.await {
            Ok(row) => Joined::Answered(row),
            Err(_) => Joined::Unanswered,
        }
    }

    /// Reads and statements so far.
    pub(crate) fn counts(&self) -> BatchedReads {
        BatchedReads {
            reads: self.reads.load(Ordering::Relaxed),
            statements: self.statements.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Queue>> {
        // Every change to the map is whole before the lock is let go: a push, a take.
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a read that joined the others is to do.
pub(crate) enum Joined {
    /// Read alone now; the place is given back, or handed to the reads that waited
    /// meanwhile, when it is dropped.
    Alone(InFlight),
    /// The row its statement found for its id, if any.
    Answered(Option<PgRow>),
    /// Its statement failed, or the task sending it ended first: read alone, and report
    /// what that finds.
    Unanswered,
}

/// A place among the statements of one key on their way.
pub(crate) struct InFlight {
    batches: Arc<Batches>,
    key: Key,
    /// Whether dropping it may hand it to a new task. Not before its own task ran: a
    /// runtime shutting down drops a task as it is spawned, and handing the place over again
    /// from that drop would never end.
    may_hand_over: bool,
}

impl InFlight {
    /// Sends the waiting reads, as many statements as it takes for none to wait.
    async fn send_waiting(mut self) {
        self.may_hand_over = true;
        let (tenant, sql) = self.key;
        while let Some(batch) = self.take_waiting() {
            let ids: Vec<Uuid> = batch.iter().map(|w| w.id).collect();
            // A failed statement drops the batch: its reads run alone and report their error.
            if let Ok(rows) = rows_by_ids(&self.batches.readers, tenant, &ids, sql).await {
                self.batches.statements.fetch_add(1, Ordering::Relaxed);
                self.batches
                    .reads
                    .fetch_add(ids.len() as u64, Ordering::Relaxed);
                answer(batch, rows);
            }
        }
    }

    /// The next reads to send, distinct ids only (a second read of the same id waits for
    /// the next statement); `None` when none waits.
    fn take_waiting(&self) -> Option<Vec<Waiter>> {
        let mut queues = self.batches.lock();
        let queue = queues.get_mut(&self.key)?;
        if queue.waiting.is_empty() {
            return None;
        }
        let mut batch: Vec<Waiter> = Vec::new();
        let mut later = Vec::new();
        for waiter in queue.waiting.drain(..) {
            if batch.len() < MOST_PER_STATEMENT && batch.iter().all(|w| w.id != waiter.id) {
                batch.push(waiter);
            } else {
                later.push(waiter);
            }
        }
        queue.waiting = later;
        Some(batch)
    }
}

impl Drop for InFlight {
    /// Hands the place to a task sending the reads that wait, if any (a read that arrives
    /// once the lock is let go finds the place taken and waits for that task); otherwise
    /// gives it back. Without a runtime to run that task (shutting down), the reads that
    /// wait are dropped with the last place, and their callers read alone.
    fn drop(&mut self) {
        let mut queues = self.batches.lock();
        let Some(queue) = queues.get_mut(&self.key) else {
            return;
        };
        if self.may_hand_over
            && !queue.waiting.is_empty()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            drop(queues);
            let next = InFlight {
                batches: Arc::clone(&self.batches),
                key: self.key,
                may_hand_over: false,
            };
            runtime.spawn(next.send_waiting());
            return;
        }
        queue.in_flight -= 1;
        if queue.in_flight == 0 {
            queues.remove(&self.key);
        }
    }
}

/// Hands each waiting read its row, or `None` if the statement found none for its id.
fn answer(batch: Vec<Waiter>, rows: Vec<PgRow>) {
    let mut by_id: HashMap<Uuid, PgRow> = HashMap::with_capacity(rows.len());
    for row in rows {
        match row.try_get::<Uuid, _>("id") {
            Ok(id) => {
                by_id.insert(id, row);
            }
            // Not a row of `by_ids_sql`: no read is answered, each runs alone.
            Err(_) => return,
        }
    }
    for waiter in batch {
        // A caller that gave up no longer listens.
        let _ = waiter.answer.send(by_id.remove(&waiter.id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime shutting down drops its tasks, and a task spawned then is dropped as it is
    /// spawned: the places held, and the reads that waited for them, must all be let go,
    /// without a place handed from one dropped task to the next for ever.
    #[test]
    fn places_are_let_go_when_the_runtime_shuts_down() {
        let batches = Arc::new(Batches::new(PgConnectOptions::new(), 1));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let (tenant, id) = (TenantId::new(), Uuid::now_v7());
        runtime.block_on(async {
            let mut places = Vec::new();
            for _ in 0..MOST_IN_FLIGHT {
                let Joined::Alone(place) = batches.join(tenant, "by ids", id).await else {
                    panic!("a read that meets none goes alone");
                };
                places.push(place);
            }
            let waiting = Arc::clone(&batches);
            tokio::spawn(async move { waiting.join(tenant, "by ids", id).await });
            while batches.lock().values().all(|q| q.waiting.is_empty()) {
                tokio::task::yield_now().await;
            }
            // Reads that never finish: their places are dropped with the runtime.
            tokio::spawn(async move {
                let _held = places;
                std::future::pending::<()>().await
            });
        });
        drop(runtime);
        assert!(batches.lock().is_empty(), "every place given back");
    }
}
