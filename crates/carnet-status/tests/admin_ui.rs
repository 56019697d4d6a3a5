//! The admin UI: a password, a session cookie, CSRF-checked forms that open incidents, post
//! their updates and plan maintenance.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{http, http_full, json};

const FORM: &str = "Content-Type: application/x-www-form-urlencoded\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_sign_in_and_run_incidents_from_forms() {
    let dir = std::env::temp_dir().join(format!("carnet-status-admin-{}", uuid::Uuid::now_v7()));
    let config = carnet_status::config::Config::from_toml(&format!(
        r#"
data_dir = "{}"
admin_password_hash = "{}"
[[components]]
id = "api"
name = "API"
"#,
        dir.display(),
        carnet_status::admin_ui::hash_password("correct horse battery").unwrap()
    ))
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(carnet_status::serve(config, listener, async {
        let _ = stopped.await;
    }));
    // Served once the database is open.
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(&a).is_err() || http(&a, "GET", "/healthz", "", "").0 != 200
    {
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let (code, page) = http(&a, "GET", "/admin", "Accept-Language: fr\r\n", "");
    assert_eq!(code, 200);
    assert!(page.contains("Mot de passe"), "{page}");
    let (code, page) = http(&a, "POST", "/admin/login", FORM, "password=wrong+horse");
    assert_eq!(code, 401);
    assert!(page.contains("role=\"alert\""));
    let (code, head, _) = http_full(
        &a,
        "POST",
        "/admin/login",
        FORM,
        "password=correct+horse+battery",
    );
    assert_eq!(code, 303);
    let set_cookie = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let value = set_cookie
        .split_once(':')
        .unwrap()
        .1
        .trim()
        .split(';')
        .next()
        .unwrap();
    let cookie = format!("Cookie: {value}\r\n");
    let with_cookie = format!("{cookie}{FORM}");
    let (_, dashboard) = http(&a, "GET", "/admin", &cookie, "");
    let csrf = dashboard
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    // Forms without the page's CSRF token are refused; with it, they work.
    let (code, _) = http(
        &a,
        "POST",
        "/admin/incidents",
        &with_cookie,
        "name=X&impact=major&body=Y",
    );
    assert_eq!(code, 403);
    let (code, _) = http(
        &a,
        "POST",
        "/admin/incidents",
        FORM,
        &format!("_csrf={csrf}&name=X&impact=major&body=Y"),
    );
    assert_eq!(code, 303, "no session: back to sign-in");
    assert!(
        json(&a, "/api/v2/incidents.json")["incidents"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (code, body) = http(
        &a,
        "POST",
        "/admin/incidents",
        &with_cookie,
        &format!(
            "_csrf={csrf}&name=Lenteurs+de+l%27API&impact=minor&component=api&body=Nous+regardons."
        ),
    );
    assert_eq!(code, 303, "{body}");
    let incident = &json(&a, "/api/v2/summary.json")["incidents"][0];
    assert_eq!(incident["name"], "Lenteurs de l'API");
    assert_eq!(incident["impact"], "minor");
    assert_eq!(incident["components"][0]["id"], "api");
    let id = incident["id"].as_str().unwrap().to_owned();
    let (code, _) = http(
        &a,
        "POST",
        &format!("/admin/incidents/{id}/updates"),
        &with_cookie,
        &format!("_csrf={csrf}&status=resolved&body=R%C3%A9gl%C3%A9."),
    );
    assert_eq!(code, 303);
    assert_eq!(
        json(&a, "/api/v2/incidents.json")["incidents"][0]["status"],
        "resolved"
    );
    let (code, page) = http(
        &a,
        "POST",
        "/admin/incidents",
        &with_cookie,
        &format!("_csrf={csrf}&name=Z&impact=huge&body=Z"),
    );
    assert_eq!(code, 422, "a bad impact is said, not ignored");
    assert!(page.contains("impact"), "{page}");

    // Maintenance planned from the form, then a bad date.
    let (code, _) = http(
        &a,
        "POST",
        "/admin/maintenances",
        &with_cookie,
        &format!(
            "_csrf={csrf}&name=Migration&scheduled_for=2030-01-10T22%3A00&scheduled_until=2030-01-10T23%3A00&component=api&body=Coupure."
        ),
    );
    assert_eq!(code, 303);
    let upcoming = json(&a, "/api/v2/scheduled-maintenances/upcoming.json");
    assert_eq!(
        upcoming["scheduled_maintenances"][0]["scheduled_for"],
        "2030-01-10T22:00:00Z"
    );
    let (code, _) = http(
        &a,
        "POST",
        "/admin/maintenances",
        &with_cookie,
        &format!(
            "_csrf={csrf}&name=M&scheduled_for=demain&scheduled_until=2030-01-10T23%3A00&body=x"
        ),
    );
    assert_eq!(code, 422);

    // Signing out ends the session.
    let (code, _) = http(&a, "POST", "/admin/logout", &cookie, "");
    assert_eq!(code, 303);
    let (_, page) = http(&a, "GET", "/admin", &cookie, "");
    assert!(page.contains("type=\"password\""), "signed out: {page}");

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    std::fs::remove_dir_all(&dir).ok();
}
