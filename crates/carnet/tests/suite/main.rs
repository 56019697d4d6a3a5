//! Carnet's integration suite: one test binary (linking is the slow part on small machines).
//! Stories run on SQLite and on PostgreSQL alike.

// Test code: a broken expectation should stop the test loudly, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_activities;
mod api_contacts;
mod api_errors;
mod api_imports;
mod archive;
mod cli;
mod export;
mod hostile;
mod import;
mod import_jobs;
mod isolation;
mod openapi;
mod schema;
mod search;
mod store;
mod ui;
