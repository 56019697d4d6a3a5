//! What each subcommand does.

use crate::cli::{ApiKeyCommand, Command, ServeArgs, TenantCommand, UserCommand};
use crate::config::Config;
use anyhow::{Context, bail};
use axum_server::tls_rustls::RustlsConfig;
use carnet_core::{ApiKeyId, Role, Scope};
use carnet_formats::contact_columns::{columns_for, row_to_json};
use carnet_formats::table::{TableOptions, TableReader};
use carnet_service::admin::NewUser;
use carnet_service::contacts::{ImportOptions, ImportRow, RejectedRow};
use carnet_service::{Carnet, SystemClock, TenantContext};
use carnet_store::{Db, SchemaStatus};
use std::io::IsTerminal;
use std::io::{BufRead, BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(args, config).await,
        Command::Migrate { dry_run } => migrate(&config, dry_run).await,
        other => {
            let carnet = open(&config).await?;
            let result = admin(other, &carnet).await;
            carnet.db().close().await;
            result
        }
    }
}

/// Opens the database for the CLI's admin commands: the schema must be current.
async fn open(config: &Config) -> anyhow::Result<Carnet> {
    let location = config.location();
    let status = carnet_store::schema_status(&location).await?;
    if status == SchemaStatus::Empty {
        carnet_store::migrate(&location, false).await?;
    } else if let Some(why) = status.refusal() {
        bail!(why);
    }
    let db = Db::connect(&location).await?;
    Ok(Carnet::new(db, Arc::new(SystemClock)))
}

async fn migrate(config: &Config, dry_run: bool) -> anyhow::Result<()> {
    let report = carnet_store::migrate(&config.location(), dry_run).await?;
    if let Some(backup) = &report.backup {
        println!("backup written to {}", backup.display());
    }
    match (report.applied.is_empty(), dry_run) {
        (true, _) => println!("schema is up to date"),
        (false, true) => println!("would apply migrations {:?}", report.applied),
        (false, false) => println!("applied migrations {:?}", report.applied),
    }
    Ok(())
}

async fn serve(args: ServeArgs, config: Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let carnet = open(&config).await?;
    if args.demo
        && let Some(login) = carnet.ensure_demo().await?
    {
        println!("Demo workspace created. Sign in with:");
        println!("  e-mail:   {}", login.email);
        println!("  password: {}", login.password);
        println!("(shown only this once)");
    }
    let listen = args.listen.unwrap_or_else(|| config.listen.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let tls = match (
        args.tls_cert.or(config.tls_cert.clone()),
        args.tls_key.or(config.tls_key.clone()),
    ) {
        (Some(cert), Some(key)) => Some(load_tls(&cert, &key).await?),
        (None, None) => None,
        _ => bail!(
            "a TLS certificate needs its key, and a key its certificate (tls_cert and tls_key)"
        ),
    };
    let web_config = carnet_web::WebConfig {
        https: tls.is_some(),
        read_only: args.read_only || config.read_only,
        ..carnet_web::WebConfig::default()
    };
    let app = carnet_web::router(carnet_web::AppState::new(carnet.clone(), web_config))
        .into_make_service_with_connect_info::<SocketAddr>();
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "Carnet is ready at {scheme}://{addr}/ (in {} ms)",
        started.elapsed().as_millis()
    );
    tracing::info!(%addr, scheme, "serving");
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown().await;
        stopper.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    let listener = listener.into_std()?;
    match tls {
        None => {
            let mut server = axum_server::from_tcp(listener)?;
            server
                .http_builder()
                .http1()
                .header_read_timeout(HEADER_TIMEOUT);
            server.handle(handle).serve(app).await?;
        }
        Some(tls) => {
            let mut server = axum_server::tls_rustls::from_tcp_rustls(listener, tls)?;
            server
                .http_builder()
                .http1()
                .header_read_timeout(HEADER_TIMEOUT);
            server.handle(handle).serve(app).await?;
        }
    }
    carnet.db().close().await;
    Ok(())
}

/// How long a client may take to send a request's headers: slow clients that trickle them
/// in (slow-loris) are disconnected instead of holding a connection open forever.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads the certificate chain and key; rustls with the *ring* provider.
async fn load_tls(cert: &Path, key: &Path) -> anyhow::Result<RustlsConfig> {
    // Installing twice (tests start several servers in one process) is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    RustlsConfig::from_pem_file(cert, key)
        .await
        .with_context(|| {
            format!(
                "cannot load the TLS certificate {} and key {}",
                cert.display(),
                key.display()
            )
        })
}

fn parse_delimiter(raw: &str) -> anyhow::Result<u8> {
    match raw {
        "tab" | "\\t" => Ok(b'\t'),
        _ if raw.len() == 1 => Ok(raw.as_bytes()[0]),
        _ => bail!("--delimiter must be one character, or `tab`"),
    }
}

/// Imports a CSV file of contacts and prints what happened to every row.
async fn import(
    carnet: &Carnet,
    tenant: &str,
    entity: &str,
    file: &Path,
    table: TableOptions,
    options: ImportOptions,
) -> anyhow::Result<()> {
    if entity != "contacts" {
        bail!("cannot import `{entity}`: only contacts can be imported so far");
    }
    let t = carnet.tenant_by_slug(tenant).await?;
    let ctx = TenantContext::system(t.id);
    let progress = progress_printer(std::io::stderr().is_terminal());
    let extension = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let report = if matches!(extension.as_str(), "vcf" | "vcard") {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot open {}", file.display()))?;
        let rows = carnet_formats::vcard_read::cards(&carnet_formats::vcard_read::decode(&bytes))
            .into_iter()
            .map(|card| ImportRow::from_read(card, "card"));
        carnet
            .import_contacts(&ctx, rows.collect::<Vec<_>>(), options, progress)
            .await?
    } else if extension == "json" {
        let text =
            std::fs::read(file).with_context(|| format!("cannot open {}", file.display()))?;
        let document: serde_json::Value = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not valid JSON", file.display()))?;
        let rows = carnet_formats::contact_json::rows(document).map_err(anyhow::Error::msg)?;
        let rows = rows
            .into_iter()
            .map(|item| ImportRow::from_read(item, "contact"));
        carnet
            .import_contacts(&ctx, rows, options, progress)
            .await?
    } else {
        import_table(carnet, &ctx, file, table, options, progress).await?
    };
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    print_report(&report, options)
}

/// Shows an import's progress: one line redrawn in place on a terminal (rows, rate, counts),
/// plain lines otherwise (logs, pipes).
fn progress_printer(terminal: bool) -> impl FnMut(&carnet_service::contacts::ImportReport) {
    let started = std::time::Instant::now();
    move |r| {
        let secs = started.elapsed().as_secs_f64().max(0.001);
        let line = format!(
            "{} rows read ({:.0} rows/s): {} created, {} updated, {} unchanged, {} refused",
            r.rows,
            r.rows as f64 / secs,
            r.created,
            r.updated,
            r.unchanged,
            r.rejected.len()
        );
        if terminal {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
    }
}

/// Imports a CSV file.
async fn import_table(
    carnet: &Carnet,
    ctx: &TenantContext,
    file: &Path,
    table: TableOptions,
    options: ImportOptions,
    progress: impl FnMut(&carnet_service::contacts::ImportReport),
) -> anyhow::Result<carnet_service::contacts::ImportReport> {
    let input =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let reader = TableReader::csv(input, &table)
        .with_context(|| format!("cannot read {}", file.display()))?;
    eprintln!(
        "reading {} ({}, delimiter {:?})",
        file.display(),
        reader.encoding,
        char::from(reader.delimiter)
    );
    let columns = columns_for(&reader.headers);
    let rows = reader.map(move |row| match row {
        Ok((row, cells)) => {
            let (body, id) = row_to_json(&columns, &cells);
            Ok(ImportRow { row, body, id })
        }
        Err(e) => Err(RejectedRow {
            row: match &e {
                carnet_formats::table::TableError::Row { row, .. } => *row,
                _ => 0,
            },
            field: "row".into(),
            message: e.to_string(),
        }),
    });
    Ok(carnet.import_contacts(ctx, rows, options, progress).await?)
}

/// Prints what an import did; fails when rows were refused.
fn print_report(
    report: &carnet_service::contacts::ImportReport,
    options: ImportOptions,
) -> anyhow::Result<()> {
    let prefix = if options.dry_run {
        "dry run, nothing written: "
    } else {
        ""
    };
    println!(
        "{prefix}{} rows: {} created, {} updated, {} unchanged, {} rejected",
        report.rows,
        report.created,
        report.updated,
        report.unchanged,
        rejected_rows(report)
    );
    for r in &report.rejected {
        println!("row {}: {}: {}", r.row, r.field, r.message);
    }
    if !report.rejected.is_empty() {
        bail!(
            "{} rows were not imported (listed above); correct them and import the file again: \
             rows already imported are matched, not duplicated",
            rejected_rows(report)
        );
    }
    Ok(())
}

fn rejected_rows(report: &carnet_service::contacts::ImportReport) -> usize {
    let mut rows: Vec<u64> = report.rejected.iter().map(|r| r.row).collect();
    rows.dedup();
    rows.len()
}

/// Writes every contact of `tenant` in `format` to `output` (or stdout), page by page.
async fn export(
    carnet: &Carnet,
    tenant: &str,
    entity: &str,
    format: &str,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    if entity != "contacts" {
        bail!("cannot export `{entity}`: only contacts can be exported so far");
    }
    let format: carnet_formats::Format = format.parse()?;
    let t = carnet.tenant_by_slug(tenant).await?;
    let params = carnet_service::contacts::ListParams::parse([])?;
    let (layout, mut pages) = carnet
        .export_contacts(&TenantContext::system(t.id), params, format)
        .await?;
    let out: Box<dyn Write> = match output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut writer =
        carnet_formats::contacts::ContactsWriter::new(BufWriter::new(out), format, layout)?;
    let mut count = 0usize;
    while let Some(page) = pages.next(carnet).await? {
        for contact in &page {
            writer.write(contact)?;
        }
        count += page.len();
    }
    writer.finish()?.flush()?;
    if let Some(path) = output {
        eprintln!("exported {count} contacts to {}", path.display());
    }
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

async fn admin(command: Command, carnet: &Carnet) -> anyhow::Result<()> {
    match command {
        Command::Tenant(TenantCommand::Create { slug, name }) => {
            let t = carnet.create_tenant(&slug, &name).await?;
            println!("created workspace {} ({}) id {}", t.slug, t.name, t.id);
        }
        Command::Tenant(TenantCommand::List) => {
            for t in carnet.list_tenants().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.slug, t.name, t.status, t.placement, t.id
                );
            }
        }
        Command::User(UserCommand::Create {
            tenant,
            email,
            role,
            name,
            password_stdin: _,
        }) => {
            let role: Role = role.parse()?;
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("cannot read the password from stdin")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let (user, created) = carnet
                .create_user(NewUser {
                    email: &email,
                    display_name: name.as_deref(),
                    password,
                    tenant_slug: &tenant,
                    role,
                })
                .await?;
            let what = if created {
                "created user"
            } else {
                "added existing user"
            };
            println!(
                "{what} {} to {tenant} as {role} (id {})",
                user.email, user.id
            );
        }
        Command::Apikey(ApiKeyCommand::Create {
            tenant,
            name,
            scopes,
        }) => {
            let scopes = scopes
                .iter()
                .map(|s| s.parse::<Scope>())
                .collect::<Result<Vec<_>, _>>()?;
            let (key, plain) = carnet.create_api_key(&tenant, &name, &scopes).await?;
            println!(
                "created API key {} ({}) id {}; store it now, it is shown only once:",
                key.name, key.prefix, key.id
            );
            println!("{plain}");
        }
        Command::Apikey(ApiKeyCommand::List { tenant }) => {
            for k in carnet.list_api_keys(&tenant).await? {
                let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                let used = k.last_used_at.map_or_else(
                    || "never used".into(),
                    |t| format!("last used {}", t.to_rfc3339()),
                );
                println!(
                    "{}\t{}\tcarnet_{}_…\t{}\t{state}\t{used}",
                    k.id,
                    k.name,
                    k.prefix,
                    scopes.join(",")
                );
            }
        }
        Command::Apikey(ApiKeyCommand::Revoke { tenant, id }) => {
            let id: ApiKeyId = id.parse().context("--id must be an API key id (a UUID)")?;
            carnet.revoke_api_key(&tenant, id).await?;
            println!("revoked API key {id}");
        }
        Command::Import {
            tenant,
            entity,
            file,
            mode,
            match_key,
            encoding,
            delimiter,
            dry_run,
        } => {
            let options = ImportOptions {
                mode: mode.parse()?,
                match_key: match_key.parse()?,
                dry_run,
            };
            let table = TableOptions {
                encoding,
                delimiter: delimiter.as_deref().map(parse_delimiter).transpose()?,
            };
            import(carnet, &tenant, &entity, &file, table, options).await?;
        }
        Command::Export {
            tenant,
            entity,
            format,
            output,
        } => {
            export(carnet, &tenant, &entity, &format, output.as_deref()).await?;
        }
        Command::Demo { tenant, contacts } => {
            let t = carnet.tenant_by_slug(&tenant).await?;
            let n = carnet
                .seed_contacts(&TenantContext::system(t.id), contacts)
                .await?;
            println!("added {n} demo contacts to {tenant}");
        }
        Command::Serve(_) | Command::Migrate { .. } => {}
    }
    Ok(())
}
