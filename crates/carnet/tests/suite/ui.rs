//! The web UI in process: sign-in, session cookie flags, CSRF on every form and API call,
//! forms that keep what was typed and show errors beside their field, language.

use carnet_core::{Role, Scope};
use carnet_testkit::{Backend, TestApp, TestResponse, on_both_backends};
use serde_json::json;

on_both_backends!(
    sign_in_session_and_csrf,
    forms_show_errors_and_keep_input,
    workspace_switcher_and_language,
    import_wizard,
    import_wizard_reads_the_sheet_chosen,
    activities_page_imports_a_calendar,
    contact_page_logs_an_activity,
    activity_pages_edit_trash_and_restore,
    activities_list_filters_by_kind_and_status
);

#[tokio::test]
async fn over_https_the_session_cookie_is_host_prefixed() {
    let config = carnet_web::WebConfig {
        https: true,
        ..carnet_web::WebConfig::default()
    };
    let app = TestApp::with_config(Backend::Sqlite, config).await;
    app.carnet.create_tenant("acme", "Acme SA").await.unwrap();
    app.user("acme", "lea@acme.test", "correct-horse-1", Role::Member)
        .await;
    let form = app.send("GET", "/login", &[], None).await;
    let login_cookie = format!(
        "carnet_login={}",
        cookie_value(&set_cookie(&form, "carnet_login").unwrap())
    );
    let body = format!(
        "_csrf={}&email=lea%40acme.test&password=correct-horse-1",
        hidden_csrf(&form.text)
    );
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("cookie", login_cookie.as_str()),
    ];
    let res = app
        .send("POST", "/login", &headers, Some(body.into_bytes()))
        .await;
    assert_eq!(res.status, 303);
    let session = set_cookie(&res, "__Host-carnet_session").expect("__Host- cookie over HTTPS");
    assert!(
        session.contains("Secure") && session.contains("Path=/") && !session.contains("Domain")
    );
    let cookie = format!("__Host-carnet_session={}", cookie_value(&session));
    let page = app
        .send("GET", "/contacts", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(page.status, 200);
    assert!(page.header("strict-transport-security").is_some());
    let unprefixed = cookie.replace("__Host-", "");
    let plain_name = app
        .send("GET", "/contacts", &[("cookie", &unprefixed)], None)
        .await;
    assert_eq!(
        plain_name.status, 303,
        "the unprefixed cookie is not accepted over HTTPS"
    );
    app.finish().await;
}

fn set_cookie(res: &TestResponse, name: &str) -> Option<String> {
    res.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

fn hidden_csrf(html: &str) -> String {
    let at =
        html.find("name=\"_csrf\" value=\"").expect("csrf field") + "name=\"_csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// Signs in through the form and returns (session cookie header, csrf token).
async fn sign_in(app: &TestApp, email: &str, password: &str) -> (String, String) {
    let form = app.send("GET", "/login", &[], None).await;
    let login_cookie = cookie_value(&set_cookie(&form, "carnet_login").unwrap());
    let csrf = hidden_csrf(&form.text);
    let body = format!(
        "_csrf={csrf}&email={}&password={password}",
        email.replace('@', "%40")
    );
    let res = app
        .send(
            "POST",
            "/login",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("cookie", &format!("carnet_login={login_cookie}")),
            ],
            Some(body.into_bytes()),
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.text);
    let session = set_cookie(&res, "carnet_session").expect("session cookie");
    for flag in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(flag), "{session} lacks {flag}");
    }
    let cookie = format!("carnet_session={}", cookie_value(&session));
    let page = app
        .send("GET", "/contacts", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(page.status, 200);
    (cookie, hidden_csrf(&page.text))
}

async fn sign_in_session_and_csrf(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.carnet.create_tenant("acme", "Acme SA").await.unwrap();
    app.user("acme", "lea@acme.test", "correct-horse-1", Role::Member)
        .await;

    let anonymous = app.send("GET", "/contacts", &[], None).await;
    assert_eq!(anonymous.status, 303);
    assert_eq!(anonymous.header("location"), Some("/login"));
    let htmx = app
        .send("GET", "/contacts?q=a", &[("hx-request", "true")], None)
        .await;
    assert_eq!(
        htmx.header("hx-redirect"),
        Some("/login"),
        "htmx navigates to the login page"
    );

    // Wrong password, and a form posted without its CSRF token, are both refused.
    let form = app.send("GET", "/login", &[], None).await;
    let login_cookie = format!(
        "carnet_login={}",
        cookie_value(&set_cookie(&form, "carnet_login").unwrap())
    );
    let csrf = hidden_csrf(&form.text);
    let wrong = app
        .send(
            "POST",
            "/login",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("cookie", &login_cookie),
            ],
            Some(format!("_csrf={csrf}&email=lea%40acme.test&password=nope").into_bytes()),
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.text.contains("lea@acme.test"),
        "the e-mail typed is kept"
    );
    let forged = app
        .send(
            "POST",
            "/login",
            &[("content-type", "application/x-www-form-urlencoded")],
            Some(b"_csrf=x&email=lea%40acme.test&password=correct-horse-1".to_vec()),
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(set_cookie(&forged, "carnet_session").is_none());

    let (cookie, csrf) = sign_in(&app, "lea@acme.test", "correct-horse-1").await;
    let page = app
        .send("GET", "/contacts", &[("cookie", &cookie)], None)
        .await;
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'")
    );
    assert!(!page.text.contains("<script>"), "no inline scripts");

    // The API accepts the session, but unsafe methods need the CSRF header.
    let list = app
        .send("GET", "/api/v1/contacts", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(list.status, 200);
    let body = json!({"last_name": "Martin"}).to_string().into_bytes();
    let no_token = app
        .send(
            "POST",
            "/api/v1/contacts",
            &[("cookie", &cookie), ("content-type", "application/json")],
            Some(body.clone()),
        )
        .await;
    assert_eq!(no_token.status, 403);
    assert_eq!(no_token.error_fields(), ["X-CSRF-Token"]);
    let with_token = app
        .send(
            "POST",
            "/api/v1/contacts",
            &[
                ("cookie", &cookie),
                ("content-type", "application/json"),
                ("x-csrf-token", &csrf),
            ],
            Some(body),
        )
        .await;
    assert_eq!(with_token.status, 201, "{}", with_token.text);
    assert!(
        with_token.json["owner_id"].as_str().is_some(),
        "the signed-in user owns what they create"
    );

    // UI forms without the token are refused and change nothing.
    let form_post = app
        .send(
            "POST",
            "/contacts",
            &[
                ("cookie", &cookie),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Some(b"last_name=Forged".to_vec()),
        )
        .await;
    assert_eq!(form_post.status, 403);
    let page = app
        .send("GET", "/contacts", &[("cookie", &cookie)], None)
        .await;
    assert!(page.text.contains("Martin") && !page.text.contains("Forged"));

    // Signing out revokes the session server-side.
    let out = app
        .send(
            "POST",
            "/logout",
            &[
                ("cookie", &cookie),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Some(format!("_csrf={csrf}").into_bytes()),
        )
        .await;
    assert_eq!(out.status, 303);
    let after = app
        .send("GET", "/api/v1/contacts", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(after.status, 401);
    app.finish().await;
}

async fn forms_show_errors_and_keep_input(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.carnet.create_tenant("acme", "Acme SA").await.unwrap();
    app.user("acme", "lea@acme.test", "correct-horse-1", Role::Admin)
        .await;
    let (cookie, csrf) = sign_in(&app, "lea@acme.test", "correct-horse-1").await;
    let headers = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];

    let bad = format!(
        "_csrf={csrf}&first_name=%C3%89lo%C3%AFse&last_name=&email_label=work&email_value=pas-un-email&phone_label=mobile&phone_value=&tags=VIP"
    );
    let res = app
        .send("POST", "/contacts", &headers, Some(bad.into_bytes()))
        .await;
    assert_eq!(res.status, 422);
    assert!(
        res.text.contains("value=\"Éloïse\""),
        "typed first name kept"
    );
    assert!(
        res.text.contains("value=\"pas-un-email\""),
        "typed e-mail kept"
    );
    assert!(
        res.text.contains("id=\"email_error_1\""),
        "error beside the e-mail field: {}",
        res.text
    );
    assert!(res.text.contains("aria-invalid=\"true\""));
    assert!(
        res.text.contains("n’est pas une adresse e-mail valide"),
        "the reason in the page's language: {}",
        res.text
    );

    let good = format!(
        "_csrf={csrf}&first_name=%C3%89lo%C3%AFse&last_name=Lef%C3%A8vre&email_label=work&email_value=eloise%40exemple.fr&phone_label=mobile&phone_value=%2B33+6+12+34+56+78&tags=VIP%2C+Client"
    );
    let created = app
        .send("POST", "/contacts", &headers, Some(good.into_bytes()))
        .await;
    assert_eq!(created.status, 303);
    let location = created.header("location").unwrap().to_owned();
    assert!(location.ends_with("?done=created"));
    let show = app
        .send("GET", &location, &[("cookie", &cookie)], None)
        .await;
    assert!(
        show.text.contains("Éloïse Lefèvre")
            && show.text.contains("+33 6 12 34 56 78")
            && show.text.contains("Client")
    );
    assert!(show.text.contains("role=\"status\""), "a toast confirms");

    // Live search returns only the results for htmx requests.
    let partial = app
        .send(
            "GET",
            "/contacts?q=eloise",
            &[("cookie", &cookie), ("hx-request", "true")],
            None,
        )
        .await;
    assert!(partial.text.contains("Lefèvre") && !partial.text.contains("<html"));
    assert_eq!(partial.header("hx-push-url"), Some("/contacts?q=eloise"));
    let none = app
        .send(
            "GET",
            "/contacts?q=zzz",
            &[("cookie", &cookie), ("hx-request", "true")],
            None,
        )
        .await;
    assert!(!none.text.contains("Lefèvre"));

    // Edit, then delete and restore through the forms.
    let id = location
        .trim_start_matches("/contacts/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let edit = format!(
        "_csrf={csrf}&first_name=Elo&last_name=Lef%C3%A8vre&job_title=G%C3%A9rante&email_label=work&email_value=eloise%40exemple.fr&tags="
    );
    let saved = app
        .send(
            "POST",
            &format!("/contacts/{id}"),
            &headers,
            Some(edit.into_bytes()),
        )
        .await;
    assert_eq!(saved.status, 303);
    let deleted = app
        .send(
            "POST",
            &format!("/contacts/{id}/delete"),
            &headers,
            Some(format!("_csrf={csrf}").into_bytes()),
        )
        .await;
    assert_eq!(deleted.status, 303);
    let trash = app
        .send(
            "GET",
            "/contacts?filter%5Btrashed%5D=true",
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert!(trash.text.contains("Elo Lefèvre"));
    let restored = app
        .send(
            "POST",
            &format!("/contacts/{id}/restore"),
            &headers,
            Some(format!("_csrf={csrf}").into_bytes()),
        )
        .await;
    assert_eq!(restored.status, 303);
    let list = app
        .send("GET", "/contacts", &[("cookie", &cookie)], None)
        .await;
    assert!(list.text.contains("Elo Lefèvre"));
    let show = app
        .send(
            "GET",
            &format!("/contacts/{id}"),
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert!(show.text.contains("Gérante"));
    assert!(
        !show.text.contains("+33 6 12"),
        "the phone row left empty was cleared"
    );
    app.finish().await;
}

async fn workspace_switcher_and_language(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.carnet
        .create_tenant("alpha", "Alpha SARL")
        .await
        .unwrap();
    app.carnet.create_tenant("beta", "Beta SAS").await.unwrap();
    app.user(
        "alpha",
        "agent@agence.test",
        "correct-horse-1",
        Role::Member,
    )
    .await;
    app.user(
        "beta",
        "agent@agence.test",
        "ignored-password",
        Role::Readonly,
    )
    .await;
    let (cookie, csrf) = sign_in(&app, "agent@agence.test", "correct-horse-1").await;
    let headers = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];

    let page = app
        .send(
            "GET",
            "/contacts",
            &[("cookie", &cookie), ("accept-language", "fr-FR")],
            None,
        )
        .await;
    assert!(
        page.text.contains("Alpha SARL") && page.text.contains("Beta SAS"),
        "switcher lists both"
    );
    assert!(page.text.contains("Nouveau contact"), "French by default");
    let created = app
        .send(
            "POST",
            "/contacts",
            &headers,
            Some(format!("_csrf={csrf}&last_name=DansAlpha").into_bytes()),
        )
        .await;
    assert_eq!(created.status, 303);

    let switched = app
        .send(
            "POST",
            "/workspace",
            &headers,
            Some(format!("_csrf={csrf}&slug=beta").into_bytes()),
        )
        .await;
    assert_eq!(switched.status, 303);
    let beta = app
        .send("GET", "/contacts", &[("cookie", &cookie)], None)
        .await;
    assert!(
        !beta.text.contains("DansAlpha"),
        "beta does not show alpha's contacts"
    );
    let refused = app
        .send(
            "POST",
            "/contacts",
            &headers,
            Some(format!("_csrf={csrf}&last_name=Lecteur").into_bytes()),
        )
        .await;
    assert_eq!(refused.status, 403, "read-only in beta");
    let not_mine = app
        .send(
            "POST",
            "/workspace",
            &headers,
            Some(format!("_csrf={csrf}&slug=gamma").into_bytes()),
        )
        .await;
    assert_eq!(not_mine.status, 404);

    let english = app
        .send(
            "POST",
            "/language",
            &headers,
            Some(format!("_csrf={csrf}&lang=en").into_bytes()),
        )
        .await;
    assert_eq!(english.status, 303);
    let page = app
        .send(
            "GET",
            "/contacts",
            &[("cookie", &cookie), ("accept-language", "fr-FR")],
            None,
        )
        .await;
    assert!(
        page.text.contains("<html lang=\"en\">") && page.text.contains("Sign out"),
        "the user's setting wins"
    );
    app.finish().await;
}

/// The import wizard without a browser: upload (CSRF-checked), the mapping step and its
/// preview, starting, the report; another workspace cannot see the import.
async fn import_wizard(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.carnet.create_tenant("acme", "Acme SA").await.unwrap();
    app.carnet.create_tenant("other", "Other SA").await.unwrap();
    app.user("acme", "lea@acme.test", "correct-horse-1", Role::Member)
        .await;
    app.user("other", "olga@other.test", "correct-horse-1", Role::Member)
        .await;
    let (cookie, csrf) = sign_in(&app, "lea@acme.test", "correct-horse-1").await;
    let page = app
        .send("GET", "/imports/new", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("enctype=\"multipart/form-data\""));

    let file = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/contacts/excel-fr-windows-1252.csv"
    ))
    .unwrap();
    let upload = |fields: Vec<(&'static str, String)>| {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        carnet_testkit::multipart("export.csv", &file, &fields)
    };
    let (content_type, body) = upload(vec![]);
    let forged = app
        .send(
            "POST",
            "/imports",
            &[("cookie", &cookie), ("content-type", &content_type)],
            Some(body),
        )
        .await;
    assert_eq!(forged.status, 403, "no CSRF token, no upload");
    let (content_type, body) = upload(vec![("_csrf", csrf.clone())]);
    let res = app
        .send(
            "POST",
            "/imports",
            &[("cookie", &cookie), ("content-type", &content_type)],
            Some(body),
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.text);
    let location = res.header("location").unwrap().to_owned();
    let mapping = app
        .send("GET", &location, &[("cookie", &cookie)], None)
        .await;
    assert_eq!(mapping.status, 200);
    assert!(mapping.text.contains("windows-1252"), "{}", mapping.text);
    assert!(mapping.text.contains("Éloïse Lefèvre"));
    assert!(mapping.text.contains("#VIP #Client"));

    // Seven columns; the last one (Étiquettes) ignored: the preview follows.
    let form = |last: &str, extra: &str| {
        let mut body = format!("_csrf={csrf}");
        for i in 0..7 {
            body.push_str("&map=");
            if i == 6 {
                body.push_str(last);
            }
        }
        body.push_str(extra);
        body.into_bytes()
    };
    let headers = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let preview = app
        .send(
            "POST",
            &format!("{location}/preview"),
            &headers,
            Some(form("ignore", "")),
        )
        .await;
    assert_eq!(preview.status, 200);
    assert!(preview.text.contains("Éloïse Lefèvre") && !preview.text.contains("#VIP"));
    let bad = app
        .send(
            "POST",
            &format!("{location}/preview"),
            &headers,
            Some(form("phone%3Afax", "")),
        )
        .await;
    assert!(
        bad.text.contains("role=\"alert\"") && bad.text.contains("phone:fax"),
        "{}",
        bad.text
    );

    let started = app
        .send(
            "POST",
            &format!("{location}/start"),
            &headers,
            Some(form("", "&mode=upsert&match=email")),
        )
        .await;
    assert_eq!(started.status, 303);
    let waiting = app
        .send("GET", &location, &[("cookie", &cookie)], None)
        .await;
    assert!(
        waiting.text.contains("En attente") && waiting.text.contains("every 1s"),
        "{}",
        waiting.text
    );
    while app
        .carnet
        .run_next_job("test-worker")
        .await
        .unwrap()
        .is_some()
    {}
    let report = app
        .send(
            "GET",
            &format!("{location}/progress"),
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert!(
        report.text.contains("id=\"count-created\">3<"),
        "{}",
        report.text
    );
    assert!(report.text.contains("emails[0].value"));
    assert!(
        report.text.contains("n’est pas une adresse e-mail valide"),
        "the reason in the page's language: {}",
        report.text
    );
    assert!(
        !report.text.contains("every 1s"),
        "a finished import is not polled"
    );
    // Starting twice changes nothing.
    let again = app
        .send(
            "POST",
            &format!("{location}/start"),
            &headers,
            Some(form("", "")),
        )
        .await;
    assert_eq!(again.status, 303);
    assert!(
        app.carnet
            .run_next_job("test-worker")
            .await
            .unwrap()
            .is_none()
    );

    let listed = app
        .send("GET", "/imports/new", &[("cookie", &cookie)], None)
        .await;
    assert!(
        listed
            .text
            .contains(&format!("<a href=\"{location}\">export.csv</a>")),
        "recent imports listed: {}",
        listed.text
    );
    let (other, _) = sign_in(&app, "olga@other.test", "correct-horse-1").await;
    let hidden = app
        .send("GET", &location, &[("cookie", &other)], None)
        .await;
    assert_eq!(hidden.status, 404);
    app.finish().await;
}

/// An Excel workbook in the wizard: its sheets listed, the one chosen previewed and imported.
async fn import_wizard_reads_the_sheet_chosen(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.carnet.create_tenant("acme", "Acme SA").await.unwrap();
    app.user("acme", "lea@acme.test", "correct-horse-1", Role::Member)
        .await;
    let (cookie, csrf) = sign_in(&app, "lea@acme.test", "correct-horse-1").await;
    let file = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/contacts/workbook.xlsx"
    ))
    .unwrap();
    let (content_type, body) =
        carnet_testkit::multipart("classeur.xlsx", &file, &[("_csrf", csrf.as_str())]);
    let res = app
        .send(
            "POST",
            "/imports",
            &[("cookie", &cookie), ("content-type", &content_type)],
            Some(body),
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.text);
    let location = res.header("location").unwrap().to_owned();
    let first = app
        .send("GET", &location, &[("cookie", &cookie)], None)
        .await;
    assert!(
        first.text.contains("<option value=\"Contacts\""),
        "{}",
        first.text
    );
    assert!(
        first.text.contains("sheet `Notes`"),
        "the first sheet by default"
    );
    let chosen = app
        .send(
            "GET",
            &format!("{location}?sheet=Contacts"),
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert!(chosen.text.contains("sheet `Contacts`"), "{}", chosen.text);
    assert!(chosen.text.contains("Éloïse Lefèvre") && chosen.text.contains("王"));
    let headers = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let started = app
        .send(
            "POST",
            &format!("{location}/start"),
            &headers,
            Some(format!("_csrf={csrf}&sheet=Contacts&mode=upsert&match=email").into_bytes()),
        )
        .await;
    assert_eq!(started.status, 303);
    while app
        .carnet
        .run_next_job("test-worker")
        .await
        .unwrap()
        .is_some()
    {}
    let report = app
        .send(
            "GET",
            &format!("{location}/progress"),
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert!(
        report.text.contains("id=\"count-created\">3<"),
        "{}",
        report.text
    );
    app.finish().await;
}

async fn activities_page_imports_a_calendar(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.carnet.create_tenant("acme", "Acme SA").await.unwrap();
    app.user("acme", "lea@acme.test", "correct-horse-1", Role::Member)
        .await;
    let (cookie, csrf) = sign_in(&app, "lea@acme.test", "correct-horse-1").await;
    let empty = app
        .send("GET", "/activities", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(empty.status, 200);
    assert!(
        empty.text.contains("Aucune activité pour l’instant"),
        "{}",
        empty.text
    );
    assert!(empty.text.contains("/api/v1/activities/export?format=ics"));

    // A contact whose address an attendee has.
    let form =
        "_csrf=CSRF&first_name=Ana&last_name=Martin&email_label=work&email_value=ana%40exemple.fr"
            .replace("CSRF", &csrf);
    let created = app
        .send(
            "POST",
            "/contacts",
            &[
                ("cookie", &cookie),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Some(form.into_bytes()),
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.text);
    let location = created.header("location").unwrap();
    let contact = location.split('?').next().unwrap().to_owned();

    let ics = b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:e1\r\nDTSTART:20261201T090000Z\r\nSUMMARY:Bilan <annuel>\r\n\
        ATTENDEE:mailto:ana@exemple.fr\r\nEND:VEVENT\r\nBEGIN:VTODO\r\nUID:t1\r\nDTSTART:20261202T090000Z\r\nEND:VTODO\r\n\
        END:VCALENDAR\r\n";
    let send = |fields: Vec<(&'static str, String)>| {
        let app = &app;
        let cookie = cookie.clone();
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (content_type, body) = carnet_testkit::multipart("agenda.ics", ics, &fields);
            app.send(
                "POST",
                "/activities/import",
                &[("cookie", &cookie), ("content-type", &content_type)],
                Some(body),
            )
            .await
        }
    };
    assert_eq!(send(vec![]).await.status, 403, "no CSRF token, no import");
    let dry = send(vec![("_csrf", csrf.clone()), ("dry_run", "true".into())]).await;
    assert_eq!(dry.status, 200, "{}", dry.text);
    assert!(dry.text.contains("Simulation de l’import"));
    let report = send(vec![("_csrf", csrf.clone())]).await;
    assert_eq!(report.status, 200);
    assert!(
        report.text.contains("id=\"count-created\">1<"),
        "{}",
        report.text
    );
    assert!(report.text.contains("id=\"count-refused\">1<"));
    assert!(
        report.text.contains("SUMMARY"),
        "the refused event's property is named"
    );

    let list = app
        .send("GET", "/activities", &[("cookie", &cookie)], None)
        .await;
    assert!(
        list.text.contains("Bilan &#60;annuel&#62;"),
        "escaped: {}",
        list.text
    );
    assert!(
        list.text
            .contains(&format!("<a href=\"{contact}\">Ana Martin</a>"))
    );
    assert!(list.text.contains("Rendez-vous"));
    let page = app
        .send("GET", &contact, &[("cookie", &cookie)], None)
        .await;
    assert!(
        page.text.contains("id=\"contact-activities\""),
        "{}",
        page.text
    );
    assert!(page.text.contains("Bilan &#60;annuel&#62;"));

    // A file that is no calendar comes back to the list with the reason.
    let (content_type, body) =
        carnet_testkit::multipart("notes.txt", b"hello", &[("_csrf", csrf.as_str())]);
    let refused = app
        .send(
            "POST",
            "/activities/import",
            &[("cookie", &cookie), ("content-type", &content_type)],
            Some(body),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.text.contains("pas un calendrier iCalendar lisible"),
        "{}",
        refused.text
    );
    app.finish().await;
}

async fn contact_page_logs_an_activity(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.carnet.create_tenant("acme", "Acme SA").await.unwrap();
    app.user("acme", "lea@acme.test", "correct-horse-1", Role::Member)
        .await;
    app.user("acme", "rob@acme.test", "correct-horse-2", Role::Readonly)
        .await;
    let (cookie, csrf) = sign_in(&app, "lea@acme.test", "correct-horse-1").await;
    let form_headers = |cookie: &str| {
        vec![
            ("cookie".to_owned(), cookie.to_owned()),
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
        ]
    };
    let post = |path: String, cookie: String, body: String| {
        let app = &app;
        let headers = form_headers(&cookie);
        async move {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            app.send("POST", &path, &headers, Some(body.into_bytes()))
                .await
        }
    };
    let created = post(
        "/contacts".into(),
        cookie.clone(),
        format!("_csrf={csrf}&first_name=Ana&last_name=Martin"),
    )
    .await;
    assert_eq!(created.status, 303, "{}", created.text);
    let contact = created
        .header("location")
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let contact_id = contact.trim_start_matches("/contacts/").to_owned();
    let action = format!("{contact}/activities");

    let page = app
        .send("GET", &contact, &[("cookie", &cookie)], None)
        .await;
    assert!(
        page.text.contains(&format!("action=\"{action}\"")),
        "{}",
        page.text
    );
    assert!(page.text.contains("type=\"datetime-local\""));
    assert!(page.text.contains("Consigner une activité"));

    // No CSRF token, nothing logged.
    let forged = post(
        action.clone(),
        cookie.clone(),
        "subject=x&starts_at=2026-12-01T09%3A30".into(),
    )
    .await;
    assert_eq!(forged.status, 403, "{}", forged.text);

    // Refused: the form comes back as typed, each reason beside its field.
    let refused = post(
        action.clone(),
        cookie.clone(),
        format!("_csrf={csrf}&kind=task&subject=&starts_at=demain&location=Salle+B"),
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(refused.text.contains("L’activité n’a pas été enregistrée"));
    assert!(refused.text.contains("id=\"activity-subject-error\""));
    assert!(refused.text.contains("id=\"activity-starts-error\""));
    assert!(
        refused.text.contains("value=\"Salle B\""),
        "typed input kept"
    );
    assert!(refused.text.contains("value=\"demain\""));
    assert!(refused.text.contains("<option value=\"task\" selected>"));

    // Logged: back to the contact, which lists it.
    let logged = post(
        action.clone(),
        cookie.clone(),
        format!(
            "_csrf={csrf}&kind=meeting&subject=Bilan+%3Cannuel%3E&starts_at=2026-12-01T09%3A30\
             &ends_at=2026-12-01T10%3A15&location=&description=Ordre+du+jour+%3A%0D%0A-+comptes&done=on"
        ),
    )
    .await;
    assert_eq!(logged.status, 303, "{}", logged.text);
    let back = logged.header("location").unwrap().to_owned();
    assert_eq!(back, format!("{contact}?done=activity"));
    let shown = app.send("GET", &back, &[("cookie", &cookie)], None).await;
    assert!(shown.text.contains("Activité consignée."), "{}", shown.text);
    assert!(shown.text.contains("Bilan &#60;annuel&#62;"));
    assert!(shown.text.contains("01/12/2026 09:30"));

    // Exactly what was typed, times read as UTC, owned by the person who logged it.
    let (_, key) = app
        .carnet
        .create_api_key("acme", "check", &[Scope::Read])
        .await
        .unwrap();
    let listed = app
        .api(
            &key,
            "GET",
            &format!("/api/v1/activities?filter%5Bcontact_id%5D={contact_id}"),
            None,
        )
        .await;
    let data = listed.json["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{}", listed.text);
    let a = &data[0];
    assert_eq!(a["kind"], "meeting");
    assert_eq!(a["subject"], "Bilan <annuel>");
    assert_eq!(a["starts_at"], "2026-12-01T09:30:00Z");
    assert_eq!(a["ends_at"], "2026-12-01T10:15:00Z");
    assert_eq!(
        a["description"], "Ordre du jour :\n- comptes",
        "line breaks as stored"
    );
    assert!(a["location"].is_null(), "{a}");
    assert_eq!(a["done"], true);
    assert!(a["owner_id"].is_string(), "{a}");

    // A task still to do is marked done from the page, with the version the page showed.
    let task = post(
        action.clone(),
        cookie.clone(),
        format!("_csrf={csrf}&kind=task&subject=Relancer&starts_at=2026-12-03T08%3A00"),
    )
    .await;
    assert_eq!(task.status, 303, "{}", task.text);
    let shown = app
        .send("GET", &contact, &[("cookie", &cookie)], None)
        .await;
    let start = shown
        .text
        .find("action=\"/activities/")
        .expect("a mark-done form for the task")
        + "action=\"".len();
    let done_action = shown.text[start..].split('"').next().unwrap().to_owned();
    assert_eq!(
        shown.text.matches("action=\"/activities/").count(),
        1,
        "only activities still to do offer it"
    );
    let task_id = done_action
        .trim_start_matches("/activities/")
        .trim_end_matches("/done")
        .to_owned();
    let stale = post(
        done_action.clone(),
        cookie.clone(),
        format!("_csrf={csrf}&version=7"),
    )
    .await;
    assert_eq!(stale.status, 303, "{}", stale.text);
    assert_eq!(
        stale.header("location"),
        Some(format!("{contact}?done=activity_stale").as_str())
    );
    let task_json = |key: String| {
        let app = &app;
        let path = format!("/api/v1/activities/{task_id}");
        async move { app.api(&key, "GET", &path, None).await.json }
    };
    assert_eq!(
        task_json(key.clone()).await["done"],
        false,
        "a stale form changes nothing"
    );
    let marked = post(
        done_action.clone(),
        cookie.clone(),
        format!("_csrf={csrf}&version=1"),
    )
    .await;
    assert_eq!(
        marked.header("location"),
        Some(format!("{contact}?done=activity_done").as_str()),
        "{}",
        marked.text
    );
    assert_eq!(task_json(key.clone()).await["done"], true);
    let shown = app
        .send(
            "GET",
            marked.header("location").unwrap(),
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert!(shown.text.contains("Activité marquée comme faite."));
    assert!(!shown.text.contains("action=\"/activities/"));
    assert_eq!(
        post(done_action.clone(), cookie.clone(), "version=2".into())
            .await
            .status,
        403,
        "no CSRF token"
    );

    // A read-only member sees the contact but cannot log anything.
    let (rob, rob_csrf) = sign_in(&app, "rob@acme.test", "correct-horse-2").await;
    let denied = post(
        action.clone(),
        rob,
        format!("_csrf={rob_csrf}&kind=call&subject=Appel&starts_at=2026-12-02T09%3A00"),
    )
    .await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    let after = app
        .api(
            &key,
            "GET",
            &format!("/api/v1/activities?filter%5Bcontact_id%5D={contact_id}"),
            None,
        )
        .await;
    assert_eq!(after.json["data"].as_array().unwrap().len(), 2);

    // A contact in the trash takes no new activity, and the page says why.
    let trashed = post(
        format!("{contact}/delete"),
        cookie.clone(),
        format!("_csrf={csrf}"),
    )
    .await;
    assert_eq!(trashed.status, 303, "{}", trashed.text);
    let refused = post(
        action.clone(),
        cookie.clone(),
        format!("_csrf={csrf}&kind=call&subject=Appel&starts_at=2026-12-02T09%3A00"),
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(refused.text.contains("contact_id: "), "{}", refused.text);
    assert!(
        !refused.text.contains("id=\"log-activity\""),
        "no form on a contact in the trash"
    );
    app.finish().await;
}

/// An activity is changed from its edit page (only what the form changes is written: a start
/// with fractions of a second, left alone, keeps them), refused with the reasons beside the
/// fields, not overwritten from a stale page, moved to the trash and restored from the trash's
/// list; read-only members and forged posts change nothing.
async fn activity_pages_edit_trash_and_restore(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.carnet.create_tenant("acme", "Acme SA").await.unwrap();
    app.user("acme", "lea@acme.test", "correct-horse-1", Role::Member)
        .await;
    app.user("acme", "rob@acme.test", "correct-horse-2", Role::Readonly)
        .await;
    let (cookie, csrf) = sign_in(&app, "lea@acme.test", "correct-horse-1").await;
    let (_, key) = app
        .carnet
        .create_api_key("acme", "check", &[Scope::Read, Scope::Write])
        .await
        .unwrap();
    let contact = app
        .api(
            &key,
            "POST",
            "/api/v1/contacts",
            Some(json!({"last_name": "Martin"})),
        )
        .await;
    let contact_id = contact.json["id"].as_str().unwrap().to_owned();
    let made = app
        .api(
            &key,
            "POST",
            "/api/v1/activities",
            Some(json!({
                "kind": "meeting", "subject": "Bilan", "location": "Salle B",
                "starts_at": "2026-12-01T09:30:15.250Z", "ends_at": "2026-12-01T10:00:00Z",
                "contact_id": contact_id
            })),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let id = made.json["id"].as_str().unwrap().to_owned();
    let api_path = format!("/api/v1/activities/{id}");
    let contact_page = format!("/contacts/{contact_id}");
    let edit_path = format!("/activities/{id}/edit");
    let post = |path: String, cookie: String, body: String| {
        let app = &app;
        async move {
            let headers = [
                ("cookie", cookie.as_str()),
                ("content-type", "application/x-www-form-urlencoded"),
            ];
            app.send("POST", &path, &headers, Some(body.into_bytes()))
                .await
        }
    };
    let get = |path: String| {
        let app = &app;
        let cookie = cookie.clone();
        async move { app.send("GET", &path, &[("cookie", &cookie)], None).await }
    };

    // The contact's page links to the edit page, which shows the activity as it is.
    let shown = get(contact_page.clone()).await;
    assert!(
        shown.text.contains(&format!("href=\"{edit_path}\"")),
        "{}",
        shown.text
    );
    let edit = get(edit_path.clone()).await;
    assert_eq!(edit.status, 200, "{}", edit.text);
    for expected in [
        "value=\"Bilan\"",
        "value=\"2026-12-01T09:30:15\"",
        "value=\"2026-12-01T10:00\"",
        "value=\"Salle B\"",
        "<option value=\"meeting\" selected>",
        "name=\"version\" value=\"1\"",
        &format!("action=\"/activities/{id}/delete\""),
    ] {
        assert!(edit.text.contains(expected), "{expected}: {}", edit.text);
    }
    let form = |fields: &str, version: i64| {
        format!(
            "_csrf={csrf}&version={version}&kind=meeting&starts_at=2026-12-01T09%3A30%3A15\
             &ends_at=2026-12-01T10%3A00&description=&{fields}"
        )
    };
    let update = format!("/activities/{id}");

    // Forged (no CSRF token) and read-only: nothing changes.
    let forged = post(
        update.clone(),
        cookie.clone(),
        "subject=Pirate&version=1".into(),
    )
    .await;
    assert_eq!(forged.status, 403, "{}", forged.text);
    let (rob, rob_csrf) = sign_in(&app, "rob@acme.test", "correct-horse-2").await;
    let denied = post(
        update.clone(),
        rob.clone(),
        format!("_csrf={rob_csrf}&version=1&subject=Lu"),
    )
    .await;
    assert_eq!(denied.status, 403, "{}", denied.text);

    // Refused: the form comes back as typed, with the reason beside its field.
    let refused = post(
        update.clone(),
        cookie.clone(),
        form("subject=&location=Salle+C", 1),
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(refused.text.contains("id=\"activity-subject-error\""));
    assert!(
        refused.text.contains(
            "<p class=\"field-error\" id=\"activity-subject-error\">ne doit pas être vide</p>"
        ),
        "{}",
        refused.text
    );
    assert!(
        refused.text.contains("value=\"Salle C\""),
        "typed input kept"
    );
    assert_eq!(app.api(&key, "GET", &api_path, None).await.json, made.json);

    // Saved: back to the contact; the subject changed, the emptied location is cleared,
    // the start (shown without its fraction of a second) is exactly what it was.
    let saved = post(
        update.clone(),
        cookie.clone(),
        form("subject=Bilan+annuel&location=", 1),
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.text);
    let back = saved.header("location").unwrap().to_owned();
    assert_eq!(back, format!("{contact_page}?done=activity_saved"));
    assert!(get(back).await.text.contains("Activité enregistrée."));
    let now = app.api(&key, "GET", &api_path, None).await.json;
    assert_eq!(now["subject"], "Bilan annuel");
    assert!(now["location"].is_null(), "{now}");
    assert_eq!(now["starts_at"], made.json["starts_at"]);
    assert_eq!(now["ends_at"], made.json["ends_at"]);
    assert_eq!(now["version"], 2);

    // A page showing version 1 is stale now: it says so and overwrites nothing.
    let stale = post(update.clone(), cookie.clone(), form("subject=Ancien", 1)).await;
    assert_eq!(stale.status, 409, "{}", stale.text);
    assert!(
        stale.text.contains("Cette activité a été modifiée"),
        "{}",
        stale.text
    );
    assert_eq!(
        app.api(&key, "GET", &api_path, None).await.json["subject"],
        "Bilan annuel"
    );

    // To the trash (from a current page only), and back from the trash's list.
    let trash = format!("/activities/{id}/delete");
    let stale_trash = post(
        trash.clone(),
        cookie.clone(),
        format!("_csrf={csrf}&version=1"),
    )
    .await;
    assert_eq!(stale_trash.status, 409, "{}", stale_trash.text);
    assert_eq!(app.api(&key, "GET", &api_path, None).await.status, 200);
    let denied = post(trash.clone(), rob, format!("_csrf={rob_csrf}&version=2")).await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    let trashed = post(
        trash.clone(),
        cookie.clone(),
        format!("_csrf={csrf}&version=2"),
    )
    .await;
    assert_eq!(trashed.status, 303, "{}", trashed.text);
    let back = trashed.header("location").unwrap().to_owned();
    assert_eq!(back, format!("{contact_page}?done=activity_trashed"));
    let shown = get(back).await;
    assert!(shown.text.contains("Activité placée dans la corbeille."));
    assert!(!shown.text.contains(&edit_path), "no longer listed");
    assert_eq!(app.api(&key, "GET", &api_path, None).await.status, 404);
    assert_eq!(get(edit_path.clone()).await.status, 404);

    let live = get("/activities".into()).await;
    assert!(!live.text.contains("Bilan annuel"));
    assert!(
        live.text
            .contains("href=\"/activities?filter%5Btrashed%5D=true\"")
    );
    let in_trash = get("/activities?filter%5Btrashed%5D=true".into()).await;
    assert_eq!(in_trash.status, 200, "{}", in_trash.text);
    assert!(in_trash.text.contains("Activités dans la corbeille"));
    assert!(in_trash.text.contains("Bilan annuel"));
    let restore = format!("/activities/{id}/restore");
    assert!(in_trash.text.contains(&format!("action=\"{restore}\"")));
    let restored = post(restore, cookie.clone(), format!("_csrf={csrf}")).await;
    assert_eq!(restored.status, 303, "{}", restored.text);
    assert_eq!(
        restored.header("location"),
        Some(format!("{contact_page}?done=activity_restored").as_str())
    );
    assert_eq!(
        app.api(&key, "GET", &api_path, None).await.json["subject"],
        "Bilan annuel"
    );
    let empty = get("/activities?filter%5Btrashed%5D=true".into()).await;
    assert!(
        empty
            .text
            .contains("La corbeille ne contient aucune activité.")
    );

    // An activity without a contact comes back to the list, which says what was done.
    let alone = app
        .api(
            &key,
            "POST",
            "/api/v1/activities",
            Some(json!({"kind": "task", "subject": "Seul", "starts_at": "2026-12-02T08:00:00Z"})),
        )
        .await;
    let alone_id = alone.json["id"].as_str().unwrap();
    let saved = post(
        format!("/activities/{alone_id}"),
        cookie.clone(),
        format!(
            "_csrf={csrf}&version=1&kind=task&subject=Seul&starts_at=2026-12-02T08%3A00&done=on"
        ),
    )
    .await;
    assert_eq!(
        saved.header("location"),
        Some("/activities?done=activity_saved")
    );
    assert!(
        get("/activities?done=activity_saved".into())
            .await
            .text
            .contains("Activité enregistrée.")
    );
    assert_eq!(
        app.api(&key, "GET", &format!("/api/v1/activities/{alone_id}"), None)
            .await
            .json["done"],
        true
    );
    assert_eq!(get("/activities/not-an-id/edit".into()).await.status, 404);
    app.finish().await;
}

/// The Activities list filters by kind and by done or to do; its "any" choices (sent empty)
/// filter nothing; the export links carry the filters.
async fn activities_list_filters_by_kind_and_status(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.carnet.create_tenant("acme", "Acme SA").await.unwrap();
    app.user("acme", "lea@acme.test", "correct-horse-1", Role::Member)
        .await;
    let (cookie, _) = sign_in(&app, "lea@acme.test", "correct-horse-1").await;
    let (_, key) = app
        .carnet
        .create_api_key("acme", "seed", &[Scope::Read, Scope::Write])
        .await
        .unwrap();
    for (kind, subject, done) in [
        ("task", "Relancer le devis", false),
        ("task", "Envoyer le contrat", true),
        ("call", "Appeler Ana", false),
    ] {
        let made = app
            .api(
                &key,
                "POST",
                "/api/v1/activities",
                Some(json!({"kind": kind, "subject": subject, "done": done,
                            "starts_at": "2026-12-01T09:00:00Z"})),
            )
            .await;
        assert_eq!(made.status, 201, "{}", made.text);
    }
    let get = |path: &str| {
        let app = &app;
        let cookie = cookie.clone();
        let path = path.to_owned();
        async move { app.send("GET", &path, &[("cookie", &cookie)], None).await }
    };
    let shows = |page: &TestResponse| {
        ["Relancer le devis", "Envoyer le contrat", "Appeler Ana"]
            .into_iter()
            .filter(|s| page.text.contains(s))
            .collect::<Vec<_>>()
    };

    let all = get("/activities").await;
    assert_eq!(shows(&all).len(), 3);
    assert!(all.text.contains("id=\"filter-kind\""), "{}", all.text);
    let open_tasks = get("/activities?filter%5Bkind%5D=task&filter%5Bdone%5D=false").await;
    assert_eq!(open_tasks.status, 200, "{}", open_tasks.text);
    assert_eq!(shows(&open_tasks), ["Relancer le devis"]);
    assert!(open_tasks.text.contains("<option value=\"task\" selected>"));
    assert!(
        open_tasks
            .text
            .contains("<option value=\"false\" selected>")
    );
    assert!(
        open_tasks
            .text
            .contains("/api/v1/activities/export?format=ics&#38;filter%5Bkind%5D=task&#38;filter%5Bdone%5D=false"),
        "the export applies the filters: {}",
        open_tasks.text
    );
    let done = get("/activities?filter%5Bdone%5D=true").await;
    assert_eq!(shows(&done), ["Envoyer le contrat"]);
    let any = get("/activities?filter%5Bkind%5D=&filter%5Bdone%5D=").await;
    assert_eq!(any.status, 200, "{}", any.text);
    assert_eq!(shows(&any).len(), 3, "empty choices filter nothing");
    app.finish().await;
}
