//! Activity pages: the list by start time with its export menu, and its trash; the import of
//! an iCalendar file with its report; an activity's edit page, moving it to the trash and
//! back, and marking it done. Each page calls the same use cases as the API.

use super::activity_form::ActivityForm;
use super::field_messages::localized;
use super::i18n::Tr;
use super::page::{Chrome, SignedIn, form_version, when};
use super::render;
use crate::AppState;
use crate::api::activities::MAX_CALENDAR;
use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use carnet_core::ActivityId;
use carnet_core::activity::{Activity, ActivityKind};
use carnet_service::activities::{ActivityListParams, CalendarImport};
use carnet_service::contacts::etag;
use carnet_service::{ServiceError, TenantContext};
use serde_json::json;

/// One row of the list.
pub struct Row {
    pub id: String,
    pub when: String,
    pub kind_key: &'static str,
    pub subject: String,
    /// The contact's id and name.
    pub contact: Option<(String, String)>,
    pub done: bool,
}

#[derive(Template)]
#[template(path = "activities/list.html")]
struct ListPage {
    t: Tr,
    chrome: Chrome,
    rows: Vec<Row>,
    /// The trash's list (restore buttons) rather than the live one (edit links).
    trashed: bool,
    /// The filters applied: a kind's value, `true`/`false` for done or to do ("" for any).
    kind_filter: &'static str,
    done_filter: &'static str,
    kinds: [(&'static str, &'static str); 4],
    descending: bool,
    when_sort: &'static str,
    when_href: String,
    next_href: Option<String>,
    first_href: Option<String>,
    exports: Vec<(&'static str, String)>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "activities/edit.html")]
struct EditPage {
    t: Tr,
    chrome: Chrome,
    id: String,
    /// The activity's subject as saved.
    title: String,
    /// Its contact's page and name.
    contact: Option<(String, String)>,
    /// The version the form was filled from (sent back as `If-Match`).
    version: i64,
    stale: bool,
    back: String,
    form: ActivityForm,
    kinds: [(&'static str, &'static str); 4],
}

#[derive(Template)]
#[template(path = "activities/imported.html")]
struct ImportedPage {
    t: Tr,
    chrome: Chrome,
    title_key: &'static str,
    report: CalendarImport,
}

/// The message key naming a kind of activity.
pub fn kind_key(kind: ActivityKind) -> &'static str {
    match kind {
        ActivityKind::Call => "activities.kind.call",
        ActivityKind::Meeting => "activities.kind.meeting",
        ActivityKind::Task => "activities.kind.task",
        ActivityKind::Email => "activities.kind.email",
    }
}

/// The kinds a form offers, in the order of its menu: (value, message key naming it).
pub fn kind_menu() -> [(&'static str, &'static str); 4] {
    ActivityKind::ALL.map(|k| (k.as_str(), kind_key(k)))
}

fn link(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let qs = serde_urlencoded::to_string(kept).unwrap_or_default();
    if qs.is_empty() {
        "/activities".into()
    } else {
        format!("/activities?{qs}")
    }
}

/// The query naming the trash's list.
const TRASH: (&str, &str) = ("filter[trashed]", "true");

/// `GET /activities`: the list, newest first on request, with the import form; with
/// `filter[trashed]=true`, the activities in the trash.
pub async fn index(
    State(state): State<AppState>,
    page: SignedIn,
    RawQuery(query): RawQuery,
) -> Response {
    list_page(&state, &page, query.as_deref(), None, StatusCode::OK).await
}

async fn list_page(
    state: &AppState,
    page: &SignedIn,
    query: Option<&str>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let ctx = match page.context() {
        Ok(ctx) => ctx,
        Err(res) => return *res,
    };
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
    let done = pairs
        .iter()
        .find(|(k, _)| k == "done")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    // The filter form sends its "any" choices empty.
    pairs.retain(|(k, v)| k != "done" && !v.is_empty());
    let params =
        match ActivityListParams::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            Ok(p) => p,
            Err(_) => return Redirect::to("/activities").into_response(),
        };
    let found = match state.carnet.list_activities(&ctx, &params).await {
        Ok(found) => found,
        Err(e) => return page.fail(e),
    };
    let contacts = match state.carnet.contacts_of(&ctx, &found.data).await {
        Ok(c) => c,
        Err(e) => return page.fail(e),
    };
    let t = page.t;
    let sort = if params.descending { "-starts_at" } else { "" };
    let trash = if params.trashed { TRASH.1 } else { "" };
    let kind_filter = params.kind.map_or("", ActivityKind::as_str);
    let done_filter = match params.done {
        Some(true) => "true",
        Some(false) => "false",
        None => "",
    };
    let filters = [
        (TRASH.0, trash),
        ("filter[kind]", kind_filter),
        ("filter[done]", done_filter),
    ];
    let with_filters = |more: &[(&'static str, &str)]| {
        let mut all = filters.to_vec();
        all.extend_from_slice(more);
        link(&all)
    };
    let rows = found
        .data
        .iter()
        .map(|a: &Activity| Row {
            id: a.id.to_string(),
            when: when(t, a.starts_at),
            kind_key: kind_key(a.kind),
            subject: a.subject.clone(),
            contact: a
                .contact_id
                .and_then(|id| contacts.get(&id))
                .map(|c| (c.id.to_string(), c.display_name())),
            done: a.done,
        })
        .collect();
    let exports = [("export.ics", "ics"), ("export.json", "json")]
        .into_iter()
        .map(|(label, format)| {
            let qs = serde_urlencoded::to_string(
                [
                    ("format", format),
                    ("sort", sort),
                    ("filter[kind]", kind_filter),
                    ("filter[done]", done_filter),
                ]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect::<Vec<_>>(),
            )
            .unwrap_or_default();
            (label, format!("/api/v1/activities/export?{qs}"))
        })
        .collect();
    let view = ListPage {
        t,
        chrome: page.chrome("activities", "", toast_of(t, &done)),
        rows,
        trashed: params.trashed,
        kind_filter,
        done_filter,
        kinds: kind_menu(),
        descending: params.descending,
        when_sort: if params.descending {
            "descending"
        } else {
            "ascending"
        },
        when_href: with_filters(&[("sort", if params.descending { "" } else { "-starts_at" })]),
        next_href: found
            .next_cursor
            .as_deref()
            .map(|cursor| with_filters(&[("sort", sort), ("cursor", cursor)])),
        first_href: pairs
            .iter()
            .any(|(k, _)| k == "cursor")
            .then(|| with_filters(&[("sort", sort)])),
        exports,
        error,
    };
    render(status, &view)
}

/// `POST /activities/import`: a calendar file from the form, imported at once, with its
/// report; a file that cannot be read comes back to the list with the reason.
pub async fn import(State(state): State<AppState>, page: SignedIn, form: Multipart) -> Response {
    let ctx = match page.context() {
        Ok(ctx) => ctx,
        Err(res) => return *res,
    };
    let t = page.t;
    let again = |message: String| {
        let state = state.clone();
        let page = &page;
        async move {
            list_page(
                &state,
                page,
                None,
                Some(message),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    let (fields, file) = match read_form(form).await {
        Ok(parts) => parts,
        Err(key) => return again(t.t(key).to_owned()).await,
    };
    if let Err(res) = page.check_csrf(&fields) {
        return *res;
    }
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        return again(t.t("activities.no_file").to_owned()).await;
    };
    let dry_run = fields.iter().any(|(k, v)| k == "dry_run" && v == "true");
    match state.carnet.import_calendar(&ctx, &file, dry_run).await {
        Ok(report) => {
            let title_key = if dry_run {
                "activities.report_dry_title"
            } else {
                "activities.report_title"
            };
            let view = ImportedPage {
                t,
                chrome: page.chrome("activities", "", None),
                title_key,
                report,
            };
            render(StatusCode::OK, &view)
        }
        Err(ServiceError::Validation(errors)) => {
            again(format!("{} {errors}", t.t("activities.unreadable"))).await
        }
        Err(e) => page.fail(e),
    }
}

/// The message shown after an action on an activity (`?done=`), on its contact's page or
/// on the list.
pub fn toast_of(t: Tr, done: &str) -> Option<&'static str> {
    match done {
        "activity" => Some(t.t("activities.logged")),
        "activity_done" => Some(t.t("activities.marked_done")),
        "activity_stale" => Some(t.t("activities.stale")),
        "activity_saved" => Some(t.t("activities.saved")),
        "activity_trashed" => Some(t.t("activities.trashed")),
        "activity_restored" => Some(t.t("activities.restored")),
        _ => None,
    }
}

/// Where to go after an action on `activity`: its contact's page, else the list, saying
/// what was `done`.
fn back_to(activity: &Activity, done: &str) -> String {
    match activity.contact_id {
        Some(contact) => format!("/contacts/{contact}?done={done}"),
        None => format!("/activities?done={done}"),
    }
}

/// `GET /activities/{id}/edit`: the activity in its form, with a button that moves it to
/// the trash.
pub async fn edit(
    State(state): State<AppState>,
    page: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let (ctx, id): (_, ActivityId) = match page.target(None, &id, "activity") {
        Ok(found) => found,
        Err(res) => return *res,
    };
    match state.carnet.get_activity(&ctx, id).await {
        Ok(activity) => {
            let form = ActivityForm::of(&activity);
            let edit = Edit {
                version: None,
                stale: false,
                status: StatusCode::OK,
            };
            edit_page(&state, &page, &ctx, &activity, form, edit).await
        }
        Err(e) => page.fail(e),
    }
}

/// `POST /activities/{id}`: saves the form as a merge patch of what it changes (sent with
/// the version it showed: an activity changed meanwhile is not overwritten); a refused
/// form comes back as typed, with the reasons.
pub async fn update(
    State(state): State<AppState>,
    page: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let (ctx, id): (_, ActivityId) = match page.target(Some(&fields), &id, "activity") {
        Ok(found) => found,
        Err(res) => return *res,
    };
    let current = match state.carnet.get_activity(&ctx, id).await {
        Ok(activity) => activity,
        Err(e) => return page.fail(e),
    };
    let version = form_version(&fields);
    let form = ActivityForm::read(&fields);
    let patch = form.patch(&ActivityForm::of(&current));
    let if_match = version.map(etag);
    let refused = |stale, status| Edit {
        version,
        stale,
        status,
    };
    match state
        .carnet
        .patch_activity(&ctx, id, &patch, if_match.as_deref())
        .await
    {
        Ok(saved) => Redirect::to(&back_to(&saved, "activity_saved")).into_response(),
        Err(ServiceError::Validation(errors)) => {
            let edit = refused(false, StatusCode::UNPROCESSABLE_ENTITY);
            edit_page(
                &state,
                &page,
                &ctx,
                &current,
                form.refused(localized(page.t, errors)),
                edit,
            )
            .await
        }
        Err(ServiceError::PreconditionFailed { .. }) => {
            let edit = refused(true, StatusCode::CONFLICT);
            edit_page(&state, &page, &ctx, &current, form, edit).await
        }
        Err(e) => page.fail(e),
    }
}

/// `POST /activities/{id}/delete`: moves the activity to the trash (if it is still the
/// version shown), then goes back to its contact's page.
pub async fn delete(
    State(state): State<AppState>,
    page: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let (ctx, id): (_, ActivityId) = match page.target(Some(&fields), &id, "activity") {
        Ok(found) => found,
        Err(res) => return *res,
    };
    let version = form_version(&fields);
    let if_match = version.map(etag);
    match state
        .carnet
        .delete_activity(&ctx, id, if_match.as_deref())
        .await
    {
        Ok(trashed) => Redirect::to(&back_to(&trashed, "activity_trashed")).into_response(),
        // The page showed an older version: it is shown again, as it now is, saying so.
        Err(ServiceError::PreconditionFailed { .. }) => {
            let current = match state.carnet.get_activity(&ctx, id).await {
                Ok(activity) => activity,
                Err(e) => return page.fail(e),
            };
            let edit = Edit {
                version,
                stale: true,
                status: StatusCode::CONFLICT,
            };
            let form = ActivityForm::of(&current);
            edit_page(&state, &page, &ctx, &current, form, edit).await
        }
        Err(e) => page.fail(e),
    }
}

/// `POST /activities/{id}/restore`: takes the activity out of the trash.
pub async fn restore(
    State(state): State<AppState>,
    page: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let (ctx, id): (_, ActivityId) = match page.target(Some(&fields), &id, "activity") {
        Ok(found) => found,
        Err(res) => return *res,
    };
    match state.carnet.restore_activity(&ctx, id).await {
        Ok(activity) => Redirect::to(&back_to(&activity, "activity_restored")).into_response(),
        Err(e) => page.fail(e),
    }
}

/// How an edit page is shown: the version its form carries (the one the browser sent,
/// else the activity's own), whether that version was stale, the status.
struct Edit {
    version: Option<i64>,
    stale: bool,
    status: StatusCode,
}

async fn edit_page(
    state: &AppState,
    page: &SignedIn,
    ctx: &TenantContext,
    activity: &Activity,
    form: ActivityForm,
    edit: Edit,
) -> Response {
    let contact = match activity.contact_id {
        Some(id) => match state.carnet.get_contact(ctx, id, true).await {
            Ok(c) => Some((format!("/contacts/{id}"), c.display_name())),
            Err(e) => return page.fail(e),
        },
        None => None,
    };
    let back = contact
        .as_ref()
        .map_or_else(|| "/activities".to_owned(), |(href, _)| href.clone());
    let view = EditPage {
        t: page.t,
        chrome: page.chrome("activities", "", None),
        id: activity.id.to_string(),
        title: activity.subject.clone(),
        contact,
        version: edit.version.unwrap_or(activity.version),
        stale: edit.stale,
        back,
        form,
        kinds: kind_menu(),
    };
    render(edit.status, &view)
}

/// `POST /activities/{id}/done`: marks an activity done from its contact's page (the form
/// sends the version it showed: an activity changed meanwhile is not overwritten), then goes
/// back to that page.
pub async fn mark_done(
    State(state): State<AppState>,
    page: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let (ctx, id): (_, ActivityId) = match page.target(Some(&fields), &id, "activity") {
        Ok(found) => found,
        Err(res) => return *res,
    };
    let if_match = form_version(&fields).map(etag);
    let patch = json!({"done": true});
    match state
        .carnet
        .patch_activity(&ctx, id, &patch, if_match.as_deref())
        .await
    {
        Ok(activity) => Redirect::to(&back_to(&activity, "activity_done")).into_response(),
        Err(ServiceError::PreconditionFailed { .. }) => {
            match state.carnet.get_activity(&ctx, id).await {
                Ok(current) => Redirect::to(&back_to(&current, "activity_stale")).into_response(),
                Err(e) => page.fail(e),
            }
        }
        Err(e) => page.fail(e),
    }
}

/// The form's text parts and its file's bytes (at most [`MAX_CALENDAR`]). An error is a
/// message key.
async fn read_form(
    mut form: Multipart,
) -> Result<(Vec<(String, String)>, Option<Vec<u8>>), &'static str> {
    let mut fields = Vec::new();
    let mut file = None;
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err("activities.too_large");
            }
            Err(_) => return Err("activities.unreadable"),
        };
        if field.name() == Some("file") {
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(|_| "activities.unreadable")? {
                if bytes.len() + chunk.len() > MAX_CALENDAR {
                    return Err("activities.too_large");
                }
                bytes.extend_from_slice(&chunk);
            }
            file = Some(bytes);
        } else {
            let name = field.name().unwrap_or("").to_owned();
            let value = field.text().await.map_err(|_| "activities.unreadable")?;
            fields.push((name, value));
        }
    }
    Ok((fields, file))
}
