//! Carnet's storage: one [`Db`] handle over SQLite or PostgreSQL, the migrations of both,
//! and one repository module per entity.
//!
//! Only this crate knows which backend it runs on. Tenant data can only be reached through a
//! [`TenantTx`], a transaction bound to one tenant; on PostgreSQL that binding also sets the
//! `app.tenant_id` used by row-level security (for the transaction, or for the connection's
//! session in a read of one statement: see [`Db::tenant_read_single`]).

mod batched_reads;
mod batching;
mod db;
mod error;
mod group_commit;
mod migrate;
mod params;
mod search;
mod single_reads;
mod tx;

pub mod activities;
pub mod api_keys;
pub mod audit;
pub mod contacts;
pub mod idempotency;
pub mod jobs;
pub mod schema;
pub mod sessions;
pub mod tenants;
pub mod users;

pub use batching::Counts as BatchCounts;
pub use db::{APP_ROLE, Backend, Batched, Db, DbLocation, PoolStats};
pub use error::StoreError;
pub use migrate::{
    MigrateReport, SchemaStatus, fingerprint, migrate, schema_status, undo_all, undo_to,
};
pub use tx::{PgSingle, PgTx, SqliteTx, TenantTx, Tx};

/// Results of the storage layer.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
