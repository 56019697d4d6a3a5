//! What the routes of every kind of record share: headers read and written, idempotent
//! creates replayed.

use crate::problem::Problem;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use carnet_service::contacts::{Idempotency, etag};
use carnet_store::idempotency::StoredResponse;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A request header as text; one that is not visible ASCII is a 400 naming it.
pub(super) fn header_str<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> Result<Option<&'a str>, Problem> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| Problem::bad_request(name, "must be visible ASCII"))
        })
        .transpose()
}

/// The `Idempotency-Key` of a create, with the fingerprint of the request (`route` and body).
pub(super) fn idempotency(
    headers: &HeaderMap,
    route: &str,
    body: &Value,
) -> Result<Option<Idempotency>, Problem> {
    match header_str(headers, "idempotency-key")? {
        None => Ok(None),
        Some(key) if !key.is_empty() && key.len() <= 255 => {
            let digest = Sha256::digest(format!("{route}\n{body}").as_bytes());
            let fingerprint = digest.iter().map(|b| format!("{b:02x}")).collect();
            Ok(Some(Idempotency {
                key: key.to_owned(),
                fingerprint,
            }))
        }
        Some(_) => Err(Problem::bad_request(
            "Idempotency-Key",
            "must be 1 to 255 characters",
        )),
    }
}

/// A record with its `ETag` (and `Location` when just created).
pub(super) fn record_response(
    status: StatusCode,
    record: &impl Serialize,
    version: i64,
    location: Option<String>,
) -> Response {
    let mut res = (status, axum::Json(record)).into_response();
    if let Ok(tag) = HeaderValue::from_str(&etag(version)) {
        res.headers_mut().insert(header::ETAG, tag);
    }
    if let Some(loc) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    res
}

/// The first response to an idempotency key, again, marked `Idempotent-Replayed: true`.
pub(super) fn replayed(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(u16::try_from(stored.status).unwrap_or(500))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = (status, stored.body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        HeaderName::from_static("idempotent-replayed"),
        HeaderValue::from_static("true"),
    );
    for (name, value) in [
        (header::LOCATION, stored.location),
        (header::ETAG, stored.etag),
    ] {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert(name, v);
        }
    }
    res
}
