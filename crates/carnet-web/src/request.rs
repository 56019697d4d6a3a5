//! Request helpers shared by the API and the UI: JSON bodies, client address, request id.

use crate::problem::Problem;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::Value;
use std::net::SocketAddr;

/// Largest accepted request body.
pub const MAX_BODY: usize = 1024 * 1024;

/// Deepest accepted JSON nesting: deeper documents are refused before parsing.
const MAX_DEPTH: usize = 64;

/// A JSON body: media type checked (415), size checked (413), syntax checked (400).
/// `application/json` always; `application/merge-patch+json` too where the route says so.
pub struct JsonBody {
    pub value: Value,
}

fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let media = media_type(req.headers());
        let merge_patch_ok = req.method() == axum::http::Method::PATCH;
        match media.as_deref() {
            Some("application/json") => {}
            Some("application/merge-patch+json") if merge_patch_ok => {}
            _ => {
                let accepted = if merge_patch_ok {
                    "application/merge-patch+json or application/json"
                } else {
                    "application/json"
                };
                return Err(Problem::unsupported_media_type(accepted));
            }
        }
        let raw = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_problem(&e, MAX_BODY))?;
        if nesting_depth(&raw) > MAX_DEPTH {
            return Err(Problem::bad_request(
                "body",
                format!("JSON nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        let value = serde_json::from_slice(&raw)
            .map_err(|e| Problem::bad_request("body", format!("malformed JSON: {e}")))?;
        Ok(JsonBody { value })
    }
}

/// Why a body could not be read, as a problem: too slow (408), over `limit` bytes (413), or
/// broken off (400).
pub(crate) fn body_problem(e: &BytesRejection, limit: usize) -> Problem {
    if timed_out(e) {
        Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            "Request timeout",
            "the body did not arrive in time",
        )
    } else if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Payload too large",
            format!("the body must be at most {limit} bytes"),
        )
    } else {
        Problem::bad_request("body", format!("the body could not be read: {e}"))
    }
}

/// Whether reading the body failed because the client was too slow.
pub(crate) fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// The deepest bracket nesting in a JSON text, ignoring brackets inside strings.
fn nesting_depth(raw: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in raw {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The client's address, when the server knows it.
pub fn client_ip(req_extensions: &axum::http::Extensions) -> Option<String> {
    req_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip().to_string())
}

/// The request id set by the request-id layer.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A path's `{id}` segment as text; a malformed one is a problem+json like every API error.
pub struct IdPath(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IdPath {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| IdPath(p.0))
            .map_err(|e| Problem::bad_request("id", e.body_text()))
    }
}

/// The pairs of a query string; a malformed one is a 400 naming `query`.
pub fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, Problem> {
    serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| Problem::bad_request("query", format!("malformed query string: {e}")))
}

/// The value of one cookie.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::nesting_depth;

    #[test]
    fn depth_ignores_brackets_in_strings() {
        assert_eq!(nesting_depth(br#"{"a": [1, {"b": "[[[["}]}"#), 3);
        assert_eq!(nesting_depth(br#""\"[""#), 0);
        assert_eq!(nesting_depth(&b"[".repeat(100)), 100);
    }
}
