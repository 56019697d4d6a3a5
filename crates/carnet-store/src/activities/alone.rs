//! PostgreSQL: an activity's creation from the API as one statement outside any
//! transaction, on the connections of single-statement writes (`Db::Postgres::write_conns`,
//! as contacts' creates and changes go), instead of a transaction of some six round trips
//! (`BEGIN` with the workspace, the owner's and the contact's checks, the insert, the audit
//! event, `COMMIT`, and sqlx's test of the connection given back to its pool).
//!
//! The activity and its event are written only if its owner (when it has one) is a member of
//! the workspace and its contact (when it has one) a live contact of it; otherwise nothing
//! is, and the caller goes in a transaction, which checks again and says what is wrong.

use super::{COLUMNS, Row, by_id};
use crate::audit::{self, AuditEvent};
use crate::db::Db;
use crate::tx::{PG_STATEMENT_TENANT, connection_lost};
use crate::{Result, StoreError};
use carnet_core::activity::{Activity, ActivityInput};
use carnet_core::{ActivityId, TenantId};
use chrono::{DateTime, Utc};
use std::sync::LazyLock;
use uuid::Uuid;

/// What [`create_alone`] came to.
#[derive(Debug)]
pub enum ActivityAlone {
    Stored(Box<Activity>),
    /// Nothing written: its owner is not a member of the workspace, or its contact not a
    /// live contact of it.
    Refused,
    /// Not tried: on SQLite activities are created in transactions on the writer, which
    /// share their commits.
    InTransaction,
}

/// The statement: it sets the workspace for its own transaction ([`PG_STATEMENT_TENANT`]),
/// then writes activity `$2` of workspace `$1` (its fields from `$3` to `$11` as
/// `bind_input!` binds them, `$12` its creator, `$13` the time) if its owner (`$11`) is none
/// or a member and its contact (`$10`) none or a live contact, and the event (`$14`–`$23`)
/// for the activity it wrote. The contact is looked for once the workspace is set: its
/// condition reads the `tenant` row, so it is evaluated for that row, not before.
static CREATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {PG_STATEMENT_TENANT},
         new AS (
            INSERT INTO activities (tenant_id, id, kind, subject, description, location,
                starts_at, ends_at, done, contact_id, owner_id, created_by, created_at, updated_at)
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13
            FROM tenant AS t(set_to)
            WHERE ($11::uuid IS NULL
                   OR EXISTS (SELECT FROM memberships m WHERE m.tenant_id = $1 AND m.user_id = $11))
              AND ($10::uuid IS NULL
                   OR EXISTS (SELECT FROM contacts c
                              WHERE c.tenant_id = $1 AND c.id = $10 AND c.deleted_at IS NULL
                                AND t.set_to IS NOT NULL))
            RETURNING {COLUMNS}),
         audit AS ({})
         SELECT * FROM new",
        audit::insert_one_for_each_sql(14, "new"),
    )
});

/// Stores a new activity (version 1) and the audit `event` of its creation, durably, if its
/// owner and its contact, when it names them, are a member and a live contact of the
/// workspace: on PostgreSQL, as one statement outside any transaction. Sent again on another
/// connection when the server dropped the one it went on; should the first sending have
/// been stored after all, the activity's own id then conflicts, and the activity stored is
/// the answer.
pub async fn create_alone(
    db: &Db,
    tenant: TenantId,
    id: ActivityId,
    input: &ActivityInput,
    created_by: Option<Uuid>,
    now: DateTime<Utc>,
    event: &AuditEvent,
) -> Result<ActivityAlone> {
    let Db::Postgres { write_conns, .. } = db else {
        return Ok(ActivityAlone::InTransaction);
    };
    let mut attempts = write_conns.max() + 1;
    let mut maybe_stored = false;
    loop {
        attempts -= 1;
        let mut conn = write_conns.acquire().await?;
        let q = bind_input!(sqlx::query_as(&CREATE).bind(tenant.0).bind(id.0), input)
            .bind(created_by)
            .bind(now);
        let row: std::result::Result<Option<Row>, _> = audit::bind_event!(q, event)
            .fetch_optional(&mut *conn)
            .await;
        conn.settle(&row);
        match row {
            Ok(Some(row)) => return Ok(ActivityAlone::Stored(Box::new(row.try_into()?))),
            Ok(None) => return Ok(ActivityAlone::Refused),
            Err(e) if attempts > 0 && connection_lost(&e) => maybe_stored = true,
            Err(e) => match StoreError::from(e) {
                // Its id is new: only a sending before can hold it.
                StoreError::Conflict(_) if maybe_stored => {
                    if let Some(stored) = by_id(db, tenant, id).await? {
                        return Ok(ActivityAlone::Stored(Box::new(stored)));
                    }
                    return Err(StoreError::Conflict(format!("activity {}", id.0)));
                }
                e => return Err(e),
            },
        }
    }
}
