//! What every signed-in page needs: the session, the language, the layout's data.

use super::error_page;
use super::i18n::{Lang, Tr};
use crate::AppState;
use crate::auth::session_cookie_name;
use crate::request::{client_ip, cookie, request_id};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use carnet_service::auth::SessionUser;
use carnet_service::{ServiceError, TenantContext};

/// A signed-in request. Without a live session, the browser is sent to the login page.
pub struct SignedIn {
    pub who: SessionUser,
    pub t: Tr,
    pub htmx: bool,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

/// One workspace in the switcher.
pub struct Workspace {
    pub slug: String,
    pub name: String,
    pub current: bool,
}

/// The layout's data: navigation, switcher, user menu.
pub struct Chrome {
    pub csrf: String,
    pub user_name: String,
    pub workspaces: Vec<Workspace>,
    pub workspace_name: String,
    /// `contacts` or `trash`: which navigation entry is current.
    pub section: &'static str,
    pub q: String,
    /// The search box updates the list as you type (list pages only).
    pub live_search: bool,
    pub toast: Option<&'static str>,
    pub other_lang: &'static str,
    pub other_lang_name: &'static str,
}

/// The language of a request: the user's setting, else the `carnet_lang` cookie, else
/// `Accept-Language`.
pub fn lang_of(headers: &HeaderMap, user_locale: Option<&str>) -> Lang {
    user_locale
        .and_then(Lang::parse)
        .or_else(|| {
            cookie(headers, "carnet_lang")
                .as_deref()
                .and_then(Lang::parse)
        })
        .unwrap_or_else(|| Lang::from_headers(headers))
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let t = Tr {
            lang: lang_of(&parts.headers, None),
        };
        let to_login = || {
            if parts.headers.contains_key("hx-request") {
                // htmx would swap the login page into the list; ask it to navigate instead.
                ([("hx-redirect", "/login")], StatusCode::OK).into_response()
            } else {
                Redirect::to("/login").into_response()
            }
        };
        let token =
            cookie(&parts.headers, session_cookie_name(state.config.https)).ok_or_else(to_login)?;
        let who = match state.carnet.session(&token).await {
            Ok(who) => who,
            Err(ServiceError::Unauthenticated) => return Err(to_login()),
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                return Err(error_page(
                    t,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error.internal",
                    request_id(&parts.headers),
                ));
            }
        };
        let t = Tr {
            lang: lang_of(&parts.headers, who.user.locale.as_deref()),
        };
        Ok(SignedIn {
            t,
            htmx: parts.headers.contains_key("hx-request"),
            ip: client_ip(&parts.extensions),
            request_id: request_id(&parts.headers),
            who,
        })
    }
}

impl SignedIn {
    pub fn context(&self) -> Result<TenantContext, Box<Response>> {
        self.who
            .context(self.ip.clone(), self.request_id.clone())
            .map_err(|_| {
                Box::new(error_page(
                    self.t,
                    StatusCode::FORBIDDEN,
                    "error.no_workspace",
                    None,
                ))
            })
    }

    pub fn chrome(&self, section: &'static str, q: &str, toast: Option<&'static str>) -> Chrome {
        let current = self.who.current.as_ref().map(|(t, _)| t.id);
        let (other_lang, other_lang_name) = match self.t.lang {
            Lang::Fr => ("en", "English"),
            Lang::En => ("fr", "Français"),
        };
        Chrome {
            csrf: self.who.session.csrf_token.clone(),
            user_name: self.who.user.display_name.clone(),
            workspaces: self
                .who
                .tenants
                .iter()
                .map(|(t, _)| Workspace {
                    slug: t.slug.clone(),
                    name: t.name.clone(),
                    current: Some(t.id) == current,
                })
                .collect(),
            workspace_name: self
                .who
                .current
                .as_ref()
                .map(|(t, _)| t.name.clone())
                .unwrap_or_default(),
            section,
            q: q.to_owned(),
            live_search: matches!(section, "contacts" | "trash"),
            toast,
            other_lang,
            other_lang_name,
        }
    }

    /// Checks the `_csrf` field of a submitted form against the session's token.
    /// The context and the record `raw_id` names (a `what`, to say which is missing) of a
    /// request about one record; for a submitted form, only after its CSRF token checks out.
    pub fn target<Id: std::str::FromStr>(
        &self,
        form: Option<&[(String, String)]>,
        raw_id: &str,
        what: &'static str,
    ) -> Result<(TenantContext, Id), Box<Response>> {
        if let Some(fields) = form {
            self.check_csrf(fields)?;
        }
        let ctx = self.context()?;
        let id = raw_id
            .parse()
            .map_err(|_| Box::new(self.fail(ServiceError::NotFound(what))))?;
        Ok((ctx, id))
    }

    pub fn check_csrf(&self, form: &[(String, String)]) -> Result<(), Box<Response>> {
        let sent = form
            .iter()
            .find(|(k, _)| k == "_csrf")
            .map(|(_, v)| v.as_str());
        if sent == Some(self.who.session.csrf_token.as_str()) {
            Ok(())
        } else {
            Err(Box::new(error_page(
                self.t,
                StatusCode::FORBIDDEN,
                "error.forbidden",
                None,
            )))
        }
    }

    /// Renders a service error as a page: 403 and 404 pages, or a 500 with the request id.
    pub fn fail(&self, e: ServiceError) -> Response {
        match e {
            ServiceError::Unauthenticated => Redirect::to("/login").into_response(),
            ServiceError::Forbidden(_) => {
                error_page(self.t, StatusCode::FORBIDDEN, "error.forbidden", None)
            }
            ServiceError::NotFound(_) | ServiceError::BadParameter { .. } => {
                error_page(self.t, StatusCode::NOT_FOUND, "error.not_found", None)
            }
            other => {
                tracing::error!(error = %other, request_id = ?self.request_id, "page failed");
                error_page(
                    self.t,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error.internal",
                    self.request_id.clone(),
                )
            }
        }
    }
}

/// The record version a form was shown with (its hidden `version` field), if it sent one.
pub fn form_version(fields: &[(String, String)]) -> Option<i64> {
    fields
        .iter()
        .find(|(k, _)| k == "version")
        .and_then(|(_, v)| v.parse().ok())
}

/// A date and time as the interface's language writes them (UTC).
pub fn when(t: Tr, at: chrono::DateTime<chrono::Utc>) -> String {
    match t.lang {
        Lang::Fr => at.format("%d/%m/%Y %H:%M").to_string(),
        Lang::En => at.format("%Y-%m-%d %H:%M").to_string(),
    }
}
