//! Exports: every format, every value, the list's filters, streamed over many pages, and
//! nothing of another workspace.

use carnet_core::Scope;
use carnet_service::TenantContext;
use carnet_testkit::{Backend, TestApp, TestResponse, on_both_backends};
use serde_json::{Value, json};
use std::io::Read;

on_both_backends!(
    every_format_holds_every_value,
    exports_follow_filters_and_stream_many_pages
);

async fn create(app: &TestApp, key: &str, body: Value) -> Value {
    let res = app.api(key, "POST", "/api/v1/contacts", Some(body)).await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.json
}

async fn export(app: &TestApp, key: &str, query: &str) -> TestResponse {
    app.api(
        key,
        "GET",
        &format!("/api/v1/contacts/export?{query}"),
        None,
    )
    .await
}

async fn every_format_holds_every_value(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let eloise = create(&app, &key, json!({
        "first_name": "Éloïse", "last_name": "Lefèvre, \"dite\" Lou", "job_title": "Gérante; associée",
        "emails": [{"label": "work", "value": "eloise@exemple.fr"}, {"label": "home", "value": "lou@maison.fr"}, {"label": "Cabinet", "value": "e@cab.fr"}],
        "phones": [{"label": "mobile", "value": "+33 6 12 34 56 78"}],
        "tags": ["VIP", "Client"], "custom": {"siren": "123456789", "ca": 1234.5}
    })).await;
    let li = create(&app, &key, json!({"first_name": "李", "last_name": "小龍", "phones": [{"value": "+86 10 1234 5678"}, {"label": "home", "value": "+86 21 0000"}]})).await;

    // JSON: exactly what the API shows.
    let json_export = export(&app, &key, "format=json").await;
    assert_eq!(json_export.status, 200, "{}", json_export.text);
    assert_eq!(json_export.header("content-type"), Some("application/json"));
    assert!(
        json_export
            .header("content-disposition")
            .unwrap()
            .starts_with("attachment; filename=\"contacts-acme-")
    );
    let listed = app.api(&key, "GET", "/api/v1/contacts", None).await;
    assert_eq!(json_export.json, listed.json["data"]);

    // CSV: one row each, every e-mail and phone in its own column, quoting intact.
    let csv_export = export(&app, &key, "format=csv").await;
    assert_eq!(
        csv_export.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    let mut reader = csv::Reader::from_reader(csv_export.text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let cell = |row: &csv::StringRecord, name: &str| {
        row.get(headers.iter().position(|h| h == name).unwrap())
            .unwrap()
            .to_owned()
    };
    let first = rows
        .iter()
        .find(|r| cell(r, "id") == eloise["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(cell(first, "last_name"), "Lefèvre, \"dite\" Lou");
    assert_eq!(cell(first, "job_title"), "Gérante; associée");
    assert_eq!(cell(first, "email_3"), "e@cab.fr");
    assert_eq!(cell(first, "email_3_label"), "Cabinet");
    assert_eq!(cell(first, "tags"), "VIP, Client");
    assert_eq!(
        serde_json::from_str::<Value>(&cell(first, "custom")).unwrap(),
        eloise["custom"]
    );
    let second = rows
        .iter()
        .find(|r| cell(r, "id") == li["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(cell(second, "phone_2"), "+86 21 0000");
    assert_eq!(cell(second, "email_1"), "");

    // Excel (France): semicolons and a BOM.
    let fr = export(&app, &key, "format=excel-fr").await;
    assert!(fr.text.starts_with('\u{feff}'));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(fr.text.trim_start_matches('\u{feff}').as_bytes());
    assert_eq!(reader.records().count(), 2);

    // vCard 4.0 and 3.0.
    let vcf = export(&app, &key, "format=vcf").await;
    assert_eq!(vcf.text.matches("BEGIN:VCARD\r\nVERSION:4.0").count(), 2);
    assert!(vcf.text.contains("N:小龍;李;;;"));
    assert!(vcf.text.contains("EMAIL;TYPE=home:lou@maison.fr"));
    let vcf3 = export(&app, &key, "format=vcf3").await;
    assert_eq!(vcf3.text.matches("VERSION:3.0").count(), 2);

    // XLSX: a real workbook with a row per contact.
    let auth = format!("Bearer {key}");
    let xlsx = app
        .send(
            "GET",
            "/api/v1/contacts/export?format=xlsx",
            &[("authorization", &auth)],
            None,
        )
        .await;
    assert_eq!(xlsx.status, 200);
    let bytes = xlsx_bytes(&app, &key).await;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut sheet = String::new();
    archive
        .by_name("xl/worksheets/sheet1.xml")
        .unwrap()
        .read_to_string(&mut sheet)
        .unwrap();
    assert_eq!(
        sheet.matches("<row ").count(),
        3,
        "a header and two contacts"
    );
    assert!(sheet.contains("Lefèvre, &quot;dite&quot; Lou") && sheet.contains("小龍"));

    // Bad requests are problems; the export is in the audit log.
    let bad = export(&app, &key, "format=pdf").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error_fields(), ["format"]);
    let paged = export(&app, &key, "format=csv&limit=10").await;
    assert_eq!(paged.error_fields(), ["limit"]);
    app.finish().await;
}

/// The raw bytes of an XLSX export (the test client decodes text lossily).
async fn xlsx_bytes(app: &TestApp, key: &str) -> Vec<u8> {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::builder()
        .uri("/api/v1/contacts/export?format=xlsx")
        .header("authorization", format!("Bearer {key}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    res.into_body().collect().await.unwrap().to_bytes().to_vec()
}

async fn exports_follow_filters_and_stream_many_pages(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (tenant, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let (_, other_key) = app
        .tenant_with_key("other", &[Scope::Read, Scope::Write])
        .await;
    app.carnet
        .seed_contacts(&TenantContext::system(tenant.id), 1234)
        .await
        .unwrap();
    create(
        &app,
        &other_key,
        json!({"last_name": "Secret", "emails": [{"value": "secret@other.fr"}]}),
    )
    .await;

    let all = export(&app, &key, "format=json&sort=-last_name").await;
    let exported = all.json.as_array().unwrap();
    assert_eq!(exported.len(), 1234, "every contact, across three pages");
    let mut ids: Vec<&str> = exported.iter().map(|c| c["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1234, "none twice");
    assert!(!all.text.contains("Secret"), "nothing of another workspace");

    let vip = export(&app, &key, "format=json&filter%5Btag%5D=vip").await;
    let listed = app
        .api(
            &key,
            "GET",
            "/api/v1/contacts?filter%5Btag%5D=vip&limit=200",
            None,
        )
        .await;
    let vip_count = vip.json.as_array().unwrap().len();
    assert!(vip_count > 0 && vip_count < 1234);
    assert!(vip.json.as_array().unwrap().iter().all(|c| {
        c["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().unwrap().eq_ignore_ascii_case("vip"))
    }));
    assert_eq!(
        vip_count.min(200),
        listed.json["data"].as_array().unwrap().len()
    );

    let other = export(&app, &other_key, "format=csv").await;
    assert_eq!(
        other.text.lines().count(),
        2,
        "the other workspace exports only its own contact"
    );
    let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
    let events = carnet_store::audit::recent(&mut tx, 10).await.unwrap();
    drop(tx);
    let exports: Vec<_> = events.iter().filter(|e| e.action == "export").collect();
    assert_eq!(exports.len(), 2, "each export is in the audit log");
    assert_eq!(exports[0].changes, ["json"]);
    assert_eq!(exports[0].actor_kind, "api_key");
    app.finish().await;
}
