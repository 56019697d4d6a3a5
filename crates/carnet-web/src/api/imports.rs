//! `/api/v1/imports`: upload a file to import (a background job), follow it, read every
//! refused row with its reason.

use super::Operation;
use crate::AppState;
use crate::auth::ApiContext;
use crate::openapi::problem_responses;
use crate::problem::Problem;
use crate::request::{IdPath, query_pairs};
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use carnet_core::ValidationErrors;
use carnet_service::ServiceError;
use carnet_service::imports::{self, ImportFormat, ImportSpec};
use carnet_store::jobs::{Job, Rejection};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use uuid::Uuid;

/// Largest file an import takes through the API (a million-row CSV is about 100 MB).
pub const MAX_UPLOAD: usize = 256 * 1024 * 1024;

/// Longest text setting (`mode`, `encoding`, …) in an upload form.
const MAX_SETTING: usize = 64;

/// The encodings the document lists (the server takes any WHATWG label; empty: detected).
const ENCODINGS: [&str; 9] = [
    "",
    "utf-8",
    "utf-16le",
    "utf-16be",
    "windows-1252",
    "iso-8859-1",
    "iso-8859-15",
    "macintosh",
    "ibm866",
];

/// Longest sheet name (Excel allows 31 characters).
const MAX_SHEET_NAME: usize = 256;

/// Largest column mapping (JSON) in an upload form.
const MAX_MAPPING: usize = 64 * 1024;

/// Refused rows shown with the job; the rest are paged through `/rejections`.
const REJECTIONS_SHOWN: i64 = 100;

pub(super) fn operations() -> Vec<Operation> {
    let id_param = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}});
    vec![
        Operation::new(
            "post",
            "/api/v1/imports",
            json!({
                "operationId": "createImport", "summary": "Upload a file to import (runs in the background)", "tags": ["imports"],
                "requestBody": {"required": true, "content": {"multipart/form-data": {"schema": {"$ref": "#/components/schemas/ImportUpload"}}}},
                "responses": problem_responses(json!({
                    "202": {"description": "The import job, queued; follow it at Location",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ImportJob"}}}}
                }), &["400", "401", "403", "413", "415", "422"])
            }),
            post(create).layer(DefaultBodyLimit::max(MAX_UPLOAD)),
        ),
        Operation::new(
            "get",
            "/api/v1/imports",
            json!({
                "operationId": "listImports", "summary": "The workspace's most recent imports, newest first", "tags": ["imports"],
                "parameters": [{"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}}],
                "responses": problem_responses(json!({
                    "200": {"description": "Import jobs (their refused rows are under each job's own address)",
                            "content": {"application/json": {"schema": {"type": "object", "required": ["data"],
                                "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/ImportJobSummary"}}}}}}}
                }), &["400", "401", "403"])
            }),
            get(list),
        ),
        Operation::new(
            "get",
            "/api/v1/imports/{id}",
            json!({
                "operationId": "getImport", "summary": "An import job: status, counts and the first refused rows", "tags": ["imports"],
                "parameters": [id_param],
                "responses": problem_responses(json!({
                    "200": {"description": "The import job", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ImportJob"}}}}
                }), &["400", "401", "403", "404"])
            }),
            get(show),
        ),
        Operation::new(
            "get",
            "/api/v1/imports/{id}/rejections",
            json!({
                "operationId": "listImportRejections", "summary": "Every refused row of an import, in row order", "tags": ["imports"],
                "parameters": [id_param,
                    {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
                    {"name": "cursor", "in": "query", "required": false, "schema": {"type": "string"}}],
                "responses": problem_responses(json!({
                    "200": {"description": "One page of refused rows", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ImportRejectionPage"}}}}
                }), &["400", "401", "403", "404"])
            }),
            get(rejections),
        ),
    ]
}

/// The OpenAPI schemas of this module.
pub(crate) fn schemas() -> Value {
    json!({
        "ImportUpload": {
            "type": "object",
            "required": ["file"],
            "additionalProperties": false,
            "properties": {
                "file": {"type": "string", "format": "binary", "description": "CSV (any common encoding and delimiter), XLSX, vCard or Carnet's JSON export"},
                "entity": {"type": "string", "enum": ["contacts"], "default": "contacts"},
                "format": {"type": "string", "enum": ["csv", "xlsx", "vcard", "json"], "description": "Default: from the file name (.xlsx, .vcf, .json, else CSV)"},
                "sheet": {"type": "string", "maxLength": MAX_SHEET_NAME, "description": "XLSX only: the sheet to read (by name); the first one otherwise"},
                "encoding": {"type": "string", "enum": ENCODINGS, "description": "Force the encoding of a CSV file (any WHATWG label is accepted; the common ones are listed)"},
                "delimiter": {"type": "string", "enum": ["", ",", ";", "tab", "|", ":"], "description": "Force the delimiter of a CSV file: one ASCII punctuation character, or `tab`; empty: detected"},
                "mode": {"type": "string", "enum": ["create", "update", "upsert"], "default": "upsert"},
                "match": {"type": "string", "enum": ["email", "id"], "default": "email"},
                "dry_run": {"type": "string", "enum": ["true", "false"], "default": "false", "description": "Count what would happen; write nothing"},
                "mapping": {"type": "string", "contentMediaType": "application/json", "maxLength": MAX_MAPPING,
                            "description": "CSV only: a JSON object of column header to field (first_name, last_name, full_name, job_title, email, phone, phone:mobile, phone:home, phone:work, phone:other, tags, company_id, id, custom:<name>, ignore), overriding detection"}
            }
        },
        "ImportRejection": {
            "type": "object",
            "required": ["row", "field", "message"],
            "properties": {
                "row": {"type": "integer", "description": "The row as a spreadsheet numbers it (header = 1), the card's first line, or the item's position"},
                "field": {"type": "string"},
                "message": {"type": "string"}
            }
        },
        "ImportRejectionPage": {
            "type": "object",
            "required": ["data", "next_cursor"],
            "properties": {
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/ImportRejection"}},
                "next_cursor": {"type": ["string", "null"]}
            }
        },
        "ImportJobSummary": {
            "type": "object",
            "description": "An import job without its refused rows",
            "required": ["id", "status", "entity", "format", "mode", "match", "dry_run", "file_name", "file_size",
                         "rows", "created", "updated", "unchanged", "rejected", "error", "attempts",
                         "created_at", "started_at", "finished_at"],
            "properties": job_properties()
        },
        "ImportJob": {
            "type": "object",
            "required": ["id", "status", "entity", "format", "mode", "match", "dry_run", "file_name", "file_size",
                         "rows", "created", "updated", "unchanged", "rejected", "error", "attempts",
                         "created_at", "started_at", "finished_at", "rejections", "rejections_next_cursor"],
            "properties": job_properties_with_rejections()
        }
    })
}

/// The members of an import job as the API shows it.
fn job_properties() -> Value {
    let count = json!({"type": "integer", "minimum": 0});
    let time = json!({"type": ["string", "null"], "format": "date-time"});
    json!({
        "id": {"type": "string", "format": "uuid"},
        "status": {"type": "string", "enum": ["draft", "queued", "running", "succeeded", "failed"]},
        "entity": {"type": "string"},
        "format": {"type": "string", "enum": ["csv", "xlsx", "vcard", "json"]},
        "mode": {"type": "string", "enum": ["create", "update", "upsert"]},
        "match": {"type": "string", "enum": ["email", "id"]},
        "dry_run": {"type": "boolean"},
        "file_name": {"type": "string"},
        "file_size": count,
        "rows": {"description": "Rows read so far", "type": "integer", "minimum": 0},
        "created": count, "updated": count, "unchanged": count,
        "rejected": {"description": "Rows refused", "type": "integer", "minimum": 0},
        "error": {"type": ["string", "null"], "description": "Why a failed job stopped"},
        "attempts": count,
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": time,
        "finished_at": time
    })
}

/// [`job_properties`] with the first refused rows and the cursor to the others.
fn job_properties_with_rejections() -> Value {
    let mut props = job_properties();
    if let Value::Object(m) = &mut props {
        m.insert(
            "rejections".into(),
            json!({"type": "array", "items": {"$ref": "#/components/schemas/ImportRejection"}}),
        );
        m.insert(
            "rejections_next_cursor".into(),
            json!({"type": ["string", "null"], "description": "More refused rows: GET /api/v1/imports/{id}/rejections?cursor=…"}),
        );
    }
    props
}

/// An uploaded file on disk until the job has stored it; removed when dropped.
pub(crate) struct Upload(pub PathBuf);

impl Drop for Upload {
    fn drop(&mut self) {
        // Already gone is fine.
        let _ = std::fs::remove_file(&self.0);
    }
}

fn too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        "Payload too large",
        format!("an uploaded file must be at most {MAX_UPLOAD} bytes"),
    )
}

/// An upload whose announced size is over the limit is refused before it is read.
pub(crate) fn announced_too_large(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_UPLOAD as u64)
}

fn multipart_problem(e: &MultipartError) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else if crate::request::timed_out(e) {
        Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            "Request timeout",
            "the upload did not arrive in time",
        )
    } else {
        Problem::bad_request("body", format!("malformed multipart body: {e}"))
    }
}

/// A short text setting of the form.
async fn setting(field: Field<'_>, name: &str) -> Result<String, Problem> {
    setting_up_to(field, name, MAX_SETTING).await
}

/// A text part of the form, at most `max` bytes.
async fn setting_up_to(field: Field<'_>, name: &str, max: usize) -> Result<String, Problem> {
    let mut field = field;
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_problem(&e))? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > max {
            return Err(Problem::bad_request(
                name,
                format!("must be at most {max} bytes"),
            ));
        }
    }
    let text = String::from_utf8(bytes).map_err(|_| Problem::bad_request(name, "must be UTF-8"))?;
    Ok(text.trim().to_owned())
}

/// What the user called the file, without any directory part or control character (it is
/// only shown, never used as a path).
pub(crate) fn display_name(raw: Option<&str>) -> String {
    let base = raw.unwrap_or("").rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    if clean.trim().is_empty() {
        "upload".into()
    } else {
        clean
    }
}

pub(crate) async fn save_file(mut field: Field<'_>) -> Result<Upload, Problem> {
    let upload = Upload(std::env::temp_dir().join(format!("carnet-upload-{}", Uuid::now_v7())));
    let failed = |e: std::io::Error| {
        tracing::error!(error = %e, "writing an upload");
        Problem::internal()
    };
    let mut file = std::fs::File::create(&upload.0).map_err(failed)?;
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_problem(&e))? {
        file.write_all(&chunk).map_err(failed)?;
    }
    file.flush().map_err(failed)?;
    Ok(upload)
}

async fn create(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, Problem> {
    if announced_too_large(&headers) {
        return Err(too_large());
    }
    let mut multipart = multipart.map_err(|_| {
        let mut p = Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the file as multipart/form-data, in a part named `file`",
        );
        p.errors.push(carnet_core::FieldError::new(
            "Content-Type",
            "must be multipart/form-data with a boundary",
        ));
        p
    })?;
    ctx.require_write()?;
    let mut file: Option<(Upload, String)> = None;
    let mut seen: Vec<String> = Vec::new();
    let mut format = None;
    let mut spec = ImportSpec::contacts(ImportFormat::Csv);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_problem(&e))?
    {
        let name = field.name().unwrap_or("").to_owned();
        if seen.contains(&name) {
            return Err(Problem::bad_request(&name, "send each part once"));
        }
        seen.push(name.clone());
        match name.as_str() {
            "file" => {
                let file_name = display_name(field.file_name());
                file = Some((save_file(field).await?, file_name));
            }
            "entity" => spec.entity = setting(field, &name).await?,
            "format" => format = Some(ImportFormat::parse(&setting(field, &name).await?)?),
            "encoding" => {
                let value = setting(field, &name).await?;
                spec.encoding = (!value.is_empty()).then_some(value);
            }
            "delimiter" => {
                let value = setting(field, &name).await?;
                spec.delimiter = match value.as_str() {
                    "" => None,
                    "tab" | "\\t" => Some('\t'),
                    _ => {
                        let mut chars = value.chars();
                        match (chars.next(), chars.next()) {
                            (Some(c), None) => Some(c),
                            _ => {
                                return Err(Problem::bad_request(
                                    "delimiter",
                                    "must be one character, or `tab`",
                                ));
                            }
                        }
                    }
                };
            }
            "mapping" => {
                let text = setting_up_to(field, &name, MAX_MAPPING).await?;
                spec.mapping = serde_json::from_str(&text).map_err(|_| {
                    invalid(
                        "mapping",
                        "must be a JSON object of column header to field, such as {\"Mail\": \"email\"}",
                    )
                })?;
            }
            "sheet" => {
                let value = setting_up_to(field, &name, MAX_SHEET_NAME).await?;
                spec.sheet = (!value.is_empty()).then_some(value);
            }
            "mode" => spec.mode = setting(field, &name).await?,
            "match" => spec.match_key = setting(field, &name).await?,
            "dry_run" => {
                spec.dry_run = match setting(field, &name).await?.as_str() {
                    "true" | "1" | "on" => true,
                    "false" | "0" | "off" | "" => false,
                    _ => return Err(Problem::bad_request("dry_run", "must be true or false")),
                }
            }
            _ => {
                return Err(Problem::bad_request(
                    &name,
                    "unknown part; expected file, entity, format, encoding, delimiter, mapping, sheet, mode, match or dry_run",
                ));
            }
        }
    }
    let Some((upload, file_name)) = file else {
        return Err(Problem::bad_request(
            "file",
            "is required: the file to import",
        ));
    };
    spec.format = format.unwrap_or_else(|| ImportFormat::from_file_name(&file_name));
    spec.options().map_err(content_problem)?;
    // A CSV file's header and encoding are checked now, not minutes later in the job.
    imports::describe(&upload.0, &spec).map_err(content_problem)?;
    let job = state
        .carnet
        .queue_import(&ctx, &spec, &file_name, &upload.0)
        .await?;
    let mut res = (StatusCode::ACCEPTED, axum::Json(job_json(&job, &[], None))).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1/imports/{}", job.id)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(res)
}

/// 422 naming `field`: the form is well made, but what it carries breaks a rule.
fn invalid(field: &str, message: &str) -> Problem {
    let mut errors = ValidationErrors::default();
    errors.push(field, message);
    Problem::from(ServiceError::Validation(errors))
}

/// A file that cannot be read as its format, or a mapping that does not fit it, is 422;
/// a malformed setting stays 400.
fn content_problem(e: ServiceError) -> Problem {
    match e {
        ServiceError::BadParameter { field, message }
            if field == "file" || field == "mapping" || field == "sheet" =>
        {
            invalid(&field, &message)
        }
        other => Problem::from(other),
    }
}

async fn list(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let mut limit = 20;
    for (key, value) in query_pairs(query.as_deref())? {
        match key.as_str() {
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| Problem::bad_request("limit", "must be 1 to 100"))?;
            }
            _ => {
                return Err(Problem::bad_request(
                    &key,
                    "unknown parameter; expected limit",
                ));
            }
        }
    }
    let jobs = state.carnet.import_jobs(&ctx, limit).await?;
    let data: Vec<Value> = jobs.iter().map(summary_json).collect();
    Ok(axum::Json(json!({"data": data})).into_response())
}

fn parse_job_id(raw: &str) -> Result<Uuid, Problem> {
    raw.parse()
        .map_err(|_| Problem::not_found("no such import job"))
}

async fn show(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    IdPath(id): IdPath,
) -> Result<Response, Problem> {
    let id = parse_job_id(&id)?;
    let job = state.carnet.import_job(&ctx, id).await?;
    let page = state
        .carnet
        .import_rejections(&ctx, id, None, REJECTIONS_SHOWN + 1)
        .await?;
    let (shown, next) = split_page(page, REJECTIONS_SHOWN);
    Ok(axum::Json(job_json(&job, &shown, next)).into_response())
}

async fn rejections(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    IdPath(id): IdPath,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let id = parse_job_id(&id)?;
    let mut limit = REJECTIONS_SHOWN;
    let mut after = None;
    for (key, value) in query_pairs(query.as_deref())? {
        match key.as_str() {
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| Problem::bad_request("limit", "must be 1 to 1000"))?;
            }
            "cursor" if value.is_empty() => {}
            "cursor" => {
                after = Some(
                    value
                        .parse::<i64>()
                        .ok()
                        .filter(|n| *n >= 0)
                        .ok_or_else(|| Problem::bad_request("cursor", "is not a cursor"))?,
                );
            }
            _ => {
                return Err(Problem::bad_request(
                    &key,
                    "unknown parameter; expected limit or cursor",
                ));
            }
        }
    }
    // 404 for a job that is not this workspace's.
    state.carnet.import_job(&ctx, id).await?;
    let page = state
        .carnet
        .import_rejections(&ctx, id, after, limit + 1)
        .await?;
    let (shown, next) = split_page(page, limit);
    Ok(axum::Json(json!({"data": rejections_json(&shown), "next_cursor": next})).into_response())
}

/// The first `limit` refusals, and the cursor after them if there are more.
fn split_page(mut page: Vec<Rejection>, limit: i64) -> (Vec<Rejection>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if page.len() > limit {
        page.truncate(limit);
        let next = page.last().map(|r| r.seq.to_string());
        (page, next)
    } else {
        (page, None)
    }
}

fn rejections_json(rejections: &[Rejection]) -> Vec<Value> {
    rejections
        .iter()
        .map(|r| json!({"row": r.row_number, "field": r.field, "message": r.message}))
        .collect()
}

/// A job without its refused rows (lists).
fn summary_json(job: &Job) -> Value {
    let mut v = job_json(job, &[], None);
    if let Value::Object(m) = &mut v {
        m.remove("rejections");
        m.remove("rejections_next_cursor");
    }
    v
}

/// A job as the API shows it.
fn job_json(job: &Job, rejections: &[Rejection], next: Option<String>) -> Value {
    let spec = &job.spec;
    let p = job.progress;
    json!({
        "id": job.id,
        "status": job.status,
        "entity": spec["entity"],
        "format": spec["format"],
        "mode": spec["mode"],
        "match": spec["match"],
        "dry_run": spec["dry_run"],
        "file_name": job.file_name,
        "file_size": job.file_size,
        "rows": p.rows_done,
        "created": p.created,
        "updated": p.updated,
        "unchanged": p.unchanged,
        "rejected": p.rejected,
        "error": job.error,
        "attempts": job.attempts,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "rejections": rejections_json(rejections),
        "rejections_next_cursor": next,
    })
}
