//! What every list's query parameters share: the page size, true/false filters and opaque
//! cursors (URL-safe base64 of a small JSON object this server wrote).

use crate::{ServiceError, ServiceResult};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A 400 naming the parameter at fault.
pub(crate) fn bad(field: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::BadParameter {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// `limit`: an integer from 1 to `max`.
pub(crate) fn limit(value: &str, max: u32) -> ServiceResult<u32> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| bad("limit", format!("must be an integer from 1 to {max}")))
}

/// A filter that is `true` or `false`.
pub(crate) fn flag(key: &str, value: &str) -> ServiceResult<bool> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(key, "must be true or false")),
    }
}

/// A cursor as clients receive it.
pub(crate) fn encode_cursor(cursor: &impl Serialize) -> ServiceResult<String> {
    let json = serde_json::to_vec(cursor).map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// A cursor clients sent back; anything this server did not write is a 400 naming `cursor`.
pub(crate) fn decode_cursor<T: DeserializeOwned>(raw: &str) -> ServiceResult<T> {
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| bad("cursor", "is not a cursor this server issued"))
}
