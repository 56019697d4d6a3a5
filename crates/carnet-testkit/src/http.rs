//! The application in process: a test database, the service, the router, and helpers to
//! seed tenants and send requests.

use crate::{Backend, TestDb};
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use carnet_core::{ContactId, ContactInput, Role, Scope};
use carnet_service::admin::NewUser;
use carnet_service::{Carnet, Clock, SystemClock};
use carnet_store::contacts::{self, NewContact};
use carnet_store::tenants::Tenant;
use carnet_web::{AppState, WebConfig};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

/// A running application on a throwaway database.
pub struct TestApp {
    pub db: TestDb,
    pub carnet: Carnet,
    pub router: axum::Router,
}

/// A response, with the body read and parsed when it is JSON.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
    /// The body as received (binary files).
    pub bytes: Vec<u8>,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The problem's `errors[].field` values.
    pub fn error_fields(&self) -> Vec<String> {
        self.json["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    pub async fn new(backend: Backend) -> TestApp {
        Self::with_config(backend, WebConfig::default()).await
    }

    pub async fn with_config(backend: Backend, config: WebConfig) -> TestApp {
        Self::with_clock_and_config(backend, Arc::new(SystemClock), config).await
    }

    /// An application whose service reads the time from `clock`.
    pub async fn with_clock(backend: Backend, clock: Arc<dyn Clock>) -> TestApp {
        Self::with_clock_and_config(backend, clock, WebConfig::default()).await
    }

    async fn with_clock_and_config(
        backend: Backend,
        clock: Arc<dyn Clock>,
        config: WebConfig,
    ) -> TestApp {
        let db = TestDb::new(backend).await;
        let carnet = Carnet::new(db.db.clone(), clock);
        let router = carnet_web::router(AppState::new(carnet.clone(), config));
        TestApp { db, carnet, router }
    }

    /// A new tenant `slug` and an API key on it with `scopes`.
    pub async fn tenant_with_key(&self, slug: &str, scopes: &[Scope]) -> (Tenant, String) {
        let tenant = self
            .carnet
            .create_tenant(slug, &format!("{slug} SA"))
            .await
            .expect("tenant");
        let (_, key) = self
            .carnet
            .create_api_key(slug, "test", scopes)
            .await
            .expect("api key");
        (tenant, key)
    }

    /// `n` contacts named `last_name` in `tenant`, with e-mails `{last_name}{i}@x.fr` (in
    /// lower case), written in one transaction below the service: bulk set-up for list and
    /// search tests. Returns their ids, in the order written.
    pub async fn add_contacts(&self, tenant: &Tenant, last_name: &str, n: usize) -> Vec<ContactId> {
        self.add_contacts_with(tenant, last_name, n, &serde_json::json!({}))
            .await
    }

    /// [`TestApp::add_contacts`] with the members of `extra` (tags, company, …) in each.
    pub async fn add_contacts_with(
        &self,
        tenant: &Tenant,
        last_name: &str,
        n: usize,
        extra: &Value,
    ) -> Vec<ContactId> {
        let inputs: Vec<ContactInput> = (0..n)
            .map(|i| {
                let mut body = serde_json::json!({
                    "last_name": last_name,
                    "emails": [{"value": format!("{}{i}@x.fr", last_name.to_lowercase())}]
                });
                for (k, v) in extra.as_object().expect("extra members") {
                    body[k] = v.clone();
                }
                ContactInput::from_json(&body).expect("contact")
            })
            .collect();
        let news = NewContact::each(&inputs);
        let mut tx = self
            .db
            .db
            .tenant_write(tenant.id)
            .await
            .expect("transaction");
        contacts::insert_many(&mut tx, &news, None, chrono::Utc::now())
            .await
            .expect("contacts");
        tx.commit().await.expect("commit");
        news.iter().map(|c| c.id).collect()
    }

    /// A user with `password` in tenant `slug` with `role`.
    pub async fn user(&self, slug: &str, email: &str, password: &str, role: Role) {
        self.carnet
            .create_user(NewUser {
                email,
                display_name: None,
                password,
                tenant_slug: slug,
                role,
            })
            .await
            .expect("user");
    }

    /// Sends a request with these headers and an optional raw body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> TestResponse {
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(body.map_or_else(Body::empty, Body::from))
            .expect("request");
        let res = self.router.clone().oneshot(req).await.expect("response");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        TestResponse {
            status,
            headers,
            text,
            json,
            bytes: bytes.to_vec(),
        }
    }

    /// An API call authenticated with `key`; `body` is sent as `application/json`.
    pub async fn api(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> TestResponse {
        self.api_with(key, method, path, &[], body).await
    }

    /// Like [`TestApp::api`], with extra headers.
    pub async fn api_with(
        &self,
        key: &str,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: Option<Value>,
    ) -> TestResponse {
        let auth = format!("Bearer {key}");
        let mut headers = vec![("authorization", auth.as_str())];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        headers.extend_from_slice(extra);
        self.send(
            method,
            path,
            &headers,
            body.map(|b| b.to_string().into_bytes()),
        )
        .await
    }

    /// Uploads `file` (named `file_name`) with text `fields` as `multipart/form-data`.
    pub async fn upload(
        &self,
        key: &str,
        path: &str,
        file_name: &str,
        file: &[u8],
        fields: &[(&str, &str)],
    ) -> TestResponse {
        let (content_type, body) = multipart(file_name, file, fields);
        let auth = format!("Bearer {key}");
        self.send(
            "POST",
            path,
            &[("authorization", &auth), ("content-type", &content_type)],
            Some(body),
        )
        .await
    }

    pub async fn finish(self) {
        self.db.drop_db().await;
    }
}

/// A `multipart/form-data` body: the text fields, then the file in a part named `file`.
/// Returns the Content-Type (with its boundary) and the body.
pub fn multipart(file_name: &str, file: &[u8], fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = format!("carnet-{}", uuid::Uuid::now_v7().simple());
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
