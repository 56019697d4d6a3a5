//! Every API error is a problem+json with the right status, naming the field at fault.

use carnet_core::Scope;
use carnet_service::key_cache::KEY_CACHE_TTL;
use carnet_service::{Carnet, Clock, SystemClock};
use carnet_testkit::{Backend, TestApp, on_both_backends};
use carnet_web::WebConfig;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use std::sync::{Arc, Mutex};

on_both_backends!(
    bad_input_is_a_clear_4xx,
    authentication_and_scopes,
    api_keys_revoked_elsewhere_stop_within_the_cache_ttl,
    routes_and_methods,
    read_only_mode,
    operations_endpoints
);

fn assert_problem(res: &carnet_testkit::TestResponse, status: u16) {
    assert_eq!(res.status, status, "{}", res.text);
    assert_eq!(
        res.header("content-type"),
        Some("application/problem+json"),
        "{}",
        res.text
    );
    assert_eq!(res.json["status"], status);
    assert!(res.json["type"].as_str().unwrap().starts_with("/problems/"));
    assert!(res.json["title"].is_string() && res.json["detail"].is_string());
    assert!(res.header("x-request-id").is_some());
}

async fn bad_input_is_a_clear_4xx(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let auth = format!("Bearer {key}");

    let unknown = app
        .api(
            &key,
            "POST",
            "/api/v1/contacts",
            Some(json!({"last_name": "A", "nickname": "Lou"})),
        )
        .await;
    assert_problem(&unknown, 422);
    assert_eq!(unknown.error_fields(), ["nickname"]);

    let invalid = app
        .api(&key, "POST", "/api/v1/contacts", Some(json!({"last_name": 5, "emails": [{"value": "nope"}], "owner_id": uuid::Uuid::now_v7()})))
        .await;
    assert_problem(&invalid, 422);
    let fields = invalid.error_fields();
    assert!(
        fields.contains(&"last_name".to_owned()) && fields.contains(&"emails[0].value".to_owned()),
        "{fields:?}"
    );

    let not_member = app
        .api(
            &key,
            "POST",
            "/api/v1/contacts",
            Some(json!({"last_name": "A", "owner_id": uuid::Uuid::now_v7()})),
        )
        .await;
    assert_problem(&not_member, 422);
    assert_eq!(not_member.error_fields(), ["owner_id"]);

    let malformed = app
        .send(
            "POST",
            "/api/v1/contacts",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Some(b"{\"last_name\": ".to_vec()),
        )
        .await;
    assert_problem(&malformed, 400);
    assert_eq!(malformed.error_fields(), ["body"]);

    let deep = "[".repeat(200) + &"]".repeat(200);
    let nested = app
        .send(
            "POST",
            "/api/v1/contacts",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Some(deep.into_bytes()),
        )
        .await;
    assert_problem(&nested, 400);

    let media = app
        .send(
            "POST",
            "/api/v1/contacts",
            &[("authorization", &auth), ("content-type", "text/plain")],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_problem(&media, 415);
    let merge_on_post = app
        .send(
            "POST",
            "/api/v1/contacts",
            &[
                ("authorization", &auth),
                ("content-type", "application/merge-patch+json"),
            ],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_problem(&merge_on_post, 415);

    let huge = json!({"last_name": "x".repeat(1024 * 1024 + 10)})
        .to_string()
        .into_bytes();
    let too_large = app
        .send(
            "POST",
            "/api/v1/contacts",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Some(huge),
        )
        .await;
    assert_problem(&too_large, 413);

    let not_object = app
        .api(&key, "POST", "/api/v1/contacts", Some(json!(["a"])))
        .await;
    assert_problem(&not_object, 422);

    // An export is one file of every match: paging it, or an unknown format, is refused,
    // naming the parameter.
    for (path, field, detail) in [
        (
            "/api/v1/contacts/export?format=csv&limit=5",
            "limit",
            "every matching contact",
        ),
        (
            "/api/v1/activities/export?cursor=abc",
            "cursor",
            "every matching activity",
        ),
        ("/api/v1/contacts/export?format=ics", "format", "csv"),
        ("/api/v1/activities/export?format=xlsx", "format", "ics"),
    ] {
        let refused = app.api(&key, "GET", path, None).await;
        assert_problem(&refused, 400);
        assert_eq!(refused.error_fields(), [field], "{path}");
        assert!(
            refused.json["detail"].as_str().unwrap().contains(detail),
            "{path}: {}",
            refused.text
        );
    }

    // Nothing was written by any of the refused requests.
    let list = app.api(&key, "GET", "/api/v1/contacts", None).await;
    assert_eq!(list.json["data"].as_array().unwrap().len(), 0);
    app.finish().await;
}

async fn authentication_and_scopes(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, writer) = app.tenant_with_key("acme", &[Scope::Write]).await;
    let (_, reader) = app
        .carnet
        .create_api_key("acme", "ro", &[Scope::Read])
        .await
        .unwrap();

    let none = app.send("GET", "/api/v1/contacts", &[], None).await;
    assert_problem(&none, 401);
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    for bad in ["carnet_nope_nope", "garbage", &format!("{writer}x")] {
        let res = app.api(bad, "GET", "/api/v1/contacts", None).await;
        assert_problem(&res, 401);
        assert!(res.header("www-authenticate").is_some());
    }
    let basic = app
        .send(
            "GET",
            "/api/v1/contacts",
            &[("authorization", "Basic YTpi")],
            None,
        )
        .await;
    assert_problem(&basic, 401);

    let read_ok = app.api(&reader, "GET", "/api/v1/contacts", None).await;
    assert_eq!(read_ok.status, 200);
    let forbidden = app
        .api(
            &reader,
            "POST",
            "/api/v1/contacts",
            Some(json!({"last_name": "A"})),
        )
        .await;
    assert_problem(&forbidden, 403);

    // Revoked keys stop working at once.
    let keys = app.carnet.list_api_keys("acme").await.unwrap();
    let ro = keys.iter().find(|k| k.name == "ro").unwrap();
    app.carnet.revoke_api_key("acme", ro.id).await.unwrap();
    let revoked = app.api(&reader, "GET", "/api/v1/contacts", None).await;
    assert_problem(&revoked, 401);
    let listed = app.carnet.list_api_keys("acme").await.unwrap();
    assert!(
        listed
            .iter()
            .find(|k| k.name == "ro")
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        listed
            .iter()
            .find(|k| k.name == "ro")
            .unwrap()
            .last_used_at
            .is_some(),
        "use is recorded"
    );
    app.finish().await;
}

/// A clock the test moves by hand.
struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    fn advance(&self, by: TimeDelta) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// A server keeps the keys it read for [`KEY_CACHE_TTL`]: a key revoked by another process
/// (the CLI, another server) stops working there once that time has passed, and the key's
/// last use is still recorded once a minute.
async fn api_keys_revoked_elsewhere_stop_within_the_cache_ttl(backend: Backend) {
    let clock = Arc::new(ManualClock(Mutex::new(SystemClock.now())));
    let app = TestApp::with_clock(backend, clock.clone()).await;
    let (_, key) = app.tenant_with_key("acme", &[Scope::Read]).await;
    let t0 = clock.now();
    let last_used = || async {
        let keys = app.carnet.list_api_keys("acme").await.unwrap();
        keys[0].last_used_at
    };

    assert_eq!(
        app.api(&key, "GET", "/api/v1/contacts", None).await.status,
        200
    );
    assert_eq!(last_used().await, Some(t0));
    // Half a minute later (the key read again): the use is not recorded again yet.
    clock.advance(TimeDelta::seconds(30));
    assert_eq!(
        app.api(&key, "GET", "/api/v1/contacts", None).await.status,
        200
    );
    assert_eq!(last_used().await, Some(t0));
    clock.advance(TimeDelta::seconds(31));
    assert_eq!(
        app.api(&key, "GET", "/api/v1/contacts", None).await.status,
        200
    );
    let t1 = clock.now();
    assert_eq!(last_used().await, Some(t1));

    // Revoked by another process: this server still trusts its copy until the TTL is over.
    let elsewhere = Carnet::new(app.db.db.clone(), Arc::new(SystemClock));
    let id = elsewhere.list_api_keys("acme").await.unwrap()[0].id;
    elsewhere.revoke_api_key("acme", id).await.unwrap();
    clock.advance(KEY_CACHE_TTL - TimeDelta::milliseconds(1));
    assert_eq!(
        app.api(&key, "GET", "/api/v1/contacts", None).await.status,
        200
    );
    clock.advance(TimeDelta::milliseconds(1));
    assert_problem(&app.api(&key, "GET", "/api/v1/contacts", None).await, 401);
    // A wrong secret behind a cached prefix is refused like any other.
    let (_, other) = app
        .carnet
        .create_api_key("acme", "other", &[Scope::Read])
        .await
        .unwrap();
    assert_eq!(
        app.api(&other, "GET", "/api/v1/contacts", None)
            .await
            .status,
        200
    );
    let last = if other.ends_with('x') { 'y' } else { 'x' };
    let forged = format!("{}{last}", &other[..other.len() - 1]);
    assert_problem(
        &app.api(&forged, "GET", "/api/v1/contacts", None).await,
        401,
    );
    app.finish().await;
}

async fn routes_and_methods(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app.tenant_with_key("acme", &[Scope::Read]).await;
    let unknown = app.api(&key, "GET", "/api/v1/nothing-here", None).await;
    assert_problem(&unknown, 404);
    assert_eq!(unknown.json["type"], "/problems/no-route");
    let method = app.api(&key, "PUT", "/api/v1/contacts", None).await;
    assert_problem(&method, 405);
    let method = app
        .api(
            &key,
            "POST",
            "/api/v1/contacts/0190b7a0-0000-7000-8000-000000000000",
            None,
        )
        .await;
    assert_problem(&method, 405);
    let ui_404 = app.send("GET", "/no/such/page", &[], None).await;
    assert_eq!(ui_404.status, 404);
    assert!(ui_404.header("x-request-id").is_some());
    app.finish().await;
}

async fn read_only_mode(backend: Backend) {
    let app = TestApp::with_config(
        backend,
        WebConfig {
            read_only: true,
            ..WebConfig::default()
        },
    )
    .await;
    let (_, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let refused = app
        .api(
            &key,
            "POST",
            "/api/v1/contacts",
            Some(json!({"last_name": "A"})),
        )
        .await;
    assert_problem(&refused, 503);
    assert_eq!(refused.json["type"], "/problems/read-only");
    assert!(refused.header("retry-after").is_some());
    let read = app.api(&key, "GET", "/api/v1/contacts", None).await;
    assert_eq!(read.status, 200);
    app.finish().await;
}

async fn operations_endpoints(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app.tenant_with_key("acme", &[Scope::Read]).await;
    let health = app.send("GET", "/healthz", &[], None).await;
    assert_eq!(
        (health.status.as_u16(), health.json["status"].as_str()),
        (200, Some("ok"))
    );
    let ready = app.send("GET", "/readyz", &[], None).await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.json["schema"], "current");
    app.api(&key, "GET", "/api/v1/contacts", None).await;
    app.api(&key, "GET", "/api/v1/contacts?limit=0", None).await;
    let missing = format!("/api/v1/contacts/{}", carnet_core::ContactId::new());
    assert_eq!(app.api(&key, "GET", &missing, None).await.status, 404);
    let metrics = app.send("GET", "/metrics", &[], None).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = &metrics.text;
    assert!(
        text.contains(
            r#"carnet_http_requests_total{method="GET",route="/api/v1/contacts",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"carnet_http_requests_total{method="GET",route="/api/v1/contacts",status="400"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"carnet_http_request_duration_seconds_count{method="GET",route="/api/v1/contacts"} 2"#
        ),
        "{text}"
    );
    assert!(text.contains("carnet_db_pool_connections{pool="), "{text}");
    // Each pool by name, with the connections for reads of one statement (a record by its
    // id): the one a read just took back, idle.
    let (pools, single_max): (&[&str], u32) = match backend {
        Backend::Sqlite => (&["writer", "readers", "single_reads"], 4),
        Backend::Postgres => (&["main", "single_reads", "batched_reads"], 8),
    };
    for pool in pools {
        assert!(
            text.contains(&format!("carnet_db_pool_max{{pool=\"{pool}\"}}")),
            "{pool}: {text}"
        );
    }
    for line in [
        r#"carnet_db_pool_connections{pool="single_reads"} 1"#.to_owned(),
        r#"carnet_db_pool_idle{pool="single_reads"} 1"#.to_owned(),
        format!(r#"carnet_db_pool_max{{pool="single_reads"}} {single_max}"#),
    ] {
        assert!(text.contains(&line), "{line}: {text}");
    }

    // Both count the creates that went together, PostgreSQL the reads by id too: the one
    // read by id met no other, and went alone; no contact was created.
    let batched = [
        (
            "carnet_db_batched_reads_total 0",
            backend == Backend::Postgres,
        ),
        (
            "carnet_db_read_batches_total 0",
            backend == Backend::Postgres,
        ),
        ("carnet_db_batched_creates_total 0", true),
        ("carnet_db_create_batches_total 0", true),
    ];
    for (line, shown) in batched {
        assert_eq!(text.contains(line), shown, "{line}: {text}");
    }

    // Readiness fails, with a problem, once the database is gone.
    app.db.db.close().await;
    let not_ready = app.send("GET", "/readyz", &[], None).await;
    assert_problem(&not_ready, 503);
    app.finish().await;
}
