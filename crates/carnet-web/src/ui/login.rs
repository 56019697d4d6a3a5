//! Signing in and out, the interface language and the workspace switcher.

use super::i18n::{Lang, Tr};
use super::page::{SignedIn, lang_of};
use super::render;
use crate::AppState;
use crate::auth::session_cookie_name;
use crate::request::{client_ip, cookie};
use askama::Template;
use axum::Form;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use carnet_service::secrets::random_token;

/// The login form's own CSRF cookie (double submit), since there is no session yet.
const LOGIN_CSRF: &str = "carnet_login";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: Tr,
    csrf: String,
    email: String,
    error: Option<&'static str>,
    other_lang: &'static str,
    other_lang_name: &'static str,
}

/// Cookies are always `HttpOnly; Secure; SameSite=Lax`: browsers accept `Secure` from
/// loopback addresses too, so local plain-HTTP use still works.
fn cookie_header(name: &str, value: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={max_age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn login_page(t: Tr, email: String, error: Option<&'static str>, status: StatusCode) -> Response {
    let csrf = random_token(24);
    let (other_lang, other_lang_name) = match t.lang {
        Lang::Fr => ("en", "English"),
        Lang::En => ("fr", "Français"),
    };
    let page = LoginPage {
        t,
        csrf: csrf.clone(),
        email,
        error,
        other_lang,
        other_lang_name,
    };
    let mut res = render(status, &page);
    res.headers_mut()
        .append(header::SET_COOKIE, cookie_header(LOGIN_CSRF, &csrf, 3600));
    res
}

pub async fn form(State(state): State<AppState>, req: Request) -> Response {
    if let Some(token) = cookie(req.headers(), session_cookie_name(state.config.https))
        && state.carnet.session(&token).await.is_ok()
    {
        return Redirect::to("/contacts").into_response();
    }
    let t = Tr {
        lang: lang_of(req.headers(), None),
    };
    login_page(t, String::new(), None, StatusCode::OK)
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    req_ip: ClientIp,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let t = Tr {
        lang: lang_of(&headers, None),
    };
    let https = state.config.https;
    let email = field(&form, "email").trim().to_owned();
    let expected = cookie(&headers, LOGIN_CSRF);
    if expected.is_none() || expected.as_deref() != Some(field(&form, "_csrf")) {
        return login_page(t, email, Some("login.expired"), StatusCode::FORBIDDEN);
    }
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match state
        .carnet
        .login(&email, field(&form, "password"), req_ip.0, agent)
        .await
    {
        Ok(new) => {
            let mut res = Redirect::to("/contacts").into_response();
            let max_age = carnet_service::auth::SESSION_LIFETIME_DAYS * 86_400;
            res.headers_mut().append(
                header::SET_COOKIE,
                cookie_header(session_cookie_name(https), &new.token, max_age),
            );
            res.headers_mut()
                .append(header::SET_COOKIE, cookie_header(LOGIN_CSRF, "", 0));
            res
        }
        Err(carnet_service::ServiceError::Unauthenticated) => {
            login_page(t, email, Some("login.failed"), StatusCode::UNAUTHORIZED)
        }
        Err(e) => {
            tracing::error!(error = %e, "login failed");
            super::error_page(t, StatusCode::INTERNAL_SERVER_ERROR, "error.internal", None)
        }
    }
}

/// The client address, if known (for sessions and the audit log).
pub struct ClientIp(Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(&parts.extensions)))
    }
}

pub async fn logout(
    State(state): State<AppState>,
    page: SignedIn,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(res) = page.check_csrf(&form) {
        return *res;
    }
    if let Err(e) = state.carnet.logout(page.who.session.id).await {
        return page.fail(e);
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(session_cookie_name(state.config.https), "", 0),
    );
    res
}

/// Where to go back to after a menu action: the page the form was on, if it is ours.
fn back(headers: &HeaderMap) -> String {
    headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("://").map(|i| &r[i + 3..]))
        .and_then(|rest| rest.find('/').map(|i| rest[i..].to_owned()))
        .filter(|p| p.starts_with('/') && !p.starts_with("//"))
        .unwrap_or_else(|| "/contacts".into())
}

/// Changes the interface language (remembered for the user, and in a cookie for the login page).
pub async fn language(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let lang = Lang::parse(field(&form, "lang")).unwrap_or(Lang::Fr);
    let session = cookie(&headers, session_cookie_name(state.config.https));
    if let Some(token) = session
        && let Ok(who) = state.carnet.session(&token).await
    {
        if field(&form, "_csrf") != who.session.csrf_token {
            return StatusCode::FORBIDDEN.into_response();
        }
        if let Err(e) = state.carnet.set_locale(&who, lang.code()).await {
            tracing::error!(error = %e, "could not save the language");
        }
    }
    let mut res = Redirect::to(&back(&headers)).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie_header("carnet_lang", lang.code(), 365 * 86_400),
    );
    res
}

/// Switches to another workspace of the user's.
pub async fn workspace(
    State(state): State<AppState>,
    page: SignedIn,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(res) = page.check_csrf(&form) {
        return *res;
    }
    match state
        .carnet
        .switch_tenant(&page.who, field(&form, "slug"))
        .await
    {
        Ok(()) => Redirect::to("/contacts").into_response(),
        Err(e) => page.fail(e),
    }
}
