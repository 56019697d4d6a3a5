//! The activities API: create, read, merge-patch, trash, restore, list by start time (a
//! contact's timeline), export as iCalendar or JSON, and iCalendar imports that update what
//! they imported before.

use carnet_core::Scope;
use carnet_testkit::{Backend, TestApp, on_both_backends};
use serde_json::{Value, json};

on_both_backends!(
    lifecycle,
    pages_filters_and_timelines,
    other_workspaces_see_nothing,
    idempotent_creates,
    calendar_round_trip,
    calendar_imports_report_each_event
);

async fn contact(app: &TestApp, key: &str, last_name: &str, email: &str) -> String {
    let created = app
        .api(
            key,
            "POST",
            "/api/v1/contacts",
            Some(
                json!({"first_name": "Zoé", "last_name": last_name, "emails": [{"value": email}]}),
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.json["id"].as_str().unwrap().to_owned()
}

async fn activity(app: &TestApp, key: &str, body: Value) -> Value {
    let created = app.api(key, "POST", "/api/v1/activities", Some(body)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.json
}

async fn lifecycle(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (tenant, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let zoe = contact(&app, &key, "Dupont", "zoe@exemple.fr").await;
    let created = app
        .api(
            &key,
            "POST",
            "/api/v1/activities",
            Some(json!({
                "kind": "meeting", "subject": "Bilan annuel", "description": "Ordre du jour :\n- comptes",
                "location": "Lyon", "starts_at": "2026-12-01T10:00:00+01:00", "ends_at": "2026-12-01T11:00:00+01:00",
                "contact_id": zoe
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/activities/{id}");
    assert_eq!(created.header("location"), Some(path.as_str()));
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(
        created.json["starts_at"], "2026-12-01T09:00:00Z",
        "kept in UTC"
    );
    assert_eq!(
        created.json["uid"],
        json!(id),
        "made here: its UID is its id"
    );
    assert_eq!(created.json["done"], false);

    let got = app.api(&key, "GET", &path, None).await;
    assert_eq!((got.status.as_u16(), &got.json), (200, &created.json));

    // Merge patch with If-Match; a stale one is refused; ends_at before starts_at names it.
    let done = app
        .api_with(
            &key,
            "PATCH",
            &path,
            &[("if-match", "\"1\"")],
            Some(json!({"done": true, "location": null})),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(
        (
            &done.json["done"],
            &done.json["location"],
            &done.json["version"]
        ),
        (&json!(true), &Value::Null, &json!(2))
    );
    let stale = app
        .api_with(
            &key,
            "PATCH",
            &path,
            &[("if-match", "\"1\"")],
            Some(json!({"subject": "X"})),
        )
        .await;
    assert_eq!(stale.status, 412);
    let backwards = app
        .api(
            &key,
            "PATCH",
            &path,
            Some(json!({"ends_at": "2026-12-01T08:00:00Z"})),
        )
        .await;
    assert_eq!(backwards.status, 422);
    assert_eq!(backwards.error_fields(), ["ends_at"]);
    let cleared = app
        .api(&key, "PATCH", &path, Some(json!({"subject": null})))
        .await;
    assert_eq!(cleared.status, 422, "a subject cannot be cleared");
    assert_eq!(cleared.error_fields(), ["subject"]);

    // Every field at fault is named; unknown contacts are refused.
    let bad = app
        .api(
            &key,
            "POST",
            "/api/v1/activities",
            Some(json!({"kind": "lunch", "starts_at": "demain", "contact_id": "0193a1c2-0000-7000-8000-000000000001", "colour": 1})),
        )
        .await;
    assert_eq!(bad.status, 422);
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(fields, ["colour", "kind", "starts_at", "subject"]);
    let nobody = app
        .api(
            &key,
            "POST",
            "/api/v1/activities",
            Some(
                json!({"kind": "call", "subject": "A", "starts_at": "2026-12-01T10:00:00Z",
                        "contact_id": "0193a1c2-0000-7000-8000-000000000001"}),
            ),
        )
        .await;
    assert_eq!(nobody.status, 422);
    assert_eq!(nobody.error_fields(), ["contact_id"]);

    // The trash: gone from reads and lists, listed with filter[trashed], restored.
    assert_eq!(app.api(&key, "DELETE", &path, None).await.status, 204);
    assert_eq!(app.api(&key, "GET", &path, None).await.status, 404);
    assert_eq!(app.api(&key, "DELETE", &path, None).await.status, 404);
    let trash = app
        .api(&key, "GET", "/api/v1/activities?filter[trashed]=true", None)
        .await;
    assert_eq!(trash.json["data"][0]["id"], json!(id));
    let restored = app
        .api(&key, "POST", &format!("{path}/restore"), None)
        .await;
    assert_eq!(restored.status, 200);
    assert_eq!(restored.json["deleted_at"], Value::Null);

    // The audit trail names each change.
    let history = audit_actions(&app, tenant.id, &id).await;
    assert_eq!(history, ["create", "update", "delete", "restore"]);

    // Read-only keys read but do not write.
    let (_, reader) = app
        .carnet
        .create_api_key("acme", "reader", &[Scope::Read])
        .await
        .unwrap();
    assert_eq!(app.api(&reader, "GET", &path, None).await.status, 200);
    let refused = app
        .api(
            &reader,
            "POST",
            "/api/v1/activities",
            Some(json!({"kind": "call", "subject": "A", "starts_at": "2026-12-01T10:00:00Z"})),
        )
        .await;
    assert_eq!(refused.status, 403);
    app.finish().await;
}

/// The audit actions recorded about one activity, oldest first.
async fn audit_actions(app: &TestApp, tenant: carnet_core::TenantId, id: &str) -> Vec<String> {
    let mut tx = app.carnet.db().tenant_read(tenant).await.unwrap();
    let mut events = carnet_store::audit::for_entity(&mut tx, "activity", id.parse().unwrap(), 50)
        .await
        .unwrap();
    events.reverse();
    events.into_iter().map(|e| e.action).collect()
}

async fn pages_filters_and_timelines(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (tenant, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let zoe = contact(&app, &key, "Dupont", "zoe@exemple.fr").await;
    // 25 activities, every third about Zoé, every fifth a task, every fourth done; some
    // share a start time.
    for i in 0..25 {
        let mut body = json!({
            "kind": if i % 5 == 0 { "task" } else { "call" },
            "subject": format!("Activité {i}"),
            "starts_at": format!("2026-12-{:02}T09:00:00Z", 1 + i / 2),
            "done": i % 4 == 0,
        });
        if i % 3 == 0 {
            body["contact_id"] = json!(zoe);
        }
        activity(&app, &key, body).await;
    }
    for (query, expected) in [
        ("", 25),
        ("&sort=-starts_at", 25),
        (&format!("&filter[contact_id]={zoe}") as &str, 9),
        ("&filter[kind]=task", 5),
        ("&filter[done]=true", 7),
        ("&filter[done]=false", 18),
        ("&filter[kind]=task&filter[done]=false&sort=-starts_at", 3),
    ] {
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = app
                .api(
                    &key,
                    "GET",
                    &format!("/api/v1/activities?limit=4{query}&cursor={cursor}"),
                    None,
                )
                .await;
            assert_eq!(page.status, 200, "{}", page.text);
            for a in page.json["data"].as_array().unwrap() {
                if let Some(done) = query.split("filter[done]=").nth(1) {
                    assert_eq!(a["done"], done.starts_with("true"), "{query}: {a}");
                }
                seen.push((
                    a["starts_at"].as_str().unwrap().to_owned(),
                    a["id"].as_str().unwrap().to_owned(),
                ));
            }
            match page.json["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
        }
        assert_eq!(seen.len(), expected, "{query}: every activity once");
        let mut sorted = seen.clone();
        sorted.sort();
        if query.contains("-starts_at") {
            sorted.reverse();
        }
        assert_eq!(seen, sorted, "{query}: in start order, ties by id");
    }
    let other_order = app
        .api(&key, "GET", "/api/v1/activities?limit=2", None)
        .await;
    let cursor = other_order.json["next_cursor"].as_str().unwrap();
    let refused = app
        .api(
            &key,
            "GET",
            &format!("/api/v1/activities?sort=-starts_at&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.error_fields(), ["cursor"]);
    // Exports apply the same filters.
    let still_to_do = app
        .api(
            &key,
            "GET",
            "/api/v1/activities/export?format=json&filter[done]=false&filter[kind]=task",
            None,
        )
        .await;
    assert_eq!(still_to_do.status, 200, "{}", still_to_do.text);
    let exported = still_to_do.json.as_array().unwrap();
    assert_eq!(exported.len(), 3, "{}", still_to_do.text);
    assert!(
        exported
            .iter()
            .all(|a| a["done"] == false && a["kind"] == "task")
    );
    for (query, field) in [
        ("limit=0", "limit"),
        ("filter[kind]=lunch", "filter[kind]"),
        ("filter[done]=yes", "filter[done]"),
        ("sort=subject", "sort"),
        ("q=x", "q"),
    ] {
        let bad = app
            .api(&key, "GET", &format!("/api/v1/activities?{query}"), None)
            .await;
        assert_eq!(
            (bad.status.as_u16(), bad.error_fields()),
            (400, vec![field.to_owned()]),
            "{query}"
        );
    }
    // A contact's timeline reads its own index.
    let mut tx = app.carnet.db().tenant_read(tenant.id).await.unwrap();
    let plan = carnet_store::activities::list_plan(
        &mut tx,
        &carnet_store::activities::ActivityQuery {
            limit: 51,
            contact_id: Some(zoe.parse().unwrap()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(plan.contains("activities_contact"), "{plan}");
    let plan = carnet_store::activities::list_plan(
        &mut tx,
        &carnet_store::activities::ActivityQuery {
            limit: 51,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(plan.contains("activities_starts"), "{plan}");
    drop(tx);
    app.finish().await;
}

async fn other_workspaces_see_nothing(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, acme) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let (_, globex) = app
        .tenant_with_key("globex", &[Scope::Read, Scope::Write])
        .await;
    let zoe = contact(&app, &acme, "Dupont", "zoe@exemple.fr").await;
    let a = activity(&app, &acme, json!({"kind": "call", "subject": "Secret", "starts_at": "2026-12-01T09:00:00Z", "contact_id": zoe})).await;
    let path = format!("/api/v1/activities/{}", a["id"].as_str().unwrap());
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"subject": "X"}))),
        ("DELETE", None),
    ] {
        assert_eq!(
            app.api(&globex, method, &path, body).await.status,
            404,
            "{method}"
        );
    }
    let list = app.api(&globex, "GET", "/api/v1/activities", None).await;
    assert_eq!(list.json["data"], json!([]));
    let linked = app
        .api(&globex, "POST", "/api/v1/activities", Some(json!({"kind": "call", "subject": "A", "starts_at": "2026-12-01T09:00:00Z", "contact_id": zoe})))
        .await;
    assert_eq!(
        linked.status, 422,
        "another workspace's contact is no contact here"
    );
    let export = app
        .api(&globex, "GET", "/api/v1/activities/export", None)
        .await;
    assert!(!export.text.contains("Secret"));
    app.finish().await;
}

async fn idempotent_creates(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let body = json!({"kind": "email", "subject": "Devis", "starts_at": "2026-12-01T09:00:00Z"});
    let first = app
        .api_with(
            &key,
            "POST",
            "/api/v1/activities",
            &[("idempotency-key", "k1")],
            Some(body.clone()),
        )
        .await;
    let again = app
        .api_with(
            &key,
            "POST",
            "/api/v1/activities",
            &[("idempotency-key", "k1")],
            Some(body),
        )
        .await;
    assert_eq!((first.status.as_u16(), again.status.as_u16()), (201, 201));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.json, again.json);
    let other = app
        .api_with(
            &key,
            "POST",
            "/api/v1/activities",
            &[("idempotency-key", "k1")],
            Some(json!({"kind": "email", "subject": "Autre", "starts_at": "2026-12-01T09:00:00Z"})),
        )
        .await;
    assert_eq!(other.status, 422);
    let list = app.api(&key, "GET", "/api/v1/activities", None).await;
    assert_eq!(list.json["data"].as_array().unwrap().len(), 1);
    app.finish().await;
}

/// The lines of a calendar without the bookkeeping that records when it was written, and
/// without the ids of contacts (each workspace has its own).
fn calendar_lines(ics: &str) -> Vec<String> {
    let unfolded = ics.replace("\r\n ", "");
    unfolded
        .lines()
        .filter(|l| {
            ![
                "DTSTAMP:",
                "CREATED:",
                "LAST-MODIFIED:",
                "SEQUENCE:",
                "X-CARNET-CONTACT:",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(str::to_owned)
        .collect()
}

async fn calendar_round_trip(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, acme) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let (_, copy) = app
        .tenant_with_key("copy", &[Scope::Read, Scope::Write])
        .await;
    let zoe = contact(&app, &acme, "Dupont", "zoe@exemple.fr").await;
    contact(&app, &copy, "Dupont", "zoe@exemple.fr").await;
    let long =
        "Très long compte rendu, avec des virgules; des points-virgules \\ et des accents éèà — "
            .repeat(5);
    activity(&app, &acme, json!({"kind": "meeting", "subject": "Bilan, « annuel »", "description": format!("{long}\nfin"),
        "location": "Salle 1", "starts_at": "2026-12-01T09:00:00Z", "ends_at": "2026-12-01T10:30:00Z", "contact_id": zoe})).await;
    activity(
        &app,
        &acme,
        json!({"kind": "task", "subject": "Relancer", "starts_at": "2026-12-02T09:00:00Z",
        "ends_at": "2026-12-05T17:00:00Z", "done": true, "contact_id": zoe}),
    )
    .await;
    activity(&app, &acme, json!({"kind": "call", "subject": "Appel 王", "starts_at": "2026-12-03T09:00:00Z", "done": true})).await;
    activity(
        &app,
        &acme,
        json!({"kind": "email", "subject": "Devis", "starts_at": "2026-12-04T09:00:00Z"}),
    )
    .await;
    let no_email = app
        .api(
            &acme,
            "POST",
            "/api/v1/contacts",
            Some(json!({"last_name": "Sansmail"})),
        )
        .await;
    let no_email = no_email.json["id"].as_str().unwrap().to_owned();
    activity(
        &app,
        &acme,
        json!({"kind": "call", "subject": "Appel sans e-mail", "starts_at": "2026-12-05T09:00:00Z", "contact_id": no_email}),
    )
    .await;

    let exported = app
        .api(&acme, "GET", "/api/v1/activities/export?format=ics", None)
        .await;
    assert_eq!(exported.status, 200);
    assert_eq!(
        exported.header("content-type"),
        Some("text/calendar; charset=utf-8")
    );
    assert!(
        exported
            .header("content-disposition")
            .unwrap()
            .contains(".ics")
    );
    assert!(
        exported
            .text
            .contains("ATTENDEE;CN=Zoé Dupont:mailto:zoe@exemple.fr"),
        "{}",
        exported.text
    );
    assert!(exported.text.lines().all(|l| l.len() <= 76), "folded");

    let import = |key: String, body: String, query: &'static str| {
        let app = &app;
        async move {
            let r = app
                .send(
                    "POST",
                    &format!("/api/v1/activities/import{query}"),
                    &[
                        ("authorization", &format!("Bearer {key}")),
                        ("content-type", "text/calendar"),
                    ],
                    Some(body.into_bytes()),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.json
        }
    };
    let dry = import(copy.clone(), exported.text.clone(), "?dry_run=true").await;
    assert_eq!(dry["created"], 5);
    let none = app.api(&copy, "GET", "/api/v1/activities", None).await;
    assert_eq!(none.json["data"], json!([]), "a dry run writes nothing");

    let report = import(copy.clone(), exported.text.clone(), "").await;
    assert_eq!(
        (&report["created"], &report["rejected"], &report["notes"]),
        (&json!(5), &json!([]), &json!([])),
        "{report}"
    );
    let again = app
        .api(&copy, "GET", "/api/v1/activities/export?format=ics", None)
        .await;
    assert_eq!(
        calendar_lines(&again.text),
        calendar_lines(&exported.text),
        "export → import → export: the same calendar"
    );
    let linked = app
        .api(&copy, "GET", "/api/v1/activities?filter[kind]=task", None)
        .await;
    assert!(
        linked.json["data"][0]["contact_id"].is_string(),
        "linked to the copy's Zoé by her e-mail"
    );

    // Importing the same file again changes nothing; an edited event updates its activity.
    let same = import(copy.clone(), exported.text.clone(), "").await;
    assert_eq!(
        (&same["created"], &same["updated"], &same["unchanged"]),
        (&json!(0), &json!(0), &json!(5))
    );
    let edited = exported
        .text
        .replace("SUMMARY:Devis", "SUMMARY:Devis signé");
    let changed = import(copy.clone(), edited, "").await;
    assert_eq!(
        (
            &changed["created"],
            &changed["updated"],
            &changed["unchanged"]
        ),
        (&json!(0), &json!(1), &json!(4))
    );
    // In its own workspace an export finds its contacts by id, those without an e-mail too.
    let own = import(acme.clone(), exported.text.clone(), "").await;
    assert_eq!(
        (&own["created"], &own["updated"], &own["unchanged"]),
        (&json!(0), &json!(0), &json!(5)),
        "{own}"
    );
    let call = app
        .api(
            &acme,
            "GET",
            &format!("/api/v1/activities?filter[contact_id]={no_email}"),
            None,
        )
        .await;
    assert_eq!(call.json["data"][0]["subject"], "Appel sans e-mail");

    // The JSON export is the list, whole.
    let json_export = app
        .api(&copy, "GET", "/api/v1/activities/export?format=json", None)
        .await;
    let listed = app.api(&copy, "GET", "/api/v1/activities", None).await;
    assert_eq!(json_export.json, listed.json["data"]);
    assert_eq!(json_export.json[3]["subject"], "Devis signé");
    let bad = app
        .api(&copy, "GET", "/api/v1/activities/export?format=csv", None)
        .await;
    assert_eq!(
        (bad.status.as_u16(), bad.error_fields()),
        (400, vec!["format".to_owned()])
    );
    app.finish().await;
}

async fn calendar_imports_report_each_event(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    contact(&app, &key, "Martin", "ana@exemple.fr").await;
    let send = |body: &'static str, content_type: &'static str| {
        let app = &app;
        let key = key.clone();
        async move {
            app.send(
                "POST",
                "/api/v1/activities/import",
                &[
                    ("authorization", &format!("Bearer {key}")),
                    ("content-type", content_type),
                ],
                Some(body.as_bytes().to_vec()),
            )
            .await
        }
    };
    let wrong_type = send("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "text/plain").await;
    assert_eq!(wrong_type.status, 415);
    let garbage = send("hello", "text/calendar").await;
    assert_eq!(
        (garbage.status.as_u16(), garbage.error_fields()),
        (422, vec!["file".to_owned()])
    );
    let ics = "BEGIN:VCALENDAR\r\n\
        BEGIN:VEVENT\r\nUID:ok-1\r\nDTSTART:20261201T090000Z\r\nDURATION:PT45M\r\nSUMMARY:Rendez-vous\r\n\
        ATTENDEE;CN=Ana:mailto:Ana@Exemple.fr\r\nATTENDEE:mailto:inconnu@exemple.fr\r\nRRULE:FREQ=WEEKLY\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:bad-1\r\nDTSTART;TZID=Europe/Paris:20261201T090000\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:bad-2\r\nDTSTART:20261201T090000Z\r\nDTEND:20261201T080000Z\r\nSUMMARY:A l'envers\r\nEND:VEVENT\r\n\
        END:VCALENDAR\r\n";
    let report = send(ics, "text/calendar; charset=utf-8").await;
    assert_eq!(report.status, 200, "{}", report.text);
    let r = &report.json;
    assert_eq!(r["created"], 1);
    let rejected: Vec<(u64, String)> = r["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["line"].as_u64().unwrap(),
                i["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        [
            (11, "DTSTART".to_owned()),
            (11, "SUMMARY".to_owned()),
            (15, "DTEND".to_owned())
        ],
        "{r}"
    );
    let notes: Vec<&str> = r["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["message"].as_str().unwrap())
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("inconnu@exemple.fr")),
        "{notes:?}"
    );
    assert!(notes.iter().any(|n| n.contains("RRULE")), "{notes:?}");
    let list = app.api(&key, "GET", "/api/v1/activities", None).await;
    let only = &list.json["data"][0];
    assert_eq!(only["uid"], "ok-1");
    assert_eq!(only["ends_at"], "2026-12-01T09:45:00Z");
    assert!(only["contact_id"].is_string(), "linked to Ana");
    assert_eq!(only["kind"], "meeting");
    app.finish().await;
}
