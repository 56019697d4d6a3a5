//! What each subcommand does.

use crate::cli::{ApiKeyCommand, Command, ServeArgs, TenantCommand, UserCommand};
use crate::config::Config;
use anyhow::{Context, bail};
use axum_server::tls_rustls::RustlsConfig;
use carnet_core::{ApiKeyId, Role, Scope};
use carnet_service::admin::NewUser;
use carnet_service::imports::{self, ImportFormat, ImportSpec};
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
    let web_read_only = args.read_only || config.read_only;
    let web_config = carnet_web::WebConfig {
        https: tls.is_some(),
        read_only: web_read_only,
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
    let (stop_jobs, mut jobs_stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown().await;
        // Nobody listens when no worker runs (read-only mode).
        let _ = stop_jobs.send(true);
        stopper.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    // Background jobs (imports) run beside the server; none in read-only mode, which
    // writes nothing. A job cut short by the shutdown is carried on by the next worker.
    let worker = (!web_read_only).then(|| {
        let carnet = carnet.clone();
        tokio::spawn(async move {
            let owner = carnet_service::imports::worker_name("serve");
            carnet
                .work_jobs(&owner, async move {
                    // An error means the sender is gone: stop too.
                    let _ = jobs_stopped.changed().await;
                })
                .await;
        })
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
    if let Some(worker) = worker {
        // The worker stops at the shutdown signal; a panic in it was logged already.
        let _ = worker.await;
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

/// A mapping file: a JSON object of column header → field.
fn read_mapping(path: &Path) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot open the mapping file {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} must be a JSON object of column header to field, such as \
             {{\"Mail\": \"email\", \"Notes\": \"custom:notes\"}}",
            path.display()
        )
    })
}

fn parse_delimiter(raw: &str) -> anyhow::Result<char> {
    let mut chars = raw.chars();
    match (raw, chars.next(), chars.next()) {
        ("tab" | "\\t", _, _) => Ok('\t'),
        (_, Some(c), None) => Ok(c),
        _ => bail!("--delimiter must be one character, or `tab`"),
    }
}

/// Imports a file of contacts and prints what happened to every row. A real run is a job
/// with a checkpoint per batch: run again after an interruption, it carries on.
async fn import(
    carnet: &Carnet,
    tenant: &str,
    file: &Path,
    spec: ImportSpec,
) -> anyhow::Result<()> {
    let options = spec.options()?;
    std::fs::metadata(file).with_context(|| format!("cannot open {}", file.display()))?;
    let t = carnet.tenant_by_slug(tenant).await?;
    let ctx = TenantContext::system(t.id);
    let terminal = std::io::stderr().is_terminal();
    eprintln!(
        "reading {} ({})",
        file.display(),
        imports::describe(file, &spec)?
    );
    if options.dry_run {
        let (rows, _) = imports::open_rows(file, &spec)?;
        let report = carnet
            .import_contacts(&ctx, rows, options, progress_printer(terminal))
            .await?;
        end_progress(terminal);
        let counts = carnet_store::jobs::Progress {
            rows_done: report.rows as i64,
            created: report.created as i64,
            updated: report.updated as i64,
            unchanged: report.unchanged as i64,
            rejected: report.refused as i64,
        };
        print_counts("dry run, nothing written: ", &counts);
        for r in &report.rejected {
            println!("row {}: {}: {}", r.row, r.field, r.message);
        }
        return refused(report.refused);
    }
    let job = carnet
        .import_local_file(
            &ctx,
            &spec,
            file,
            |job| {
                eprintln!(
                    "carrying on the interrupted import of this file (job {}) after its first {} rows",
                    job.id, job.progress.rows_done
                );
            },
            progress_printer(terminal),
        )
        .await?;
    end_progress(terminal);
    print_counts("", &job.progress);
    let mut after = None;
    loop {
        let page = carnet.import_rejections(&ctx, job.id, after, 1000).await?;
        for r in &page {
            println!("row {}: {}: {}", r.row_number, r.field, r.message);
        }
        match page.last() {
            Some(last) => after = Some(last.seq),
            None => break,
        }
    }
    if let Some(error) = &job.error {
        bail!("the import stopped: {error}");
    }
    refused(job.progress.rejected as u64)
}

fn end_progress(terminal: bool) {
    if terminal {
        eprintln!();
    }
}

fn print_counts(prefix: &str, p: &carnet_store::jobs::Progress) {
    println!(
        "{prefix}{} rows: {} created, {} updated, {} unchanged, {} rejected",
        p.rows_done, p.created, p.updated, p.unchanged, p.rejected
    );
}

/// Fails when rows were refused (they are listed above).
fn refused(rows: u64) -> anyhow::Result<()> {
    if rows > 0 {
        bail!(
            "{rows} rows were not imported (listed above); correct them and import the file again: \
             rows already imported are matched, not duplicated"
        );
    }
    Ok(())
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
            r.refused
        );
        if terminal {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
    }
}

/// Writes every contact of `tenant` in `format` to `output` (or stdout), page by page.
async fn export(
    carnet: &Carnet,
    tenant: &str,
    entity: &str,
    format: &str,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let t = carnet.tenant_by_slug(tenant).await?;
    let ctx = TenantContext::system(t.id);
    let out: Box<dyn Write> = match output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    match entity {
        "contacts" => {}
        "activities" => return export_activities(carnet, &ctx, format, out, output).await,
        _ => bail!("cannot export `{entity}`: contacts or activities"),
    }
    let format: carnet_formats::Format = format.parse()?;
    let params = carnet_service::contacts::ListParams::parse([])?;
    let (layout, mut pages) = carnet.export_contacts(&ctx, params, format).await?;
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

/// Writes every activity of the workspace as iCalendar or JSON.
async fn export_activities(
    carnet: &Carnet,
    ctx: &TenantContext,
    format: &str,
    out: Box<dyn Write>,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let format: carnet_formats::activities::ActivityFormat = format.parse()?;
    let params = carnet_service::activities::ActivityListParams::parse([])?;
    let mut pages = carnet.export_activities(ctx, params, format.name()).await?;
    let mut writer =
        carnet_formats::activities::ActivitiesWriter::new(BufWriter::new(out), format)?;
    let mut count = 0usize;
    while let Some(page) = pages.next(carnet).await? {
        for (activity, contact) in &page {
            writer.write(activity, contact.as_ref())?;
        }
        count += page.len();
    }
    writer.finish()?.flush()?;
    if let Some(path) = output {
        eprintln!("exported {count} activities to {}", path.display());
    }
    Ok(())
}

/// Imports the events and to-dos of an iCalendar file as activities and prints what was
/// done; an event refused fails the command (after the others were imported).
async fn import_calendar(
    carnet: &Carnet,
    tenant: &str,
    file: &Path,
    dry_run: bool,
) -> anyhow::Result<()> {
    let t = carnet.tenant_by_slug(tenant).await?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let report = carnet
        .import_calendar(&TenantContext::system(t.id), &bytes, dry_run)
        .await?;
    for note in &report.notes {
        eprintln!("line {}: {}", note.line, note.message);
    }
    for r in &report.rejected {
        eprintln!("line {}: refused: {}: {}", r.line, r.field, r.message);
    }
    let verb = if dry_run { "would import" } else { "imported" };
    println!(
        "{verb}: {} created, {} updated, {} unchanged, {} refused",
        report.created,
        report.updated,
        report.unchanged,
        report.rejected_events()
    );
    if !report.rejected.is_empty() {
        bail!(
            "{} events were refused (listed above)",
            report.rejected_events()
        );
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
        Command::Tenant(TenantCommand::Export { slug, output }) => {
            // Written beside the target and renamed at the end: a failed export never
            // leaves a file that looks complete.
            let partial = output.with_extension("partial");
            let file = std::fs::File::create(&partial)
                .with_context(|| format!("cannot create {}", partial.display()))?;
            let manifest = match carnet.export_archive(&slug, file).await {
                Ok(m) => m,
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(e.into());
                }
            };
            std::fs::rename(&partial, &output)
                .with_context(|| format!("cannot write {}", output.display()))?;
            for f in &manifest.files {
                println!("{}\t{} records\tsha256 {}", f.name, f.records, f.sha256);
            }
            println!("archived workspace {slug} to {}", output.display());
        }
        Command::Tenant(TenantCommand::Restore { slug, input, name }) => {
            let file = std::fs::File::open(&input)
                .with_context(|| format!("cannot open {}", input.display()))?;
            let report = carnet
                .restore_archive(&slug, name.as_deref(), std::io::BufReader::new(file))
                .await?;
            println!(
                "restored {} contacts, {} activities and {} audit events into workspace {slug}",
                report.contacts, report.activities, report.audit_events
            );
            if report.owners_cleared > 0 {
                println!(
                    "{} records had an owner who is not a member of {slug}: their owner was cleared",
                    report.owners_cleared
                );
            }
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
            mapping,
            sheet,
            dry_run,
        } => {
            if entity == "activities" {
                let contact_only = [
                    ("--mode", mode != "upsert"),
                    ("--match", match_key != "email"),
                    ("--encoding", encoding.is_some()),
                    ("--delimiter", delimiter.is_some()),
                    ("--mapping", mapping.is_some()),
                    ("--sheet", sheet.is_some()),
                ];
                if let Some((option, _)) = contact_only.iter().find(|(_, given)| *given) {
                    bail!("{option} applies to contacts; activities come from iCalendar files");
                }
                return import_calendar(carnet, &tenant, &file, dry_run).await;
            }
            let mapping = match mapping {
                Some(path) => read_mapping(&path)?,
                None => Default::default(),
            };
            let spec = ImportSpec {
                entity,
                format: ImportFormat::from_file_name(&file.to_string_lossy()),
                encoding,
                delimiter: delimiter.as_deref().map(parse_delimiter).transpose()?,
                mode,
                match_key,
                dry_run,
                mapping,
                sheet,
            };
            import(carnet, &tenant, &file, spec).await?;
        }
        Command::Export {
            tenant,
            entity,
            format,
            output,
        } => {
            let format = format
                .unwrap_or_else(|| if entity == "activities" { "ics" } else { "csv" }.to_owned());
            export(carnet, &tenant, &entity, &format, output.as_deref()).await?;
        }
        Command::Demo {
            tenant,
            contacts,
            activities,
        } => {
            let t = carnet.tenant_by_slug(&tenant).await?;
            let ctx = TenantContext::system(t.id);
            let n = carnet.seed_contacts(&ctx, contacts).await?;
            println!("added {n} demo contacts to {tenant}");
            if activities > 0 {
                let n = carnet.seed_activities(&ctx, activities).await?;
                println!("added {n} demo activities to {tenant}");
            }
        }
        Command::Serve(_) | Command::Migrate { .. } => {}
    }
    Ok(())
}
