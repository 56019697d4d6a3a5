//! The `/api/v1` JSON API. One table lists every operation with its documentation; the
//! router and the OpenAPI document are both built from it, so they cannot drift apart.

pub(crate) mod activities;
mod contacts;
mod export;
pub(crate) mod imports;
mod record;

use crate::AppState;
use axum::Router;
use axum::routing::MethodRouter;
use serde_json::Value;

/// One API operation: where it is mounted and how the OpenAPI document describes it.
pub struct Operation {
    /// Lower-case HTTP method, as OpenAPI names it.
    pub method: &'static str,
    /// Path template, `{param}` style (the same for axum and OpenAPI).
    pub path: &'static str,
    /// The OpenAPI operation object (operationId, parameters, bodies, responses).
    pub doc: Value,
    handler: MethodRouter<AppState>,
}

/// Every operation of the API.
pub fn operations() -> Vec<Operation> {
    let mut ops = contacts::operations();
    ops.extend(activities::operations());
    ops.extend(imports::operations());
    ops.push(crate::openapi::operation());
    ops
}

impl Operation {
    pub(crate) fn new(
        method: &'static str,
        path: &'static str,
        doc: Value,
        handler: MethodRouter<AppState>,
    ) -> Self {
        Self {
            method,
            path,
            doc,
            handler,
        }
    }
}

/// The API router, mounted from [`operations`].
pub fn router() -> Router<AppState> {
    operations()
        .into_iter()
        .fold(Router::new(), |r, op| r.route(op.path, op.handler))
}
