//! Contact search (`q`) through its trigram indexes: the same contacts as a scan would find,
//! whichever path a search takes, kept in step with every write, and planned on the index.

use carnet_core::{ContactId, ContactInput};
use carnet_service::TenantContext;
use carnet_store::contacts::{self, ListQuery, SortField, list_plan, window_plan};
use carnet_store::tenants::Tenant;
use carnet_store::{DbLocation, TenantTx};
use carnet_testkit::{Backend, TestApp, on_both_backends};
use serde_json::json;
use sqlx::{Connection, Executor};

on_both_backends!(
    search_finds_what_a_scan_finds,
    search_follows_every_write,
    rare_terms_start_from_the_trigram_index,
    searches_first_read_the_sort_index,
    names_read_from_their_stretch_find_what_a_scan_finds,
    runs_inside_names_emails_and_phones_find_what_a_scan_finds,
    searches_read_only_their_own_tenants_matches
);

fn query(terms: &[&str], limit: u32) -> ListQuery {
    ListQuery {
        sort: SortField::LastName,
        descending: false,
        after: None,
        limit,
        terms: terms.iter().map(|t| (*t).to_owned()).collect(),
        tag: None,
        company_id: None,
        email: None,
        trashed: false,
    }
}

/// Every live contact of the tenant, in list order.
async fn everyone(app: &TestApp, tenant: &Tenant) -> Vec<carnet_core::contact::Contact> {
    let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
    contacts::list(&mut tx, &query(&[], 100_000)).await.unwrap()
}

/// The contacts of `all` holding every one of `terms` in their search text, in the order of
/// `sort` then id: what a search should give, found by testing each contact.
fn scan(
    all: &[carnet_core::contact::Contact],
    terms: &[&str],
    sort: SortField,
    descending: bool,
) -> Vec<ContactId> {
    let key = |c: &carnet_core::contact::Contact| match sort.value_of(c) {
        contacts::SortValue::Text(t) => t,
        other => panic!("{other:?}"),
    };
    let mut found: Vec<&carnet_core::contact::Contact> = all
        .iter()
        .filter(|c| {
            let text = c.input().search_text();
            terms.iter().all(|t| text.contains(t))
        })
        .collect();
    found.sort_by(|a, b| {
        let order = key(a).cmp(&key(b)).then(a.id.0.cmp(&b.id.0));
        if descending { order.reverse() } else { order }
    });
    found.iter().map(|c| c.id).collect()
}

/// The ids of the page `q` asks for.
async fn page(tx: &mut TenantTx, q: &ListQuery) -> Vec<ContactId> {
    contacts::list(tx, q)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect()
}

async fn search(app: &TestApp, tenant: &Tenant, terms: &[&str]) -> Vec<ContactId> {
    let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
    contacts::list(&mut tx, &query(terms, 100_000))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// A search answered within the first contacts in list order (a frequent term), from the
/// index's matches (a rarer one, or one whose contacts sort late), by the sort-order walk
/// (terms too short for trigrams) or finding nothing gives exactly the contacts, in order,
/// that testing every contact's search text gives; another tenant's matches never appear.
async fn search_finds_what_a_scan_finds(backend: Backend) {
    let app = TestApp::new(backend).await;
    let tenant = app.carnet.create_tenant("acme", "Acme").await.unwrap();
    let other = app.carnet.create_tenant("other", "Other").await.unwrap();
    let durands = app.add_contacts(&tenant, "Durand", 5100).await;
    // The first 30 in list order in the trash: a window counts them, a page never shows them.
    let mut tx = app.db.db.tenant_write(tenant.id).await.unwrap();
    for id in &durands[..30] {
        contacts::set_trashed(&mut tx, *id, true, chrono::Utc::now())
            .await
            .unwrap()
            .unwrap();
    }
    tx.commit().await.unwrap();
    // Past the first 1,000 in list order: only the index finds them.
    app.add_contacts(&tenant, "Zola", 120).await;
    app.carnet
        .seed_contacts(&TenantContext::system(tenant.id), 400)
        .await
        .unwrap();
    app.add_contacts(&other, "Durand", 20).await;
    app.carnet
        .seed_contacts(&TenantContext::system(other.id), 100)
        .await
        .unwrap();
    let all = everyone(&app, &tenant).await;
    assert_eq!(all.len(), 5590);
    let phone = all
        .iter()
        .find_map(|c| c.input().phones.first().map(|p| p.value.clone()))
        .unwrap();
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let fragment = digits[digits.len() - 6..].to_owned();
    let cases: Vec<Vec<&str>> = vec![
        vec!["durand"],          // a full page among the first contacts
        vec!["dur"],             // idem, shortest indexed term
        vec!["zola"],            // sorted last: the index's matches
        vec!["zola", "1"],       // idem, with a short term
        vec!["du"],              // too short for trigrams: the walk
        vec!["durand42"],        // a few e-mails
        vec!["99@x"],            // 10 in the first 1,000, 51 in all: a wider window
        vec!["mar"],             // demo names: the index
        vec!["eloise", "lef"],   // two terms
        vec!["lef", "e"],        // an indexed term and a short one
        vec![fragment.as_str()], // phone digits
        vec!["zzzqx"],           // nothing
        vec!["50%"],             // a LIKE wildcard, taken literally
        vec!["o\"b"],            // a quote inside an FTS phrase
    ];
    for terms in cases {
        let expected: Vec<ContactId> = all
            .iter()
            .filter(|c| {
                let text = c.input().search_text();
                terms.iter().all(|t| text.contains(t))
            })
            .map(|c| c.id)
            .collect();
        let found = search(&app, &tenant, &terms).await;
        assert_eq!(found, expected, "{terms:?}");
        // Page by page, as the API asks: the first page and the one after its cursor.
        let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
        let first = contacts::list(&mut tx, &query(&terms, 51)).await.unwrap();
        let ids: Vec<ContactId> = first.iter().map(|c| c.id).collect();
        assert_eq!(ids, expected[..expected.len().min(51)], "{terms:?} page 1");
        if let Some(last) = first.last() {
            let after = ListQuery {
                after: Some((SortField::LastName.value_of(last), last.id.0)),
                ..query(&terms, 51)
            };
            let second = page(&mut tx, &after).await;
            let rest = &expected[ids.len()..];
            assert_eq!(second, rest[..rest.len().min(51)], "{terms:?} page 2");
        }
        // The other way round: the first look reads from the list's end.
        let descending = ListQuery {
            descending: true,
            ..query(&terms, 51)
        };
        let ids = page(&mut tx, &descending).await;
        let backwards: Vec<ContactId> = expected.iter().rev().take(51).cloned().collect();
        assert_eq!(ids, backwards, "{terms:?} descending");
    }
    assert!(search(&app, &tenant, &["mar"]).await.len() > 10);
    // Sorted by a time or by creation, through the same first look, pages 1 and 2.
    let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
    for sort in [SortField::UpdatedAt, SortField::CreatedAt] {
        for descending in [false, true] {
            let mut expected: Vec<&carnet_core::contact::Contact> = all
                .iter()
                .filter(|c| c.input().search_text().contains("durand"))
                .collect();
            expected.sort_by_key(|c| {
                let time = (sort == SortField::UpdatedAt).then_some(c.updated_at);
                (time, c.id.0)
            });
            if descending {
                expected.reverse();
            }
            let expected: Vec<ContactId> = expected.iter().map(|c| c.id).collect();
            let ask = |after| ListQuery {
                sort,
                descending,
                after,
                ..query(&["durand"], 51)
            };
            let first = contacts::list(&mut tx, &ask(None)).await.unwrap();
            let ids: Vec<ContactId> = first.iter().map(|c| c.id).collect();
            assert_eq!(ids, expected[..51], "{sort:?} descending={descending}");
            let last = first.last().unwrap();
            let cursor = Some((sort.value_of(last), last.id.0));
            let second = page(&mut tx, &ask(cursor)).await;
            assert_eq!(
                second,
                expected[51..102],
                "{sort:?} descending={descending} page 2"
            );
        }
    }
    drop(tx);
    app.finish().await;
}

/// A name thousands of contacts share, searched in a list sorted by that name: on SQLite its
/// stretch of the sort index is read in order and only the other matches (the name inside
/// another, as a first name, in an e-mail) are read and sorted beside it; the pages, in
/// both directions and after a cursor, are the ones a scan gives, trashed contacts and
/// another tenant's left out.
async fn names_read_from_their_stretch_find_what_a_scan_finds(backend: Backend) {
    let app = TestApp::new(backend).await;
    let tenant = app.carnet.create_tenant("acme", "Acme").await.unwrap();
    let other = app.carnet.create_tenant("other", "Other").await.unwrap();
    // Names sorting before and after the stretch, so that no first look along the list
    // order finds it, whichever the direction.
    app.add_contacts(&tenant, "Abel", 1100).await;
    app.add_contacts(&tenant, "Zzyzx", 1100).await;
    app.add_contacts(&tenant, "Zola", 2100).await;
    app.add_contacts(&tenant, "Zolan", 10).await;
    app.add_contacts(&tenant, "Bazola", 30).await;
    app.add_contacts_with(&tenant, "Martin", 20, &json!({"first_name": "Zola"}))
        .await;
    app.add_contacts_with(
        &tenant,
        "Perrin",
        15,
        &json!({"emails": [{"value": "perrin@zola.fr"}]}),
    )
    .await;
    app.add_contacts_with(&tenant, "Noel", 2100, &json!({"first_name": "Camille"}))
        .await;
    // Each trigram of "noel" in other contacts, never both in one.
    app.add_contacts(&tenant, "Noemi", 3).await;
    app.add_contacts(&tenant, "Joel", 3).await;
    let trashed = app.add_contacts(&tenant, "Zola", 5).await;
    let mut tx = app.db.db.tenant_write(tenant.id).await.unwrap();
    for id in &trashed {
        contacts::set_trashed(&mut tx, *id, true, chrono::Utc::now())
            .await
            .unwrap()
            .unwrap();
    }
    tx.commit().await.unwrap();
    app.add_contacts(&other, "Zola", 50).await;

    let all = everyone(&app, &tenant).await;
    for (terms, sort) in [
        (vec!["zola"], SortField::LastName),
        (vec!["zola", "x.fr"], SortField::LastName),
        (vec!["camille"], SortField::FirstName),
        (vec!["zola"], SortField::FirstName),
    ] {
        for descending in [false, true] {
            let expected = scan(&all, &terms, sort, descending);
            let what = format!("{terms:?} {sort:?} descending={descending}");
            assert!(expected.len() > 100, "{what}");
            let ask = |limit, after| ListQuery {
                sort,
                descending,
                after,
                ..query(&terms, limit)
            };
            let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
            let whole = contacts::list(&mut tx, &ask(100_000, None)).await.unwrap();
            let ids: Vec<ContactId> = whole.iter().map(|c| c.id).collect();
            assert_eq!(ids, expected, "{what}");
            let first = contacts::list(&mut tx, &ask(51, None)).await.unwrap();
            let ids: Vec<ContactId> = first.iter().map(|c| c.id).collect();
            assert_eq!(ids, expected[..51], "{what} page 1");
            let last = first.last().unwrap();
            let cursor = Some((sort.value_of(last), last.id.0));
            let second = contacts::list(&mut tx, &ask(51, cursor)).await.unwrap();
            let ids: Vec<ContactId> = second.iter().map(|c| c.id).collect();
            assert_eq!(ids, expected[51..102], "{what} page 2");
            if backend == Backend::Sqlite && terms.len() == 1 && terms[0] == "zola" {
                // The name's stretch is read in list order from its sort index, the few
                // other matches by rowid.
                let plan = list_plan(&mut tx, &ask(51, None)).await.unwrap();
                let column = match sort {
                    SortField::LastName => "sort_last",
                    _ => "sort_first",
                };
                let stretch = format!(
                    "USING INDEX contacts_{column} (tenant_id=? AND {column}>? AND {column}<?)"
                );
                let expect_stretch = sort == SortField::LastName;
                assert_eq!(plan.contains(&stretch), expect_stretch, "{what}: {plan}");
                if expect_stretch {
                    let (stretch_plan, rest_plan) = plan.split_once("\n--\n").unwrap();
                    assert!(!stretch_plan.contains("TEMP B-TREE"), "{stretch_plan}");
                    assert!(
                        rest_plan.starts_with("SCAN s VIRTUAL TABLE INDEX"),
                        "{rest_plan}"
                    );
                }
            }
        }
    }
    // A name no other contact holds anywhere (2,100 Noels, and no "noel" in any other text),
    // though each of its trigrams is held outside its stretch ("noe" by the Noemis, "oel" by
    // the Joels): its stretch is its matches, told by counting both, and read alone.
    let expected = scan(&all, &["noel"], SortField::LastName, false);
    assert_eq!(expected.len(), 2100);
    let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
    let whole = contacts::list(&mut tx, &query(&["noel"], 100_000))
        .await
        .unwrap();
    let ids: Vec<ContactId> = whole.iter().map(|c| c.id).collect();
    assert_eq!(ids, expected);
    let page = contacts::list(&mut tx, &query(&["noel"], 51))
        .await
        .unwrap();
    let ids: Vec<ContactId> = page.iter().map(|c| c.id).collect();
    assert_eq!(ids, expected[..51]);
    if backend == Backend::Sqlite {
        let plan = list_plan(&mut tx, &query(&["noel"], 51)).await.unwrap();
        assert!(
            plan.contains(
                "USING INDEX contacts_sort_last (tenant_id=? AND sort_last>? AND sort_last<?)"
            ) && !plan.contains("\n--\n"),
            "one statement, on the stretch: {plan}"
        );
    }
    drop(tx);
    // The trash's own search finds the trashed stretch members only.
    let mut in_trash = query(&["zola"], 100);
    in_trash.trashed = true;
    let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
    let mut found: Vec<ContactId> = contacts::list(&mut tx, &in_trash)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    drop(tx);
    found.sort_by_key(|c| c.0);
    let mut want = trashed.clone();
    want.sort_by_key(|c| c.0);
    assert_eq!(found, want);
    app.finish().await;
}

/// Creating, renaming, restoring an archive and deleting a contact reach the index at once;
/// on SQLite a VACUUM keeps the index pointing at the right contacts.
async fn search_follows_every_write(backend: Backend) {
    let app = TestApp::new(backend).await;
    let tenant = app.carnet.create_tenant("acme", "Acme").await.unwrap();
    app.add_contacts(&tenant, "Filler", 50).await;
    let input = |name: &str| ContactInput::from_json(&json!({"last_name": name})).unwrap();
    let id = ContactId::new();
    let mut tx = app.db.db.tenant_write(tenant.id).await.unwrap();
    contacts::insert(&mut tx, id, &input("Zébulon"), None, chrono::Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(search(&app, &tenant, &["zebul"]).await, vec![id]);

    // The SQLite index keeps no positions: a contact holding every trigram of a term, but
    // apart, is among its candidates and must not be among its results.
    let (apart, together) = (ContactId::new(), ContactId::new());
    let mut tx = app.db.db.tenant_write(tenant.id).await.unwrap();
    for (id, name) in [(apart, "Upoxxpon"), (together, "Dupont")] {
        contacts::insert(&mut tx, id, &input(name), None, chrono::Utc::now())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(search(&app, &tenant, &["upon"]).await, vec![together]);
    assert_eq!(search(&app, &tenant, &["xpo"]).await, vec![apart]);

    let mut tx = app.db.db.tenant_write(tenant.id).await.unwrap();
    let current = contacts::get(&mut tx, id).await.unwrap().unwrap();
    contacts::update(&mut tx, &current, &input("Xavière"), chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    assert!(search(&app, &tenant, &["zebul"]).await.is_empty());
    assert_eq!(search(&app, &tenant, &["xavie"]).await, vec![id]);

    // Sort keys and the trash follow too (PostgreSQL copies both into its search table): a
    // renamed contact moves in the order, a trashed one leaves the search for the trash's.
    let renamed = |name: &str| ContactInput::from_json(&json!({"last_name": name})).unwrap();
    let mut tx = app.db.db.tenant_write(tenant.id).await.unwrap();
    let current = contacts::get(&mut tx, apart).await.unwrap().unwrap();
    contacts::update(&mut tx, &current, &renamed("Aupon"), chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        search(&app, &tenant, &["upon"]).await,
        vec![apart, together]
    );
    let mut tx = app.db.db.tenant_write(tenant.id).await.unwrap();
    contacts::set_trashed(&mut tx, together, true, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(search(&app, &tenant, &["upon"]).await, vec![apart]);
    let mut in_trash = query(&["upon"], 100);
    in_trash.trashed = true;
    let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
    let found = contacts::list(&mut tx, &in_trash).await.unwrap();
    drop(tx);
    assert_eq!(
        found.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![together]
    );

    // Rows deleted below the application (a purge) leave the index too.
    let filler = search(&app, &tenant, &["filler"]).await;
    assert_eq!(filler.len(), 50);
    match &app.db.owner {
        DbLocation::Url(url) if url.starts_with("postgres") => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query("DELETE FROM contacts WHERE tenant_id = $1 AND id = ANY($2)")
                .bind(tenant.id.0)
                .bind(filler[..10].iter().map(|i| i.0).collect::<Vec<_>>())
                .execute(&mut c)
                .await
                .unwrap();
            let left: i64 = sqlx::query_scalar("SELECT count(*) FROM contact_search")
                .fetch_one(&mut c)
                .await
                .unwrap();
            assert_eq!(
                left, 43,
                "50 fillers, Xavière, Upoxxpon and Dupont, less 10"
            );
        }
        location => {
            let path = match location {
                DbLocation::DataDir(dir) => dir.join("carnet.sqlite"),
                DbLocation::Url(url) => url.trim_start_matches("sqlite://").into(),
            };
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            for gone in &filler[..10] {
                sqlx::query("DELETE FROM contacts WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.id.0)
                    .bind(gone.0)
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
            c.execute("VACUUM").await.unwrap();
            c.close().await.unwrap();
        }
    }
    let mut want = filler[10..].to_vec();
    want.sort();
    let mut got = search(&app, &tenant, &["filler"]).await;
    got.sort();
    assert_eq!(got, want);
    assert_eq!(search(&app, &tenant, &["xavie"]).await, vec![id]);
    app.finish().await;
}

/// A rare term is looked up in the trigram index and its few contacts read by key, instead of
/// testing every contact of the tenant.
async fn rare_terms_start_from_the_trigram_index(backend: Backend) {
    let app = TestApp::new(backend).await;
    let tenant = app.carnet.create_tenant("acme", "Acme").await.unwrap();
    app.add_contacts(&tenant, "Durand", 3000).await;
    let mut tx = app.db.db.tenant_write(tenant.id).await.unwrap();
    let rare = ContactInput::from_json(&json!({"last_name": "Zébulon"})).unwrap();
    contacts::insert(&mut tx, ContactId::new(), &rare, None, chrono::Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let owner = match &app.db.owner {
        DbLocation::Url(url) if url.starts_with("postgres") => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            c.execute("VACUUM ANALYZE").await.unwrap();
            Some(c)
        }
        _ => None,
    };
    let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
    let plan = list_plan(&mut tx, &query(&["zebulon"], 51)).await.unwrap();
    match backend {
        Backend::Sqlite => {
            assert!(
                plan.starts_with("SCAN s VIRTUAL TABLE INDEX") && plan.contains("(rowid=?)"),
                "the matches drive the query: {plan}"
            );
        }
        Backend::Postgres => {
            assert!(
                plan.contains("contacts_pkey") && plan.contains("unnest"),
                "the matches are read by key: {plan}"
            );
        }
    }
    assert!(
        !plan.contains("contacts_sort_last"),
        "no walk of the tenant: {plan}"
    );
    // A term too short for trigrams walks the sort index, as a list without `q`.
    let plan = list_plan(&mut tx, &query(&["ze"], 51)).await.unwrap();
    assert!(plan.contains("contacts_sort_last"), "{plan}");
    drop(tx);

    if let Some(mut c) = owner {
        // The index the lookup function uses, as its owner, and the wall around it: the
        // application's role cannot read the copied text, only the current tenant's ids.
        c.execute("SET enable_seqscan = off").await.unwrap();
        // The three parts of a run's matches: two sort-key ranges and the trigram index of
        // the rest of the text (migration 0009).
        for (part, index) in [
            (
                "sort_last >= 'zebulon' AND sort_last < 'zebuloo'",
                "contact_search_by_last",
            ),
            (
                "sort_first >= 'zebulon' AND sort_first < 'zebuloo'",
                "contact_search_by_first",
            ),
            (
                "(rest_text LIKE '%zebulon%' OR tail_text LIKE '%zebulon%')",
                "contact_search_rest_trigrams",
            ),
        ] {
            let lines: Vec<String> = sqlx::query_scalar(&format!(
                "EXPLAIN SELECT contact_id FROM contact_search
                 WHERE tenant_id = $1 AND {part} LIMIT 5001"
            ))
            .bind(tenant.id.0)
            .fetch_all(&mut c)
            .await
            .unwrap();
            let plan = lines.join("\n");
            assert!(plan.contains(index), "{part}: {plan}");
            // The trigram index holds the tenant (migration 0013): its scans look for the
            // tenant's rows alone, not for every workspace's matches.
            let trigram_conds: Vec<&String> = lines
                .iter()
                .filter(|l| l.contains("Index Cond") && l.contains("_text ~~"))
                .collect();
            let by_tenant = trigram_conds.iter().all(|l| l.contains("tenant_id"));
            let trigrams = index == "contact_search_rest_trigrams";
            assert_eq!(trigrams, !trigram_conds.is_empty(), "{part}: {plan}");
            assert!(by_tenant, "{part}: {plan}");
        }
        c.execute("SET ROLE carnet_app").await.unwrap();
        let refused = sqlx::query("SELECT count(*) FROM contact_search")
            .execute(&mut c)
            .await;
        assert!(
            refused.is_err(),
            "the application role reads no copied text"
        );
        let ids: Vec<uuid::Uuid> =
            sqlx::query_scalar("SELECT contact_search_ids('zebulon', 'zebuloo', '%zebulon%', 10)")
                .fetch_all(&mut c)
                .await
                .unwrap();
        assert!(ids.is_empty(), "no tenant set, no ids");
        c.close().await.unwrap();
    }
    app.finish().await;
}

/// A search's first look reads the first contacts in list order from the sort index, after
/// the cursor, and stops there: no scan of the tenant, no sort of its contacts.
async fn searches_first_read_the_sort_index(backend: Backend) {
    let app = TestApp::new(backend).await;
    let tenant = app.carnet.create_tenant("acme", "Acme").await.unwrap();
    app.add_contacts(&tenant, "Durand", 3000).await;
    if let DbLocation::Url(url) = &app.db.owner
        && url.starts_with("postgres")
    {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        c.execute("VACUUM ANALYZE").await.unwrap();
        c.close().await.unwrap();
    }
    let all = everyone(&app, &tenant).await;
    let after = |n: usize| ListQuery {
        after: Some((SortField::LastName.value_of(&all[n]), all[n].id.0)),
        ..query(&["durand"], 51)
    };
    let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
    for (q, range) in [
        (
            query(&["durand"], 51),
            "(tenant_id=? AND (sort_last,id)<(?,?))",
        ),
        // 1,000 contacts and more after the cursor: read up to the 1,000th.
        (
            after(99),
            "(tenant_id=? AND (sort_last,id)>(?,?) AND (sort_last,id)<(?,?))",
        ),
        // Fewer: read to the end.
        (after(2499), "(tenant_id=? AND (sort_last,id)>(?,?))"),
    ] {
        let plan = window_plan(&mut tx, &q).await.unwrap().unwrap();
        match backend {
            // The sort index is read from the cursor on, up to the window's last contact
            // (found first from the sort index alone) when there is one; in its order, so
            // that the read stops at the page's last match, nothing sorted again.
            Backend::Sqlite => {
                assert!(
                    plan.contains(&format!("SEARCH c USING INDEX contacts_sort_last {range}")),
                    "{plan}"
                );
                assert!(!plan.contains("TEMP B-TREE"), "{plan}");
            }
            Backend::Postgres => {
                assert!(
                    plan.contains("Index Scan using contacts_sort_last on contacts w"),
                    "{plan}"
                );
                assert!(!plan.contains("Sort"), "{plan}");
                assert!(!plan.contains("Seq Scan"), "{plan}");
            }
        }
    }
    // Terms too short for the index, and e-mail filters, skip the window.
    assert_eq!(
        window_plan(&mut tx, &query(&["du"], 51)).await.unwrap(),
        None
    );
    drop(tx);
    app.finish().await;
}

/// A search finds a term wherever it sits in a contact's text: at the start of a sort key,
/// inside one ("bois" in Dubois), in an e-mail beside digits or punctuation, in a phone
/// number, in a name of several words or of another script, and across punctuation; on
/// PostgreSQL each of these comes from a different part of the search table (migration
/// 0009), written by a bulk insert, a single insert or an update. Every search, sorted by
/// either name, either way, whole or page by page, gives what a scan gives.
async fn runs_inside_names_emails_and_phones_find_what_a_scan_finds(backend: Backend) {
    let app = TestApp::new(backend).await;
    let tenant = app.carnet.create_tenant("acme", "Acme").await.unwrap();
    let other = app.carnet.create_tenant("other", "Other").await.unwrap();
    let people = [
        json!({"last_name": "Dubois", "first_name": "Jean",
               "emails": [{"value": "jean.dubois12@cabinet-dubois.fr"}]}),
        json!({"last_name": "Dubois", "first_name": "Marie",
               "emails": [{"value": "mdubois@x.fr"}]}),
        json!({"last_name": "Duboisier", "first_name": "Luc"}),
        json!({"last_name": "Ledubois", "first_name": "Anne"}),
        json!({"last_name": "Martin", "first_name": "Dubois"}),
        json!({"last_name": "De la Fontaine", "first_name": "Jean",
               "job_title": "Chef de projet"}),
        json!({"last_name": "O'Brien", "first_name": "Seán",
               "phones": [{"value": "+33 6 87 87 27 33"}]}),
        json!({"last_name": "Иванов", "first_name": "Иван",
               "emails": [{"value": "ivanov@x.ru"}]}),
        json!({"last_name": "3M Team", "first_name": "Bob"}),
        json!({"last_name": "Lefèvre", "first_name": "Éloïse"}),
        json!({"first_name": "Bois"}),
        json!({"emails": [{"value": "dubois@nobody.fr"}]}),
    ];
    let inputs: Vec<ContactInput> = people
        .iter()
        .map(|p| ContactInput::from_json(p).unwrap())
        .collect();
    // Half in one bulk insert, half one at a time; then one renamed and one trashed.
    let (bulk, single) = inputs.split_at(inputs.len() / 2);
    let news = contacts::NewContact::each(bulk);
    let mut tx = app.db.db.tenant_write(tenant.id).await.unwrap();
    contacts::insert_many(&mut tx, &news, None, chrono::Utc::now())
        .await
        .unwrap();
    let mut ids: Vec<ContactId> = news.iter().map(|n| n.id).collect();
    for input in single {
        let id = ContactId::new();
        contacts::insert(&mut tx, id, input, None, chrono::Utc::now())
            .await
            .unwrap();
        ids.push(id);
    }
    let renamed = ContactInput::from_json(&json!({"last_name": "Boisdubois", "first_name": "Luc",
        "emails": [{"value": "luc@boisdubois.fr"}]}))
    .unwrap();
    let current = contacts::get(&mut tx, ids[2]).await.unwrap().unwrap();
    contacts::update(&mut tx, &current, &renamed, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    contacts::set_trashed(&mut tx, ids[9], true, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    app.add_contacts(&other, "Dubois", 5).await;
    app.add_contacts(&tenant, "Abel", 30).await;

    let all = everyone(&app, &tenant).await;
    let searches: [&[&str]; 23] = [
        &["dubois"],
        &["mdubois"],
        &["bois"],
        &["ubois"],
        &["dubois12"],
        &["jean.dubois"],
        &["dubois", "jean"],
        &["boisdubois"],
        &["fontaine"],
        &["la", "fontaine"],
        &["de"],
        &["chef"],
        &["o'brien"],
        &["brien"],
        &["seán"],
        &["872733"],
        &["+33"],
        &["иванов"],
        &["ванов"],
        &["3m"],
        &["team"],
        &["eloise"],
        &["cabinet-dubois"],
    ];
    let mut found_some = 0;
    for terms in searches {
        let terms: Vec<String> = terms.iter().map(|t| carnet_core::text::fold(t)).collect();
        let terms: Vec<&str> = terms.iter().map(String::as_str).collect();
        for sort in [SortField::LastName, SortField::FirstName] {
            for descending in [false, true] {
                let expected = scan(&all, &terms, sort, descending);
                found_some += usize::from(!expected.is_empty());
                let what = format!("{terms:?} {sort:?} descending={descending}");
                let ask = |limit, after| ListQuery {
                    sort,
                    descending,
                    after,
                    ..query(&terms, limit)
                };
                let mut tx = app.db.db.tenant_read(tenant.id).await.unwrap();
                let whole = contacts::list(&mut tx, &ask(100_000, None)).await.unwrap();
                let got: Vec<ContactId> = whole.iter().map(|c| c.id).collect();
                assert_eq!(got, expected, "{what}");
                // Two at a time, each page after the last one's cursor.
                let mut paged = Vec::new();
                let mut after = None;
                loop {
                    let page = contacts::list(&mut tx, &ask(2, after)).await.unwrap();
                    paged.extend(page.iter().map(|c| c.id));
                    match page.last() {
                        Some(last) if page.len() == 2 => {
                            after = Some((sort.value_of(last), last.id.0));
                        }
                        _ => break,
                    }
                }
                assert_eq!(paged, expected, "{what}, two at a time");
            }
        }
    }
    assert!(found_some >= 80, "most searches find someone: {found_some}");

    if let DbLocation::Url(url) = &app.db.owner
        && url.starts_with("postgres")
    {
        // The rest text the application writes is the one PostgreSQL computes for rows
        // written without it (restored archives, rows older than the migration).
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        let rows: Vec<(String, String, String, Option<String>, String)> = sqlx::query_as(
            "SELECT search_text, sort_last, sort_first, search_rest,
                    contact_search_rest(search_text, sort_last, sort_first)
             FROM contacts WHERE tenant_id = $1",
        )
        .bind(tenant.id.0)
        .fetch_all(&mut c)
        .await
        .unwrap();
        assert_eq!(rows.len(), all.len() + 1);
        for (text, last, first, rest, computed) in rows {
            assert_eq!(
                rest.as_deref(),
                Some(computed.as_str()),
                "{text} ({last}, {first})"
            );
        }
        c.close().await.unwrap();
    }
    app.finish().await;
}

/// A search asks the index for its own tenant's matches alone. SQLite's index holds every
/// tenant's contacts, and a small workspace searching a word thousands of another's contacts
/// hold read all of those (and took long enough to tell it so): each tenant's contacts now
/// lie in a block of rowids the search keeps to (migration 0011). Contacts written one by
/// one and in bulk, interleaved across the two tenants, all land where their searches look.
async fn searches_read_only_their_own_tenants_matches(backend: Backend) {
    let app = TestApp::new(backend).await;
    let big = app.carnet.create_tenant("big", "Big").await.unwrap();
    let small = app.carnet.create_tenant("small", "Small").await.unwrap();
    let one = |tenant: &Tenant, last_name: &str| {
        let (app, tenant) = (&app, tenant.id);
        let input = ContactInput::from_json(&json!({"last_name": last_name})).unwrap();
        async move {
            let mut tx = app.db.db.tenant_write(tenant).await.unwrap();
            let id = ContactId::new();
            contacts::insert(&mut tx, id, &input, None, chrono::Utc::now())
                .await
                .unwrap();
            tx.commit().await.unwrap();
            id
        }
    };
    app.add_contacts(&big, "Zythologue", 300).await;
    let lone = one(&small, "Zythologue").await;
    app.add_contacts(&small, "Durand", 20).await;
    one(&big, "Durand").await;
    app.add_contacts(&big, "Zythologue", 200).await;

    let matches = |tenant: &Tenant, term: &str| {
        let (app, tenant, terms) = (&app, tenant.id, vec![term.to_owned()]);
        async move {
            let mut tx = app.db.db.tenant_read(tenant).await.unwrap();
            contacts::index_matches(&mut tx, &terms).await.unwrap()
        }
    };
    assert_eq!(matches(&small, "zythologue").await, Some(1));
    assert_eq!(matches(&big, "zythologue").await, Some(500));
    assert_eq!(matches(&small, "durand").await, Some(20));
    assert_eq!(matches(&big, "durand").await, Some(1));
    assert_eq!(matches(&small, "zy").await, None, "too short for trigrams");
    assert_eq!(search(&app, &small, &["zythologue"]).await, vec![lone]);
    assert_eq!(search(&app, &big, &["zythologue"]).await.len(), 500);
    app.finish().await;
}
