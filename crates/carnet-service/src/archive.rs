//! Tenant archives: everything a workspace holds in one file (a zip of JSON Lines files and
//! a manifest with their checksums), and its restoration into an empty workspace. Exporting
//! a restored workspace again gives the same data files, byte for byte.

use crate::{Carnet, ServiceError, ServiceResult};
use carnet_core::activity::{Activity, ActivityInput, ActivityKind};
use carnet_core::contact::{Contact, ContactInput, LabeledValue};
use carnet_core::{ActivityId, ContactId, UserId};
use carnet_store::activities::{self, ArchivedActivity};
use carnet_store::audit::{self, AuditEvent};
use carnet_store::contacts::{self, ArchivedContact};
use carnet_store::{TenantTx, users};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Seek, Write};
use uuid::Uuid;

/// What the manifest calls this kind of file.
pub const FORMAT: &str = "carnet-tenant-archive";
/// The archive layout this Carnet writes and reads.
const VERSION: u32 = 1;
/// Records read from the database, or written to it, per statement.
const PAGE: i64 = 1000;

const CONTACTS: &str = "contacts.jsonl";
/// Written since activities exist; an archive from before them has no such file.
const ACTIVITIES: &str = "activities.jsonl";
const AUDIT: &str = "audit_events.jsonl";
const MANIFEST: &str = "manifest.json";

/// The archive's table of contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// The Carnet that wrote it.
    pub carnet: String,
    pub created_at: DateTime<Utc>,
    pub tenant: ManifestTenant,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestTenant {
    pub slug: String,
    pub name: String,
}

/// One data file: its name, how many records it holds, its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    pub name: String,
    pub records: u64,
    pub sha256: String,
}

/// A contact as the archive stores it: every field, bookkeeping included.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactRecord {
    id: Uuid,
    first_name: Option<String>,
    last_name: Option<String>,
    emails: Vec<LabeledValue>,
    phones: Vec<LabeledValue>,
    company_id: Option<Uuid>,
    job_title: Option<String>,
    tags: Vec<String>,
    custom: Map<String, Value>,
    owner_id: Option<Uuid>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
    created_by: Option<Uuid>,
}

/// An activity as the archive stores it: every field, bookkeeping included.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivityRecord {
    id: Uuid,
    uid: String,
    kind: ActivityKind,
    subject: String,
    description: Option<String>,
    location: Option<String>,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    done: bool,
    contact_id: Option<Uuid>,
    owner_id: Option<Uuid>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
    created_by: Option<Uuid>,
}

/// An audit event as the archive stores it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditRecord {
    id: Uuid,
    occurred_at: DateTime<Utc>,
    actor_kind: String,
    actor_id: Option<Uuid>,
    action: String,
    entity: String,
    entity_id: Option<Uuid>,
    ip: Option<String>,
    request_id: Option<String>,
    changes: Vec<String>,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    pub contacts: u64,
    pub activities: u64,
    pub audit_events: u64,
    /// Contacts and activities whose owner is not a member of the workspace restored into:
    /// their owner was cleared.
    pub owners_cleared: u64,
}

/// Writes lines into a zip entry while hashing and counting them.
struct Hashed<'a, W: Write + Seek> {
    zip: &'a mut zip::ZipWriter<W>,
    hasher: Sha256,
    records: u64,
}

impl<W: Write + Seek> Hashed<'_, W> {
    fn line(&mut self, record: &impl Serialize) -> ServiceResult<()> {
        let mut line = serde_json::to_vec(record)
            .map_err(|e| ServiceError::Internal(format!("archive record: {e}")))?;
        line.push(b'\n');
        self.hasher.update(&line);
        self.zip.write_all(&line).map_err(write_failed)?;
        self.records += 1;
        Ok(())
    }

    fn finish(self, name: &str) -> ManifestFile {
        ManifestFile {
            name: name.into(),
            records: self.records,
            sha256: format!("{:x}", self.hasher.finalize()),
        }
    }
}

/// One file of records in an archive, read from the database a page at a time in id order.
trait Section {
    type Item;
    /// The file's name in the archive.
    const FILE: &'static str;
    /// Up to [`PAGE`] records after `after`, in id order.
    async fn page(tx: &mut TenantTx, after: Option<Uuid>) -> carnet_store::Result<Vec<Self::Item>>;
    /// The record as the file's line holds it.
    fn record(item: &Self::Item) -> impl Serialize;
    fn id(item: &Self::Item) -> Uuid;
}

struct ContactSection;

impl Section for ContactSection {
    type Item = ArchivedContact;
    const FILE: &'static str = CONTACTS;
    async fn page(tx: &mut TenantTx, after: Option<Uuid>) -> carnet_store::Result<Vec<Self::Item>> {
        contacts::archive_page(tx, after, PAGE).await
    }
    fn record(item: &Self::Item) -> impl Serialize {
        contact_record(item)
    }
    fn id(item: &Self::Item) -> Uuid {
        item.contact.id.0
    }
}

struct ActivitySection;

impl Section for ActivitySection {
    type Item = ArchivedActivity;
    const FILE: &'static str = ACTIVITIES;
    async fn page(tx: &mut TenantTx, after: Option<Uuid>) -> carnet_store::Result<Vec<Self::Item>> {
        activities::archive_page(tx, after, PAGE).await
    }
    fn record(item: &Self::Item) -> impl Serialize {
        activity_record(item)
    }
    fn id(item: &Self::Item) -> Uuid {
        item.activity.id.0
    }
}

struct AuditSection;

impl Section for AuditSection {
    type Item = AuditEvent;
    const FILE: &'static str = AUDIT;
    async fn page(tx: &mut TenantTx, after: Option<Uuid>) -> carnet_store::Result<Vec<Self::Item>> {
        audit::page_after(tx, after, PAGE).await
    }
    fn record(item: &Self::Item) -> impl Serialize {
        audit_record(item)
    }
    fn id(item: &Self::Item) -> Uuid {
        item.id
    }
}

/// Writes every record of section `S` into its own file of the archive.
async fn write_section<S: Section, W: Write + Seek>(
    zip: &mut zip::ZipWriter<W>,
    options: zip::write::SimpleFileOptions,
    tx: &mut TenantTx,
) -> ServiceResult<ManifestFile> {
    zip.start_file(S::FILE, options).map_err(write_failed)?;
    let mut hashed = Hashed {
        zip,
        hasher: Sha256::new(),
        records: 0,
    };
    let mut after = None;
    loop {
        let page = S::page(tx, after).await?;
        for item in &page {
            hashed.line(&S::record(item))?;
        }
        match page.last() {
            Some(last) => after = Some(S::id(last)),
            None => break,
        }
    }
    Ok(hashed.finish(S::FILE))
}

fn write_failed(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::BadParameter {
        field: "output".into(),
        message: format!("cannot write the archive: {e}"),
    }
}

fn bad_archive(message: impl Into<String>) -> ServiceError {
    ServiceError::BadParameter {
        field: "input".into(),
        message: message.into(),
    }
}

impl Carnet {
    /// Writes every record of workspace `slug` into `out` as a tenant archive.
    pub async fn export_archive<W: Write + Seek>(
        &self,
        slug: &str,
        out: W,
    ) -> ServiceResult<Manifest> {
        let tenant = self.tenant_by_slug(slug).await?;
        let mut zip = zip::ZipWriter::new(out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        // One read transaction: the archive is one consistent picture of the workspace.
        let mut tx = self.db.tenant_read(tenant.id).await?;

        let files = vec![
            write_section::<ContactSection, W>(&mut zip, options, &mut tx).await?,
            write_section::<ActivitySection, W>(&mut zip, options, &mut tx).await?,
            write_section::<AuditSection, W>(&mut zip, options, &mut tx).await?,
        ];
        drop(tx);

        let manifest = Manifest {
            format: FORMAT.into(),
            version: VERSION,
            carnet: env!("CARGO_PKG_VERSION").into(),
            created_at: self.now(),
            tenant: ManifestTenant {
                slug: tenant.slug,
                name: tenant.name,
            },
            files,
        };
        zip.start_file(MANIFEST, options).map_err(write_failed)?;
        let text = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| ServiceError::Internal(format!("manifest: {e}")))?;
        zip.write_all(&text).map_err(write_failed)?;
        zip.finish().map_err(write_failed)?;
        Ok(manifest)
    }

    /// Restores an archive into workspace `slug`, which must hold no record yet (it is
    /// created, named `name` or as in the archive, when it does not exist). Every checksum
    /// and record is checked before anything is written, and everything is written in one
    /// transaction: a restore is whole or nothing.
    pub async fn restore_archive<R: Read + Seek>(
        &self,
        slug: &str,
        name: Option<&str>,
        input: R,
    ) -> ServiceResult<RestoreReport> {
        let mut zip = zip::ZipArchive::new(input)
            .map_err(|e| bad_archive(format!("not a Carnet archive (a zip file): {e}")))?;
        let manifest = read_manifest(&mut zip)?;
        for file in &manifest.files {
            verify(&mut zip, file)?;
        }
        let names: Vec<String> = zip
            .file_names()
            .map(|n| n.map(|n| n.into_owned()))
            .collect::<Result<_, _>>()
            .map_err(|e| bad_archive(format!("an entry's name cannot be read: {e}")))?;
        if let Some(stray) = names
            .iter()
            .find(|n| *n != MANIFEST && !manifest.files.iter().any(|f| &f.name == *n))
        {
            return Err(bad_archive(format!(
                "the archive holds `{stray}`, which its manifest does not list"
            )));
        }
        let tenant = match self.tenant_by_slug(slug).await {
            Ok(t) => t,
            Err(ServiceError::BadParameter { .. }) => {
                self.create_tenant(slug, name.unwrap_or(&manifest.tenant.name))
                    .await?
            }
            Err(e) => return Err(e),
        };
        let mut tx = self.db.tenant_write(tenant.id).await?;
        if !contacts::archive_page(&mut tx, None, 1).await?.is_empty()
            || !activities::archive_page(&mut tx, None, 1).await?.is_empty()
            || !audit::page_after(&mut tx, None, 1).await?.is_empty()
        {
            return Err(ServiceError::Conflict(format!(
                "the workspace `{slug}` already holds records: restore into a new or empty one"
            )));
        }
        let mut report = RestoreReport {
            contacts: 0,
            activities: 0,
            audit_events: 0,
            owners_cleared: 0,
        };
        let mut members = Members::new(tenant.id);
        // Read a page at a time: only one page of records is in memory.
        let mut pages = Pages::open(&mut zip, CONTACTS)?;
        loop {
            let mut page = Vec::new();
            for (n, record) in pages.next_page::<ContactRecord>()? {
                page.push(checked_contact(n, &record)?);
            }
            if page.is_empty() {
                break;
            }
            for contact in &mut page {
                if !members
                    .keeps(&mut tx, &mut contact.contact.owner_id)
                    .await?
                {
                    report.owners_cleared += 1;
                }
            }
            contacts::restore_many(&mut tx, &page).await?;
            report.contacts += page.len() as u64;
        }
        drop(pages);
        if manifest.files.iter().any(|f| f.name == ACTIVITIES) {
            let mut pages = Pages::open(&mut zip, ACTIVITIES)?;
            loop {
                let mut page = Vec::new();
                for (n, record) in pages.next_page::<ActivityRecord>()? {
                    page.push(checked_activity(n, record)?);
                }
                if page.is_empty() {
                    break;
                }
                for archived in &mut page {
                    if !members
                        .keeps(&mut tx, &mut archived.activity.owner_id)
                        .await?
                    {
                        report.owners_cleared += 1;
                    }
                }
                activities::restore_many(&mut tx, &page).await?;
                report.activities += page.len() as u64;
            }
        }
        let mut pages = Pages::open(&mut zip, AUDIT)?;
        loop {
            let mut page = Vec::new();
            for (_, r) in pages.next_page::<AuditRecord>()? {
                page.push(AuditEvent {
                    id: r.id,
                    occurred_at: r.occurred_at,
                    actor_kind: r.actor_kind,
                    actor_id: r.actor_id,
                    action: r.action,
                    entity: r.entity,
                    entity_id: r.entity_id,
                    ip: r.ip,
                    request_id: r.request_id,
                    changes: r.changes,
                });
            }
            if page.is_empty() {
                break;
            }
            audit::append_many(&mut tx, &page).await?;
            report.audit_events += page.len() as u64;
        }
        drop(pages);
        tx.commit().await?;
        Ok(report)
    }
}

fn contact_record(a: &ArchivedContact) -> ContactRecord {
    let c = &a.contact;
    ContactRecord {
        id: c.id.0,
        first_name: c.first_name.clone(),
        last_name: c.last_name.clone(),
        emails: c.emails.clone(),
        phones: c.phones.clone(),
        company_id: c.company_id,
        job_title: c.job_title.clone(),
        tags: c.tags.clone(),
        custom: c.custom.clone(),
        owner_id: c.owner_id.map(|o| o.0),
        version: c.version,
        created_at: c.created_at,
        updated_at: c.updated_at,
        deleted_at: c.deleted_at,
        created_by: a.created_by,
    }
}

/// One data file of an archive, read a page of records at a time.
struct Pages<'a, R: Read> {
    name: &'static str,
    lines: std::iter::Enumerate<std::io::Lines<BufReader<zip::read::ZipFile<'a, R>>>>,
}

impl<'a, R: Read + Seek> Pages<'a, R> {
    fn open(zip: &'a mut zip::ZipArchive<R>, name: &'static str) -> ServiceResult<Self> {
        let entry = zip
            .by_name(name)
            .map_err(|_| bad_archive(format!("{name} is missing")))?;
        Ok(Self {
            name,
            lines: BufReader::new(entry).lines().enumerate(),
        })
    }

    /// The next records with their line numbers (from 1); none at the end of the file.
    fn next_page<T: serde::de::DeserializeOwned>(&mut self) -> ServiceResult<Vec<(u64, T)>> {
        let name = self.name;
        self.lines
            .by_ref()
            .take(PAGE as usize)
            .map(|(i, line)| {
                let n = i as u64 + 1;
                let bad = |e: &dyn std::fmt::Display| bad_archive(format!("{name} line {n}: {e}"));
                let line = line.map_err(|e| bad(&e))?;
                let record = serde_json::from_str(&line).map_err(|e| bad(&e))?;
                Ok((n, record))
            })
            .collect()
    }
}

/// The owners a restore keeps: members of the workspace restored into.
struct Members {
    tenant: carnet_core::TenantId,
    known: std::collections::HashMap<Uuid, bool>,
}

impl Members {
    fn new(tenant: carnet_core::TenantId) -> Self {
        Self {
            tenant,
            known: std::collections::HashMap::new(),
        }
    }

    /// Whether the record keeps its owner; one who is not a member is cleared.
    async fn keeps(
        &mut self,
        tx: &mut carnet_store::TenantTx,
        owner: &mut Option<UserId>,
    ) -> ServiceResult<bool> {
        let Some(user) = *owner else {
            return Ok(true);
        };
        let member = match self.known.get(&user.0) {
            Some(m) => *m,
            None => {
                let m = users::role_in(tx.control(), self.tenant, user)
                    .await?
                    .is_some();
                self.known.insert(user.0, m);
                m
            }
        };
        if !member {
            *owner = None;
        }
        Ok(member)
    }
}

fn activity_record(a: &ArchivedActivity) -> ActivityRecord {
    let x = &a.activity;
    ActivityRecord {
        id: x.id.0,
        uid: x.uid.clone(),
        kind: x.kind,
        subject: x.subject.clone(),
        description: x.description.clone(),
        location: x.location.clone(),
        starts_at: x.starts_at,
        ends_at: x.ends_at,
        done: x.done,
        contact_id: x.contact_id.map(|c| c.0),
        owner_id: x.owner_id.map(|o| o.0),
        version: x.version,
        created_at: x.created_at,
        updated_at: x.updated_at,
        deleted_at: x.deleted_at,
        created_by: a.created_by,
    }
}

fn audit_record(e: &AuditEvent) -> AuditRecord {
    AuditRecord {
        id: e.id,
        occurred_at: e.occurred_at,
        actor_kind: e.actor_kind.clone(),
        actor_id: e.actor_id,
        action: e.action.clone(),
        entity: e.entity.clone(),
        entity_id: e.entity_id,
        ip: e.ip.clone(),
        request_id: e.request_id.clone(),
        changes: e.changes.clone(),
    }
}

/// One line of a data file, read and checked as the restore will write it.
fn check_record(file: &str, n: u64, line: &[u8]) -> ServiceResult<()> {
    let bad = |e: serde_json::Error| bad_archive(format!("{file} line {n}: {e}"));
    match file {
        CONTACTS => {
            let record: ContactRecord = serde_json::from_slice(line).map_err(bad)?;
            checked_contact(n, &record).map(drop)
        }
        ACTIVITIES => {
            let record: ActivityRecord = serde_json::from_slice(line).map_err(bad)?;
            checked_activity(n, record).map(drop)
        }
        AUDIT => serde_json::from_slice::<AuditRecord>(line)
            .map(drop)
            .map_err(bad),
        other => Err(bad_archive(format!(
            "`{other}` is not a file this Carnet restores"
        ))),
    }
}

/// A contact record checked as the API checks contacts: an archive that was edited by hand
/// into something Carnet would refuse is refused, naming the line and the field.
fn checked_contact(n: u64, r: &ContactRecord) -> ServiceResult<ArchivedContact> {
    let input = ContactInput {
        first_name: r.first_name.clone(),
        last_name: r.last_name.clone(),
        emails: r.emails.clone(),
        phones: r.phones.clone(),
        company_id: r.company_id,
        job_title: r.job_title.clone(),
        tags: r.tags.clone(),
        custom: r.custom.clone(),
        owner_id: r.owner_id.map(UserId),
    };
    let checked = ContactInput::from_json(&input.to_json())
        .map_err(|errors| bad_archive(format!("{CONTACTS} line {n}: {errors}")))?;
    if checked != input {
        return Err(bad_archive(format!(
            "{CONTACTS} line {n}: the contact is not in Carnet's normal form"
        )));
    }
    if r.version < 1 || r.updated_at < r.created_at {
        return Err(bad_archive(format!(
            "{CONTACTS} line {n}: version or times out of order"
        )));
    }
    Ok(ArchivedContact {
        contact: Contact {
            id: ContactId(r.id),
            first_name: input.first_name,
            last_name: input.last_name,
            emails: input.emails,
            phones: input.phones,
            company_id: input.company_id,
            job_title: input.job_title,
            tags: input.tags,
            custom: input.custom,
            owner_id: input.owner_id,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            deleted_at: r.deleted_at,
        },
        created_by: r.created_by,
    })
}

/// An activity record checked as the API checks activities.
fn checked_activity(n: u64, r: ActivityRecord) -> ServiceResult<ArchivedActivity> {
    let bad = |what: String| bad_archive(format!("{ACTIVITIES} line {n}: {what}"));
    let activity = Activity {
        id: ActivityId(r.id),
        uid: r.uid,
        kind: r.kind,
        subject: r.subject,
        description: r.description,
        location: r.location,
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        done: r.done,
        contact_id: r.contact_id.map(ContactId),
        owner_id: r.owner_id.map(UserId),
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
        deleted_at: r.deleted_at,
    };
    let input = activity.input();
    let checked = ActivityInput::from_json(&input.to_json()).map_err(|e| bad(e.to_string()))?;
    if checked != input {
        return Err(bad("the activity is not in Carnet's normal form".into()));
    }
    if activity.uid.is_empty()
        || activity.uid.chars().count() > 255
        || activity.uid.chars().any(char::is_control)
    {
        return Err(bad(
            "uid must be 1 to 255 characters without control characters".into(),
        ));
    }
    if activity.version < 1 || activity.updated_at < activity.created_at {
        return Err(bad("version or times out of order".into()));
    }
    Ok(ArchivedActivity {
        activity,
        created_by: r.created_by,
    })
}

fn read_manifest<R: Read + Seek>(zip: &mut zip::ZipArchive<R>) -> ServiceResult<Manifest> {
    let entry = zip
        .by_name(MANIFEST)
        .map_err(|_| bad_archive("not a Carnet archive: manifest.json is missing"))?;
    let manifest: Manifest = serde_json::from_reader(entry)
        .map_err(|e| bad_archive(format!("manifest.json is not valid: {e}")))?;
    if manifest.format != FORMAT {
        return Err(bad_archive(format!(
            "not a Carnet tenant archive (format `{}`)",
            manifest.format
        )));
    }
    if manifest.version != VERSION {
        return Err(bad_archive(format!(
            "archive version {} is not one this Carnet reads ({VERSION})",
            manifest.version
        )));
    }
    for name in [CONTACTS, AUDIT] {
        if !manifest.files.iter().any(|f| f.name == name) {
            return Err(bad_archive(format!("the manifest does not list {name}")));
        }
    }
    Ok(manifest)
}

/// Checks a data file against the manifest (its SHA-256 and its number of records) and
/// every record in it, before anything is written.
fn verify<R: Read + Seek>(zip: &mut zip::ZipArchive<R>, file: &ManifestFile) -> ServiceResult<()> {
    let entry = zip
        .by_name(&file.name)
        .map_err(|_| bad_archive(format!("{} is listed but missing", file.name)))?;
    let mut hasher = Sha256::new();
    let mut records = 0;
    let mut reader = BufReader::new(entry);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| bad_archive(format!("{}: {e}", file.name)))?;
        if n == 0 {
            break;
        }
        hasher.update(&line);
        records += 1;
        check_record(&file.name, records, &line)?;
    }
    let sha256 = format!("{:x}", hasher.finalize());
    if sha256 != file.sha256 || records != file.records {
        return Err(bad_archive(format!(
            "{} does not match its checksum in the manifest: the archive is damaged",
            file.name
        )));
    }
    Ok(())
}
