//! Service errors: each maps to one HTTP status and one stable problem slug.

use carnet_core::ValidationErrors;
use carnet_store::StoreError;

/// What a use case can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// 422: the input breaks a rule; each field at fault is named.
    #[error("invalid input: {0}")]
    Validation(ValidationErrors),
    /// 400: a query parameter or header is malformed.
    #[error("bad parameter `{field}`: {message}")]
    BadParameter { field: String, message: String },
    /// 401: no valid credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// 403: authenticated, but not allowed to do this.
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    /// 404: no such record in this tenant (another tenant's ids are not found either).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409: the request conflicts with the record's state or another record.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 412: `If-Match` named a version that is no longer current.
    #[error("the record changed since version {expected}; current version is {current}")]
    PreconditionFailed { expected: String, current: i64 },
    /// 422: an `Idempotency-Key` was reused with a different request.
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    /// 409: a background job's lease expired and another worker carries the job on; the
    /// work of this one was rolled back.
    #[error("the job was taken over by another worker")]
    LeaseLost,
    /// 500: an internal step failed (hashing, serialising); details are logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
    /// 500: the storage layer failed; details are logged, never shown.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ServiceError::Conflict(what),
            other => ServiceError::Store(other),
        }
    }
}

impl From<ValidationErrors> for ServiceError {
    fn from(e: ValidationErrors) -> Self {
        ServiceError::Validation(e)
    }
}

/// Results of the service layer.
pub type ServiceResult<T> = Result<T, ServiceError>;
