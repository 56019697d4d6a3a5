//! RFC 9457 problem details: every API error is `application/problem+json`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use carnet_core::FieldError;
use carnet_service::ServiceError;
use serde::Serialize;

/// The media type of every API error.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An API error, rendered as problem+json. `type` is `/problems/<slug>`, documented in docs/.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip)]
    pub authenticate: bool,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        slug: &str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind: format!("/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            authenticate: false,
        }
    }

    /// 400 naming the field (query parameter, header or body member) at fault.
    pub fn bad_request(field: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let mut p = Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail.clone(),
        );
        p.errors.push(FieldError::new(field, detail));
        p
    }

    /// 415 naming `Content-Type` and what the route accepts.
    pub fn unsupported_media_type(accepted: &str) -> Self {
        let mut p = Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            format!("send the body as {accepted}"),
        );
        p.errors.push(FieldError::new(
            "Content-Type",
            format!("must be {accepted}"),
        ));
        p
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn unauthenticated() -> Self {
        let mut p = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Authentication required",
            "send `Authorization: Bearer <API key>` or sign in",
        );
        p.authenticate = true;
        p
    }

    /// 500: says nothing internal; the request id in `X-Request-Id` finds the log line.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the server failed; quote the X-Request-Id header when reporting it",
        )
    }
}

impl From<ServiceError> for Problem {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Validation(errors) => {
                let mut p = Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation",
                    "Invalid input",
                    errors.to_string(),
                );
                p.errors = errors.0;
                p
            }
            ServiceError::BadParameter { field, message } => Problem::bad_request(&field, message),
            ServiceError::Unauthenticated => Problem::unauthenticated(),
            ServiceError::Forbidden(what) => Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                format!("your role or API key scopes do not allow {what}"),
            ),
            ServiceError::NotFound(what) => Problem::not_found(format!("no such {what}")),
            ServiceError::Conflict(detail) => {
                Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
            }
            ServiceError::LeaseLost => {
                Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", e.to_string())
            }
            ServiceError::PreconditionFailed { .. } => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "Precondition failed",
                e.to_string(),
            ),
            ServiceError::IdempotencyMismatch => {
                let mut p = Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency-key-reused",
                    "Idempotency key reused",
                    "this Idempotency-Key was first used with a different request",
                );
                p.errors.push(FieldError::new(
                    "Idempotency-Key",
                    "already used with another request",
                ));
                p
            }
            ServiceError::Store(inner) => {
                tracing::error!(error = %inner, "storage failure");
                Problem::internal()
            }
            ServiceError::Internal(what) => {
                tracing::error!(error = %what, "internal failure");
                Problem::internal()
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.authenticate {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"carnet\""),
            );
        }
        res
    }
}
