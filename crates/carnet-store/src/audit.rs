//! The audit log: append-only; there is no function to change or remove an event.

use crate::Result;
use crate::params::{MAX_PARAMS, positional, unnest_rows, values_rows};
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
pub(crate) const COLUMNS: &str = "tenant_id, id, occurred_at, actor_kind, actor_id, action, entity, entity_id, ip, request_id, changes";

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
pub(crate) fn event_values(first: usize) -> String {
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
    let arrays = EventArrays::new(events.iter());
    let sql = format!(
        "INSERT INTO audit_events ({COLUMNS}) SELECT {EVENT_ROW} FROM {}",
        event_rows_sql(2)
    );
    bind_event_arrays!(sqlx::query(&sql).bind(tenant), arrays)
        .execute(c)
        .await?;
    Ok(())
}

/// PostgreSQL: events bound as one array per column from `$first` on
/// ([`bind_event_arrays!`]), as the rows `e` of a `FROM`.
pub(crate) fn event_rows_sql(first: usize) -> String {
    unnest_rows(
        first,
        "e",
        &[
            ("id", "uuid"),
            ("occurred_at", "timestamptz"),
            ("actor_kind", "text"),
            ("actor_id", "uuid"),
            ("action", "text"),
            ("entity", "text"),
            ("entity_id", "uuid"),
            ("ip", "text"),
            ("request_id", "text"),
            ("changes", "text"),
        ],
    )
}

/// The columns of an event of [`event_rows_sql`] for tenant `$1`, in [`COLUMNS`]' order.
pub(crate) const EVENT_ROW: &str = "$1, e.id, e.occurred_at, e.actor_kind, e.actor_id, e.action, \
     e.entity, e.entity_id, e.ip, e.request_id, e.changes::jsonb";

/// PostgreSQL: events as one array per column, for [`event_rows_sql`].
pub(crate) struct EventArrays<'a> {
    pub(crate) ids: Vec<Uuid>,
    pub(crate) times: Vec<DateTime<Utc>>,
    pub(crate) actor_kinds: Vec<&'a str>,
    pub(crate) actor_ids: Vec<Option<Uuid>>,
    pub(crate) actions: Vec<&'a str>,
    pub(crate) entities: Vec<&'a str>,
    pub(crate) entity_ids: Vec<Option<Uuid>>,
    pub(crate) ips: Vec<Option<&'a str>>,
    pub(crate) request_ids: Vec<Option<&'a str>>,
    /// JSON text.
    pub(crate) changes: Vec<String>,
}

impl<'a> EventArrays<'a> {
    pub(crate) fn new(events: impl ExactSizeIterator<Item = &'a AuditEvent>) -> Self {
        let n = events.len();
        let mut a = EventArrays {
            ids: Vec::with_capacity(n),
            times: Vec::with_capacity(n),
            actor_kinds: Vec::with_capacity(n),
            actor_ids: Vec::with_capacity(n),
            actions: Vec::with_capacity(n),
            entities: Vec::with_capacity(n),
            entity_ids: Vec::with_capacity(n),
            ips: Vec::with_capacity(n),
            request_ids: Vec::with_capacity(n),
            changes: Vec::with_capacity(n),
        };
        for e in events {
            a.ids.push(e.id);
            a.times.push(e.occurred_at);
            a.actor_kinds.push(&e.actor_kind);
            a.actor_ids.push(e.actor_id);
            a.actions.push(&e.action);
            a.entities.push(&e.entity);
            a.entity_ids.push(e.entity_id);
            a.ips.push(e.ip.as_deref());
            a.request_ids.push(e.request_id.as_deref());
            a.changes
                .push(serde_json::to_string(&e.changes).unwrap_or_else(|_| "[]".into()));
        }
        a
    }
}

/// Binds the arrays of [`event_rows_sql`] from an [`EventArrays`] `$a`.
macro_rules! bind_event_arrays {
    ($query:expr, $a:expr) => {{
        let a: &$crate::audit::EventArrays<'_> = &$a;
        $query
            .bind(&a.ids)
            .bind(&a.times)
            .bind(&a.actor_kinds)
            .bind(&a.actor_ids)
            .bind(&a.actions)
            .bind(&a.entities)
            .bind(&a.entity_ids)
            .bind(&a.ips)
            .bind(&a.request_ids)
            .bind(&a.changes)
    }};
}
pub(crate) use bind_event_arrays;

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
