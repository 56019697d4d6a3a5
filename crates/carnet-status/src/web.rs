//! The public page (HTML without JavaScript, French and English), the Statuspage-shaped JSON
//! API, and the admin API for incidents.

use crate::model::{
    Component, Impact, Incident, IncidentStatus, Maintenance, MaintenanceStatus, indicator,
};
use crate::store::{MaintenanceFilter, NewIncident, Store};
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
    /// The page's public address, for the feeds' links.
    pub public_url: Option<Arc<str>>,
    /// Service-credit tiers of the SLA report.
    pub tiers: Arc<[crate::sla::Tier]>,
    /// Each probed component's check interval, in seconds.
    pub probe_intervals: Arc<HashMap<String, u64>>,
    /// An SMTP relay is configured: people can subscribe by e-mail.
    pub email_subscriptions: bool,
    /// The admin UI's password (argon2id PHC string); `None`: the admin UI is off.
    pub admin_password_hash: Option<Arc<str>>,
    /// The admin UI's signed-in sessions.
    pub sessions: crate::admin_ui::Sessions,
    /// When support works (response times in the SLA report).
    pub business_hours: Arc<crate::sla::BusinessHours>,
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
        .route("/api/v2/scheduled-maintenances.json", get(maintenances_all))
        .route(
            "/api/v2/scheduled-maintenances/upcoming.json",
            get(maintenances_upcoming),
        )
        .route(
            "/api/v2/scheduled-maintenances/active.json",
            get(maintenances_active),
        )
        .route("/api/admin/maintenances", post(schedule_maintenance))
        .route(
            "/api/admin/maintenances/{id}/updates",
            post(update_maintenance),
        )
        .route("/api/admin/sla", get(sla_report))
        .route("/api/admin/webhooks", post(add_webhook))
        .route("/subscribe", post(subscribe))
        .route("/subscriptions/confirm", get(confirm))
        .route(
            "/subscriptions/unsubscribe",
            get(unsubscribe_page).post(unsubscribe),
        )
        .route("/history.atom", get(atom_feed))
        .route("/history.rss", get(rss_feed))
        .route("/api/admin/incidents", post(create_incident))
        .route("/api/admin/incidents/{id}/updates", post(add_update))
        .merge(crate::admin_ui::router())
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
    let maintenances = s
        .store
        .maintenances(MaintenanceFilter::Unfinished, 50)
        .await?;
    let body = json!({
        "page": page_json(&s, &components, &incidents),
        "status": status_value(&components),
        "components": components.iter().map(component_json).collect::<Vec<_>>(),
        "incidents": incidents.iter().map(|i| incident_json(i, &components)).collect::<Vec<_>>(),
        "scheduled_maintenances": maintenances.iter().map(|m| maintenance_json(m, &components)).collect::<Vec<_>>(),
    });
    Ok(axum::Json(body).into_response())
}

fn maintenance_json(m: &Maintenance, components: &[Component]) -> Value {
    let affected: Vec<Value> = components
        .iter()
        .filter(|c| m.components.contains(&c.id))
        .map(component_json)
        .collect();
    json!({
        "id": m.id, "name": m.name, "status": m.status, "impact": "maintenance", "page_id": "carnet",
        "scheduled_for": m.scheduled_for, "scheduled_until": m.scheduled_until,
        "created_at": m.created_at, "updated_at": m.updated_at,
        "shortlink": format!("/#maintenance-{}", m.id),
        "incident_updates": m.updates.iter().map(|u| json!({
            "id": u.id, "incident_id": m.id, "status": u.status, "body": u.body,
            "created_at": u.created_at, "updated_at": u.created_at, "display_at": u.created_at,
        })).collect::<Vec<_>>(),
        "components": affected,
    })
}

async fn maintenances_list(s: &AppState, filter: MaintenanceFilter) -> Result<Response, Failure> {
    let components = s.store.components().await?;
    let maintenances = s.store.maintenances(filter, 50).await?;
    let body = json!({"page": page_json(s, &components, &[]),
        "scheduled_maintenances": maintenances.iter().map(|m| maintenance_json(m, &components)).collect::<Vec<_>>()});
    Ok(axum::Json(body).into_response())
}

async fn maintenances_all(State(s): State<AppState>) -> Result<Response, Failure> {
    maintenances_list(&s, MaintenanceFilter::All).await
}

async fn maintenances_upcoming(State(s): State<AppState>) -> Result<Response, Failure> {
    maintenances_list(&s, MaintenanceFilter::Upcoming).await
}

async fn maintenances_active(State(s): State<AppState>) -> Result<Response, Failure> {
    maintenances_list(&s, MaintenanceFilter::Active).await
}

/// The page's absolute address: the configured one, else from the request's `Host`.
fn base_url(s: &AppState, headers: &HeaderMap) -> String {
    match &s.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| {
                    h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
                })
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    }
}

async fn atom_feed(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, Failure> {
    let incidents = s.store.incidents(false, 50).await?;
    let body = crate::feeds::atom(
        &s.title,
        &base_url(&s, &headers),
        &incidents,
        chrono::Utc::now(),
    );
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        body,
    )
        .into_response())
}

async fn rss_feed(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, Failure> {
    let incidents = s.store.incidents(false, 50).await?;
    let body = crate::feeds::rss(&s.title, &base_url(&s, &headers), &incidents);
    Ok((
        [(header::CONTENT_TYPE, "application/rss+xml; charset=utf-8")],
        body,
    )
        .into_response())
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
    ("planned", "Maintenance prévue", "Scheduled maintenance"),
    (
        "subscribe",
        "Recevoir les incidents par e-mail",
        "Get incidents by e-mail",
    ),
    ("email", "Adresse e-mail", "E-mail address"),
    ("subscribe_button", "S’abonner", "Subscribe"),
    (
        "which",
        "Services suivis (aucun coché : tous)",
        "Components followed (none ticked: all)",
    ),
    (
        "check_inbox",
        "Un e-mail de confirmation vous a été envoyé : ouvrez le lien qu’il contient.",
        "A confirmation e-mail is on its way: open the link it holds.",
    ),
    (
        "confirmed",
        "Abonnement confirmé : vous recevrez les incidents par e-mail.",
        "Subscription confirmed: incidents will come by e-mail.",
    ),
    (
        "unsubscribe_ask",
        "Ne plus recevoir les incidents par e-mail ?",
        "Stop receiving incidents by e-mail?",
    ),
    ("unsubscribe_button", "Se désabonner", "Unsubscribe"),
    (
        "unsubscribed",
        "Vous êtes désabonné.",
        "You are unsubscribed.",
    ),
    (
        "bad_link",
        "Ce lien n’est pas (ou plus) valable.",
        "This link is not (or no longer) valid.",
    ),
    (
        "bad_email",
        "Cette adresse e-mail n’est pas valable.",
        "This e-mail address is not valid.",
    ),
    ("back", "Retour à la page d’état", "Back to the status page"),
    ("password", "Mot de passe", "Password"),
    ("sign_in", "Se connecter", "Sign in"),
    ("sign_out", "Se déconnecter", "Sign out"),
    (
        "wrong_password",
        "Mot de passe incorrect.",
        "Wrong password.",
    ),
    ("new_status", "Nouvel état", "New status"),
    ("update_text", "Message", "Message"),
    ("post_update", "Publier", "Post"),
    ("open_incident", "Déclarer un incident", "Open an incident"),
    ("incident_name", "Titre", "Title"),
    ("impact", "Impact", "Impact"),
    ("starts", "Début (UTC)", "Starts (UTC)"),
    ("ends", "Fin (UTC)", "Ends (UTC)"),
    ("plan", "Planifier", "Plan"),
    ("no_data", "pas de mesure", "no data"),
    (
        "uptime",
        "Disponibilité sur 90 jours",
        "Uptime over 90 days",
    ),
    ("scheduled", "Planifiée", "Scheduled"),
    ("in_progress", "En cours", "In progress"),
    ("verifying", "Vérification", "Verifying"),
    ("completed", "Terminée", "Completed"),
];

/// French or English.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Lang {
    french: bool,
}

impl Lang {
    pub fn t(self, key: &str) -> &'static str {
        WORDS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, fr, en)| if self.french { *fr } else { *en })
            .unwrap_or("??")
    }

    pub fn code(self) -> &'static str {
        if self.french { "fr" } else { "en" }
    }

    fn other(self) -> &'static str {
        if self.french { "en" } else { "fr" }
    }

    /// `?lang=` first, else the first supported language of `Accept-Language`, else French.
    pub fn of(query: &HashMap<String, String>, headers: &HeaderMap) -> Lang {
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
    id: String,
    name: String,
    group: Option<String>,
    status: &'static str,
    /// The last 90 days, oldest first: (day, class, label); empty without a probe.
    bars: Vec<(String, &'static str, String)>,
}

/// Days of history shown as uptime bars.
const BAR_DAYS: i64 = 90;

/// A day's bar: its colour class and its label.
fn bar(l: Lang, day: &str, uptime: Option<f64>) -> (String, &'static str, String) {
    match uptime {
        None => (
            day.to_owned(),
            "b-none",
            format!("{day}: {}", l.t("no_data")),
        ),
        Some(u) => {
            let class = if u >= 99.9 {
                "b-good"
            } else if u >= 99.0 {
                "b-fair"
            } else if u >= 95.0 {
                "b-poor"
            } else {
                "b-bad"
            };
            (day.to_owned(), class, format!("{day}: {u:.2} %"))
        }
    }
}

struct PageIncident {
    id: String,
    name: String,
    status: &'static str,
    impact: &'static str,
    started: String,
    updates: Vec<(String, &'static str, String)>,
}

struct PageMaintenance {
    id: String,
    name: String,
    status: &'static str,
    window: String,
    updates: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage {
    l: Lang,
    title: String,
    email_subscriptions: bool,
    indicator: &'static str,
    components: Vec<PageComponent>,
    maintenances: Vec<PageMaintenance>,
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
    let maintenances = s
        .store
        .maintenances(MaintenanceFilter::Unfinished, 20)
        .await?;
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
    let today = chrono::Utc::now().date_naive();
    let first = today - chrono::Duration::days(BAR_DAYS - 1);
    let mut bars = HashMap::new();
    for c in &components {
        if !s.probe_intervals.contains_key(&c.id) {
            continue;
        }
        let from = first
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc())
            .unwrap_or_default();
        let days: HashMap<String, f64> = s
            .store
            .daily_uptime(&c.id, from)
            .await?
            .into_iter()
            .collect();
        let shown: Vec<_> = (0..BAR_DAYS)
            .map(|i| {
                let day = (first + chrono::Duration::days(i))
                    .format("%Y-%m-%d")
                    .to_string();
                let uptime = days.get(&day).copied();
                bar(l, &day, uptime)
            })
            .collect();
        bars.insert(c.id.clone(), shown);
    }
    let page = StatusPage {
        l,
        title: s.title.to_string(),
        email_subscriptions: s.email_subscriptions,
        indicator: indicator(&components).0,
        maintenances: maintenances
            .iter()
            .map(|m| PageMaintenance {
                id: m.id.clone(),
                name: m.name.clone(),
                status: m.status.as_str(),
                window: format!(
                    "{} → {}",
                    when(l, m.scheduled_for),
                    when(l, m.scheduled_until)
                ),
                updates: m
                    .updates
                    .iter()
                    .map(|u| (when(l, u.created_at), u.body.clone()))
                    .collect(),
            })
            .collect(),
        components: components
            .iter()
            .map(|c| PageComponent {
                id: c.id.clone(),
                name: c.name.clone(),
                group: c.group.clone(),
                status: c.status.as_str(),
                bars: bars.remove(&c.id).unwrap_or_default(),
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

/// An admin API request's JSON body, once its token is checked.
fn admin_body(
    s: &AppState,
    headers: &HeaderMap,
    body: Result<axum::Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Value, Failure> {
    admin(s, headers)?;
    body.map(|axum::Json(v)| v)
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, e.body_text(), Some("body")))
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
    let body = admin_body(&s, &headers, body)?;
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
    let components = component_ids(&s, &body).await?;
    let id = crate::notify::open_incident(
        &s.store,
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
    let body = admin_body(&s, &headers, body)?;
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
    if crate::notify::update_incident(&s.store, &id, status, text, chrono::Utc::now()).await? {
        Ok(StatusCode::CREATED.into_response())
    } else {
        Err(Failure(
            StatusCode::NOT_FOUND,
            "no such incident".into(),
            None,
        ))
    }
}

fn time_field(body: &Value, field: &'static str) -> Result<chrono::DateTime<chrono::Utc>, Failure> {
    body.get(field)
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok_or_else(|| {
            Failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("`{field}` must be an RFC 3339 time"),
                Some(field),
            )
        })
}

/// The known component ids of a body's `components` list.
async fn component_ids(s: &AppState, body: &Value) -> Result<Vec<String>, Failure> {
    let known = s.store.components().await?;
    let mut ids = Vec::new();
    for c in body
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match c.as_str().filter(|id| known.iter().any(|k| k.id == *id)) {
            Some(id) => ids.push(id.to_owned()),
            None => {
                return Err(Failure(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("no component {c}"),
                    Some("components"),
                ));
            }
        }
    }
    Ok(ids)
}

/// `POST /api/admin/maintenances` `{name, body, scheduled_for, scheduled_until, components}`.
async fn schedule_maintenance(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<axum::Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Failure> {
    let body = admin_body(&s, &headers, body)?;
    let name = text_field(&body, "name", 200)?;
    let text = text_field(&body, "body", 5000)?;
    let starts = time_field(&body, "scheduled_for")?;
    let ends = time_field(&body, "scheduled_until")?;
    if ends <= starts {
        return Err(Failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`scheduled_until` must come after `scheduled_for`".into(),
            Some("scheduled_until"),
        ));
    }
    let components = component_ids(&s, &body).await?;
    let id = crate::notify::schedule_maintenance(
        &s.store,
        name,
        text,
        (starts, ends),
        &components,
        chrono::Utc::now(),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response())
}

/// `POST /api/admin/maintenances/{id}/updates` `{status, body}`.
async fn update_maintenance(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<axum::Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Failure> {
    let body = admin_body(&s, &headers, body)?;
    let text = text_field(&body, "body", 5000)?;
    let status = body
        .get("status")
        .and_then(Value::as_str)
        .and_then(MaintenanceStatus::parse)
        .ok_or_else(|| {
            Failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                "`status` must be scheduled, in_progress, verifying or completed".into(),
                Some("status"),
            )
        })?;
    if crate::notify::update_maintenance(&s.store, &id, status, text, chrono::Utc::now()).await? {
        Ok(StatusCode::CREATED.into_response())
    } else {
        Err(Failure(
            StatusCode::NOT_FOUND,
            "no such maintenance".into(),
            None,
        ))
    }
}

/// `GET /api/admin/sla?month=YYYY-MM`: each probed component's availability that month,
/// announced maintenance left out, and the service credit due.
async fn sla_report(
    State(s): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    admin(&s, &headers)?;
    let bad_month = || {
        Failure(
            StatusCode::BAD_REQUEST,
            "`month` must be YYYY-MM".into(),
            Some("month"),
        )
    };
    let raw = query.get("month").ok_or_else(bad_month)?;
    let (year, month) = raw
        .split_once('-')
        .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)))
        .ok_or_else(bad_month)?;
    let (from, to) = crate::sla::month_bounds(year, month).ok_or_else(bad_month)?;
    let mut rows = Vec::new();
    for c in s.store.components().await? {
        let Some(interval) = s.probe_intervals.get(&c.id) else {
            continue;
        };
        let samples = s.store.samples(&c.id, from, to).await?;
        let windows = s.store.maintenance_windows(&c.id, from, to).await?;
        let a = crate::sla::availability(
            &samples,
            chrono::Duration::seconds(*interval as i64),
            &windows,
            from,
            to,
            &s.tiers,
        );
        rows.push(json!({
            "id": c.id, "name": c.name, "availability": a.percent,
            "down_seconds": a.down_seconds, "excluded_seconds": a.excluded_seconds,
            "unmeasured_seconds": a.unmeasured_seconds, "credit_percent": a.credit,
        }));
    }
    // Incidents the probes opened that month: how long, in business hours, until a person
    // first posted an update (the support-response measure).
    let responses: Vec<Value> = s
        .store
        .incidents(false, 10_000)
        .await?
        .into_iter()
        .filter(|i| i.automatic && i.created_at >= from && i.created_at < to)
        .map(|i| {
            // Updates are newest first; the oldest is the probe's own.
            let first_human = i.updates.iter().rev().nth(1).map(|u| u.created_at);
            json!({
                "id": i.id, "name": i.name, "created_at": i.created_at,
                "first_response_at": first_human,
                "first_response_business_seconds": first_human
                    .map(|at| s.business_hours.between(i.created_at, at).num_seconds()),
            })
        })
        .collect();
    Ok(
        axum::Json(json!({"month": raw, "components": rows, "incident_responses": responses}))
            .into_response(),
    )
}

/// `POST /api/admin/webhooks` `{url, components?}`: a subscriber told of every incident of
/// those components (all when none are named). Answers its id and the secret that signs
/// each delivery (shown only once).
async fn add_webhook(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<axum::Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Failure> {
    let body = admin_body(&s, &headers, body)?;
    let url = text_field(&body, "url", 2000)?;
    crate::probe::Target::parse(url)
        .map_err(|e| Failure(StatusCode::UNPROCESSABLE_ENTITY, e, Some("url")))?;
    let components = component_ids(&s, &body).await?;
    let secret: String = {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    let id = s
        .store
        .add_webhook(url, &secret, &components, chrono::Utc::now())
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"id": id, "secret": secret})),
    )
        .into_response())
}

/// A short page with one message (subscription steps), and optionally the unsubscribe form.
#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    l: Lang,
    title: String,
    message: &'static str,
    /// The token of the unsubscribe form to show.
    unsubscribe: Option<String>,
}

fn message(
    s: &AppState,
    l: Lang,
    status: StatusCode,
    key: &'static str,
    unsubscribe: Option<String>,
) -> Result<Response, Failure> {
    let page = MessagePage {
        l,
        title: s.title.to_string(),
        message: l.t(key),
        unsubscribe,
    };
    match page.render() {
        Ok(html) => Ok((status, Html(html)).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "message template");
            Err(Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error".into(),
                None,
            ))
        }
    }
}

/// `POST /subscribe` (form: `email`): records the subscription and sends the confirmation.
async fn subscribe(
    State(s): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Result<Response, Failure> {
    let l = Lang::of(&query, &headers);
    if !s.email_subscriptions {
        return Err(Failure(
            StatusCode::NOT_FOUND,
            "e-mail subscriptions are off".into(),
            None,
        ));
    }
    let email = form
        .iter()
        .find(|(k, _)| k == "email")
        .map(|(_, e)| e.trim())
        .unwrap_or_default();
    // The components ticked (none: all of them); unknown ones are refused, not ignored.
    let known = s.store.components().await?;
    let mut components = Vec::new();
    for (_, id) in form.iter().filter(|(k, _)| k == "component") {
        if !known.iter().any(|c| &c.id == id) {
            return message(
                &s,
                l,
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_component",
                None,
            );
        }
        components.push(id.clone());
    }
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(a, d)| !a.is_empty() && d.contains('.'))
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\",;".contains(c));
    if !valid {
        return message(&s, l, StatusCode::UNPROCESSABLE_ENTITY, "bad_email", None);
    }
    let token: String = {
        use rand::RngCore;
        let mut bytes = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    let now = chrono::Utc::now();
    let id = s
        .store
        .add_email_subscriber(email, &token, &components, now)
        .await?;
    s.store
        .enqueue_to(
            &id,
            "subscription.confirm",
            &json!({"email": email}).to_string(),
            now,
        )
        .await?;
    message(&s, l, StatusCode::OK, "check_inbox", None)
}

/// `GET /subscriptions/confirm?token=`: the double opt-in's second step.
async fn confirm(
    State(s): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let l = Lang::of(&query, &headers);
    let token = query.get("token").map(String::as_str).unwrap_or_default();
    if !token.is_empty()
        && s.store
            .confirm_subscriber(token, chrono::Utc::now())
            .await?
    {
        message(&s, l, StatusCode::OK, "confirmed", None)
    } else {
        message(&s, l, StatusCode::NOT_FOUND, "bad_link", None)
    }
}

/// `GET /subscriptions/unsubscribe?token=`: asks first (mail scanners follow links).
async fn unsubscribe_page(
    State(s): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let l = Lang::of(&query, &headers);
    let token = query.get("token").cloned().unwrap_or_default();
    message(&s, l, StatusCode::OK, "unsubscribe_ask", Some(token))
}

/// `POST /subscriptions/unsubscribe?token=`: one click, from the page or straight from the
/// mail client (RFC 8058: `List-Unsubscribe=One-Click`).
async fn unsubscribe(
    State(s): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let l = Lang::of(&query, &headers);
    let token = query.get("token").map(String::as_str).unwrap_or_default();
    if !token.is_empty() && s.store.unsubscribe(token, chrono::Utc::now()).await? {
        message(&s, l, StatusCode::OK, "unsubscribed", None)
    } else {
        message(&s, l, StatusCode::NOT_FOUND, "bad_link", None)
    }
}
