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
//!
//! On SQLite, such a name is then read from its stretch instead ([`stretch`]): the contacts
//! whose sort key starts with the term are read in order from the sort index, and only the
//! other matches (its rowids less the stretch's, both from indexes) are read and sorted.
//! Reading every match of a common name (26,000 at a million contacts) cost a page read each.
//!
//! On PostgreSQL the search table answers in three parts ([`SearchRun`], migration 0009): the
//! contacts whose last- or first-name sort key starts with the search's longest run (ranges
//! of B-tree indexes, in list order), and the others, from a trigram index over the rest of
//! each contact's text ([`rest_text`]) and its sort keys' tails. Its trigram index used to
//! cover the whole text, and each of a common name's matches was read to recheck it. The
//! trigram index holds each row's tenant too (migration 0013): a workspace's search never
//! reads another workspace's matches.

use crate::tx::Tx;
use crate::{Result, StoreError};
use uuid::Uuid;

/// How many contacts, in list order, a search looks at before it asks the index (reading
/// them costs a few milliseconds at a million contacts).
pub(crate) const WINDOW: u32 = 1000;

/// The most contacts a second, wider look along the list order reads (see [`wider_window`]).
const WIDE_WINDOW: u32 = 20_000;

/// The most matches a search starts from; past it (a fifth of a million contacts), the list
/// walks its sort index, where such a term is met every few rows.
const CANDIDATE_CAP: usize = 200_000;

/// From this many matches on, a search sorted by a name tries its [`stretch`] (below it,
/// reading every match costs a few milliseconds).
const STRETCH_FROM: usize = 2_000;

/// The most matches outside a stretch that are read and sorted beside it; past it, the
/// search reads every match as before.
const STRETCH_REST_CAP: usize = 2_000;

/// SQLite: the rowids the index matches for the FTS5 query in parameter `query` among the
/// contacts of the tenant in parameter `tenant`, at most parameter `limit` of them. The index
/// holds every tenant's contacts; a tenant's own lie in its block of rowids (migration 0011),
/// a range the index seeks to in each of its segments.
fn tenant_matches(query: &str, limit: &str, tenant: &str) -> String {
    format!(
        "SELECT rowid FROM contact_search WHERE contact_search MATCH {query} \
         AND rowid BETWEEN (SELECT block << 40 FROM contact_rowid_blocks WHERE tenant_id = {tenant}) \
         AND (SELECT (block << 40) + 1099511627775 FROM contact_rowid_blocks WHERE tenant_id = {tenant}) \
         LIMIT {limit}"
    )
}

/// A trigram index holds no entry for a shorter term.
const MIN_TERM_CHARS: usize = 3;

/// The contacts a search starts from: every match of its terms that the index can look up.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Candidates {
    /// SQLite: rowids of the tenant's `contacts`, as the JSON array `json_each` reads, built
    /// by SQLite (one row back instead of one per match).
    Rowids { count: usize, json: String },
    /// PostgreSQL: ids of the current tenant's contacts.
    Ids(Vec<Uuid>),
}

impl Candidates {
    /// How many contacts these are.
    pub(crate) fn count(&self) -> usize {
        match self {
            Candidates::Rowids { count, .. } => *count,
            Candidates::Ids(ids) => ids.len(),
        }
    }

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

/// The matches of folded `terms` among `tenant`'s contacts when the index can find them and
/// they are at most [`CANDIDATE_CAP`]; `None` when the list should walk its sort index
/// instead (no term long enough for the index, or too many matches).
pub(crate) async fn candidates(
    tx: &mut Tx,
    tenant: Uuid,
    terms: &[String],
) -> Result<Option<Candidates>> {
    Ok(matches(tx, tenant, terms)
        .await?
        .filter(|found| found.count() <= CANDIDATE_CAP))
}

/// The matches of folded `terms` among `tenant`'s contacts that the index gives, at most
/// [`CANDIDATE_CAP`] + 1 of them; `None` when no term is long enough for the index.
pub(crate) async fn matches(
    tx: &mut Tx,
    tenant: Uuid,
    terms: &[String],
) -> Result<Option<Candidates>> {
    let cap = i64::try_from(CANDIDATE_CAP + 1).unwrap_or(i64::MAX);
    let found = match tx {
        Tx::Sqlite(c) => {
            let indexed: Vec<&String> = terms
                .iter()
                .filter(|t| t.chars().count() >= MIN_TERM_CHARS)
                .collect();
            if indexed.is_empty() {
                return Ok(None);
            }
            let (count, json): (i64, String) = sqlx::query_as(&format!(
                "SELECT count(*), json_group_array(rowid) FROM ({})",
                tenant_matches("$1", "$2", "$3")
            ))
            .bind(fts_trigrams(&indexed).join(" "))
            .bind(cap)
            .bind(tenant)
            .fetch_one(&mut **c)
            .await?;
            Candidates::Rowids {
                count: usize::try_from(count).unwrap_or(usize::MAX),
                json,
            }
        }
        Tx::Postgres(c) => {
            let Some(run) = SearchRun::of(terms) else {
                return Ok(None);
            };
            let ids: Vec<Uuid> =
                sqlx::query_scalar("SELECT contact_search_ids($1, $2, $3, $4::integer)")
                    .bind(run.run)
                    .bind(&run.end)
                    .bind(like_contains(run.run))
                    .bind(cap)
                    .fetch_all(&mut **c)
                    .await?;
            Candidates::Ids(ids)
        }
    };
    Ok(Some(found))
}

/// SQLite: the contacts whose sort key starts with a term, read in order from the sort index
/// (`column >= from AND column < to`), and the matches outside that range.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stretch {
    pub from: String,
    pub to: String,
    /// The matches whose rowid is not in the range.
    pub rest: Candidates,
}

/// SQLite, a search sorted by `column` (`sort_last` or `sort_first`) with many `found`
/// matches: its [`Stretch`] for the longest term, when at most [`STRETCH_REST_CAP`] matches
/// lie outside the contacts whose sort key starts with that term. `None` otherwise (fewer
/// matches, or a term that starts few of them): the search reads every match.
pub(crate) async fn stretch(
    c: &mut sqlx::SqliteConnection,
    tenant: Uuid,
    column: &'static str,
    terms: &[String],
    found: &Candidates,
) -> Result<Option<Stretch>> {
    let Candidates::Rowids { count, json } = found else {
        return Ok(None);
    };
    if *count < STRETCH_FROM {
        return Ok(None);
    }
    let Some((from, to)) = longest_indexed(terms).and_then(|t| Some((t.clone(), prefix_end(t)?)))
    else {
        return Ok(None);
    };
    let in_range: String = sqlx::query_scalar(&format!(
        "SELECT json_group_array(rowid) {}",
        in_stretch(column)
    ))
    .bind(tenant)
    .bind(&from)
    .bind(&to)
    .fetch_one(c)
    .await?;
    let mut in_range = rowids(&in_range)?;
    in_range.sort_unstable();
    let rest: Vec<i64> = rowids(json)?
        .into_iter()
        .filter(|r| in_range.binary_search(r).is_err())
        .collect();
    if rest.len() > STRETCH_REST_CAP {
        return Ok(None);
    }
    let items: Vec<String> = rest.iter().map(i64::to_string).collect();
    let json = format!("[{}]", items.join(","));
    Ok(Some(Stretch {
        from,
        to,
        rest: Candidates::Rowids {
            count: rest.len(),
            json,
        },
    }))
}

/// SQLite, a search sorted by `column` (`sort_last` or `sort_first`) whose one indexed term
/// starts the sort key of every one of its many matches (a last name searched in a list
/// sorted by last name): its [`Stretch`], with no match outside, found by counting the
/// stretch and the index's matches instead of reading both as [`stretch`] does (at a
/// million contacts, 26,000 matches: two lists of rowids built, sent and compared). Every
/// contact of the stretch holds the term (its sort key, folded as its search text is, starts
/// with it), so equal counts are the same contacts; the index's matches are counted no
/// further than the stretch's size, a trigram at a time first ([`only_in_stretch`]). `None`
/// when that does not hold: several indexed terms (a contact of the stretch may lack
/// another), fewer than [`STRETCH_FROM`] or more than [`CANDIDATE_CAP`] contacts in the
/// stretch, or matches outside it.
pub(crate) async fn whole_stretch(
    c: &mut sqlx::SqliteConnection,
    tenant: Uuid,
    column: &'static str,
    terms: &[String],
) -> Result<Option<Stretch>> {
    let indexed: Vec<&String> = terms
        .iter()
        .filter(|t| t.chars().count() >= MIN_TERM_CHARS)
        .collect();
    let [term] = indexed.as_slice() else {
        return Ok(None);
    };
    let Some(to) = prefix_end(term) else {
        return Ok(None);
    };
    // The stretch first: for a rare term it is empty and costs one probe of the sort index.
    let in_range: i64 = sqlx::query_scalar(&format!("SELECT count(*) {}", in_stretch(column)))
        .bind(tenant)
        .bind(*term)
        .bind(&to)
        .fetch_one(&mut *c)
        .await?;
    let size = usize::try_from(in_range).unwrap_or(usize::MAX);
    if !(STRETCH_FROM..=CANDIDATE_CAP).contains(&size) {
        return Ok(None);
    }
    let trigrams = fts_trigrams(&indexed);
    let all = trigrams.join(" ");
    let mut queries: Vec<&str> = trigrams.iter().map(String::as_str).collect();
    if queries.len() > 1 {
        queries.push(&all);
    }
    let sql = only_in_stretch(queries.len());
    let mut statement = sqlx::query_scalar(&sql)
        .bind(tenant)
        .bind(in_range + 1)
        .bind(in_range);
    for query in &queries {
        statement = statement.bind(*query);
    }
    let whole: bool = statement.fetch_one(&mut *c).await?;
    Ok(whole.then(|| Stretch {
        from: (*term).clone(),
        to,
        rest: Candidates::Rowids {
            count: 0,
            json: "[]".to_owned(),
        },
    }))
}

/// SQLite: the `FROM … WHERE` of a stretch, the contacts of tenant `$1` whose `column` lies
/// from `$2` up to `$3` (read from that column's sort index).
fn in_stretch(column: &str) -> String {
    format!("FROM contacts WHERE tenant_id = $1 AND {column} >= $2 AND {column} < $3")
}

/// SQLite: whether the index matches exactly `$3` contacts of tenant `$1` (a stretch's size)
/// for any of the FTS5 queries in parameters `$4` onwards, each counted up to `$2` (`$3` + 1).
/// Every contact of the stretch matches each query, so a query matching no more contacts
/// than the stretch holds matches none outside it, and neither does the search, which
/// matches fewer. `CASE` stops at the first query found so: given each trigram first, then
/// all of them, a term one of whose trigrams no other contact holds ("hev" of "chevalier")
/// is settled by reading as many index entries as the stretch holds, where the whole query
/// read every entry of each trigram ("ier": twelve times as many).
fn only_in_stretch(queries: usize) -> String {
    let whens: Vec<String> = (4..4 + queries)
        .map(|p| {
            format!(
                "WHEN (SELECT count(*) FROM ({})) = $3 THEN 1",
                tenant_matches(&format!("${p}"), "$2", "$1")
            )
        })
        .collect();
    format!("SELECT CASE {} ELSE 0 END", whens.join(" "))
}

/// The least string above every string starting with `prefix` (its last character
/// incremented; UTF-8 sorts bytewise as characters do); `None` past the last character.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    let last = u32::from(chars.pop()?);
    let next = char::from_u32(last + 1).or_else(|| (last + 1 == 0xD800).then_some('\u{E000}'))?;
    chars.push(next);
    Some(chars.into_iter().collect())
}

/// The integers of a JSON array SQLite's `json_group_array` built.
fn rowids(json: &str) -> Result<Vec<i64>> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("rowid list: {e}")))
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
    let Some(run) = SearchRun::of(page.terms) else {
        return Ok(None);
    };
    let patterns: Vec<String> = page.terms.iter().map(|t| like_contains(t)).collect();
    let (after_key, after_id) = page.after.unzip();
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT contact_search_page($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::integer)",
    )
    .bind(run.run)
    .bind(&run.end)
    .bind(like_contains(run.run))
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

/// The longest term the SQLite stretch reads from the sort index (usually the rarest).
fn longest_indexed(terms: &[String]) -> Option<&String> {
    terms
        .iter()
        .filter(|t| t.chars().count() >= MIN_TERM_CHARS)
        .max_by_key(|t| t.chars().count())
}

/// PostgreSQL: the run of a search that its indexes look up (migration 0009): the longest
/// [`runs`] of its terms, of three characters or more; every match of the search holds it.
/// Its matches are the contacts whose last- or first-name sort key starts with it (a range
/// from `run` to `end` of a B-tree) and those whose [`rest_text`] or sort-key tails hold it
/// (a trigram index).
struct SearchRun<'a> {
    run: &'a str,
    /// The least text above every text starting with `run`.
    end: String,
}

impl<'a> SearchRun<'a> {
    /// `None` when no term has a run long enough for the trigram index (or, for a run
    /// ending in the last character there is, no range end): the list walks its sort index.
    fn of(terms: &'a [String]) -> Option<Self> {
        let run = terms
            .iter()
            .flat_map(|t| runs(t))
            .filter(|r| r.chars().count() >= MIN_TERM_CHARS)
            .max_by_key(|r| r.chars().count())?;
        Some(SearchRun {
            run,
            end: prefix_end(run)?,
        })
    }
}

/// Whether `c` separates runs: a space or ASCII punctuation (the class
/// `[ !-/:-@[-`{-~]` of PostgreSQL's `contact_search_rest`).
fn cuts(c: char) -> bool {
    c == ' ' || c.is_ascii_punctuation()
}

/// The runs of `text`: its longest stretches of letters, or of ASCII digits, between the
/// characters that [`cuts`] ("jean.dubois12@x" → "jean", "dubois", "12", "x"). A search run
/// cannot straddle two runs of a contact's text, which is what lets the search table
/// leave some runs out of [`rest_text`].
fn runs(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches(cuts);
        let first = rest.chars().next()?;
        let digits = first.is_ascii_digit();
        let len = rest
            .find(|c: char| cuts(c) || c.is_ascii_digit() != digits)
            .unwrap_or(rest.len());
        let (run, after) = rest.split_at(len);
        rest = after;
        Some(run)
    })
}

/// The leading letters of a sort key, up to its first digit or [`cuts`] character ("de la
/// fontaine" → "de"); `None` when it starts with a digit or such a character.
fn lead(sort_key: &str) -> Option<&str> {
    let len = sort_key
        .find(|c: char| cuts(c) || c.is_ascii_digit())
        .unwrap_or(sort_key.len());
    (len > 0).then(|| &sort_key[..len])
}

/// PostgreSQL: a contact's search text as the search table indexes it for matches outside
/// the sort keys' ranges: its [`runs`], less each run equal to the [`lead`] of either
/// sort key, joined by spaces ("jean dubois jean.dubois12@x.fr", sorted "dubois", "jean"
/// → "12 x fr"). The same rule as `contact_search_rest` in SQL, which fills it when a write
/// gives none.
pub(crate) fn rest_text(search_text: &str, sort_last: &str, sort_first: &str) -> String {
    let (last, first) = (lead(sort_last), lead(sort_first));
    let kept: Vec<&str> = runs(search_text)
        .filter(|r| Some(*r) != last && Some(*r) != first)
        .collect();
    kept.join(" ")
}

/// The trigrams of `terms` as FTS5 queries, each once: quoted (quotes doubled). Joined by
/// spaces (implicitly ANDed), they are a query that every contact containing all `terms`
/// matches. The index keeps no positions (migration 0005), so it may also return a contact
/// holding the trigrams apart; the list's `LIKE` test drops those.
fn fts_trigrams(terms: &[&String]) -> Vec<String> {
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
    trigrams
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
    fn runs_split_at_punctuation_spaces_and_digits() {
        let cut: Vec<&str> = runs(" jean.dubois12@x-y.fr  +33 6 o'brien иванов2").collect();
        assert_eq!(
            cut,
            [
                "jean",
                "dubois",
                "12",
                "x",
                "y",
                "fr",
                "33",
                "6",
                "o",
                "brien",
                "иванов",
                "2"
            ]
        );
        assert_eq!(runs("").count(), 0);
        assert_eq!(runs(" .-").count(), 0);
    }

    #[test]
    fn rest_text_leaves_out_the_sort_keys_leading_runs() {
        assert_eq!(
            rest_text(
                "jean dubois jean.dubois12@cabinet-dubois.fr",
                "dubois",
                "jean"
            ),
            "12 cabinet fr"
        );
        // Only whole runs go: "mdubois" and "duboisier" stay; a compound name loses its
        // first word only; a key starting with a digit takes nothing out.
        assert_eq!(
            rest_text("mdubois duboisier de la fontaine", "de la fontaine", ""),
            "mdubois duboisier la fontaine"
        );
        assert_eq!(rest_text("bob 3m team", "3m team", "bob"), "3 m team");
        assert_eq!(lead("3m team"), None);
        assert_eq!(lead("o'brien"), Some("o"));
        assert_eq!(lead(""), None);
    }

    #[test]
    fn a_search_looks_up_its_longest_run() {
        let terms = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
        let found = terms(&["jean.dubois12", "x"]);
        let run = SearchRun::of(&found).map(|r| (r.run, r.end));
        assert_eq!(run, Some(("dubois", "duboit".to_owned())));
        // "+33" and "a.b.c" hold no run of three characters: the list walks instead.
        assert!(SearchRun::of(&terms(&["+33", "a.b.c"])).is_none());
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_contains("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn fts_queries_ask_for_every_trigram_once() {
        let a = "o\"bri".to_owned();
        let b = "a*bri".to_owned();
        assert_eq!(
            fts_trigrams(&[&a, &b]).join(" "),
            "\"o\"\"b\" \"\"\"br\" \"bri\" \"a*b\" \"*br\""
        );
        let accented = "éloï".to_owned();
        assert_eq!(fts_trigrams(&[&accented]), ["\"élo\"", "\"loï\""]);
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
    fn a_prefix_ends_where_its_last_character_is_passed() {
        assert_eq!(prefix_end("dubois").as_deref(), Some("duboit"));
        assert_eq!(prefix_end("lefè").as_deref(), Some("lefé"));
        assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_end("a\u{10FFFF}"), None);
        assert_eq!(prefix_end(""), None);
        for (inside, prefix) in [
            ("dubois", "dubois"),
            ("duboisson", "dubois"),
            ("lefèvre", "lefè"),
        ] {
            let end = prefix_end(prefix).unwrap();
            assert!(prefix <= inside && inside < end.as_str(), "{inside}");
        }
        assert!("duboit" >= prefix_end("dubois").unwrap().as_str());
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
