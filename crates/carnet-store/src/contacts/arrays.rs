//! PostgreSQL: new contacts bound as one array per column, written by one
//! `INSERT … SELECT … FROM unnest(…)` whatever their number (the import's batches, the
//! creates that go together).

use super::{IndexTable, json_text};
use crate::params::unnest_rows;
use crate::search;
use carnet_core::ContactId;
use carnet_core::contact::ContactInput;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The values of [`super::INSERT_COLUMNS`] for tenant `$1` from a row `t` of [`rows_sql`].
pub(super) const ROW: &str = "$1, t.id, t.first_name, t.last_name, t.emails::jsonb, \
     t.phones::jsonb, t.company_id, t.job_title, t.tags::jsonb, t.custom::jsonb, t.owner_id, \
     t.search_text, t.sort_last, t.sort_first, 1, t.created_at, t.created_at, t.created_by, \
     t.search_rest";

/// The contacts bound from `$first` on ([`bind_contact_arrays!`]), as the rows `t` of a
/// `FROM`. Takes sixteen parameters.
pub(super) fn rows_sql(first: usize) -> String {
    unnest_rows(
        first,
        "t",
        &[
            ("id", "uuid"),
            ("first_name", "text"),
            ("last_name", "text"),
            ("emails", "text"),
            ("phones", "text"),
            ("company_id", "uuid"),
            ("job_title", "text"),
            ("tags", "text"),
            ("custom", "text"),
            ("owner_id", "uuid"),
            ("search_text", "text"),
            ("sort_last", "text"),
            ("sort_first", "text"),
            ("created_at", "timestamptz"),
            ("created_by", "uuid"),
            ("search_rest", "text"),
        ],
    )
}

/// The index rows (contact, key) of one index table bound as two arrays from `$first` on,
/// as the rows `k(contact_id, value)` of a `FROM`.
pub(super) fn keys_sql(first: usize) -> String {
    unnest_rows(first, "k", &[("contact_id", "uuid"), ("value", "text")])
}

/// New contacts, one array per column of [`rows_sql`].
#[derive(Default)]
pub(super) struct ContactArrays<'a> {
    pub(super) ids: Vec<Uuid>,
    pub(super) firsts: Vec<Option<&'a str>>,
    pub(super) lasts: Vec<Option<&'a str>>,
    pub(super) emails: Vec<String>,
    pub(super) phones: Vec<String>,
    pub(super) companies: Vec<Option<Uuid>>,
    pub(super) titles: Vec<Option<&'a str>>,
    pub(super) tags: Vec<String>,
    pub(super) customs: Vec<String>,
    pub(super) owners: Vec<Option<Uuid>>,
    pub(super) searches: Vec<String>,
    pub(super) sort_lasts: Vec<String>,
    pub(super) sort_firsts: Vec<String>,
    pub(super) created_at: Vec<DateTime<Utc>>,
    pub(super) created_by: Vec<Option<Uuid>>,
    pub(super) rests: Vec<String>,
}

impl<'a> ContactArrays<'a> {
    /// Adds a contact created at `now` by `created_by`.
    pub(super) fn push(
        &mut self,
        id: ContactId,
        input: &'a ContactInput,
        created_by: Option<Uuid>,
        now: DateTime<Utc>,
    ) {
        self.ids.push(id.0);
        self.firsts.push(input.first_name.as_deref());
        self.lasts.push(input.last_name.as_deref());
        self.titles.push(input.job_title.as_deref());
        self.emails.push(json_text(&input.emails));
        self.phones.push(json_text(&input.phones));
        self.tags.push(json_text(&input.tags));
        self.customs.push(json_text(&input.custom));
        self.companies.push(input.company_id);
        self.owners.push(input.owner_id.map(|o| o.0));
        let (search, (last, first)) = (input.search_text(), input.sort_keys());
        self.rests.push(search::rest_text(&search, &last, &first));
        self.searches.push(search);
        self.sort_lasts.push(last);
        self.sort_firsts.push(first);
        self.created_at.push(now);
        self.created_by.push(created_by);
    }
}

/// The index rows of contacts for one index table, as the two arrays of [`keys_sql`].
pub(super) fn key_arrays<'a>(
    table: IndexTable,
    contacts: impl Iterator<Item = (ContactId, &'a ContactInput)>,
) -> (Vec<Uuid>, Vec<String>) {
    table.pairs(contacts).into_iter().unzip()
}

/// Binds the sixteen arrays of [`rows_sql`] from a [`ContactArrays`] `$a`.
macro_rules! bind_contact_arrays {
    ($query:expr, $a:expr) => {{
        let a: &$crate::contacts::arrays::ContactArrays<'_> = &$a;
        $query
            .bind(&a.ids)
            .bind(&a.firsts)
            .bind(&a.lasts)
            .bind(&a.emails)
            .bind(&a.phones)
            .bind(&a.companies)
            .bind(&a.titles)
            .bind(&a.tags)
            .bind(&a.customs)
            .bind(&a.owners)
            .bind(&a.searches)
            .bind(&a.sort_lasts)
            .bind(&a.sort_firsts)
            .bind(&a.created_at)
            .bind(&a.created_by)
            .bind(&a.rests)
    }};
}
pub(super) use bind_contact_arrays;
