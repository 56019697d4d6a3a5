//! `/api/v1/imports`: upload a file, follow the job, page through its refused rows; and
//! every way an upload can be wrong.

use carnet_core::Scope;
use carnet_testkit::{Backend, TestApp, on_both_backends};
use serde_json::Value;

on_both_backends!(upload_run_and_report, uploads_that_are_refused);

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/contacts");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

/// Runs the waiting jobs, as the server's worker does.
async fn run_jobs(app: &TestApp) {
    while app
        .carnet
        .run_next_job("test-worker")
        .await
        .unwrap()
        .is_some()
    {}
}

async fn upload_run_and_report(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let (_, other) = app
        .tenant_with_key("other", &[Scope::Read, Scope::Write])
        .await;
    let file = fixture("excel-fr-windows-1252.csv");

    // A dry run counts and refuses like the real one, and writes nothing.
    let dry = app
        .upload(
            &key,
            "/api/v1/imports",
            "export.csv",
            &file,
            &[("dry_run", "true")],
        )
        .await;
    assert_eq!(dry.status, 202, "{}", dry.text);
    run_jobs(&app).await;
    let dry = app
        .api(&key, "GET", dry.header("location").unwrap(), None)
        .await;
    assert_eq!(
        (
            dry.json["status"].as_str(),
            dry.json["created"].as_i64(),
            dry.json["rejected"].as_i64()
        ),
        (Some("succeeded"), Some(3), Some(1)),
        "{}",
        dry.text
    );
    assert_eq!(dry.json["rejections"][0]["row"], 4);
    let none = app.api(&key, "GET", "/api/v1/contacts", None).await;
    assert_eq!(
        none.json["data"].as_array().unwrap().len(),
        0,
        "dry: nothing written"
    );

    let res = app
        .upload(
            &key,
            "/api/v1/imports",
            "C:\\Users\\me\\export.csv",
            &file,
            &[("mode", "upsert")],
        )
        .await;
    assert_eq!(res.status, 202, "{}", res.text);
    let location = res.header("location").unwrap().to_owned();
    assert_eq!(
        location,
        format!("/api/v1/imports/{}", res.json["id"].as_str().unwrap())
    );
    assert_eq!(res.json["status"], "queued");
    assert_eq!(
        res.json["file_name"], "export.csv",
        "no directory part is kept"
    );
    assert_eq!(res.json["format"], "csv");
    assert_eq!(res.json["file_size"], file.len() as i64);

    run_jobs(&app).await;
    let job = app.api(&key, "GET", &location, None).await;
    assert_eq!(job.status, 200);
    let j = &job.json;
    assert_eq!(j["status"], "succeeded", "{}", job.text);
    assert_eq!(
        [
            &j["rows"],
            &j["created"],
            &j["updated"],
            &j["unchanged"],
            &j["rejected"]
        ],
        [4, 3, 0, 0, 1].map(Value::from).each_ref()
    );
    assert_eq!(j["rejections"].as_array().unwrap().len(), 1);
    assert_eq!(j["rejections"][0]["row"], 4);
    assert_eq!(j["rejections"][0]["field"], "emails[0].value");
    assert_eq!(j["rejections_next_cursor"], Value::Null);
    assert!(j["finished_at"].is_string());
    let listed = app
        .api(&key, "GET", "/api/v1/contacts?q=eloise", None)
        .await;
    assert_eq!(
        listed.json["data"].as_array().unwrap().len(),
        1,
        "{}",
        listed.text
    );

    // A mapping names what detection cannot guess.
    let odd = "Col A;Col B;Col C\nMartin;m.martin@example.test;VIP\n";
    let mapped = app
        .upload(
            &key,
            "/api/v1/imports",
            "odd.csv",
            odd.as_bytes(),
            &[(
                "mapping",
                r#"{"Col A": "last_name", "Col B": "email", "Col C": "tags"}"#,
            )],
        )
        .await;
    assert_eq!(mapped.status, 202, "{}", mapped.text);
    run_jobs(&app).await;
    let found = app
        .api(
            &key,
            "GET",
            "/api/v1/contacts?filter[email]=m.martin@example.test",
            None,
        )
        .await;
    let martin = &found.json["data"][0];
    assert_eq!(martin["last_name"], "Martin", "{}", found.text);
    assert_eq!(martin["tags"], serde_json::json!(["VIP"]));

    // An Excel workbook, its second sheet chosen by name.
    let workbook = app
        .upload(
            &key,
            "/api/v1/imports",
            "classeur.xlsx",
            &fixture("workbook.xlsx"),
            &[("sheet", "Contacts")],
        )
        .await;
    assert_eq!(workbook.status, 202, "{}", workbook.text);
    assert_eq!(workbook.json["format"], "xlsx");
    run_jobs(&app).await;
    let done = app
        .api(&key, "GET", workbook.header("location").unwrap(), None)
        .await;
    // Éloïse came with the CSV file above: matched by her e-mail, updated.
    assert_eq!(
        (
            done.json["created"].as_i64(),
            done.json["updated"].as_i64(),
            done.json["rejected"].as_i64()
        ),
        (Some(2), Some(1), Some(1)),
        "{}",
        done.text
    );
    let unknown_sheet = app
        .upload(
            &key,
            "/api/v1/imports",
            "classeur.xlsx",
            &fixture("workbook.xlsx"),
            &[("sheet", "Nope")],
        )
        .await;
    assert_eq!(
        (unknown_sheet.status.as_u16(), unknown_sheet.error_fields()),
        (422, vec!["sheet".to_owned()])
    );

    // The list, newest first, without refused rows; another workspace's list is its own.
    let listed = app.api(&key, "GET", "/api/v1/imports?limit=2", None).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let data = listed.json["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["file_name"], "classeur.xlsx", "newest first");
    assert!(data[0].get("rejections").is_none());
    let theirs = app.api(&other, "GET", "/api/v1/imports", None).await;
    assert_eq!(theirs.json["data"].as_array().unwrap().len(), 0);
    let bad = app
        .api(&key, "GET", "/api/v1/imports?limit=500", None)
        .await;
    assert_eq!(bad.error_fields(), ["limit"]);

    // Another workspace does not see the job; a bogus id is not found either.
    assert_eq!(app.api(&other, "GET", &location, None).await.status, 404);
    assert_eq!(
        app.api(&other, "GET", &format!("{location}/rejections"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        app.api(&key, "GET", "/api/v1/imports/nope", None)
            .await
            .status,
        404
    );

    // Refused rows are paged with a cursor.
    let many: String = std::iter::once("Nom,Courriel\n".to_owned())
        .chain((0..5).map(|i| format!("N{i},bad{i}\n")))
        .collect();
    let res = app
        .upload(&key, "/api/v1/imports", "bad.csv", many.as_bytes(), &[])
        .await;
    run_jobs(&app).await;
    let base = format!("{}/rejections", res.header("location").unwrap());
    let first = app.api(&key, "GET", &format!("{base}?limit=2"), None).await;
    let rows: Vec<i64> = first.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["row"].as_i64().unwrap())
        .collect();
    assert_eq!(rows, [2, 3]);
    let cursor = first.json["next_cursor"].as_str().unwrap();
    let rest = app
        .api(
            &key,
            "GET",
            &format!("{base}?limit=10&cursor={cursor}"),
            None,
        )
        .await;
    let rows: Vec<i64> = rest.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["row"].as_i64().unwrap())
        .collect();
    assert_eq!(rows, [4, 5, 6]);
    assert_eq!(rest.json["next_cursor"], Value::Null);
    let bad = app
        .api(&key, "GET", &format!("{base}?cursor=-3"), None)
        .await;
    assert_eq!(
        (bad.status.as_u16(), bad.error_fields()),
        (400, vec!["cursor".to_owned()])
    );
    let bad = app.api(&key, "GET", &format!("{base}?limit=0"), None).await;
    assert_eq!(bad.error_fields(), ["limit"]);
    app.finish().await;
}

async fn uploads_that_are_refused(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let (_, reader) = app.tenant_with_key("ro", &[Scope::Read]).await;
    let csv = b"Nom,Courriel\nA,a@example.test\n";
    let refused = |res: carnet_testkit::TestResponse, status: u16, field: &str| {
        assert_eq!(res.status, status, "{}", res.text);
        assert_eq!(
            res.header("content-type"),
            Some("application/problem+json"),
            "{}",
            res.text
        );
        assert!(
            res.error_fields().iter().any(|f| f == field),
            "{field}: {}",
            res.text
        );
    };
    refused(
        app.upload(&key, "/api/v1/imports", "a.csv", csv, &[("mode", "merge")])
            .await,
        400,
        "mode",
    );
    refused(
        app.upload(&key, "/api/v1/imports", "a.csv", csv, &[("match", "phone")])
            .await,
        400,
        "match",
    );
    refused(
        app.upload(&key, "/api/v1/imports", "a.csv", csv, &[("format", "xls")])
            .await,
        400,
        "format",
    );
    refused(
        app.upload(
            &key,
            "/api/v1/imports",
            "a.csv",
            csv,
            &[("encoding", "klingon")],
        )
        .await,
        400,
        "encoding",
    );
    refused(
        app.upload(
            &key,
            "/api/v1/imports",
            "a.csv",
            csv,
            &[("delimiter", ";;")],
        )
        .await,
        400,
        "delimiter",
    );
    refused(
        app.upload(
            &key,
            "/api/v1/imports",
            "a.csv",
            csv,
            &[("entity", "deals")],
        )
        .await,
        400,
        "entity",
    );
    refused(
        app.upload(&key, "/api/v1/imports", "a.csv", csv, &[("colour", "blue")])
            .await,
        400,
        "colour",
    );
    refused(
        app.upload(
            &key,
            "/api/v1/imports",
            "a.csv",
            csv,
            &[("dry_run", "maybe")],
        )
        .await,
        400,
        "dry_run",
    );
    refused(
        app.upload(&key, "/api/v1/imports", "empty.csv", b"", &[])
            .await,
        422,
        "file",
    );
    refused(
        app.upload(
            &key,
            "/api/v1/imports",
            "a.csv",
            csv,
            &[("mode", "create"), ("mode", "upsert")],
        )
        .await,
        400,
        "mode",
    );
    for mapping in [r#"{"Col Z": "email"}"#, r#"{"Nom": "surname"}"#, "not json"] {
        refused(
            app.upload(
                &key,
                "/api/v1/imports",
                "a.csv",
                csv,
                &[("mapping", mapping)],
            )
            .await,
            422,
            "mapping",
        );
    }
    refused(
        app.upload(
            &key,
            "/api/v1/imports",
            "a.vcf",
            b"BEGIN:VCARD\r\nEND:VCARD\r\n",
            &[("mapping", r#"{"Nom": "last_name"}"#)],
        )
        .await,
        422,
        "mapping",
    );
    let (content_type, body) = carnet_testkit::multipart("x", b"", &[]);
    let no_file = String::from_utf8(body)
        .unwrap()
        .replace("name=\"file\"", "name=\"mode\"");
    let auth = format!("Bearer {key}");
    refused(
        app.send(
            "POST",
            "/api/v1/imports",
            &[("authorization", &auth), ("content-type", &content_type)],
            Some(no_file.into_bytes()),
        )
        .await,
        400,
        "file",
    );
    refused(
        app.api(
            &key,
            "POST",
            "/api/v1/imports",
            Some(serde_json::json!({"file": "x"})),
        )
        .await,
        415,
        "Content-Type",
    );
    let res = app
        .upload(&reader, "/api/v1/imports", "a.csv", csv, &[])
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
    // Nothing was queued by any of these.
    assert!(
        app.carnet
            .run_next_job("test-worker")
            .await
            .unwrap()
            .is_none()
    );
    app.finish().await;
}
