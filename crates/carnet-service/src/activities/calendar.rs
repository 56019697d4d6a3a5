//! Activities in and out as files: the pages of an export (with the contact each is about)
//! and the import of an iCalendar file, matched on UIDs so that importing again updates.

use super::list::{ActivityListParams, ActivityPages};
use super::record;
use crate::context::TenantContext;
use crate::{Carnet, ServiceError, ServiceResult};
use carnet_core::activity::{Activity, ActivityInput};
use carnet_core::contact::Contact;
use carnet_core::{ActivityId, ContactId, ValidationErrors};
use carnet_formats::ical::{self, CalendarEntry};
use carnet_store::audit::{self, AuditEvent};
use carnet_store::{TenantTx, activities, contacts};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

/// Longest UID kept from another calendar.
const MAX_UID: usize = 255;

/// One problem or remark about one event of an imported calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalendarIssue {
    /// The line its `BEGIN` is on.
    pub line: usize,
    /// The property at fault, as the file names it (`DTSTART`), or empty for the whole event.
    pub field: String,
    pub message: String,
}

/// What an iCalendar import did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CalendarImport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Events not imported, each with every reason.
    pub rejected: Vec<CalendarIssue>,
    /// Events imported with a remark: an attendee that is no contact, a repeat, a time
    /// without a zone.
    pub notes: Vec<CalendarIssue>,
}

impl CalendarImport {
    fn reject(&mut self, line: usize, field: &str, message: impl Into<String>) {
        self.rejected.push(CalendarIssue {
            line,
            field: field.to_owned(),
            message: message.into(),
        });
    }

    fn note(&mut self, line: usize, message: impl Into<String>) {
        self.notes.push(CalendarIssue {
            line,
            field: String::new(),
            message: message.into(),
        });
    }

    /// How many events were refused (an event may have several reasons).
    pub fn rejected_events(&self) -> usize {
        let mut lines: Vec<usize> = self.rejected.iter().map(|r| r.line).collect();
        lines.dedup();
        lines.len()
    }
}

/// The pages of an activity export, each activity with the contact it is about.
pub struct ActivityExport {
    pages: ActivityPages,
}

impl ActivityExport {
    /// The next page, or `None` once every activity was read.
    pub async fn next(
        &mut self,
        carnet: &Carnet,
    ) -> ServiceResult<Option<Vec<(Activity, Option<Contact>)>>> {
        let Some(page) = self.pages.next(carnet).await? else {
            return Ok(None);
        };
        let found = carnet.contacts_of(&self.pages.ctx, &page).await?;
        Ok(Some(
            page.into_iter()
                .map(|a| {
                    let contact = a.contact_id.and_then(|id| found.get(&id).cloned());
                    (a, contact)
                })
                .collect(),
        ))
    }
}

impl Carnet {
    /// The contacts these activities are about (those in the trash too), by id.
    pub async fn contacts_of(
        &self,
        ctx: &TenantContext,
        activities: &[Activity],
    ) -> ServiceResult<HashMap<ContactId, Contact>> {
        ctx.require_read()?;
        let mut ids: Vec<Uuid> = activities
            .iter()
            .filter_map(|a| a.contact_id)
            .map(|c| c.0)
            .collect();
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut tx = self.db.tenant_read(ctx.tenant).await?;
        Ok(contacts::get_many(&mut tx, &ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect())
    }

    /// Prepares an export of the activities matching `params`: checks access, records who
    /// exported what (`format` names the file kind), and returns the pages to read.
    pub async fn export_activities(
        &self,
        ctx: &TenantContext,
        params: ActivityListParams,
        format: &str,
    ) -> ServiceResult<ActivityExport> {
        ctx.require_read()?;
        let mut tx = self.db.tenant_write(ctx.tenant).await?;
        let event = AuditEvent {
            id: Uuid::now_v7(),
            occurred_at: self.now(),
            actor_kind: ctx.actor.kind().to_owned(),
            actor_id: ctx.actor.id(),
            action: "export".into(),
            entity: "activity".into(),
            entity_id: None,
            ip: ctx.ip.clone(),
            request_id: ctx.request_id.clone(),
            changes: vec![format.to_owned()],
        };
        audit::append(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(ActivityExport {
            pages: self.activity_pages(ctx, params),
        })
    }

    /// Imports the events and to-dos of an iCalendar file as activities, in one
    /// transaction. An event whose UID an activity already has updates it (an export of
    /// Carnet's, or a calendar imported before); the others are created. The contact an
    /// event is about is the first attendee whose e-mail address a contact has. With
    /// `dry_run` nothing is written.
    pub async fn import_calendar(
        &self,
        ctx: &TenantContext,
        file: &[u8],
        dry_run: bool,
    ) -> ServiceResult<CalendarImport> {
        ctx.require_write()?;
        let entries = ical::read_calendar(file).map_err(|e| {
            let mut errors = ValidationErrors::default();
            errors.push("file", e.to_string());
            ServiceError::Validation(errors)
        })?;
        let mut report = CalendarImport::default();
        let mut tx = self.db.tenant_write(ctx.tenant).await?;
        let keys: Vec<String> = entries.iter().flat_map(|e| e.attendees.clone()).collect();
        let known = contacts::find_by_emails(&mut tx, &keys).await?;
        let mut ids: Vec<Uuid> = entries
            .iter()
            .filter_map(|e| e.contact_id.as_deref()?.parse().ok())
            .collect();
        ids.sort();
        ids.dedup();
        let own: HashMap<String, ContactId> = contacts::get_many(&mut tx, &ids)
            .await?
            .into_iter()
            .filter(|c| c.deleted_at.is_none())
            .map(|c| (c.id.to_string(), c.id))
            .collect();
        for entry in entries {
            let Some(input) = entry_input(&entry, &known, &own, &mut report) else {
                continue;
            };
            self.import_entry(&mut tx, ctx, &entry, &input, &mut report)
                .await?;
        }
        if !dry_run {
            tx.commit().await?;
        }
        Ok(report)
    }

    async fn import_entry(
        &self,
        tx: &mut TenantTx,
        ctx: &TenantContext,
        entry: &CalendarEntry,
        input: &ActivityInput,
        report: &mut CalendarImport,
    ) -> ServiceResult<()> {
        let now = self.now();
        let existing = match &entry.uid {
            Some(uid) => match activities::find_by_source_uid(tx, uid).await? {
                Some(found) => Some(found),
                None => match uid.parse::<Uuid>() {
                    Ok(id) => activities::get(tx, ActivityId(id)).await?,
                    Err(_) => None,
                },
            },
            None => None,
        };
        match existing {
            Some(current) if current.deleted_at.is_some() => {
                report.reject(
                    entry.line,
                    "UID",
                    "the activity with this UID is in the trash; restore it to update it",
                );
            }
            Some(current) => {
                let fields = current.input().changed_fields(input);
                if fields.is_empty() {
                    report.unchanged += 1;
                    return Ok(());
                }
                let updated =
                    activities::update(tx, current.id, current.version, input, now).await?;
                if updated.is_none() {
                    report.reject(
                        entry.line,
                        "UID",
                        "the activity changed during the import; import the file again",
                    );
                    return Ok(());
                }
                record(tx, ctx, "update", current.id, fields, now).await?;
                report.updated += 1;
            }
            None => {
                // A UID that is a UUID (an export of Carnet's) becomes the id, so that the
                // activity keeps its identity from one workspace to another.
                let own = entry.uid.as_deref().and_then(|u| u.parse::<Uuid>().ok());
                let id = own.map_or_else(ActivityId::new, ActivityId);
                let source_uid = entry.uid.as_deref().filter(|_| own.is_none());
                if entry.uid.is_none() {
                    report.note(
                        entry.line,
                        "has no UID: importing this file again will add it again",
                    );
                }
                activities::insert(tx, id, input, source_uid, ctx.actor.id(), now).await?;
                record(tx, ctx, "create", id, input.set_fields(), now).await?;
                report.created += 1;
            }
        }
        Ok(())
    }
}

/// The activity an entry describes, or `None` with every reason in the report. Its contact
/// is the one of this workspace it was exported about (`own`, by id), else the first attendee
/// whose address a contact has (`known`).
fn entry_input(
    entry: &CalendarEntry,
    known: &HashMap<String, Contact>,
    own: &HashMap<String, ContactId>,
    report: &mut CalendarImport,
) -> Option<ActivityInput> {
    let refused_before = report.rejected.len();
    for e in &entry.errors {
        report.reject(entry.line, &e.field, e.message.clone());
    }
    let bad_uid =
        |u: &String| u.is_empty() || u.chars().count() > MAX_UID || u.chars().any(char::is_control);
    if entry.uid.as_ref().is_some_and(bad_uid) {
        report.reject(
            entry.line,
            "UID",
            format!("must be 1 to {MAX_UID} characters, without control characters"),
        );
    }
    let input = match ActivityInput::from_json(&Value::Object(entry.fields.clone())) {
        Ok(input) => Some(input),
        Err(errors) => {
            for e in errors.0 {
                let property = ical::property_of(entry, &e.field);
                // A property the reader could not read is reported once, not as missing too.
                if !entry.errors.iter().any(|read| read.field == property) {
                    report.reject(entry.line, property, e.message);
                }
            }
            None
        }
    };
    if report.rejected.len() > refused_before {
        return None;
    }
    let mut input = input?;
    for note in &entry.notes {
        report.note(entry.line, note.clone());
    }
    input.contact_id = entry
        .contact_id
        .as_ref()
        .and_then(|id| own.get(id))
        .copied();
    for address in &entry.attendees {
        match known.get(address) {
            Some(contact) if input.contact_id.is_none() => input.contact_id = Some(contact.id),
            Some(contact) if input.contact_id == Some(contact.id) => {}
            Some(_) => report.note(
                entry.line,
                format!("attendee {address} is a contact too; the activity is linked to the first"),
            ),
            None => report.note(
                entry.line,
                format!("attendee {address} matches no contact; not linked"),
            ),
        }
    }
    Some(input)
}
