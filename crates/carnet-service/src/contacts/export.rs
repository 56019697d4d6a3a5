//! Exporting contacts: every matching contact, page by page, so that any number of them
//! streams in constant memory.

use super::list::ListParams;
use crate::context::TenantContext;
use crate::{Carnet, ServiceResult};
use carnet_core::contact::Contact;
use carnet_formats::Format;
use carnet_formats::contacts::Layout;
use carnet_store::audit::{self, AuditEvent};
use carnet_store::contacts::{self, SortValue};
use uuid::Uuid;

/// Contacts read per page of an export.
const PAGE: u32 = 500;

/// An export in progress: the pages still to read.
pub struct ContactPages {
    ctx: TenantContext,
    params: ListParams,
    after: Option<(SortValue, Uuid)>,
    finished: bool,
}

impl Carnet {
    /// Prepares an export of the contacts matching `params` (filters and sort; paging is the
    /// export's own): checks access, records who exported what, and returns the column layout
    /// and the pages to read.
    pub async fn export_contacts(
        &self,
        ctx: &TenantContext,
        params: ListParams,
        format: Format,
    ) -> ServiceResult<(Layout, ContactPages)> {
        ctx.require_read()?;
        let mut tx = self.db.tenant_write(ctx.tenant).await?;
        let (emails, phones) = contacts::max_counts(&mut tx).await?;
        let event = AuditEvent {
            id: Uuid::now_v7(),
            occurred_at: self.now(),
            actor_kind: ctx.actor.kind().to_owned(),
            actor_id: ctx.actor.id(),
            action: "export".into(),
            entity: "contact".into(),
            entity_id: None,
            ip: ctx.ip.clone(),
            request_id: ctx.request_id.clone(),
            changes: vec![format!("{format:?}").to_lowercase()],
        };
        audit::append(&mut tx, &event).await?;
        tx.commit().await?;
        let layout = Layout {
            emails: usize::try_from(emails).unwrap_or(0),
            phones: usize::try_from(phones).unwrap_or(0),
        };
        let pages = ContactPages {
            ctx: ctx.clone(),
            params,
            after: None,
            finished: false,
        };
        Ok((layout, pages))
    }
}

impl ContactPages {
    /// The next page, or `None` once every contact was read.
    pub async fn next(&mut self, carnet: &Carnet) -> ServiceResult<Option<Vec<Contact>>> {
        if self.finished {
            return Ok(None);
        }
        let mut query = self.params.query();
        query.after = self.after.take();
        query.limit = PAGE + 1;
        let mut tx = carnet.db.tenant_read(self.ctx.tenant).await?;
        let mut page = contacts::list(&mut tx, &query).await?;
        drop(tx);
        self.finished = page.len() <= PAGE as usize;
        page.truncate(PAGE as usize);
        self.after = page.last().map(|c| (self.params.sort.value_of(c), c.id.0));
        Ok(Some(page).filter(|p| !p.is_empty()))
    }
}
