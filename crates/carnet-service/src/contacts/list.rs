//! Listing contacts: parameters, opaque cursors, keyset pages.

use crate::context::TenantContext;
use crate::list_query::{bad, decode_cursor, encode_cursor, flag, limit};
use crate::{Carnet, ServiceResult};
use carnet_core::contact::Contact;
use carnet_core::text::fold;
use carnet_store::contacts::{self, ListQuery, SortField, SortValue};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// The fields a list can be sorted by, as the API names them.
pub const SORT_FIELDS: [&str; 4] = ["last_name", "first_name", "created_at", "updated_at"];

/// Validated list parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ListParams {
    pub limit: u32,
    pub sort: SortField,
    pub descending: bool,
    cursor: Option<Cursor>,
    pub q: Option<String>,
    pub tag: Option<String>,
    pub company_id: Option<Uuid>,
    pub email: Option<String>,
    pub trashed: bool,
}

/// One page and where the next one starts.
#[derive(Debug, Clone)]
pub struct Page {
    pub data: Vec<Contact>,
    pub next_cursor: Option<String>,
}

/// What a cursor carries: the sort it belongs to and the last row's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cursor {
    s: String,
    d: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<DateTime<Utc>>,
    i: Uuid,
}

fn sort_name(field: SortField) -> &'static str {
    match field {
        SortField::LastName => "last_name",
        SortField::FirstName => "first_name",
        SortField::CreatedAt => "created_at",
        SortField::UpdatedAt => "updated_at",
    }
}

impl ListParams {
    /// Reads query parameters (`limit`, `cursor`, `sort`, `q`, `filter[tag]`,
    /// `filter[company_id]`, `filter[email]`, `filter[trashed]`); unknown ones are refused.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> ServiceResult<Self> {
        let mut p = ListParams {
            limit: DEFAULT_LIMIT,
            sort: SortField::LastName,
            descending: false,
            cursor: None,
            q: None,
            tag: None,
            company_id: None,
            email: None,
            trashed: false,
        };
        let mut raw_cursor = None;
        for (key, value) in pairs {
            // An empty search or cursor means "none" (HTML forms send every field);
            // other parameters must be valid when present.
            if value.is_empty() && (key == "q" || key == "cursor") {
                continue;
            }
            if matches!(key, "q" | "filter[tag]" | "filter[email]")
                && value.chars().any(char::is_control)
            {
                // Stored text never holds control characters, so these could match nothing.
                return Err(bad(key, "must not contain control characters"));
            }
            match key {
                "limit" => p.limit = limit(value, MAX_LIMIT)?,
                "cursor" => raw_cursor = Some(value),
                "sort" => {
                    let (desc, name) = match value.strip_prefix('-') {
                        Some(n) => (true, n),
                        None => (false, value),
                    };
                    p.descending = desc;
                    p.sort = match name {
                        "last_name" => SortField::LastName,
                        "first_name" => SortField::FirstName,
                        "created_at" => SortField::CreatedAt,
                        "updated_at" => SortField::UpdatedAt,
                        _ => {
                            return Err(bad(
                                "sort",
                                format!(
                                    "must be one of {} (prefix `-` for descending)",
                                    SORT_FIELDS.join(", ")
                                ),
                            ));
                        }
                    };
                }
                "q" => {
                    p.q = Some(value.chars().take(200).collect())
                        .filter(|q: &String| !q.trim().is_empty())
                }
                "filter[tag]" => p.tag = Some(value.to_owned()),
                "filter[email]" => p.email = Some(value.trim().to_lowercase()),
                "filter[company_id]" => {
                    p.company_id = Some(
                        Uuid::parse_str(value)
                            .map_err(|_| bad("filter[company_id]", "must be a UUID"))?,
                    )
                }
                "filter[trashed]" => p.trashed = flag(key, value)?,
                other => return Err(bad(other, "unknown query parameter")),
            }
        }
        if let Some(raw) = raw_cursor {
            let cursor: Cursor = decode_cursor(raw)?;
            if cursor.s != sort_name(p.sort) || cursor.d != p.descending {
                return Err(bad(
                    "cursor",
                    "belongs to another sort order; start again without a cursor",
                ));
            }
            p.cursor = Some(cursor);
        }
        Ok(p)
    }

    pub(super) fn query(&self) -> ListQuery {
        let after = self.cursor.as_ref().map(|c| {
            let value = match (&c.t, c.at) {
                (Some(t), _) => SortValue::Text(t.clone()),
                (None, Some(at)) => SortValue::Time(at),
                (None, None) => SortValue::None,
            };
            (value, c.i)
        });
        ListQuery {
            sort: self.sort,
            descending: self.descending,
            after,
            limit: self.limit + 1,
            terms: self
                .q
                .as_deref()
                .map(|q| fold(q).split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            tag: self.tag.as_deref().map(fold),
            company_id: self.company_id,
            email: self.email.clone(),
            trashed: self.trashed,
        }
    }

    fn cursor_after(&self, last: &Contact) -> ServiceResult<String> {
        let (t, at) = match self.sort.value_of(last) {
            SortValue::Text(t) => (Some(t), None),
            SortValue::Time(at) => (None, Some(at)),
            SortValue::None => (None, None),
        };
        let cursor = Cursor {
            s: sort_name(self.sort).to_owned(),
            d: self.descending,
            t,
            at,
            i: last.id.0,
        };
        encode_cursor(&cursor)
    }
}

impl Carnet {
    /// One page of contacts matching the parameters.
    pub async fn list_contacts(
        &self,
        ctx: &TenantContext,
        params: &ListParams,
    ) -> ServiceResult<Page> {
        ctx.require_read()?;
        let mut tx = self.db.tenant_read(ctx.tenant).await?;
        let mut data = contacts::list(&mut tx, &params.query()).await?;
        let more = data.len() > params.limit as usize;
        data.truncate(params.limit as usize);
        let next_cursor = match data.last() {
            Some(last) if more => Some(params.cursor_after(last)?),
            _ => None,
        };
        Ok(Page { data, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServiceError;

    #[test]
    fn parses_and_refuses_parameters() {
        let p = ListParams::parse([
            ("limit", "10"),
            ("sort", "-updated_at"),
            ("filter[tag]", "VIP"),
        ])
        .unwrap();
        assert_eq!(p.limit, 10);
        assert_eq!(p.sort, SortField::UpdatedAt);
        assert!(p.descending);
        assert_eq!(p.query().tag.as_deref(), Some("vip"));
        let empty = ListParams::parse([("q", ""), ("cursor", "")]).unwrap();
        assert_eq!(
            (empty.sort, empty.limit, empty.q),
            (SortField::LastName, DEFAULT_LIMIT, None)
        );
        for key in ["q", "filter[tag]", "filter[email]"] {
            assert!(
                ListParams::parse([(key, "a\u{0}b")]).is_err(),
                "NUL in {key}"
            );
        }
        for key in [
            "sort",
            "limit",
            "filter[company_id]",
            "filter[trashed]",
            "colour",
        ] {
            assert!(
                ListParams::parse([(key, "")]).is_err(),
                "empty {key} is refused"
            );
        }
        for (k, v, field) in [
            ("limit", "0", "limit"),
            ("limit", "201", "limit"),
            ("limit", "ten", "limit"),
            ("sort", "password", "sort"),
            ("cursor", "garbage", "cursor"),
            ("filter[company_id]", "x", "filter[company_id]"),
            ("color", "red", "color"),
        ] {
            match ListParams::parse([(k, v)]) {
                Err(ServiceError::BadParameter { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{k}={v}: {other:?}"),
            }
        }
    }
}
