//! Contact pages: list with live search, detail with its activities (and the form that logs
//! one) and timeline, create and edit forms, trash and restore. Each page calls the same use
//! cases as the API.

use super::activities::{kind_key, kind_menu};
use super::activity_form::ActivityForm;
use super::field_messages::localized;
use super::i18n::Tr;
use super::page::{Chrome, SignedIn, form_version, when};
use super::render;
use crate::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use carnet_core::contact::Contact;
use carnet_core::{ContactId, ValidationErrors};
use carnet_service::activities::ActivityListParams;
use carnet_service::contacts::{Created, ListParams, etag};
use carnet_service::{ServiceError, TenantContext};
use serde_json::{Map, Value, json};

/// One row of the list.
pub struct Row {
    pub id: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub job_title: String,
    pub tags: Vec<String>,
    pub updated: String,
}

/// A sortable column header.
pub struct Column {
    pub href: String,
    /// `ascending`, `descending` or `none` (for `aria-sort`).
    pub aria_sort: &'static str,
}

/// The table, its paging links and its empty state: the part htmx swaps while typing.
pub struct Results {
    pub rows: Vec<Row>,
    pub name_col: Column,
    pub updated_col: Column,
    pub trashed: bool,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
    pub empty_key: &'static str,
    /// Export links for the current search, filters and sort: (label key, href). Part of the
    /// results so that they follow the search as it is typed.
    pub exports: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "contacts/list.html")]
struct ListPage {
    t: Tr,
    chrome: Chrome,
    results: Results,
    sort: String,
}

#[derive(Template)]
#[template(path = "contacts/results.html")]
struct ResultsPartial {
    t: Tr,
    results: Results,
}

/// One e-mail or phone row of the form.
pub struct ValueRow {
    pub label: String,
    pub value: String,
    pub error: Option<String>,
}

/// The contact form's values and errors, as typed.
pub struct FormView {
    pub action: String,
    pub cancel: String,
    pub first_name: String,
    pub last_name: String,
    pub job_title: String,
    pub tags: String,
    pub emails: Vec<ValueRow>,
    pub phones: Vec<ValueRow>,
    pub first_name_error: Option<String>,
    pub last_name_error: Option<String>,
    pub job_title_error: Option<String>,
    pub tags_error: Option<String>,
    pub has_errors: bool,
    /// The version being edited: saving over a newer one is refused.
    pub version: Option<i64>,
    /// Someone else saved the contact since this form was opened.
    pub stale: bool,
}

#[derive(Template)]
#[template(path = "contacts/form.html")]
struct FormPage {
    t: Tr,
    chrome: Chrome,
    title: String,
    form: FormView,
}

/// One activity about the contact.
pub struct ActivityLine {
    pub id: String,
    pub version: i64,
    pub when: String,
    pub kind_key: &'static str,
    pub subject: String,
    pub done: bool,
}

/// One line of the timeline.
pub struct Event {
    pub action_key: &'static str,
    pub when: String,
    pub fields: String,
}

#[derive(Template)]
#[template(path = "contacts/show.html")]
struct ShowPage {
    t: Tr,
    chrome: Chrome,
    id: String,
    name: String,
    job_title: String,
    emails: Vec<(String, String)>,
    phones: Vec<(String, String)>,
    tags: Vec<String>,
    in_trash: bool,
    activities: Vec<ActivityLine>,
    form: ActivityForm,
    kinds: [(&'static str, &'static str); 4],
    events: Vec<Event>,
}

pub const LABELS: [&str; 4] = ["work", "home", "mobile", "other"];

fn row(t: Tr, c: &Contact) -> Row {
    Row {
        id: c.id.to_string(),
        name: c.display_name(),
        email: c
            .emails
            .first()
            .map(|e| e.value.clone())
            .unwrap_or_default(),
        phone: c
            .phones
            .first()
            .map(|p| p.value.clone())
            .unwrap_or_default(),
        job_title: c.job_title.clone().unwrap_or_default(),
        tags: c.tags.clone(),
        updated: when(t, c.updated_at),
    }
}

/// Links that export what the list shows, in each format.
fn export_links(q: &str, sort: &str, trashed: &str) -> Vec<(&'static str, String)> {
    [
        ("export.xlsx", "xlsx"),
        ("export.excel_fr", "excel-fr"),
        ("export.csv", "csv"),
        ("export.vcf", "vcf"),
        ("export.json", "json"),
    ]
    .into_iter()
    .map(|(label, format)| {
        let pairs: Vec<(&str, &str)> = [
            ("format", format),
            ("q", q),
            ("sort", sort),
            ("filter[trashed]", trashed),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        let qs = serde_urlencoded::to_string(pairs).unwrap_or_default();
        (label, format!("/api/v1/contacts/export?{qs}"))
    })
    .collect()
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let qs = serde_urlencoded::to_string(kept).unwrap_or_default();
    if qs.is_empty() {
        "/contacts".into()
    } else {
        format!("/contacts?{qs}")
    }
}

fn pairs_of(query: Option<&str>) -> Vec<(String, String)> {
    serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default()
}

/// `GET /contacts`: the list, or only its results for htmx (search as you type).
pub async fn index(
    State(state): State<AppState>,
    page: SignedIn,
    RawQuery(query): RawQuery,
) -> Response {
    let ctx = match page.context() {
        Ok(ctx) => ctx,
        Err(res) => return *res,
    };
    // `done` only chooses the toast; every other parameter is the list's.
    let pairs = pairs_of(query.as_deref());
    let list_pairs = pairs.iter().filter(|(k, _)| k != "done");
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map_or("", |(_, v)| v.as_str())
    };
    let (q, sort, trashed) = (
        get("q").to_owned(),
        get("sort").to_owned(),
        get("filter[trashed]") == "true",
    );
    let trashed_param = if trashed { "true" } else { "" };
    let params = match ListParams::parse(list_pairs.map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(p) => p,
        Err(_) => return Redirect::to("/contacts").into_response(),
    };
    let found = match state.carnet.list_contacts(&ctx, &params).await {
        Ok(found) => found,
        Err(e) => return page.fail(e),
    };
    let t = page.t;
    let current = if sort.is_empty() {
        "last_name"
    } else {
        sort.as_str()
    };
    let column = |field: &str| {
        let (aria_sort, next) = if current == field {
            ("ascending", format!("-{field}"))
        } else if current.strip_prefix('-') == Some(field) {
            ("descending", field.to_owned())
        } else {
            ("none", field.to_owned())
        };
        Column {
            href: query_string(&[
                ("q", &q),
                ("sort", &next),
                ("filter[trashed]", trashed_param),
            ]),
            aria_sort,
        }
    };
    let is_first = !pairs.iter().any(|(k, _)| k == "cursor");
    let results = Results {
        rows: found.data.iter().map(|c| row(t, c)).collect(),
        exports: export_links(&q, &sort, trashed_param),
        name_col: column("last_name"),
        updated_col: column("updated_at"),
        trashed,
        next_href: found.next_cursor.as_deref().map(|cursor| {
            query_string(&[
                ("q", &q),
                ("sort", &sort),
                ("filter[trashed]", trashed_param),
                ("cursor", cursor),
            ])
        }),
        first_href: (!is_first).then(|| {
            query_string(&[
                ("q", &q),
                ("sort", &sort),
                ("filter[trashed]", trashed_param),
            ])
        }),
        empty_key: if trashed {
            "contacts.trash_empty"
        } else if q.is_empty() {
            "contacts.empty"
        } else {
            "contacts.no_match"
        },
    };
    let push_url = query_string(&[
        ("q", &q),
        ("sort", &sort),
        ("filter[trashed]", trashed_param),
    ]);
    let mut res = if page.htmx {
        render(StatusCode::OK, &ResultsPartial { t, results })
    } else {
        let section = if trashed { "trash" } else { "contacts" };
        let toast = toast_of(t, get("done"));
        render(
            StatusCode::OK,
            &ListPage {
                t,
                chrome: page.chrome(section, &q, toast),
                results,

                sort,
            },
        )
    };
    if page.htmx
        && let Ok(url) = HeaderValue::from_str(&push_url)
    {
        res.headers_mut().insert("hx-push-url", url);
    }
    res
}

fn toast_of(t: Tr, done: &str) -> Option<&'static str> {
    match done {
        "created" => Some(t.t("contacts.created")),
        "saved" => Some(t.t("contacts.saved")),
        "deleted" => Some(t.t("contacts.deleted")),
        "restored" => Some(t.t("contacts.restored")),
        other => super::activities::toast_of(t, other),
    }
}

fn blank_form(action: String, cancel: String) -> FormView {
    FormView {
        action,
        cancel,
        first_name: String::new(),
        last_name: String::new(),
        job_title: String::new(),
        tags: String::new(),
        emails: Vec::new(),
        phones: Vec::new(),
        first_name_error: None,
        last_name_error: None,
        job_title_error: None,
        tags_error: None,
        has_errors: false,
        version: None,
        stale: false,
    }
}

/// Adds one empty row to e-mails and phones, so there is always a place to type a new one.
fn with_spare_rows(mut form: FormView) -> FormView {
    form.emails.push(ValueRow {
        label: "work".into(),
        value: String::new(),
        error: None,
    });
    form.phones.push(ValueRow {
        label: "mobile".into(),
        value: String::new(),
        error: None,
    });
    form
}

fn form_page(page: &SignedIn, status: StatusCode, title: String, form: FormView) -> Response {
    render(
        status,
        &FormPage {
            t: page.t,
            chrome: page.chrome("detail", "", None),
            title,
            form,
        },
    )
}

pub async fn new(page: SignedIn) -> Response {
    let form = with_spare_rows(blank_form("/contacts".into(), "/contacts".into()));
    form_page(
        &page,
        StatusCode::OK,
        page.t.t("contacts.new").to_owned(),
        form,
    )
}

/// Reads the submitted form into the API's JSON shape, keeping what was typed for redisplay.
/// Blank e-mail and phone rows are dropped, so item `i` of the JSON is row `i` of the form.
fn read_form(fields: &[(String, String)], form: &mut FormView) -> Value {
    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map_or("", |(_, v)| v.as_str())
            .to_owned()
    };
    form.first_name = get("first_name");
    form.last_name = get("last_name");
    form.job_title = get("job_title");
    form.tags = get("tags");
    let all = |k: &str| {
        fields
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    let rows = |labels: Vec<String>, values: Vec<String>| -> Vec<ValueRow> {
        values
            .into_iter()
            .enumerate()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(i, value)| ValueRow {
                label: labels.get(i).cloned().unwrap_or_else(|| "work".into()),
                value,
                error: None,
            })
            .collect()
    };
    form.emails = rows(all("email_label"), all("email_value"));
    form.phones = rows(all("phone_label"), all("phone_value"));
    let items = |rows: &[ValueRow]| -> Value {
        rows.iter()
            .map(|r| json!({"label": r.label, "value": r.value}))
            .collect()
    };
    let text = |s: &str| {
        if s.trim().is_empty() {
            Value::Null
        } else {
            Value::String(s.to_owned())
        }
    };
    let tags: Vec<Value> = form
        .tags
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| json!(s))
        .collect();
    let mut body = Map::new();
    body.insert("first_name".into(), text(&form.first_name));
    body.insert("last_name".into(), text(&form.last_name));
    body.insert("job_title".into(), text(&form.job_title));
    body.insert("emails".into(), items(&form.emails));
    body.insert("phones".into(), items(&form.phones));
    body.insert("tags".into(), Value::Array(tags));
    Value::Object(body)
}

/// Puts each validation error beside its field.
fn place_errors(form: &mut FormView, errors: &ValidationErrors) {
    form.has_errors = true;
    form.first_name_error = errors.for_field("first_name").map(str::to_owned);
    form.last_name_error = errors.for_field("last_name").map(str::to_owned);
    form.job_title_error = errors.for_field("job_title").map(str::to_owned);
    form.tags_error = errors.for_field("tags").map(str::to_owned);
    for (i, row) in form.emails.iter_mut().enumerate() {
        row.error = errors.for_field(&format!("emails[{i}]")).map(str::to_owned);
    }
    for (i, row) in form.phones.iter_mut().enumerate() {
        row.error = errors.for_field(&format!("phones[{i}]")).map(str::to_owned);
    }
}

/// Drops `null` members: a new contact simply leaves those fields empty.
fn without_nulls(body: Value) -> Value {
    match body {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

pub async fn create(
    State(state): State<AppState>,
    page: SignedIn,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(res) = page.check_csrf(&fields) {
        return *res;
    }
    let ctx = match page.context() {
        Ok(ctx) => ctx,
        Err(res) => return *res,
    };
    let mut form = blank_form("/contacts".into(), "/contacts".into());
    let body = read_form(&fields, &mut form);
    match state
        .carnet
        .create_contact(&ctx, &without_nulls(body), None)
        .await
    {
        Ok(Created::New(c)) => {
            Redirect::to(&format!("/contacts/{}?done=created", c.id)).into_response()
        }
        Ok(Created::Replayed(_)) => Redirect::to("/contacts").into_response(),
        Err(ServiceError::Validation(errors)) => {
            place_errors(&mut form, &localized(page.t, errors));
            form_page(
                &page,
                StatusCode::UNPROCESSABLE_ENTITY,
                page.t.t("contacts.new").to_owned(),
                with_spare_rows(form),
            )
        }
        Err(e) => page.fail(e),
    }
}

pub async fn show(
    State(state): State<AppState>,
    page: SignedIn,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let (ctx, id) = match page.target(None, &id, "contact") {
        Ok(found) => found,
        Err(res) => return *res,
    };
    let pairs = pairs_of(query.as_deref());
    let done = pairs
        .iter()
        .find(|(k, _)| k == "done")
        .map_or("", |(_, v)| v.as_str());
    let form = ActivityForm::blank(state.carnet.now());
    show_page(&state, &page, &ctx, id, done, form, StatusCode::OK).await
}

/// `POST /contacts/{id}/activities`: logs an activity with the contact from the form on its
/// page; a refused form comes back filled in, with the reasons.
pub async fn log_activity(
    State(state): State<AppState>,
    page: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let (ctx, id) = match page.target(Some(&fields), &id, "contact") {
        Ok(found) => found,
        Err(res) => return *res,
    };
    let form = ActivityForm::read(&fields);
    match state
        .carnet
        .create_activity(&ctx, &form.body(id), None)
        .await
    {
        Ok(_) => Redirect::to(&format!("/contacts/{id}?done=activity")).into_response(),
        Err(ServiceError::Validation(errors)) => {
            let form = form.refused(localized(page.t, errors));
            show_page(
                &state,
                &page,
                &ctx,
                id,
                "",
                form,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => page.fail(e),
    }
}

/// A contact's page: its details, its activities with the form that logs one, its history.
async fn show_page(
    state: &AppState,
    page: &SignedIn,
    ctx: &TenantContext,
    id: ContactId,
    done: &str,
    form: ActivityForm,
    status: StatusCode,
) -> Response {
    let id_text = id.to_string();
    let timeline = [
        ("filter[contact_id]", id_text.as_str()),
        ("sort", "-starts_at"),
        ("limit", "20"),
    ];
    let activities = match ActivityListParams::parse(timeline) {
        Ok(params) => state.carnet.list_activities(ctx, &params).await,
        Err(e) => Err(e),
    };
    let (contact, history, activities) = match (
        state.carnet.get_contact(ctx, id, true).await,
        state.carnet.contact_history(ctx, id).await,
        activities,
    ) {
        (Ok(c), Ok(h), Ok(a)) => (c, h, a.data),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return page.fail(e),
    };
    let t = page.t;
    let label = |l: &str| {
        if LABELS.contains(&l) {
            t.t(&format!("label.{l}")).to_owned()
        } else {
            l.to_owned()
        }
    };
    let events = history
        .iter()
        .map(|e| Event {
            action_key: match e.action.as_str() {
                "create" => "audit.create",
                "delete" => "audit.delete",
                "restore" => "audit.restore",
                _ => "audit.update",
            },
            when: when(t, e.occurred_at),
            fields: e.changes.join(", "),
        })
        .collect();
    let view = ShowPage {
        t,
        chrome: page.chrome("detail", "", toast_of(t, done)),
        id: contact.id.to_string(),
        name: contact.display_name(),
        job_title: contact.job_title.clone().unwrap_or_default(),
        emails: contact
            .emails
            .iter()
            .map(|e| (label(&e.label), e.value.clone()))
            .collect(),
        phones: contact
            .phones
            .iter()
            .map(|p| (label(&p.label), p.value.clone()))
            .collect(),
        tags: contact.tags.clone(),
        in_trash: contact.deleted_at.is_some(),
        activities: activities
            .iter()
            .map(|a| ActivityLine {
                id: a.id.to_string(),
                version: a.version,
                when: when(t, a.starts_at),
                kind_key: kind_key(a.kind),
                subject: a.subject.clone(),
                done: a.done,
            })
            .collect(),
        form,
        kinds: kind_menu(),
        events,
    };
    render(status, &view)
}

pub async fn edit(
    State(state): State<AppState>,
    page: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let (ctx, id) = match page.target(None, &id, "contact") {
        Ok(found) => found,
        Err(res) => return *res,
    };
    let contact = match state.carnet.get_contact(&ctx, id, false).await {
        Ok(c) => c,
        Err(e) => return page.fail(e),
    };
    let mut form = blank_form(format!("/contacts/{id}"), format!("/contacts/{id}"));
    form.first_name = contact.first_name.clone().unwrap_or_default();
    form.last_name = contact.last_name.clone().unwrap_or_default();
    form.job_title = contact.job_title.clone().unwrap_or_default();
    form.tags = contact.tags.join(", ");
    form.version = Some(contact.version);
    form.emails = contact
        .emails
        .iter()
        .map(|e| ValueRow {
            label: e.label.clone(),
            value: e.value.clone(),
            error: None,
        })
        .collect();
    form.phones = contact
        .phones
        .iter()
        .map(|p| ValueRow {
            label: p.label.clone(),
            value: p.value.clone(),
            error: None,
        })
        .collect();
    form_page(
        &page,
        StatusCode::OK,
        contact.display_name(),
        with_spare_rows(form),
    )
}

pub async fn update(
    State(state): State<AppState>,
    page: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let (ctx, id) = match page.target(Some(&fields), &id, "contact") {
        Ok(found) => found,
        Err(res) => return *res,
    };
    let mut form = blank_form(format!("/contacts/{id}"), format!("/contacts/{id}"));
    let patch = read_form(&fields, &mut form);
    form.version = form_version(&fields);
    let if_match = form.version.map(etag);
    match state
        .carnet
        .patch_contact(&ctx, id, &patch, if_match.as_deref())
        .await
    {
        Ok(_) => Redirect::to(&format!("/contacts/{id}?done=saved")).into_response(),
        Err(ServiceError::PreconditionFailed { .. }) => {
            form.stale = true;
            let title = format!("{} {}", form.first_name, form.last_name);
            form_page(&page, StatusCode::CONFLICT, title, with_spare_rows(form))
        }
        Err(ServiceError::Validation(errors)) => {
            place_errors(&mut form, &localized(page.t, errors));
            let title = format!("{} {}", form.first_name, form.last_name);
            form_page(
                &page,
                StatusCode::UNPROCESSABLE_ENTITY,
                title,
                with_spare_rows(form),
            )
        }
        Err(e) => page.fail(e),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    page: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    trash_action(state, page, id, fields, true).await
}

pub async fn restore(
    State(state): State<AppState>,
    page: SignedIn,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    trash_action(state, page, id, fields, false).await
}

async fn trash_action(
    state: AppState,
    page: SignedIn,
    id: String,
    fields: Vec<(String, String)>,
    trash: bool,
) -> Response {
    let (ctx, id) = match page.target(Some(&fields), &id, "contact") {
        Ok(found) => found,
        Err(res) => return *res,
    };
    let result = if trash {
        state.carnet.delete_contact(&ctx, id, None).await
    } else {
        state.carnet.restore_contact(&ctx, id).await.map(drop)
    };
    match result {
        Ok(()) => Redirect::to(&format!(
            "/contacts/{id}?done={}",
            if trash { "deleted" } else { "restored" }
        ))
        .into_response(),
        Err(e) => page.fail(e),
    }
}
