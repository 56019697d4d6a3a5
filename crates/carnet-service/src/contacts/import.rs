//! Importing contacts: rows already turned into the API's JSON, created or merged into
//! existing contacts matched by e-mail or id, in batches; every refused row is reported.

use super::{changed_fields, check_owner, record};
use crate::context::TenantContext;
use crate::{Carnet, ServiceError, ServiceResult};
use carnet_core::contact::{Contact, ContactInput, LabeledValue};
use carnet_core::text::fold;
use carnet_core::{ContactId, ValidationErrors};
use carnet_store::{TenantTx, contacts};
use serde_json::Value;
use std::str::FromStr;

/// Rows written per transaction: a crash loses at most one batch, which a re-run redoes.
const BATCH: usize = 1000;

/// What to do with each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// Only new contacts; a row matching an existing one is refused.
    Create,
    /// Only existing contacts; a row matching none is refused.
    Update,
    /// Update the match, else create.
    Upsert,
}

impl FromStr for ImportMode {
    type Err = ServiceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "create" => Ok(ImportMode::Create),
            "update" => Ok(ImportMode::Update),
            "upsert" => Ok(ImportMode::Upsert),
            _ => Err(ServiceError::BadParameter {
                field: "mode".into(),
                message: "must be create, update or upsert".into(),
            }),
        }
    }
}

/// How a row finds the contact it describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKey {
    /// Its first e-mail address (case ignored).
    Email,
    /// Its `id` column (Carnet's own exports).
    Id,
}

impl FromStr for MatchKey {
    type Err = ServiceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "email" => Ok(MatchKey::Email),
            "id" => Ok(MatchKey::Id),
            _ => Err(ServiceError::BadParameter {
                field: "match".into(),
                message: "must be email or id".into(),
            }),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    pub mode: ImportMode,
    pub match_key: MatchKey,
    /// Count everything, write nothing.
    pub dry_run: bool,
}

/// One input row: its number in the file, its JSON, and its id cell if the file has one.
#[derive(Debug, Clone)]
pub struct ImportRow {
    pub row: u64,
    pub body: Value,
    pub id: Option<String>,
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    pub row: u64,
    pub field: String,
    pub message: String,
}

/// What an import did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: Vec<RejectedRow>,
}

enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Carnet {
    /// Imports rows; `progress` is called after every batch. Rows that cannot be read (a broken
    /// CSV line) come as `Err` and are reported like refused rows.
    pub async fn import_contacts(
        &self,
        ctx: &TenantContext,
        rows: impl IntoIterator<Item = Result<ImportRow, RejectedRow>>,
        options: ImportOptions,
        mut progress: impl FnMut(&ImportReport),
    ) -> ServiceResult<ImportReport> {
        ctx.require_write()?;
        let mut report = ImportReport::default();
        let mut tx = Some(self.db.tenant_write(ctx.tenant).await?);
        let mut in_batch = 0;
        for row in rows {
            report.rows += 1;
            let row = match row {
                Ok(row) => row,
                Err(rejected) => {
                    report.rejected.push(rejected);
                    continue;
                }
            };
            let Some(t) = tx.as_mut() else { break };
            match self.import_row(t, ctx, &row, options).await {
                Ok(Outcome::Created) => report.created += 1,
                Ok(Outcome::Updated) => report.updated += 1,
                Ok(Outcome::Unchanged) => report.unchanged += 1,
                Err(ServiceError::Validation(errors)) => reject(&mut report, row.row, errors),
                Err(ServiceError::NotFound(_)) => report.rejected.push(RejectedRow {
                    row: row.row,
                    field: match options.match_key {
                        MatchKey::Email => "email".into(),
                        MatchKey::Id => "id".into(),
                    },
                    message: "matches no contact of this workspace".into(),
                }),
                Err(ServiceError::Conflict(message)) => report.rejected.push(RejectedRow {
                    row: row.row,
                    field: "email".into(),
                    message,
                }),
                Err(other) => return Err(other),
            }
            in_batch += 1;
            if in_batch == BATCH && !options.dry_run {
                if let Some(done) = tx.take() {
                    done.commit().await?;
                }
                tx = Some(self.db.tenant_write(ctx.tenant).await?);
                in_batch = 0;
                progress(&report);
            }
        }
        if let Some(done) = tx.take()
            && !options.dry_run
        {
            done.commit().await?;
        }
        progress(&report);
        Ok(report)
    }

    async fn import_row(
        &self,
        tx: &mut TenantTx,
        ctx: &TenantContext,
        row: &ImportRow,
        options: ImportOptions,
    ) -> ServiceResult<Outcome> {
        ContactInput::check_members(&row.body)?;
        let existing = match options.match_key {
            MatchKey::Email => match first_email(&row.body) {
                Some(email) => contacts::find_by_email(tx, &email).await?,
                None => None,
            },
            MatchKey::Id => match &row.id {
                Some(raw) => {
                    let id: ContactId = raw.parse().map_err(|_| {
                        let mut e = ValidationErrors::default();
                        e.push("id", "is not a contact id (a UUID)");
                        ServiceError::Validation(e)
                    })?;
                    contacts::get(tx, id)
                        .await?
                        .filter(|c| c.deleted_at.is_none())
                }
                None => None,
            },
        };
        match (existing, options.mode) {
            (Some(_), ImportMode::Create) => Err(ServiceError::Conflict(
                "a contact with this e-mail or id already exists (mode create)".into(),
            )),
            (None, ImportMode::Update) => Err(ServiceError::NotFound("contact")),
            (Some(current), _) => self.merge_into(tx, ctx, current, &row.body).await,
            (None, _) => {
                let mut input = ContactInput::from_json(&row.body)?;
                if input.owner_id.is_none()
                    && let crate::Actor::User(user) = ctx.actor
                {
                    input.owner_id = Some(user);
                }
                check_owner(tx, &input).await?;
                let now = self.now();
                let id = ContactId::new();
                contacts::insert(tx, id, &input, ctx.actor.id(), now).await?;
                record(
                    tx,
                    ctx,
                    "create",
                    id,
                    changed_fields(&ContactInput::default(), &input),
                    now,
                )
                .await?;
                Ok(Outcome::Created)
            }
        }
    }

    /// Merges a row into a contact: given values replace, e-mails, phones and tags are added
    /// to the ones already there, custom fields merge; empty cells change nothing.
    async fn merge_into(
        &self,
        tx: &mut TenantTx,
        ctx: &TenantContext,
        current: Contact,
        body: &Value,
    ) -> ServiceResult<Outcome> {
        let before = current.input();
        let incoming = ContactInput::from_json(body).or_else(|_| partial(body))?;
        let mut after = before.clone();
        for (field, value) in [
            (&mut after.first_name, incoming.first_name),
            (&mut after.last_name, incoming.last_name),
            (&mut after.job_title, incoming.job_title),
        ] {
            if value.is_some() {
                *field = value;
            }
        }
        after.company_id = incoming.company_id.or(after.company_id);
        add_missing(&mut after.emails, incoming.emails, |v| v.to_lowercase());
        add_missing(
            &mut after.phones,
            incoming.phones,
            carnet_core::text::digits,
        );
        for tag in incoming.tags {
            if !after.tags.iter().any(|t| fold(t) == fold(&tag)) {
                after.tags.push(tag);
            }
        }
        after.custom.extend(incoming.custom);
        let after = ContactInput::from_json(&after.to_json())?;
        let fields = changed_fields(&before, &after);
        if fields.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        let now = self.now();
        contacts::update(tx, current.id, current.version, &after, now)
            .await?
            .ok_or_else(|| {
                ServiceError::Conflict("the contact changed during the import".into())
            })?;
        record(tx, ctx, "update", current.id, fields, now).await?;
        Ok(Outcome::Updated)
    }
}

/// A row that updates may lack a name: read its members without requiring one.
fn partial(body: &Value) -> Result<ContactInput, ValidationErrors> {
    let mut with_name = body.clone();
    if let Value::Object(m) = &mut with_name {
        m.entry("last_name")
            .or_insert_with(|| Value::String("-".into()));
    }
    let mut input = ContactInput::from_json(&with_name)?;
    if body.get("last_name").is_none() {
        input.last_name = None;
    }
    Ok(input)
}

fn add_missing(
    items: &mut Vec<LabeledValue>,
    incoming: Vec<LabeledValue>,
    key: fn(&str) -> String,
) {
    for item in incoming {
        if !items.iter().any(|i| key(&i.value) == key(&item.value)) {
            items.push(item);
        }
    }
}

fn first_email(body: &Value) -> Option<String> {
    body.get("emails")?
        .get(0)?
        .get("value")?
        .as_str()
        .map(|e| e.trim().to_lowercase())
}

fn reject(report: &mut ImportReport, row: u64, errors: ValidationErrors) {
    for e in errors.0 {
        report.rejected.push(RejectedRow {
            row,
            field: e.field,
            message: e.message,
        });
    }
}
