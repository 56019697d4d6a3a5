//! Carnet's use cases: who may do what, in which tenant, with an audit trail.
//!
//! The web layer and the CLI call [`Carnet`]; it checks permissions, validates input with
//! `carnet-core`, writes through `carnet-store` and records audit events in the same transaction.

pub mod activities;
pub mod admin;
pub mod archive;
pub mod auth;
pub mod clock;
pub mod contacts;
pub mod context;
pub mod demo;
mod error;
pub mod imports;
pub mod jobs;
pub mod key_cache;
mod list_query;
mod records;
pub mod secrets;

pub use clock::{Clock, SystemClock};
pub use context::{Actor, TenantContext};
pub use error::{ServiceError, ServiceResult};

use carnet_store::Db;
use std::sync::Arc;

/// The service: the database and the clock, shared by every request.
#[derive(Clone)]
pub struct Carnet {
    db: Db,
    clock: Arc<dyn Clock>,
    /// Wakes this process's job worker when a job is queued.
    jobs_waiting: Arc<tokio::sync::Notify>,
    /// API keys read in the last second (see [`key_cache`]).
    api_keys: Arc<key_cache::KeyCache>,
}

impl Carnet {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            clock,
            jobs_waiting: Arc::new(tokio::sync::Notify::new()),
            api_keys: Arc::default(),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The time by this instance's clock (the tests' clock in tests).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}
