//! The `carnet` binary as an operator uses it: admin commands, errors, and a real server.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn carnet(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_carnet"));
    cmd.arg("--data-dir").arg(data).args(args);
    cmd.env_remove("CARNET_DATABASE_URL")
        .env("CARNET_LOG", "warn");
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("carnet runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn fails_with(out: &Output, needle: &str) {
    assert!(
        !out.status.success(),
        "expected a failure: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(needle),
        "stderr should mention {needle:?}: {err}"
    );
}

fn temp_dir() -> PathBuf {
    std::env::temp_dir().join(format!("carnet-cli-{}", uuid::Uuid::now_v7()))
}

#[test]
fn admin_commands_and_their_errors() {
    let data = temp_dir();
    ok(&carnet(
        &data,
        &["tenant", "create", "--slug", "acme", "--name", "Acme SA"],
        None,
    ));
    fails_with(
        &carnet(
            &data,
            &["tenant", "create", "--slug", "acme", "--name", "Again"],
            None,
        ),
        "already exists",
    );
    fails_with(
        &carnet(
            &data,
            &["tenant", "create", "--slug", "Bad Slug", "--name", "X"],
            None,
        ),
        "slug",
    );
    let list = ok(&carnet(&data, &["tenant", "list"], None));
    assert!(list.starts_with("acme\tAcme SA\tactive\tmain\t"), "{list}");

    let user = ok(&carnet(
        &data,
        &[
            "user",
            "create",
            "--tenant",
            "acme",
            "--email",
            "a@acme.test",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some("a-long-password\n"),
    ));
    assert!(user.contains("created user a@acme.test"), "{user}");
    fails_with(
        &carnet(
            &data,
            &[
                "user",
                "create",
                "--tenant",
                "acme",
                "--email",
                "b@acme.test",
                "--role",
                "boss",
                "--password-stdin",
            ],
            Some("a-long-password\n"),
        ),
        "boss",
    );
    fails_with(
        &carnet(
            &data,
            &[
                "user",
                "create",
                "--tenant",
                "acme",
                "--email",
                "b@acme.test",
                "--password-stdin",
            ],
            Some("short\n"),
        ),
        "password",
    );
    fails_with(
        &carnet(
            &data,
            &[
                "user",
                "create",
                "--tenant",
                "nope",
                "--email",
                "b@acme.test",
                "--password-stdin",
            ],
            Some("a-long-password\n"),
        ),
        "nope",
    );

    let created = ok(&carnet(
        &data,
        &[
            "apikey", "create", "--tenant", "acme", "--name", "ci", "--scope", "read", "--scope",
            "write",
        ],
        None,
    ));
    let key = created.lines().last().unwrap();
    assert!(
        key.starts_with("carnet_") && key.matches('_').count() == 2,
        "{created}"
    );
    fails_with(
        &carnet(
            &data,
            &[
                "apikey", "create", "--tenant", "acme", "--name", "ci", "--scope", "root",
            ],
            None,
        ),
        "root",
    );
    let keys = ok(&carnet(
        &data,
        &["apikey", "list", "--tenant", "acme"],
        None,
    ));
    assert!(
        keys.contains("\tci\t") && keys.contains("read,write") && keys.contains("active"),
        "{keys}"
    );
    assert!(!keys.contains(key), "secrets are never listed");
    let id = keys.split('\t').next().unwrap();
    ok(&carnet(
        &data,
        &["apikey", "revoke", "--tenant", "acme", "--id", id],
        None,
    ));
    assert!(
        ok(&carnet(
            &data,
            &["apikey", "list", "--tenant", "acme"],
            None
        ))
        .contains("revoked")
    );
    fails_with(
        &carnet(
            &data,
            &["apikey", "revoke", "--tenant", "acme", "--id", id],
            None,
        ),
        "not found",
    );

    let demo = ok(&carnet(
        &data,
        &["demo", "--tenant", "acme", "--contacts", "25"],
        None,
    ));
    assert!(demo.contains("added 25"), "{demo}");
    let csv = ok(&carnet(
        &data,
        &["export", "--tenant", "acme", "--format", "excel-fr"],
        None,
    ));
    assert!(csv.starts_with("\u{feff}id;first_name;last_name"), "{csv}");
    assert_eq!(csv.lines().count(), 26, "a header and the 25 contacts");
    let file = data.join("contacts.vcf");
    let out = carnet(
        &data,
        &[
            "export",
            "--tenant",
            "acme",
            "--format",
            "vcf",
            "--output",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("exported 25 contacts"));
    assert_eq!(
        std::fs::read_to_string(&file)
            .unwrap()
            .matches("BEGIN:VCARD")
            .count(),
        25
    );
    fails_with(
        &carnet(
            &data,
            &["export", "--tenant", "acme", "--format", "pdf"],
            None,
        ),
        "unknown format",
    );
    fails_with(
        &carnet(
            &data,
            &["export", "--tenant", "acme", "--entity", "deals"],
            None,
        ),
        "deals",
    );
    assert!(ok(&carnet(&data, &["migrate", "--dry-run"], None)).contains("up to date"));
    std::fs::remove_dir_all(&data).ok();
}

#[test]
fn configuration_errors_name_the_key() {
    let data = temp_dir();
    std::fs::create_dir_all(&data).unwrap();
    let file = data.join("carnet.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nlisten_port = 1\n").unwrap();
    fails_with(
        &carnet(
            &data,
            &["--config", file.to_str().unwrap(), "tenant", "list"],
            None,
        ),
        "listen_port",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_carnet"))
        .args(["--data-dir", data.to_str().unwrap(), "tenant", "list"])
        .env("CARNET_LISTN", "x")
        .output()
        .unwrap();
    fails_with(&out, "CARNET_LISTN");
    fails_with(
        &carnet(
            &data,
            &["--database-url", "mysql://x/y", "tenant", "list"],
            None,
        ),
        "unsupported database URL",
    );
    fails_with(
        &carnet(
            &data,
            &[
                "--database-url",
                "sqlite:///nonexistent/carnet.sqlite",
                "tenant",
                "list",
            ],
            None,
        ),
        "does not exist",
    );
    std::fs::remove_dir_all(&data).ok();
}

/// One HTTP/1.1 request over a plain socket; returns (status, body).
fn http(addr: &str, request: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Starts `carnet serve --demo` on port 0; returns the child, its address and what it printed.
fn start_server(data: &Path) -> (std::process::Child, String, String) {
    start_server_with(data, &[])
}

/// [`start_server`] with more `serve` arguments.
fn start_server_with(data: &Path, extra: &[&str]) -> (std::process::Child, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_carnet"))
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env("CARNET_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("ready at") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "server exited early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let addr = seen
        .split("://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    (child, addr, seen)
}

#[test]
fn serve_demo_starts_a_real_server_and_refuses_a_newer_schema() {
    let data = temp_dir();
    let (mut child, addr, seen) = start_server(&data);
    assert!(
        seen.contains("admin@demo.carnet.test") && seen.contains("password:"),
        "{seen}"
    );
    let (status, body) = http(
        &addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((status, body.contains("ok")), (200, true));
    let (status, _) = http(
        &addr,
        "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
    child.kill().unwrap();
    child.wait().unwrap();

    // The demo has 200 contacts; a second start does not create them again nor reprint the login.
    let key_out = ok(&carnet(
        &data,
        &[
            "apikey", "create", "--tenant", "demo", "--name", "t", "--scope", "read",
        ],
        None,
    ));
    let key = key_out.lines().last().unwrap().to_owned();
    let (mut child, addr, seen) = start_server(&data);
    assert!(!seen.contains("password:"), "{seen}");
    let request = format!(
        "GET /api/v1/contacts?limit=200 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    );
    let (status, body) = http(&addr, &request);
    assert_eq!(status, 200);
    assert_eq!(
        body.matches("\"first_name\"").count(),
        200,
        "the 200 demo contacts, created once"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // A schema from a newer Carnet: the server refuses to start and says what to do.
    let db = data.join("carnet.sqlite");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::{Connection, Executor};
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        c.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             SELECT 99999, 'future', true, checksum, 0 FROM _sqlx_migrations WHERE version = 1",
        )
        .await
        .unwrap();
    });
    fails_with(
        &carnet(&data, &["serve", "--listen", "127.0.0.1:0"], None),
        "newer",
    );
    std::fs::remove_dir_all(&data).ok();
}

#[test]
fn serves_https_with_a_certificate() {
    let data = temp_dir();
    std::fs::create_dir_all(&data).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_file, key_file) = (data.join("cert.pem"), data.join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let (mut child, addr, seen) = start_server_with(
        &data,
        &[
            "--tls-cert",
            cert_file.to_str().unwrap(),
            "--tls-key",
            key_file.to_str().unwrap(),
        ],
    );
    assert!(seen.contains("ready at https://"), "{seen}");

    // A real TLS client that trusts only this certificate.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server_name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), server_name).unwrap();
    let tcp = std::net::TcpStream::connect(&addr).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    let _ = tls.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response
            .to_lowercase()
            .contains("strict-transport-security: max-age="),
        "HSTS over TLS: {response}"
    );

    // Plain HTTP on the TLS port gets no answer.
    let (status, _) = http_status_or_zero(&addr);
    assert_eq!(status, 0);
    child.kill().unwrap();
    child.wait().unwrap();

    let half = carnet(
        &data,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert_file.to_str().unwrap(),
        ],
        None,
    );
    fails_with(&half, "--tls-key");
    std::fs::remove_dir_all(&data).ok();
}

/// The status of a plain-HTTP GET, or 0 when the server does not answer in HTTP.
fn http_status_or_zero(addr: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[test]
fn import_from_the_command_line() {
    let data = temp_dir();
    ok(&carnet(
        &data,
        &["tenant", "create", "--slug", "acme", "--name", "Acme"],
        None,
    ));
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/contacts/excel-fr-windows-1252.csv"
    );
    let dry = carnet(
        &data,
        &["import", "--tenant", "acme", "--file", file, "--dry-run"],
        None,
    );
    let out = String::from_utf8_lossy(&dry.stdout);
    assert!(
        out.contains(
            "dry run, nothing written: 4 rows: 3 created, 0 updated, 0 unchanged, 1 rejected"
        ),
        "{out}"
    );
    assert!(
        out.contains("row 4: emails[0].value: is not a valid e-mail address"),
        "{out}"
    );
    assert!(!dry.status.success(), "rejected rows give a non-zero exit");
    assert!(String::from_utf8_lossy(&dry.stderr).contains("windows-1252"));
    let listed = ok(&carnet(&data, &["export", "--tenant", "acme"], None));
    assert_eq!(listed.lines().count(), 1, "the dry run wrote nothing");

    fails_with(
        &carnet(&data, &["import", "--tenant", "acme", "--file", file], None),
        "1 rows were not imported",
    );
    let listed = ok(&carnet(&data, &["export", "--tenant", "acme"], None));
    assert_eq!(listed.lines().count(), 4, "the three valid rows are in");
    let again = carnet(&data, &["import", "--tenant", "acme", "--file", file], None);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 created, 0 updated, 3 unchanged"));

    let json = data.join("acme.json");
    ok(&carnet(
        &data,
        &[
            "export",
            "--tenant",
            "acme",
            "--format",
            "json",
            "--output",
            json.to_str().unwrap(),
        ],
        None,
    ));
    ok(&carnet(
        &data,
        &["tenant", "create", "--slug", "copy", "--name", "Copy"],
        None,
    ));
    let copied = ok(&carnet(
        &data,
        &[
            "import",
            "--tenant",
            "copy",
            "--file",
            json.to_str().unwrap(),
        ],
        None,
    ));
    assert!(copied.contains("3 rows: 3 created"), "{copied}");
    std::fs::write(data.join("bad.json"), "{\"not\": \"an array\"}").unwrap();
    let bad = data.join("bad.json");
    fails_with(
        &carnet(
            &data,
            &[
                "import",
                "--tenant",
                "copy",
                "--file",
                bad.to_str().unwrap(),
            ],
            None,
        ),
        "array of contacts",
    );
    fails_with(
        &carnet(
            &data,
            &["import", "--tenant", "acme", "--file", "/nonexistent.csv"],
            None,
        ),
        "cannot open",
    );
    fails_with(
        &carnet(
            &data,
            &[
                "import", "--tenant", "acme", "--file", file, "--mode", "merge",
            ],
            None,
        ),
        "mode",
    );
    let odd = data.join("odd.csv");
    std::fs::write(&odd, "Col A,Col B\nMartin,m.martin@example.test\n").unwrap();
    let mapping = data.join("mapping.json");
    std::fs::write(&mapping, r#"{"Col A": "last_name", "Col B": "email"}"#).unwrap();
    let mapped = ok(&carnet(
        &data,
        &[
            "import",
            "--tenant",
            "copy",
            "--file",
            odd.to_str().unwrap(),
            "--mapping",
            mapping.to_str().unwrap(),
        ],
        None,
    ));
    assert!(mapped.contains("1 rows: 1 created"), "{mapped}");
    let json = ok(&carnet(
        &data,
        &["export", "--tenant", "copy", "--format", "json"],
        None,
    ));
    assert!(json.contains("\"last_name\":\"Martin\""), "{json}");
    std::fs::write(&mapping, r#"{"Col Z": "email"}"#).unwrap();
    fails_with(
        &carnet(
            &data,
            &[
                "import",
                "--tenant",
                "copy",
                "--file",
                odd.to_str().unwrap(),
                "--mapping",
                mapping.to_str().unwrap(),
            ],
            None,
        ),
        "no column `Col Z`",
    );
    fails_with(
        &carnet(
            &data,
            &[
                "import",
                "--tenant",
                "acme",
                "--file",
                file,
                "--encoding",
                "klingon",
            ],
            None,
        ),
        "unknown encoding",
    );
    std::fs::remove_dir_all(&data).ok();
}

/// A client that trickles its headers in (slow-loris) is disconnected after the server's
/// 10-second header timeout, and the server keeps answering others.
#[test]
fn clients_that_never_finish_their_headers_are_disconnected() {
    use std::time::{Duration, Instant};
    let data = temp_dir();
    let (mut child, addr, _) = start_server(&data);
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    // Reads until the server closes the connection (or the 40 s read timeout fails the test).
    stalled
        .read_to_end(&mut answer)
        .expect("the server closes the connection");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(30),
        "disconnected after {waited:?}"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    let (status, _) = http(
        &addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200, "the server still answers");
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&data).ok();
}

/// A phone's vCard export (2.1 quoted-printable, 3.0, 4.0; accents, Chinese, Arabic): read
/// card by card, the bad one reported with its line, what has no field kept in `custom`.
#[test]
fn import_a_phone_vcard_file() {
    let data = temp_dir();
    ok(&carnet(
        &data,
        &["tenant", "create", "--slug", "acme", "--name", "Acme"],
        None,
    ));
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/contacts/phone.vcf"
    );
    let run = carnet(&data, &["import", "--tenant", "acme", "--file", file], None);
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        out.contains("3 rows: 2 created, 0 updated, 0 unchanged, 1 rejected"),
        "{out}"
    );
    assert!(
        out.contains("row 21: emails[0].value: is not a valid e-mail address"),
        "{out}"
    );
    let json = ok(&carnet(
        &data,
        &["export", "--tenant", "acme", "--format", "json"],
        None,
    ));
    let contacts: serde_json::Value = serde_json::from_str(&json).unwrap();
    let eloise = contacts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["last_name"] == "Lefèvre")
        .unwrap();
    assert_eq!(eloise["first_name"], "Éloïse");
    assert_eq!(
        eloise["phones"],
        serde_json::json!([
            {"label": "mobile", "value": "+33 6 12 34 56 78"},
            {"label": "work", "value": "+33 1 23 45 67 89"}
        ])
    );
    assert_eq!(eloise["emails"][0]["label"], "home");
    assert_eq!(eloise["custom"]["organization"], "Cabinet Lefèvre");
    assert_eq!(
        eloise["custom"]["note"],
        "Rencontrée au salon,\r\nrappeler en mars"
    );
    let li = contacts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["first_name"] == "小龙")
        .unwrap();
    assert_eq!(li["last_name"], "李");
    assert_eq!(
        li["custom"]["address"],
        "1 rue de la Paix, Paris, 75002, France"
    );
    assert_eq!(li["tags"], serde_json::json!(["Fournisseur", "Chine"]));
    std::fs::remove_dir_all(&data).ok();
}

/// `carnet import` killed half-way (SIGKILL: no clean-up at all) and run again on the same
/// file carries on from its last checkpoint: every row once, none missing.
#[test]
fn a_killed_import_run_again_carries_on() {
    killed_import_carries_on(&[]);
}

/// The same on PostgreSQL, where an import writes several batches at once and commits them
/// in file order: the batches in flight when the process dies are redone, nothing else.
#[test]
fn a_killed_postgres_import_run_again_carries_on() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(carnet_testkit::TestDb::new(
        carnet_testkit::Backend::Postgres,
    ));
    let carnet_store::DbLocation::Url(url) = db.owner.clone() else {
        unreachable!("a PostgreSQL test database has a URL");
    };
    killed_import_carries_on(&["--database-url", &url]);
    runtime.block_on(db.drop_db());
}

/// Kills `carnet import` (on the database `database` names, else SQLite) after its first
/// batches, runs it again, and finds every row once.
fn killed_import_carries_on(database: &[&str]) {
    use std::io::BufRead;
    const ROWS: usize = 30_000;
    let data = temp_dir();
    let run = |args: &[&str]| carnet(&data, &[database, args].concat(), None);
    ok(&run(&[
        "tenant", "create", "--slug", "acme", "--name", "Acme",
    ]));
    let file = crate::import_jobs::big_csv(ROWS);
    let path = file.to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_carnet"))
        .arg("--data-dir")
        .arg(&data)
        .args(database)
        .args(["import", "--tenant", "acme", "--file", path])
        .env_remove("CARNET_DATABASE_URL")
        .env("CARNET_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = 0;
    for line in stderr.lines() {
        let line = line.unwrap();
        // Progress lines come after each committed batch: "N rows read (…)".
        if let Some(n) = line.split(" rows read").next().and_then(|n| n.parse().ok()) {
            seen = n;
            if n >= 3000 {
                child.kill().unwrap();
                break;
            }
        }
    }
    child.wait().unwrap();
    assert!(
        (3000..ROWS).contains(&seen),
        "killed half-way, after {seen} rows"
    );

    let again = run(&["import", "--tenant", "acme", "--file", path]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("carrying on the interrupted import"), "{err}");
    let out = String::from_utf8_lossy(&again.stdout);
    assert!(
        out.contains(&format!(
            "{ROWS} rows: {} created, 0 updated, 0 unchanged, 1 rejected",
            ROWS - 1
        )),
        "{out}"
    );
    assert!(out.contains("row 3: emails[0].value:"), "{out}");
    let exported = ok(&run(&["export", "--tenant", "acme"]));
    let names: std::collections::HashSet<&str> = exported
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').find(|c| c.starts_with("Last")))
        .collect();
    assert_eq!(exported.lines().count() - 1, ROWS - 1, "no row twice");
    assert_eq!(names.len(), ROWS - 1, "every row once");
    std::fs::remove_file(&file).ok();
    std::fs::remove_dir_all(&data).ok();
}

/// The server runs uploaded imports in the background: a file posted to `/api/v1/imports`
/// is imported without anyone else doing anything.
#[test]
fn the_server_runs_uploaded_imports() {
    use std::time::{Duration, Instant};
    let data = temp_dir();
    let (mut child, addr, _) = start_server(&data);
    let out = ok(&carnet(
        &data,
        &[
            "apikey", "create", "--tenant", "demo", "--name", "t", "--scope", "read", "--scope",
            "write",
        ],
        None,
    ));
    let key = out.lines().last().unwrap().trim().to_owned();
    let csv = "Prénom,Nom,E-mail\nZoé,Upload,zoe.upload@example.test\nYann,Upload,\n";
    let (content_type, body) = carnet_testkit::multipart("new.csv", csv.as_bytes(), &[]);
    let mut request = format!(
        "POST /api/v1/imports HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream.write_all(&request).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    let location = answer
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap()
        .trim()
        .to_owned();
    let started = Instant::now();
    let job = loop {
        let (status, text) = http(
            &addr,
            &format!(
                "GET {location} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {key}\r\n\r\n"
            ),
        );
        assert_eq!(status, 200, "{text}");
        let job: serde_json::Value = serde_json::from_str(&text).unwrap();
        if job["status"] == "succeeded" || job["status"] == "failed" {
            break job;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "still {job}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        (job["created"].as_i64(), job["rejected"].as_i64()),
        (Some(2), Some(0))
    );

    // An upload announced over the limit is refused before it is read.
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /api/v1/imports HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 300000000\r\n\r\n--b\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    child.kill().unwrap();
    child.wait().unwrap();
    let csv = ok(&carnet(&data, &["export", "--tenant", "demo"], None));
    assert!(csv.contains("Zoé") && csv.contains("Yann"), "{csv}");
    std::fs::remove_dir_all(&data).ok();
}

/// An Excel workbook (shared strings, a phone stored as a number, a date cell, an empty
/// row, accents, Chinese and Arabic): the sheet chosen by name, every cell kept.
#[test]
fn import_an_excel_workbook() {
    let data = temp_dir();
    ok(&carnet(
        &data,
        &["tenant", "create", "--slug", "acme", "--name", "Acme"],
        None,
    ));
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/contacts/workbook.xlsx"
    );
    fails_with(
        &carnet(
            &data,
            &[
                "import", "--tenant", "acme", "--file", file, "--sheet", "Nope",
            ],
            None,
        ),
        "no sheet `Nope` (its sheets: Notes, Contacts)",
    );
    let run = carnet(
        &data,
        &[
            "import", "--tenant", "acme", "--file", file, "--sheet", "Contacts",
        ],
        None,
    );
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        out.contains("4 rows: 3 created, 0 updated, 0 unchanged, 1 rejected"),
        "{out}"
    );
    assert!(
        out.contains("row 6: emails[0].value: is not a valid e-mail address"),
        "{out}"
    );
    assert!(String::from_utf8_lossy(&run.stderr).contains("XLSX, sheet `Contacts`"));
    let json = ok(&carnet(
        &data,
        &["export", "--tenant", "acme", "--format", "json"],
        None,
    ));
    let all: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let find = |last: &str| {
        all.iter()
            .find(|c| c["last_name"] == last)
            .unwrap_or_else(|| panic!("{last} in {json}"))
    };
    let eloise = find("Lefèvre");
    assert_eq!(eloise["first_name"], "Éloïse");
    assert_eq!(eloise["custom"]["Date de naissance"], "1984-03-09");
    assert_eq!(eloise["custom"]["Société"], "Atelier Nord");
    assert_eq!(eloise["tags"], serde_json::json!(["VIP", "Client"]));
    let wang = find("王");
    assert_eq!(wang["first_name"], "秀英");
    assert_eq!(
        wang["phones"][0]["value"], "33612345678",
        "a number cell, as typed"
    );
    assert_eq!(wang["phones"][0]["label"], "mobile");
    assert_eq!(find("العلي")["custom"]["Date de naissance"], "1990-12-31");
    std::fs::remove_dir_all(&data).ok();
}

/// `carnet tenant export` and `restore` as an operator runs them: the archive file, its
/// listing, a restore into a new workspace, a refused restore that leaves nothing behind.
#[test]
fn tenant_archive_from_the_command_line() {
    let data = temp_dir();
    ok(&carnet(
        &data,
        &["tenant", "create", "--slug", "acme", "--name", "Acme"],
        None,
    ));
    let seeded = ok(&carnet(
        &data,
        &[
            "demo",
            "--tenant",
            "acme",
            "--contacts",
            "40",
            "--activities",
            "60",
        ],
        None,
    ));
    assert!(
        seeded.contains("added 40 demo activities to acme"),
        "one per contact at most: {seeded}"
    );
    let archive = data.join("acme.carnet.zip");
    let out = ok(&carnet(
        &data,
        &[
            "tenant",
            "export",
            "--slug",
            "acme",
            "--output",
            archive.to_str().unwrap(),
        ],
        None,
    ));
    assert!(out.contains("contacts.jsonl\t40 records\tsha256 "), "{out}");
    assert!(
        out.contains("activities.jsonl\t40 records\tsha256 "),
        "{out}"
    );
    let restored = ok(&carnet(
        &data,
        &[
            "tenant",
            "restore",
            "--slug",
            "acme-copy",
            "--input",
            archive.to_str().unwrap(),
        ],
        None,
    ));
    assert!(
        restored.contains(
            "restored 40 contacts, 40 activities and 80 audit events into workspace acme-copy"
        ),
        "{restored}"
    );
    let list = ok(&carnet(&data, &["tenant", "list"], None));
    assert!(list.contains("acme-copy\tAcme\t"), "{list}");
    let original = ok(&carnet(
        &data,
        &["export", "--tenant", "acme", "--format", "json"],
        None,
    ));
    let copy = ok(&carnet(
        &data,
        &["export", "--tenant", "acme-copy", "--format", "json"],
        None,
    ));
    assert_eq!(original, copy, "the same contacts, ids and times included");
    fails_with(
        &carnet(
            &data,
            &[
                "tenant",
                "restore",
                "--slug",
                "acme",
                "--input",
                archive.to_str().unwrap(),
            ],
            None,
        ),
        "already holds records",
    );
    fails_with(
        &carnet(
            &data,
            &[
                "tenant",
                "restore",
                "--slug",
                "x",
                "--input",
                "/nonexistent.zip",
            ],
            None,
        ),
        "cannot open /nonexistent.zip",
    );
    std::fs::remove_dir_all(&data).ok();
}

#[test]
fn activities_from_and_to_calendar_files() {
    let data = temp_dir();
    ok(&carnet(
        &data,
        &["tenant", "create", "--slug", "acme", "--name", "Acme"],
        None,
    ));
    let ics = data.join("in.ics");
    std::fs::write(
        &ics,
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:ev-1@elsewhere\r\nDTSTART:20261201T090000Z\r\n\
         SUMMARY:Réunion\r\nEND:VEVENT\r\nBEGIN:VTODO\r\nUID:td-1@elsewhere\r\nDTSTART:20261202T090000Z\r\n\
         END:VTODO\r\nEND:VCALENDAR\r\n",
    )
    .unwrap();
    let file = ics.to_str().unwrap();
    let import = [
        "import",
        "--tenant",
        "acme",
        "--entity",
        "activities",
        "--file",
        file,
    ];
    let dry = carnet(&data, &[&import[..], &["--dry-run"]].concat(), None);
    fails_with(&dry, "line 7: refused: SUMMARY: is required");
    assert!(
        String::from_utf8_lossy(&dry.stdout)
            .contains("would import: 1 created, 0 updated, 0 unchanged, 1 refused")
    );
    let exported = ok(&carnet(
        &data,
        &["export", "--tenant", "acme", "--entity", "activities"],
        None,
    ));
    assert!(
        !exported.contains("BEGIN:VEVENT"),
        "a dry run writes nothing"
    );
    let real = carnet(&data, &import, None);
    assert!(!real.status.success(), "a refused event fails the command");
    let exported = ok(&carnet(
        &data,
        &["export", "--tenant", "acme", "--entity", "activities"],
        None,
    ));
    assert!(exported.contains("UID:ev-1@elsewhere\r\n"), "{exported}");
    assert!(exported.contains("SUMMARY:Réunion\r\n"));
    let json = ok(&carnet(
        &data,
        &[
            "export",
            "--tenant",
            "acme",
            "--entity",
            "activities",
            "--format",
            "json",
        ],
        None,
    ));
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(list[0]["uid"], "ev-1@elsewhere");
    fails_with(
        &carnet(
            &data,
            &[
                "export",
                "--tenant",
                "acme",
                "--entity",
                "activities",
                "--format",
                "csv",
            ],
            None,
        ),
        "unknown format `csv`; expected one of: ics, json",
    );
    fails_with(
        &carnet(&data, &[&import[..], &["--mode", "create"]].concat(), None),
        "--mode applies to contacts",
    );
}
