//! Hostile input through the API and the UI: every request gets a 4xx problem naming what is
//! wrong, the server stays healthy, nothing is corrupted, and valid Unicode round-trips.

use axum::body::Body;
use carnet_core::{Role, Scope};
use carnet_testkit::{Backend, TestApp, TestResponse, on_both_backends};
use carnet_web::WebConfig;
use serde_json::json;
use std::time::Duration;

on_both_backends!(
    malformed_bodies_are_4xx_problems,
    unicode_round_trips_byte_for_byte,
    injection_strings_are_plain_data,
    bogus_paths_ids_and_cursors,
    slow_clients_time_out,
    writes_past_the_time_limit_finish_whole,
    hostile_activities_and_calendars
);

fn assert_4xx(res: &TestResponse, what: &str) {
    assert!(
        res.status.is_client_error(),
        "{what}: {} {}",
        res.status,
        res.text
    );
    assert_eq!(
        res.header("content-type"),
        Some("application/problem+json"),
        "{what}"
    );
    assert!(
        !res.json["detail"].as_str().unwrap_or("").is_empty(),
        "{what}: a detail says why"
    );
}

async fn raw_post(app: &TestApp, key: &str, body: Vec<u8>) -> TestResponse {
    let auth = format!("Bearer {key}");
    app.send(
        "POST",
        "/api/v1/contacts",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some(body),
    )
    .await
}

async fn malformed_bodies_are_4xx_problems(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated JSON", b"{\"last_name\": \"A".to_vec(), "body"),
        (
            "trailing garbage",
            b"{\"last_name\": \"A\"} x".to_vec(),
            "body",
        ),
        (
            "invalid UTF-8",
            b"{\"last_name\": \"\xff\xfe\"}".to_vec(),
            "body",
        ),
        (
            "NUL in a name",
            json!({"last_name": "a\u{0}b"}).to_string().into_bytes(),
            "last_name",
        ),
        (
            "NUL in custom",
            json!({"last_name": "A", "custom": {"k": "\u{0}"}})
                .to_string()
                .into_bytes(),
            "custom",
        ),
        (
            "wrong type",
            json!({"last_name": ["A"]}).to_string().into_bytes(),
            "last_name",
        ),
        (
            "number as e-mail",
            json!({"emails": [{"value": 42}]}).to_string().into_bytes(),
            "emails[0].value",
        ),
        (
            "huge number",
            b"{\"last_name\": \"A\", \"custom\": {\"n\": 1e999}}".to_vec(),
            "body",
        ),
        (
            "big number",
            json!({"last_name": "A", "custom": {"n": 1e300}})
                .to_string()
                .into_bytes(),
            "custom",
        ),
        (
            "long name",
            json!({"last_name": "x".repeat(201)})
                .to_string()
                .into_bytes(),
            "last_name",
        ),
        (
            "deep nesting",
            format!("{{\"custom\": {}{}}}", "[".repeat(100), "]".repeat(100)).into_bytes(),
            "body",
        ),
        ("not an object", b"\"Durand\"".to_vec(), ""),
        ("empty body", Vec::new(), "body"),
        ("null body", b"null".to_vec(), ""),
    ];
    for (what, body, field) in cases {
        let res = raw_post(&app, &key, body).await;
        assert_4xx(&res, what);
        assert_eq!(
            res.error_fields().first().map(String::as_str),
            Some(field),
            "{what}: {}",
            res.text
        );
    }
    let one_mb = json!({"last_name": "é".repeat(600_000)})
        .to_string()
        .into_bytes();
    let res = raw_post(&app, &key, one_mb).await;
    assert_eq!(res.status, 413, "{}", res.text);
    // Nothing was stored, and the server still answers.
    let list = app.api(&key, "GET", "/api/v1/contacts", None).await;
    assert_eq!(list.json["data"], json!([]));
    assert_eq!(app.send("GET", "/readyz", &[], None).await.status, 200);
    app.finish().await;
}

async fn unicode_round_trips_byte_for_byte(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let body = json!({
        "first_name": "محمد 👩🏽‍💼",
        "last_name": "שָׁלוֹם Zürich 李小龍 Ελληνικά",
        "job_title": "\u{202E}reganam\u{202C} 🦀",
        "emails": [{"label": "工作", "value": "séverine@exemple.fr"}],
        "tags": ["🇫🇷", "Ünïcödé"],
        "custom": {"clé": "valeur\twith tab", "emoji 😀": ["🎉"], "n": 123456789012345_i64}
    });
    let created = app
        .api(&key, "POST", "/api/v1/contacts", Some(body.clone()))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let got = app
        .api(&key, "GET", &format!("/api/v1/contacts/{id}"), None)
        .await;
    for field in [
        "first_name",
        "last_name",
        "job_title",
        "emails",
        "tags",
        "custom",
    ] {
        assert_eq!(got.json[field], body[field], "{field} round-trips");
    }
    let found = app
        .api(&key, "GET", "/api/v1/contacts?q=%E6%9D%8E%E5%B0%8F", None)
        .await;
    assert_eq!(found.json["data"][0]["id"], id.as_str(), "non-Latin search");
    app.finish().await;
}

async fn injection_strings_are_plain_data(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    app.user("acme", "lea@acme.test", "correct-horse-1", Role::Member)
        .await;
    let sql = "Robert'); DROP TABLE contacts;--";
    let html = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let created = app
        .api(
            &key,
            "POST",
            "/api/v1/contacts",
            Some(json!({"first_name": sql, "last_name": html, "tags": ["' OR '1'='1"]})),
        )
        .await;
    assert_eq!(created.status, 201);
    let q = app
        .api(
            &key,
            "GET",
            "/api/v1/contacts?q=%27%20OR%20%271%27%3D%271",
            None,
        )
        .await;
    assert_eq!(q.json["data"], json!([]), "a search term is data, not SQL");
    let tag = app
        .api(
            &key,
            "GET",
            "/api/v1/contacts?filter%5Btag%5D=%27%20OR%20%271%27%3D%271",
            None,
        )
        .await;
    assert_eq!(tag.json["data"][0]["first_name"], sql);
    let like = app.api(&key, "GET", "/api/v1/contacts?q=%25", None).await;
    assert_eq!(like.json["data"], json!([]), "% is not a wildcard");

    // The UI escapes everything it shows.
    let cookie = sign_in_cookie(&app).await;
    let page = app
        .send("GET", "/contacts", &[("cookie", &cookie)], None)
        .await;
    assert!(!page.text.contains("<script>alert(1)"), "HTML is escaped");
    assert!(
        page.text
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "shown as text: {}",
        page.text
    );
    assert!(
        page.text.contains("Robert&#39;); DROP TABLE contacts;--")
            || page.text.contains("Robert&#x27;); DROP TABLE contacts;--")
    );
    let list = app.api(&key, "GET", "/api/v1/contacts", None).await;
    assert_eq!(
        list.json["data"].as_array().unwrap().len(),
        1,
        "the table is still there"
    );
    app.finish().await;
}

async fn sign_in_cookie(app: &TestApp) -> String {
    let carnet_service::auth::NewSession { token, .. } = app
        .carnet
        .login("lea@acme.test", "correct-horse-1", None, None)
        .await
        .unwrap();
    format!("carnet_session={token}")
}

async fn bogus_paths_ids_and_cursors(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    for path in [
        "/api/v1/contacts/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/contacts/%00",
        "/api/v1/contacts/00000000-0000-0000-0000-000000000000",
        "/api/v1/contacts/'%20OR%201=1",
        "/api/v1/contacts/ffffffff-ffff-ffff-ffff-ffffffffffffff",
    ] {
        let res = app.api(&key, "GET", path, None).await;
        assert_eq!(res.status, 404, "{path}: {}", res.text);
        assert_4xx(&res, path);
    }
    let traversal = app
        .send("GET", "/assets/..%2F..%2FCargo.toml", &[], None)
        .await;
    assert_eq!(traversal.status, 404);
    for cursor in [
        "%00",
        "eyJzIjoibGFzdF9uYW1lIn0",
        "not-base64!",
        &"A".repeat(5000),
    ] {
        let res = app
            .api(
                &key,
                "GET",
                &format!("/api/v1/contacts?cursor={cursor}"),
                None,
            )
            .await;
        assert_eq!(res.status, 400, "{cursor}");
        assert_eq!(res.error_fields(), ["cursor"]);
    }
    let limit = app
        .api(
            &key,
            "GET",
            "/api/v1/contacts?limit=99999999999999999999",
            None,
        )
        .await;
    assert_eq!(limit.error_fields(), ["limit"]);
    let header = app
        .api_with(
            &key,
            "PATCH",
            "/api/v1/contacts/00000000-0000-0000-0000-000000000000",
            &[("if-match", "\"1\"")],
            Some(json!({})),
        )
        .await;
    assert_eq!(header.status, 404);
    app.finish().await;
}

async fn slow_clients_time_out(backend: Backend) {
    let config = WebConfig {
        body_timeout: Duration::from_millis(300),
        ..WebConfig::default()
    };
    let app = TestApp::with_config(backend, config).await;
    let (_, key) = app.tenant_with_key("acme", &[Scope::Write]).await;
    // A client that sends half a body and then nothing.
    let stalled = futures_stall(b"{\"last_name\": ".to_vec());
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/contacts")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(stalled)
        .unwrap();
    let started = std::time::Instant::now();
    let res = tower::ServiceExt::oneshot(app.router.clone(), req)
        .await
        .unwrap();
    assert_eq!(res.status(), 408);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the server gave up on the slow client"
    );
    let list = app.api(&key, "GET", "/api/v1/contacts", None).await;
    assert_eq!(list.status, 200, "the server still answers");
    assert_eq!(
        list.json["data"],
        json!([]),
        "the half-sent contact was not created"
    );
    app.finish().await;
}

/// A write that outlives the time limit gets its 503, and still finishes whole: the contact
/// and its audit event, not a transaction dropped halfway (whose connection a later request
/// could have committed).
async fn writes_past_the_time_limit_finish_whole(backend: Backend) {
    let config = WebConfig {
        request_timeout: Duration::from_millis(1),
        ..WebConfig::default()
    };
    let app = TestApp::with_config(backend, config).await;
    let (tenant, key) = app.tenant_with_key("acme", &[Scope::Write]).await;
    // The write waits, past its time limit, for what the test holds: SQLite's one writer
    // connection; on PostgreSQL the tenant's row, which the new contact's foreign key must
    // share. (A 1 ms limit alone was not always shorter than the write.)
    let writer = match backend {
        Backend::Sqlite => Some(app.db.db.tenant_write(tenant.id).await.unwrap()),
        Backend::Postgres => None,
    };
    let tenant_row = match &app.db.owner {
        carnet_store::DbLocation::Url(url) if backend == Backend::Postgres => {
            use sqlx::{Connection, Executor};
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            c.execute("BEGIN").await.unwrap();
            sqlx::query("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE")
                .bind(tenant.id.0)
                .execute(&mut c)
                .await
                .unwrap();
            Some(c)
        }
        _ => None,
    };
    let res = app
        .api(
            &key,
            "POST",
            "/api/v1/contacts",
            Some(json!({"last_name": "Tardif", "emails": [{"value": "t@x.fr"}]})),
        )
        .await;
    drop(writer);
    if let Some(mut c) = tenant_row {
        use sqlx::Executor;
        c.execute("COMMIT").await.unwrap();
    }
    assert_eq!(res.status, 503, "{:?}", res.json);
    assert!(
        res.json["detail"]
            .as_str()
            .unwrap()
            .contains("may still be made"),
        "{:?}",
        res.json
    );
    let started = std::time::Instant::now();
    loop {
        let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
        let contacts = carnet_store::contacts::count(&mut tx).await.unwrap();
        let events = carnet_store::audit::recent(&mut tx, 10).await.unwrap();
        drop(tx);
        if contacts == 1 {
            assert_eq!(events.len(), 1, "the contact came with its audit event");
            break;
        }
        assert_eq!(contacts, 0);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the write never finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.finish().await;
}

/// A request body that yields `first` and then never ends: a client that stopped sending.
fn futures_stall(first: Vec<u8>) -> Body {
    Body::new(StalledBody(Some(axum::body::Bytes::from(first))))
}

struct StalledBody(Option<axum::body::Bytes>);

impl http_body::Body for StalledBody {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        match self.0.take() {
            Some(bytes) => std::task::Poll::Ready(Some(Ok(http_body::Frame::data(bytes)))),
            None => std::task::Poll::Pending,
        }
    }
}

async fn hostile_activities_and_calendars(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let base = json!({"kind": "call", "subject": "A", "starts_at": "2026-12-01T09:00:00Z"});
    let with = |field: &str, value: serde_json::Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    for (what, body, field) in [
        (
            "NUL in subject",
            with("subject", json!("a\u{0}b")),
            "subject",
        ),
        (
            "1 MB subject",
            with("subject", json!("x".repeat(1_000_000))),
            "subject",
        ),
        (
            "number as subject",
            with("subject", json!(1e308)),
            "subject",
        ),
        (
            "huge year",
            with("starts_at", json!("99999-01-01T00:00:00Z")),
            "starts_at",
        ),
        (
            "negative year",
            with("starts_at", json!("-0001-01-01T00:00:00Z")),
            "starts_at",
        ),
        (
            "no offset",
            with("starts_at", json!("2026-12-01T09:00:00")),
            "starts_at",
        ),
        (
            "SQL in kind",
            with("kind", json!("call' OR 1=1 --")),
            "kind",
        ),
        ("array as done", with("done", json!([true])), "done"),
        (
            "bogus contact",
            with("contact_id", json!("../../etc/passwd")),
            "contact_id",
        ),
    ] {
        let res = app
            .api(&key, "POST", "/api/v1/activities", Some(body))
            .await;
        assert_4xx(&res, what);
        assert!(
            res.error_fields().contains(&field.to_owned()),
            "{what}: {}",
            res.text
        );
    }
    // Text from anywhere round-trips byte for byte, and stays text in iCalendar.
    let subject =
        "\u{202E}reganam\u{202C} 🦀 שָׁלוֹם <script>alert(1)</script>; DROP TABLE activities;";
    let description = "محمد 👩🏽‍💼\n\tligne 2 \\ , ; :";
    let created = app
        .api(&key, "POST", "/api/v1/activities", Some(json!({
            "kind": "meeting", "subject": subject, "description": description, "starts_at": "2026-12-01T09:00:00Z"
        })))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        (
            created.json["subject"].as_str(),
            created.json["description"].as_str()
        ),
        (Some(subject), Some(description))
    );
    let ics = app
        .api(&key, "GET", "/api/v1/activities/export", None)
        .await;
    let entries = carnet_formats::ical::read_calendar(ics.text.as_bytes()).unwrap();
    assert_eq!(entries[0].fields["subject"], subject);
    assert_eq!(entries[0].fields["description"], description);
    // Hostile calendars: refused whole with a 422 naming the file, or event by event.
    let import = |body: Vec<u8>| {
        let app = &app;
        let key = key.clone();
        async move {
            app.send(
                "POST",
                "/api/v1/activities/import",
                &[
                    ("authorization", &format!("Bearer {key}")),
                    ("content-type", "text/calendar"),
                ],
                Some(body),
            )
            .await
        }
    };
    let deep = format!("BEGIN:VCALENDAR\r\n{}", "BEGIN:X\r\n".repeat(10_000));
    for (what, body) in [
        (
            "invalid UTF-8",
            b"BEGIN:VCALENDAR\r\nSUMMARY:\xff\xfe\r\nEND:VCALENDAR\r\n".to_vec(),
        ),
        ("deep nesting", deep.into_bytes()),
        ("NUL bytes", b"\0\0\0".to_vec()),
        ("a zip", b"PK\x03\x04garbage".to_vec()),
    ] {
        let res = import(body).await;
        assert_eq!(res.status, 422, "{what}: {}", res.text);
        assert_4xx(&res, what);
        assert_eq!(res.error_fields(), ["file"], "{what}");
    }
    let long_uid = format!(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:{}\r\nDTSTART:20261201T090000Z\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        "u".repeat(300)
    );
    let res = import(long_uid.into_bytes()).await;
    assert_eq!(res.json["rejected"][0]["field"], "UID", "{}", res.text);
    // A UID with a line break in it (escaped) would make the workspace's archive unreadable.
    let broken_uid = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\\nb\r\nDTSTART:20261201T090000Z\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let res = import(broken_uid.as_bytes().to_vec()).await;
    assert_eq!(res.json["rejected"][0]["field"], "UID", "{}", res.text);
    assert_eq!(res.json["created"], 0);
    let too_big = import(vec![b'x'; CALENDAR_LIMIT + 1]).await;
    assert_eq!(too_big.status, 413);
    assert_4xx(&too_big, "oversize calendar");
    let healthy = app.send("GET", "/healthz", &[], None).await;
    assert_eq!(healthy.status, 200);
    app.finish().await;
}

/// The largest calendar the import takes (16 MiB).
const CALENDAR_LIMIT: usize = 16 * 1024 * 1024;
