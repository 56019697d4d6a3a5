//! Contact use cases: create, read, change, trash and restore, list and search.

mod export;
pub(crate) mod import;
mod list;

pub use export::ContactPages;
pub use import::{
    ImportMode, ImportOptions, ImportReport, ImportRow, MatchKey, RejectedRow, batch_rows,
};
pub use list::{DEFAULT_LIMIT, ListParams, MAX_LIMIT, Page, SORT_FIELDS};

use crate::context::TenantContext;
use crate::records::{self, check_if_match, parse_if_match, remember_created, replayed};
pub use crate::records::{Created, Idempotency, etag};
use crate::{Carnet, ServiceError, ServiceResult};
use carnet_core::contact::{Contact, ContactInput};
use carnet_core::{ContactId, merge_patch};
use carnet_store::audit::{self, AuditEvent};
use carnet_store::{TenantTx, contacts};
use serde_json::Value;
use uuid::Uuid;

/// Where a contact lives in the API (the `Location` of a created contact).
pub fn location(id: ContactId) -> String {
    format!("/api/v1/contacts/{id}")
}

impl Carnet {
    /// Creates a contact from a JSON body. With an idempotency key, a repeat of the same
    /// request returns the first response; the same key with another request is refused.
    pub async fn create_contact(
        &self,
        ctx: &TenantContext,
        body: &Value,
        idem: Option<&Idempotency>,
    ) -> ServiceResult<Created<Contact>> {
        ctx.require_write()?;
        let Some(idem) = idem else {
            // Without an idempotency key there is nothing to read first: the contact is
            // written in one step (on PostgreSQL one statement, one round trip).
            let (id, input, event) = self.new_contact(ctx, body)?;
            let now = event.occurred_at;
            let actor = ctx.actor.id();
            return match contacts::create(&self.db, ctx.tenant, id, &input, actor, now, &event)
                .await?
            {
                contacts::Creation::Stored(contact) => Ok(Created::New(*contact)),
                contacts::Creation::OwnerNotMember => Err(records::owner_not_member()),
            };
        };
        let mut tx = self.db.tenant_write(ctx.tenant).await?;
        if let Some(stored) = replayed(&mut tx, Some(idem)).await? {
            return Ok(Created::Replayed(stored));
        }
        let (id, input, event) = self.new_contact(ctx, body)?;
        check_owner(&mut tx, &input).await?;
        let now = event.occurred_at;
        let contact =
            contacts::insert_audited(&mut tx, id, &input, ctx.actor.id(), now, &event).await?;
        remember_created(
            &mut tx,
            Some(idem),
            location(contact.id),
            contact.version,
            &contact,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Created::New(contact))
    }

    /// A new contact from a JSON body (its owner, when the body names none, the user who
    /// creates it), its id and the audit event of its creation.
    fn new_contact(
        &self,
        ctx: &TenantContext,
        body: &Value,
    ) -> ServiceResult<(ContactId, ContactInput, AuditEvent)> {
        let mut input = ContactInput::from_json(body)?;
        if input.owner_id.is_none()
            && let crate::Actor::User(user) = ctx.actor
        {
            input.owner_id = Some(user);
        }
        let id = ContactId::new();
        let fields = ContactInput::default().changed_fields(&input);
        Ok((
            id,
            input,
            audit_event(ctx, "create", id, fields, self.now()),
        ))
    }

    /// The contact. One in the trash is not found, unless `in_trash_too` (the UI shows it
    /// with a restore button; the API lists the trash with `filter[trashed]`).
    pub async fn get_contact(
        &self,
        ctx: &TenantContext,
        id: ContactId,
        in_trash_too: bool,
    ) -> ServiceResult<Contact> {
        ctx.require_read()?;
        contacts::by_id(&self.db, ctx.tenant, id)
            .await?
            .filter(|c| in_trash_too || c.deleted_at.is_none())
            .ok_or(ServiceError::NotFound("contact"))
    }

    /// Applies a JSON merge patch (`null` clears a field). `if_match` is the ETag the client
    /// last saw; a stale one is refused with 412.
    pub async fn patch_contact(
        &self,
        ctx: &TenantContext,
        id: ContactId,
        patch: &Value,
        if_match: Option<&str>,
    ) -> ServiceResult<Contact> {
        ctx.require_write()?;
        // The patch's own members are checked first: a malformed request is a 422 whatever
        // the record's state.
        ContactInput::check_members(patch)?;
        let if_match = if_match.map(parse_if_match).transpose()?;
        if let Some(updated) = self.patch_alone(ctx, id, patch, if_match).await? {
            return Ok(updated);
        }
        let mut tx = self.db.tenant_write(ctx.tenant).await?;
        let current = contacts::get_for_update(&mut tx, id)
            .await?
            .filter(|c| c.deleted_at.is_none())
            .ok_or(ServiceError::NotFound("contact"))?;
        check_if_match(if_match, current.version)?;
        let (after, fields) = patched(&current, patch)?;
        check_owner(&mut tx, &after).await?;
        if fields.is_empty() {
            return Ok(current);
        }
        let now = self.now();
        let updated = contacts::update(&mut tx, &current, &after, now)
            .await?
            .ok_or(ServiceError::PreconditionFailed {
                expected: etag(current.version),
                current: current.version + 1,
            })?;
        record(&mut tx, ctx, "update", id, fields, now).await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// The patch written without a transaction of its own ([`contacts::update_alone`]): one
    /// statement on PostgreSQL, one command on SQLite's free writer, the contact read before.
    /// `None` when it is to go in a write transaction instead, which decides everything
    /// again: when other writes hold or await SQLite's writer (transactions then share their
    /// commits); when the patch changes nothing (the owner is then still checked); and when
    /// the change wrote nothing (the contact changed since it was read, or its new owner is
    /// not a member).
    async fn patch_alone(
        &self,
        ctx: &TenantContext,
        id: ContactId,
        patch: &Value,
        if_match: Option<&str>,
    ) -> ServiceResult<Option<Contact>> {
        let Some(current) = self.read_for_alone(ctx, id).await? else {
            return Ok(None);
        };
        if current.deleted_at.is_some() {
            return Err(ServiceError::NotFound("contact"));
        }
        check_if_match(if_match, current.version)?;
        let (after, fields) = patched(&current, patch)?;
        if fields.is_empty() {
            return Ok(None);
        }
        let now = self.now();
        let event = audit_event(ctx, "update", id, fields, now);
        let change = contacts::update_alone(&self.db, ctx.tenant, &current, &after, now, &event);
        Ok(changed(change.await?))
    }

    /// Moves the contact to the trash; once there it is not found (except by restore).
    pub async fn delete_contact(
        &self,
        ctx: &TenantContext,
        id: ContactId,
        if_match: Option<&str>,
    ) -> ServiceResult<()> {
        self.set_trashed(ctx, id, true, if_match).await.map(drop)
    }

    /// Takes the contact out of the trash.
    pub async fn restore_contact(
        &self,
        ctx: &TenantContext,
        id: ContactId,
    ) -> ServiceResult<Contact> {
        self.set_trashed(ctx, id, false, None).await
    }

    async fn set_trashed(
        &self,
        ctx: &TenantContext,
        id: ContactId,
        trashed: bool,
        if_match: Option<&str>,
    ) -> ServiceResult<Contact> {
        ctx.require_write()?;
        let if_match = if_match.map(parse_if_match).transpose()?;
        if let Some(changed) = self.set_trashed_alone(ctx, id, trashed, if_match).await? {
            return Ok(changed);
        }
        let mut tx = self.db.tenant_write(ctx.tenant).await?;
        let current = contacts::get_for_update(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound("contact"))?;
        check_if_match(if_match, current.version)?;
        if !moves_in_or_out_of_trash(&current, trashed)? {
            return Ok(current);
        }
        let now = self.now();
        let changed = contacts::set_trashed(&mut tx, id, trashed, now)
            .await?
            .ok_or(ServiceError::Conflict(
                "the contact changed meanwhile; try again".into(),
            ))?;
        record(&mut tx, ctx, trash_action(trashed), id, trash_fields(), now).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// The contact as stored now, read outside any transaction, for a change sent alone;
    /// `None` when other writes hold or await SQLite's writer (the change then goes in a
    /// transaction, which shares their commit).
    async fn read_for_alone(
        &self,
        ctx: &TenantContext,
        id: ContactId,
    ) -> ServiceResult<Option<Contact>> {
        if !self.db.may_write_alone() {
            return Ok(None);
        }
        let current = contacts::by_id(&self.db, ctx.tenant, id).await?;
        current.ok_or(ServiceError::NotFound("contact")).map(Some)
    }

    /// [`Self::set_trashed`] without a transaction of its own, as [`Self::patch_alone`]
    /// goes ([`contacts::set_trashed_alone`]): one statement on PostgreSQL, one command on
    /// SQLite's free writer, the contact read before. `None` when it is to go in a write
    /// transaction instead.
    async fn set_trashed_alone(
        &self,
        ctx: &TenantContext,
        id: ContactId,
        trashed: bool,
        if_match: Option<&str>,
    ) -> ServiceResult<Option<Contact>> {
        let Some(current) = self.read_for_alone(ctx, id).await? else {
            return Ok(None);
        };
        check_if_match(if_match, current.version)?;
        if !moves_in_or_out_of_trash(&current, trashed)? {
            return Ok(Some(current));
        }
        let now = self.now();
        let event = audit_event(ctx, trash_action(trashed), id, trash_fields(), now);
        let change =
            contacts::set_trashed_alone(&self.db, ctx.tenant, &current, trashed, now, &event);
        Ok(changed(change.await?))
    }

    /// The most recent audit events about a contact (its timeline).
    pub async fn contact_history(
        &self,
        ctx: &TenantContext,
        id: ContactId,
    ) -> ServiceResult<Vec<AuditEvent>> {
        ctx.require_read()?;
        let mut tx = self.db.tenant_read(ctx.tenant).await?;
        Ok(audit::for_entity(&mut tx, "contact", id.0, 50).await?)
    }
}

/// The owner must be a member of the tenant.
pub(crate) async fn check_owner(tx: &mut TenantTx, input: &ContactInput) -> ServiceResult<()> {
    records::check_owner(tx, input.owner_id).await
}

/// The contact a change sent alone wrote; `None` when it is to go in a transaction.
fn changed(change: contacts::ChangeAlone) -> Option<Contact> {
    match change {
        contacts::ChangeAlone::Changed(contact) => Some(*contact),
        contacts::ChangeAlone::NotApplied | contacts::ChangeAlone::InTransaction => None,
    }
}

/// Whether moving `current` to the trash (`trashed`) or out of it changes anything: not
/// when restoring a live contact; deleting one already in the trash finds nothing.
fn moves_in_or_out_of_trash(current: &Contact, trashed: bool) -> ServiceResult<bool> {
    match (current.deleted_at.is_some(), trashed) {
        // Deleting twice: the contact is already gone from the live records.
        (true, true) => Err(ServiceError::NotFound("contact")),
        // Restoring a live contact changes nothing.
        (false, false) => Ok(false),
        _ => Ok(true),
    }
}

/// The audit action of a move to the trash or out of it.
fn trash_action(trashed: bool) -> &'static str {
    if trashed { "delete" } else { "restore" }
}

/// The fields a move to the trash or out of it changes.
fn trash_fields() -> Vec<String> {
    vec!["deleted_at".into()]
}

/// `current` with a JSON merge patch applied, and the fields that changes.
fn patched(current: &Contact, patch: &Value) -> ServiceResult<(ContactInput, Vec<String>)> {
    let before = current.input();
    let mut doc = before.to_json();
    merge_patch::apply(&mut doc, patch);
    let after = ContactInput::from_json(&doc)?;
    let fields = before.changed_fields(&after);
    Ok((after, fields))
}

/// The audit event of one change to a contact.
pub(crate) fn audit_event(
    ctx: &TenantContext,
    action: &str,
    id: ContactId,
    fields: Vec<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> AuditEvent {
    AuditEvent {
        id: Uuid::now_v7(),
        occurred_at: now,
        actor_kind: ctx.actor.kind().to_owned(),
        actor_id: ctx.actor.id(),
        action: action.to_owned(),
        entity: "contact".into(),
        entity_id: Some(id.0),
        ip: ctx.ip.clone(),
        request_id: ctx.request_id.clone(),
        changes: fields,
    }
}

/// Appends the audit event of one change to a contact, in the change's transaction.
pub(crate) async fn record(
    tx: &mut TenantTx,
    ctx: &TenantContext,
    action: &str,
    id: ContactId,
    fields: Vec<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> ServiceResult<()> {
    audit::append(tx, &audit_event(ctx, action, id, fields, now)).await?;
    Ok(())
}
