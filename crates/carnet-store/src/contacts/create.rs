//! A contact's creation from the API: one durable write; on PostgreSQL one statement outside
//! any transaction, and the creates of one workspace that meet on their way go together, in
//! one statement ([`crate::batching`]).
//!
//! A create is a new row in five tables (the contact, its e-mail and tag keys, its search
//! row, the audit event) and some fifteen index entries. What PostgreSQL spends on one alone
//! is mostly the statement's (a round trip, the executor's start for each table and index,
//! the search row's trigger, the commit), not the rows': concurrent creates that share a
//! statement share those.

use super::arrays::{self, ContactArrays, bind_contact_arrays, key_arrays};
use super::{COLUMNS, INSERT_COLUMNS, IndexTable, Row, by_id, insert_audited};
use crate::audit::{self, AuditEvent, EventArrays, bind_event_arrays};
use crate::batching::{Joined, Queues, Together};
use crate::db::Db;
use crate::tx::{PG_STATEMENT_TENANT, connection_lost};
use crate::{Result, StoreError, search, users};
use carnet_core::contact::{Contact, ContactInput};
use carnet_core::{ContactId, TenantId};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::LazyLock;
use uuid::Uuid;

/// The most creates (alone or together) of one workspace on their way at once.
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
/// PostgreSQL: one statement outside any transaction ([`PG_CREATE`]), one round trip; or,
/// when two creates of the workspace are already on their way, one statement with the others
/// that arrive meanwhile ([`PG_CREATE_MANY`]). Sent again on a fresh connection when the
/// server dropped the one it went on; should the first sending have been stored after all,
/// the contact's own id then conflicts, and the contact stored is the answer. SQLite: a write
/// transaction on the writer (its commit may be shared).
pub async fn create(
    db: &Db,
    tenant: TenantId,
    id: ContactId,
    input: &ContactInput,
    created_by: Option<Uuid>,
    now: DateTime<Utc>,
    event: &AuditEvent,
) -> Result<Creation> {
    let (pool, creates) = match db {
        Db::Postgres { pool, creates, .. } => (pool, creates),
        Db::Sqlite { .. } => {
            let mut tx = db.tenant_write(tenant).await?;
            if let Some(owner) = input.owner_id
                && users::role_in(tx.control(), tenant, owner).await?.is_none()
            {
                return Ok(Creation::OwnerNotMember);
            }
            let contact = insert_audited(&mut tx, id, input, created_by, now, event).await?;
            tx.commit().await?;
            return Ok(Creation::Stored(Box::new(contact)));
        }
    };
    let waiting = || Waiting {
        id,
        input: input.clone(),
        created_by,
        now,
        event: event.clone(),
    };
    let (place, maybe_stored) = match creates.join(tenant, waiting).await {
        Joined::Answered(creation) => return Ok(creation),
        Joined::Alone(place) => (Some(place), false),
        // Its statement failed, perhaps once it had stored it (a connection lost at its end).
        Joined::Unanswered => (None, true),
    };
    let mut sent = Sent {
        db,
        pool,
        tenant,
        id,
        maybe_stored,
    };
    let creation = sent.alone(input, created_by, now, event).await;
    // The place held until now: the creates that arrived meanwhile waited, and go together.
    drop(place);
    creation
}

/// A create on its way alone, and whether a sending before may have stored it.
struct Sent<'a> {
    db: &'a Db,
    pool: &'a PgPool,
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
        let (last, first) = input.sort_keys();
        let rest = search::rest_text(&search, &last, &first);
        let (email_keys, tag_keys) = (input.email_keys(), input.tag_keys());
        let mut attempts = self.pool.options().get_max_connections() + 1;
        loop {
            attempts -= 1;
            let mut conn = self.pool.acquire().await?;
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

/// PostgreSQL: creates that go together, on the pool's connections.
#[derive(Debug)]
pub struct Creates {
    pool: PgPool,
}

/// The queues of creates going to `pool`.
pub(crate) fn create_batches(pool: PgPool) -> CreateBatches {
    Queues::new(Creates { pool }, MOST_IN_FLIGHT, MOST_PER_STATEMENT)
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
        let rows: Vec<Row> = bind_event_arrays!(q, events)
            .fetch_all(&self.pool)
            .await
            .ok()?;
        let mut stored: HashMap<Uuid, Row> = rows.into_iter().map(|r| (r.id, r)).collect();
        Some(
            creates
                .iter()
                .map(|w| match stored.remove(&w.id.0) {
                    Some(row) => Creation::Stored(Box::new(row.into())),
                    None => Creation::OwnerNotMember,
                })
                .collect(),
        )
    }
}
