//! Contact search behind one function per backend: which contacts a search can start from.
//!
//! Both backends keep a trigram index of the contacts' folded search text (migration 0004):
//! an FTS5 table on SQLite, a pg_trgm index on PostgreSQL. A search first looks among the
//! first [`WINDOW`] contacts in list order (a term many contacts match fills its page there),
//! then, if some matched there, among as many more as their density predicts (up to
//! [`WIDE_WINDOW`]); failing that, it reads the contacts the index matches and sorts them; past
//! [`CANDIDATE_CAP`] matches it walks the list's sort index. On PostgreSQL a search sorted by
//! a name asks the search table for its page directly ([`sorted_page`]). Every path applies
//! the same `LIKE` test to every term, so they return the same contacts.
//!
//! Walking the sort index alone was not enough: a last name searched in a list sorted by
//! last name sits in one stretch of that order, which a walk reaches only after every
//! contact before it (seconds at a million contacts).

use crate::Result;
use crate::tx::Tx;
use uuid::Uuid;

/// How many contacts, in list order, a search looks at before it asks the index (reading
/// them costs a few milliseconds at a million contacts).
pub(crate) const WINDOW: u32 = 1000;

/// The most contacts a second, wider look along the list order reads (see [`wider_window`]).
const WIDE_WINDOW: u32 = 20_000;

/// The most matches a search starts from; past it (a fifth of a million contacts), the list
/// walks its sort index, where such a term is met every few rows.
const CANDIDATE_CAP: usize = 200_000;

/// A trigram index holds no entry for a shorter term.
const MIN_TERM_CHARS: usize = 3;

/// The contacts a search starts from: every match of its terms that the index can look up.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Candidates {
    /// SQLite: rowids of `contacts` (any tenant: the list query filters by tenant), as the
    /// JSON array `json_each` reads, built by SQLite (one row back instead of one per match).
    Rowids { count: usize, json: String },
    /// PostgreSQL: ids of the current tenant's contacts.
    Ids(Vec<Uuid>),
}

impl Candidates {
    /// A list of the candidates as one text parameter: a JSON array for SQLite's
    /// `json_each`, an array literal for PostgreSQL's `::uuid[]`.
    pub(crate) fn as_param(&self) -> String {
        match self {
            Candidates::Rowids { json, .. } => json.clone(),
            Candidates::Ids(ids) => {
                let items: Vec<String> = ids.iter().map(Uuid::to_string).collect();
                format!("{{{}}}", items.join(","))
            }
        }
    }
}

/// How many contacts in list order a second look should read, when the first [`WINDOW`]
/// held `matched` contacts of a page of `limit`: twice what the density seen so far
/// predicts, if that is at most [`WIDE_WINDOW`]. `None` when nothing matched (a rare term, or
/// one whose contacts sort further on: the index finds those sooner) or the page would need
/// more.
pub(crate) fn wider_window(matched: usize, limit: u32) -> Option<u32> {
    let matched = u64::try_from(matched).ok().filter(|m| *m > 0)?;
    let predicted = u64::from(limit) * u64::from(WINDOW) * 2 / matched;
    u32::try_from(predicted)
        .ok()
        .filter(|n| *n <= WIDE_WINDOW)
        .map(|n| n.max(2 * WINDOW))
}

/// Whether the index can look up any of these folded terms (one of three characters or more).
pub(crate) fn indexable(terms: &[String]) -> bool {
    terms.iter().any(|t| t.chars().count() >= MIN_TERM_CHARS)
}

/// The matches of folded `terms` when the index can find them and they are at most
/// [`CANDIDATE_CAP`]; `None` when the list should walk its sort index instead (no term long
/// enough for the index, or too many matches).
pub(crate) async fn candidates(tx: &mut Tx, terms: &[String]) -> Result<Option<Candidates>> {
    let indexed: Vec<&String> = terms
        .iter()
        .filter(|t| t.chars().count() >= MIN_TERM_CHARS)
        .collect();
    if indexed.is_empty() {
        return Ok(None);
    }
    let cap = i64::try_from(CANDIDATE_CAP + 1).unwrap_or(i64::MAX);
    let found = match tx {
        Tx::Sqlite(c) => {
            let (count, json): (i64, String) = sqlx::query_as(
                "SELECT count(*), json_group_array(rowid) FROM \
                 (SELECT rowid FROM contact_search WHERE contact_search MATCH $1 LIMIT $2)",
            )
            .bind(fts_trigrams(&indexed))
            .bind(cap)
            .fetch_one(&mut **c)
            .await?;
            Candidates::Rowids {
                count: usize::try_from(count).unwrap_or(usize::MAX),
                json,
            }
        }
        Tx::Postgres(c) => {
            let longest = longest_indexed(terms).map_or_else(String::new, |t| like_contains(t));
            let ids: Vec<Uuid> = sqlx::query_scalar("SELECT contact_search_ids($1, $2::integer)")
                .bind(longest)
                .bind(cap)
                .fetch_all(&mut **c)
                .await?;
            Candidates::Ids(ids)
        }
    };
    let count = match &found {
        Candidates::Rowids { count, .. } => *count,
        Candidates::Ids(v) => v.len(),
    };
    Ok((count <= CANDIDATE_CAP).then_some(found))
}

/// A page of a search sorted by a name, asked of the search table itself: its sort keys and
/// trash flag are copied there (PostgreSQL, migration 0008).
pub(crate) struct SortedPage<'a> {
    /// Folded search terms; each must appear in the search text.
    pub terms: &'a [String],
    /// `sort_last` or `sort_first`.
    pub column: &'static str,
    pub descending: bool,
    pub trashed: bool,
    /// Start after this (sort key, id).
    pub after: Option<(&'a str, Uuid)>,
    pub limit: u32,
}

/// PostgreSQL: the ids of one page of `page`'s matches, in list order, from the search table
/// alone (so a term thousands of contacts share costs a sort of its matches' keys, not a read
/// of every match); `None` when no term is long enough for the trigram index.
pub(crate) async fn sorted_page(
    c: &mut sqlx::PgConnection,
    page: &SortedPage<'_>,
) -> Result<Option<Vec<Uuid>>> {
    let Some(longest) = longest_indexed(page.terms) else {
        return Ok(None);
    };
    let patterns: Vec<String> = page.terms.iter().map(|t| like_contains(t)).collect();
    let (after_key, after_id) = page.after.unzip();
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT contact_search_page($1, $2, $3, $4, $5, $6, $7, $8::integer)")
            .bind(like_contains(longest))
            .bind(patterns)
            .bind(page.column)
            .bind(page.descending)
            .bind(page.trashed)
            .bind(after_key)
            .bind(after_id)
            .bind(i64::from(page.limit))
            .fetch_all(c)
            .await?;
    Ok(Some(ids))
}

/// The term the trigram index looks up on PostgreSQL: the longest one it holds entries for,
/// usually the rarest (the others are tested by `LIKE`).
fn longest_indexed(terms: &[String]) -> Option<&String> {
    terms
        .iter()
        .filter(|t| t.chars().count() >= MIN_TERM_CHARS)
        .max_by_key(|t| t.chars().count())
}

/// An FTS5 query that every contact containing all `terms` matches: each trigram of each
/// term, quoted (quotes doubled) and implicitly ANDed. The index keeps no positions
/// (migration 0005), so it may also return a contact holding the trigrams apart; the list's
/// `LIKE` test drops those.
fn fts_trigrams(terms: &[&String]) -> String {
    let mut trigrams: Vec<String> = Vec::new();
    for term in terms {
        let chars: Vec<char> = term.chars().collect();
        for window in chars.windows(3) {
            let trigram: String = window.iter().collect();
            let quoted = format!("\"{}\"", trigram.replace('"', "\"\""));
            if !trigrams.contains(&quoted) {
                trigrams.push(quoted);
            }
        }
    }
    trigrams.join(" ")
}

/// A LIKE pattern matching `term` anywhere, with `%`, `_` and `\` escaped by `\` (the
/// escape character of PostgreSQL by default, and of SQLite with `ESCAPE '\'`).
pub(crate) fn like_contains(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 2);
    out.push('%');
    for ch in term.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_contains("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn fts_queries_ask_for_every_trigram_once() {
        let a = "o\"bri".to_owned();
        let b = "a*bri".to_owned();
        assert_eq!(
            fts_trigrams(&[&a, &b]),
            "\"o\"\"b\" \"\"\"br\" \"bri\" \"a*b\" \"*br\""
        );
        let accented = "éloï".to_owned();
        assert_eq!(fts_trigrams(&[&accented]), "\"élo\" \"loï\"");
    }

    #[test]
    fn wider_windows_follow_the_density_seen() {
        assert_eq!(wider_window(0, 51), None, "nothing seen: ask the index");
        assert_eq!(wider_window(10, 51), Some(10_200));
        assert_eq!(wider_window(50, 51), Some(2_040));
        assert_eq!(
            wider_window(40, 20),
            Some(2_000),
            "never narrower than twice the first"
        );
        assert_eq!(wider_window(5, 51), None, "past the widest: ask the index");
    }

    #[test]
    fn candidate_ids_are_one_parameter() {
        let id = Uuid::nil();
        assert_eq!(
            Candidates::Ids(vec![id, id]).as_param(),
            format!("{{{id},{id}}}")
        );
    }
}
