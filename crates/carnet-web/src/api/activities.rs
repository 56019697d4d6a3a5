//! `/api/v1/activities`: create, read, merge-patch, trash, restore, list (a contact's
//! timeline with `filter[contact_id]`), export as iCalendar or JSON, import iCalendar.

use super::Operation;
use super::record::{header_str, idempotency, record_response, replayed};
use crate::AppState;
use crate::auth::ApiContext;
use crate::openapi::{self, json_body, problem_responses};
use crate::problem::Problem;
use crate::request::{IdPath, JsonBody, body_problem, query_pairs};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use carnet_core::ActivityId;
use carnet_core::activity::Activity;
use carnet_service::activities::{ActivityListParams, location};
use carnet_service::contacts::Created;
use serde_json::json;

/// Largest calendar file the import takes (it is read whole, in one transaction).
pub const MAX_CALENDAR: usize = 16 * 1024 * 1024;

pub(super) fn operations() -> Vec<Operation> {
    let id_param = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}]);
    let tags = json!(["activities"]);
    vec![
        Operation::new(
            "get",
            "/api/v1/activities",
            json!({
                "operationId": "listActivities", "summary": "List activities by start time (a contact's timeline with filter[contact_id])", "tags": tags,
                "parameters": openapi::activity_list_parameters(),
                "responses": problem_responses(json!({
                    "200": {"description": "One page of activities", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ActivityPage"}}}}
                }), &["400", "401", "403"])
            }),
            get(list),
        ),
        Operation::new(
            "post",
            "/api/v1/activities",
            json!({
                "operationId": "createActivity", "summary": "Create an activity", "tags": tags,
                "parameters": [openapi::idempotency_key()],
                "requestBody": json_body("ActivityInput", false),
                "responses": problem_responses(json!({
                    "201": openapi::record_response("Activity", "The created activity", true)
                }), &["400", "401", "403", "409", "413", "415", "422"])
            }),
            post(create),
        ),
        Operation::new(
            "get",
            "/api/v1/activities/export",
            json!({
                "operationId": "exportActivities", "summary": "Export every matching activity as iCalendar or JSON (streamed)", "tags": tags,
                "parameters": openapi::activity_export_parameters(),
                "responses": problem_responses(json!({
                    "200": {"description": "The file; Content-Disposition names it", "content": {
                        "text/calendar": {"schema": {"type": "string"}},
                        "application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Activity"}}}
                    }}
                }), &["400", "401", "403"])
            }),
            get(super::export::activities),
        ),
        Operation::new(
            "post",
            "/api/v1/activities/import",
            json!({
                "operationId": "importActivities",
                "summary": "Import the events and to-dos of an iCalendar file; an event whose UID an activity has updates it",
                "tags": tags,
                "parameters": [{"name": "dry_run", "in": "query", "required": false, "schema": {"type": "boolean", "default": false},
                                "description": "Report what would be done without writing"}],
                "requestBody": {"required": true, "content": {"text/calendar": {"schema": {"type": "string"}}}},
                "responses": problem_responses(json!({
                    "200": {"description": "What was imported, refused and remarked, event by event",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CalendarImport"}}}}
                }), &["400", "401", "403", "409", "413", "415", "422"])
            }),
            post(import).layer(DefaultBodyLimit::max(MAX_CALENDAR)),
        ),
        Operation::new(
            "get",
            "/api/v1/activities/{id}",
            json!({
                "operationId": "getActivity", "summary": "Get an activity (one in the trash is listed with filter[trashed]=true)", "tags": tags,
                "parameters": id_param,
                "responses": problem_responses(json!({"200": openapi::record_response("Activity", "The activity", false)}), &["400", "401", "403", "404"])
            }),
            get(show),
        ),
        Operation::new(
            "patch",
            "/api/v1/activities/{id}",
            json!({
                "operationId": "updateActivity", "summary": "Change an activity (JSON merge patch: null clears a field)", "tags": tags,
                "parameters": openapi::with_if_match(&id_param),
                "requestBody": json_body("ActivityPatch", true),
                "responses": problem_responses(json!({"200": openapi::record_response("Activity", "The changed activity", false)}),
                    &["400", "401", "403", "404", "409", "412", "413", "415", "422"])
            }),
            patch(update),
        ),
        Operation::new(
            "delete",
            "/api/v1/activities/{id}",
            json!({
                "operationId": "deleteActivity", "summary": "Move an activity to the trash", "tags": tags,
                "parameters": openapi::with_if_match(&id_param),
                "responses": problem_responses(json!({"204": {"description": "In the trash"}}), &["400", "401", "403", "404", "412"])
            }),
            delete(remove),
        ),
        Operation::new(
            "post",
            "/api/v1/activities/{id}/restore",
            json!({
                "operationId": "restoreActivity", "summary": "Take an activity out of the trash", "tags": tags,
                "parameters": id_param,
                "responses": problem_responses(json!({"200": openapi::record_response("Activity", "The restored activity", false)}), &["400", "401", "403", "404"])
            }),
            post(restore),
        ),
    ]
}

fn parse_id(raw: &str) -> Result<ActivityId, Problem> {
    raw.parse()
        .map_err(|_| Problem::not_found("no such activity"))
}

fn activity_response(status: StatusCode, activity: &Activity, created: bool) -> Response {
    let location = created.then(|| location(activity.id));
    record_response(status, activity, activity.version, location)
}

async fn create(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, Problem> {
    let idem = idempotency(&headers, "POST /api/v1/activities", &body.value)?;
    match state
        .carnet
        .create_activity(&ctx, &body.value, idem.as_ref())
        .await?
    {
        Created::New(activity) => Ok(activity_response(StatusCode::CREATED, &activity, true)),
        Created::Replayed(stored) => Ok(replayed(stored)),
    }
}

async fn show(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    IdPath(id): IdPath,
) -> Result<Response, Problem> {
    let activity = state.carnet.get_activity(&ctx, parse_id(&id)?).await?;
    Ok(activity_response(StatusCode::OK, &activity, false))
}

async fn update(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    IdPath(id): IdPath,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, Problem> {
    let id = parse_id(&id)?;
    let if_match = header_str(&headers, "if-match")?;
    let activity = state
        .carnet
        .patch_activity(&ctx, id, &body.value, if_match)
        .await?;
    Ok(activity_response(StatusCode::OK, &activity, false))
}

async fn remove(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    IdPath(id): IdPath,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let id = parse_id(&id)?;
    state
        .carnet
        .delete_activity(&ctx, id, header_str(&headers, "if-match")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn restore(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    IdPath(id): IdPath,
) -> Result<Response, Problem> {
    let activity = state.carnet.restore_activity(&ctx, parse_id(&id)?).await?;
    Ok(activity_response(StatusCode::OK, &activity, false))
}

async fn list(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let pairs = query_pairs(query.as_deref())?;
    let params = ActivityListParams::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let page = state.carnet.list_activities(&ctx, &params).await?;
    Ok(axum::Json(json!({"data": page.data, "next_cursor": page.next_cursor})).into_response())
}

/// The query and the media type are checked before the body (up to 16 MiB) is read.
async fn import(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    RawQuery(query): RawQuery,
    req: Request,
) -> Result<Response, Problem> {
    let mut dry_run = false;
    for (key, value) in query_pairs(query.as_deref())? {
        match (key.as_str(), value.as_str()) {
            ("dry_run", "true") => dry_run = true,
            ("dry_run", "false") => dry_run = false,
            ("dry_run", _) => return Err(Problem::bad_request("dry_run", "must be true or false")),
            (other, _) => return Err(Problem::bad_request(other, "unknown query parameter")),
        }
    }
    let media = header_str(req.headers(), header::CONTENT_TYPE.as_str())?
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if media.as_deref() != Some("text/calendar") {
        return Err(Problem::unsupported_media_type("text/calendar"));
    }
    let body = Bytes::from_request(req, &state)
        .await
        .map_err(|e| body_problem(&e, MAX_CALENDAR))?;
    let report = state.carnet.import_calendar(&ctx, &body, dry_run).await?;
    Ok(axum::Json(report).into_response())
}
