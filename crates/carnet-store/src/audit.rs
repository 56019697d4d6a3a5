//! The audit log: append-only; there is no function to change or remove an event.

use crate::Result;
use crate::params::{MAX_PARAMS, positional, values_rows};
use crate::tx::{TenantTx, Tx, on_conn};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One recorded change.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AuditEvent {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// `user`, `api_key` or `system`.
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    /// `create`, `update`, `delete`, `restore`, …
    pub action: String,
    pub entity: String,
    pub entity_id: Option<Uuid>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    /// The names of the fields the change touched.
    #[sqlx(json)]
    pub changes: Vec<String>,
}

pub async fn append(tx: &mut TenantTx, event: &AuditEvent) -> Result<()> {
    append_many(tx, std::slice::from_ref(event)).await
}

/// The columns of an event.
const COLUMNS: &str = "tenant_id, id, occurred_at, actor_kind, actor_id, action, entity, entity_id, ip, request_id, changes";

/// An `INSERT` of one event of tenant `$1`, its other columns bound by [`bind_event!`] from
/// parameter `$first` on; for a statement that writes the change and its event together.
pub(crate) fn insert_one_sql(first: usize) -> String {
    format!(
        "INSERT INTO audit_events ({COLUMNS}) VALUES ({})",
        event_values(first)
    )
}

/// [`insert_one_sql`] written once for each row of `source` (a part of the same statement):
/// none when the change it records wrote nothing.
pub(crate) fn insert_one_for_each_sql(first: usize, source: &str) -> String {
    format!(
        "INSERT INTO audit_events ({COLUMNS}) SELECT {} FROM {source}",
        event_values(first)
    )
}

/// `$1` (the tenant) and the ten placeholders from `$first` on, in [`COLUMNS`]' order.
fn event_values(first: usize) -> String {
    let values: Vec<String> = (first..first + 10).map(|n| format!("${n}")).collect();
    format!("$1, {}", values.join(", "))
}

/// Binds the columns of [`insert_one_sql`] from the event `$e`. Expanded once per backend.
macro_rules! bind_event {
    ($query:expr, $e:expr) => {{
        let e: &$crate::audit::AuditEvent = $e;
        $query
            .bind(e.id)
            .bind(e.occurred_at)
            .bind(&e.actor_kind)
            .bind(e.actor_id)
            .bind(&e.action)
            .bind(&e.entity)
            .bind(e.entity_id)
            .bind(&e.ip)
            .bind(&e.request_id)
            .bind(sqlx::types::Json(&e.changes))
    }};
}
pub(crate) use bind_event;

/// Appends many events in a few multi-row statements (imports).
pub async fn append_many(tx: &mut TenantTx, events: &[AuditEvent]) -> Result<()> {
    const WIDTH: usize = 11;
    let tenant = tx.tenant().0;
    if let Tx::Postgres(c) = &mut tx.tx {
        return append_many_pg(c, tenant, events).await;
    }
    for chunk in events.chunks(MAX_PARAMS / WIDTH) {
        let sql = positional(
            &tx.tx,
            &format!(
                "INSERT INTO audit_events ({COLUMNS}) VALUES {}",
                values_rows(chunk.len(), "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            ),
        );
        on_conn!(&mut tx.tx, |c| {
            let mut q = sqlx::query(&sql);
            for event in chunk {
                q = bind_event!(q.bind(tenant), event);
            }
            q.execute(c).await?;
        });
    }
    Ok(())
}

/// PostgreSQL: the events of [`append_many`] as one `INSERT … SELECT FROM unnest(…)`.
async fn append_many_pg(
    c: &mut sqlx::PgConnection,
    tenant: Uuid,
    events: &[AuditEvent],
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&AuditEvent) -> Option<Uuid>| events.iter().map(f).collect::<Vec<_>>();
    let text = |f: fn(&AuditEvent) -> Option<&str>| events.iter().map(f).collect::<Vec<_>>();
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let times: Vec<DateTime<Utc>> = events.iter().map(|e| e.occurred_at).collect();
    let changes: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(&e.changes).unwrap_or_else(|_| "[]".into()))
        .collect();
    sqlx::query(
        &format!("INSERT INTO audit_events ({COLUMNS})
         SELECT $1, t.id, t.occurred_at, t.actor_kind, t.actor_id, t.action, t.entity, t.entity_id, t.ip, t.request_id, t.changes::jsonb
         FROM unnest($2::uuid[], $3::timestamptz[], $4::text[], $5::uuid[], $6::text[], $7::text[], $8::uuid[],
                     $9::text[], $10::text[], $11::text[])
           AS t(id, occurred_at, actor_kind, actor_id, action, entity, entity_id, ip, request_id, changes)"),
    )
    .bind(tenant)
    .bind(&ids)
    .bind(&times)
    .bind(text(|e| Some(e.actor_kind.as_str())))
    .bind(column(|e| e.actor_id))
    .bind(text(|e| Some(e.action.as_str())))
    .bind(text(|e| Some(e.entity.as_str())))
    .bind(column(|e| e.entity_id))
    .bind(text(|e| e.ip.as_deref()))
    .bind(text(|e| e.request_id.as_deref()))
    .bind(&changes)
    .execute(c)
    .await?;
    Ok(())
}

/// Every event of the tenant in id (time) order, `limit` at a time after `after`.
pub async fn page_after(
    tx: &mut TenantTx,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<AuditEvent>> {
    let tenant = tx.tenant().0;
    Ok(on_conn!(&mut tx.tx, |c| {
        sqlx::query_as(
            "SELECT id, occurred_at, actor_kind, actor_id, action, entity, entity_id, ip, request_id, changes
             FROM audit_events WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
        )
        .bind(tenant)
        .bind(after)
        .bind(limit)
        .fetch_all(c)
        .await?
    }))
}

/// The tenant's most recent events, newest first.
pub async fn recent(tx: &mut TenantTx, limit: i64) -> Result<Vec<AuditEvent>> {
    let tenant = tx.tenant().0;
    Ok(on_conn!(&mut tx.tx, |c| {
        sqlx::query_as(
            "SELECT id, occurred_at, actor_kind, actor_id, action, entity, entity_id, ip, request_id, changes
             FROM audit_events WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(tenant)
        .bind(limit)
        .fetch_all(c)
        .await?
    }))
}

/// The events about one record, newest first (the record's timeline).
pub async fn for_entity(
    tx: &mut TenantTx,
    entity: &str,
    id: Uuid,
    limit: i64,
) -> Result<Vec<AuditEvent>> {
    let tenant = tx.tenant().0;
    Ok(on_conn!(&mut tx.tx, |c| {
        sqlx::query_as(
            "SELECT id, occurred_at, actor_kind, actor_id, action, entity, entity_id, ip, request_id, changes
             FROM audit_events WHERE tenant_id = $1 AND entity = $2 AND entity_id = $3
             ORDER BY id DESC LIMIT $4",
        )
        .bind(tenant)
        .bind(entity)
        .bind(id)
        .bind(limit)
        .fetch_all(c)
        .await?
    }))
}
