//! The OpenAPI 3.1 document, generated from the operation table and the schemas below.

use crate::AppState;
use crate::api::{Operation, operations};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use carnet_core::activity::ActivityKind;
use carnet_service::activities;
use carnet_service::contacts::{DEFAULT_LIMIT, MAX_LIMIT, SORT_FIELDS};
use serde_json::{Map, Value, json};

/// `GET /api/v1/openapi.json` itself.
pub(crate) fn operation() -> Operation {
    Operation::new(
        "get",
        "/api/v1/openapi.json",
        json!({
            "operationId": "getOpenApi", "summary": "This document", "tags": ["meta"], "security": [],
            "responses": {"200": {"description": "The OpenAPI document", "content": {"application/json": {"schema": {"type": "object"}}}}}
        }),
        get(serve),
    )
}

async fn serve(State(_): State<AppState>) -> Response {
    axum::Json(document()).into_response()
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in operations() {
        let item = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        if let Value::Object(item) = item {
            item.insert(op.method.to_owned(), op.doc);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Carnet API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The Carnet CRM API. Errors are RFC 9457 problem details; see docs/api.md.",
            "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"}
        },
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "An API key: `carnet_<prefix>_<secret>`"}
            },
            "schemas": all_schemas(),
        }
    })
}

/// The schemas of every module.
fn all_schemas() -> Value {
    let mut all = schemas();
    for more in [crate::api::imports::schemas(), activity_schemas()] {
        if let (Value::Object(all), Value::Object(more)) = (&mut all, more) {
            all.extend(more);
        }
    }
    all
}

/// Text without control characters (C0, DEL and C1), which the API refuses.
const NO_CONTROL: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";
/// The same, with at least one character that is not white space.
const NOT_BLANK: &str = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$";
/// Digits, spaces and `+ - . ( ) / x`, with at least one digit.
const PHONE: &str = r"^[0-9 +\-.()/x]*[0-9][0-9 +\-.()/x]*$";

fn text(max: usize) -> Value {
    json!({"type": "string", "maxLength": max, "pattern": NO_CONTROL})
}

/// An e-mail or phone item; on input the label is optional (default `work`).
fn labeled_value(value: Value, for_input: bool) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": if for_input { json!(["value"]) } else { json!(["label", "value"]) },
        "properties": {
            "label": {
                "type": if for_input { json!(["string", "null"]) } else { json!("string") },
                "maxLength": 50, "pattern": NO_CONTROL,
                "description": "work, home, mobile, …; on input, missing or null means work"
            },
            "value": value
        }
    })
}

fn nullable(mut schema: Value) -> Value {
    if let Some(ty) = schema.get("type").cloned() {
        schema["type"] = json!([ty, "null"]);
    }
    schema
}

/// The writable members of a contact; all may be `null` (absent, or cleared by a patch).
fn writable_properties() -> Value {
    let uuid = json!({"type": "string", "format": "uuid"});
    let list = |item: &str| json!({"type": "array", "maxItems": 50, "items": {"$ref": format!("#/components/schemas/{item}")}});
    json!({
        "first_name": nullable(text(200)),
        "last_name": nullable(text(200)),
        "emails": nullable(list("EmailInput")),
        "phones": nullable(list("PhoneInput")),
        "company_id": nullable(uuid.clone()),
        "job_title": nullable(text(200)),
        "tags": nullable(json!({"type": "array", "maxItems": 50, "items": text(100)})),
        "custom": nullable(json!({"type": "object", "description": "Custom field values: at most 16 KiB, numbers between -10^15 and 10^15, no NUL characters"})),
        "owner_id": {"type": ["string", "null"], "format": "uuid", "description": "A member of the workspace"}
    })
}

/// The kinds of activity, as the API names them.
fn activity_kinds() -> [&'static str; 4] {
    ActivityKind::ALL.map(ActivityKind::as_str)
}

/// An RFC 3339 date and time with its offset, in the years 1000 to 9999.
fn date_time() -> Value {
    json!({"type": "string", "format": "date-time", "pattern": "^[1-9][0-9]{3}-"})
}

/// The writable members of an activity; all may be `null` (absent, or cleared by a patch).
fn activity_writable_properties() -> Value {
    json!({
        "kind": {"type": ["string", "null"], "enum": activity_kinds().into_iter().map(Value::from).chain([Value::Null]).collect::<Vec<_>>()},
        "subject": nullable(text_not_blank(200)),
        "description": {"type": ["string", "null"], "maxLength": 10000, "pattern": r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$",
                        "description": "Several lines; tabs and line breaks are the only control characters allowed"},
        "location": nullable(text(200)),
        "starts_at": nullable(date_time()),
        "ends_at": {"type": ["string", "null"], "format": "date-time", "pattern": "^[1-9][0-9]{3}-", "description": "Not before starts_at"},
        "done": {"type": ["boolean", "null"]},
        "contact_id": {"type": ["string", "null"], "format": "uuid", "description": "A contact of the workspace, not in the trash"},
        "owner_id": {"type": ["string", "null"], "format": "uuid", "description": "A member of the workspace"}
    })
}

/// A new activity's members: kind, subject and start cannot be null there.
fn activity_input_properties() -> Value {
    let mut props = activity_writable_properties();
    props["kind"] = json!({"type": "string", "enum": activity_kinds()});
    props["subject"] = text_not_blank(200);
    props["starts_at"] = date_time();
    props
}

fn text_not_blank(max: usize) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": NOT_BLANK})
}

fn activity_schemas() -> Value {
    let nullable_string = json!({"type": ["string", "null"]});
    let issue = json!({"type": "object", "required": ["line", "field", "message"], "properties": {
        "line": {"type": "integer"}, "field": {"type": "string"}, "message": {"type": "string"}}});
    json!({
        "Activity": {
            "type": "object",
            "required": ["id", "uid", "kind", "subject", "description", "location", "starts_at", "ends_at", "done",
                         "contact_id", "owner_id", "version", "created_at", "updated_at", "deleted_at"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "uid": {"type": "string", "description": "Its iCalendar UID: the id, or the UID it had in the calendar it was imported from"},
                "kind": {"type": "string", "enum": activity_kinds()},
                "subject": {"type": "string"},
                "description": nullable_string,
                "location": nullable_string,
                "starts_at": {"type": "string", "format": "date-time"},
                "ends_at": {"type": ["string", "null"], "format": "date-time"},
                "done": {"type": "boolean"},
                "contact_id": {"type": ["string", "null"], "format": "uuid"},
                "owner_id": {"type": ["string", "null"], "format": "uuid"},
                "version": {"type": "integer", "minimum": 1},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"},
                "deleted_at": {"type": ["string", "null"], "format": "date-time", "description": "Set while in the trash"}
            }
        },
        "ActivityInput": {
            "type": "object",
            "additionalProperties": false,
            "required": ["kind", "subject", "starts_at"],
            "description": "ends_at, when given, must not be before starts_at.",
            "properties": activity_input_properties()
        },
        "ActivityPatch": {
            "type": "object",
            "additionalProperties": false,
            "description": "JSON merge patch (RFC 7396): members present replace, null clears. \
                            kind, subject and starts_at cannot be cleared; ends_at must stay after starts_at.",
            "properties": activity_writable_properties()
        },
        "ActivityPage": {
            "type": "object",
            "required": ["data", "next_cursor"],
            "properties": {
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/Activity"}},
                "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page"}
            }
        },
        "CalendarImport": {
            "type": "object",
            "required": ["created", "updated", "unchanged", "rejected", "notes"],
            "properties": {
                "created": {"type": "integer"}, "updated": {"type": "integer"}, "unchanged": {"type": "integer"},
                "rejected": {"type": "array", "items": issue.clone(), "description": "Events not imported, each reason with the line of its BEGIN and the property at fault"},
                "notes": {"type": "array", "items": issue, "description": "Remarks on imported events: attendees that are no contact, repeats, times without a zone"}
            }
        }
    })
}

/// A new contact needs a first name, a last name (not blank) or an e-mail.
fn needs_a_name_or_email() -> Value {
    let named = |field: &str| json!({"required": [field], "properties": {field: {"type": "string", "pattern": NOT_BLANK}}});
    json!([
        named("first_name"),
        named("last_name"),
        {"required": ["emails"], "properties": {"emails": {"type": "array", "minItems": 1}}}
    ])
}

fn schemas() -> Value {
    let nullable_string = json!({"type": ["string", "null"]});
    json!({
        "LabeledValue": labeled_value(json!({"type": "string"}), false),
        "EmailInput": labeled_value(json!({"type": "string", "format": "email", "maxLength": 254}), true),
        "PhoneInput": labeled_value(json!({"type": "string", "maxLength": 50, "pattern": PHONE}), true),
        "Contact": {
            "type": "object",
            "required": ["id", "first_name", "last_name", "emails", "phones", "company_id", "job_title", "tags",
                         "custom", "owner_id", "version", "created_at", "updated_at", "deleted_at"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "first_name": nullable_string, "last_name": nullable_string,
                "emails": {"type": "array", "items": {"$ref": "#/components/schemas/LabeledValue"}},
                "phones": {"type": "array", "items": {"$ref": "#/components/schemas/LabeledValue"}},
                "company_id": {"type": ["string", "null"], "format": "uuid"},
                "job_title": nullable_string,
                "tags": {"type": "array", "items": {"type": "string"}},
                "custom": {"type": "object"},
                "owner_id": {"type": ["string", "null"], "format": "uuid"},
                "version": {"type": "integer", "minimum": 1},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"},
                "deleted_at": {"type": ["string", "null"], "format": "date-time", "description": "Set while in the trash"}
            }
        },
        "ContactInput": {
            "type": "object",
            "additionalProperties": false,
            "description": "A first name, a last name or an e-mail is required.",
            "properties": writable_properties(),
            "anyOf": needs_a_name_or_email()
        },
        "ContactPatch": {
            "type": "object",
            "additionalProperties": false,
            "description": "JSON merge patch (RFC 7396): members present replace, null clears. \
                            The result must still have a first name, a last name or an e-mail.",
            "properties": writable_properties()
        },
        "ContactPage": {
            "type": "object",
            "required": ["data", "next_cursor"],
            "properties": {
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/Contact"}},
                "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page"}
            }
        },
        "Problem": {
            "type": "object",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string", "description": "/problems/<slug>, documented in docs/api.md"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "errors": {"type": "array", "items": {
                    "type": "object", "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}}
                }}
            }
        }
    })
}

/// A JSON request body of schema `name` (also as merge patch when `merge_patch`).
pub(crate) fn json_body(name: &str, merge_patch: bool) -> Value {
    let schema = json!({"schema": {"$ref": format!("#/components/schemas/{name}")}});
    let mut content = Map::new();
    content.insert("application/json".into(), schema.clone());
    if merge_patch {
        content.insert("application/merge-patch+json".into(), schema);
    }
    json!({"required": true, "content": content})
}

/// A record (schema `schema`) in a response, with its headers.
pub(crate) fn record_response(schema: &str, description: &str, created: bool) -> Value {
    let mut headers =
        json!({"ETag": {"schema": {"type": "string"}, "description": "The version, for If-Match"}});
    if created {
        headers["Location"] = json!({"schema": {"type": "string"}});
        headers["Idempotent-Replayed"] = json!({"schema": {"type": "string", "enum": ["true"]}});
    }
    json!({
        "description": description,
        "headers": headers,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

/// The `Idempotency-Key` header of a create.
pub(crate) fn idempotency_key() -> Value {
    json!({"name": "Idempotency-Key", "in": "header", "required": false,
        "description": "Repeat the request safely: a repeat returns the first response with `Idempotent-Replayed: true`.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
}

const PROBLEM_TEXT: [(&str, &str); 11] = [
    ("400", "Malformed request; `errors` names the field"),
    ("401", "Missing or bad credentials"),
    ("403", "Not allowed for this role or API key"),
    ("404", "No such record in this workspace"),
    ("409", "Conflicts with the record's state"),
    ("412", "If-Match names a stale version"),
    ("413", "Body over 1 MiB"),
    ("415", "Unsupported media type"),
    ("422", "Invalid input; `errors` names each field"),
    ("429", "Too many requests"),
    ("503", "Read-only mode or not ready"),
];

/// `ok` plus the listed error statuses as problem+json (and 500/503, always possible).
pub(crate) fn problem_responses(ok: Value, statuses: &[&str]) -> Value {
    let mut out = ok.as_object().cloned().unwrap_or_default();
    let problem =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    for status in statuses.iter().chain(["500", "503"].iter()) {
        let text = PROBLEM_TEXT
            .iter()
            .find(|(s, _)| s == status)
            .map_or("Server error", |(_, t)| *t);
        out.insert(
            (*status).to_owned(),
            json!({"description": text, "content": problem.clone()}),
        );
    }
    Value::Object(out)
}

/// The parameters of a list operation.
pub(crate) fn list_parameters() -> Value {
    let mut sorts: Vec<String> = SORT_FIELDS.iter().map(|s| (*s).to_owned()).collect();
    sorts.extend(SORT_FIELDS.iter().map(|s| format!("-{s}")));
    json!([
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
        {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "next_cursor of the previous page"},
        {"name": "sort", "in": "query", "schema": {"type": "string", "enum": sorts, "default": "last_name"}},
        {"name": "q", "in": "query", "schema": {"type": "string", "pattern": NO_CONTROL}, "description": "Search names, e-mails and phones, ignoring case and accents"},
        {"name": "filter[tag]", "in": "query", "schema": {"type": "string", "pattern": NO_CONTROL}},
        {"name": "filter[company_id]", "in": "query", "schema": {"type": "string", "format": "uuid"}},
        {"name": "filter[email]", "in": "query", "schema": {"type": "string", "pattern": NO_CONTROL}},
        {"name": "filter[trashed]", "in": "query", "schema": {"type": "boolean", "default": false}, "description": "List the trash"}
    ])
}

/// The parameters of an export: the format, and a list's filters and sort (no paging).
pub(crate) fn export_parameters() -> Value {
    let mut params = vec![json!({
        "name": "format", "in": "query", "required": false,
        "schema": {"type": "string", "enum": ["csv", "excel-fr", "json", "xlsx", "vcf", "vcf3"], "default": "csv"},
        "description": "csv (RFC 4180), excel-fr (semicolons, BOM), json (as the API shows contacts), xlsx, vcf (vCard 4.0), vcf3 (vCard 3.0)"
    })];
    let list = list_parameters();
    params.extend(
        list.as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["name"] != "limit" && p["name"] != "cursor")
            .cloned(),
    );
    Value::Array(params)
}

/// The parameters of a list of activities.
pub(crate) fn activity_list_parameters() -> Value {
    let mut params = activity_filters();
    if let Value::Array(list) = &mut params {
        list.insert(0, json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": activities::MAX_LIMIT, "default": activities::DEFAULT_LIMIT}}));
        list.insert(1, json!({"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "next_cursor of the previous page"}));
    }
    params
}

/// The parameters of an activity export: the format, a list's filters and order.
pub(crate) fn activity_export_parameters() -> Value {
    let mut params = activity_filters();
    if let Value::Array(list) = &mut params {
        list.insert(0, json!({
            "name": "format", "in": "query", "required": false,
            "schema": {"type": "string", "enum": ["ics", "json"], "default": "ics"},
            "description": "ics (iCalendar: events, tasks as to-dos), json (as the API shows activities)"
        }));
    }
    params
}

fn activity_filters() -> Value {
    json!([
        {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["starts_at", "-starts_at"], "default": "starts_at"}},
        {"name": "filter[contact_id]", "in": "query", "schema": {"type": "string", "format": "uuid"}, "description": "The activities about one contact"},
        {"name": "filter[kind]", "in": "query", "schema": {"type": "string", "enum": activity_kinds()}},
        {"name": "filter[done]", "in": "query", "schema": {"type": "boolean"}, "description": "Only the activities done (true) or still to do (false)"},
        {"name": "filter[trashed]", "in": "query", "schema": {"type": "boolean", "default": false}, "description": "List the trash"}
    ])
}

/// The media types an export can answer with.
pub(crate) fn export_media_types() -> Value {
    let text = json!({"schema": {"type": "string"}});
    let binary =
        json!({"schema": {"type": "string", "contentMediaType": "application/octet-stream"}});
    json!({
        "text/csv": text,
        "application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Contact"}}},
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": binary,
        "text/vcard": text
    })
}

/// `params` plus an optional `If-Match` header.
pub(crate) fn with_if_match(params: &Value) -> Value {
    let mut list = params.as_array().cloned().unwrap_or_default();
    list.push(
        json!({"name": "If-Match", "in": "header", "required": false, "schema": {"type": "string", "minLength": 1, "pattern": "\\S"},
                     "description": "The ETag last seen; a stale one gives 412"}),
    );
    Value::Array(list)
}
