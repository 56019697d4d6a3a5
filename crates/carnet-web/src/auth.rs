//! Who is calling the API: an API key (`Authorization: Bearer`) or a signed-in browser
//! (session cookie, with the CSRF token in `X-CSRF-Token` for every unsafe method).

use crate::AppState;
use crate::problem::Problem;
use crate::request::{client_ip, cookie, request_id};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use carnet_service::TenantContext;

/// The session cookie's name: `__Host-` prefixed over HTTPS, so no subdomain can set it.
pub fn session_cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-carnet_session"
    } else {
        "carnet_session"
    }
}

/// The caller's tenant context, or a 401/403 problem.
pub struct ApiContext(pub TenantContext);

impl FromRequestParts<AppState> for ApiContext {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(&parts.extensions);
        let rid = request_id(&parts.headers);
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let key = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(Problem::unauthenticated)?;
            let ctx = state
                .carnet
                .authenticate_api_key(key.trim(), ip, rid)
                .await?;
            return Ok(ApiContext(ctx));
        }
        let Some(token) = cookie(&parts.headers, session_cookie_name(state.config.https)) else {
            return Err(Problem::unauthenticated());
        };
        let who = state.carnet.session(&token).await?;
        if !parts.method.is_safe() {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok());
            if sent != Some(who.session.csrf_token.as_str()) {
                let mut p = Problem::new(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "CSRF token missing or wrong",
                    "browser requests that change data must send the page's X-CSRF-Token header",
                );
                p.errors.push(carnet_core::FieldError::new(
                    "X-CSRF-Token",
                    "missing or wrong",
                ));
                return Err(p);
            }
        }
        Ok(ApiContext(who.context(ip, rid)?))
    }
}
