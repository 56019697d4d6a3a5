//! A change to one contact written without a transaction of its own making, the contact
//! read before: on PostgreSQL as one statement ([`super::alone_pg`]); on SQLite as one
//! command on the writer, `BEGIN; …; COMMIT` ([`crate::group_commit::GroupWriter::alone`]),
//! the contact read outside it.
//!
//! On SQLite, in a write transaction the writer is held from the read for update to the
//! commit, and each statement between is a hand-over to its thread. When no other write
//! holds or waits for the writer (the caller asks [`Db::may_write_alone`]), a change is
//! instead sent whole: the contact's row, only if it is still at the version read; its audit
//! event, only if the row changed (`changes() = 1`); whatever else goes with it, only if that
//! event was written. So all of it is written, or none of it, and the caller then goes in a
//! transaction, which decides again.

use super::{COLUMNS, IndexTable, Row, UPDATE_SET, alone_pg, changed_keys, trash_update};
use crate::Result;
use crate::audit::{self, AuditEvent};
use crate::db::Db;
use crate::group_commit::GroupWriter;
use crate::params::MAX_PARAMS;
use carnet_core::TenantId;
use carnet_core::contact::{Contact, ContactInput};
use chrono::{DateTime, Utc};
use sqlx::Sqlite;
use sqlx::query::QueryAs;
use sqlx::sqlite::SqliteArguments;

/// What a change sent alone came to.
#[derive(Debug)]
pub enum ChangeAlone {
    /// The contact as changed; its event, and its key rows for an update, were written with
    /// it.
    Changed(Box<Contact>),
    /// Nothing written: the stored contact is no longer at the version read (it changed, or
    /// went in or out of the trash), or an update's new owner is not a member of the
    /// workspace.
    NotApplied,
    /// Not tried: the change is to go in a write transaction. On SQLite when transactions
    /// sharing a commit are pending on the writer, or when the command would bind more
    /// parameters than one may; never on PostgreSQL.
    InTransaction,
}

/// Where the parameters of a change's command stand: `$1` the tenant and `$2` the contact,
/// the row's own from `$3`, then the event's ten ([`audit::event_values`]), then the rest.
struct ChangeCommand {
    sql: String,
    /// The event's first parameter: its id, which the statements after it look for.
    event: usize,
    /// How many are bound so far.
    bound: usize,
}

impl ChangeCommand {
    /// `BEGIN`, `update` (its own parameters up to `$bound`, `RETURNING` the contact), and
    /// the event, written only if the update changed a row.
    fn new(update: &str, bound: usize) -> ChangeCommand {
        let event = bound + 1;
        ChangeCommand {
            sql: format!(
                "BEGIN; {update} RETURNING {COLUMNS};
                 INSERT INTO audit_events ({}) SELECT {} WHERE changes() = 1",
                audit::COLUMNS,
                audit::event_values(event)
            ),
            event,
            bound: event + 9,
        }
    }

    /// The condition that the event was written, for the statements after it: its id is
    /// new (made for this change), so only this command's own insert can have written it.
    fn written(&self) -> String {
        format!(
            "EXISTS (SELECT 1 FROM audit_events a WHERE a.tenant_id = $1 AND a.id = ${})",
            self.event
        )
    }

    /// Rewrites the contact's rows in `table` as `keys` (bound after the others), once the
    /// event is written.
    fn rewrite_keys(&mut self, table: IndexTable, keys: usize) {
        let written = self.written();
        self.sql.push_str(&format!(
            "; DELETE FROM {} WHERE tenant_id = $1 AND contact_id = $2 AND {written}",
            table.name()
        ));
        if keys > 0 {
            let values: Vec<String> = (self.bound + 1..=self.bound + keys)
                .map(|n| format!("(${n})"))
                .collect();
            self.bound += keys;
            self.sql.push_str(&format!(
                "; {} SELECT $1, $2, v.column1 FROM (VALUES {}) AS v WHERE {written}",
                table.insert_into(),
                values.join(", ")
            ));
        }
    }

    /// The command's text, to its `COMMIT`.
    fn finish(mut self) -> String {
        self.sql.push_str("; COMMIT");
        self.sql
    }
}

/// Replaces the writable fields of `current` with `input` (the contact's row, its search
/// row by trigger, its changed key rows) and appends its audit `event`, if the contact is
/// still at `current`'s version and live and `input`'s owner is none or a member of the
/// workspace.
pub async fn update_alone(
    db: &Db,
    tenant: TenantId,
    current: &Contact,
    input: &ContactInput,
    now: DateTime<Utc>,
    event: &AuditEvent,
) -> Result<ChangeAlone> {
    let writer = match db {
        Db::Sqlite { writer, .. } => writer,
        Db::Postgres { write_conns, .. } => {
            return alone_pg::update(db, write_conns, tenant, current, input, now, event).await;
        }
    };
    // `$3`–`$15` the row ([`bind_row!`]), `$16` the version read.
    let mut command = ChangeCommand::new(
        &format!(
            "UPDATE contacts SET {UPDATE_SET}, search_rest = NULL
             WHERE tenant_id = $1 AND id = $2 AND version = $16 AND deleted_at IS NULL
               AND ($11 IS NULL
                    OR $11 IN (SELECT m.user_id FROM memberships m WHERE m.tenant_id = $1))"
        ),
        16,
    );
    let mut keys = Vec::new();
    for (table, after) in changed_keys(current, input) {
        command.rewrite_keys(table, after.len());
        keys.extend(after);
    }
    if command.bound > MAX_PARAMS {
        return Ok(ChangeAlone::InTransaction);
    }
    let sql = command.finish();
    let search = input.search_text();
    let q = bind_row!(
        sqlx::query_as(&sql),
        tenant.0,
        current.id,
        input,
        &search,
        now
    )
    .bind(current.version);
    let mut q = audit::bind_event!(q, event);
    for key in &keys {
        q = q.bind(key);
    }
    run(writer, q).await
}

/// Moves `current` to the trash (`trashed`) or out of it and appends its audit `event`, if
/// the contact is still at `current`'s version and in the other state.
pub async fn set_trashed_alone(
    db: &Db,
    tenant: TenantId,
    current: &Contact,
    trashed: bool,
    now: DateTime<Utc>,
    event: &AuditEvent,
) -> Result<ChangeAlone> {
    let writer = match db {
        Db::Sqlite { writer, .. } => writer,
        Db::Postgres { write_conns, .. } => {
            return alone_pg::set_trashed(db, write_conns, tenant, current, trashed, now, event)
                .await;
        }
    };
    let sql =
        ChangeCommand::new(&format!("{} AND version = $5", trash_update(trashed)), 5).finish();
    let q = sqlx::query_as(&sql)
        .bind(tenant.0)
        .bind(current.id.0)
        .bind(trashed.then_some(now))
        .bind(now)
        .bind(current.version);
    run(writer, audit::bind_event!(q, event)).await
}

/// Sends `q`, a command from [`ChangeCommand`], when the writer has no transaction open.
async fn run<'q>(
    writer: &GroupWriter,
    q: QueryAs<'q, Sqlite, Row, SqliteArguments<'q>>,
) -> Result<ChangeAlone> {
    let Some(mut alone) = writer.alone().await? else {
        return Ok(ChangeAlone::InTransaction);
    };
    // Every row, so that every statement runs (to `COMMIT`): the update's is the only one.
    let changed: Vec<Row> = q.fetch_all(alone.conn()).await?;
    alone.committed();
    Ok(match changed.into_iter().next() {
        Some(row) => ChangeAlone::Changed(Box::new(row.into())),
        None => ChangeAlone::NotApplied,
    })
}
