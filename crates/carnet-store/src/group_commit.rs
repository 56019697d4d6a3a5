//! SQLite's one writer connection, shared by the write transactions that meet at it: one that
//! starts while another holds the writer joins that one's transaction, inside a savepoint of
//! its own, and they commit together.
//!
//! On SQLite a commit costs more than the rows of a typical write: the write-ahead log's
//! flush to disk, every page the transaction touched written again to the log, the
//! full-text index's new segment. Transactions that wait for the writer anyway share those.
//!
//! How a transaction ([`GroupTx`]) goes:
//! - It takes the writer (a fair lock: first come, first served). If no transaction is open
//!   on the connection it begins one and is its **first** member; otherwise it **joins** the
//!   open one with a `SAVEPOINT`.
//! - Its commit releases the savepoint (a first member has none). If no other transaction
//!   waits for the writer, it commits the connection's transaction at once. Otherwise it
//!   gives the writer to the next one and queues for it again: when its turn comes back the
//!   transactions that were waiting have joined, and the connection's transaction is
//!   committed by whichever member gets there first, the last to join or this one. Either
//!   way each member's `commit` returns only once the shared commit succeeded (or with its
//!   error): nothing is reported written before it is durable.
//! - A joined transaction dropped without commit (an error, a request given up) is rolled
//!   back to its savepoint before anyone uses the writer again; the others' writes stay. A
//!   first member dropped without commit rolls back the connection's transaction, which
//!   then holds nothing else (others join only once a member has committed).
//!
//! A write that needs nothing read on the writer (a create, or a change checked against the
//! version a reader saw) may instead go alone ([`GroupWriter::alone`]) when no transaction is
//! open: `BEGIN`, its statements and `COMMIT` as one command, one hand-over to the
//! connection's thread. Until that command is known to have committed, the
//! next user of the writer rolls back whatever it may have left open.
//!
//! Readers never see a member's writes before the shared commit. A member sees the writes
//! of the members before it, as it would after their commits; if the shared commit fails,
//! they all fail together.

use crate::{Result, StoreError};
use sqlx::{Executor, SqliteConnection};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The savepoint of a joined transaction. Only one member writes at a time, so one name
/// serves them all.
const SAVEPOINT: &str = "SAVEPOINT carnet_member";
const RELEASE: &str = "RELEASE carnet_member";
const ROLLBACK_TO: &str = "ROLLBACK TO carnet_member; RELEASE carnet_member";

/// The writer connection and the transactions queued for it.
pub struct GroupWriter {
    writer: Arc<Mutex<Writer>>,
    /// Transactions waiting to begin (not members queued to see their commit through).
    waiting: Arc<AtomicUsize>,
}

impl fmt::Debug for GroupWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupWriter")
            .field("waiting", &self.waiting())
            .finish_non_exhaustive()
    }
}

/// What a commit shared by several transactions came to, for each of them.
type Outcome = OnceLock<std::result::Result<(), String>>;

struct Writer {
    conn: SqliteConnection,
    /// The transaction open on the connection, if any: what its commit came to, once known.
    open: Option<Arc<Outcome>>,
    /// What a transaction that left without committing still needs undone.
    undo: Undo,
    /// Set by [`GroupWriter::close`]: no transaction begins any more.
    closed: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Undo {
    Nothing,
    /// A joined member left: roll back to its savepoint.
    Savepoint,
    /// A first member left: roll back the connection's transaction (it holds nothing else).
    Transaction,
}

impl GroupWriter {
    pub fn new(conn: SqliteConnection) -> GroupWriter {
        GroupWriter {
            writer: Arc::new(Mutex::new(Writer {
                conn,
                open: None,
                undo: Undo::Nothing,
                closed: false,
            })),
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// How many transactions wait for the writer.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Whether no transaction holds the writer now.
    pub fn idle(&self) -> bool {
        self.writer.try_lock().is_ok()
    }

    /// A write transaction: the writer, in a transaction of its own or in the open one.
    pub async fn begin(&self) -> Result<GroupTx> {
        let held = self.take().await;
        // On a task of its own, so that a request given up meanwhile cannot leave the
        // connection's state half changed.
        let (held, outcome) = tokio::spawn(enter(held))
            .await
            .map_err(|e| StoreError::NotDurable(format!("beginning a write: {e}")))??;
        Ok(GroupTx {
            held,
            writer: self.writer.clone(),
            waiting: self.waiting.clone(),
            outcome,
        })
    }

    /// The writer for a transaction of its own written in one command, `BEGIN; …; COMMIT`:
    /// one hand-over to the writer's thread where [`GroupWriter::begin`], the statements and
    /// the commit take three or more. `None` when a transaction is open on the writer (its
    /// members await their shared commit): the caller then joins it through
    /// [`GroupWriter::begin`].
    pub async fn alone(&self) -> Result<Option<AloneTx>> {
        let held = self.take().await;
        // On a task of its own, as in `begin`.
        let mut held = tokio::spawn(settled(held))
            .await
            .map_err(|e| StoreError::NotDurable(format!("beginning a write: {e}")))??;
        if held.open.is_some() {
            return Ok(None);
        }
        // Until the command is known to have committed, whoever takes the writer next rolls
        // back what it may have left open (a statement that failed, a request given up).
        held.undo = Undo::Transaction;
        Ok(Some(AloneTx { held }))
    }

    /// The writer, once it is this caller's turn (counted as waiting until then).
    async fn take(&self) -> OwnedMutexGuard<Writer> {
        let _waiting = Waiting::on(&self.waiting);
        self.writer.clone().lock_owned().await
    }

    /// Commits what members left committed, rolls back the rest, and lets no transaction
    /// begin afterwards (shutdown). The connection itself closes when the last handle on the
    /// database is dropped.
    pub async fn close(&self) {
        let mut held = self.writer.lock().await;
        settle_undo(&mut held).await;
        if held.open.is_some() {
            commit_open(&mut held).await;
        }
        held.closed = true;
    }
}

/// Begins a transaction on the held writer, or joins the open one.
async fn enter(held: OwnedMutexGuard<Writer>) -> Result<(OwnedMutexGuard<Writer>, Arc<Outcome>)> {
    let mut held = settled(held).await?;
    match held.open.clone() {
        Some(outcome) => {
            held.conn.execute(SAVEPOINT).await?;
            held.undo = Undo::Savepoint;
            Ok((held, outcome))
        }
        None => {
            held.conn.execute("BEGIN").await?;
            let outcome = Arc::new(Outcome::new());
            held.open = Some(outcome.clone());
            held.undo = Undo::Transaction;
            Ok((held, outcome))
        }
    }
}

/// The held writer, once what a transaction that left without committing still needs
/// undone is undone; refused once the database is closed.
async fn settled(mut held: OwnedMutexGuard<Writer>) -> Result<OwnedMutexGuard<Writer>> {
    if held.closed {
        return Err(StoreError::Config("the database is closed".into()));
    }
    settle_undo(&mut held).await;
    Ok(held)
}

/// Counts a transaction waiting for the writer for as long as it waits (also when it stops
/// waiting because its request was given up).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn on(count: &'a AtomicUsize) -> Waiting<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Undoes what a transaction that left without committing wrote. Should that fail, the
/// connection's transaction is no longer what its members wrote: it is rolled back and they
/// are told.
async fn settle_undo(held: &mut Writer) {
    let undo = std::mem::replace(&mut held.undo, Undo::Nothing);
    let failed = match undo {
        Undo::Nothing => return,
        Undo::Savepoint => match held.conn.execute(ROLLBACK_TO).await {
            Ok(_) => return,
            Err(e) => format!("a write sharing this commit could not be undone: {e}"),
        },
        Undo::Transaction => "the transaction was given up".to_owned(),
    };
    // Fails harmlessly when the error already ended the transaction.
    let _ = held.conn.execute("ROLLBACK").await;
    if let Some(outcome) = held.open.take() {
        let _ = outcome.set(Err(failed));
    }
}

/// Commits the connection's open transaction and tells its members.
async fn commit_open(held: &mut Writer) {
    let Some(outcome) = held.open.take() else {
        return;
    };
    let result = match held.conn.execute("COMMIT").await {
        Ok(_) => Ok(()),
        Err(e) => {
            // A commit refused (a deferred constraint, a full disk) may leave it open.
            let _ = held.conn.execute("ROLLBACK").await;
            Err(e.to_string())
        }
    };
    let _ = outcome.set(result);
}

/// One write transaction on SQLite's writer (see the module's documentation).
///
/// While it writes, the writer's state already says how to undo it, so that dropping it
/// (an error, a request given up) leaves that to the next transaction; its commit clears it.
/// That state also tells whether it joined another's transaction: a savepoint to undo.
pub struct GroupTx {
    /// The writer, held until the transaction commits or is dropped.
    held: OwnedMutexGuard<Writer>,
    writer: Arc<Mutex<Writer>>,
    waiting: Arc<AtomicUsize>,
    outcome: Arc<Outcome>,
}

impl GroupTx {
    /// Commits: returns once the writes are durable, shared commit or not. The commit runs
    /// on a task of its own: a request given up meanwhile does not stop it halfway, which
    /// would leave the other members without an answer.
    pub async fn commit(self) -> Result<()> {
        tokio::spawn(self.finish())
            .await
            .map_err(|e| StoreError::NotDurable(format!("commit task: {e}")))?
    }

    async fn finish(self) -> Result<()> {
        let GroupTx {
            mut held,
            writer,
            waiting,
            outcome,
        } = self;
        if held.undo == Undo::Savepoint {
            held.conn.execute(RELEASE).await?;
        }
        held.undo = Undo::Nothing;
        let ours = |held: &Writer| held.open.as_ref().is_some_and(|o| Arc::ptr_eq(o, &outcome));
        if waiting.load(Ordering::Relaxed) > 0 {
            // Let the waiting transactions join, then see the commit through.
            drop(held);
            held = writer.lock_owned().await;
            if ours(&held) {
                settle_undo(&mut held).await;
            }
        }
        if ours(&held) {
            commit_open(&mut held).await;
        }
        match outcome.get() {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(StoreError::NotDurable(e.clone())),
            None => Err(StoreError::NotDurable(
                "the shared commit did not run".into(),
            )),
        }
    }
}

/// The writer, held for one command that begins and commits a transaction of its own
/// ([`GroupWriter::alone`]). Dropped without [`AloneTx::committed`], the next user of the
/// writer rolls back whatever the command left open.
pub struct AloneTx {
    held: OwnedMutexGuard<Writer>,
}

impl AloneTx {
    /// The connection, for the command: its text begins with `BEGIN` and ends with `COMMIT`.
    pub fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.held.conn
    }

    /// The command ran to its `COMMIT`: the writes are durable, nothing is left to undo.
    pub fn committed(mut self) {
        self.held.undo = Undo::Nothing;
    }
}

impl Deref for GroupTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.held.conn
    }
}

impl DerefMut for GroupTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.held.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    async fn writer() -> GroupWriter {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        GroupWriter::new(conn)
    }

    async fn rows(w: &GroupWriter) -> i64 {
        let mut tx = w.begin().await.unwrap();
        let n = sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        n
    }

    /// A command alone commits what it wrote; one that fails halfway leaves nothing (the
    /// next user of the writer rolls it back) and the writer serves on.
    #[tokio::test]
    async fn a_command_alone_commits_or_leaves_nothing() {
        let w = writer().await;
        for (command, fails) in [
            ("BEGIN; INSERT INTO t VALUES (1); COMMIT", false),
            (
                "BEGIN; INSERT INTO t VALUES (2); INSERT INTO t VALUES (1); COMMIT",
                true,
            ),
            ("BEGIN; INSERT INTO t VALUES (3); COMMIT", false),
        ] {
            let mut alone = w.alone().await.unwrap().expect("no transaction open");
            let result = alone.conn().execute(command).await;
            assert_eq!(result.is_err(), fails, "{command}");
            if !fails {
                alone.committed();
            }
        }
        assert_eq!(rows(&w).await, 2);
        let x: Vec<i64> = sqlx::query_scalar("SELECT x FROM t ORDER BY x")
            .fetch_all(&mut *w.begin().await.unwrap())
            .await
            .unwrap();
        assert_eq!(x, [1, 3]);
    }

    /// While members await a shared commit, no command goes alone: the caller joins them.
    #[tokio::test]
    async fn no_command_alone_while_a_shared_commit_is_pending() {
        let w = Arc::new(writer().await);
        let mut first = w.begin().await.unwrap();
        first.execute("INSERT INTO t VALUES (1)").await.unwrap();
        let waiter = {
            let w = w.clone();
            tokio::spawn(async move { w.alone().await.map(|alone| alone.is_none()) })
        };
        while w.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        first.commit().await.unwrap();
        assert!(
            waiter.await.unwrap().unwrap(),
            "alone while a commit was pending"
        );
        assert_eq!(rows(&w).await, 1);
    }
}
