//! Tenant B can neither read, change, delete, restore, list nor search tenant A's contacts.

use carnet_core::Scope;
use carnet_testkit::{Backend, TestApp, on_both_backends};
use serde_json::json;

on_both_backends!(tenants_cannot_reach_each_other);

async fn tenants_cannot_reach_each_other(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, a) = app
        .tenant_with_key("tenant-a", &[Scope::Read, Scope::Write])
        .await;
    let (_, b) = app
        .tenant_with_key("tenant-b", &[Scope::Read, Scope::Write, Scope::Admin])
        .await;
    let created = app
        .api(&a, "POST", "/api/v1/contacts", Some(json!({"first_name": "Secret", "last_name": "Alpha", "emails": [{"value": "secret@a.fr"}], "tags": ["a-only"]})))
        .await;
    let id = created.json["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/contacts/{id}");

    assert_eq!(app.api(&b, "GET", &path, None).await.status, 404);
    assert_eq!(
        app.api(&b, "PATCH", &path, Some(json!({"last_name": "Stolen"})))
            .await
            .status,
        404
    );
    assert_eq!(app.api(&b, "DELETE", &path, None).await.status, 404);
    assert_eq!(
        app.api(&b, "POST", &format!("{path}/restore"), None)
            .await
            .status,
        404
    );
    for query in [
        "",
        "?q=secret",
        "?filter%5Bemail%5D=secret%40a.fr",
        "?filter%5Btag%5D=a-only",
        "?filter%5Btrashed%5D=true",
    ] {
        let res = app
            .api(&b, "GET", &format!("/api/v1/contacts{query}"), None)
            .await;
        assert_eq!(res.status, 200);
        assert_eq!(res.json["data"].as_array().unwrap().len(), 0, "{query}");
    }
    for format in ["json", "csv", "vcf"] {
        let res = app
            .api(
                &b,
                "GET",
                &format!("/api/v1/contacts/export?format={format}"),
                None,
            )
            .await;
        assert_eq!(res.status, 200);
        assert!(
            !res.text.contains("Secret") && !res.text.contains("secret@a.fr"),
            "{format} export of B"
        );
    }
    // B's own contact with the same e-mail does not reveal or touch A's.
    let own = app
        .api(
            &b,
            "POST",
            "/api/v1/contacts",
            Some(json!({"last_name": "Beta", "emails": [{"value": "secret@a.fr"}]})),
        )
        .await;
    assert_eq!(own.status, 201);
    let still = app.api(&a, "GET", &path, None).await;
    assert_eq!(still.json["last_name"], "Alpha");
    assert_eq!(still.json["version"], 1);
    assert!(still.json["deleted_at"].is_null());
    let a_list = app.api(&a, "GET", "/api/v1/contacts?q=secret", None).await;
    assert_eq!(a_list.json["data"].as_array().unwrap().len(), 1);
    app.finish().await;
}
