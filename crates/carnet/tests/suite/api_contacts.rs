//! The contacts API contract: create, read, merge-patch, trash, restore, list, idempotency.

use carnet_core::Scope;
use carnet_store::{TenantTx, Tx};
use carnet_testkit::{Backend, TestApp, on_both_backends};
use serde_json::{Value, json};
use uuid::Uuid;

on_both_backends!(
    lifecycle,
    list_sort_filter_search,
    keyset_pages_cover_everything_once,
    idempotency_keys,
    audit_trail,
    simultaneous_changes_all_apply,
    edits_rewrite_only_the_index_rows_they_change
);

async fn lifecycle(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let created = app
        .api(
            &key,
            "POST",
            "/api/v1/contacts",
            Some(json!({
                "first_name": "Éloïse", "last_name": "Lefèvre", "job_title": "Gérante",
                "emails": [{"label": "work", "value": "eloise@exemple.fr"}],
                "phones": [{"label": "mobile", "value": "+33 6 12 34 56 78"}],
                "tags": ["VIP"], "custom": {"siren": "123"}
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/contacts/{id}").as_str())
    );
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.json["version"], 1);
    assert_eq!(created.json["emails"][0]["value"], "eloise@exemple.fr");
    assert!(created.header("x-request-id").is_some());

    let got = app
        .api(&key, "GET", &format!("/api/v1/contacts/{id}"), None)
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("etag"), Some("\"1\""));
    assert_eq!(got.json, created.json);

    // Merge patch: null clears, other members are kept, If-Match must be current.
    let patch = json!({"job_title": null, "first_name": "Eloise", "custom": {"siren": null, "naf": "6920Z"}});
    let patched = app
        .send(
            "PATCH",
            &format!("/api/v1/contacts/{id}"),
            &[
                ("authorization", &format!("Bearer {key}")),
                ("content-type", "application/merge-patch+json"),
                ("if-match", "\"1\""),
            ],
            Some(patch.to_string().into_bytes()),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.header("etag"), Some("\"2\""));
    assert_eq!(patched.json["job_title"], Value::Null);
    assert_eq!(patched.json["first_name"], "Eloise");
    assert_eq!(patched.json["last_name"], "Lefèvre");
    assert_eq!(patched.json["custom"], json!({"naf": "6920Z"}));
    assert_eq!(patched.json["tags"], json!(["VIP"]));

    let stale = app
        .api_with(
            &key,
            "PATCH",
            &format!("/api/v1/contacts/{id}"),
            &[("if-match", "\"1\"")],
            Some(json!({"last_name": "X"})),
        )
        .await;
    assert_eq!(stale.status, 412, "{}", stale.text);
    assert_eq!(
        stale.header("content-type"),
        Some("application/problem+json")
    );
    let unchanged = app
        .api(&key, "GET", &format!("/api/v1/contacts/{id}"), None)
        .await;
    assert_eq!(unchanged.json["last_name"], "Lefèvre");

    // Delete moves to the trash; the contact is still readable, no longer listed.
    let stale_delete = app
        .api_with(
            &key,
            "DELETE",
            &format!("/api/v1/contacts/{id}"),
            &[("if-match", "\"1\"")],
            None,
        )
        .await;
    assert_eq!(stale_delete.status, 412);
    let deleted = app
        .api(&key, "DELETE", &format!("/api/v1/contacts/{id}"), None)
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    // In the trash, the contact is gone from the live records: only the trash list and
    // restore reach it.
    let trashed = app
        .api(&key, "GET", &format!("/api/v1/contacts/{id}"), None)
        .await;
    assert_eq!(trashed.status, 404);
    let again = app
        .api(&key, "DELETE", &format!("/api/v1/contacts/{id}"), None)
        .await;
    assert_eq!(again.status, 404);
    let listed = app.api(&key, "GET", "/api/v1/contacts", None).await;
    assert_eq!(listed.json["data"].as_array().unwrap().len(), 0);
    let trash = app
        .api(
            &key,
            "GET",
            "/api/v1/contacts?filter%5Btrashed%5D=true",
            None,
        )
        .await;
    assert_eq!(trash.json["data"][0]["id"], id.as_str());
    assert!(trash.json["data"][0]["deleted_at"].is_string());
    let patch_trashed = app
        .api(
            &key,
            "PATCH",
            &format!("/api/v1/contacts/{id}"),
            Some(json!({"last_name": "Y"})),
        )
        .await;
    assert_eq!(patch_trashed.status, 404);
    let bad_patch = app
        .api(
            &key,
            "PATCH",
            &format!("/api/v1/contacts/{id}"),
            Some(json!({"last_name": 5})),
        )
        .await;
    assert_eq!(
        bad_patch.status, 422,
        "a malformed patch is refused before anything else"
    );
    let empty_if_match = app
        .api_with(
            &key,
            "PATCH",
            &format!("/api/v1/contacts/{id}"),
            &[("if-match", " ")],
            Some(json!({"last_name": "Y"})),
        )
        .await;
    assert_eq!(empty_if_match.status, 400);
    assert_eq!(empty_if_match.error_fields(), ["If-Match"]);

    let restored = app
        .api(
            &key,
            "POST",
            &format!("/api/v1/contacts/{id}/restore"),
            None,
        )
        .await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    assert_eq!(restored.json["deleted_at"], Value::Null);
    let listed = app.api(&key, "GET", "/api/v1/contacts", None).await;
    assert_eq!(listed.json["data"][0]["id"], id.as_str());

    let missing = app
        .api(
            &key,
            "GET",
            &format!("/api/v1/contacts/{}", uuid::Uuid::now_v7()),
            None,
        )
        .await;
    assert_eq!(missing.status, 404);
    let malformed = app
        .api(&key, "GET", "/api/v1/contacts/not-a-uuid", None)
        .await;
    assert_eq!(malformed.status, 404);
    app.finish().await;
}

async fn create(app: &TestApp, key: &str, body: Value) -> String {
    let res = app.api(key, "POST", "/api/v1/contacts", Some(body)).await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.json["id"].as_str().unwrap().to_owned()
}

fn names(res: &carnet_testkit::TestResponse) -> Vec<String> {
    res.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["last_name"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn list_sort_filter_search(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let company = uuid::Uuid::now_v7().to_string();
    create(&app, &key, json!({"first_name": "Éloïse", "last_name": "Lefèvre", "tags": ["VIP"], "emails": [{"value": "Eloise@Exemple.fr"}]})).await;
    create(&app, &key, json!({"first_name": "Zoé", "last_name": "Martin", "phones": [{"value": "+33 6 11 22 33 44"}], "company_id": company})).await;
    create(
        &app,
        &key,
        json!({"first_name": "Arthur", "last_name": "Ébène", "tags": ["vip", "Client"]}),
    )
    .await;
    create(&app, &key, json!({"first_name": "Oliver", "last_name": "Smith", "emails": [{"value": "oliver@northwind.co.uk"}]})).await;

    let by_last = app
        .api(&key, "GET", "/api/v1/contacts?sort=last_name", None)
        .await;
    assert_eq!(
        names(&by_last),
        ["Ébène", "Lefèvre", "Martin", "Smith"],
        "accents sort as their base letter"
    );
    let desc = app
        .api(&key, "GET", "/api/v1/contacts?sort=-last_name", None)
        .await;
    assert_eq!(names(&desc), ["Smith", "Martin", "Lefèvre", "Ébène"]);
    let by_first = app
        .api(&key, "GET", "/api/v1/contacts?sort=first_name", None)
        .await;
    assert_eq!(names(&by_first), ["Ébène", "Lefèvre", "Smith", "Martin"]);

    let vip = app
        .api(
            &key,
            "GET",
            "/api/v1/contacts?filter%5Btag%5D=VIP&sort=last_name",
            None,
        )
        .await;
    assert_eq!(names(&vip), ["Ébène", "Lefèvre"]);
    let by_email = app
        .api(
            &key,
            "GET",
            "/api/v1/contacts?filter%5Bemail%5D=eloise%40exemple.FR",
            None,
        )
        .await;
    assert_eq!(names(&by_email), ["Lefèvre"]);
    let by_company = app
        .api(
            &key,
            "GET",
            &format!("/api/v1/contacts?filter%5Bcompany_id%5D={company}"),
            None,
        )
        .await;
    assert_eq!(names(&by_company), ["Martin"]);

    for (q, expected) in [
        ("eloise", vec!["Lefèvre"]),
        ("ELOÏSE lefevre", vec!["Lefèvre"]),
        ("ebene", vec!["Ébène"]),
        ("northwind", vec!["Smith"]),
        ("0611223344", vec![]),
        ("611223344", vec!["Martin"]),
        ("+33 6 11", vec!["Martin"]),
        ("100%", vec![]),
        ("zzz", vec![]),
    ] {
        let res = app
            .api(
                &key,
                "GET",
                &format!("/api/v1/contacts?q={}", urlencode(q)),
                None,
            )
            .await;
        assert_eq!(res.status, 200, "{q}: {}", res.text);
        assert_eq!(names(&res), expected, "q={q}");
    }

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=abc", "limit"),
        ("sort=password_hash", "sort"),
        ("cursor=AAAA", "cursor"),
        ("filter%5Bcompany_id%5D=nope", "filter[company_id]"),
        ("filter%5Bcolor%5D=red", "filter[color]"),
    ] {
        let res = app
            .api(&key, "GET", &format!("/api/v1/contacts?{query}"), None)
            .await;
        assert_eq!(res.status, 400, "{query}");
        assert_eq!(res.header("content-type"), Some("application/problem+json"));
        assert_eq!(res.error_fields(), [field], "{query}");
    }
    app.finish().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn keyset_pages_cover_everything_once(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (tenant, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    app.carnet
        .seed_contacts(&carnet_service::TenantContext::system(tenant.id), 57)
        .await
        .unwrap();
    for sort in [
        "last_name",
        "-last_name",
        "first_name",
        "created_at",
        "-created_at",
        "updated_at",
        "-updated_at",
    ] {
        let mut seen: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/contacts?limit=10&sort={sort}&cursor={c}"),
                None => format!("/api/v1/contacts?limit=10&sort={sort}"),
            };
            let res = app.api(&key, "GET", &path, None).await;
            assert_eq!(res.status, 200, "{sort}: {}", res.text);
            for c in res.json["data"].as_array().unwrap() {
                seen.push(c["id"].as_str().unwrap().to_owned());
            }
            pages += 1;
            match res.json["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 6, "{sort}");
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            (seen.len(), unique.len()),
            (57, 57),
            "{sort}: every contact exactly once"
        );
        if sort == "created_at" {
            let mut sorted = seen.clone();
            sorted.sort();
            assert_eq!(
                seen, sorted,
                "ids are UUIDv7, so creation order is id order"
            );
        }
    }
    // A cursor from one sort cannot continue another.
    let first = app
        .api(
            &key,
            "GET",
            "/api/v1/contacts?limit=10&sort=last_name",
            None,
        )
        .await;
    let cursor = first.json["next_cursor"].as_str().unwrap();
    let mixed = app
        .api(
            &key,
            "GET",
            &format!("/api/v1/contacts?limit=10&sort=first_name&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(mixed.status, 400);
    assert_eq!(mixed.error_fields(), ["cursor"]);
    app.finish().await;
}

async fn idempotency_keys(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app.tenant_with_key("acme", &[Scope::Write]).await;
    let body = json!({"last_name": "Durand"});
    let first = app
        .api_with(
            &key,
            "POST",
            "/api/v1/contacts",
            &[("idempotency-key", "k-1")],
            Some(body.clone()),
        )
        .await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = app
        .api_with(
            &key,
            "POST",
            "/api/v1/contacts",
            &[("idempotency-key", "k-1")],
            Some(body),
        )
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json, first.json);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("etag"), first.header("etag"));
    let list = app.api(&key, "GET", "/api/v1/contacts", None).await;
    assert_eq!(
        list.json["data"].as_array().unwrap().len(),
        1,
        "the repeat created nothing"
    );
    let other = app
        .api_with(
            &key,
            "POST",
            "/api/v1/contacts",
            &[("idempotency-key", "k-1")],
            Some(json!({"last_name": "Autre"})),
        )
        .await;
    assert_eq!(other.status, 422);
    assert_eq!(other.error_fields(), ["Idempotency-Key"]);
    let too_long = "x".repeat(256);
    let bad = app
        .api_with(
            &key,
            "POST",
            "/api/v1/contacts",
            &[("idempotency-key", &too_long)],
            Some(json!({"last_name": "A"})),
        )
        .await;
    assert_eq!(bad.status, 400);
    app.finish().await;
}

async fn audit_trail(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (tenant, key) = app.tenant_with_key("acme", &[Scope::Write]).await;
    let id = create(&app, &key, json!({"last_name": "Durand"})).await;
    app.api(
        &key,
        "PATCH",
        &format!("/api/v1/contacts/{id}"),
        Some(json!({"first_name": "Léa"})),
    )
    .await;
    app.api(
        &key,
        "PATCH",
        &format!("/api/v1/contacts/{id}"),
        Some(json!({"first_name": "Léa"})),
    )
    .await;
    app.api(&key, "DELETE", &format!("/api/v1/contacts/{id}"), None)
        .await;
    app.api(
        &key,
        "POST",
        &format!("/api/v1/contacts/{id}/restore"),
        None,
    )
    .await;
    let ctx = carnet_service::TenantContext::system(tenant.id);
    let events = app
        .carnet
        .contact_history(&ctx, id.parse().unwrap())
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["restore", "delete", "update", "create"],
        "a no-op patch records nothing"
    );
    assert_eq!(events[2].changes, ["first_name"]);
    // The creation's event, written by the statement that stores the contact.
    assert_eq!(events[3].changes, ["last_name"]);
    assert_eq!(events[3].entity_id.map(|e| e.to_string()), Some(id.clone()));
    assert!(
        events
            .iter()
            .all(|e| e.actor_kind == "api_key" && e.actor_id.is_some() && e.request_id.is_some())
    );
    app.finish().await;
}

/// Changes sent at the same time without `If-Match` all apply, one after the other: none is
/// refused because another replaced the version it read (PostgreSQL answered 412 to a third
/// of them under load before the row was locked when read for a change).
async fn simultaneous_changes_all_apply(backend: Backend) {
    let app = TestApp::new(backend).await;
    let tenant = app.carnet.create_tenant("acme", "Acme").await.unwrap();
    let ctx = carnet_service::TenantContext::system(tenant.id);
    let id = app.add_contacts(&tenant, "Durand", 1).await[0];
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (carnet, ctx) = (app.carnet.clone(), ctx.clone());
        tasks.spawn(async move {
            let patch = json!({"job_title": format!("Title {i}")});
            carnet.patch_contact(&ctx, id, &patch, None).await
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    let contact = app.carnet.get_contact(&ctx, id, false).await.unwrap();
    assert_eq!(
        contact.version, 17,
        "sixteen changes after the first version"
    );
    let history = app.carnet.contact_history(&ctx, id).await.unwrap();
    assert_eq!(history.iter().filter(|e| e.action == "update").count(), 16);
    app.finish().await;
}

/// Runs `sql` with the tenant and contact ids as `$1` and `$2`; returns the first column of
/// each row, as text.
async fn keys_sql(tx: &mut TenantTx, sql: &str, contact: Uuid) -> Vec<String> {
    let tenant = tx.tenant().0;
    match tx.control() {
        Tx::Sqlite(c) => sqlx::query_scalar(sql)
            .bind(tenant)
            .bind(contact)
            .fetch_all(&mut **c)
            .await
            .unwrap(),
        Tx::Postgres(c) => sqlx::query_scalar(sql)
            .bind(tenant)
            .bind(contact)
            .fetch_all(&mut **c)
            .await
            .unwrap(),
    }
}

/// A change that leaves a contact's e-mails and tags alone leaves their index rows alone (two
/// deletes and two inserts saved per edit); a change of either rewrites that one's rows, and
/// the exact filters follow. Rows planted beside the real ones show which were rewritten.
async fn edits_rewrite_only_the_index_rows_they_change(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (tenant, key) = app.tenant_with_key("acme", &[Scope::Write]).await;
    let id = create(
        &app,
        &key,
        json!({"last_name": "Durand", "emails": [{"value": "a@x.fr"}], "tags": ["VIP"]}),
    )
    .await;
    let contact: Uuid = id.parse().unwrap();
    let mut tx = app.db.db.tenant_write(tenant.id).await.unwrap();
    keys_sql(
        &mut tx,
        "INSERT INTO contact_tags (tenant_id, contact_id, tag_key) VALUES ($1, $2, 'planted') \
         RETURNING tag_key",
        contact,
    )
    .await;
    keys_sql(
        &mut tx,
        "INSERT INTO contact_emails (tenant_id, contact_id, email_key) \
         VALUES ($1, $2, 'planted@x.fr') RETURNING email_key",
        contact,
    )
    .await;
    tx.commit().await.unwrap();
    let keys = || async {
        let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
        let sql = |table: &str, column: &str| {
            format!(
                "SELECT {column} FROM {table} WHERE tenant_id = $1 AND contact_id = $2 \
                 ORDER BY {column}"
            )
        };
        let emails = keys_sql(&mut tx, &sql("contact_emails", "email_key"), contact).await;
        let tags = keys_sql(&mut tx, &sql("contact_tags", "tag_key"), contact).await;
        (emails, tags)
    };
    let patch = |body: Value| {
        let (app, key, id) = (&app, &key, &id);
        async move {
            let res = app
                .api_with(
                    key,
                    "PATCH",
                    &format!("/api/v1/contacts/{id}"),
                    &[("content-type", "application/merge-patch+json")],
                    Some(body),
                )
                .await;
            assert_eq!(res.status, 200, "{}", res.text);
        }
    };

    patch(json!({"job_title": "Gérante", "first_name": "Léa"})).await;
    assert_eq!(
        keys().await,
        (
            vec!["a@x.fr".to_owned(), "planted@x.fr".to_owned()],
            vec!["planted".to_owned(), "vip".to_owned()]
        ),
        "neither rewritten"
    );
    // The same address in other letters and a label: the same key, nothing to rewrite.
    patch(json!({"emails": [{"label": "work", "value": "A@x.fr"}]})).await;
    assert_eq!(keys().await.0, ["a@x.fr", "planted@x.fr"]);
    patch(json!({"tags": ["Client", "VIP"]})).await;
    assert_eq!(
        keys().await,
        (
            vec!["a@x.fr".to_owned(), "planted@x.fr".to_owned()],
            vec!["client".to_owned(), "vip".to_owned()]
        ),
        "tags rewritten, e-mails not"
    );
    patch(json!({"emails": [{"value": "b@x.fr"}]})).await;
    assert_eq!(keys().await.0, ["b@x.fr"], "e-mails rewritten");

    let found = |query: &'static str| {
        let (app, key) = (&app, &key);
        async move {
            let res = app
                .api(key, "GET", &format!("/api/v1/contacts?{query}"), None)
                .await;
            assert_eq!(res.status, 200, "{}", res.text);
            res.json["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(found("filter%5Btag%5D=client").await, vec![id.as_str()]);
    assert_eq!(found("filter%5Btag%5D=VIP").await, vec![id.as_str()]);
    assert_eq!(found("filter%5Bemail%5D=B%40x.fr").await, vec![id.as_str()]);
    assert!(found("filter%5Bemail%5D=a%40x.fr").await.is_empty());
    app.finish().await;
}
