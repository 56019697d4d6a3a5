//! Connections for reads of one statement ([`crate::Db::tenant_read_single`]), kept apart
//! from sqlx's pools.
//!
//! sqlx tests every connection given back to its pool with a round trip (PostgreSQL: a
//! `Sync` and its `ReadyForQuery`; SQLite: a command to the connection's thread and its
//! answer). For a transaction that is one exchange more among several; for a read of one
//! statement it is one of two: half the messages and wake-ups of the hottest requests (a
//! record by its id, a contact's timeline). These connections go back to their set without
//! it. What the test guards against, a connection left in the middle of an exchange (its
//! request dropped while it waited), is told apart instead: a connection is in use from the
//! moment it is lent mutably until its user settles the exchange's outcome
//! ([`Reader::settle`]); one given back while in use is replaced, never reused.

use crate::Result;
use crate::db::PG_SESSION;
use crate::tx::connection_lost;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection, SqliteConnection};
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{Mutex as Lent, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

/// A connection being opened.
pub type Opening<'a, C> = Pin<Box<dyn Future<Output = Result<C>> + Send + 'a>>;

/// A connection as single reads need it, opened from its backend's options, its session
/// then set as `session` says.
pub trait Open: Connection + Sized {
    fn open<'a>(options: &'a Self::Options, session: Session) -> Opening<'a, Self>;
}

/// How a set's connections are set up once open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// As the backend opens them.
    Plain,
    /// PostgreSQL: every statement planned once, for any values (`plan_cache_mode`), for a
    /// set that runs statements whose generic plan is always right (`batched_reads`). Set
    /// after connecting, as the role is, rather than as a start-up option, which poolers
    /// such as PgBouncer refuse unless told to ignore it.
    GenericPlans,
}

impl Open for PgConnection {
    /// As Carnet's role, which row-level security applies to ([`PG_SESSION`]).
    fn open(options: &PgConnectOptions, session: Session) -> Opening<'_, Self> {
        Box::pin(async move {
            let mut conn = options.connect().await?;
            let plans = match session {
                Session::Plain => "",
                Session::GenericPlans => "; SET plan_cache_mode = force_generic_plan",
            };
            conn.execute(format!("{}{plans}", *PG_SESSION).as_str())
                .await?;
            Ok(conn)
        })
    }
}

impl Open for SqliteConnection {
    /// (SQLite's sessions are set by its options alone.)
    fn open(options: &SqliteConnectOptions, _: Session) -> Opening<'_, Self> {
        Box::pin(async move { Ok(options.connect().await?) })
    }
}

/// The connections for single reads, each in its slot, and the permits that bound the loans.
#[derive(Debug)]
pub struct Readers<C: Open> {
    options: C::Options,
    session: Session,
    max: u32,
    slots: Mutex<Vec<Arc<Lent<Slot<C>>>>>,
    permits: Arc<Semaphore>,
}

/// One connection, and whether it was left in the middle of an exchange.
#[derive(Debug)]
struct Slot<C> {
    conn: C,
    in_use: bool,
}

/// A connection lent for one read, back in its slot when dropped.
pub struct Reader<C> {
    slot: OwnedMutexGuard<Slot<C>>,
    _permit: OwnedSemaphorePermit,
}

impl<C: Open> Readers<C> {
    /// At most `max` connections, opened as reads need them and set up as `session` says.
    pub(crate) fn new(options: C::Options, session: Session, max: u32) -> Readers<C> {
        Readers {
            options,
            session,
            max,
            slots: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max as usize)),
        }
    }

    /// A free connection, or a new one when none is free or the free one was left in use;
    /// waits while the most allowed are lent. (With a permit in hand at most `max - 1`
    /// slots are taken, so a full set of slots always has a free one.)
    pub(crate) async fn acquire(&self) -> Result<Reader<C>> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let free = self
            .lock()
            .iter()
            .find_map(|slot| Arc::clone(slot).try_lock_owned().ok());
        let slot = match free {
            Some(mut slot) => {
                if slot.in_use {
                    slot.conn = C::open(&self.options, self.session).await?;
                    slot.in_use = false;
                }
                slot
            }
            None => {
                let slot = Arc::new(Lent::new(Slot {
                    conn: C::open(&self.options, self.session).await?,
                    in_use: false,
                }));
                // Taken before others can see it: this never waits.
                let taken = Arc::clone(&slot).lock_owned().await;
                self.lock().push(slot);
                taken
            }
        };
        Ok(Reader {
            slot,
            _permit: permit,
        })
    }

    /// Replaces the lent connection with a new one (the server dropped it: a restart, a
    /// failover), within the same loan.
    pub(crate) async fn reconnect(&self, reader: &mut Reader<C>) -> Result<()> {
        reader.slot.conn = C::open(&self.options, self.session).await?;
        reader.slot.in_use = false;
        Ok(())
    }

    /// Connections open now.
    pub(crate) fn size(&self) -> usize {
        self.lock().len()
    }

    /// Connections lent now.
    pub(crate) fn lent(&self) -> usize {
        self.max as usize - self.permits.available_permits()
    }

    /// The most connections open at once.
    pub(crate) fn max(&self) -> u32 {
        self.max
    }

    /// Refuses new loans and closes the connections (one still lent closes when given back).
    pub(crate) async fn close(&self) {
        self.permits.close();
        let slots = std::mem::take(&mut *self.lock());
        for slot in slots {
            if let Ok(slot) = Arc::try_unwrap(slot) {
                // A connection that fails to say goodbye is gone all the same.
                let _ = slot.into_inner().conn.close().await;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Lent<Slot<C>>>>> {
        // The vector stays whole whatever a panicking holder did: a push or a take.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<C> Reader<C> {
    /// Settles the exchange begun since the connection was last lent mutably, by its
    /// `outcome`: the connection may serve another loan when the exchange ended whole, not
    /// when the connection failed (it is then opened again before its next use).
    pub(crate) fn settle<T>(&mut self, outcome: &std::result::Result<T, sqlx::Error>) {
        if exchange_ended(outcome) {
            self.slot.in_use = false;
        }
    }
}

/// Whether an exchange that came to `outcome` ended whole, leaving its connection fit for
/// the next: the statement answered, or the database refused it (sqlx reads what remains
/// of an exchange that failed at the start of the next).
fn exchange_ended<T>(outcome: &std::result::Result<T, sqlx::Error>) -> bool {
    match outcome {
        Ok(_) => true,
        Err(e @ sqlx::Error::Database(_)) => !connection_lost(e),
        Err(_) => false,
    }
}

impl<C> Deref for Reader<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.slot.conn
    }
}

impl<C> DerefMut for Reader<C> {
    /// Lending the connection mutably begins an exchange: until [`Reader::settle`], the
    /// connection may hold half of one, and the next loan of its slot opens a new one.
    fn deref_mut(&mut self) -> &mut C {
        self.slot.in_use = true;
        &mut self.slot.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;
    use std::str::FromStr;

    /// Readers of an in-memory database; a temporary table, which only the connection that
    /// made it sees, tells whether the next loan got the same connection.
    fn readers() -> Readers<SqliteConnection> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").expect("options");
        Readers::new(options, Session::Plain, 2)
    }

    async fn mark(readers: &Readers<SqliteConnection>) {
        let mut reader = readers.acquire().await.expect("loan");
        let made = sqlx::query("CREATE TEMP TABLE marker (x)")
            .execute(&mut *reader)
            .await;
        reader.settle(&made);
        made.expect("marker");
    }

    /// Whether the next loan's connection is the one [`mark`] marked.
    async fn same_connection(readers: &Readers<SqliteConnection>) -> bool {
        let mut reader = readers.acquire().await.expect("loan");
        let found = sqlx::query("SELECT count(*) FROM sqlite_temp_master WHERE name = 'marker'")
            .fetch_one(&mut *reader)
            .await;
        reader.settle(&found);
        found.expect("count").get::<i64, _>(0) == 1
    }

    #[tokio::test]
    async fn a_connection_is_reused_only_after_an_exchange_that_ended_whole() {
        let readers = readers();
        mark(&readers).await;
        assert!(same_connection(&readers).await, "answered");

        // Refused by the database: the exchange ended, the connection is fit.
        let mut reader = readers.acquire().await.expect("loan");
        let refused = sqlx::query("SELECT * FROM no_such_table")
            .fetch_all(&mut *reader)
            .await;
        assert!(matches!(refused, Err(sqlx::Error::Database(_))));
        reader.settle(&refused);
        drop(reader);
        assert!(same_connection(&readers).await, "refused");

        // Given back in the middle of an exchange (never settled): replaced.
        let mut reader = readers.acquire().await.expect("loan");
        let _begun: &mut SqliteConnection = &mut reader;
        drop(reader);
        assert!(!same_connection(&readers).await, "left in use");

        // The connection failed: replaced, whatever the error said.
        mark(&readers).await;
        let mut reader = readers.acquire().await.expect("loan");
        let _begun: &mut SqliteConnection = &mut reader;
        let lost: std::result::Result<(), _> =
            Err(sqlx::Error::Io(std::io::ErrorKind::BrokenPipe.into()));
        reader.settle(&lost);
        drop(reader);
        assert!(!same_connection(&readers).await, "connection failed");
        readers.close().await;
    }
}
