//! The import wizard: upload a file, check how its columns are read (and change it) on a
//! preview of the first rows, run the import, follow it live, read the report.

use super::field_messages;
use super::i18n::Tr;
use super::page::{Chrome, SignedIn};
use super::render;
use crate::AppState;
use crate::api::imports::{Upload, display_name, save_file};
use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use carnet_formats::contact_columns::TARGETS;
use carnet_service::ServiceError;
use carnet_service::imports::{ImportFormat, ImportSpec, Preview, spec_of};
use carnet_store::jobs::Job;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Refused rows listed in the report (the API pages through all of them).
const REPORT_ROWS: i64 = 200;

/// One of the workspace's recent imports.
pub struct RecentImport {
    pub id: String,
    pub file_name: String,
    pub status: String,
    pub rows: i64,
    pub created: i64,
    pub updated: i64,
    pub rejected: i64,
}

#[derive(Template)]
#[template(path = "imports/new.html")]
struct NewPage {
    t: Tr,
    chrome: Chrome,
    error: Option<String>,
    recent: Vec<RecentImport>,
}

/// Imports listed under the upload form.
const RECENT: i64 = 10;

/// One column of the file in the mapping step.
pub struct MappedColumn {
    pub header: String,
    /// What detection reads it as.
    pub detected: String,
    /// What the user chose (`""`: detection).
    pub chosen: String,
    /// The cell of the first row, as an example.
    pub sample: String,
}

/// One previewed row: its number, a summary of the contact, or why it would be refused.
pub struct PreviewLine {
    pub row: u64,
    pub name: String,
    pub emails: String,
    pub phones: String,
    pub others: String,
    pub errors: Vec<String>,
}

/// The preview table and what went wrong with the mapping, if anything.
pub struct PreviewView {
    pub lines: Vec<PreviewLine>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "imports/mapping.html")]
struct MappingPage {
    t: Tr,
    chrome: Chrome,
    id: String,
    file_name: String,
    detected: String,
    columns: Vec<MappedColumn>,
    targets: Vec<&'static str>,
    preview: PreviewView,
    mode: String,
    match_key: String,
    /// A workbook's sheets and the one shown (empty for other formats).
    sheets: Vec<String>,
    sheet: String,
}

#[derive(Template)]
#[template(path = "imports/preview.html")]
struct PreviewPartial {
    t: Tr,
    preview: PreviewView,
}

/// A job's progress or report.
pub struct JobView {
    pub id: String,
    pub file_name: String,
    pub status: String,
    pub done: bool,
    pub dry_run: bool,
    pub rows: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub rejected: i64,
    pub error: Option<String>,
    /// (row, field, message)
    pub rejections: Vec<(i64, String, String)>,
    pub more_rejections: bool,
}

#[derive(Template)]
#[template(path = "imports/status.html")]
struct StatusPage {
    t: Tr,
    chrome: Chrome,
    job: JobView,
}

#[derive(Template)]
#[template(path = "imports/progress.html")]
struct ProgressPartial {
    t: Tr,
    job: JobView,
}

/// `GET /imports/new`: the upload form, and the workspace's recent imports.
pub async fn new(State(state): State<AppState>, page: SignedIn) -> Response {
    let ctx = match page.context() {
        Ok(ctx) => ctx,
        Err(res) => return *res,
    };
    let jobs = match state.carnet.import_jobs(&ctx, RECENT).await {
        Ok(jobs) => jobs,
        Err(e) => return page.fail(e),
    };
    render(
        StatusCode::OK,
        &NewPage {
            t: page.t,
            chrome: page.chrome("imports", "", None),
            error: None,
            recent: jobs
                .into_iter()
                .map(|j| RecentImport {
                    id: j.id.to_string(),
                    file_name: j.file_name,
                    status: j.status,
                    rows: j.progress.rows_done,
                    created: j.progress.created,
                    updated: j.progress.updated,
                    rejected: j.progress.rejected,
                })
                .collect(),
        },
    )
}

/// `POST /imports`: stores the file as a draft and goes on to the mapping step.
pub async fn upload(
    State(state): State<AppState>,
    page: SignedIn,
    headers: axum::http::HeaderMap,
    form: Multipart,
) -> Response {
    let ctx = match page.context() {
        Ok(ctx) => ctx,
        Err(res) => return *res,
    };
    let again = |key: &'static str| {
        render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &NewPage {
                t: page.t,
                chrome: page.chrome("imports", "", None),
                error: Some(page.t.t(key).to_owned()),
                recent: Vec::new(),
            },
        )
    };
    if crate::api::imports::announced_too_large(&headers) {
        return again("imports.too_large");
    }
    let (fields, file) = match read_upload(form).await {
        Ok(parts) => parts,
        Err(key) => return again(key),
    };
    if let Err(res) = page.check_csrf(&fields) {
        return *res;
    }
    let Some((upload, file_name)) = file else {
        return again("imports.no_file");
    };
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let spec = ImportSpec {
        encoding: get("encoding"),
        delimiter: get("delimiter").and_then(|d| match d.as_str() {
            "tab" => Some('\t'),
            _ => d.chars().next(),
        }),
        ..ImportSpec::contacts(ImportFormat::from_file_name(&file_name))
    };
    if let Err(e) = carnet_service::imports::describe(&upload.0, &spec) {
        return match e {
            ServiceError::BadParameter { .. } => again("imports.unreadable"),
            other => page.fail(other),
        };
    }
    match state
        .carnet
        .draft_import(&ctx, &spec, &file_name, &upload.0)
        .await
    {
        Ok(job) => Redirect::to(&format!("/imports/{}", job.id)).into_response(),
        Err(e) => page.fail(e),
    }
}

/// The form's text parts and its file (saved to disk). An error is a message key.
async fn read_upload(
    mut form: Multipart,
) -> Result<(Vec<(String, String)>, Option<(Upload, String)>), &'static str> {
    let mut fields = Vec::new();
    let mut file = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err("imports.too_large");
            }
            Err(_) => return Err("imports.unreadable"),
        };
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            let file_name = display_name(field.file_name());
            let saved = save_file(field).await.map_err(|_| "imports.unreadable")?;
            file = Some((saved, file_name));
        } else {
            let value = field.text().await.map_err(|_| "imports.unreadable")?;
            fields.push((name, value));
        }
    }
    Ok((fields, file))
}

/// The settings the mapping form sends: a target per column (in header order), mode,
/// match key and dry run.
fn spec_from_form(job: &Job, headers: &[String], form: &[(String, String)]) -> ImportSpec {
    let mut spec = spec_of(job).unwrap_or_else(|_| ImportSpec::contacts(ImportFormat::Csv));
    let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    spec.mapping = headers
        .iter()
        .zip(form.iter().filter(|(k, _)| k == "map").map(|(_, v)| v))
        .filter(|(_, target)| !target.is_empty())
        .map(|(header, target)| (header.clone(), target.clone()))
        .collect();
    if let Some(mode) = get("mode") {
        spec.mode = mode;
    }
    if let Some(m) = get("match") {
        spec.match_key = m;
    }
    spec.dry_run = get("dry_run").is_some();
    spec.sheet = sheet_of(form).or(spec.sheet);
    spec
}

fn preview_view(t: Tr, preview: Result<Preview, ServiceError>) -> (Option<Preview>, PreviewView) {
    match preview {
        Ok(p) => {
            let lines = p
                .rows
                .iter()
                .map(|r| match &r.contact {
                    Ok(c) => PreviewLine {
                        row: r.row,
                        name: [c.first_name.as_deref(), c.last_name.as_deref()]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join(" "),
                        emails: c
                            .emails
                            .iter()
                            .map(|e| e.value.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        phones: c
                            .phones
                            .iter()
                            .map(|p| p.value.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        others: others(c),
                        errors: Vec::new(),
                    },
                    Err(errors) => PreviewLine {
                        row: r.row,
                        name: String::new(),
                        emails: String::new(),
                        phones: String::new(),
                        others: String::new(),
                        errors: errors
                            .0
                            .iter()
                            .map(|e| format!("{} : {}", e.field, e.message))
                            .collect(),
                    },
                })
                .collect();
            (Some(p), PreviewView { lines, error: None })
        }
        Err(ServiceError::BadParameter { message, .. }) => (
            None,
            PreviewView {
                lines: Vec::new(),
                error: Some(message),
            },
        ),
        Err(_) => (
            None,
            PreviewView {
                lines: Vec::new(),
                error: Some(t.t("error.internal").to_owned()),
            },
        ),
    }
}

/// Job title, tags and custom fields of a previewed contact, in one line.
fn others(c: &carnet_core::contact::ContactInput) -> String {
    let mut parts = Vec::new();
    if let Some(title) = &c.job_title {
        parts.push(title.clone());
    }
    if !c.tags.is_empty() {
        parts.push(format!("#{}", c.tags.join(" #")));
    }
    for (k, v) in &c.custom {
        let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        parts.push(format!("{k}: {v}"));
    }
    parts.join(" · ")
}

/// `GET /imports/{id}`: the mapping step of a draft, else the job's progress or report.
pub async fn show(
    State(state): State<AppState>,
    page: SignedIn,
    Path(id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<Vec<(String, String)>>,
) -> Response {
    let (ctx, id): (_, Uuid) = match page.target(None, &id, "import job") {
        Ok(found) => found,
        Err(res) => return *res,
    };
    let job = match state.carnet.import_job(&ctx, id).await {
        Ok(job) => job,
        Err(e) => return page.fail(e),
    };
    let t = page.t;
    if job.status != "draft" {
        let view = match job_view(&state, &ctx, page.t, job).await {
            Ok(view) => view,
            Err(e) => return page.fail(e),
        };
        return render(
            StatusCode::OK,
            &StatusPage {
                t,
                chrome: page.chrome("imports", "", None),
                job: view,
            },
        );
    }
    let mut spec = match spec_of(&job) {
        Ok(spec) => spec,
        Err(e) => return page.fail(e),
    };
    // A workbook's sheet, as chosen above the columns.
    spec.sheet = sheet_of(&query).or(spec.sheet);
    let (preview, view) = preview_view(t, state.carnet.import_preview(&ctx, id, &spec).await);
    let (sheets, sheet) = preview
        .as_ref()
        .map(|p| (p.sheets.clone(), p.sheet.clone().unwrap_or_default()))
        .unwrap_or_default();
    let columns = preview
        .as_ref()
        .map(|p| {
            p.headers
                .iter()
                .zip(&p.detected_targets)
                .enumerate()
                .map(|(i, (header, detected))| MappedColumn {
                    header: header.clone(),
                    detected: detected.clone(),
                    chosen: spec.mapping.get(header).cloned().unwrap_or_default(),
                    sample: p
                        .rows
                        .first()
                        .and_then(|r| r.cells.get(i))
                        .cloned()
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    render(
        StatusCode::OK,
        &MappingPage {
            t,
            chrome: page.chrome("imports", "", None),
            id: job.id.to_string(),
            file_name: job.file_name.clone(),
            detected: preview.map(|p| p.detected).unwrap_or_default(),
            columns,
            targets: TARGETS
                .iter()
                .copied()
                .filter(|t| !t.contains('<'))
                .collect(),
            preview: view,
            mode: spec.mode,
            match_key: spec.match_key,
            sheets,
            sheet,
        },
    )
}

/// The `sheet` of a form or query, if one is named.
fn sheet_of(pairs: &[(String, String)]) -> Option<String> {
    pairs
        .iter()
        .find(|(k, v)| k == "sheet" && !v.is_empty())
        .map(|(_, v)| v.clone())
}

/// The draft's headers (CSV), to read the mapping form against.
async fn headers_of(
    state: &AppState,
    ctx: &carnet_service::TenantContext,
    job: &Job,
    form: &[(String, String)],
) -> Vec<String> {
    let Ok(spec) = spec_of(job) else {
        return Vec::new();
    };
    let unmapped = ImportSpec {
        mapping: BTreeMap::new(),
        sheet: sheet_of(form).or(spec.sheet.clone()),
        ..spec
    };
    state
        .carnet
        .import_preview(ctx, job.id, &unmapped)
        .await
        .map(|p| p.headers)
        .unwrap_or_default()
}

/// What the mapping form of draft `id` asks for, once its CSRF token, the workspace and
/// the draft are checked: the context, the draft's id and the settings chosen.
async fn draft_settings(
    state: &AppState,
    page: &SignedIn,
    id: &str,
    form: &[(String, String)],
) -> Result<(carnet_service::TenantContext, Uuid, ImportSpec), Box<Response>> {
    let (ctx, id): (_, Uuid) = page.target(Some(form), id, "import job")?;
    let job = state
        .carnet
        .import_job(&ctx, id)
        .await
        .map_err(|e| Box::new(page.fail(e)))?;
    let headers = headers_of(state, &ctx, &job, form).await;
    Ok((ctx, id, spec_from_form(&job, &headers, form)))
}

/// `POST /imports/{id}/preview` (htmx): the preview with the mapping as chosen.
pub async fn preview(
    State(state): State<AppState>,
    page: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let (ctx, id, spec) = match draft_settings(&state, &page, &id, &form).await {
        Ok(found) => found,
        Err(res) => return *res,
    };
    let (_, preview) = preview_view(page.t, state.carnet.import_preview(&ctx, id, &spec).await);
    render(StatusCode::OK, &PreviewPartial { t: page.t, preview })
}

/// `POST /imports/{id}/start`: queues the draft with the chosen settings.
pub async fn start(
    State(state): State<AppState>,
    page: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let (ctx, id, spec) = match draft_settings(&state, &page, &id, &form).await {
        Ok(found) => found,
        Err(res) => return *res,
    };
    match state.carnet.start_import(&ctx, id, &spec).await {
        // Started, or started already (a second click): either way, follow it.
        Ok(_) | Err(ServiceError::Conflict(_)) => {
            Redirect::to(&format!("/imports/{id}")).into_response()
        }
        // A mapping that does not fit the file: back to the mapping step, which says why.
        Err(ServiceError::BadParameter { .. }) => {
            Redirect::to(&format!("/imports/{id}")).into_response()
        }
        Err(e) => page.fail(e),
    }
}

/// `GET /imports/{id}/progress` (htmx, every second while it runs): the progress block.
pub async fn progress(
    State(state): State<AppState>,
    page: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let (ctx, id): (_, Uuid) = match page.target(None, &id, "import job") {
        Ok(found) => found,
        Err(res) => return *res,
    };
    let job = match state.carnet.import_job(&ctx, id).await {
        Ok(job) => job,
        Err(e) => return page.fail(e),
    };
    match job_view(&state, &ctx, page.t, job).await {
        Ok(job) => render(StatusCode::OK, &ProgressPartial { t: page.t, job }),
        Err(e) => page.fail(e),
    }
}

async fn job_view(
    state: &AppState,
    ctx: &carnet_service::TenantContext,
    t: Tr,
    job: Job,
) -> Result<JobView, ServiceError> {
    let done = job.status == "succeeded" || job.status == "failed";
    let rejections = if done {
        state
            .carnet
            .import_rejections(ctx, job.id, None, REPORT_ROWS + 1)
            .await?
    } else {
        Vec::new()
    };
    let more_rejections = rejections.len() as i64 > REPORT_ROWS;
    let p = job.progress;
    Ok(JobView {
        id: job.id.to_string(),
        file_name: job.file_name.clone(),
        status: job.status.clone(),
        done,
        dry_run: job.spec["dry_run"].as_bool().unwrap_or(false),
        rows: p.rows_done,
        created: p.created,
        updated: p.updated,
        unchanged: p.unchanged,
        rejected: p.rejected,
        error: job.error,
        rejections: rejections
            .into_iter()
            .take(REPORT_ROWS as usize)
            .map(|r| {
                let message = field_messages::message(t, &r.message).into_owned();
                (r.row_number, r.field, message)
            })
            .collect(),
        more_rejections,
    })
}
