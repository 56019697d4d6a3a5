//! The OpenAPI document and the router agree: every documented operation is mounted, and
//! every API route answers as documented.

use carnet_core::Scope;
use carnet_testkit::{Backend, TestApp};
use std::collections::BTreeSet;

#[tokio::test]
async fn document_and_router_agree() {
    let app = TestApp::new(Backend::Sqlite).await;
    let (_, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let doc = app.api(&key, "GET", "/api/v1/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.json["openapi"], "3.1.0");
    assert_eq!(
        doc.json,
        carnet_web::openapi::document(),
        "served document is the generated one"
    );

    let mut documented = BTreeSet::new();
    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc.json["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.insert((method.to_uppercase(), path.clone()));
            assert!(
                operation_ids.insert(op["operationId"].as_str().unwrap().to_owned()),
                "duplicate operationId"
            );
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} documents responses"
            );
            let concrete = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
            let res = app.api(&key, &method.to_uppercase(), &concrete, None).await;
            assert_ne!(
                res.status, 405,
                "{method} {path} is documented but not mounted"
            );
            assert_ne!(
                res.json["type"], "/problems/no-route",
                "{method} {path} is documented but not mounted"
            );
            let status = res.status.as_u16().to_string();
            assert!(
                op["responses"].get(&status).is_some(),
                "{method} {path} answered {status}, which is not documented: {}",
                res.text
            );
        }
    }
    // Every mounted API route is documented: the router is built from the same table.
    let mounted: BTreeSet<(String, String)> = carnet_web::api::operations()
        .iter()
        .map(|op| (op.method.to_uppercase(), op.path.to_owned()))
        .collect();
    assert_eq!(mounted, documented);
    for (method, path) in [
        ("GET", "/api/v1/contacts"),
        ("POST", "/api/v1/contacts"),
        ("PATCH", "/api/v1/contacts/{id}"),
        ("DELETE", "/api/v1/contacts/{id}"),
        ("POST", "/api/v1/contacts/{id}/restore"),
    ] {
        assert!(
            documented.contains(&(method.to_owned(), path.to_owned())),
            "{method} {path}"
        );
    }
    // And an API path outside the table is not served.
    let extra = app.api(&key, "GET", "/api/v1/contacts/x/y", None).await;
    assert_eq!(extra.json["type"], "/problems/no-route");
    app.finish().await;
}
