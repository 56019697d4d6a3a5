//! A contact's creation from the API: one durable write, and the creates of one workspace
//! that meet on their way go together ([`crate::batching`]): on PostgreSQL one statement
//! outside any transaction, on SQLite one transaction on the writer.
//!
//! A create is a new row in five tables (the contact, its e-mail and tag keys, its search
//! row, the audit event) and some fifteen index entries. What PostgreSQL spends on one alone
//! is mostly the statement's (a round trip, the executor's start for each table and index,
//! the search row's trigger, the commit), not the rows': concurrent creates that share a
//! statement share those.

use super::arrays::{self, ContactArrays, bind_contact_arrays, key_arrays};
use super::{
    COLUMNS, Command, INSERT_COLUMNS, IndexTable, NewRow, Row, by_id, pg_search_rest,
    sqlite_insert_audited_command, sqlite_insert_audited_many,
};
use crate::audit::{self, AuditEvent, EventArrays, bind_event_arrays};
use crate::batching::{Joined, Queues, Together};
use crate::db::Db;
use crate::group_commit::GroupWriter;
use crate::single_reads::Readers;
use crate::tx::{PG_STATEMENT_TENANT, connection_lost, sqlite_tenant_write};
use crate::{Result, StoreError};
use carnet_core::contact::{Contact, ContactInput};
use carnet_core::{ContactId, TenantId};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::LazyLock;
use uuid::Uuid;

/// The most creates (alone or together) of one workspace on their way at once, on either
/// backend (on SQLite, 1 did as well as 2; 3 and 4 did worse).
const MOST_IN_FLIGHT: usize = 2;

/// The most creates one statement carries.
const MOST_PER_STATEMENT: usize = 32;

/// What [`create`] came to.
#[derive(Debug)]
pub enum Creation {
    Stored(Box<Contact>),
    /// The contact's owner is not a member of the workspace: nothing was written.
    OwnerNotMember,
}

/// Stores a new contact (version 1), its e-mail and tag index rows and the audit `event` of
/// its creation, durably, if its owner (when it has one) is a member of the workspace.
///
/// PostgreSQL: one statement outside any transaction (`PG_CREATE`), one round trip; or,
/// when two creates of the workspace are already on their way, one statement with the others
/// that arrive meanwhile (`PG_CREATE_MANY`). Sent again on a fresh connection when the
/// server dropped the one it went on; should the first sending have been stored after all,
/// the contact's own id then conflicts, and the contact stored is the answer. SQLite: a write
/// transaction on the writer (its commit may be shared), of its own or, as on PostgreSQL,
/// with the others that arrive while two are on their way: those cost the writer one
/// command (a statement per table) for them all, instead of a transaction each.
pub async fn create(
    db: &Db,
    tenant: TenantId,
    id: ContactId,
    input: &ContactInput,
    created_by: Option<Uuid>,
    now: DateTime<Utc>,
    event: &AuditEvent,
) -> Result<Creation> {
    let waiting = || Waiting {
        id,
        input: input.clone(),
        created_by,
        now,
        event: event.clone(),
    };
    let (Db::Sqlite { creates, .. } | Db::Postgres { creates, .. }) = db;
    let (place, unanswered) = match creates.join(tenant, waiting).await {
        Joined::Answered(creation) => return Ok(creation),
        Joined::Alone(place) => (Some(place), false),
        Joined::Unanswered => (None, true),
    };
    let creation = match db {
        // Alone, in a write transaction on the writer ([`sqlite_store`]): one command for the
        // contact, its index rows and its event, its owner checked there. One whose
        // transaction with others failed was not stored (that transaction left nothing).
        Db::Sqlite { writer, .. } => {
            let row = NewRow {
                id,
                input,
                created_by,
                now,
            };
            sqlite_store(writer, tenant, &[(row, event)])
                .await
                .map(|stored| match stored.into_iter().next() {
                    Some(contact) => Creation::Stored(Box::new(contact)),
                    None => Creation::OwnerNotMember,
                })
        }
        // One whose statement with others failed may have been stored (a connection lost
        // at its end).
        Db::Postgres { write_conns, .. } => {
            let mut sent = Sent {
                db,
                conns: write_conns,
                tenant,
                id,
                maybe_stored: unanswered,
            };
            sent.alone(input, created_by, now, event).await
        }
    };
    // The place held until now: the creates that arrived meanwhile waited, and go together.
    drop(place);
    creation
}

/// SQLite: `creates` together ([`sqlite_store`]).
async fn sqlite_together(
    writer: &GroupWriter,
    tenant: TenantId,
    creates: &[Waiting],
) -> Result<Vec<Contact>> {
    let rows: Vec<(NewRow<'_>, &AuditEvent)> = creates
        .iter()
        .map(|w| {
            let row = NewRow {
                id: w.id,
                input: &w.input,
                created_by: w.created_by,
                now: w.now,
            };
            (row, &w.event)
        })
        .collect();
    sqlite_store(writer, tenant, &rows).await
}

/// SQLite: new contacts, each with the event of its creation, in one write transaction on
/// the writer and one command for them all ([`sqlite_insert_audited_many`], which writes
/// only those whose owner is none or a member of the workspace): the contacts stored. Any
/// error leaves none of them written.
///
/// When no transaction is open on the writer, the command is the transaction (`BEGIN`, the
/// statements, `COMMIT`): one hand-over to the writer's thread instead of three. Otherwise it
/// joins the open one and shares its commit ([`GroupWriter::begin`]).
async fn sqlite_store(
    writer: &GroupWriter,
    tenant: TenantId,
    creates: &[(NewRow<'_>, &AuditEvent)],
) -> Result<Vec<Contact>> {
    if let Some(mut alone) = writer.alone().await? {
        let stored =
            sqlite_insert_audited_command(alone.conn(), tenant, creates, Command::OwnTransaction)
                .await?;
        alone.committed();
        return Ok(stored);
    }
    let mut tx = sqlite_tenant_write(writer, tenant).await?;
    let stored = sqlite_insert_audited_many(&mut tx, creates).await?;
    tx.commit().await?;
    Ok(stored)
}

/// A create on its way alone, and whether a sending before may have stored it.
struct Sent<'a> {
    db: &'a Db,
    conns: &'a Readers<PgConnection>,
    tenant: TenantId,
    id: ContactId,
    maybe_stored: bool,
}

impl Sent<'_> {
    /// Sends [`PG_CREATE`], again on a fresh connection when the server dropped the one it
    /// went on.
    async fn alone(
        &mut self,
        input: &ContactInput,
        created_by: Option<Uuid>,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Creation> {
        let search = input.search_text();
        let rest = pg_search_rest(input, &search);
        let (email_keys, tag_keys) = (input.email_keys(), input.tag_keys());
        let mut attempts = self.conns.max() + 1;
        loop {
            attempts -= 1;
            let mut conn = self.conns.acquire().await?;
            let q = bind_row!(
                sqlx::query_as(&PG_CREATE),
                self.tenant.0,
                self.id,
                input,
                &search,
                now
            )
            .bind(created_by)
            .bind(&rest)
            .bind(&email_keys)
            .bind(&tag_keys);
            let row: std::result::Result<Option<Row>, _> = audit::bind_event!(q, event)
                .fetch_optional(&mut *conn)
                .await;
            conn.settle(&row);
            match row {
                Ok(Some(row)) => return Ok(Creation::Stored(Box::new(row.into()))),
                Ok(None) => return Ok(Creation::OwnerNotMember),
                Err(e) if attempts > 0 && connection_lost(&e) => self.maybe_stored = true,
                Err(e) => return self.settle(StoreError::from(e)).await,
            }
        }
    }

    /// The error of a sending: a conflict on a create that may have been stored before is
    /// the contact stored, if it is there (its id is new: nothing else holds it).
    async fn settle(&self, e: StoreError) -> Result<Creation> {
        if self.maybe_stored
            && matches!(e, StoreError::Conflict(_))
            && let Some(stored) = by_id(self.db, self.tenant, self.id).await?
        {
            return Ok(Creation::Stored(Box::new(stored)));
        }
        Err(e)
    }
}

/// PostgreSQL: the statement of a create alone. It sets the tenant for its own transaction
/// ([`PG_STATEMENT_TENANT`]), writes the contact only when its owner (`$11`) is none or a
/// member of tenant `$1`, and, for the contact it wrote, its index rows and the event: the
/// parts that write read from `tenant` or from `new`.
static PG_CREATE: LazyLock<String> = LazyLock::new(|| {
    let for_new = |keys: &str| {
        format!("SELECT $1, new.id, k.value FROM new, unnest({keys}::text[]) AS k(value)")
    };
    format!(
        "WITH {PG_STATEMENT_TENANT},
         new AS (
            INSERT INTO contacts ({INSERT_COLUMNS})
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, $15, $15,
                $16, $17
            FROM tenant
            WHERE $11::uuid IS NULL
               OR EXISTS (SELECT FROM memberships m WHERE m.tenant_id = $1 AND m.user_id = $11)
            RETURNING {COLUMNS}),
         emails AS ({} {}),
         tags AS ({} {}),
         audit AS ({})
         SELECT * FROM new",
        IndexTable::Emails.insert_into(),
        for_new("$18"),
        IndexTable::Tags.insert_into(),
        for_new("$19"),
        audit::insert_one_for_each_sql(20, "new"),
    )
});

/// PostgreSQL: the statement of creates that go together, as [`PG_CREATE`] for each, their
/// columns bound as arrays: the contacts from `$2` ([`arrays::rows_sql`]), their e-mail and
/// tag keys from `$18` and `$20`, their events from `$22`. It answers the contacts written;
/// one it does not answer had an owner who is not a member.
static PG_CREATE_MANY: LazyLock<String> = LazyLock::new(|| {
    let for_new = |table: IndexTable, first: usize| {
        format!(
            "{} SELECT $1, k.contact_id, k.value FROM {} JOIN new ON new.id = k.contact_id",
            table.insert_into(),
            arrays::keys_sql(first)
        )
    };
    format!(
        "WITH {PG_STATEMENT_TENANT},
         new AS (
            INSERT INTO contacts ({INSERT_COLUMNS})
            SELECT {} FROM tenant, {}
            WHERE t.owner_id IS NULL
               OR EXISTS (SELECT FROM memberships m WHERE m.tenant_id = $1 AND m.user_id = t.owner_id)
            RETURNING {COLUMNS}),
         emails AS ({}),
         tags AS ({}),
         audit AS (INSERT INTO audit_events ({}) SELECT {} FROM {} JOIN new ON new.id = e.entity_id)
         SELECT * FROM new",
        arrays::ROW,
        arrays::rows_sql(2),
        for_new(IndexTable::Emails, 18),
        for_new(IndexTable::Tags, 20),
        audit::COLUMNS,
        audit::EVENT_ROW,
        audit::event_rows_sql(22),
    )
});

/// The creates of one workspace waiting to go together.
pub(crate) type CreateBatches = Queues<Creates>;

/// Where creates that go together are sent.
#[derive(Debug)]
pub enum Creates {
    /// One statement, on one of these connections (given back without sqlx's test round
    /// trip: [`crate::single_reads`]).
    Postgres(Arc<Readers<PgConnection>>),
    /// One write transaction on the writer.
    Sqlite(Arc<GroupWriter>),
}

/// The queues of creates going to `to`.
pub(crate) fn create_batches(to: Creates) -> CreateBatches {
    Queues::new(to, MOST_IN_FLIGHT, MOST_PER_STATEMENT)
}

/// A create waiting for its statement: what [`create`] was given.
#[derive(Debug)]
pub struct Waiting {
    id: ContactId,
    input: ContactInput,
    created_by: Option<Uuid>,
    now: DateTime<Utc>,
    event: AuditEvent,
}

impl Together for Creates {
    type Key = TenantId;
    type Item = Waiting;
    type Answer = Creation;

    /// Each create has an id of its own: none clashes with another.
    fn clash(_: &Waiting, _: &Waiting) -> bool {
        false
    }

    async fn send(&self, tenant: TenantId, creates: &[Waiting]) -> Option<Vec<Creation>> {
        let stored = match self {
            Creates::Postgres(conns) => pg_together(conns, tenant, creates).await,
            Creates::Sqlite(writer) => sqlite_together(writer, tenant, creates).await,
        };
        let mut stored: HashMap<ContactId, Contact> =
            stored.ok()?.into_iter().map(|c| (c.id, c)).collect();
        Some(
            creates
                .iter()
                .map(|w| match stored.remove(&w.id) {
                    Some(contact) => Creation::Stored(Box::new(contact)),
                    None => Creation::OwnerNotMember,
                })
                .collect(),
        )
    }
}

/// PostgreSQL: `creates` in one statement ([`PG_CREATE_MANY`]): the contacts stored (those
/// whose owner is none or a member of the workspace).
async fn pg_together(
    conns: &Readers<PgConnection>,
    tenant: TenantId,
    creates: &[Waiting],
) -> Result<Vec<Contact>> {
    let mut contacts = ContactArrays::default();
    for w in creates {
        contacts.push(w.id, &w.input, w.created_by, w.now);
    }
    let inputs = || creates.iter().map(|w| (w.id, &w.input));
    let (email_ids, email_keys) = key_arrays(IndexTable::Emails, inputs());
    let (tag_ids, tag_keys) = key_arrays(IndexTable::Tags, inputs());
    let events = EventArrays::new(creates.iter().map(|w| &w.event));
    let q = bind_contact_arrays!(sqlx::query_as(&PG_CREATE_MANY).bind(tenant.0), contacts)
        .bind(&email_ids)
        .bind(&email_keys)
        .bind(&tag_ids)
        .bind(&tag_keys);
    let mut conn = conns.acquire().await?;
    let rows = bind_event_arrays!(q, events).fetch_all(&mut *conn).await;
    conn.settle(&rows);
    let rows: Vec<Row> = rows?;
    Ok(rows.into_iter().map(Contact::from).collect())
}
