//! Imports: the files users bring (French Excel in Windows-1252, Google, Outlook, Excel's
//! Unicode text), modes, duplicates, refused rows with their row numbers, dry runs, and the
//! round trip export → import → export.

use carnet_core::Scope;
use carnet_formats::contact_columns::{columns_for, row_to_json};
use carnet_formats::table::{TableOptions, TableReader};
use carnet_service::TenantContext;
use carnet_service::contacts::{
    ImportMode, ImportOptions, ImportReport, ImportRow, MatchKey, RejectedRow, batch_rows,
};
use carnet_service::imports::{ImportFormat, ImportSpec, open_rows};
use carnet_testkit::{Backend, TestApp, on_both_backends};
use serde_json::{Value, json};

on_both_backends!(
    files_users_bring,
    modes_duplicates_and_dry_runs,
    rows_meet_across_batches,
    export_import_export_round_trip
);

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/contacts");

fn rows_of(bytes: Vec<u8>) -> Vec<Result<ImportRow, RejectedRow>> {
    let reader = TableReader::csv(std::io::Cursor::new(bytes), &TableOptions::default()).unwrap();
    let columns = columns_for(&reader.headers);
    reader
        .map(|r| {
            let (row, cells) = r.unwrap();
            let (body, id) = row_to_json(&columns, &cells);
            Ok(ImportRow { row, body, id })
        })
        .collect()
}

/// A workspace's contacts without identity and timestamps, in a stable order: what an
/// export → import round trip must keep.
async fn contents(app: &TestApp, key: &str) -> Vec<Value> {
    let mut all: Vec<Value> = contacts(app, key)
        .await
        .into_iter()
        .map(|mut c| {
            for k in ["id", "created_at", "updated_at", "version", "owner_id"] {
                c.as_object_mut().unwrap().remove(k);
            }
            c
        })
        .collect();
    all.sort_by_key(|c| c.to_string());
    all
}

fn fixture(name: &str) -> Vec<Result<ImportRow, RejectedRow>> {
    rows_of(std::fs::read(format!("{FIXTURES}/{name}")).unwrap())
}

const UPSERT: ImportOptions = ImportOptions {
    mode: ImportMode::Upsert,
    match_key: MatchKey::Email,
    dry_run: false,
};

async fn import(
    app: &TestApp,
    ctx: &TenantContext,
    rows: Vec<Result<ImportRow, RejectedRow>>,
    options: ImportOptions,
) -> ImportReport {
    app.carnet
        .import_contacts(ctx, rows, options, |_| {})
        .await
        .unwrap()
}

async fn contacts(app: &TestApp, key: &str) -> Vec<Value> {
    let res = app
        .api(key, "GET", "/api/v1/contacts/export?format=json", None)
        .await;
    res.json.as_array().unwrap().clone()
}

fn by_email<'a>(all: &'a [Value], email: &str) -> &'a Value {
    all.iter()
        .find(|c| {
            c["emails"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["value"] == email)
        })
        .unwrap()
}

async fn files_users_bring(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (tenant, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let ctx = TenantContext::system(tenant.id);

    let fr = import(&app, &ctx, fixture("excel-fr-windows-1252.csv"), UPSERT).await;
    assert_eq!((fr.rows, fr.created), (4, 3));
    assert_eq!(
        fr.rejected,
        [RejectedRow {
            row: 4,
            field: "emails[0].value".into(),
            message: "is not a valid e-mail address".into()
        }]
    );
    let google = import(&app, &ctx, fixture("google.csv"), UPSERT).await;
    assert_eq!((google.created, google.rejected.len()), (2, 0));
    let outlook = import(&app, &ctx, fixture("outlook.csv"), UPSERT).await;
    assert_eq!(outlook.created, 1);
    let unicode = import(&app, &ctx, fixture("excel-unicode-text-utf16.txt"), UPSERT).await;
    assert_eq!(unicode.created, 1);

    let all = contacts(&app, &key).await;
    assert_eq!(all.len(), 7);
    let eloise = by_email(&all, "eloise.lefevre@exemple.fr");
    assert_eq!(
        (eloise["first_name"].as_str(), eloise["last_name"].as_str()),
        (Some("Éloïse"), Some("Lefèvre"))
    );
    assert_eq!(
        eloise["phones"],
        json!([{"label": "mobile", "value": "+33 6 12 34 56 78"}])
    );
    assert_eq!(eloise["tags"], json!(["VIP", "Client"]));
    assert_eq!(
        eloise["custom"],
        json!({"Société": "Atelier Nord"}),
        "an unknown column is kept, not dropped"
    );
    assert_eq!(
        by_email(&all, "francois.garcon@exemple.fr")["custom"]["Société"],
        "Cabinet Œuvre"
    );
    let olivia = by_email(&all, "olivia@northwind.co.uk");
    assert_eq!(
        olivia["emails"],
        json!([{"label": "work", "value": "olivia@northwind.co.uk"}, {"label": "home", "value": "liv@home.example"}])
    );
    assert_eq!(olivia["tags"], json!(["VIP"]));
    assert_eq!(
        olivia["custom"],
        json!({"Organization 1 - Name": "Northwind", })
    );
    assert_eq!(olivia["job_title"], "Head of Sales");
    let bruce = by_email(&all, "bruce@example.hk");
    assert_eq!(
        (bruce["first_name"].as_str(), bruce["last_name"].as_str()),
        (Some("小龍"), Some("李"))
    );
    let james = by_email(&all, "james.obrien@oakfield.example");
    let labels: Vec<&str> = james["phones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["work", "home", "mobile"]);
    assert_eq!(james["tags"], json!(["Client", "Partenaire"]));
    assert_eq!(
        by_email(&all, "agathe@exemple.fr")["last_name"],
        "Châtelain"
    );
    app.finish().await;
}

async fn modes_duplicates_and_dry_runs(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (tenant, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let ctx = TenantContext::system(tenant.id);
    let csv = "first_name,last_name,email,phone,tags\n\
               Léa,Martin,lea@x.fr,01 02,A\n\
               Léa,Martin-Durand,LEA@x.fr,03 04,B\n\
               ,,,,\n\
               Paul,Simon,paul@x.fr,,\n";

    let dry = import(
        &app,
        &ctx,
        rows_of(csv.into()),
        ImportOptions {
            dry_run: true,
            ..UPSERT
        },
    )
    .await;
    assert_eq!(
        (dry.rows, dry.created, dry.updated),
        (4, 2, 1),
        "the second Léa row merges into the first"
    );
    assert_eq!(dry.rejected.len(), 1);
    assert_eq!(dry.rejected[0].row, 4);
    assert!(
        contacts(&app, &key).await.is_empty(),
        "a dry run writes nothing"
    );

    let real = import(&app, &ctx, rows_of(csv.into()), UPSERT).await;
    assert_eq!(
        (real.created, real.updated, real.rejected.len()),
        (dry.created, dry.updated, 1),
        "a dry run counts exactly"
    );
    let all = contacts(&app, &key).await;
    assert_eq!(all.len(), 2);
    let lea = by_email(&all, "lea@x.fr");
    assert_eq!(lea["last_name"], "Martin-Durand", "given values replace");
    assert_eq!(
        lea["phones"].as_array().unwrap().len(),
        2,
        "phones are added, not replaced"
    );
    assert_eq!(lea["tags"], json!(["A", "B"]));
    assert_eq!(
        lea["emails"].as_array().unwrap().len(),
        1,
        "the same e-mail in another case is not added twice"
    );

    // Running the same file again creates nothing: rows match what the first run wrote.
    let again = import(&app, &ctx, rows_of(csv.into()), UPSERT).await;
    assert_eq!(again.created, 0, "a re-run creates nothing");
    assert_eq!(again.updated + again.unchanged, 3);
    assert_eq!(again.rejected.len(), 1);
    assert_eq!(contacts(&app, &key).await.len(), 2);

    let create_only = import(
        &app,
        &ctx,
        rows_of("email,last_name\npaul@x.fr,Simon\nnew@x.fr,Neuf\n".into()),
        ImportOptions {
            mode: ImportMode::Create,
            ..UPSERT
        },
    )
    .await;
    assert_eq!(create_only.created, 1);
    assert_eq!(
        (
            create_only.rejected[0].row,
            create_only.rejected[0].field.as_str()
        ),
        (2, "email")
    );
    let update_only = import(
        &app,
        &ctx,
        rows_of("email,job_title\nnobody@x.fr,CEO\npaul@x.fr,CEO\n".into()),
        ImportOptions {
            mode: ImportMode::Update,
            ..UPSERT
        },
    )
    .await;
    assert_eq!(update_only.updated, 1);
    assert_eq!(update_only.rejected[0].row, 2);
    app.finish().await;
}

async fn export_import_export_round_trip(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (source, source_key) = app
        .tenant_with_key("source", &[Scope::Read, Scope::Write])
        .await;
    let (target, target_key) = app
        .tenant_with_key("target", &[Scope::Read, Scope::Write])
        .await;
    app.carnet
        .seed_contacts(&TenantContext::system(source.id), 120)
        .await
        .unwrap();
    let special = json!({"first_name": "Ève", "last_name": "O'Neil, \"Jr\"", "job_title": "Gérante; associée",
        "emails": [{"label": "work", "value": "eve@x.fr"}, {"label": "Cabinet", "value": "eve@cab.fr"}],
        "phones": [{"label": "home", "value": "+33 1 23"}], "tags": ["a b", "Ünï"], "custom": {"siren": "1", "n": 2.5}});
    assert_eq!(
        app.api(&source_key, "POST", "/api/v1/contacts", Some(special))
            .await
            .status,
        201
    );

    let original = contents(&app, &source_key).await;

    for format in ["csv", "excel-fr"] {
        let exported = app
            .api(
                &source_key,
                "GET",
                &format!("/api/v1/contacts/export?format={format}"),
                None,
            )
            .await;
        let ctx = TenantContext::system(target.id);
        let report = import(
            &app,
            &ctx,
            rows_of(exported.text.into_bytes()),
            ImportOptions {
                mode: ImportMode::Upsert,
                match_key: MatchKey::Email,
                dry_run: false,
            },
        )
        .await;
        assert!(
            report.rejected.is_empty(),
            "{format}: {:?}",
            report.rejected
        );
        let imported = contents(&app, &target_key).await;
        assert_eq!(
            imported, original,
            "{format}: export → import gives the same contacts"
        );
    }
    // An XLSX workbook, read from a file as `carnet import` and the jobs do.
    let (xlsx_target, xlsx_key) = app
        .tenant_with_key("xlsx-target", &[Scope::Read, Scope::Write])
        .await;
    let exported = app
        .api(
            &source_key,
            "GET",
            "/api/v1/contacts/export?format=xlsx",
            None,
        )
        .await;
    let path = std::env::temp_dir().join(format!("carnet-rt-{}.xlsx", uuid::Uuid::now_v7()));
    std::fs::write(&path, &exported.bytes).unwrap();
    let (rows, detected) = open_rows(&path, &ImportSpec::contacts(ImportFormat::Xlsx)).unwrap();
    assert!(detected.starts_with("XLSX, sheet"), "{detected}");
    let report = app
        .carnet
        .import_contacts(&TenantContext::system(xlsx_target.id), rows, UPSERT, |_| {})
        .await
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(
        contents(&app, &xlsx_key).await,
        original,
        "xlsx: export → import gives the same contacts"
    );
    // Carnet's own JSON export, into a third workspace.
    let (json_target, json_key) = app
        .tenant_with_key("json-target", &[Scope::Read, Scope::Write])
        .await;
    let exported = app
        .api(
            &source_key,
            "GET",
            "/api/v1/contacts/export?format=json",
            None,
        )
        .await;
    let rows: Vec<Result<ImportRow, RejectedRow>> =
        carnet_formats::contact_json::stream(exported.bytes.as_slice())
            .unwrap()
            .map(|item| ImportRow::from_read(item, "contact"))
            .collect();
    let report = import(&app, &TenantContext::system(json_target.id), rows, UPSERT).await;
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let imported = contents(&app, &json_key).await;
    assert_eq!(
        imported, original,
        "json: export → import gives the same contacts"
    );

    // vCard 4.0 and 3.0: export → import → export gives the same cards (identity and
    // revision aside; vCards carry no custom fields, so the second export is the measure).
    for format in ["vcf", "vcf3"] {
        let (target, key) = app
            .tenant_with_key(&format!("{format}-target"), &[Scope::Read, Scope::Write])
            .await;
        let export = |key: String| {
            let app = &app;
            async move {
                let text = app
                    .api(
                        &key,
                        "GET",
                        &format!("/api/v1/contacts/export?format={format}"),
                        None,
                    )
                    .await
                    .text;
                let mut cards: Vec<String> = text
                    .split("END:VCARD\r\n")
                    .map(|card| {
                        card.lines()
                            .filter(|l| !l.starts_with("UID:") && !l.starts_with("REV:"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .collect();
                cards.sort();
                cards
            }
        };
        let first = export(source_key.clone()).await;
        let text = app
            .api(
                &source_key,
                "GET",
                &format!("/api/v1/contacts/export?format={format}"),
                None,
            )
            .await
            .text;
        let rows: Vec<Result<ImportRow, RejectedRow>> = carnet_formats::vcard_read::cards(&text)
            .into_iter()
            .map(|item| ImportRow::from_read(item, "card"))
            .collect();
        assert_eq!(rows.len(), 121);
        let report = import(&app, &TenantContext::system(target.id), rows, UPSERT).await;
        assert!(
            report.rejected.is_empty(),
            "{format}: {:?}",
            report.rejected
        );
        assert_eq!(report.created, 121, "{format}");
        assert_eq!(
            export(key).await,
            first,
            "{format}: export → import → export"
        );
    }

    // Importing a workspace's own export, matched by id, changes nothing.
    let exported = app
        .api(
            &source_key,
            "GET",
            "/api/v1/contacts/export?format=csv",
            None,
        )
        .await;
    let ctx = TenantContext::system(source.id);
    let same = import(
        &app,
        &ctx,
        rows_of(exported.text.into_bytes()),
        ImportOptions {
            mode: ImportMode::Update,
            match_key: MatchKey::Id,
            dry_run: false,
        },
    )
    .await;
    assert_eq!(
        (same.unchanged, same.updated, same.rejected.len()),
        (121, 0, 0)
    );
    app.finish().await;
}

/// Rows of later batches find what earlier batches of the same file did, even while those
/// are still being written (PostgreSQL writes two batches at once): an e-mail created in
/// one batch and repeated in the next merges, and two batches changing one stored contact
/// through two of its e-mails both apply. Nothing is duplicated or lost. The file's
/// batches are as large as the backend's own.
async fn rows_meet_across_batches(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (tenant, key) = app
        .tenant_with_key("acme", &[Scope::Read, Scope::Write])
        .await;
    let ctx = TenantContext::system(tenant.id);
    let stored = "first_name,last_name,email,email 2\nXavier,Stocké,x1@x.fr,x2@x.fr\n";
    import(&app, &ctx, rows_of(stored.into()), UPSERT).await;

    let mut csv = String::from("first_name,last_name,email,job_title,tags\n");
    let mut row = |email: &str, title: &str, tag: &str| {
        csv.push_str(&format!("Prénom,Nom,{email},{title},{tag}\n"));
    };
    // Batches as large as the backend's.
    let n = batch_rows(app.db.db.backend());
    for i in 0..n {
        row(&format!("u{i}@x.fr"), "", "B1");
    }
    // Batch 2: a contact batch 1 created, the stored contact by its first e-mail.
    row("u5@x.fr", "Second", "B2");
    row("x1@x.fr", "", "B2");
    for i in 0..n - 2 {
        row(&format!("v{i}@x.fr"), "", "B2");
    }
    // Batch 3: the stored contact by its second e-mail, batch 1's and 2's contacts again.
    row("x2@x.fr", "", "B3");
    row("U6@x.fr", "Third", "B3");
    row("v7@x.fr", "Third", "B3");
    for i in 0..n - 3 {
        row(&format!("w{i}@x.fr"), "", "B3");
    }
    // A last, short batch repeating the first batch's first contact.
    row("u0@x.fr", "Last", "B4");
    row("z@x.fr", "", "B4");

    let report = import(&app, &ctx, rows_of(csv.into_bytes()), UPSERT).await;
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.rows, 3 * n as u64 + 2);
    let created = n + (n - 2) + (n - 3) + 1;
    assert_eq!(report.created, created as u64);
    assert_eq!(report.updated, 6);

    let all = contacts(&app, &key).await;
    assert_eq!(all.len(), 1 + created, "no contact twice");
    let mut emails: Vec<String> = all
        .iter()
        .flat_map(|c| c["emails"].as_array().unwrap().clone())
        .map(|e| e["value"].as_str().unwrap().to_lowercase())
        .collect();
    let count = emails.len();
    emails.sort();
    emails.dedup();
    assert_eq!(emails.len(), count, "no e-mail on two contacts");
    let tags = |email: &str| by_email(&all, email)["tags"].clone();
    assert_eq!(tags("x1@x.fr"), json!(["B2", "B3"]), "both changes apply");
    assert_eq!(tags("u5@x.fr"), json!(["B1", "B2"]));
    assert_eq!(by_email(&all, "u5@x.fr")["job_title"], "Second");
    assert_eq!(by_email(&all, "u6@x.fr")["job_title"], "Third");
    assert_eq!(by_email(&all, "v7@x.fr")["job_title"], "Third");
    assert_eq!(by_email(&all, "u0@x.fr")["job_title"], "Last");
    app.finish().await;
}
