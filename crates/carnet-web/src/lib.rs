//! Carnet's HTTP face: the `/api/v1` JSON API, the web UI and the operations endpoints,
//! assembled in one axum router with request ids, metrics, limits and security headers.

pub mod api;
mod auth;
mod metrics;
pub mod openapi;
mod ops;
pub mod problem;
mod request;
mod ui;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use carnet_service::Carnet;
use problem::Problem;
use std::sync::Arc;
use std::time::Duration;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use metrics::Metrics;

/// How the server is exposed; decides cookie names, security headers and time limits.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Served over HTTPS (directly with a certificate): `__Host-` cookies and HSTS.
    pub https: bool,
    /// Degraded mode: every write is refused with 503, reads keep working.
    pub read_only: bool,
    /// Longest wait for a request body to arrive (slow clients get 408).
    pub body_timeout: Duration,
    /// Longest time to answer a request (503 past it).
    pub request_timeout: Duration,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            https: false,
            read_only: false,
            body_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// What every handler shares. Each middleware a request passes and each handler takes its
/// own copy, so it is one shared pointer (one count to change, not one per part).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The parts of [`AppState`].
pub struct Shared {
    pub carnet: Carnet,
    pub config: WebConfig,
    pub metrics: Metrics,
}

impl AppState {
    pub fn new(carnet: Carnet, config: WebConfig) -> Self {
        Self(Arc::new(Shared {
            carnet,
            config,
            metrics: Metrics::default(),
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::router())
        .merge(ui::router())
        .merge(ops::router())
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            read_only_guard,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), time_limits))
        .layer(DefaultBodyLimit::max(request::MAX_BODY))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
        || path == "/api"
        || path == "/healthz"
        || path == "/readyz"
        || path == "/metrics"
}

async fn no_route(req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if is_api(&path) {
        Problem::new(
            StatusCode::NOT_FOUND,
            "no-route",
            "Not found",
            format!("no route for {path}"),
        )
        .into_response()
    } else {
        ui::not_found_page(&req).into_response()
    }
}

async fn method_not_allowed(req: Request) -> Response {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
    .into_response()
}

/// Bounds how long a client may take to send its body and how long an answer may take, so
/// that slow clients and stuck requests cannot hold the server.
///
/// The request is handled in a task of its own, which runs to its end even when the answer
/// is given up on (time limit) or nobody waits for it any more (the client left): dropping a
/// handler halfway through a transaction could leave its connection inside that transaction
/// for the next request to commit. So a change either happens whole or not at all.
async fn time_limits(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let body_timeout = state.config.body_timeout;
    let req = req.map(|body| {
        axum::body::Body::new(tower_http::timeout::TimeoutBody::new(body_timeout, body))
    });
    let safe = req.method().is_safe();
    let work = tokio::spawn(next.run(req));
    match tokio::time::timeout(state.config.request_timeout, work).await {
        Ok(Ok(res)) => res,
        Ok(Err(failed)) => {
            tracing::error!(error = %failed, "request handler failed");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "the request could not be handled",
            )
            .into_response()
        }
        Err(_) => {
            tracing::warn!("request timed out");
            let detail = if safe {
                "the server could not answer in time; try again"
            } else {
                "the server could not answer in time; the change may still be made: check \
                 before sending it again (or send it with the same Idempotency-Key)"
            };
            let mut res = Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "Timed out",
                detail,
            )
            .into_response();
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            res
        }
    }
}

/// In read-only mode, refuses every unsafe method except signing in and out.
async fn read_only_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let exempt = path == "/login" || path == "/logout";
    if state.config.read_only && !req.method().is_safe() && !exempt {
        let mut p = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "read-only",
            "Read-only mode",
            "Carnet is in read-only maintenance mode; changes are refused, reading still works",
        );
        p.errors.clear();
        let mut res = p.into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("300"));
        return res;
    }
    next.run(req).await
}

async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        ),
    );
    if state.config.https {
        h.insert(
            "strict-transport-security",
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    res
}
