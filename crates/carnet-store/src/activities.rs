//! Activities repository: rows and keyset-paginated lists by start time, scoped to one tenant.

use crate::Result;
use crate::batched_reads::by_ids_sql;
use crate::db::Db;
use crate::params::{MAX_PARAMS, Param, SqlBuilder, bind_params, positional, values_rows};
use crate::tx::{TenantTx, Tx, on_conn, record_by_id, row_by_id};
use carnet_core::activity::{Activity, ActivityInput, ActivityKind};
use carnet_core::{ActivityId, ContactId, TenantId, UserId};
use chrono::{DateTime, Utc};
use std::sync::LazyLock;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    kind: String,
    subject: String,
    description: Option<String>,
    location: Option<String>,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    done: bool,
    contact_id: Option<Uuid>,
    owner_id: Option<Uuid>,
    source_uid: Option<String>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

impl TryFrom<Row> for Activity {
    type Error = crate::StoreError;

    fn try_from(r: Row) -> Result<Self> {
        // The table's CHECK constraint admits only the four kinds.
        let kind: ActivityKind = r.kind.parse().map_err(|_| {
            crate::StoreError::Corrupt(format!("activity {} has kind {:?}", r.id, r.kind))
        })?;
        Ok(Activity {
            id: ActivityId(r.id),
            uid: r.source_uid.unwrap_or_else(|| r.id.to_string()),
            kind,
            subject: r.subject,
            description: r.description,
            location: r.location,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            done: r.done,
            contact_id: r.contact_id.map(ContactId),
            owner_id: r.owner_id.map(UserId),
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            deleted_at: r.deleted_at,
        })
    }
}

fn activities(rows: Vec<Row>) -> Result<Vec<Activity>> {
    rows.into_iter().map(Activity::try_from).collect()
}

/// Unqualified, so they serve in RETURNING clauses too.
const COLUMNS: &str = "id, kind, subject, description, location, starts_at, ends_at, done, \
     contact_id, owner_id, source_uid, version, created_at, updated_at, deleted_at";

/// Binds the writable fields in [`ActivityInput`] order. Expanded once per backend.
macro_rules! bind_input {
    ($query:expr, $input:expr) => {{
        $query
            .bind($input.kind.as_str())
            .bind(&$input.subject)
            .bind(&$input.description)
            .bind(&$input.location)
            .bind($input.starts_at)
            .bind($input.ends_at)
            .bind($input.done)
            .bind($input.contact_id.map(|c| c.0))
            .bind($input.owner_id.map(|o| o.0))
    }};
}

mod alone;

pub use alone::{ActivityAlone, create_alone};

/// Stores a new activity (version 1). `source_uid` is the UID it had in the calendar it was
/// imported from, if any.
pub async fn insert(
    tx: &mut TenantTx,
    id: ActivityId,
    input: &ActivityInput,
    source_uid: Option<&str>,
    created_by: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Activity> {
    let tenant = tx.tenant().0;
    let sql = format!(
        "INSERT INTO activities (tenant_id, id, kind, subject, description, location, starts_at, ends_at,
             done, contact_id, owner_id, source_uid, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
         RETURNING {COLUMNS}"
    );
    let row: Row = on_conn!(&mut tx.tx, |c| {
        bind_input!(sqlx::query_as(&sql).bind(tenant).bind(id.0), input)
            .bind(source_uid)
            .bind(created_by)
            .bind(now)
            .fetch_one(c)
            .await?
    });
    row.try_into()
}

/// An activity to store with [`insert_many`].
pub struct NewActivity<'a> {
    pub id: ActivityId,
    pub input: &'a ActivityInput,
}

/// Stores new activities (version 1) in multi-row statements: the demo seeder's bulk path.
pub async fn insert_many(
    tx: &mut TenantTx,
    activities: &[NewActivity<'_>],
    created_by: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<()> {
    const WIDTH: usize = 15;
    let tenant = tx.tenant().0;
    for chunk in activities.chunks(MAX_PARAMS / WIDTH) {
        let sql = positional(
            &tx.tx,
            &format!(
                "INSERT INTO activities (kind, subject, description, location, starts_at, ends_at, done,
                     contact_id, owner_id, tenant_id, id, created_by, created_at, updated_at, version)
                 VALUES {}",
                values_rows(chunk.len(), "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            ),
        );
        on_conn!(&mut tx.tx, |c| {
            let mut q = sqlx::query(&sql);
            for a in chunk {
                q = bind_input!(q, a.input)
                    .bind(tenant)
                    .bind(a.id.0)
                    .bind(created_by)
                    .bind(now)
                    .bind(now)
                    .bind(1_i64);
            }
            q.execute(c).await?;
        });
    }
    Ok(())
}

/// An activity by its id (`$1` the tenant, `$2` the id).
static BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {COLUMNS} FROM activities WHERE tenant_id = $1 AND id = $2"));

/// Activities by id on PostgreSQL (`$2` the array of ids).
static BY_IDS: LazyLock<String> = LazyLock::new(|| by_ids_sql(COLUMNS, "activities", "a"));

/// The activity, whether in the trash or not; `None` if this tenant has no such activity.
pub async fn get(tx: &mut TenantTx, id: ActivityId) -> Result<Option<Activity>> {
    get_with(tx, id, &BY_ID).await
}

/// [`get`] outside any transaction, for a request that reads nothing else (as
/// [`crate::contacts::by_id`]).
pub async fn by_id(db: &Db, tenant: TenantId, id: ActivityId) -> Result<Option<Activity>> {
    let row: Option<Row> = record_by_id(db, tenant, id.0, &BY_ID, &BY_IDS).await?;
    row.map(Activity::try_from).transpose()
}

/// An activity about to be changed in this transaction: locked on PostgreSQL until the
/// transaction ends (as [`crate::contacts::get_for_update`]).
pub async fn get_for_update(tx: &mut TenantTx, id: ActivityId) -> Result<Option<Activity>> {
    let lock = match tx.tx {
        Tx::Sqlite(_) => "",
        Tx::Postgres(_) => " FOR UPDATE",
    };
    let sql = format!("SELECT {COLUMNS} FROM activities WHERE tenant_id = $1 AND id = $2{lock}");
    get_with(tx, id, &sql).await
}

async fn get_with(tx: &mut TenantTx, id: ActivityId, sql: &str) -> Result<Option<Activity>> {
    let row: Option<Row> = row_by_id(tx, id.0, sql).await?;
    row.map(Activity::try_from).transpose()
}

/// The activity imported from another calendar under `uid`, if any.
pub async fn find_by_source_uid(tx: &mut TenantTx, uid: &str) -> Result<Option<Activity>> {
    let tenant = tx.tenant().0;
    let sql = format!("SELECT {COLUMNS} FROM activities WHERE tenant_id = $1 AND source_uid = $2");
    let row: Option<Row> = on_conn!(&mut tx.tx, |c| sqlx::query_as(&sql)
        .bind(tenant)
        .bind(uid)
        .fetch_optional(c)
        .await?);
    row.map(Activity::try_from).transpose()
}

/// Replaces the writable fields when the stored version is still `version`;
/// `None` when the activity changed meanwhile (or does not exist).
pub async fn update(
    tx: &mut TenantTx,
    id: ActivityId,
    version: i64,
    input: &ActivityInput,
    now: DateTime<Utc>,
) -> Result<Option<Activity>> {
    let tenant = tx.tenant().0;
    let sql = format!(
        "UPDATE activities SET kind = $1, subject = $2, description = $3, location = $4, starts_at = $5,
             ends_at = $6, done = $7, contact_id = $8, owner_id = $9, version = version + 1, updated_at = $10
         WHERE tenant_id = $11 AND id = $12 AND version = $13 AND deleted_at IS NULL
         RETURNING {COLUMNS}"
    );
    let row: Option<Row> = on_conn!(&mut tx.tx, |c| {
        bind_input!(sqlx::query_as(&sql), input)
            .bind(now)
            .bind(tenant)
            .bind(id.0)
            .bind(version)
            .fetch_optional(c)
            .await?
    });
    row.map(Activity::try_from).transpose()
}

/// Moves the activity to the trash (`trashed = true`) or back out of it.
/// `None` when there is no such activity in the other state.
pub async fn set_trashed(
    tx: &mut TenantTx,
    id: ActivityId,
    trashed: bool,
    now: DateTime<Utc>,
) -> Result<Option<Activity>> {
    let tenant = tx.tenant().0;
    let sql = format!(
        "UPDATE activities SET deleted_at = $3, version = version + 1, updated_at = $4
         WHERE tenant_id = $1 AND id = $2 AND deleted_at IS {} NULL
         RETURNING {COLUMNS}",
        if trashed { "" } else { "NOT" }
    );
    let row: Option<Row> = on_conn!(&mut tx.tx, |c| {
        sqlx::query_as(&sql)
            .bind(tenant)
            .bind(id.0)
            .bind(trashed.then_some(now))
            .bind(now)
            .fetch_optional(c)
            .await?
    });
    row.map(Activity::try_from).transpose()
}

/// One page of a list of activities, ordered by start time then id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityQuery {
    pub descending: bool,
    /// Start after this (start time, id), in the list's order.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: u32,
    pub contact_id: Option<ContactId>,
    pub kind: Option<ActivityKind>,
    /// Only those done (`true`) or still to do (`false`).
    pub done: Option<bool>,
    /// The trash instead of the live activities.
    pub trashed: bool,
}

/// A page of activities, read from `activities_contact` when filtered by contact (a contact's
/// timeline), else from `activities_starts`.
pub async fn list(tx: &mut TenantTx, q: &ActivityQuery) -> Result<Vec<Activity>> {
    let b = list_sql(tx.tenant().0, q);
    let rows = loop {
        let outcome: Result<Vec<Row>, sqlx::Error> = on_conn!(&mut tx.tx, |c| {
            bind_params!(sqlx::query_as(&b.sql), &b.params)
                .fetch_all(c)
                .await
        });
        if let Some(rows) = tx.settle(outcome, Vec::is_empty).await? {
            break rows;
        }
    };
    activities(rows)
}

/// The plan of [`list`]'s query (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL).
pub async fn list_plan(tx: &mut TenantTx, q: &ActivityQuery) -> Result<String> {
    let b = list_sql(tx.tenant().0, q);
    crate::params::explain(tx, &b).await
}

fn list_sql(tenant: Uuid, q: &ActivityQuery) -> SqlBuilder {
    let mut b = SqlBuilder::new(&format!(
        "SELECT {COLUMNS} FROM activities WHERE tenant_id = "
    ));
    let t = b.bind(Param::Uuid(tenant));
    b.push(&t);
    if let Some(contact) = q.contact_id {
        let c = b.bind(Param::Uuid(contact.0));
        b.push(&format!(" AND contact_id = {c}"));
    }
    if let Some(kind) = q.kind {
        let k = b.bind(Param::Text(kind.as_str().to_owned()));
        b.push(&format!(" AND kind = {k}"));
    }
    match q.done {
        Some(true) => b.push(" AND done = TRUE"),
        Some(false) => b.push(" AND done = FALSE"),
        None => {}
    }
    b.push(if q.trashed {
        " AND deleted_at IS NOT NULL"
    } else {
        " AND deleted_at IS NULL"
    });
    let (cmp, dir) = if q.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some((at, id)) = q.after {
        let at = b.bind(Param::Time(at));
        let id = b.bind(Param::Uuid(id));
        b.push(&format!(" AND (starts_at, id) {cmp} ({at}, {id})"));
    }
    let limit = b.bind(Param::Int(i64::from(q.limit)));
    b.push(&format!(
        " ORDER BY starts_at {dir}, id {dir} LIMIT {limit}"
    ));
    b
}

/// An activity as a tenant archive keeps it: with who created it.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivedActivity {
    pub activity: Activity,
    pub created_by: Option<Uuid>,
}

#[derive(sqlx::FromRow)]
struct ArchivedRow {
    #[sqlx(flatten)]
    row: Row,
    created_by: Option<Uuid>,
}

/// Every activity of the tenant (the trash too), in id order, `limit` at a time after `after`.
pub async fn archive_page(
    tx: &mut TenantTx,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ArchivedActivity>> {
    let tenant = tx.tenant().0;
    let sql = format!(
        "SELECT {COLUMNS}, created_by FROM activities
         WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
    );
    let rows: Vec<ArchivedRow> = on_conn!(&mut tx.tx, |c| {
        sqlx::query_as(&sql)
            .bind(tenant)
            .bind(after)
            .bind(limit)
            .fetch_all(c)
            .await?
    });
    rows.into_iter()
        .map(|r| {
            Ok(ArchivedActivity {
                activity: r.row.try_into()?,
                created_by: r.created_by,
            })
        })
        .collect()
}

/// Writes archived activities back as they were (ids, UIDs, versions, times, trash).
pub async fn restore_many(tx: &mut TenantTx, archived: &[ArchivedActivity]) -> Result<()> {
    const WIDTH: usize = 17;
    let tenant = tx.tenant().0;
    for chunk in archived.chunks(MAX_PARAMS / WIDTH) {
        let sql = positional(
            &tx.tx,
            &format!(
                "INSERT INTO activities (kind, subject, description, location, starts_at, ends_at, done,
                     contact_id, owner_id, tenant_id, id, source_uid, version, created_at, updated_at,
                     deleted_at, created_by)
                 VALUES {}",
                values_rows(chunk.len(), "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            ),
        );
        on_conn!(&mut tx.tx, |c| {
            let mut q = sqlx::query(&sql);
            for a in chunk {
                let act = &a.activity;
                q = bind_input!(q, act)
                    .bind(tenant)
                    .bind(act.id.0)
                    .bind(act.source_uid())
                    .bind(act.version)
                    .bind(act.created_at)
                    .bind(act.updated_at)
                    .bind(act.deleted_at)
                    .bind(a.created_by);
            }
            q.execute(c).await?;
        });
    }
    Ok(())
}
