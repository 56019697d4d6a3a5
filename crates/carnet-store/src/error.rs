//! Storage errors. A failing database is never reported as "not found".

/// What can go wrong in the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or is unreachable; callers answer 500/503 and log it.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// A unique constraint refused the write; the text names the constraint or column.
    #[error("already exists ({0})")]
    Conflict(String),
    /// Applying or inspecting migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The connection settings are unusable (unknown URL scheme, missing file, …).
    #[error("{0}")]
    Config(String),
    /// The schema is not the one this build expects; the text says what to do.
    #[error("{0}")]
    Schema(String),
    /// A write's commit failed, or the commit it shared with other writes (SQLite's
    /// `crate::group_commit`) did: none of them is stored.
    #[error("the write was not stored: {0}")]
    NotDurable(String),
    /// A stored value could not be read back (corrupted or hand-edited row).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let Some(db) = e.as_database_error()
            && db.is_unique_violation()
        {
            let what = db
                .constraint()
                .map(str::to_owned)
                .unwrap_or_else(|| db.message().to_owned());
            return StoreError::Conflict(what);
        }
        StoreError::Database(e)
    }
}
