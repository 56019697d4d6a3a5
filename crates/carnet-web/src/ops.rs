//! Operations endpoints: liveness, readiness, metrics.

use crate::AppState;
use crate::problem::Problem;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use carnet_store::SchemaStatus;
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is alive and serving.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers and its schema is the one this build expects.
async fn readyz(State(state): State<AppState>) -> Response {
    let db = state.carnet.db();
    if let Err(e) = db.ping().await {
        tracing::warn!(error = %e, "readiness: database unreachable");
        return unavailable("the database is unreachable");
    }
    match db.schema_status().await {
        Ok(SchemaStatus::Current) => {
            Json(json!({"status": "ready", "database": "ok", "schema": "current"})).into_response()
        }
        Ok(other) => unavailable(&other.refusal().unwrap_or_else(|| "no schema yet".into())),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: schema unreadable");
            unavailable("the schema could not be read")
        }
    }
}

fn unavailable(detail: &str) -> Response {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not-ready",
        "Not ready",
        detail,
    )
    .into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let db = state.carnet.db();
    let body = state.metrics.render(&db.pool_stats(), db.batched());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
