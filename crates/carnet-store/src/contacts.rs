//! Contacts repository: rows, search and keyset-paginated lists, scoped to one tenant.

use crate::Result;
use crate::audit::{self, AuditEvent};
use crate::batched_reads::by_ids_sql;
use crate::db::{BULK_GIN_PENDING_LIST, Db};
use crate::params::{
    MAX_PARAMS, Param, SqlBuilder, bind_params, explain, placeholder_list, positional, values_rows,
};
use crate::search::{self, Candidates, like_contains};
use crate::tx::{TenantTx, Tx, on_conn, record_by_id, row_by_id};
use carnet_core::contact::{Contact, ContactInput, LabeledValue, email_keys, tag_keys};
use carnet_core::{ContactId, TenantId, UserId};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::types::Json;
use std::collections::HashMap;
use std::sync::LazyLock;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    first_name: Option<String>,
    last_name: Option<String>,
    emails: Json<Vec<LabeledValue>>,
    phones: Json<Vec<LabeledValue>>,
    company_id: Option<Uuid>,
    job_title: Option<String>,
    tags: Json<Vec<String>>,
    custom: Json<Map<String, Value>>,
    owner_id: Option<Uuid>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

impl From<Row> for Contact {
    fn from(r: Row) -> Self {
        Contact {
            id: ContactId(r.id),
            first_name: r.first_name,
            last_name: r.last_name,
            emails: r.emails.0,
            phones: r.phones.0,
            company_id: r.company_id,
            job_title: r.job_title,
            tags: r.tags.0,
            custom: r.custom.0,
            owner_id: r.owner_id.map(UserId),
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            deleted_at: r.deleted_at,
        }
    }
}

/// Unqualified, so they serve in RETURNING clauses too.
const COLUMNS: &str = "id, first_name, last_name, emails, phones, company_id, job_title, \
     tags, custom, owner_id, version, created_at, updated_at, deleted_at";

/// Binds `$1`–`$15`, common to insert and update: tenant, id, the writable fields, the
/// derived search and sort keys, and the time. Expanded once per backend.
macro_rules! bind_row {
    ($query:expr, $tenant:expr, $id:expr, $input:expr, $search:expr, $now:expr) => {{
        let (sort_last, sort_first) = $input.sort_keys();
        $query
            .bind($tenant)
            .bind($id.0)
            .bind(&$input.first_name)
            .bind(&$input.last_name)
            .bind(sqlx::types::Json(&$input.emails))
            .bind(sqlx::types::Json(&$input.phones))
            .bind($input.company_id)
            .bind(&$input.job_title)
            .bind(sqlx::types::Json(&$input.tags))
            .bind(sqlx::types::Json(&$input.custom))
            .bind($input.owner_id.map(|o| o.0))
            .bind($search)
            .bind(sort_last)
            .bind(sort_first)
            .bind($now)
    }};
}

mod alone;
mod alone_pg;
mod arrays;
mod create;

/// The columns a new contact's row is written with (SQLite's rowid aside).
const INSERT_COLUMNS: &str = "tenant_id, id, first_name, last_name, emails, phones, \
     company_id, job_title, tags, custom, owner_id, search_text, sort_last, sort_first, version, \
     created_at, updated_at, created_by, search_rest";

pub use alone::{ChangeAlone, set_trashed_alone, update_alone};
use arrays::{ContactArrays, bind_contact_arrays};
pub(crate) use create::{CreateBatches, Creates, create_batches};
pub use create::{Creation, create};

/// Stores a new contact (version 1) with its e-mail and tag index rows.
pub async fn insert(
    tx: &mut TenantTx,
    id: ContactId,
    input: &ContactInput,
    created_by: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Contact> {
    insert_with(tx, id, input, created_by, now, None).await
}

/// [`insert`] and the audit `event` of the creation, written by the same statement: one
/// round trip and one statement instead of two.
pub async fn insert_audited(
    tx: &mut TenantTx,
    id: ContactId,
    input: &ContactInput,
    created_by: Option<Uuid>,
    now: DateTime<Utc>,
    event: &AuditEvent,
) -> Result<Contact> {
    insert_with(tx, id, input, created_by, now, Some(event)).await
}

async fn insert_with(
    tx: &mut TenantTx,
    id: ContactId,
    input: &ContactInput,
    created_by: Option<Uuid>,
    now: DateTime<Utc>,
    event: Option<&AuditEvent>,
) -> Result<Contact> {
    let tenant = tx.tenant().0;
    let (rowid, next_rowid) = match &tx.tx {
        Tx::Sqlite(_) => ("rowid, ", format!("{SQLITE_NEXT_ROWID}, ")),
        Tx::Postgres(_) => ("", String::new()),
    };
    let sql = format!(
            "INSERT INTO contacts ({rowid}{INSERT_COLUMNS})
             VALUES ({next_rowid}$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, $15, $15, $16, $17)
             RETURNING {COLUMNS}"
    );
    let search = input.search_text();
    let rest = search_rest(&tx.tx, input, &search);
    let emails = IndexTable::Emails.insert_new(&tx.tx, "$18");
    let tags = IndexTable::Tags.insert_new(&tx.tx, "$19");
    let audit = event.map(|_| audit::insert_one_sql(20));
    let row: Row = match &mut tx.tx {
        // PostgreSQL: the index rows (and the event) in the same statement, one round trip
        // instead of three or four (their foreign keys are checked at the statement's end,
        // the contact then stored).
        Tx::Postgres(c) => {
            let audit = audit
                .map(|a| format!(", audit AS ({a})"))
                .unwrap_or_default();
            let sql = format!(
                "WITH new AS ({sql}), emails AS ({emails}), tags AS ({tags}){audit} SELECT * FROM new"
            );
            let q = bind_row!(sqlx::query_as(&sql), tenant, id, input, &search, now)
                .bind(created_by)
                .bind(&rest)
                .bind(input.email_keys())
                .bind(input.tag_keys());
            match event {
                Some(e) => audit::bind_event!(q, e).fetch_one(&mut **c).await?,
                None => q.fetch_one(&mut **c).await?,
            }
        }
        // SQLite: the index rows (and the event) in statements of the same command, one
        // hand-over to the connection's thread instead of three or four (a command runs every
        // statement it holds: hence `fetch_all`, where `fetch_one` would stop at the
        // contact's row).
        Tx::Sqlite(c) => {
            let audit = audit.map(|a| format!("; {a}")).unwrap_or_default();
            let sql = format!("{sql}; {emails}; {tags}{audit}");
            let q = bind_row!(sqlx::query_as(&sql), tenant, id, input, &search, now)
                .bind(created_by)
                .bind(&rest)
                .bind(Json(input.email_keys()))
                .bind(Json(input.tag_keys()));
            let rows: Vec<Row> = match event {
                Some(e) => audit::bind_event!(q, e).fetch_all(&mut **c).await?,
                None => q.fetch_all(&mut **c).await?,
            };
            rows.into_iter().next().ok_or(sqlx::Error::RowNotFound)?
        }
    };
    Ok(row.into())
}

/// SQLite: the rowid the next contact of tenant `$1` takes, one past the highest of the
/// tenant's block of rowids (migration 0011: its search index is searched by block). `NULL`
/// for a tenant without a block, which the migration's trigger then refuses.
const SQLITE_NEXT_ROWID: &str = "(SELECT coalesce((SELECT max(c.rowid) FROM contacts c \
     WHERE c.rowid BETWEEN b.block << 40 AND (b.block << 40) + 1099511627775), b.block << 40) + 1 \
     FROM contact_rowid_blocks b WHERE b.tenant_id = $1)";

/// SQLite: the first of the rowids the next contacts of `tenant` take, one after another
/// ([`SQLITE_NEXT_ROWID`]), for statements that write several.
async fn sqlite_next_rowid(c: &mut sqlx::SqliteConnection, tenant: Uuid) -> Result<i64> {
    let next: Option<i64> = sqlx::query_scalar(&format!("SELECT {SQLITE_NEXT_ROWID}"))
        .bind(tenant)
        .fetch_one(c)
        .await?;
    next.ok_or_else(|| {
        crate::StoreError::Corrupt(format!("tenant {tenant} has no block of contact rowids"))
    })
}

/// The rest text PostgreSQL's search table indexes ([`search::rest_text`]) of the contact
/// whose search text is `search`; SQLite's index needs none (NULL).
fn search_rest(tx: &Tx, input: &ContactInput, search: &str) -> Option<String> {
    match tx {
        Tx::Postgres(_) => Some(pg_search_rest(input, search)),
        Tx::Sqlite(_) => None,
    }
}

/// The rest text PostgreSQL's search table indexes ([`search::rest_text`]) of `input`,
/// whose search text is `search`.
fn pg_search_rest(input: &ContactInput, search: &str) -> String {
    let (last, first) = input.sort_keys();
    search::rest_text(search, &last, &first)
}

/// A contact to store with [`insert_many`].
pub struct NewContact<'a> {
    pub id: ContactId,
    pub input: &'a ContactInput,
}

impl<'a> NewContact<'a> {
    /// Each of `inputs` as a new contact with an id of its own.
    pub fn each(inputs: &'a [ContactInput]) -> Vec<NewContact<'a>> {
        inputs
            .iter()
            .map(|input| NewContact {
                id: ContactId::new(),
                input,
            })
            .collect()
    }
}

/// Stores many new contacts (version 1) with their index rows in a few multi-row statements:
/// imports and seeding, where one statement per row would cost more than the writes.
pub async fn insert_many(
    tx: &mut TenantTx,
    contacts: &[NewContact<'_>],
    created_by: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<()> {
    let tenant = tx.tenant().0;
    match &mut tx.tx {
        Tx::Postgres(c) => insert_many_pg(c, tenant, contacts, created_by, now).await?,
        Tx::Sqlite(c) => insert_many_values(c, tenant, contacts, created_by, now).await?,
    }
    let ids_inputs = || contacts.iter().map(|n| (n.id, n.input));
    for table in [IndexTable::Emails, IndexTable::Tags] {
        insert_keys(tx, table, &table.pairs(ids_inputs())).await?;
    }
    Ok(())
}

/// SQLite: the contacts of [`insert_many`] in multi-row `VALUES` statements, with rowids
/// in their tenant's block one after another.
async fn insert_many_values(
    c: &mut sqlx::SqliteConnection,
    tenant: Uuid,
    contacts: &[NewContact<'_>],
    created_by: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<()> {
    const WIDTH: usize = 18;
    let mut rowid = sqlite_next_rowid(c, tenant).await?;
    for chunk in contacts.chunks(MAX_PARAMS / WIDTH) {
        let sql = format!(
            "INSERT INTO contacts (rowid, {INSERT_COLUMNS}) VALUES {}",
            values_rows(
                chunk.len(),
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, NULL)"
            )
        );
        let mut q = sqlx::query(&sql);
        for n in chunk {
            q = bind_row!(
                q.bind(rowid),
                tenant,
                n.id,
                n.input,
                n.input.search_text(),
                now
            )
            .bind(now)
            .bind(created_by);
            rowid += 1;
        }
        q.execute(&mut *c).await?;
    }
    Ok(())
}

/// A new contact's row: its id and fields, who created it and when.
pub(crate) struct NewRow<'a> {
    pub(crate) id: ContactId,
    pub(crate) input: &'a ContactInput,
    pub(crate) created_by: Option<Uuid>,
    pub(crate) now: DateTime<Utc>,
}

/// SQLite: new contacts (version 1), each with the event of its creation, their e-mail and
/// tag index rows and their events in one command: a multi-row statement for each table, one
/// hand-over to the connection's thread for them all. A contact whose owner is not a member
/// of the workspace is not written, nor its rows: the contacts stored come back, in no
/// particular order. A contact takes at most 328 parameters (50 e-mails, 50 tags, an owner):
/// more than [`MAX_PARAMS`] in all is refused, before anything is written.
///
/// Written in one statement, the contacts' search rows (SQLite's full-text index, written by
/// its trigger) make one segment of the index: a statement of its own for each contact would
/// make one each, since the index writes its pending rows out whenever a statement or a
/// savepoint that may be undone on its own begins.
pub(crate) async fn sqlite_insert_audited_many(
    tx: &mut TenantTx,
    creates: &[(NewRow<'_>, &AuditEvent)],
) -> Result<Vec<Contact>> {
    let tenant = tx.tenant();
    let Tx::Sqlite(c) = &mut tx.tx else {
        return Err(crate::StoreError::Config(
            "contacts::sqlite_insert_audited_many runs on SQLite".into(),
        ));
    };
    sqlite_insert_audited_command(c, tenant, creates, Command::InTransaction).await
}

/// Where the command of [`sqlite_insert_audited_command`] runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// In the transaction open on the connection.
    InTransaction,
    /// As a transaction of its own: `BEGIN` before its statements, `COMMIT` after.
    OwnTransaction,
}

/// [`sqlite_insert_audited_many`] on a connection, in a transaction open on it or in one of
/// the command's own.
pub(crate) async fn sqlite_insert_audited_command(
    c: &mut sqlx::SqliteConnection,
    tenant: TenantId,
    creates: &[(NewRow<'_>, &AuditEvent)],
    command: Command,
) -> Result<Vec<Contact>> {
    let tenant = tenant.0;
    if creates.is_empty() {
        return Ok(Vec::new());
    }
    let rows = || creates.iter().map(|(row, _)| row);
    let pairs = |table: IndexTable| table.pairs(rows().map(|n| (n.id, n.input)));
    let (emails, tags) = (pairs(IndexTable::Emails), pairs(IndexTable::Tags));
    let owners: HashMap<Uuid, Uuid> = rows()
        .filter_map(|n| Some((n.id.0, n.input.owner_id?.0)))
        .collect();
    // With owners to check, every row carries its contact's owner, and is written only if
    // that is none or a member of the workspace: a contact, its key rows and its event
    // alike.
    let checked = !owners.is_empty();
    let extra = usize::from(checked);
    let source = |values: Vec<String>, width: usize, owner: usize| {
        if !checked {
            return format!("VALUES {}", values.join(", "));
        }
        let kept: Vec<String> = (1..=width).map(|n| format!("v.column{n}")).collect();
        format!(
            "SELECT {} FROM (VALUES {}) AS v WHERE v.column{owner} IS NULL
             OR v.column{owner} IN (SELECT m.user_id FROM memberships m WHERE m.tenant_id = $1)",
            kept.join(", "),
            values.join(", ")
        )
    };
    // `$1` the tenant, then every value numbered in the order it is bound.
    let mut bound = 1;
    let mut next = |count: usize| {
        let placeholders: Vec<String> = (bound + 1..=bound + count)
            .map(|n| format!("${n}"))
            .collect();
        bound += count;
        placeholders.join(", ")
    };
    let contacts: Vec<String> = (0..creates.len())
        .map(|k| {
            format!(
                "((SELECT r FROM next) + {k}, {}, 1, {}, NULL)",
                next(14),
                next(3)
            )
        })
        .collect();
    // A contact's row: its rowid, then its columns.
    let (width, owner) = (
        1 + column_count(INSERT_COLUMNS),
        1 + place(INSERT_COLUMNS, "owner_id"),
    );
    let mut sql = format!(
        "{}WITH next(r) AS MATERIALIZED (SELECT {SQLITE_NEXT_ROWID})
         INSERT INTO contacts (rowid, {INSERT_COLUMNS}) {} RETURNING {COLUMNS}",
        if command == Command::OwnTransaction {
            "BEGIN; "
        } else {
            ""
        },
        source(contacts, width, owner)
    );
    for (table, keys) in [(IndexTable::Emails, &emails), (IndexTable::Tags, &tags)] {
        if !keys.is_empty() {
            let values: Vec<String> = keys
                .iter()
                .map(|_| format!("($1, {})", next(2 + extra)))
                .collect();
            sql.push_str(&format!(
                "; {} {}",
                table.insert_into(),
                source(values, 3, 4)
            ));
        }
    }
    let values: Vec<String> = creates
        .iter()
        .map(|_| format!("($1, {})", next(10 + extra)))
        .collect();
    sql.push_str(&format!(
        "; INSERT INTO audit_events ({}) {}",
        audit::COLUMNS,
        source(
            values,
            column_count(audit::COLUMNS),
            column_count(audit::COLUMNS) + 1
        )
    ));
    if command == Command::OwnTransaction {
        sql.push_str("; COMMIT");
    }
    if bound > MAX_PARAMS {
        return Err(crate::StoreError::Config(format!(
            "{} contacts take {bound} parameters, more than one command may",
            creates.len()
        )));
    }
    let mut q = sqlx::query_as(&sql).bind(tenant);
    for n in rows() {
        q = bind_row!(q, tenant, n.id, n.input, n.input.search_text(), n.now)
            .bind(n.now)
            .bind(n.created_by);
    }
    for (id, key) in emails.iter().chain(&tags) {
        q = q.bind(id).bind(key);
        if checked {
            q = q.bind(owners.get(id));
        }
    }
    for (n, e) in creates {
        q = audit::bind_event!(q, e);
        if checked {
            q = q.bind(n.input.owner_id.map(|o| o.0));
        }
    }
    let stored: Vec<Row> = q.fetch_all(c).await?;
    Ok(stored.into_iter().map(Contact::from).collect())
}

/// How many columns a comma-separated column list names.
fn column_count(columns: &str) -> usize {
    columns.split(',').count()
}

/// Where `column` stands in a comma-separated column list, from 1 (a `VALUES` row's
/// `columnN`); past its end when it is not there.
fn place(columns: &str, column: &str) -> usize {
    columns
        .split(',')
        .position(|c| c.trim() == column)
        .map_or(column_count(columns) + 1, |p| p + 1)
}

/// A contact as a tenant archive holds it: every column, bookkeeping included.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivedContact {
    pub contact: Contact,
    pub created_by: Option<Uuid>,
}

#[derive(sqlx::FromRow)]
struct ArchivedRow {
    #[sqlx(flatten)]
    row: Row,
    created_by: Option<Uuid>,
}

/// Every contact of the tenant (the trash too), in id order, `limit` at a time after `after`.
pub async fn archive_page(
    tx: &mut TenantTx,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ArchivedContact>> {
    let tenant = tx.tenant().0;
    let sql = format!(
        "SELECT {COLUMNS}, created_by FROM contacts
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
    Ok(rows
        .into_iter()
        .map(|r| ArchivedContact {
            contact: r.row.into(),
            created_by: r.created_by,
        })
        .collect())
}

/// Writes archived contacts back as they were (ids, versions, times, trash), with their
/// index rows: restoring a tenant archive.
pub async fn restore_many(tx: &mut TenantTx, contacts: &[ArchivedContact]) -> Result<()> {
    // One more on SQLite: the rowid, in the tenant's block.
    const WIDTH: usize = 20;
    let tenant = tx.tenant().0;
    let inputs: Vec<(ContactId, ContactInput)> = contacts
        .iter()
        .map(|a| (a.contact.id, a.contact.input()))
        .collect();
    let (mut rowid, rowid_column, rowid_value) = match &mut tx.tx {
        Tx::Sqlite(c) => (Some(sqlite_next_rowid(c, tenant).await?), "rowid, ", "?, "),
        Tx::Postgres(c) => {
            // A bulk write, as `insert_many`'s: the server's own pending list size.
            sqlx::Executor::execute(&mut **c, BULK_GIN_PENDING_LIST).await?;
            (None, "", "")
        }
    };
    for (chunk, inputs) in contacts
        .chunks(MAX_PARAMS / WIDTH)
        .zip(inputs.chunks(MAX_PARAMS / WIDTH))
    {
        let sql = positional(
            &tx.tx,
            &format!(
                "INSERT INTO contacts ({rowid_column}tenant_id, id, first_name, last_name, emails, phones, company_id,
                     job_title, tags, custom, owner_id, search_text, sort_last, sort_first, created_at, version,
                     updated_at, deleted_at, created_by)
                 VALUES {}",
                values_rows(
                    chunk.len(),
                    &format!("({rowid_value}?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                )
            ),
        );
        on_conn!(&mut tx.tx, |c| {
            let mut q = sqlx::query(&sql);
            for (a, (id, input)) in chunk.iter().zip(inputs) {
                if let Some(next) = rowid.as_mut() {
                    q = q.bind(*next);
                    *next += 1;
                }
                q = bind_row!(
                    q,
                    tenant,
                    id,
                    input,
                    input.search_text(),
                    a.contact.created_at
                )
                .bind(a.contact.version)
                .bind(a.contact.updated_at)
                .bind(a.contact.deleted_at)
                .bind(a.created_by);
            }
            q.execute(c).await?;
        });
    }
    for table in [IndexTable::Emails, IndexTable::Tags] {
        let pairs = table.pairs(inputs.iter().map(|(id, input)| (*id, input)));
        insert_keys(tx, table, &pairs).await?;
    }
    Ok(())
}

/// PostgreSQL: the contacts of [`insert_many`] as one `INSERT … SELECT FROM unnest(…)`, a
/// dozen array parameters instead of one parameter per cell (parsing and binding 17,000
/// parameters cost more than the writes).
async fn insert_many_pg(
    c: &mut sqlx::PgConnection,
    tenant: Uuid,
    contacts: &[NewContact<'_>],
    created_by: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<()> {
    if contacts.is_empty() {
        return Ok(());
    }
    sqlx::Executor::execute(&mut *c, BULK_GIN_PENDING_LIST).await?;
    let mut rows = ContactArrays::default();
    for item in contacts {
        rows.push(item.id, item.input, created_by, now);
    }
    let sql = format!(
        "INSERT INTO contacts ({INSERT_COLUMNS}) SELECT {} FROM {}",
        arrays::ROW,
        arrays::rows_sql(2)
    );
    bind_contact_arrays!(sqlx::query(&sql).bind(tenant), rows)
        .execute(c)
        .await?;
    Ok(())
}

/// The JSON text of a value stored in a `jsonb` column.
fn json_text(value: &impl serde::Serialize) -> String {
    // Serialising these types (strings, maps of JSON values) cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// A contact by its id (`$1` the tenant, `$2` the id).
static BY_ID: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {COLUMNS} FROM contacts c WHERE c.tenant_id = $1 AND c.id = $2")
});

/// Contacts by id on PostgreSQL (`$2` the array of ids).
static BY_IDS: LazyLock<String> = LazyLock::new(|| by_ids_sql(COLUMNS, "contacts", "c"));

/// The contact, whether in the trash or not; `None` if this tenant has no such contact.
pub async fn get(tx: &mut TenantTx, id: ContactId) -> Result<Option<Contact>> {
    get_with(tx, id, &BY_ID).await
}

/// [`get`] outside any transaction, for a request that reads nothing else: on PostgreSQL it
/// goes to the server with the reads of other contacts of this tenant that meet it.
pub async fn by_id(db: &Db, tenant: TenantId, id: ContactId) -> Result<Option<Contact>> {
    let row: Option<Row> = record_by_id(db, tenant, id.0, &BY_ID, &BY_IDS).await?;
    Ok(row.map(Contact::from))
}

/// A contact about to be changed in this transaction: on PostgreSQL its row stays locked
/// until the transaction ends, so that a concurrent change waits for this one and then reads
/// its result instead of finding its version gone. (SQLite's one writer connection already
/// runs write transactions one at a time.)
pub async fn get_for_update(tx: &mut TenantTx, id: ContactId) -> Result<Option<Contact>> {
    let lock = match tx.tx {
        Tx::Sqlite(_) => "",
        Tx::Postgres(_) => " FOR UPDATE",
    };
    let sql =
        format!("SELECT {COLUMNS} FROM contacts c WHERE c.tenant_id = $1 AND c.id = $2{lock}");
    get_with(tx, id, &sql).await
}

async fn get_with(tx: &mut TenantTx, id: ContactId, sql: &str) -> Result<Option<Contact>> {
    let row: Option<Row> = row_by_id(tx, id.0, sql).await?;
    Ok(row.map(Contact::from))
}

/// Contacts by id. SQLite: an `IN` list, answered by primary-key probes. PostgreSQL: one
/// array, each element joined laterally on the full primary key, since with the statistics
/// of a freshly filled table its planner scanned the tenant's rows for an `IN` list instead.
fn get_many_sql(tx: &Tx, ids: usize) -> String {
    match tx {
        Tx::Sqlite(_) => format!(
            "SELECT {COLUMNS} FROM contacts c WHERE c.tenant_id = ? AND c.id IN ({})",
            placeholder_list(ids)
        ),
        Tx::Postgres(_) => BY_IDS.clone(),
    }
}

/// (e-mail key, contact id) pairs for many keys, planned like [`get_many_sql`].
fn email_lookup_sql(tx: &Tx, keys: usize) -> String {
    match tx {
        Tx::Sqlite(_) => format!(
            "SELECT email_key, contact_id FROM contact_emails WHERE tenant_id = ? AND email_key IN ({})",
            placeholder_list(keys)
        ),
        Tx::Postgres(_) => "SELECT e.email_key, e.contact_id FROM unnest($2::text[]) AS k(wanted)
             CROSS JOIN LATERAL (SELECT email_key, contact_id FROM contact_emails
                                 WHERE tenant_id = $1 AND email_key = k.wanted) e"
            .to_owned(),
    }
}

/// Runs a lookup of many keys built by [`get_many_sql`] or [`email_lookup_sql`]: the keys as
/// one parameter each on SQLite, as one array on PostgreSQL. Expanded per key type.
macro_rules! fetch_by_keys {
    ($tx:expr, $sql:expr, $keys:expr) => {{
        let tenant = $tx.tenant().0;
        let sql = $sql(&$tx.tx, $keys.len());
        match &mut $tx.tx {
            Tx::Sqlite(c) => {
                let mut q = sqlx::query_as(&sql).bind(tenant);
                for key in $keys {
                    q = q.bind(key);
                }
                q.fetch_all(&mut **c).await?
            }
            Tx::Postgres(c) => {
                sqlx::query_as(&sql)
                    .bind(tenant)
                    .bind($keys)
                    .fetch_all(&mut **c)
                    .await?
            }
        }
    }};
}

/// The query plans of the lookups that imports repeat per batch, for tests that keep them
/// on their indexes: (name, plan). PostgreSQL is asked with sequential scans disabled, so
/// its plan names the index that serves the lookup even on a small test table; SQLite plans
/// without statistics, as it does in production.
pub async fn lookup_plans(tx: &mut TenantTx) -> Result<Vec<(&'static str, String)>> {
    let tenant = tx.tenant().0;
    let keys = ["a@b.c".to_owned(), "d@e.f".to_owned(), "g@h.i".to_owned()];
    let ids = [Uuid::nil(), Uuid::max(), Uuid::now_v7()];
    let (emails, by_id) = (email_lookup_sql(&tx.tx, 3), get_many_sql(&tx.tx, 3));
    let plans = match &mut tx.tx {
        Tx::Sqlite(c) => {
            let mut plans = Vec::new();
            for (sql, uuids) in [(emails, false), (by_id, true)] {
                let explain = format!("EXPLAIN QUERY PLAN {sql}");
                let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain).bind(tenant);
                for i in 0..3 {
                    q = if uuids {
                        q.bind(ids[i])
                    } else {
                        q.bind(&keys[i])
                    };
                }
                let rows = q.fetch_all(&mut **c).await?;
                plans.push(rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n"));
            }
            plans
        }
        Tx::Postgres(c) => {
            sqlx::query("SET LOCAL enable_seqscan = off")
                .execute(&mut **c)
                .await?;
            let explain = format!("EXPLAIN {emails}");
            let email_plan: Vec<String> = sqlx::query_scalar(&explain)
                .bind(tenant)
                .bind(&keys[..])
                .fetch_all(&mut **c)
                .await?;
            let explain = format!("EXPLAIN {by_id}");
            let id_plan: Vec<String> = sqlx::query_scalar(&explain)
                .bind(tenant)
                .bind(&ids[..])
                .fetch_all(&mut **c)
                .await?;
            vec![email_plan.join("\n"), id_plan.join("\n")]
        }
    };
    Ok(["email lookup", "contacts by id"]
        .into_iter()
        .zip(plans)
        .collect())
}

/// Contacts by id, trashed or not, in one query per few thousand ids (imports).
pub async fn get_many(tx: &mut TenantTx, ids: &[Uuid]) -> Result<Vec<Contact>> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_PARAMS) {
        let rows: Vec<Row> = fetch_by_keys!(tx, get_many_sql, chunk);
        found.extend(rows.into_iter().map(Contact::from));
    }
    Ok(found)
}

/// For each e-mail key (already lower-cased) that a live contact has, the oldest such contact:
/// imports match on it. Two exact index lookups per few thousand keys (the e-mail index, then
/// primary keys): as one join, both planners may scan contacts instead.
pub async fn find_by_emails(
    tx: &mut TenantTx,
    keys: &[String],
) -> Result<HashMap<String, Contact>> {
    let mut pairs: Vec<(String, Uuid)> = Vec::new();
    for chunk in keys.chunks(MAX_PARAMS) {
        let rows: Vec<(String, Uuid)> = fetch_by_keys!(tx, email_lookup_sql, chunk);
        pairs.extend(rows);
    }
    let mut ids: Vec<Uuid> = pairs.iter().map(|(_, id)| *id).collect();
    ids.sort();
    ids.dedup();
    let live: HashMap<Uuid, Contact> = get_many(tx, &ids)
        .await?
        .into_iter()
        .filter(|c| c.deleted_at.is_none())
        .map(|c| (c.id.0, c))
        .collect();
    // Sorted by key then id: the first live contact of each key is its oldest (UUIDv7).
    pairs.sort();
    let mut found = HashMap::new();
    for (key, id) in pairs {
        if let Some(contact) = live.get(&id)
            && !found.contains_key(&key)
        {
            found.insert(key, contact.clone());
        }
    }
    Ok(found)
}

/// Replaces the writable fields of `current` when the stored version is still its version
/// (so that its stored e-mails and tags are still `current`'s); `None` when the contact
/// changed meanwhile (or is gone).
pub async fn update(
    tx: &mut TenantTx,
    current: &Contact,
    input: &ContactInput,
    now: DateTime<Utc>,
) -> Result<Option<Contact>> {
    let (id, version) = (current.id, current.version);
    let tenant = tx.tenant().0;
    let sql = format!(
        "UPDATE contacts SET {UPDATE_SET}, search_rest = $17
         WHERE tenant_id = $1 AND id = $2 AND version = $16 AND deleted_at IS NULL
         RETURNING {COLUMNS}"
    );
    let search = input.search_text();
    let rest = search_rest(&tx.tx, input, &search);
    let row: Option<Row> = on_conn!(&mut tx.tx, |c| {
        bind_row!(sqlx::query_as(&sql), tenant, id, input, &search, now)
            .bind(version)
            .bind(&rest)
            .fetch_optional(c)
            .await?
    });
    if row.is_some() {
        write_index_rows(tx, id, input, current).await?;
    }
    Ok(row.map(Contact::from))
}

/// The writable fields set from [`bind_row!`]'s `$3`–`$15`, the version moved on.
const UPDATE_SET: &str = "first_name = $3, last_name = $4, emails = $5, phones = $6, \
     company_id = $7, job_title = $8, tags = $9, custom = $10, owner_id = $11, search_text = $12, \
     sort_last = $13, sort_first = $14, version = version + 1, updated_at = $15";

/// Moves the contact to the trash (`deleted = true`) or back out of it.
/// `None` when there is no such contact in the other state.
pub async fn set_trashed(
    tx: &mut TenantTx,
    id: ContactId,
    trashed: bool,
    now: DateTime<Utc>,
) -> Result<Option<Contact>> {
    let tenant = tx.tenant().0;
    let sql = format!("{} RETURNING {COLUMNS}", trash_update(trashed));
    let row: Option<Row> = on_conn!(&mut tx.tx, |c| {
        sqlx::query_as(&sql)
            .bind(tenant)
            .bind(id.0)
            .bind(trashed.then_some(now))
            .bind(now)
            .fetch_optional(c)
            .await?
    });
    Ok(row.map(Contact::from))
}

/// The `UPDATE` moving contact `$2` of tenant `$1` to the trash (`trashed`, at `$3`) or out
/// of it, at time `$4`, if it is in the other state.
fn trash_update(trashed: bool) -> String {
    format!(
        "UPDATE contacts SET deleted_at = $3, version = version + 1, updated_at = $4
         WHERE tenant_id = $1 AND id = $2 AND deleted_at IS {} NULL",
        if trashed { "" } else { "NOT" }
    )
}

/// The index tables whose keys `input` changes from the contact as it was `before`, each
/// with its new keys (most edits touch neither e-mails nor tags).
fn changed_keys(before: &Contact, input: &ContactInput) -> Vec<(IndexTable, Vec<String>)> {
    [IndexTable::Emails, IndexTable::Tags]
        .into_iter()
        .map(|table| (table, table.keys(&input.emails, &input.tags)))
        .filter(|(table, keys)| table.keys(&before.emails, &before.tags) != *keys)
        .collect()
}

/// Rewrites a changed contact's e-mail and tag index rows, over those of the contact as it
/// was `before`. Those whose keys did not change are kept (most edits touch neither its
/// e-mails nor its tags). (A new contact's are written with it: [`insert`].)
async fn write_index_rows(
    tx: &mut TenantTx,
    id: ContactId,
    input: &ContactInput,
    before: &Contact,
) -> Result<()> {
    let tenant = tx.tenant().0;
    for (table, keys) in changed_keys(before, input) {
        on_conn!(&mut tx.tx, |c| {
            sqlx::query(&format!(
                "DELETE FROM {} WHERE tenant_id = $1 AND contact_id = $2",
                table.name()
            ))
            .bind(tenant)
            .bind(id.0)
            .execute(c)
            .await?;
        });
        let rows: Vec<(Uuid, String)> = keys.into_iter().map(|k| (id.0, k)).collect();
        insert_keys(tx, table, &rows).await?;
    }
    Ok(())
}

/// The exact-match index tables beside `contacts`.
#[derive(Clone, Copy)]
enum IndexTable {
    Emails,
    Tags,
}

impl IndexTable {
    fn name(self) -> &'static str {
        match self {
            IndexTable::Emails => "contact_emails",
            IndexTable::Tags => "contact_tags",
        }
    }

    /// The keys a contact with these e-mails and tags has in this table.
    fn keys(self, emails: &[LabeledValue], tags: &[String]) -> Vec<String> {
        match self {
            IndexTable::Emails => email_keys(emails),
            IndexTable::Tags => tag_keys(tags),
        }
    }

    /// The (contact id, key) rows of `contacts` in this table, contact by contact.
    fn pairs<'a>(
        self,
        contacts: impl IntoIterator<Item = (ContactId, &'a ContactInput)>,
    ) -> Vec<(Uuid, String)> {
        contacts
            .into_iter()
            .flat_map(|(id, input)| {
                let keys = self.keys(&input.emails, &input.tags);
                keys.into_iter().map(move |k| (id.0, k))
            })
            .collect()
    }

    /// `INSERT INTO <table> (tenant_id, contact_id, <key column>)`, for every writer of rows.
    fn insert_into(self) -> String {
        format!(
            "INSERT INTO {} (tenant_id, contact_id, {})",
            self.name(),
            self.key_column()
        )
    }

    /// The column holding the key.
    fn key_column(self) -> &'static str {
        match self {
            IndexTable::Emails => "email_key",
            IndexTable::Tags => "tag_key",
        }
    }

    /// The `INSERT` of a new contact's rows (`$1` the tenant, `$2` the contact) from the
    /// keys bound at `keys`: a text array on PostgreSQL, a JSON array on SQLite.
    fn insert_new(self, tx: &Tx, keys: &str) -> String {
        let source = match tx {
            Tx::Postgres(_) => format!("unnest({keys}::text[]) AS k(value)"),
            Tx::Sqlite(_) => format!("json_each({keys})"),
        };
        format!("{} SELECT $1, $2, value FROM {source}", self.insert_into())
    }
}

/// Inserts (contact, key) index rows, many per statement.
async fn insert_keys(tx: &mut TenantTx, table: IndexTable, keys: &[(Uuid, String)]) -> Result<()> {
    const WIDTH: usize = 3;
    let tenant = tx.tenant().0;
    if let Tx::Postgres(c) = &mut tx.tx {
        if keys.is_empty() {
            return Ok(());
        }
        let (ids, values): (Vec<Uuid>, Vec<&str>) =
            keys.iter().map(|(id, k)| (*id, k.as_str())).unzip();
        sqlx::query(&format!(
            "{} SELECT $1, * FROM unnest($2::uuid[], $3::text[])",
            table.insert_into()
        ))
        .bind(tenant)
        .bind(&ids)
        .bind(&values)
        .execute(&mut **c)
        .await?;
        return Ok(());
    }
    for chunk in keys.chunks(MAX_PARAMS / WIDTH) {
        let sql = positional(
            &tx.tx,
            &format!(
                "{} VALUES {}",
                table.insert_into(),
                values_rows(chunk.len(), "(?, ?, ?)")
            ),
        );
        on_conn!(&mut tx.tx, |c| {
            let mut q = sqlx::query(&sql);
            for (id, key) in chunk {
                q = q.bind(tenant).bind(id).bind(key);
            }
            q.execute(c).await?;
        });
    }
    Ok(())
}

/// The column a list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    LastName,
    FirstName,
    /// Creation order: ids are UUIDv7, so the id alone orders by creation time.
    CreatedAt,
    UpdatedAt,
}

/// The sort value of the last row of a page, from which the next page starts.
#[derive(Debug, Clone, PartialEq)]
pub enum SortValue {
    Text(String),
    Time(DateTime<Utc>),
    None,
}

/// A page request: filters, sort and where to start.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub sort: SortField,
    pub descending: bool,
    /// Start after this (sort value, id).
    pub after: Option<(SortValue, Uuid)>,
    pub limit: u32,
    /// Folded search terms; each must appear in the contact's search text.
    pub terms: Vec<String>,
    pub tag: Option<String>,
    pub company_id: Option<Uuid>,
    pub email: Option<String>,
    /// List the trash instead of live contacts.
    pub trashed: bool,
}

impl SortField {
    fn column(self) -> &'static str {
        match self {
            SortField::LastName => "sort_last",
            SortField::FirstName => "sort_first",
            SortField::CreatedAt => "id",
            SortField::UpdatedAt => "updated_at",
        }
    }

    /// The value of this sort key on `contact`, to build the next cursor.
    pub fn value_of(self, contact: &Contact) -> SortValue {
        let (last, first) = contact.input().sort_keys();
        match self {
            SortField::LastName => SortValue::Text(last),
            SortField::FirstName => SortValue::Text(first),
            SortField::CreatedAt => SortValue::None,
            SortField::UpdatedAt => SortValue::Time(contact.updated_at),
        }
    }
}

/// One page of contacts: one query on the `(tenant_id, sort key, id)` index, or, for a
/// search, up to six statements (two windows, the index lookup, on SQLite the range of a
/// name's stretch, and the page, or a page from the stretch and one from the other matches).
///
/// A search first tries the first `search::WINDOW` contacts in list order: a term that
/// many contacts match fills its page there. If some matched, it tries as many more as
/// their density predicts (`search::wider_window`). Otherwise it starts from the term's
/// matches in the trigram index (see `statements_for`).
pub async fn list(tx: &mut TenantTx, q: &ListQuery) -> Result<Vec<Contact>> {
    if looks_in_window(q) {
        let window = window_sql(tx, q, search::WINDOW).await?;
        let rows = fetch_list(tx, &window).await?;
        if rows.len() >= q.limit as usize {
            return Ok(rows);
        }
        if let Some(wider) = search::wider_window(rows.len(), q.limit) {
            let window = window_sql(tx, q, wider).await?;
            let rows = fetch_list(tx, &window).await?;
            if rows.len() >= q.limit as usize {
                return Ok(rows);
            }
        }
    }
    match statements_for(tx, q).await? {
        Statements::One(b) => fetch_list(tx, &b).await,
        Statements::Stretch { stretch, rest } => {
            let mut rows = fetch_list(tx, &stretch).await?;
            rows.extend(fetch_list(tx, &rest).await?);
            Ok(merge_pages(q, rows))
        }
    }
}

/// The page of `q` from the rows of two disjoint pages of it (each in list order).
fn merge_pages(q: &ListQuery, mut rows: Vec<Contact>) -> Vec<Contact> {
    rows.sort_by(|a, b| {
        let order = sort_text(q.sort, a)
            .cmp(&sort_text(q.sort, b))
            .then(a.id.0.cmp(&b.id.0));
        if q.descending { order.reverse() } else { order }
    });
    rows.truncate(q.limit as usize);
    rows
}

/// A contact's sort key under a name sort, as the database compares it (bytewise).
fn sort_text(sort: SortField, contact: &Contact) -> String {
    match sort.value_of(contact) {
        SortValue::Text(key) => key,
        SortValue::Time(_) | SortValue::None => String::new(),
    }
}

/// Whether [`list`] first looks for `q`'s page among the first contacts in list order: a
/// search the trigram index could answer, without an e-mail filter (which its own index
/// answers at once).
fn looks_in_window(q: &ListQuery) -> bool {
    q.email.is_none() && search::indexable(&q.terms)
}

async fn fetch_list(tx: &mut TenantTx, b: &SqlBuilder) -> Result<Vec<Contact>> {
    let rows: Vec<Row> = on_conn!(&mut tx.tx, |c| {
        bind_params!(sqlx::query_as(&b.sql), &b.params)
            .fetch_all(c)
            .await?
    });
    Ok(rows.into_iter().map(Contact::from).collect())
}

/// Where a list query starts.
enum Start<'a> {
    /// The tenant's contacts in list order (or, with an e-mail filter, the e-mail index).
    Walk,
    /// Only among the first this many contacts in list order (PostgreSQL; see
    /// `window_sql`).
    Window(u32),
    /// Only up to this contact (sort value, id) in list order, itself included (SQLite's
    /// window).
    Until(&'a (SortValue, Uuid)),
    /// The matches the trigram index gave.
    Matches(&'a Candidates),
    /// The contacts whose sort key starts with a search term, from the sort index.
    Stretch(&'a search::Stretch),
    /// The contacts passing a filter few pass, from that filter's index.
    Filtered(Selective<'a>),
}

/// A filter of the list whose own index can start it.
enum Selective<'a> {
    /// The trash (a partial index).
    Trash,
    /// A tag (the tag index).
    Tag(&'a str),
    /// A company (the company index).
    Company(Uuid),
}

impl Selective<'_> {
    /// The table, aliased `k`, whose index finds the filter's contacts; the column naming
    /// the contact there; and the condition, its value bound in `b`.
    fn source(&self, b: &mut SqlBuilder) -> (&'static str, &'static str, String) {
        match self {
            Selective::Trash => ("contacts", "id", "k.deleted_at IS NOT NULL".to_owned()),
            Selective::Tag(tag) => {
                let p = b.bind(Param::Text((*tag).to_owned()));
                ("contact_tags", "contact_id", format!("k.tag_key = {p}"))
            }
            Selective::Company(company) => {
                let p = b.bind(Param::Uuid(*company));
                ("contacts", "id", format!("k.company_id = {p}"))
            }
        }
    }
}

/// A trash, tag or company that at most this many contacts pass starts a list: its contacts
/// are read from its index and sorted (a few milliseconds), where walking the sort index and
/// testing every contact took seconds at a million contacts for a tag that few have.
/// Past it, the walk meets one every few hundred contacts at worst.
const SELECTIVE: i64 = 5_000;

/// How the database runs [`list`] for `q` (SQLite: `EXPLAIN QUERY PLAN`; PostgreSQL:
/// `EXPLAIN`, sequential scans disabled so that the plan shows which index can serve it):
/// for tests that hot queries use their indexes. This is the statement after the search
/// window, if any: see [`window_plan`].
pub async fn list_plan(tx: &mut TenantTx, q: &ListQuery) -> Result<String> {
    match statements_for(tx, q).await? {
        Statements::One(b) => explain(tx, &b).await,
        Statements::Stretch { stretch, rest } => Ok(format!(
            "{}\n--\n{}",
            explain(tx, &stretch).await?,
            explain(tx, &rest).await?
        )),
    }
}

/// How many of the tenant's contacts the trigram index gives for folded `terms` (at most
/// 200,001: the search's cap and one); `None` when it cannot look them up (no term of three
/// characters): for tests that a search reads its own tenant's matches and no other's.
pub async fn index_matches(tx: &mut TenantTx, terms: &[String]) -> Result<Option<usize>> {
    let tenant = tx.tenant().0;
    Ok(search::matches(&mut tx.tx, tenant, terms)
        .await?
        .map(|found| found.count()))
}

/// How the database runs the first statement of a search, the look among the first
/// `search::WINDOW` contacts in list order; `None` when [`list`] runs none for `q`.
pub async fn window_plan(tx: &mut TenantTx, q: &ListQuery) -> Result<Option<String>> {
    if !looks_in_window(q) {
        return Ok(None);
    }
    let b = window_sql(tx, q, search::WINDOW).await?;
    explain(tx, &b).await.map(Some)
}

/// The statement of a search's look among the first `rows` contacts in list order (after
/// its cursor). On PostgreSQL, a subquery of those contacts, read lazily up to the page's
/// last match. On SQLite such a subquery is read whole and sorted again (7.5 ms for 3,500
/// contacts at a million, most of them past the page): the last of them is found first,
/// from the sort index alone, and the page is read in the index's order up to it, stopping
/// at its last match (0.9 ms). The window then counts trashed contacts too. When fewer than
/// `rows` contacts follow the cursor, the page is read from all of them.
async fn window_sql(tx: &mut TenantTx, q: &ListQuery, rows: u32) -> Result<SqlBuilder> {
    let tenant = tx.tenant().0;
    if !matches!(tx.tx, Tx::Sqlite(_)) {
        return Ok(list_sql(tenant, q, Start::Window(rows)));
    }
    let mut b = SqlBuilder::new(&format!("SELECT {} FROM contacts c WHERE ", columns("c")));
    let t = b.bind(Param::Uuid(tenant));
    b.push(&format!("c.tenant_id = {t}"));
    let (after, order) = keyset(&mut b, q, "c");
    b.push(&after);
    b.push(&order);
    let offset = b.bind(Param::Int(i64::from(rows.max(1)) - 1));
    b.push(&format!(" LIMIT 1 OFFSET {offset}"));
    let last = fetch_list(tx, &b).await?.pop();
    Ok(match last {
        Some(last) => list_sql(
            tenant,
            q,
            Start::Until(&(q.sort.value_of(&last), last.id.0)),
        ),
        None => list_sql(tenant, q, Start::Walk),
    })
}

/// The statements of [`list`] past its window.
enum Statements {
    One(SqlBuilder),
    /// A page from a name's stretch of the sort index and a page from the other matches,
    /// merged ([`search::stretch`]).
    Stretch {
        stretch: SqlBuilder,
        rest: SqlBuilder,
    },
}

/// The SQL of [`list`] past its window and its parameters: a search starts from its matches
/// when the trigram index can give them (see [`search`]), on SQLite from a name's stretch
/// alone when every match lies in it, or from the stretch and the other matches when that
/// reads fewer; an e-mail filter starts from the e-mail index; a small trash, or a tag or
/// company that few contacts have, from its index; anything else walks the list's sort
/// index.
async fn statements_for(tx: &mut TenantTx, q: &ListQuery) -> Result<Statements> {
    let tenant = tx.tenant().0;
    if q.email.is_none()
        && let Some(stretch) = whole_name_stretch(tx, q).await?
    {
        // No match outside the stretch: its page is the page.
        return Ok(Statements::One(list_sql(
            tenant,
            q,
            Start::Stretch(&stretch),
        )));
    }
    let candidates = if q.terms.is_empty() || q.email.is_some() {
        None
    } else if let Some(page) = sorted_search(&mut tx.tx, q).await? {
        Some(page)
    } else {
        search::candidates(&mut tx.tx, tenant, &q.terms).await?
    };
    if let Some(found) = &candidates
        && let Some(stretch) = name_stretch(tx, q, found).await?
    {
        return Ok(Statements::Stretch {
            stretch: list_sql(tenant, q, Start::Stretch(&stretch)),
            rest: list_sql(tenant, q, Start::Matches(&stretch.rest)),
        });
    }
    let start = match &candidates {
        Some(found) => Start::Matches(found),
        None if q.email.is_some() => Start::Walk,
        None => filter_start(tx, q).await?,
    };
    Ok(Statements::One(list_sql(tenant, q, start)))
}

/// SQLite, a search sorted by a name: the stretch of that name's sort index its longest
/// term starts, when few of its `found` matches lie outside it ([`search::stretch`]).
async fn name_stretch(
    tx: &mut TenantTx,
    q: &ListQuery,
    found: &Candidates,
) -> Result<Option<search::Stretch>> {
    let column = match q.sort {
        SortField::LastName | SortField::FirstName => q.sort.column(),
        SortField::CreatedAt | SortField::UpdatedAt => return Ok(None),
    };
    let tenant = tx.tenant().0;
    match &mut tx.tx {
        Tx::Sqlite(c) => search::stretch(c, tenant, column, &q.terms, found).await,
        Tx::Postgres(_) => Ok(None),
    }
}

/// SQLite, a search sorted by a name whose every match lies in that name's stretch of the
/// sort index, told by counting ([`search::whole_stretch`]).
async fn whole_name_stretch(tx: &mut TenantTx, q: &ListQuery) -> Result<Option<search::Stretch>> {
    let column = match q.sort {
        SortField::LastName | SortField::FirstName => q.sort.column(),
        SortField::CreatedAt | SortField::UpdatedAt => return Ok(None),
    };
    let tenant = tx.tenant().0;
    match &mut tx.tx {
        Tx::Sqlite(c) => search::whole_stretch(c, tenant, column, &q.terms).await,
        Tx::Postgres(_) => Ok(None),
    }
}

/// PostgreSQL, a search sorted by a name with no tag or company filter: its page of ids from
/// the search table, which holds the sort keys ([`search::sorted_page`]). `None` otherwise.
async fn sorted_search(tx: &mut Tx, q: &ListQuery) -> Result<Option<Candidates>> {
    let Tx::Postgres(c) = tx else {
        return Ok(None);
    };
    let column = match q.sort {
        SortField::LastName | SortField::FirstName => q.sort.column(),
        SortField::CreatedAt | SortField::UpdatedAt => return Ok(None),
    };
    if q.tag.is_some() || q.company_id.is_some() {
        return Ok(None);
    }
    let after = match &q.after {
        Some((SortValue::Text(key), id)) => Some((key.as_str(), *id)),
        Some(_) => return Ok(None),
        None => None,
    };
    let page = search::SortedPage {
        terms: &q.terms,
        column,
        descending: q.descending,
        trashed: q.trashed,
        after,
        limit: q.limit,
    };
    Ok(search::sorted_page(c, &page).await?.map(Candidates::Ids))
}

/// [`Start::Filtered`] by the list's trash, tag or company, the first that few contacts
/// pass; else [`Start::Walk`].
async fn filter_start<'q>(tx: &mut TenantTx, q: &'q ListQuery) -> Result<Start<'q>> {
    let filters = [
        q.trashed.then_some(Selective::Trash),
        q.tag.as_deref().map(Selective::Tag),
        q.company_id.map(Selective::Company),
    ];
    for filter in filters.into_iter().flatten() {
        if is_selective(tx, &filter).await? {
            return Ok(Start::Filtered(filter));
        }
    }
    Ok(Start::Walk)
}

/// Whether at most [`SELECTIVE`] rows pass `filter`: counted on its index, stopping past it.
async fn is_selective(tx: &mut TenantTx, filter: &Selective<'_>) -> Result<bool> {
    let mut b = SqlBuilder::new("SELECT count(*) FROM (SELECT 1 FROM ");
    let t = b.bind(Param::Uuid(tx.tenant().0));
    let (table, _, condition) = filter.source(&mut b);
    let limit = b.bind(Param::Int(SELECTIVE + 1));
    b.push(&format!(
        "{table} k WHERE k.tenant_id = {t} AND {condition} LIMIT {limit}) n"
    ));
    let n: i64 = on_conn!(&mut tx.tx, |c| {
        bind_params!(sqlx::query_scalar(&b.sql), &b.params)
            .fetch_one(c)
            .await?
    });
    Ok(n <= SELECTIVE)
}

fn list_sql(tenant: Uuid, q: &ListQuery, start: Start<'_>) -> SqlBuilder {
    let mut b = SqlBuilder::new(&format!("SELECT {} FROM ", columns("c")));
    let t = b.bind(Param::Uuid(tenant));
    match &q.email {
        // Few contacts share an e-mail: the e-mail index drives the query (SQLite keeps
        // the order of a CROSS JOIN) and the few contacts found are sorted, instead of
        // walking the whole tenant in sort order and probing each contact.
        Some(email) => {
            let p = b.bind(Param::Text(email.clone()));
            b.push(&format!(
                "contact_emails x CROSS JOIN contacts c WHERE x.tenant_id = {t} AND x.email_key = {p} \
                 AND c.tenant_id = x.tenant_id AND c.id = x.contact_id"
            ));
        }
        None => match start {
            // SQLite keeps the order of a CROSS JOIN: the matches drive the query.
            Start::Matches(list @ Candidates::Rowids { .. }) => {
                let p = b.bind(Param::Text(list.as_param()));
                b.push(&format!(
                    "json_each({p}) s CROSS JOIN contacts c WHERE c.rowid = s.value AND c.tenant_id = {t}"
                ));
            }
            Start::Matches(list @ Candidates::Ids(_)) => {
                let p = b.bind(Param::Text(list.as_param()));
                // The array is read once, and its ids are probed in the primary key; an
                // `IN` or `= ANY` made generic plans parse it again for every row tested.
                b.push(&format!(
                    "unnest({p}::uuid[]) s(id) CROSS JOIN contacts c WHERE c.id = s.id AND c.tenant_id = {t}"
                ));
            }
            // The first rows in list order, read lazily from the sort index (PostgreSQL
            // reads no more of the subquery than the page needs): the page is looked for
            // among them (a subquery driving the query, never a test run on every contact
            // of the tenant).
            Start::Window(rows) => {
                let live = live_filter(q);
                let (after, order) = keyset(&mut b, q, "w");
                let n = b.bind(Param::Int(i64::from(rows)));
                b.push(&format!(
                    "(SELECT * FROM contacts w WHERE w.tenant_id = {t} AND w.{live}{after}{order} LIMIT {n}) c \
                     WHERE c.tenant_id = {t}"
                ));
            }
            // The filter's contacts from its index, each then read by key (SQLite keeps the
            // order of a CROSS JOIN: the filter's index drives the query).
            Start::Filtered(filter) => {
                let (table, contact, condition) = filter.source(&mut b);
                b.push(&format!(
                    "(SELECT k.tenant_id, k.{contact} AS id FROM {table} k WHERE k.tenant_id = {t} AND {condition}) x \
                     CROSS JOIN contacts c WHERE c.tenant_id = x.tenant_id AND c.id = x.id"
                ));
            }
            // The sort index's range of the keys starting with the term, in list order.
            Start::Stretch(stretch) => {
                let col = q.sort.column();
                let from = b.bind(Param::Text(stretch.from.clone()));
                let to = b.bind(Param::Text(stretch.to.clone()));
                b.push(&format!(
                    "contacts c WHERE c.tenant_id = {t} AND c.{col} >= {from} AND c.{col} < {to}"
                ));
            }
            // The sort index's range up to the contact, in list order.
            Start::Until(last) => {
                let until = if q.descending { ">=" } else { "<=" };
                let until = beyond(&mut b, q, "c", last, until);
                b.push(&format!("contacts c WHERE c.tenant_id = {t}{until}"));
            }
            Start::Walk => b.push(&format!("contacts c WHERE c.tenant_id = {t}")),
        },
    }
    b.push(&format!(" AND c.{}", live_filter(q)));
    for term in &q.terms {
        let p = b.bind(Param::Text(like_contains(term)));
        b.push(&format!(" AND c.search_text LIKE {p} ESCAPE '\\'"));
    }
    if let Some(tag) = &q.tag {
        let p = b.bind(Param::Text(tag.clone()));
        b.push(&format!(
            " AND EXISTS (SELECT 1 FROM contact_tags x WHERE x.tenant_id = c.tenant_id AND x.contact_id = c.id AND x.tag_key = {p})"
        ));
    }
    if let Some(company) = q.company_id {
        let p = b.bind(Param::Uuid(company));
        b.push(&format!(" AND c.company_id = {p}"));
    }
    let (after, order) = keyset(&mut b, q, "c");
    b.push(&after);
    b.push(&order);
    let limit = b.bind(Param::Int(i64::from(q.limit)));
    b.push(&format!(" LIMIT {limit}"));
    b
}

/// Live contacts, or the trash.
fn live_filter(q: &ListQuery) -> &'static str {
    if q.trashed {
        "deleted_at IS NOT NULL"
    } else {
        "deleted_at IS NULL"
    }
}

/// The condition that starts a page after `q`'s cursor, and the ORDER BY of its sort, on the
/// table aliased `a`.
fn keyset(b: &mut SqlBuilder, q: &ListQuery, a: &str) -> (String, String) {
    let col = format!("{a}.{}", q.sort.column());
    let id = format!("{a}.id");
    let (cmp, dir) = if q.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let after = match &q.after {
        None => String::new(),
        Some(after) => beyond(b, q, a, after, cmp),
    };
    let order = if col == id {
        format!(" ORDER BY {id} {dir}")
    } else {
        format!(" ORDER BY {col} {dir}, {id} {dir}")
    };
    (after, order)
}

/// The condition ` AND (sort key, id) cmp (value, id)` on the table aliased `a`, for `q`'s
/// sort (the id alone when the sort is by creation).
fn beyond(
    b: &mut SqlBuilder,
    q: &ListQuery,
    a: &str,
    (value, at_id): &(SortValue, Uuid),
    cmp: &str,
) -> String {
    let col = format!("{a}.{}", q.sort.column());
    let id = format!("{a}.id");
    let id_p = b.bind(Param::Uuid(*at_id));
    let value_p = match value {
        SortValue::Text(s) => Some(b.bind(Param::Text(s.clone()))),
        SortValue::Time(t) => Some(b.bind(Param::Time(*t))),
        SortValue::None => None,
    };
    match value_p {
        // A row-value comparison: both databases read it as a range of the sort index; the
        // equivalent `a > v OR (a = v AND id > x)` made PostgreSQL gather every following
        // row and sort them (list_pages_use_their_sort_indexes).
        Some(v) if col != id => format!(" AND ({col}, {id}) {cmp} ({v}, {id_p})"),
        _ => format!(" AND {id} {cmp} {id_p}"),
    }
}

/// `COLUMNS`, each prefixed by the table alias `a`.
fn columns(a: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("{a}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The most e-mails and the most phones any live contact of the tenant has (the column
/// layout of table exports). JSON array functions differ by backend.
pub async fn max_counts(tx: &mut TenantTx) -> Result<(i64, i64)> {
    let tenant = tx.tenant().0;
    let row: (i64, i64) = match &mut tx.tx {
        crate::Tx::Sqlite(c) => {
            sqlx::query_as(
                "SELECT coalesce(max(json_array_length(emails)), 0), coalesce(max(json_array_length(phones)), 0)
                 FROM contacts WHERE tenant_id = $1 AND deleted_at IS NULL",
            )
            .bind(tenant)
            .fetch_one(&mut **c)
            .await?
        }
        crate::Tx::Postgres(c) => {
            sqlx::query_as(
                "SELECT coalesce(max(jsonb_array_length(emails)), 0)::bigint, coalesce(max(jsonb_array_length(phones)), 0)::bigint
                 FROM contacts WHERE tenant_id = $1 AND deleted_at IS NULL",
            )
            .bind(tenant)
            .fetch_one(&mut **c)
            .await?
        }
    };
    Ok(row)
}

/// How many live contacts the tenant has (demo seeding, dashboards).
pub async fn count(tx: &mut TenantTx) -> Result<i64> {
    let tenant = tx.tenant().0;
    Ok(on_conn!(&mut tx.tx, |c| {
        sqlx::query_scalar(
            "SELECT count(*) FROM contacts WHERE tenant_id = $1 AND deleted_at IS NULL",
        )
        .bind(tenant)
        .fetch_one(c)
        .await?
    }))
}
