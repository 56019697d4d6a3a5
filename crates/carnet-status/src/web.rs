//! The public page (HTML without JavaScript, French and English), the Statuspage-shaped JSON
//! API, and the admin API for incidents.

use crate::model::{Component, Impact, Incident, IncidentStatus, indicator};
use crate::store::{NewIncident, Store};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub title: Arc<str>,
    pub admin_token: Option<Arc<str>>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v2/status.json", get(status_json))
        .route("/api/v2/summary.json", get(summary_json))
        .route("/api/v2/components.json", get(components_json))
        .route("/api/v2/incidents.json", get(incidents_json))
        .route("/api/v2/incidents/unresolved.json", get(unresolved_json))
        .route("/api/admin/incidents", post(create_incident))
        .route("/api/admin/incidents/{id}/updates", post(add_update))
        .with_state(state)
}

/// A failure, as JSON with the field at fault (the admin API) or a plain 500.
struct Failure(StatusCode, String, Option<&'static str>);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut body = json!({"status": self.0.as_u16(), "detail": self.1});
        if let Some(field) = self.2 {
            body["errors"] = json!([{"field": field, "message": self.1}]);
        }
        (
            self.0,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "status database");
        Failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error".into(),
            None,
        )
    }
}

fn page_json(state: &AppState, components: &[Component], incidents: &[Incident]) -> Value {
    let updated = components
        .iter()
        .map(|c| c.updated_at)
        .chain(incidents.iter().map(|i| i.updated_at))
        .max();
    json!({"id": "carnet", "name": &*state.title, "url": "/", "time_zone": "Etc/UTC", "updated_at": updated})
}

fn component_json(c: &Component) -> Value {
    json!({
        "id": c.id, "name": c.name, "status": c.status, "position": c.position,
        "description": null, "group_id": null, "group": false, "only_show_if_degraded": false,
        "showcase": true, "page_id": "carnet", "created_at": c.created_at, "updated_at": c.updated_at,
    })
}

fn incident_json(i: &Incident, components: &[Component]) -> Value {
    let affected: Vec<Value> = components
        .iter()
        .filter(|c| i.components.contains(&c.id))
        .map(component_json)
        .collect();
    json!({
        "id": i.id, "name": i.name, "status": i.status, "impact": i.impact, "page_id": "carnet",
        "created_at": i.created_at, "updated_at": i.updated_at, "started_at": i.created_at,
        "resolved_at": i.resolved_at, "shortlink": format!("/#incident-{}", i.id),
        "incident_updates": i.updates.iter().map(|u| json!({
            "id": u.id, "incident_id": i.id, "status": u.status, "body": u.body,
            "created_at": u.created_at, "updated_at": u.created_at, "display_at": u.created_at,
        })).collect::<Vec<_>>(),
        "components": affected,
    })
}

fn status_value(components: &[Component]) -> Value {
    let (indicator, description) = indicator(components);
    json!({"indicator": indicator, "description": description})
}

async fn status_json(State(s): State<AppState>) -> Result<Response, Failure> {
    let components = s.store.components().await?;
    let body =
        json!({"page": page_json(&s, &components, &[]), "status": status_value(&components)});
    Ok(axum::Json(body).into_response())
}

async fn components_json(State(s): State<AppState>) -> Result<Response, Failure> {
    let components = s.store.components().await?;
    let body = json!({"page": page_json(&s, &components, &[]),
        "components": components.iter().map(component_json).collect::<Vec<_>>()});
    Ok(axum::Json(body).into_response())
}

async fn incidents_list(s: &AppState, unresolved: bool) -> Result<Response, Failure> {
    let components = s.store.components().await?;
    let incidents = s.store.incidents(unresolved, 50).await?;
    let body = json!({"page": page_json(s, &components, &incidents),
        "incidents": incidents.iter().map(|i| incident_json(i, &components)).collect::<Vec<_>>()});
    Ok(axum::Json(body).into_response())
}

async fn incidents_json(State(s): State<AppState>) -> Result<Response, Failure> {
    incidents_list(&s, false).await
}

async fn unresolved_json(State(s): State<AppState>) -> Result<Response, Failure> {
    incidents_list(&s, true).await
}

async fn summary_json(State(s): State<AppState>) -> Result<Response, Failure> {
    let components = s.store.components().await?;
    let incidents = s.store.incidents(true, 50).await?;
    let body = json!({
        "page": page_json(&s, &components, &incidents),
        "status": status_value(&components),
        "components": components.iter().map(component_json).collect::<Vec<_>>(),
        "incidents": incidents.iter().map(|i| incident_json(i, &components)).collect::<Vec<_>>(),
        "scheduled_maintenances": [],
    });
    Ok(axum::Json(body).into_response())
}

/// The page's words: (key, French, English).
const WORDS: &[(&str, &str, &str)] = &[
    ("title", "État des services", "Service status"),
    (
        "none",
        "Tous les services fonctionnent",
        "All systems operational",
    ),
    ("maintenance", "Maintenance en cours", "Under maintenance"),
    ("minor", "Service perturbé", "Minor service outage"),
    ("major", "Panne partielle", "Partial system outage"),
    ("critical", "Panne majeure", "Major service outage"),
    ("operational", "Opérationnel", "Operational"),
    ("under_maintenance", "En maintenance", "Under maintenance"),
    (
        "degraded_performance",
        "Performances dégradées",
        "Degraded performance",
    ),
    ("partial_outage", "Panne partielle", "Partial outage"),
    ("major_outage", "Panne majeure", "Major outage"),
    ("investigating", "Analyse en cours", "Investigating"),
    ("identified", "Cause identifiée", "Identified"),
    ("monitoring", "Sous surveillance", "Monitoring"),
    ("resolved", "Résolu", "Resolved"),
    ("components", "Services", "Components"),
    ("active", "Incidents en cours", "Active incidents"),
    ("history", "Historique des incidents", "Incident history"),
    (
        "no_incident",
        "Aucun incident récent.",
        "No recent incident.",
    ),
    ("other_lang", "English", "Français"),
    ("feeds", "Flux et API", "Feeds and API"),
];

/// French or English.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Lang {
    french: bool,
}

impl Lang {
    fn t(self, key: &str) -> &'static str {
        WORDS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, fr, en)| if self.french { *fr } else { *en })
            .unwrap_or("??")
    }

    fn code(self) -> &'static str {
        if self.french { "fr" } else { "en" }
    }

    fn other(self) -> &'static str {
        if self.french { "en" } else { "fr" }
    }

    /// `?lang=` first, else the first supported language of `Accept-Language`, else French.
    fn of(query: &HashMap<String, String>, headers: &HeaderMap) -> Lang {
        let pick = |code: &str| match code.get(..2).map(str::to_ascii_lowercase).as_deref() {
            Some("fr") => Some(Lang { french: true }),
            Some("en") => Some(Lang { french: false }),
            _ => None,
        };
        query
            .get("lang")
            .and_then(|l| pick(l))
            .or_else(|| {
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(',').find_map(|p| pick(p.trim())))
            })
            .unwrap_or(Lang { french: true })
    }
}

struct PageComponent {
    name: String,
    group: Option<String>,
    status: &'static str,
}

struct PageIncident {
    id: String,
    name: String,
    status: &'static str,
    impact: &'static str,
    started: String,
    updates: Vec<(String, &'static str, String)>,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage {
    l: Lang,
    title: String,
    indicator: &'static str,
    components: Vec<PageComponent>,
    active: Vec<PageIncident>,
    history: Vec<PageIncident>,
}

fn when(l: Lang, at: chrono::DateTime<chrono::Utc>) -> String {
    if l.french {
        at.format("%d/%m/%Y %H:%M UTC").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

async fn page(
    State(s): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let l = Lang::of(&query, &headers);
    let components = s.store.components().await?;
    let incidents = s.store.incidents(false, 50).await?;
    let shown = |i: &Incident| PageIncident {
        id: i.id.clone(),
        name: i.name.clone(),
        status: i.status.as_str(),
        impact: i.impact.as_str(),
        started: when(l, i.created_at),
        updates: i
            .updates
            .iter()
            .map(|u| {
                let status = IncidentStatus::parse(&u.status)
                    .map_or("investigating", IncidentStatus::as_str);
                (when(l, u.created_at), status, u.body.clone())
            })
            .collect(),
    };
    let page = StatusPage {
        l,
        title: s.title.to_string(),
        indicator: indicator(&components).0,
        components: components
            .iter()
            .map(|c| PageComponent {
                name: c.name.clone(),
                group: c.group.clone(),
                status: c.status.as_str(),
            })
            .collect(),
        active: incidents
            .iter()
            .filter(|i| i.status != IncidentStatus::Resolved)
            .map(shown)
            .collect(),
        history: incidents
            .iter()
            .filter(|i| i.status == IncidentStatus::Resolved)
            .map(shown)
            .collect(),
    };
    match page.render() {
        Ok(html) => Ok(Html(html).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "status page template");
            Err(Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error".into(),
                None,
            ))
        }
    }
}

/// Checks `Authorization: Bearer <admin token>`.
fn admin(s: &AppState, headers: &HeaderMap) -> Result<(), Failure> {
    let Some(token) = &s.admin_token else {
        return Err(Failure(
            StatusCode::NOT_FOUND,
            "the admin API is off (no admin_token)".into(),
            None,
        ));
    };
    let sent = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compared without stopping at the first difference.
    let same = sent.is_some_and(|sent| {
        sent.len() == token.len()
            && sent
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if same {
        Ok(())
    } else {
        Err(Failure(
            StatusCode::UNAUTHORIZED,
            "a valid admin token is required".into(),
            Some("Authorization"),
        ))
    }
}

fn text_field<'a>(body: &'a Value, field: &'static str, max: usize) -> Result<&'a str, Failure> {
    body.get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.chars().count() <= max && !t.contains('\0'))
        .ok_or_else(|| {
            Failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("`{field}` must be 1 to {max} characters"),
                Some(field),
            )
        })
}

/// `POST /api/admin/incidents` `{name, body, impact, status?, components: [ids]}`.
async fn create_incident(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<axum::Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Failure> {
    admin(&s, &headers)?;
    let axum::Json(body) =
        body.map_err(|e| Failure(StatusCode::BAD_REQUEST, e.body_text(), Some("body")))?;
    let name = text_field(&body, "name", 200)?;
    let text = text_field(&body, "body", 5000)?;
    let impact = body
        .get("impact")
        .and_then(Value::as_str)
        .and_then(Impact::parse)
        .ok_or_else(|| {
            Failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                "`impact` must be none, minor, major or critical".into(),
                Some("impact"),
            )
        })?;
    let status = match body.get("status").and_then(Value::as_str) {
        None => IncidentStatus::Investigating,
        Some(raw) => IncidentStatus::parse(raw).ok_or_else(|| {
            Failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                "`status` must be investigating, identified, monitoring or resolved".into(),
                Some("status"),
            )
        })?,
    };
    let known = s.store.components().await?;
    let mut components = Vec::new();
    for c in body
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match c.as_str().filter(|id| known.iter().any(|k| k.id == *id)) {
            Some(id) => components.push(id.to_owned()),
            None => {
                return Err(Failure(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("no component {c}"),
                    Some("components"),
                ));
            }
        }
    }
    let id = s
        .store
        .open_incident(
            &NewIncident {
                name,
                impact,
                status,
                body: text,
                components: &components,
                automatic: false,
            },
            chrono::Utc::now(),
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response())
}

/// `POST /api/admin/incidents/{id}/updates` `{status, body}`.
async fn add_update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<axum::Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Failure> {
    admin(&s, &headers)?;
    let axum::Json(body) =
        body.map_err(|e| Failure(StatusCode::BAD_REQUEST, e.body_text(), Some("body")))?;
    let text = text_field(&body, "body", 5000)?;
    let status = body
        .get("status")
        .and_then(Value::as_str)
        .and_then(IncidentStatus::parse)
        .ok_or_else(|| {
            Failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                "`status` must be investigating, identified, monitoring or resolved".into(),
                Some("status"),
            )
        })?;
    if s.store
        .add_update(&id, status, text, chrono::Utc::now())
        .await?
    {
        Ok(StatusCode::CREATED.into_response())
    } else {
        Err(Failure(
            StatusCode::NOT_FOUND,
            "no such incident".into(),
            None,
        ))
    }
}
