//! Listing activities by start time: parameters, opaque cursors, keyset pages, and the
//! pages of an export.

use crate::context::TenantContext;
use crate::list_query::{bad, decode_cursor, encode_cursor, flag, limit};
use crate::{Carnet, ServiceResult};
use carnet_core::ContactId;
use carnet_core::activity::{Activity, ActivityKind};
use carnet_store::activities::{self, ActivityQuery};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// Activities read per page of an export.
const EXPORT_PAGE: u32 = 500;

/// Validated list parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityListParams {
    pub limit: u32,
    pub descending: bool,
    cursor: Option<Cursor>,
    pub contact_id: Option<ContactId>,
    pub kind: Option<ActivityKind>,
    /// Only those done (`true`) or still to do (`false`).
    pub done: Option<bool>,
    pub trashed: bool,
}

/// One page and where the next one starts.
#[derive(Debug, Clone)]
pub struct ActivityPage {
    pub data: Vec<Activity>,
    pub next_cursor: Option<String>,
}

/// What a cursor carries: the order it belongs to and the last row's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cursor {
    d: bool,
    at: DateTime<Utc>,
    i: Uuid,
}

impl ActivityListParams {
    /// Reads query parameters (`limit`, `cursor`, `sort`, `filter[contact_id]`,
    /// `filter[kind]`, `filter[done]`, `filter[trashed]`); unknown ones are refused.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> ServiceResult<Self> {
        let mut p = ActivityListParams {
            limit: DEFAULT_LIMIT,
            descending: false,
            cursor: None,
            contact_id: None,
            kind: None,
            done: None,
            trashed: false,
        };
        let mut raw_cursor = None;
        for (key, value) in pairs {
            match key {
                "cursor" if value.is_empty() => {}
                "cursor" => raw_cursor = Some(value),
                "limit" => p.limit = limit(value, MAX_LIMIT)?,
                "sort" => {
                    p.descending = match value {
                        "starts_at" => false,
                        "-starts_at" => true,
                        _ => return Err(bad("sort", "must be starts_at or -starts_at")),
                    }
                }
                "filter[contact_id]" => {
                    p.contact_id = Some(
                        value
                            .parse()
                            .map_err(|_| bad("filter[contact_id]", "must be a UUID"))?,
                    )
                }
                "filter[kind]" => {
                    p.kind = Some(value.parse().map_err(
                        |e: carnet_core::activity::UnknownKind| bad("filter[kind]", e.to_string()),
                    )?)
                }
                "filter[done]" => p.done = Some(flag(key, value)?),
                "filter[trashed]" => p.trashed = flag(key, value)?,
                other => return Err(bad(other, "unknown query parameter")),
            }
        }
        if let Some(raw) = raw_cursor {
            let cursor: Cursor = decode_cursor(raw)?;
            if cursor.d != p.descending {
                return Err(bad(
                    "cursor",
                    "belongs to another sort order; start again without a cursor",
                ));
            }
            p.cursor = Some(cursor);
        }
        Ok(p)
    }

    fn query(&self, after: Option<(DateTime<Utc>, Uuid)>, limit: u32) -> ActivityQuery {
        ActivityQuery {
            descending: self.descending,
            after,
            limit,
            contact_id: self.contact_id,
            kind: self.kind,
            done: self.done,
            trashed: self.trashed,
        }
    }

    fn cursor_after(&self, last: &Activity) -> ServiceResult<String> {
        let cursor = Cursor {
            d: self.descending,
            at: last.starts_at,
            i: last.id.0,
        };
        encode_cursor(&cursor)
    }
}

/// An export in progress: the pages still to read.
pub struct ActivityPages {
    pub(super) ctx: TenantContext,
    params: ActivityListParams,
    after: Option<(DateTime<Utc>, Uuid)>,
    finished: bool,
}

impl Carnet {
    /// One page of activities matching the parameters.
    pub async fn list_activities(
        &self,
        ctx: &TenantContext,
        params: &ActivityListParams,
    ) -> ServiceResult<ActivityPage> {
        ctx.require_read()?;
        let after = params.cursor.as_ref().map(|c| (c.at, c.i));
        // One statement: a page of activities (a contact's timeline among them).
        let mut tx = self.db.tenant_read_single(ctx.tenant).await?;
        let mut data = activities::list(&mut tx, &params.query(after, params.limit + 1)).await?;
        let more = data.len() > params.limit as usize;
        data.truncate(params.limit as usize);
        let next_cursor = match data.last() {
            Some(last) if more => Some(params.cursor_after(last)?),
            _ => None,
        };
        Ok(ActivityPage { data, next_cursor })
    }

    /// Every activity matching `params` (paging is the export's own), a page at a time.
    pub(super) fn activity_pages(
        &self,
        ctx: &TenantContext,
        params: ActivityListParams,
    ) -> ActivityPages {
        ActivityPages {
            ctx: ctx.clone(),
            params,
            after: None,
            finished: false,
        }
    }
}

impl ActivityPages {
    /// The next page, or `None` once every activity was read.
    pub async fn next(&mut self, carnet: &Carnet) -> ServiceResult<Option<Vec<Activity>>> {
        if self.finished {
            return Ok(None);
        }
        let query = self.params.query(self.after.take(), EXPORT_PAGE + 1);
        let mut tx = carnet.db.tenant_read(self.ctx.tenant).await?;
        let mut page = activities::list(&mut tx, &query).await?;
        drop(tx);
        self.finished = page.len() <= EXPORT_PAGE as usize;
        page.truncate(EXPORT_PAGE as usize);
        self.after = page.last().map(|a| (a.starts_at, a.id.0));
        Ok(Some(page).filter(|p| !p.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServiceError;

    #[test]
    fn parses_and_refuses_parameters() {
        let p = ActivityListParams::parse([
            ("limit", "10"),
            ("sort", "-starts_at"),
            ("filter[kind]", "call"),
            ("cursor", ""),
        ])
        .unwrap();
        assert_eq!(
            (p.limit, p.descending, p.kind),
            (10, true, Some(ActivityKind::Call))
        );
        for (k, v) in [
            ("limit", "0"),
            ("limit", "201"),
            ("sort", "subject"),
            ("cursor", "garbage"),
            ("filter[contact_id]", "x"),
            ("filter[kind]", "lunch"),
            ("filter[trashed]", "yes"),
            ("colour", "red"),
        ] {
            match ActivityListParams::parse([(k, v)]) {
                Err(ServiceError::BadParameter { field, .. }) => assert_eq!(field, k),
                other => panic!("{k}={v}: {other:?}"),
            }
        }
    }

    #[test]
    fn cursors_belong_to_their_order() {
        let p = ActivityListParams::parse([]).unwrap();
        let a = Activity {
            id: carnet_core::ActivityId::new(),
            uid: String::new(),
            kind: ActivityKind::Call,
            subject: "x".into(),
            description: None,
            location: None,
            starts_at: Utc::now(),
            ends_at: None,
            done: false,
            contact_id: None,
            owner_id: None,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            deleted_at: None,
        };
        let cursor = p.cursor_after(&a).unwrap();
        assert!(ActivityListParams::parse([("cursor", cursor.as_str())]).is_ok());
        assert!(
            ActivityListParams::parse([("cursor", cursor.as_str()), ("sort", "-starts_at")])
                .is_err()
        );
    }
}
