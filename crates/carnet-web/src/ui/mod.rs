//! The web UI: server-rendered pages (askama) made lively with htmx, in French and English.

mod activities;
mod activity_form;
mod assets;
mod contacts;
mod field_messages;
mod i18n;
mod imports;
mod login;
mod page;

use crate::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
pub use i18n::{Lang, Tr};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/contacts") }))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/language", post(login::language))
        .route("/workspace", post(login::workspace))
        .route("/activities", get(activities::index))
        .route("/activities/{id}", post(activities::update))
        .route("/activities/{id}/edit", get(activities::edit))
        .route("/activities/{id}/delete", post(activities::delete))
        .route("/activities/{id}/restore", post(activities::restore))
        .route("/activities/{id}/done", post(activities::mark_done))
        .route(
            "/activities/import",
            post(activities::import).layer(DefaultBodyLimit::max(
                crate::api::activities::MAX_CALENDAR + 64 * 1024,
            )),
        )
        .route("/contacts", get(contacts::index).post(contacts::create))
        .route("/contacts/new", get(contacts::new))
        .route("/contacts/{id}", get(contacts::show).post(contacts::update))
        .route("/contacts/{id}/edit", get(contacts::edit))
        .route("/contacts/{id}/delete", post(contacts::delete))
        .route("/contacts/{id}/restore", post(contacts::restore))
        .route("/contacts/{id}/activities", post(contacts::log_activity))
        .route(
            "/imports",
            post(imports::upload).layer(DefaultBodyLimit::max(crate::api::imports::MAX_UPLOAD)),
        )
        .route("/imports/new", get(imports::new))
        .route("/imports/{id}", get(imports::show))
        .route("/imports/{id}/preview", post(imports::preview))
        .route("/imports/{id}/start", post(imports::start))
        .route("/imports/{id}/progress", get(imports::progress))
        .route("/assets/{file}", get(assets::serve))
}

/// A page with only a message: errors and "not found".
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    t: Tr,
    status: u16,
    message: &'static str,
    request_id: Option<String>,
}

/// Renders a template, or a bare 500 if the template itself fails.
fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

fn error_page(
    t: Tr,
    status: StatusCode,
    key: &'static str,
    request_id: Option<String>,
) -> Response {
    render(
        status,
        &ErrorPage {
            t,
            status: status.as_u16(),
            message: t.t(key),
            request_id,
        },
    )
}

/// The HTML 404 for unknown pages.
pub fn not_found_page(req: &Request) -> Response {
    let t = Tr {
        lang: Lang::from_headers(req.headers()),
    };
    error_page(t, StatusCode::NOT_FOUND, "error.not_found", None)
}
