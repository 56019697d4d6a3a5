//! Activity use cases: create, read, change, trash and restore, list (a contact's timeline
//! too), export and import as iCalendar.

mod calendar;
mod list;

pub use calendar::{ActivityExport, CalendarImport, CalendarIssue};
pub use list::{ActivityListParams, ActivityPage, DEFAULT_LIMIT, MAX_LIMIT};

use crate::context::TenantContext;
use crate::records::{
    Created, Idempotency, check_if_match, check_owner, parse_if_match, remember_created, replayed,
};
use crate::{Carnet, ServiceError, ServiceResult};
use carnet_core::activity::{Activity, ActivityInput};
use carnet_core::{ActivityId, ValidationErrors, merge_patch};
use carnet_store::audit::{self, AuditEvent};
use carnet_store::{TenantTx, activities, contacts};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

/// Where an activity lives in the API (the `Location` of a created activity).
pub fn location(id: ActivityId) -> String {
    format!("/api/v1/activities/{id}")
}

impl Carnet {
    /// Creates an activity from a JSON body; with an idempotency key, a repeat of the same
    /// request returns the first response.
    pub async fn create_activity(
        &self,
        ctx: &TenantContext,
        body: &Value,
        idem: Option<&Idempotency>,
    ) -> ServiceResult<Created<Activity>> {
        ctx.require_write()?;
        let mut parsed = None;
        if idem.is_none() {
            // Nothing to read first: on PostgreSQL the activity is written in one statement.
            // One it refused (an owner or a contact that is not the workspace's) goes in the
            // transaction below, which says what is wrong; on SQLite all go there.
            let input = new_activity(ctx, body)?;
            let (id, now) = (ActivityId::new(), self.now());
            let event = audit_event(ctx, "create", id, input.set_fields(), now);
            let actor = ctx.actor.id();
            let alone =
                activities::create_alone(&self.db, ctx.tenant, id, &input, actor, now, &event);
            if let activities::ActivityAlone::Stored(activity) = alone.await? {
                return Ok(Created::New(*activity));
            }
            parsed = Some(input);
        }
        let mut tx = self.db.tenant_write(ctx.tenant).await?;
        if let Some(stored) = replayed(&mut tx, idem).await? {
            return Ok(Created::Replayed(stored));
        }
        let input = match parsed {
            Some(input) => input,
            None => new_activity(ctx, body)?,
        };
        check_references(&mut tx, &input).await?;
        let now = self.now();
        let activity = activities::insert(
            &mut tx,
            ActivityId::new(),
            &input,
            None,
            ctx.actor.id(),
            now,
        )
        .await?;
        record(&mut tx, ctx, "create", activity.id, input.set_fields(), now).await?;
        remember_created(
            &mut tx,
            idem,
            location(activity.id),
            activity.version,
            &activity,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Created::New(activity))
    }

    /// The activity; one in the trash is not found (the trash is listed with
    /// `filter[trashed]`).
    pub async fn get_activity(
        &self,
        ctx: &TenantContext,
        id: ActivityId,
    ) -> ServiceResult<Activity> {
        ctx.require_read()?;
        activities::by_id(&self.db, ctx.tenant, id)
            .await?
            .filter(|a| a.deleted_at.is_none())
            .ok_or(ServiceError::NotFound("activity"))
    }

    /// Applies a JSON merge patch (`null` clears a field); a stale `If-Match` gives 412.
    pub async fn patch_activity(
        &self,
        ctx: &TenantContext,
        id: ActivityId,
        patch: &Value,
        if_match: Option<&str>,
    ) -> ServiceResult<Activity> {
        ctx.require_write()?;
        ActivityInput::check_members(patch)?;
        let if_match = if_match.map(parse_if_match).transpose()?;
        let mut tx = self.db.tenant_write(ctx.tenant).await?;
        let current = activities::get_for_update(&mut tx, id)
            .await?
            .filter(|a| a.deleted_at.is_none())
            .ok_or(ServiceError::NotFound("activity"))?;
        check_if_match(if_match, current.version)?;
        let before = current.input();
        let mut doc = before.to_json();
        merge_patch::apply(&mut doc, patch);
        let after = ActivityInput::from_json(&doc)?;
        check_references(&mut tx, &after).await?;
        let fields = before.changed_fields(&after);
        if fields.is_empty() {
            return Ok(current);
        }
        let now = self.now();
        let updated = activities::update(&mut tx, id, current.version, &after, now)
            .await?
            .ok_or(ServiceError::PreconditionFailed {
                expected: crate::records::etag(current.version),
                current: current.version + 1,
            })?;
        record(&mut tx, ctx, "update", id, fields, now).await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Moves the activity to the trash; returns it as it now is.
    pub async fn delete_activity(
        &self,
        ctx: &TenantContext,
        id: ActivityId,
        if_match: Option<&str>,
    ) -> ServiceResult<Activity> {
        self.set_activity_trashed(ctx, id, true, if_match).await
    }

    /// Takes the activity out of the trash.
    pub async fn restore_activity(
        &self,
        ctx: &TenantContext,
        id: ActivityId,
    ) -> ServiceResult<Activity> {
        self.set_activity_trashed(ctx, id, false, None).await
    }

    async fn set_activity_trashed(
        &self,
        ctx: &TenantContext,
        id: ActivityId,
        trashed: bool,
        if_match: Option<&str>,
    ) -> ServiceResult<Activity> {
        ctx.require_write()?;
        let if_match = if_match.map(parse_if_match).transpose()?;
        let mut tx = self.db.tenant_write(ctx.tenant).await?;
        let current = activities::get_for_update(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound("activity"))?;
        check_if_match(if_match, current.version)?;
        match (current.deleted_at.is_some(), trashed) {
            (true, true) => return Err(ServiceError::NotFound("activity")),
            (false, false) => return Ok(current),
            _ => {}
        }
        let now = self.now();
        let changed = activities::set_trashed(&mut tx, id, trashed, now)
            .await?
            .ok_or(ServiceError::Conflict(
                "the activity changed meanwhile; try again".into(),
            ))?;
        let action = if trashed { "delete" } else { "restore" };
        record(&mut tx, ctx, action, id, vec!["deleted_at".into()], now).await?;
        tx.commit().await?;
        Ok(changed)
    }
}

/// A new activity from a JSON body: its owner, when the body names none, the user who
/// creates it.
fn new_activity(ctx: &TenantContext, body: &Value) -> ServiceResult<ActivityInput> {
    let mut input = ActivityInput::from_json(body)?;
    if input.owner_id.is_none()
        && let crate::Actor::User(user) = ctx.actor
    {
        input.owner_id = Some(user);
    }
    Ok(input)
}

/// The owner must be a member of the tenant, and the contact one of its contacts, not in
/// the trash.
async fn check_references(tx: &mut TenantTx, input: &ActivityInput) -> ServiceResult<()> {
    check_owner(tx, input.owner_id).await?;
    if let Some(contact) = input.contact_id {
        let live = contacts::get(tx, contact)
            .await?
            .is_some_and(|c| c.deleted_at.is_none());
        if !live {
            let mut e = ValidationErrors::default();
            e.push("contact_id", "is not a contact of this workspace");
            return Err(e.into());
        }
    }
    Ok(())
}

/// The audit event of one change to an activity.
pub(crate) fn audit_event(
    ctx: &TenantContext,
    action: &str,
    id: ActivityId,
    fields: Vec<String>,
    now: DateTime<Utc>,
) -> AuditEvent {
    AuditEvent {
        id: Uuid::now_v7(),
        occurred_at: now,
        actor_kind: ctx.actor.kind().to_owned(),
        actor_id: ctx.actor.id(),
        action: action.to_owned(),
        entity: "activity".into(),
        entity_id: Some(id.0),
        ip: ctx.ip.clone(),
        request_id: ctx.request_id.clone(),
        changes: fields,
    }
}

/// Appends the audit event of one change to an activity, in the change's transaction.
async fn record(
    tx: &mut TenantTx,
    ctx: &TenantContext,
    action: &str,
    id: ActivityId,
    fields: Vec<String>,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    audit::append(tx, &audit_event(ctx, action, id, fields, now)).await?;
    Ok(())
}
