//! Values bound to dynamically built queries, so one SQL text serves both backends.

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
