//! PostgreSQL: a change to one contact written as one statement outside any transaction, on
//! the connections of single-statement writes (`Db::Postgres::write_conns`, which creates
//! use too), the contact read before.
//!
//! A change in a transaction costs its `BEGIN`, the read for update, each write, the commit
//! and sqlx's test of the connection given back to its pool: some seven round trips. Sent
//! alone it is one: the contact's row, only if it is still at the version read (and its new
//! owner, if any, a member of the workspace); its audit event and its e-mail and tag key
//! rows, only for the row it changed. So all of it is written, or none of it, and the
//! caller then goes in a transaction, which decides again.
//!
//! The statement runs under the workspace the connection's session holds, and goes as single
//! reads do ([`PgSingle`]): when it changes nothing, the session is set to the workspace,
//! and if it held another the statement is sent again.

use super::alone::ChangeAlone;
use super::{COLUMNS, IndexTable, Row, UPDATE_SET, by_id, pg_search_rest, trash_update};
use crate::Result;
use crate::audit::{self, AuditEvent};
use crate::db::Db;
use crate::single_reads::{Reader, Readers};
use crate::tx::PgSingle;
use carnet_core::contact::{Contact, ContactInput};
use carnet_core::{ContactId, TenantId};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgConnection, Postgres};
use std::sync::{Arc, LazyLock};
use uuid::Uuid;

/// A statement of [`send`], its binds made again for each sending.
type Statement<'q> = QueryAs<'q, Postgres, Row, PgArguments>;

/// The update of contact `$2` of workspace `$1` (the row from `$3` to `$15` as `bind_row!`
/// binds it, `$16` the version read, `$17` the search text's rest), if it is live at that
/// version and its owner (`$11`) is none or a member; for the row it changed, the event
/// (`$18`–`$27`) and the key rows: those of each table not among its new keys (`$28`
/// e-mails, `$30` tags) deleted, those of the new keys not among the old ones (`$29`, `$31`)
/// inserted; none of a table whose keys are bound NULL (they do not change). The two never
/// touch the same key, so their order within the statement does not matter.
static UPDATE: LazyLock<String> = LazyLock::new(|| {
    let rewrite = |table: IndexTable, new: usize, old: usize| {
        let (name, key) = (table.name(), table.key_column());
        format!(
            "{name}_gone AS (
                DELETE FROM {name} k
                WHERE k.tenant_id = $1 AND k.contact_id = $2 AND k.{key} <> ALL (${new}::text[])
                  AND EXISTS (SELECT FROM changed)),
             {name}_added AS (
                {} SELECT $1, $2, v.key FROM changed, unnest(${new}::text[]) AS v(key)
                WHERE v.key <> ALL (${old}::text[]))",
            table.insert_into()
        )
    };
    format!(
        "WITH changed AS (
            UPDATE contacts SET {UPDATE_SET}, search_rest = $17
            WHERE tenant_id = $1 AND id = $2 AND version = $16 AND deleted_at IS NULL
              AND ($11::uuid IS NULL
                   OR EXISTS (SELECT FROM memberships m WHERE m.tenant_id = $1 AND m.user_id = $11))
            RETURNING {COLUMNS}),
         audit AS ({}),
         {},
         {}
         SELECT * FROM changed",
        audit::insert_one_for_each_sql(18, "changed"),
        rewrite(IndexTable::Emails, 28, 29),
        rewrite(IndexTable::Tags, 30, 31),
    )
});

/// The move of contact `$2` of workspace `$1` to the trash (`trashed`, at `$3`) or out of
/// it, at `$4`, if it is at version `$5` and in the other state; for the row it changed, the
/// event (`$6`–`$15`).
fn trash_sql(trashed: bool) -> &'static str {
    static SQL: LazyLock<[String; 2]> = LazyLock::new(|| {
        [false, true].map(|trashed| {
            format!(
                "WITH changed AS ({} AND version = $5 RETURNING {COLUMNS}),
                 audit AS ({})
                 SELECT * FROM changed",
                trash_update(trashed),
                audit::insert_one_for_each_sql(6, "changed"),
            )
        })
    });
    &SQL[usize::from(trashed)]
}

/// [`super::update_alone`] on PostgreSQL.
pub(super) async fn update(
    db: &Db,
    conns: &Arc<Readers<PgConnection>>,
    tenant: TenantId,
    current: &Contact,
    input: &ContactInput,
    now: DateTime<Utc>,
    event: &AuditEvent,
) -> Result<ChangeAlone> {
    let search = input.search_text();
    let rest = pg_search_rest(input, &search);
    // The new keys and the old of each table whose keys change; none for the others, whose
    // rows stay as they are (most edits touch neither e-mails nor tags).
    let [emails, tags] = [IndexTable::Emails, IndexTable::Tags].map(|table| {
        let new = table.keys(&input.emails, &input.tags);
        let old = table.keys(&current.emails, &current.tags);
        (new != old).then_some((new, old))
    });
    let [(new_emails, old_emails), (new_tags, old_tags)] =
        [&emails, &tags].map(|keys| (keys.as_ref().map(|k| &k.0), keys.as_ref().map(|k| &k.1)));
    let statement = || {
        let q = bind_row!(
            sqlx::query_as(&UPDATE),
            tenant.0,
            current.id,
            input,
            &search,
            now
        )
        .bind(current.version)
        .bind(&rest);
        audit::bind_event!(q, event)
            .bind(new_emails)
            .bind(old_emails)
            .bind(new_tags)
            .bind(old_tags)
    };
    send(db, conns, tenant, current.id, event.id, statement).await
}

/// [`super::set_trashed_alone`] on PostgreSQL.
pub(super) async fn set_trashed(
    db: &Db,
    conns: &Arc<Readers<PgConnection>>,
    tenant: TenantId,
    current: &Contact,
    trashed: bool,
    now: DateTime<Utc>,
    event: &AuditEvent,
) -> Result<ChangeAlone> {
    let statement = || {
        let q = sqlx::query_as(trash_sql(trashed))
            .bind(tenant.0)
            .bind(current.id.0)
            .bind(trashed.then_some(now))
            .bind(now)
            .bind(current.version);
        audit::bind_event!(q, event)
    };
    send(db, conns, tenant, current.id, event.id, statement).await
}

/// Sends the change `statement` makes for contact `id` of `tenant`, whose audit event is
/// `event`, as single reads go ([`PgSingle::settle`]): when it changes nothing and the
/// connection's session held another workspace, the session is set to `tenant` and the
/// statement sent again; when the server dropped the connection, it is sent again on a fresh
/// one. Should the first sending have been written after all, the change then finds the
/// contact at a newer version; the event, whose id is new, tells it was this change, and the
/// contact as stored is the answer.
async fn send<'q>(
    db: &Db,
    conns: &Arc<Readers<PgConnection>>,
    tenant: TenantId,
    id: ContactId,
    event: Uuid,
    statement: impl Fn() -> Statement<'q>,
) -> Result<ChangeAlone> {
    let mut single = PgSingle::lend(conns).await?;
    let changed = loop {
        let outcome = statement().fetch_optional(&mut **single.conn()).await;
        if let Some(changed) = single.settle(tenant, outcome, Option::is_none).await? {
            break changed;
        }
    };
    Ok(match changed {
        Some(row) => ChangeAlone::Changed(Box::new(row.into())),
        None if single.sent_again() && event_written(single.conn(), tenant, event).await? => {
            match by_id(db, tenant, id).await? {
                Some(stored) => ChangeAlone::Changed(Box::new(stored)),
                None => ChangeAlone::NotApplied,
            }
        }
        None => ChangeAlone::NotApplied,
    })
}

/// Whether `tenant`'s audit log holds `event` (read under the workspace the session holds:
/// [`send`] set it).
async fn event_written(
    conn: &mut Reader<PgConnection>,
    tenant: TenantId,
    event: Uuid,
) -> Result<bool> {
    let found: std::result::Result<(bool,), _> =
        sqlx::query_as("SELECT EXISTS (SELECT FROM audit_events WHERE tenant_id = $1 AND id = $2)")
            .bind(tenant.0)
            .bind(event)
            .fetch_one(&mut **conn)
            .await;
    conn.settle(&found);
    Ok(found?.0)
}
