//! The status page as its users meet it during an outage: Carnet runs, goes down (server and
//! database), comes back; carnet-status, its own process, keeps answering and tells the story.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use carnet_service::{Carnet, SystemClock};
use carnet_testkit::{Backend, TestDb};
use serde_json::Value;
use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{http, json};

/// A real Carnet on `addr` (port 0: any), on a throwaway SQLite database.
async fn start_carnet(addr: &str) -> (SocketAddr, tokio::task::JoinHandle<()>, TestDb) {
    let db = TestDb::new(Backend::Sqlite).await;
    let carnet = Carnet::new(db.db.clone(), Arc::new(SystemClock));
    let router = carnet_web::router(carnet_web::AppState::new(
        carnet,
        carnet_web::WebConfig::default(),
    ));
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let bound = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (bound, server, db)
}

struct Status {
    child: Child,
    addr: String,
    dir: std::path::PathBuf,
}

impl Drop for Status {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A real SMTP server (aiosmtpd) writing what it receives into a maildir.
struct Smtp {
    child: Child,
    port: u16,
    maildir: std::path::PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

fn start_smtp() -> Smtp {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maildir = std::env::temp_dir().join(format!("carnet-mail-{}", uuid::Uuid::now_v7()));
    let child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m aiosmtpd (pip install -r crates/carnet-status/tests/requirements.txt)");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "aiosmtpd did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Smtp {
        child,
        port,
        maildir,
    }
}

impl Smtp {
    /// Every message received so far, as raw text.
    fn messages(&self) -> Vec<String> {
        std::fs::read_dir(self.maildir.join("new"))
            .map(|dir| {
                dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn start_status(carnet: SocketAddr, smtp_port: u16) -> Status {
    let dir = std::env::temp_dir().join(format!("carnet-status-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!(
        r#"
title = "Carnet Cloud"
data_dir = "{}"
admin_token = "s3cret-token"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
from = "status@carnet.test"

[[components]]
id = "api"
name = "API Carnet"
group = "Carnet"

[[probes]]
component = "api"
url = "http://{carnet}/readyz"
interval_secs = 1
timeout_ms = 500
failures_to_open = 2
successes_to_resolve = 1
"#,
        dir.join("data").display()
    );
    let path = dir.join("status.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_carnet-status"))
        .arg("--config")
        .arg(&path)
        .args(["--listen", "127.0.0.1:0"])
        .env("CARNET_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("ready at") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "carnet-status exited: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let addr = seen
        .split("http://")
        .nth(1)
        .unwrap()
        .trim()
        .trim_end_matches('/')
        .to_owned();
    Status { child, addr, dir }
}

/// Webhook deliveries received: (event header, signature header, body).
type Received = Arc<std::sync::Mutex<Vec<(String, String, String)>>>;

/// A webhook receiver on a port of its own: records every POST to `/hook`.
async fn start_receiver() -> (SocketAddr, Received) {
    use axum::extract::State;
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State(r): State<Received>, headers: axum::http::HeaderMap, body: String| async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    r.lock().unwrap().push((h("x-carnet-event"), h("x-carnet-signature"), body));
                    axum::http::StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, received)
}

/// The deliveries of `event` so far, each checked against its signature.
fn deliveries(received: &Received, secret: &str, event: &str) -> Vec<Value> {
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|(e, _, _)| e == event)
        .map(|(_, signature, body)| {
            let t: i64 = signature
                .strip_prefix("t=")
                .and_then(|r| r.split(',').next())
                .and_then(|t| t.parse().ok())
                .unwrap();
            assert_eq!(
                *signature,
                carnet_status::notify::signature(secret, t, body),
                "signed with the subscriber's secret"
            );
            serde_json::from_str(body).unwrap()
        })
        .collect()
}

/// Polls `check` every 100 ms until it holds, for at most `limit`.
async fn within(limit: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if check() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_tells_the_outage_and_the_recovery() {
    let (carnet_addr, server, db) = start_carnet("127.0.0.1:0").await;
    let smtp = start_smtp();
    let status = start_status(carnet_addr, smtp.port);
    let a = status.addr.clone();

    // Léa subscribes by e-mail: double opt-in.
    let (code, body) = http(
        &a,
        "POST",
        "/subscribe?lang=fr",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        "email=lea%40example.test&component=api",
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("confirmation"), "{body}");
    within(Duration::from_secs(10), "the confirmation e-mail", || {
        smtp.messages()
            .iter()
            .any(|m| m.contains("/subscriptions/confirm?token="))
    })
    .await;
    let confirmation = smtp.messages().remove(0);
    assert!(
        confirmation.contains("To: lea@example.test"),
        "{confirmation}"
    );
    let token = confirmation
        .split("/subscriptions/confirm?token=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let (code, body) = http(
        &a,
        "GET",
        &format!("/subscriptions/confirm?token={token}&lang=fr"),
        "",
        "",
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("Abonnement confirmé"), "{body}");
    let (code, _) = http(&a, "GET", "/subscriptions/confirm?token=forged", "", "");
    assert_eq!(code, 404);
    let (code, _) = http(
        &a,
        "POST",
        "/subscribe",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        "email=zoe%40example.test&component=billing",
    );
    assert_eq!(code, 422, "an unknown component is refused");

    within(Duration::from_secs(5), "a first successful probe", || {
        json(&a, "/api/v2/status.json")["status"]["indicator"] == "none"
    })
    .await;
    let (hook, received) = start_receiver().await;
    let auth = "Authorization: Bearer s3cret-token\r\nContent-Type: application/json\r\n";
    let (code, body) = http(
        &a,
        "POST",
        "/api/admin/webhooks",
        auth,
        &format!(r#"{{"url": "http://{hook}/hook", "components": ["api"]}}"#),
    );
    assert_eq!(code, 201, "{body}");
    let secret = serde_json::from_str::<Value>(&body).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(secret.len(), 64);
    let components = json(&a, "/api/v2/components.json");
    assert_eq!(components["components"][0]["id"], "api");
    assert_eq!(components["components"][0]["status"], "operational");
    let (_, page) = http(&a, "GET", "/", "Accept-Language: fr-FR\r\n", "");
    assert!(page.contains("Tous les services fonctionnent"), "{page}");
    assert!(!page.contains("<script"), "readable without JavaScript");

    // Carnet and its database go down.
    server.abort();
    let _ = server.await;
    db.db.close().await;
    let took = within(Duration::from_secs(5), "the outage on the page", || {
        json(&a, "/api/v2/summary.json")["components"][0]["status"] == "major_outage"
    })
    .await;
    assert!(
        took <= Duration::from_secs(4),
        "shown within two probe intervals (+ K): {took:?}"
    );
    let summary = json(&a, "/api/v2/summary.json");
    assert_eq!(summary["status"]["indicator"], "critical");
    let incident = &summary["incidents"][0];
    assert_eq!(incident["name"], "API Carnet is not answering");
    assert_eq!(incident["status"], "investigating");
    assert_eq!(incident["impact"], "major");
    assert_eq!(incident["components"][0]["id"], "api");
    assert!(
        incident["incident_updates"][0]["body"]
            .as_str()
            .unwrap()
            .contains("failed 2 times in a row"),
        "{incident}"
    );
    let (_, fr) = http(&a, "GET", "/?lang=fr", "", "");
    assert!(
        fr.contains("Panne majeure") && fr.contains("Incidents en cours"),
        "{fr}"
    );
    let (_, en) = http(&a, "GET", "/", "Accept-Language: en-GB\r\n", "");
    assert!(
        en.contains("Major outage") && en.contains("Active incidents"),
        "{en}"
    );

    // The webhook heard of it, signed, well within a minute.
    within(Duration::from_secs(10), "the webhook delivery", || {
        !deliveries(&received, &secret, "incident.created").is_empty()
    })
    .await;
    let created = &deliveries(&received, &secret, "incident.created")[0];
    assert_eq!(created["incident"]["name"], "API Carnet is not answering");
    assert_eq!(created["incident"]["components"][0], "api");

    // So did Léa, with one-click unsubscribe headers; she uses them.
    within(Duration::from_secs(10), "the incident e-mail", || {
        smtp.messages()
            .iter()
            .any(|m| m.contains("API Carnet is not answering"))
    })
    .await;
    let mail = smtp
        .messages()
        .into_iter()
        .find(|m| m.contains("API Carnet is not answering"))
        .unwrap();
    assert!(
        mail.contains(&format!("/subscriptions/unsubscribe?token={token}>")),
        "{mail}"
    );
    assert!(
        mail.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{mail}"
    );
    let (code, body) = http(
        &a,
        "POST",
        &format!("/subscriptions/unsubscribe?token={token}"),
        "Content-Type: application/x-www-form-urlencoded\r\n",
        "List-Unsubscribe=One-Click",
    );
    assert_eq!(code, 200, "{body}");

    // Someone posts what they know.
    let id = incident["id"].as_str().unwrap().to_owned();
    let (code, _) = http(
        &a,
        "POST",
        &format!("/api/admin/incidents/{id}/updates"),
        "Content-Type: application/json\r\n",
        r#"{"status": "identified", "body": "x"}"#,
    );
    assert_eq!(code, 401, "no token, no update");
    let (code, body) = http(
        &a,
        "POST",
        &format!("/api/admin/incidents/{id}/updates"),
        auth,
        r#"{"status": "identified", "body": "Le serveur de base de données a redémarré."}"#,
    );
    assert_eq!(code, 201, "{body}");
    let (code, body) = http(
        &a,
        "POST",
        "/api/admin/incidents",
        auth,
        r#"{"name": "x", "body": "y", "impact": "huge"}"#,
    );
    assert_eq!(code, 422);
    assert!(body.contains("\"field\":\"impact\""), "{body}");

    // Carnet comes back on the same address: the incident resolves itself.
    let (_, server, _db) = start_carnet(&carnet_addr.to_string()).await;
    within(Duration::from_secs(5), "the recovery", || {
        json(&a, "/api/v2/status.json")["status"]["indicator"] == "none"
    })
    .await;
    within(Duration::from_secs(10), "the resolution's delivery", || {
        !deliveries(&received, &secret, "incident.resolved").is_empty()
    })
    .await;
    assert_eq!(deliveries(&received, &secret, "incident.updated").len(), 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let about: Vec<String> = smtp
        .messages()
        .into_iter()
        .filter(|m| m.contains("API Carnet is not answering"))
        .collect();
    assert_eq!(
        about.len(),
        1,
        "nothing more after unsubscribing: {about:?}"
    );
    let incidents = json(&a, "/api/v2/incidents.json");
    let resolved = &incidents["incidents"][0];
    assert_eq!(resolved["status"], "resolved");
    assert!(resolved["resolved_at"].is_string());
    let steps: Vec<&str> = resolved["incident_updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["resolved", "identified", "investigating"],
        "newest first"
    );
    assert!(
        json(&a, "/api/v2/incidents/unresolved.json")["incidents"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (_, page) = http(&a, "GET", "/?lang=en", "", "");
    assert!(page.contains("Incident history") && page.contains("API Carnet is not answering"));
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(
        page.matches("<li class=\"b-").count(),
        90,
        "90 days of bars"
    );
    assert!(
        page.contains(&format!("class=\"b-bad\" title=\"{today}:")),
        "today's bar shows the outage: {page}"
    );
    let (code, atom) = http(&a, "GET", "/history.atom", "", "");
    assert_eq!(code, 200);
    assert!(
        atom.contains("<title>API Carnet is not answering</title>"),
        "{atom}"
    );
    assert!(atom.contains("redémarré"), "updates in the feed: {atom}");
    let (_, rss) = http(&a, "GET", "/history.rss", "", "");
    assert!(rss.contains("<rss version=\"2.0\">") && rss.contains("API Carnet is not answering"));
    // Maintenance announced six days ahead: listed, shown, then carried out.
    let starts = chrono::Utc::now() + chrono::Duration::days(6);
    let maintenance = format!(
        r#"{{"name": "Mise à jour PostgreSQL", "body": "Coupure de 10 minutes.", "scheduled_for": "{}", "scheduled_until": "{}", "components": ["api"]}}"#,
        starts.to_rfc3339(),
        (starts + chrono::Duration::minutes(10)).to_rfc3339()
    );
    let (code, body) = http(&a, "POST", "/api/admin/maintenances", auth, &maintenance);
    assert_eq!(code, 201, "{body}");
    let mid: Value = serde_json::from_str(&body).unwrap();
    let mid = mid["id"].as_str().unwrap().to_owned();
    within(
        Duration::from_secs(10),
        "the maintenance's announcement",
        || !deliveries(&received, &secret, "maintenance.scheduled").is_empty(),
    )
    .await;
    let announced = &deliveries(&received, &secret, "maintenance.scheduled")[0];
    assert_eq!(announced["maintenance"]["name"], "Mise à jour PostgreSQL");
    let upcoming = json(&a, "/api/v2/scheduled-maintenances/upcoming.json");
    assert_eq!(
        upcoming["scheduled_maintenances"][0]["name"],
        "Mise à jour PostgreSQL"
    );
    assert_eq!(
        json(&a, "/api/v2/summary.json")["scheduled_maintenances"][0]["status"],
        "scheduled"
    );
    let (_, fr) = http(&a, "GET", "/?lang=fr", "", "");
    assert!(
        fr.contains("Maintenance prévue") && fr.contains("Planifiée"),
        "{fr}"
    );
    let (code, _) = http(
        &a,
        "POST",
        &format!("/api/admin/maintenances/{mid}/updates"),
        auth,
        r#"{"status": "in_progress", "body": "C'est parti."}"#,
    );
    assert_eq!(code, 201);
    assert_eq!(
        json(&a, "/api/v2/components.json")["components"][0]["status"],
        "under_maintenance"
    );
    assert_eq!(
        json(&a, "/api/v2/scheduled-maintenances/active.json")["scheduled_maintenances"][0]["id"],
        mid.as_str()
    );
    http(
        &a,
        "POST",
        &format!("/api/admin/maintenances/{mid}/updates"),
        auth,
        r#"{"status": "completed", "body": "Fini."}"#,
    );
    assert_eq!(
        json(&a, "/api/v2/components.json")["components"][0]["status"],
        "operational"
    );
    let (code, body) = http(
        &a,
        "POST",
        "/api/admin/maintenances",
        auth,
        r#"{"name": "x", "body": "y", "scheduled_for": "demain", "scheduled_until": "2026-01-01T00:00:00Z"}"#,
    );
    assert_eq!(code, 422);
    assert!(body.contains("\"field\":\"scheduled_for\""), "{body}");

    // This month's SLA counts the outage.
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let (code, _) = http(&a, "GET", &format!("/api/admin/sla?month={month}"), "", "");
    assert_eq!(code, 401);
    let (code, body) = http(
        &a,
        "GET",
        &format!("/api/admin/sla?month={month}"),
        auth,
        "",
    );
    assert_eq!(code, 200, "{body}");
    let sla: Value = serde_json::from_str(&body).unwrap();
    let api = &sla["components"][0];
    assert_eq!(api["id"], "api");
    assert!(api["down_seconds"].as_i64().unwrap() >= 1, "{sla}");
    assert!(api["availability"].as_f64().unwrap() < 100.0, "{sla}");
    let response = &sla["incident_responses"][0];
    assert_eq!(response["name"], "API Carnet is not answering");
    assert!(
        response["first_response_at"].is_string(),
        "someone posted an update: {sla}"
    );
    assert!(
        response["first_response_business_seconds"]
            .as_i64()
            .unwrap()
            >= 0
    );
    let (code, _) = http(&a, "GET", "/api/admin/sla?month=2026-13", auth, "");
    assert_eq!(code, 400);
    server.abort();
}
