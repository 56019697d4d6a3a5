//! `/api/v1/contacts`: create, read, merge-patch, trash, restore, list and search.

use super::Operation;
use super::record::{header_str, idempotency, record_response, replayed};
use crate::AppState;
use crate::auth::ApiContext;
use crate::openapi::{self, json_body, problem_responses};
use crate::problem::Problem;
use crate::request::{IdPath, JsonBody, query_pairs};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use carnet_core::ContactId;
use carnet_core::contact::Contact;
use carnet_service::contacts::{Created, ListParams, location};
use serde_json::json;

pub(super) fn operations() -> Vec<Operation> {
    let id_param = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}]);
    vec![
        Operation::new(
            "get",
            "/api/v1/contacts",
            json!({
                "operationId": "listContacts", "summary": "List and search contacts", "tags": ["contacts"],
                "parameters": openapi::list_parameters(),
                "responses": problem_responses(json!({
                    "200": {"description": "One page of contacts", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ContactPage"}}}}
                }), &["400", "401", "403"])
            }),
            get(list),
        ),
        Operation::new(
            "post",
            "/api/v1/contacts",
            json!({
                "operationId": "createContact", "summary": "Create a contact", "tags": ["contacts"],
                "parameters": [openapi::idempotency_key()],
                "requestBody": json_body("ContactInput", false),
                "responses": problem_responses(json!({
                    "201": openapi::record_response("Contact", "The created contact", true)
                }), &["400", "401", "403", "409", "413", "415", "422"])
            }),
            post(create),
        ),
        Operation::new(
            "get",
            "/api/v1/contacts/export",
            json!({
                "operationId": "exportContacts", "summary": "Export every matching contact as a file (streamed)", "tags": ["contacts"],
                "parameters": openapi::export_parameters(),
                "responses": problem_responses(json!({
                    "200": {"description": "The file; Content-Disposition names it",
                            "content": openapi::export_media_types()}
                }), &["400", "401", "403"])
            }),
            get(super::export::contacts),
        ),
        Operation::new(
            "get",
            "/api/v1/contacts/{id}",
            json!({
                "operationId": "getContact", "summary": "Get a contact (one in the trash is listed with filter[trashed]=true)", "tags": ["contacts"],
                "parameters": id_param,
                "responses": problem_responses(json!({"200": openapi::record_response("Contact", "The contact", false)}), &["400", "401", "403", "404"])
            }),
            get(show),
        ),
        Operation::new(
            "patch",
            "/api/v1/contacts/{id}",
            json!({
                "operationId": "updateContact", "summary": "Change a contact (JSON merge patch: null clears a field)", "tags": ["contacts"],
                "parameters": openapi::with_if_match(&id_param),
                "requestBody": json_body("ContactPatch", true),
                "responses": problem_responses(json!({"200": openapi::record_response("Contact", "The changed contact", false)}),
                    &["400", "401", "403", "404", "409", "412", "413", "415", "422"])
            }),
            patch(update),
        ),
        Operation::new(
            "delete",
            "/api/v1/contacts/{id}",
            json!({
                "operationId": "deleteContact", "summary": "Move a contact to the trash", "tags": ["contacts"],
                "parameters": openapi::with_if_match(&id_param),
                "responses": problem_responses(json!({"204": {"description": "In the trash"}}), &["400", "401", "403", "404", "412"])
            }),
            delete(remove),
        ),
        Operation::new(
            "post",
            "/api/v1/contacts/{id}/restore",
            json!({
                "operationId": "restoreContact", "summary": "Take a contact out of the trash", "tags": ["contacts"],
                "parameters": id_param,
                "responses": problem_responses(json!({"200": openapi::record_response("Contact", "The restored contact", false)}), &["400", "401", "403", "404"])
            }),
            post(restore),
        ),
    ]
}

fn parse_id(raw: &str) -> Result<ContactId, Problem> {
    raw.parse()
        .map_err(|_| Problem::not_found("no such contact"))
}

/// A contact with its `ETag` (and `Location` when created).
fn contact_response(status: StatusCode, contact: &Contact, with_location: bool) -> Response {
    let location = with_location.then(|| location(contact.id));
    record_response(status, contact, contact.version, location)
}

async fn create(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, Problem> {
    let idem = idempotency(&headers, "POST /api/v1/contacts", &body.value)?;
    match state
        .carnet
        .create_contact(&ctx, &body.value, idem.as_ref())
        .await?
    {
        Created::New(contact) => Ok(contact_response(StatusCode::CREATED, &contact, true)),
        Created::Replayed(stored) => Ok(replayed(stored)),
    }
}

async fn show(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    IdPath(id): IdPath,
) -> Result<Response, Problem> {
    let contact = state
        .carnet
        .get_contact(&ctx, parse_id(&id)?, false)
        .await?;
    Ok(contact_response(StatusCode::OK, &contact, false))
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
    let contact = state
        .carnet
        .patch_contact(&ctx, id, &body.value, if_match)
        .await?;
    Ok(contact_response(StatusCode::OK, &contact, false))
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
        .delete_contact(&ctx, id, header_str(&headers, "if-match")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn restore(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    IdPath(id): IdPath,
) -> Result<Response, Problem> {
    let contact = state.carnet.restore_contact(&ctx, parse_id(&id)?).await?;
    Ok(contact_response(StatusCode::OK, &contact, false))
}

async fn list(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let pairs = query_pairs(query.as_deref())?;
    let params = ListParams::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let page = state.carnet.list_contacts(&ctx, &params).await?;
    Ok(axum::Json(json!({"data": page.data, "next_cursor": page.next_cursor})).into_response())
}
