//! Tenant archives: export everything, restore into an empty workspace, export again: the
//! same data files byte for byte; damaged or hand-edited archives are refused whole.

use carnet_core::{Role, Scope};
use carnet_service::admin::NewUser;
use carnet_service::{ServiceError, TenantContext};
use carnet_testkit::{Backend, TestApp, on_both_backends};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::{Cursor, Read, Write};

on_both_backends!(
    archive_restore_export_gives_the_same_data,
    damaged_archives_are_refused
);

async fn archive(app: &TestApp, slug: &str) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    app.carnet.export_archive(slug, &mut out).await.unwrap();
    out.into_inner()
}

/// The archive's entries: name → bytes.
fn entries(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut e = zip.by_index(i).unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (e.name().unwrap().into_owned(), data)
        })
        .collect()
}

/// An archive made of these entries.
fn zipped(entries: &std::collections::BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

async fn archive_restore_export_gives_the_same_data(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (source, key) = app
        .tenant_with_key("source", &[Scope::Read, Scope::Write])
        .await;
    app.carnet.create_tenant("copy", "Copy").await.unwrap();
    let (lea, _) = app
        .carnet
        .create_user(NewUser {
            email: "lea@source.test",
            display_name: None,
            password: "correct-horse-1",
            tenant_slug: "source",
            role: Role::Member,
        })
        .await
        .unwrap();
    app.user("copy", "lea@source.test", "correct-horse-1", Role::Member)
        .await;
    app.carnet
        .seed_contacts(&TenantContext::system(source.id), 1500)
        .await
        .unwrap();
    let special = json!({"first_name": "Ève", "last_name": "O'Neil \"Jr\" 王", "job_title": "Gérante; associée",
        "emails": [{"label": "work", "value": "eve@x.fr"}], "tags": ["a b", "Ünï"],
        "custom": {"n": 2.5, "note": "ligne 1\nligne 2 — مرحبا"}, "owner_id": lea.id.to_string()});
    let created = app
        .api(&key, "POST", "/api/v1/contacts", Some(special))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/contacts/{id}");
    app.api(&key, "PATCH", &path, Some(json!({"job_title": "Associée"})))
        .await;
    let trashed = app.api(&key, "GET", "/api/v1/contacts?limit=1", None).await;
    let trashed_id = trashed.json["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.api(
            &key,
            "DELETE",
            &format!("/api/v1/contacts/{trashed_id}"),
            None
        )
        .await
        .status,
        204
    );

    // Activities: one about the special contact, owned by Léa; one imported from another
    // calendar (it keeps that calendar's UID); one in the trash.
    let meeting = app
        .api(&key, "POST", "/api/v1/activities", Some(json!({
            "kind": "meeting", "subject": "Bilan ; « annuel »", "description": "ligne 1\nligne 2",
            "starts_at": "2026-12-01T09:00:00.123456Z", "ends_at": "2026-12-01T10:00:00Z",
            "contact_id": id, "owner_id": lea.id.to_string(), "location": "Lyon"
        })))
        .await;
    assert_eq!(meeting.status, 201, "{}", meeting.text);
    let ics = "BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nUID:task-1@elsewhere.example\r\nDTSTART:20261202T080000Z\r\n\
               SUMMARY:Relancer\r\nSTATUS:COMPLETED\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
    let imported = app
        .carnet
        .import_calendar(&TenantContext::system(source.id), ics.as_bytes(), false)
        .await
        .unwrap();
    assert_eq!(imported.created, 1, "{imported:?}");
    let call = app
        .api(
            &key,
            "POST",
            "/api/v1/activities",
            Some(json!({
                "kind": "call", "subject": "Appel", "starts_at": "2026-12-03T09:00:00Z"
            })),
        )
        .await;
    let call_id = call.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.api(
            &key,
            "DELETE",
            &format!("/api/v1/activities/{call_id}"),
            None
        )
        .await
        .status,
        204
    );

    let original = archive(&app, "source").await;
    let report = app
        .carnet
        .restore_archive("copy", None, Cursor::new(original.clone()))
        .await
        .unwrap();
    assert_eq!(report.contacts, 1501);
    assert_eq!(report.activities, 3);
    assert_eq!(report.owners_cleared, 0, "Léa is a member of both");
    assert!(report.audit_events >= 1507, "{report:?}");
    let again = archive(&app, "copy").await;
    let (a, b) = (entries(&original), entries(&again));
    for name in ["contacts.jsonl", "activities.jsonl", "audit_events.jsonl"] {
        assert!(
            a[name] == b[name],
            "{name}: restored and exported again, the same bytes"
        );
    }
    let manifest: serde_json::Value = serde_json::from_slice(&a["manifest.json"]).unwrap();
    let again_manifest: serde_json::Value = serde_json::from_slice(&b["manifest.json"]).unwrap();
    assert_eq!(manifest["files"], again_manifest["files"]);
    assert_eq!(manifest["tenant"]["slug"], "source");
    assert_eq!(
        manifest["files"][0]["sha256"],
        format!("{:x}", Sha256::digest(&a["contacts.jsonl"]))
    );
    // The restored workspace works like any other: the trash is still the trash, search
    // finds the restored contact by its accents-free name.
    let copy_key = app
        .carnet
        .create_api_key("copy", "t", &[Scope::Read])
        .await
        .unwrap()
        .1;
    let found = app
        .api(&copy_key, "GET", "/api/v1/contacts?q=eve", None)
        .await;
    assert_eq!(
        found.json["data"][0]["job_title"], "Associée",
        "{}",
        found.text
    );
    assert_eq!(found.json["data"][0]["version"], 2);
    let gone = app
        .api(
            &copy_key,
            "GET",
            &format!("/api/v1/contacts/{trashed_id}"),
            None,
        )
        .await;
    assert_eq!(gone.status, 404, "in the trash");
    let live = app.api(&copy_key, "GET", "/api/v1/activities", None).await;
    let data = live.json["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{}", live.text);
    assert_eq!(data[0]["contact_id"], json!(id));
    assert_eq!(data[0]["starts_at"], "2026-12-01T09:00:00.123456Z");
    assert_eq!(
        (&data[1]["uid"], &data[1]["done"]),
        (&json!("task-1@elsewhere.example"), &json!(true))
    );

    // Not into a workspace that holds records; into one where Léa is not a member, her
    // contact loses its owner and says so.
    let again = app
        .carnet
        .restore_archive("copy", None, Cursor::new(original.clone()))
        .await;
    assert!(matches!(again, Err(ServiceError::Conflict(_))), "{again:?}");
    let other = app
        .carnet
        .restore_archive("other", Some("Other"), Cursor::new(original))
        .await
        .unwrap();
    assert_eq!(other.owners_cleared, 2, "her contact and her meeting");
    app.finish().await;
}

async fn damaged_archives_are_refused(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (source, _) = app.tenant_with_key("source", &[Scope::Read]).await;
    app.carnet
        .seed_contacts(&TenantContext::system(source.id), 20)
        .await
        .unwrap();
    let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:e1\r\nDTSTART:20261201T090000Z\r\n\
               DTEND:20261201T100000Z\r\nSUMMARY:Réunion\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    app.carnet
        .import_calendar(&TenantContext::system(source.id), ics.as_bytes(), false)
        .await
        .unwrap();
    let good = entries(&archive(&app, "source").await);
    let refused = |result: Result<_, ServiceError>, needle: &str| match result {
        Err(ServiceError::BadParameter { message, .. }) => {
            assert!(message.contains(needle), "{message}")
        }
        other => panic!("expected a refusal mentioning {needle}: {other:?}"),
    };

    // One byte changed: the checksum says so, and nothing is written.
    let mut damaged = good.clone();
    let contacts = damaged.get_mut("contacts.jsonl").unwrap();
    let at = contacts.iter().position(|b| *b == b'a').unwrap();
    contacts[at] = b'b';
    refused(
        app.carnet
            .restore_archive("broken", None, Cursor::new(zipped(&damaged)))
            .await,
        "does not match its checksum",
    );
    assert!(
        app.carnet.tenant_by_slug("broken").await.is_err(),
        "nothing was created"
    );

    // Hand-edited into a contact Carnet would refuse, checksum recomputed: the line is named.
    let mut edited = good.clone();
    let text = String::from_utf8(edited["contacts.jsonl"].clone()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut second: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    second["emails"] = json!([{"label": "work", "value": "not-an-address"}]);
    lines[1] = second.to_string();
    let text = lines.join("\n") + "\n";
    let mut manifest: serde_json::Value = serde_json::from_slice(&edited["manifest.json"]).unwrap();
    manifest["files"][0]["sha256"] = json!(format!("{:x}", Sha256::digest(text.as_bytes())));
    edited.insert("contacts.jsonl".into(), text.into_bytes());
    edited.insert("manifest.json".into(), manifest.to_string().into_bytes());
    refused(
        app.carnet
            .restore_archive("edited", None, Cursor::new(zipped(&edited)))
            .await,
        "contacts.jsonl line 2",
    );
    assert!(
        app.carnet.tenant_by_slug("edited").await.is_err(),
        "every record is checked before anything is written"
    );

    // An activity edited to end before it starts, checksum recomputed: refused, line named.
    let mut edited = good.clone();
    let line = String::from_utf8(edited["activities.jsonl"].clone()).unwrap();
    let mut activity: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
    activity["ends_at"] = json!("2026-12-01T08:00:00Z");
    let text = format!("{activity}\n");
    let mut manifest: serde_json::Value = serde_json::from_slice(&edited["manifest.json"]).unwrap();
    assert_eq!(manifest["files"][1]["name"], "activities.jsonl");
    manifest["files"][1]["sha256"] = json!(format!("{:x}", Sha256::digest(text.as_bytes())));
    edited.insert("activities.jsonl".into(), text.into_bytes());
    edited.insert("manifest.json".into(), manifest.to_string().into_bytes());
    refused(
        app.carnet
            .restore_archive("edited2", None, Cursor::new(zipped(&edited)))
            .await,
        "activities.jsonl line 1: ends_at",
    );

    // An archive from before activities existed has no activities.jsonl: it restores.
    let mut older = good.clone();
    older.remove("activities.jsonl");
    let mut manifest: serde_json::Value = serde_json::from_slice(&older["manifest.json"]).unwrap();
    manifest["files"].as_array_mut().unwrap().remove(1);
    older.insert("manifest.json".into(), manifest.to_string().into_bytes());
    let report = app
        .carnet
        .restore_archive("older", None, Cursor::new(zipped(&older)))
        .await
        .unwrap();
    assert_eq!((report.contacts, report.activities), (20, 0));

    // An entry the manifest does not list; not an archive at all.
    let mut stray = good.clone();
    stray.insert("extra.txt".into(), b"x".to_vec());
    refused(
        app.carnet
            .restore_archive("stray", None, Cursor::new(zipped(&stray)))
            .await,
        "does not list",
    );
    refused(
        app.carnet
            .restore_archive("junk", None, Cursor::new(b"junk".to_vec()))
            .await,
        "not a Carnet archive",
    );
    app.finish().await;
}
