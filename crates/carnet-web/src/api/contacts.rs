//! `/api/v1/contacts`: create, read, merge-patch, trash, restore, list and search.

use super::Operation;
use crate::AppState;
use crate::auth::ApiContext;
use crate::openapi::{self, json_body, problem_responses};
use crate::problem::Problem;
use crate::request::{IdPath, JsonBody, query_pairs};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use carnet_core::ContactId;
use carnet_core::contact::Contact;
use carnet_service::contacts::{Created, Idempotency, ListParams, etag, location};
use serde_json::json;
use sha2::{Digest, Sha256};

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
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": false,
                    "description": "Repeat the request safely: a repeat returns the first response with `Idempotent-Replayed: true`.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255}}],
                "requestBody": json_body("ContactInput", false),
                "responses": problem_responses(json!({
                    "201": openapi::contact_response("The created contact", true)
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
                "responses": problem_responses(json!({"200": openapi::contact_response("The contact", false)}), &["400", "401", "403", "404"])
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
                "responses": problem_responses(json!({"200": openapi::contact_response("The changed contact", false)}),
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
                "responses": problem_responses(json!({"200": openapi::contact_response("The restored contact", false)}), &["400", "401", "403", "404"])
            }),
            post(restore),
        ),
    ]
}

fn parse_id(raw: &str) -> Result<ContactId, Problem> {
    raw.parse()
        .map_err(|_| Problem::not_found("no such contact"))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Problem> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| Problem::bad_request(name, "must be visible ASCII"))
        })
        .transpose()
}

/// A contact with its `ETag` (and `Location` when created).
fn contact_response(status: StatusCode, contact: &Contact, with_location: bool) -> Response {
    let mut res = (status, axum::Json(contact)).into_response();
    if let Ok(tag) = HeaderValue::from_str(&etag(contact.version)) {
        res.headers_mut().insert(header::ETAG, tag);
    }
    if with_location && let Ok(loc) = HeaderValue::from_str(&location(contact.id)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    res
}

async fn create(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, Problem> {
    let idem = match header_str(&headers, "idempotency-key")? {
        None => None,
        Some(key) if !key.is_empty() && key.len() <= 255 => {
            let canonical = body.value.to_string();
            let digest = Sha256::digest(format!("POST /api/v1/contacts\n{canonical}").as_bytes());
            let fingerprint = digest.iter().map(|b| format!("{b:02x}")).collect();
            Some(Idempotency {
                key: key.to_owned(),
                fingerprint,
            })
        }
        Some(_) => {
            return Err(Problem::bad_request(
                "Idempotency-Key",
                "must be 1 to 255 characters",
            ));
        }
    };
    match state
        .carnet
        .create_contact(&ctx, &body.value, idem.as_ref())
        .await?
    {
        Created::New(contact) => Ok(contact_response(StatusCode::CREATED, &contact, true)),
        Created::Replayed(stored) => {
            let status = StatusCode::from_u16(u16::try_from(stored.status).unwrap_or(500))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut res = (status, stored.body).into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert(
                HeaderName::from_static("idempotent-replayed"),
                HeaderValue::from_static("true"),
            );
            for (name, value) in [
                (header::LOCATION, stored.location),
                (header::ETAG, stored.etag),
            ] {
                if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                    h.insert(name, v);
                }
            }
            Ok(res)
        }
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
