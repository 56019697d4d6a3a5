//! The admin UI: a password, a session cookie, and forms to open incidents, post their
//! updates and plan maintenance (the same operations as the admin API).

use crate::model::{Impact, IncidentStatus, MaintenanceStatus};
use crate::store::{MaintenanceFilter, NewIncident};
use crate::web::{AppState, Lang};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const COOKIE: &str = "carnet_status_admin";
/// How long an admin stays signed in.
const SESSION: Duration = Duration::from_secs(8 * 3600);

/// Signed-in admins: session token → (CSRF token, expiry). In memory: a restart signs out.
pub type Sessions = Arc<Mutex<HashMap<String, (String, Instant)>>>;

/// argon2id with m = 19 MiB, t = 2, p = 1 (OWASP's recommended minimum).
fn argon2() -> Option<Argon2<'static>> {
    let params = Params::new(19 * 1024, 2, 1, None).ok()?;
    Some(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A PHC string for the configuration's `admin_password_hash`.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let a = argon2().ok_or_else(|| anyhow::anyhow!("invalid argon2 parameters"))?;
    a.hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

fn verify(password: &str, phc: &str) -> bool {
    match (PasswordHash::new(phc), argon2()) {
        (Ok(hash), Some(a)) => a.verify_password(password.as_bytes(), &hash).is_ok(),
        _ => false,
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/login", post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/incidents", post(open_incident))
        .route("/admin/incidents/{id}/updates", post(incident_update))
        .route("/admin/maintenances", post(plan_maintenance))
        .route("/admin/maintenances/{id}/updates", post(maintenance_update))
}

#[derive(Template)]
#[template(path = "admin_login.html")]
struct LoginPage {
    l: Lang,
    title: String,
    error: bool,
}

struct AdminIncident {
    id: String,
    name: String,
    status: &'static str,
}

struct AdminMaintenance {
    id: String,
    name: String,
    status: &'static str,
    window: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct Dashboard {
    l: Lang,
    title: String,
    csrf: String,
    components: Vec<(String, String)>,
    incidents: Vec<AdminIncident>,
    maintenances: Vec<AdminMaintenance>,
    message: Option<String>,
}

fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "admin template");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The CSRF token of the request's live session, if it has one.
fn session(s: &AppState, headers: &HeaderMap) -> Option<String> {
    let token = cookie(headers)?;
    let mut sessions = s.sessions.lock().ok()?;
    sessions.retain(|_, (_, expires)| *expires > Instant::now());
    sessions.get(&token).map(|(csrf, _)| csrf.clone())
}

/// The form's `_csrf` matches the session's: the request comes from our own page.
fn checked(
    s: &AppState,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<(), Box<Response>> {
    let Some(csrf) = session(s, headers) else {
        return Err(Box::new(Redirect::to("/admin").into_response()));
    };
    let sent = form
        .iter()
        .find(|(k, _)| k == "_csrf")
        .map(|(_, v)| v.as_str());
    if sent == Some(csrf.as_str()) {
        Ok(())
    } else {
        Err(Box::new(
            (
                StatusCode::FORBIDDEN,
                "the form's CSRF token is missing or wrong",
            )
                .into_response(),
        ))
    }
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.trim())
}

fn lang(headers: &HeaderMap) -> Lang {
    Lang::of(&HashMap::new(), headers)
}

async fn dashboard_page(s: &AppState, headers: &HeaderMap, message: Option<String>) -> Response {
    let l = lang(headers);
    let Some(csrf) = session(s, headers) else {
        if s.admin_password_hash.is_none() {
            return (
                StatusCode::NOT_FOUND,
                "the admin UI is off (no admin_password_hash)",
            )
                .into_response();
        }
        return render(
            StatusCode::OK,
            &LoginPage {
                l,
                title: s.title.to_string(),
                error: false,
            },
        );
    };
    let loaded = async {
        Ok::<_, sqlx::Error>((
            s.store.components().await?,
            s.store.incidents(true, 100).await?,
            s.store
                .maintenances(MaintenanceFilter::Unfinished, 100)
                .await?,
        ))
    };
    let (components, incidents, maintenances) = match loaded.await {
        Ok(all) => all,
        Err(e) => {
            tracing::error!(error = %e, "admin dashboard");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    render(
        StatusCode::OK,
        &Dashboard {
            l,
            title: s.title.to_string(),
            csrf,
            components: components.into_iter().map(|c| (c.id, c.name)).collect(),
            incidents: incidents
                .into_iter()
                .map(|i| AdminIncident {
                    id: i.id,
                    name: i.name,
                    status: i.status.as_str(),
                })
                .collect(),
            maintenances: maintenances
                .into_iter()
                .map(|m| AdminMaintenance {
                    window: format!(
                        "{} → {}",
                        m.scheduled_for.format("%Y-%m-%d %H:%M UTC"),
                        m.scheduled_until.format("%Y-%m-%d %H:%M UTC")
                    ),
                    id: m.id,
                    name: m.name,
                    status: m.status.as_str(),
                })
                .collect(),
            message,
        },
    )
}

async fn dashboard(State(s): State<AppState>, headers: HeaderMap) -> Response {
    dashboard_page(&s, &headers, None).await
}

async fn login(
    State(s): State<AppState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    let Some(phc) = s.admin_password_hash.clone() else {
        return (StatusCode::NOT_FOUND, "the admin UI is off").into_response();
    };
    let password = field(&form, "password").to_owned();
    // Hashing is slow on purpose: off the async threads.
    let ok = tokio::task::spawn_blocking(move || verify(&password, &phc))
        .await
        .unwrap_or(false);
    if !ok {
        tracing::warn!("admin sign-in refused");
        return render(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                l: lang(&headers),
                title: s.title.to_string(),
                error: true,
            },
        );
    }
    let token = random_token();
    if let Ok(mut sessions) = s.sessions.lock() {
        sessions.insert(token.clone(), (random_token(), Instant::now() + SESSION));
    }
    let secure = if s
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
    {
        "; Secure"
    } else {
        ""
    };
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/admin".to_owned()),
            (
                header::SET_COOKIE,
                format!(
                    "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/admin; Max-Age={}{secure}",
                    SESSION.as_secs()
                ),
            ),
        ],
    )
        .into_response()
}

async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let (Some(token), Ok(mut sessions)) = (cookie(&headers), s.sessions.lock()) {
        sessions.remove(&token);
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/admin".to_owned()),
            (
                header::SET_COOKIE,
                format!("{COOKIE}=; Path=/admin; Max-Age=0"),
            ),
        ],
    )
        .into_response()
}

/// Back to the dashboard, with what went wrong when something did.
async fn done(s: &AppState, headers: &HeaderMap, result: Result<(), String>) -> Response {
    match result {
        Ok(()) => Redirect::to("/admin").into_response(),
        Err(message) => {
            let mut res = dashboard_page(s, headers, Some(message)).await;
            *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            res
        }
    }
}

fn components_of(form: &[(String, String)]) -> Vec<String> {
    form.iter()
        .filter(|(k, _)| k == "component")
        .map(|(_, v)| v.clone())
        .collect()
}

/// The named fields, each 1 to `max` characters.
fn texts<'a>(
    form: &'a [(String, String)],
    names: &[(&str, usize)],
) -> Result<Vec<&'a str>, String> {
    names
        .iter()
        .map(|(name, max)| {
            let v = field(form, name);
            if v.is_empty() || v.chars().count() > *max || v.contains('\0') {
                Err(format!("{name}: 1 to {max} characters"))
            } else {
                Ok(v)
            }
        })
        .collect()
}

async fn known_components(s: &AppState, ids: &[String]) -> Result<(), String> {
    let known = s.store.components().await.map_err(|e| e.to_string())?;
    match ids.iter().find(|id| !known.iter().any(|k| &k.id == *id)) {
        Some(id) => Err(format!("components: no component {id}")),
        None => Ok(()),
    }
}

async fn open_incident(
    State(s): State<AppState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    if let Err(res) = checked(&s, &headers, &form) {
        return *res;
    }
    let result = async {
        let v = texts(&form, &[("name", 200), ("body", 5000)])?;
        let impact = Impact::parse(field(&form, "impact"))
            .ok_or("impact: none, minor, major or critical")?;
        let components = components_of(&form);
        known_components(&s, &components).await?;
        crate::notify::open_incident(
            &s.store,
            &NewIncident {
                name: v[0],
                impact,
                status: IncidentStatus::Investigating,
                body: v[1],
                components: &components,
                automatic: false,
            },
            chrono::Utc::now(),
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(())
    };
    done(&s, &headers, result.await).await
}

async fn incident_update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    if let Err(res) = checked(&s, &headers, &form) {
        return *res;
    }
    let result = async {
        let v = texts(&form, &[("body", 5000)])?;
        let status = IncidentStatus::parse(field(&form, "status")).ok_or("status: unknown")?;
        let found = crate::notify::update_incident(&s.store, &id, status, v[0], chrono::Utc::now())
            .await
            .map_err(|e| e.to_string())?;
        if found {
            Ok(())
        } else {
            Err("no such incident".into())
        }
    };
    done(&s, &headers, result.await).await
}

/// A `datetime-local` field, read as UTC.
fn utc_field(
    form: &[(String, String)],
    name: &str,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::NaiveDateTime::parse_from_str(field(form, name), "%Y-%m-%dT%H:%M")
        .map(|t| t.and_utc())
        .map_err(|_| format!("{name}: a date and time (UTC)"))
}

async fn plan_maintenance(
    State(s): State<AppState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    if let Err(res) = checked(&s, &headers, &form) {
        return *res;
    }
    let result = async {
        let v = texts(&form, &[("name", 200), ("body", 5000)])?;
        let (starts, ends) = (
            utc_field(&form, "scheduled_for")?,
            utc_field(&form, "scheduled_until")?,
        );
        if ends <= starts {
            return Err("scheduled_until: after scheduled_for".into());
        }
        let components = components_of(&form);
        known_components(&s, &components).await?;
        crate::notify::schedule_maintenance(
            &s.store,
            v[0],
            v[1],
            (starts, ends),
            &components,
            chrono::Utc::now(),
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(())
    };
    done(&s, &headers, result.await).await
}

async fn maintenance_update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    if let Err(res) = checked(&s, &headers, &form) {
        return *res;
    }
    let result = async {
        let v = texts(&form, &[("body", 5000)])?;
        let status = MaintenanceStatus::parse(field(&form, "status")).ok_or("status: unknown")?;
        let found =
            crate::notify::update_maintenance(&s.store, &id, status, v[0], chrono::Utc::now())
                .await
                .map_err(|e| e.to_string())?;
        if found {
            Ok(())
        } else {
            Err("no such maintenance".into())
        }
    };
    done(&s, &headers, result.await).await
}
