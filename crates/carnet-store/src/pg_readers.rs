//! PostgreSQL connections for reads of one statement ([`crate::Db::tenant_read_single`]),
//! kept apart from sqlx's pool.
//!
//! sqlx tests every connection given back to its pool with a round trip (a `Sync` and its
//! `ReadyForQuery`). For a transaction that is one exchange more among several; for a read
//! of one statement it is one of two: half the messages, wake-ups and loopback sends of the
//! hottest requests (a record by its id). These connections go back to their pool without
//! it. What the test guards against, a connection left in the middle of an exchange (its
//! request dropped while it waited), is told apart instead: a connection is in use from the
//! moment it is lent mutably until its user says the exchange completed
//! ([`PgReader::completed`]); one given back while in use is replaced, never reused.

use crate::Result;
use crate::db::APP_ROLE;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{Mutex as Lent, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

/// At most this many connections for single reads, besides the main pool's.
pub(crate) const MAX_READERS: u32 = 16;

/// The connections for single reads, each in its slot, and the permits that bound the loans.
#[derive(Debug)]
pub struct PgReaders {
    options: PgConnectOptions,
    slots: Mutex<Vec<Arc<Lent<Slot>>>>,
    permits: Arc<Semaphore>,
}

/// One connection, and whether it was left in the middle of an exchange.
#[derive(Debug)]
struct Slot {
    conn: PgConnection,
    in_use: bool,
}

/// A connection lent for one read, back in its slot when dropped.
pub struct PgReader {
    slot: OwnedMutexGuard<Slot>,
    _permit: OwnedSemaphorePermit,
}

impl PgReaders {
    pub(crate) fn new(options: PgConnectOptions) -> PgReaders {
        PgReaders {
            options,
            slots: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(MAX_READERS as usize)),
        }
    }

    /// A free connection, or a new one (as [`APP_ROLE`]) when none is free or the free one
    /// was left in use; waits while [`MAX_READERS`] are lent. (With a permit in hand at
    /// most `MAX_READERS - 1` slots are taken, so a full set of slots always has a free one.)
    pub(crate) async fn acquire(&self) -> Result<PgReader> {
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
                    slot.conn = self.connect().await?;
                    slot.in_use = false;
                }
                slot
            }
            None => {
                let slot = Arc::new(Lent::new(Slot {
                    conn: self.connect().await?,
                    in_use: false,
                }));
                self.lock().push(Arc::clone(&slot));
                slot.lock_owned().await
            }
        };
        Ok(PgReader {
            slot,
            _permit: permit,
        })
    }

    /// Replaces the lent connection with a new one (the server dropped it: a restart, a
    /// failover), within the same loan.
    pub(crate) async fn reconnect(&self, reader: &mut PgReader) -> Result<()> {
        reader.slot.conn = self.connect().await?;
        reader.slot.in_use = false;
        Ok(())
    }

    async fn connect(&self) -> Result<PgConnection> {
        let mut conn = self.options.connect().await?;
        conn.execute(format!("SET ROLE {APP_ROLE}").as_str())
            .await?;
        Ok(conn)
    }

    /// Connections open now.
    pub(crate) fn size(&self) -> usize {
        self.lock().len()
    }

    /// Connections lent now.
    pub(crate) fn lent(&self) -> usize {
        MAX_READERS as usize - self.permits.available_permits()
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Lent<Slot>>>> {
        // The vector stays whole whatever a panicking holder did: a push or a take.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PgReader {
    /// The exchange begun since the connection was last lent mutably completed: the
    /// connection may serve another read.
    pub(crate) fn completed(&mut self) {
        self.slot.in_use = false;
    }
}

impl Deref for PgReader {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.slot.conn
    }
}

impl DerefMut for PgReader {
    /// Lending the connection mutably begins an exchange: until [`PgReader::completed`], the
    /// connection may hold half of one, and the next loan of its slot opens a new one.
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.slot.in_use = true;
        &mut self.slot.conn
    }
}
