//! Import jobs: a file and what to do with it, run in the background with a checkpoint
//! committed with every batch, so that an import killed half-way carries on where it
//! stopped (no row twice, none missing).
//!
//! Files uploaded through the API are stored with their job (any instance can run it);
//! `carnet import` records a job for its local file and resumes it when run again on the
//! same file.

use crate::contacts::import::Checkpoint;
use crate::contacts::{ImportMode, ImportOptions, ImportReport, ImportRow, MatchKey, RejectedRow};
use crate::context::{Actor, TenantContext};
use crate::jobs::LEASE;
use crate::{Carnet, ServiceError, ServiceResult};
use carnet_core::ValidationErrors;
use carnet_core::contact::ContactInput;
use carnet_core::{Access, ApiKeyId, UserId};
use carnet_formats::contact_columns::{
    columns_for, columns_with, parse_target, row_to_json, target_name,
};
use carnet_formats::table::{TableError, TableOptions, TableReader};
use carnet_formats::xlsx_read::XlsxReader;
use carnet_store::jobs::{self, Job, NewJob, Rejection};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;
use uuid::Uuid;

/// Size of the pieces an uploaded file is stored in.
const CHUNK: usize = 1024 * 1024;

/// The formats an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportFormat {
    /// CSV in any common encoding and delimiter.
    Csv,
    /// vCard 2.1, 3.0 or 4.0.
    Vcard,
    /// Carnet's own JSON export.
    Json,
    /// An Excel workbook (its first sheet, or the one named).
    Xlsx,
}

impl ImportFormat {
    /// The format a file name suggests: `.vcf`/`.vcard`, `.json`, else CSV.
    pub fn from_file_name(name: &str) -> ImportFormat {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".vcf") || lower.ends_with(".vcard") {
            ImportFormat::Vcard
        } else if lower.ends_with(".json") {
            ImportFormat::Json
        } else if lower.ends_with(".xlsx") {
            ImportFormat::Xlsx
        } else {
            ImportFormat::Csv
        }
    }

    /// `csv`, `xlsx`, `vcard` or `json`, as the API takes it.
    pub fn parse(raw: &str) -> ServiceResult<ImportFormat> {
        match raw {
            "csv" => Ok(ImportFormat::Csv),
            "vcard" | "vcf" => Ok(ImportFormat::Vcard),
            "json" => Ok(ImportFormat::Json),
            "xlsx" => Ok(ImportFormat::Xlsx),
            _ => Err(ServiceError::BadParameter {
                field: "format".into(),
                message: "must be csv, xlsx, vcard or json".into(),
            }),
        }
    }
}

/// What an import job does, as stored with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSpec {
    /// What is imported; today `contacts`.
    pub entity: String,
    pub format: ImportFormat,
    /// A forced encoding (CSV); detected otherwise.
    pub encoding: Option<String>,
    /// A forced delimiter (CSV); detected otherwise.
    pub delimiter: Option<char>,
    /// `create`, `update` or `upsert`.
    pub mode: String,
    /// `email` or `id`.
    #[serde(rename = "match")]
    pub match_key: String,
    pub dry_run: bool,
    /// Column header → field, overriding detection (CSV): `first_name`, `email`,
    /// `phone:mobile`, `custom:<name>`, `ignore`, … (see `contact_columns::TARGETS`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mapping: BTreeMap<String, String>,
    /// The sheet of a workbook (XLSX); the first one when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
}

impl ImportSpec {
    /// Contacts in `format`, with the defaults: upsert, matched by e-mail, detection for
    /// everything else.
    pub fn contacts(format: ImportFormat) -> ImportSpec {
        ImportSpec {
            entity: "contacts".into(),
            format,
            encoding: None,
            delimiter: None,
            mode: "upsert".into(),
            match_key: "email".into(),
            dry_run: false,
            mapping: BTreeMap::new(),
            sheet: None,
        }
    }

    /// Checks every setting, naming the one at fault.
    pub fn options(&self) -> ServiceResult<ImportOptions> {
        if self.entity != "contacts" {
            return Err(ServiceError::BadParameter {
                field: "entity".into(),
                message: format!("cannot import `{}`: only contacts so far", self.entity),
            });
        }
        if let Some(label) = &self.encoding
            && !carnet_formats::table::known_encoding(label)
        {
            return Err(ServiceError::BadParameter {
                field: "encoding".into(),
                message: format!(
                    "unknown encoding `{label}`; use utf-8, utf-16, windows-1252 or iso-8859-15"
                ),
            });
        }
        if let Some(d) = self.delimiter
            && (!d.is_ascii() || d.is_ascii_alphanumeric() || d == '"' || d == '\n' || d == '\r')
        {
            return Err(ServiceError::BadParameter {
                field: "delimiter".into(),
                message: "must be one ASCII punctuation character or a tab".into(),
            });
        }
        let table = matches!(self.format, ImportFormat::Csv | ImportFormat::Xlsx);
        if !self.mapping.is_empty() && !table {
            return Err(ServiceError::BadParameter {
                field: "mapping".into(),
                message: "a column mapping applies to CSV and XLSX files only".into(),
            });
        }
        if self.sheet.is_some() && self.format != ImportFormat::Xlsx {
            return Err(ServiceError::BadParameter {
                field: "sheet".into(),
                message: "a sheet is chosen in XLSX workbooks only".into(),
            });
        }
        for (position, (header, target)) in self.mapping.iter().enumerate() {
            parse_target(target, position).map_err(|e| ServiceError::BadParameter {
                field: "mapping".into(),
                message: format!("{header}: {e}"),
            })?;
        }
        Ok(ImportOptions {
            mode: self.mode.parse::<ImportMode>()?,
            match_key: self.match_key.parse::<MatchKey>()?,
            dry_run: self.dry_run,
        })
    }

    fn table_options(&self) -> TableOptions {
        TableOptions {
            encoding: self.encoding.clone(),
            // Checked by `options`: ASCII.
            delimiter: self.delimiter.map(|d| d as u8),
        }
    }
}

/// The rows of a file, read on demand.
pub type Rows = Box<dyn Iterator<Item = Result<ImportRow, RejectedRow>> + Send>;

/// Opens `path` as `spec` says. Every format streams: one row at a time is in memory (and
/// an XLSX workbook's shared strings).
/// The text describes what was detected (encoding and delimiter of a CSV file).
pub fn open_rows(path: &Path, spec: &ImportSpec) -> ServiceResult<(Rows, String)> {
    let unreadable = |e: std::io::Error| ServiceError::BadParameter {
        field: "file".into(),
        message: format!("cannot read the file: {e}"),
    };
    match spec.format {
        ImportFormat::Csv => {
            let file = std::fs::File::open(path).map_err(unreadable)?;
            let reader = TableReader::csv(file, &spec.table_options()).map_err(|e| {
                ServiceError::BadParameter {
                    field: match e {
                        TableError::UnknownEncoding(_) => "encoding",
                        _ => "file",
                    }
                    .into(),
                    message: e.to_string(),
                }
            })?;
            let detected = format!(
                "{}, delimiter {:?}",
                reader.encoding,
                char::from(reader.delimiter)
            );
            let headers = reader.headers.clone();
            let rows = reader.map(|row| {
                row.map_err(|e| {
                    let row = match &e {
                        TableError::Row { row, .. } => *row,
                        _ => 0,
                    };
                    (row, e.to_string())
                })
            });
            Ok((table_rows(&headers, rows, &spec.mapping)?, detected))
        }
        ImportFormat::Xlsx => {
            let reader = XlsxReader::open(path, spec.sheet.as_deref()).map_err(|e| {
                ServiceError::BadParameter {
                    field: if e.0.contains("no sheet `") {
                        "sheet"
                    } else {
                        "file"
                    }
                    .into(),
                    message: e.to_string(),
                }
            })?;
            let detected = format!("XLSX, sheet `{}`", reader.sheet);
            let headers = reader.headers.clone();
            // A broken sheet ends the reading with an error reported as a refusal (at row
            // 0: the file), so a truncated import never looks complete.
            let rows = reader.map(|row| row.map_err(|e| (0, e.to_string())));
            Ok((table_rows(&headers, rows, &spec.mapping)?, detected))
        }
        ImportFormat::Vcard => {
            let file = std::fs::File::open(path).map_err(unreadable)?;
            let rows = carnet_formats::vcard_read::read_cards(BufReader::new(file))
                .map(|card| ImportRow::from_read(card, "card"));
            Ok((Box::new(rows), "vCard".into()))
        }
        ImportFormat::Json => {
            let file = std::fs::File::open(path).map_err(unreadable)?;
            let rows = carnet_formats::contact_json::stream(BufReader::new(file))
                .map_err(|message| ServiceError::BadParameter {
                    field: "file".into(),
                    message,
                })?
                .map(|item| ImportRow::from_read(item, "contact"));
            Ok((Box::new(rows), "Carnet JSON".into()))
        }
    }
}

/// Rows of a table (CSV, XLSX) as import rows, its columns read by `mapping` over detection.
fn table_rows(
    headers: &[String],
    rows: impl Iterator<Item = Result<(u64, Vec<String>), (u64, String)>> + Send + 'static,
    mapping: &BTreeMap<String, String>,
) -> ServiceResult<Rows> {
    let columns = columns_with(headers, mapping).map_err(|message| ServiceError::BadParameter {
        field: "mapping".into(),
        message,
    })?;
    Ok(Box::new(rows.map(move |row| match row {
        Ok((row, cells)) => {
            let (body, id) = row_to_json(&columns, &cells);
            Ok(ImportRow { row, body, id })
        }
        Err((row, message)) => Err(RejectedRow {
            row,
            field: "row".into(),
            message,
        }),
    })))
}

/// What a file will be read as: for CSV, the encoding and delimiter detected from its first
/// bytes (or forced); for XLSX, the sheet; otherwise the format's name.
pub fn describe(path: &Path, spec: &ImportSpec) -> ServiceResult<String> {
    match spec.format {
        ImportFormat::Csv | ImportFormat::Xlsx => Ok(open_rows(path, spec)?.1),
        ImportFormat::Vcard => Ok("vCard".into()),
        ImportFormat::Json => Ok("Carnet JSON".into()),
    }
}

/// The settings an import job was stored with.
pub fn spec_of(job: &Job) -> ServiceResult<ImportSpec> {
    serde_json::from_value(job.spec.clone())
        .map_err(|e| ServiceError::Internal(format!("stored import spec: {e}")))
}

/// Rows shown in an import's preview.
const PREVIEW_ROWS: usize = 5;

/// The first rows of an uploaded file as they would be imported: what the mapping step
/// of the import wizard shows.
#[derive(Debug)]
pub struct Preview {
    /// The encoding and delimiter detected (CSV), or the format.
    pub detected: String,
    /// The header row (CSV; empty for other formats).
    pub headers: Vec<String>,
    /// What detection makes of each column (`first_name`, `custom:Société`, …).
    pub detected_targets: Vec<String>,
    pub rows: Vec<PreviewRow>,
    /// A workbook's sheets (XLSX; empty otherwise) and the one read.
    pub sheets: Vec<String>,
    pub sheet: Option<String>,
}

/// One previewed row: its cells (CSV) and the contact it gives, or why it is refused.
#[derive(Debug)]
pub struct PreviewRow {
    pub row: u64,
    pub cells: Vec<String>,
    pub contact: Result<ContactInput, ValidationErrors>,
}

/// The preview of a table (CSV, XLSX): its header, what each column is read as, and its
/// first rows as contacts.
fn table_preview(
    detected: String,
    headers: Vec<String>,
    rows: impl Iterator<Item = (u64, Vec<String>)>,
    spec: &ImportSpec,
) -> ServiceResult<Preview> {
    let detected_targets = columns_for(&headers).iter().map(target_name).collect();
    let columns =
        columns_with(&headers, &spec.mapping).map_err(|message| ServiceError::BadParameter {
            field: "mapping".into(),
            message,
        })?;
    let rows = rows
        .take(PREVIEW_ROWS)
        .map(|(row, cells)| {
            let (body, _) = row_to_json(&columns, &cells);
            PreviewRow {
                row,
                cells,
                contact: ContactInput::from_json(&body),
            }
        })
        .collect();
    Ok(Preview {
        detected,
        headers,
        detected_targets,
        rows,
        sheets: Vec::new(),
        sheet: None,
    })
}

/// A preview from the beginning of a file (`head`, its first chunk).
fn preview_of(head: Vec<u8>, spec: &ImportSpec) -> ServiceResult<Preview> {
    let contact_of = |body: &serde_json::Value| ContactInput::from_json(body);
    match spec.format {
        ImportFormat::Csv => {
            let reader = TableReader::csv(std::io::Cursor::new(head), &spec.table_options())
                .map_err(|e| ServiceError::BadParameter {
                    field: "file".into(),
                    message: e.to_string(),
                })?;
            let detected = format!(
                "{}, delimiter {:?}",
                reader.encoding,
                char::from(reader.delimiter)
            );
            let headers = reader.headers.clone();
            table_preview(detected, headers, reader.filter_map(Result::ok), spec)
        }
        ImportFormat::Xlsx => Err(ServiceError::Internal(
            "an XLSX preview needs the whole file".into(),
        )),
        ImportFormat::Vcard => {
            let rows = carnet_formats::vcard_read::read_cards(head.as_slice())
                .filter_map(Result::ok)
                .take(PREVIEW_ROWS)
                .map(|(row, body, _)| PreviewRow {
                    row,
                    cells: Vec::new(),
                    contact: contact_of(&body),
                })
                .collect();
            Ok(Preview {
                detected: "vCard".into(),
                headers: Vec::new(),
                detected_targets: Vec::new(),
                rows,
                sheets: Vec::new(),
                sheet: None,
            })
        }
        ImportFormat::Json => {
            // The first contacts of the first chunk (a contact cut at its end is left out).
            let rows = carnet_formats::contact_json::stream(head.as_slice())
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .take(PREVIEW_ROWS)
                .map(|(row, body, _)| PreviewRow {
                    row,
                    cells: Vec::new(),
                    contact: contact_of(&body),
                })
                .collect();
            Ok(Preview {
                detected: "Carnet JSON".into(),
                headers: Vec::new(),
                detected_targets: Vec::new(),
                rows,
                sheets: Vec::new(),
                sheet: None,
            })
        }
    }
}

/// A file's size and SHA-256, read in one pass.
fn digest(path: &Path) -> ServiceResult<(i64, String)> {
    let mut file = std::fs::File::open(path).map_err(|e| ServiceError::BadParameter {
        field: "file".into(),
        message: format!("cannot read the file: {e}"),
    })?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; CHUNK];
    let mut size = 0;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| ServiceError::Internal(format!("reading an import file: {e}")))?;
        if n == 0 {
            break;
        }
        size += n as i64;
        hasher.update(&buf[..n]);
    }
    Ok((size, format!("{:x}", hasher.finalize())))
}

/// A temporary copy of an uploaded file, removed when dropped.
struct Spooled(PathBuf);

impl Drop for Spooled {
    fn drop(&mut self) {
        // Nothing to do if it is already gone.
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The acting context a job runs with: its author, with write access (checked when queued).
fn job_context(job: &Job) -> TenantContext {
    let actor = match (job.actor_kind.as_str(), job.actor_id) {
        ("user", Some(id)) => Actor::User(UserId(id)),
        ("api_key", Some(id)) => Actor::ApiKey(ApiKeyId(id)),
        _ => Actor::System,
    };
    TenantContext {
        tenant: carnet_core::TenantId(job.tenant_id),
        actor,
        access: Access::WRITE,
        ip: None,
        request_id: None,
    }
}

impl Carnet {
    /// Queues an import of the file at `path` (an upload, copied into the database so that
    /// any instance can run it). Bad settings are refused here, before anything is stored.
    pub async fn queue_import(
        &self,
        ctx: &TenantContext,
        spec: &ImportSpec,
        file_name: &str,
        path: &Path,
    ) -> ServiceResult<Job> {
        let job = self
            .store_upload(ctx, spec, file_name, path, "queued")
            .await?;
        self.jobs_waiting.notify_one();
        Ok(job)
    }

    /// Stores an upload as a draft: it waits for its settings (the UI's mapping step),
    /// then [`Carnet::start_import`] queues it.
    pub async fn draft_import(
        &self,
        ctx: &TenantContext,
        spec: &ImportSpec,
        file_name: &str,
        path: &Path,
    ) -> ServiceResult<Job> {
        self.store_upload(ctx, spec, file_name, path, "draft").await
    }

    /// Queues a draft with its final settings (mapping, mode, …).
    pub async fn start_import(
        &self,
        ctx: &TenantContext,
        id: Uuid,
        spec: &ImportSpec,
    ) -> ServiceResult<Job> {
        ctx.require_write()?;
        spec.options()?;
        let spec_json = serde_json::to_value(spec)
            .map_err(|e| ServiceError::Internal(format!("import spec: {e}")))?;
        let mut tx = self.db.tenant_write(ctx.tenant).await?;
        if !jobs::start_draft(&mut tx, id, &spec_json, self.now()).await? {
            return Err(match jobs::get(&mut tx, id).await? {
                Some(_) => ServiceError::Conflict("this import has already been started".into()),
                None => ServiceError::NotFound("import job"),
            });
        }
        let job = jobs::get(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound("import job"))?;
        tx.commit().await?;
        self.jobs_waiting.notify_one();
        Ok(job)
    }

    async fn store_upload(
        &self,
        ctx: &TenantContext,
        spec: &ImportSpec,
        file_name: &str,
        path: &Path,
        status: &str,
    ) -> ServiceResult<Job> {
        ctx.require_write()?;
        spec.options()?;
        let (size, sha256) = digest(path)?;
        let id = Uuid::now_v7();
        let spec_json = serde_json::to_value(spec)
            .map_err(|e| ServiceError::Internal(format!("import spec: {e}")))?;
        let mut tx = self.db.tenant_write(ctx.tenant).await?;
        jobs::insert(
            &mut tx,
            &NewJob {
                id,
                kind: "import",
                status,
                source: "upload",
                spec: &spec_json,
                actor_kind: ctx.actor.kind(),
                actor_id: ctx.actor.id(),
                file_name,
                file_size: size,
                file_sha256: &sha256,
            },
            self.now(),
        )
        .await?;
        let mut file = std::fs::File::open(path)
            .map_err(|e| ServiceError::Internal(format!("reading an upload: {e}")))?;
        let mut buf = vec![0; CHUNK];
        let mut seq = 0;
        loop {
            let n = read_full(&mut file, &mut buf)?;
            if n == 0 {
                break;
            }
            jobs::put_chunk(&mut tx, id, seq, &buf[..n]).await?;
            seq += 1;
        }
        let job = jobs::get(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound("import job"))?;
        tx.commit().await?;
        Ok(job)
    }

    /// Imports a local file as a job (`carnet import`): a run that was interrupted (killed,
    /// crashed, machine down) is carried on from its last checkpoint when the same file is
    /// imported again with the same settings. Returns the job, finished.
    pub async fn import_local_file(
        &self,
        ctx: &TenantContext,
        spec: &ImportSpec,
        path: &Path,
        mut on_resume: impl FnMut(&Job),
        progress: impl FnMut(&ImportReport),
    ) -> ServiceResult<Job> {
        ctx.require_write()?;
        spec.options()?;
        let (size, sha256) = digest(path)?;
        let spec_json = serde_json::to_value(spec)
            .map_err(|e| ServiceError::Internal(format!("import spec: {e}")))?;
        let mut tx = self.db.tenant_write(ctx.tenant).await?;
        let id = match jobs::find_unfinished_local(&mut tx, &sha256, &spec_json).await? {
            Some(job) => {
                on_resume(&job);
                job.id
            }
            None => {
                let id = Uuid::now_v7();
                let name = path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                jobs::insert(
                    &mut tx,
                    &NewJob {
                        id,
                        kind: "import",
                        status: "queued",
                        source: "local",
                        spec: &spec_json,
                        actor_kind: ctx.actor.kind(),
                        actor_id: ctx.actor.id(),
                        file_name: &name,
                        file_size: size,
                        file_sha256: &sha256,
                    },
                    self.now(),
                )
                .await?;
                id
            }
        };
        tx.commit().await?;
        let owner = worker_name("cli");
        let job = self.claim_local(ctx, id, &owner).await?;
        self.run_import(job, &owner, path, progress).await
    }

    /// Claims a local job, waiting for the lease of an interrupted run to expire.
    async fn claim_local(&self, ctx: &TenantContext, id: Uuid, owner: &str) -> ServiceResult<Job> {
        let deadline = std::time::Instant::now() + LEASE.to_std().unwrap_or(Duration::ZERO);
        loop {
            let mut tx = self.db.tenant_write(ctx.tenant).await?;
            let now = self.now();
            let claimed = jobs::claim_one(&mut tx, id, owner, now, now + LEASE).await?;
            tx.commit().await?;
            if let Some(job) = claimed {
                return Ok(job);
            }
            if std::time::Instant::now() > deadline + Duration::from_secs(1) {
                return Err(ServiceError::Conflict(format!(
                    "import job {id} of this file is being run by another process"
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Runs a claimed import job from its checkpoint to the end, and records how it ended.
    pub(crate) async fn run_import(
        &self,
        job: Job,
        owner: &str,
        path: &Path,
        progress: impl FnMut(&ImportReport),
    ) -> ServiceResult<Job> {
        let ctx = job_context(&job);
        let outcome = self
            .run_import_rows(&ctx, &job, owner, path, progress)
            .await;
        let mut tx = self.db.tenant_write(ctx.tenant).await?;
        let now = self.now();
        let error = match outcome {
            Ok(dry) => {
                if let Some(report) = dry {
                    // A dry run wrote nothing as it went: its report is recorded at the end.
                    jobs::add_rejections(&mut tx, job.id, 0, &as_rows(&report.rejected)).await?;
                    jobs::checkpoint(&mut tx, job.id, owner, report.progress(), now, now).await?;
                }
                None
            }
            // Another worker has the job now; it records how it ends.
            Err(ServiceError::LeaseLost) => return Err(ServiceError::LeaseLost),
            Err(ServiceError::BadParameter { field, message }) => {
                Some(format!("{field}: {message}"))
            }
            Err(e @ (ServiceError::Validation(_) | ServiceError::Forbidden(_))) => {
                Some(e.to_string())
            }
            Err(other) => {
                tracing::error!(job = %job.id, error = %other, "import job failed");
                Some("the import stopped on an internal error; it can be run again".into())
            }
        };
        jobs::finish(&mut tx, job.id, owner, error.as_deref(), now).await?;
        let done = jobs::get(&mut tx, job.id)
            .await?
            .ok_or(ServiceError::NotFound("import job"))?;
        tx.commit().await?;
        Ok(done)
    }

    /// The rows of a job, from its checkpoint. Returns the whole report of a dry run (which
    /// records nothing as it goes).
    async fn run_import_rows(
        &self,
        ctx: &TenantContext,
        job: &Job,
        owner: &str,
        path: &Path,
        progress: impl FnMut(&ImportReport),
    ) -> ServiceResult<Option<ImportReport>> {
        let spec = spec_of(job)?;
        let options = spec.options()?;
        let (rows, _) = open_rows(path, &spec)?;
        if options.dry_run {
            let report = self
                .import_rows(ctx, rows, options, ImportReport::default(), None, progress)
                .await?;
            return Ok(Some(report));
        }
        let start = ImportReport::resumed(job.progress);
        let skip = job.progress.rows_done as usize;
        let mut tx = self.db.tenant_read(ctx.tenant).await?;
        let next_seq = jobs::rejection_count(&mut tx, job.id).await?;
        drop(tx);
        let mut checkpoint = Checkpoint {
            job: job.id,
            owner: owner.to_owned(),
            next_seq,
        };
        self.import_rows(
            ctx,
            rows.skip(skip),
            options,
            start,
            Some(&mut checkpoint),
            progress,
        )
        .await?;
        Ok(None)
    }

    /// Claims and runs the oldest waiting upload job, if any; `None` when there was none.
    pub async fn run_next_job(&self, owner: &str) -> ServiceResult<Option<Job>> {
        let now = self.now();
        let Some(job) = jobs::claim(&self.db, "upload", owner, now, now + LEASE).await? else {
            return Ok(None);
        };
        let spooled = self.spool(&job).await?;
        self.run_import(job, owner, &spooled.0, |_| {})
            .await
            .map(Some)
    }

    /// Copies an uploaded file out of the database into a temporary file, chunk by chunk.
    async fn spool(&self, job: &Job) -> ServiceResult<Spooled> {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!("carnet-import-{}", job.id));
        let spooled = Spooled(path);
        let fail = |e: std::io::Error| ServiceError::Internal(format!("spooling an upload: {e}"));
        let mut file = std::fs::File::create(&spooled.0).map_err(fail)?;
        let mut tx = self
            .db
            .tenant_read(carnet_core::TenantId(job.tenant_id))
            .await?;
        let mut seq = 0;
        while let Some(data) = jobs::chunk(&mut tx, job.id, seq).await? {
            file.write_all(&data).map_err(fail)?;
            seq += 1;
        }
        file.sync_all().map_err(fail)?;
        Ok(spooled)
    }

    /// The first rows of a stored upload as `spec` would import them.
    pub async fn import_preview(
        &self,
        ctx: &TenantContext,
        id: Uuid,
        spec: &ImportSpec,
    ) -> ServiceResult<Preview> {
        ctx.require_read()?;
        spec.options()?;
        let mut tx = self.db.tenant_read(ctx.tenant).await?;
        let job = jobs::get(&mut tx, id)
            .await?
            .filter(|j| j.kind == "import")
            .ok_or(ServiceError::NotFound("import job"))?;
        if spec.format == ImportFormat::Xlsx {
            // A workbook is a zip archive: its directory is at the end of the file.
            drop(tx);
            let spooled = self.spool(&job).await?;
            let reader = XlsxReader::open(&spooled.0, spec.sheet.as_deref()).map_err(|e| {
                ServiceError::BadParameter {
                    field: "file".into(),
                    message: e.to_string(),
                }
            })?;
            let detected = format!("XLSX, sheet `{}`", reader.sheet);
            let headers = reader.headers.clone();
            let (sheets, sheet) = (reader.sheets.clone(), reader.sheet.clone());
            let mut preview =
                table_preview(detected, headers, reader.filter_map(Result::ok), spec)?;
            preview.sheets = sheets;
            preview.sheet = Some(sheet);
            return Ok(preview);
        }
        let head = jobs::chunk(&mut tx, id, 0).await?.unwrap_or_default();
        preview_of(head, spec)
    }

    /// The tenant's import job `id`.
    pub async fn import_job(&self, ctx: &TenantContext, id: Uuid) -> ServiceResult<Job> {
        ctx.require_read()?;
        let mut tx = self.db.tenant_read(ctx.tenant).await?;
        jobs::get(&mut tx, id)
            .await?
            .filter(|j| j.kind == "import")
            .ok_or(ServiceError::NotFound("import job"))
    }

    /// The tenant's most recent import jobs, newest first.
    pub async fn import_jobs(&self, ctx: &TenantContext, limit: i64) -> ServiceResult<Vec<Job>> {
        ctx.require_read()?;
        let mut tx = self.db.tenant_read(ctx.tenant).await?;
        Ok(jobs::recent(&mut tx, "import", limit).await?)
    }

    /// A page of a job's refused rows, after refusal `after`.
    pub async fn import_rejections(
        &self,
        ctx: &TenantContext,
        id: Uuid,
        after: Option<i64>,
        limit: i64,
    ) -> ServiceResult<Vec<Rejection>> {
        ctx.require_read()?;
        let mut tx = self.db.tenant_read(ctx.tenant).await?;
        Ok(jobs::rejections(&mut tx, id, after, limit).await?)
    }
}

/// Refusals as the job table stores them.
pub(crate) fn as_rows(rejected: &[RejectedRow]) -> Vec<(i64, &str, &str)> {
    rejected
        .iter()
        .map(|r| (r.row as i64, r.field.as_str(), r.message.as_str()))
        .collect()
}

/// Fills `buf` as far as the file allows; fewer bytes only at its end.
fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> ServiceResult<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ServiceError::Internal(format!("reading an upload: {e}"))),
        }
    }
    Ok(n)
}

/// A name for this worker, unique among running processes: what holds a lease.
pub fn worker_name(role: &str) -> String {
    format!("{role}:{}:{}", std::process::id(), Uuid::now_v7().simple())
}
