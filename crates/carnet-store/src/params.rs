//! Values bound to dynamically built queries, so one SQL text serves both backends, and
//! how the database plans such a query.

use crate::Result;
use crate::tx::{TenantTx, Tx};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One bound value of a dynamic query (`$1`, `$2`, … on both backends).
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Uuid(Uuid),
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
}

/// Collects SQL text and its parameters, numbering placeholders as they are added.
#[derive(Debug, Default)]
pub(crate) struct SqlBuilder {
    pub sql: String,
    pub params: Vec<Param>,
}

impl SqlBuilder {
    pub fn new(sql: &str) -> Self {
        Self {
            sql: sql.to_owned(),
            params: Vec::new(),
        }
    }

    /// Adds `p` and returns its placeholder (`$n`).
    pub fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.params.len())
    }

    pub fn push(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }
}

/// Binds every [`Param`] of a builder to a sqlx query, in order. Expanded once per backend.
macro_rules! bind_params {
    ($query:expr, $params:expr) => {{
        let mut q = $query;
        for p in $params {
            q = match p {
                $crate::params::Param::Uuid(v) => q.bind(*v),
                $crate::params::Param::Text(v) => q.bind(v.clone()),
                $crate::params::Param::Int(v) => q.bind(*v),
                $crate::params::Param::Time(v) => q.bind(*v),
            };
        }
        q
    }};
}
pub(crate) use bind_params;

/// The most parameters one multi-row statement binds: below SQLite's limit of 32,766.
pub(crate) const MAX_PARAMS: usize = 30_000;

/// `rows` copies of a row template such as `(?, ?, 1)`, for a multi-row `VALUES` clause.
pub(crate) fn values_rows(rows: usize, template: &str) -> String {
    vec![template; rows].join(", ")
}

/// PostgreSQL: the rows `alias(columns…)` of arrays bound from `$first` on, one parameter of
/// each element type of `columns` (`(name, type)`), zipped by `unnest`.
pub(crate) fn unnest_rows(first: usize, alias: &str, columns: &[(&str, &str)]) -> String {
    let arrays: Vec<String> = (first..)
        .zip(columns)
        .map(|(n, (_, t))| format!("${n}::{t}[]"))
        .collect();
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    format!(
        "unnest({}) AS {alias}({})",
        arrays.join(", "),
        names.join(", ")
    )
}

/// `?, ?, …` for `n` values (an `IN (…)` list).
pub(crate) fn placeholder_list(n: usize) -> String {
    values_rows(n, "?")
}

/// SQL written with anonymous `?` placeholders, made ready for the transaction's backend:
/// PostgreSQL numbers them (`$1`, `$2`, …); SQLite keeps them, since binding numbered
/// placeholders costs it a scan of the parameter names per parameter (quadratic in a
/// multi-row statement). Only for SQL without `?` in literals or operators.
pub(crate) fn positional(tx: &Tx, sql: &str) -> String {
    match tx {
        Tx::Sqlite(_) => sql.to_owned(),
        Tx::Postgres(_) => {
            let mut out = String::with_capacity(sql.len() + sql.len() / 2);
            let mut n = 0;
            for ch in sql.chars() {
                if ch == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(ch);
                }
            }
            out
        }
    }
}

/// How the database runs a built query (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on
/// PostgreSQL with sequential scans discouraged, so that a usable index shows).
pub(crate) async fn explain(tx: &mut TenantTx, b: &SqlBuilder) -> Result<String> {
    let lines: Vec<String> = match &mut tx.tx {
        Tx::Sqlite(c) => {
            let explain = format!("EXPLAIN QUERY PLAN {}", b.sql);
            let rows: Vec<(i64, i64, i64, String)> =
                bind_params!(sqlx::query_as(&explain), &b.params)
                    .fetch_all(&mut **c)
                    .await?;
            rows.into_iter().map(|r| r.3).collect()
        }
        Tx::Postgres(c) => {
            sqlx::query("SET LOCAL enable_seqscan = off")
                .execute(&mut **c)
                .await?;
            let explain = format!("EXPLAIN {}", b.sql);
            bind_params!(sqlx::query_scalar(&explain), &b.params)
                .fetch_all(&mut **c)
                .await?
        }
    };
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_repeat_their_template() {
        assert_eq!(values_rows(2, "(?, 1)"), "(?, 1), (?, 1)");
        assert_eq!(placeholder_list(3), "?, ?, ?");
    }
}
