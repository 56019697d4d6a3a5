//! Importing contacts: rows already turned into the API's JSON, created or merged into
//! existing contacts matched by e-mail or id, in batches; every refused row is reported.

use super::audit_event;
use crate::context::TenantContext;
use crate::jobs::LEASE;
use crate::{Carnet, ServiceError, ServiceResult};
use carnet_core::contact::{Contact, ContactInput, LabeledValue};
use carnet_core::text::fold;
use carnet_core::{ContactId, ValidationErrors};
use carnet_store::contacts::NewContact;
use carnet_store::jobs::{self, Progress};
use carnet_store::{Backend, TenantTx, audit, contacts, users};
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};
use std::str::FromStr;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Rows an import writes per transaction on a backend: a crash loses at most one batch,
/// which a re-run redoes. A batch's fixed costs (its lookup, statements, checkpoint and
/// commit) are spread over its rows; its rows are held in memory a few batches at a time
/// (read ahead, resolved, written). Measured at 300,000 rows (bench/results/import.md):
/// SQLite 2,500 rows ~10 % faster than 1,000 and as fast as 5,000, which holds 35 MB more;
/// PostgreSQL 4,000 rows, two in flight, ~10 % faster than 1,000 rows, three in flight.
pub fn batch_rows(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 2500,
        Backend::Postgres => 4000,
    }
}

/// How many batches a PostgreSQL import writes at once (see [`Pipeline`]); with the one
/// being looked up, an import holds at most three of the pool's sixteen connections. At
/// 4,000 rows a batch, two in flight beat three (bench/results/import.md).
const IN_FLIGHT: usize = 2;

/// What to do with each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// Only new contacts; a row matching an existing one is refused.
    Create,
    /// Only existing contacts; a row matching none is refused.
    Update,
    /// Update the match, else create.
    Upsert,
}

impl FromStr for ImportMode {
    type Err = ServiceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "create" => Ok(ImportMode::Create),
            "update" => Ok(ImportMode::Update),
            "upsert" => Ok(ImportMode::Upsert),
            _ => Err(ServiceError::BadParameter {
                field: "mode".into(),
                message: "must be create, update or upsert".into(),
            }),
        }
    }
}

/// How a row finds the contact it describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKey {
    /// Its first e-mail address (case ignored).
    Email,
    /// Its `id` column (Carnet's own exports).
    Id,
}

impl FromStr for MatchKey {
    type Err = ServiceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "email" => Ok(MatchKey::Email),
            "id" => Ok(MatchKey::Id),
            _ => Err(ServiceError::BadParameter {
                field: "match".into(),
                message: "must be email or id".into(),
            }),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    pub mode: ImportMode,
    pub match_key: MatchKey,
    /// Count everything, write nothing.
    pub dry_run: bool,
}

/// One input row: its number in the file, its JSON, and its id cell if the file has one.
#[derive(Debug, Clone)]
pub struct ImportRow {
    pub row: u64,
    pub body: Value,
    pub id: Option<String>,
}

impl ImportRow {
    /// An item of a reader that yields `(row, body, id)` or `(row, why)` (Carnet's JSON
    /// export, vCard files): an import row, or a refused row naming `field`.
    pub fn from_read(
        item: Result<(u64, Value, Option<String>), (u64, String)>,
        field: &str,
    ) -> Result<ImportRow, RejectedRow> {
        item.map(|(row, body, id)| ImportRow { row, body, id })
            .map_err(|(row, message)| RejectedRow {
                row,
                field: field.into(),
                message,
            })
    }
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    pub row: u64,
    pub field: String,
    pub message: String,
}

/// What an import did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Rows refused (a row refused for several fields counts once).
    pub refused: u64,
    /// Why: one entry per field at fault, in row order. An import that records its progress
    /// in a job moves them there batch by batch, and this list stays empty.
    pub rejected: Vec<RejectedRow>,
}

/// Where an import records its progress: a job, whose checkpoint (rows consumed, counts,
/// refusals) is committed in the same transaction as each batch.
#[derive(Debug, Clone)]
pub(crate) struct Checkpoint {
    pub job: Uuid,
    /// The worker holding the job's lease.
    pub owner: String,
    /// The number of the next refusal recorded.
    pub next_seq: i64,
}

/// A row's match key, normalised: a lower-cased e-mail or a contact id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Email(String),
    Id(Uuid),
}

/// A contact the batch writes: a new one, or a stored one with the changes of its rows.
struct Target {
    stored: Option<Contact>,
    id: ContactId,
    input: ContactInput,
}

/// What became of one row; `usize` is the index of its target in the batch.
enum RowOutcome {
    Created,
    Updated(usize),
    Unchanged(usize),
    Rejected(Vec<RejectedRow>),
}

/// The batch being resolved: its targets, found by key and by contact id.
#[derive(Default)]
struct Resolution {
    targets: Vec<Target>,
    by_key: HashMap<Key, usize>,
    by_id: HashMap<Uuid, usize>,
    outcomes: Vec<(u64, RowOutcome)>,
}

impl Resolution {
    /// The target a key designates: one this batch already touches, else the stored match.
    fn find(&mut self, key: &Key, stored: &HashMap<Key, Contact>) -> Option<usize> {
        if let Some(t) = self.by_key.get(key) {
            return Some(*t);
        }
        let contact = stored.get(key)?;
        let t = match self.by_id.get(&contact.id.0) {
            Some(t) => *t,
            None => self.add(Target {
                stored: Some(contact.clone()),
                id: contact.id,
                input: contact.input(),
            }),
        };
        self.by_key.insert(key.clone(), t);
        Some(t)
    }

    fn add(&mut self, target: Target) -> usize {
        let t = self.targets.len();
        self.by_id.insert(target.id.0, t);
        self.targets.push(target);
        t
    }

    /// Makes the e-mails of a new or merged contact find it for the batch's later rows,
    /// unless a stored contact answers to them first.
    fn register_emails(&mut self, t: usize, stored: &HashMap<Key, Contact>) {
        for email in self.targets[t].input.email_keys() {
            let key = Key::Email(email);
            if !stored.contains_key(&key) {
                self.by_key.entry(key).or_insert(t);
            }
        }
    }

    fn reject(&mut self, row: u64, field: &str, message: &str) {
        self.outcomes.push((
            row,
            RowOutcome::Rejected(vec![RejectedRow {
                row,
                field: field.into(),
                message: message.into(),
            }]),
        ));
    }
}

/// A row read and checked off the writing path: its key and its contact.
struct PreparedRow {
    row: u64,
    key: Option<Key>,
    contact: RowContact,
}

/// A row's contact, kept once: whole, when the row could create a contact (the same values
/// then change an existing one), else as changes only, with why it cannot create one (it
/// may lack a name, which a stored contact it matches already has).
enum RowContact {
    Whole(ContactInput),
    ChangesOnly {
        not_new: ValidationErrors,
        changes: Result<ContactInput, ValidationErrors>,
    },
}

impl RowContact {
    /// The row as a new contact.
    fn into_new(self) -> Result<ContactInput, ValidationErrors> {
        match self {
            RowContact::Whole(input) => Ok(input),
            RowContact::ChangesOnly { not_new, .. } => Err(not_new),
        }
    }

    /// The row as changes to an existing contact.
    fn into_changes(self) -> Result<ContactInput, ValidationErrors> {
        match self {
            RowContact::Whole(input) => Ok(input),
            RowContact::ChangesOnly { changes, .. } => changes,
        }
    }
}

/// What the reading thread hands over: a prepared row, or one refused before any lookup.
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every item is a row: boxing would add an allocation to each"
)]
enum Prepared {
    Row(PreparedRow),
    Refused(Vec<RejectedRow>),
}

fn prepare(row: ImportRow, match_key: MatchKey) -> Prepared {
    let key = match ContactInput::check_members(&row.body).and_then(|()| row_key(&row, match_key)) {
        Ok(key) => key,
        Err(errors) => return Prepared::Refused(rejections(row.row, errors)),
    };
    let contact = match ContactInput::from_json(&row.body) {
        Ok(input) => RowContact::Whole(input),
        Err(not_new) => RowContact::ChangesOnly {
            not_new,
            changes: partial(&row.body),
        },
    };
    Prepared::Row(PreparedRow {
        row: row.row,
        key,
        contact,
    })
}

/// Reads and prepares rows on a thread of their own, a batch at a time, while the caller
/// writes the previous batch: parsing and validating overlap with the database's work.
fn read_ahead(
    rows: impl Iterator<Item = Result<ImportRow, RejectedRow>> + Send + 'static,
    match_key: MatchKey,
    batch_rows: usize,
) -> mpsc::Receiver<Vec<Prepared>> {
    let (send, receive) = mpsc::channel(2);
    tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(batch_rows);
        for row in rows {
            batch.push(match row {
                Ok(row) => prepare(row, match_key),
                Err(rejected) => Prepared::Refused(vec![rejected]),
            });
            if batch.len() == batch_rows {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_rows));
                // The receiver is gone when the import failed: stop reading.
                if send.blocking_send(full).is_err() {
                    return;
                }
            }
        }
        if !batch.is_empty() {
            // Nothing to do if the import already failed.
            let _ = send.blocking_send(batch);
        }
    });
    receive
}

/// A batch's rows to look up, and the rows refused before any lookup.
fn split_refused(batch: Vec<Prepared>) -> (Vec<PreparedRow>, Vec<RejectedRow>) {
    let (mut keyed, mut refused) = (Vec::with_capacity(batch.len()), Vec::new());
    for prepared in batch {
        match prepared {
            Prepared::Row(row) => keyed.push(row),
            Prepared::Refused(rejected) => refused.extend(rejected),
        }
    }
    (keyed, refused)
}

/// The field a refusal about a row's match key names.
fn key_field(match_key: MatchKey) -> &'static str {
    match match_key {
        MatchKey::Email => "email",
        MatchKey::Id => "id",
    }
}

/// What became of a written batch's rows.
#[derive(Debug, Default)]
struct BatchCounts {
    created: u64,
    updated: u64,
    unchanged: u64,
    rejected: Vec<RejectedRow>,
}

/// A PostgreSQL import: each batch is looked up and resolved in turn, then written in a
/// transaction (and task) of its own while the next batch is resolved and written. Batches
/// commit in file order, each with its checkpoint, so that a crash leaves a prefix of the
/// file imported, as when batches run one after the other. A batch whose keys or contacts
/// a batch still in flight writes first waits until that one has committed, and looks its
/// keys up then: later rows of a file see what earlier ones did, whatever the batch.
struct Pipeline<'a> {
    carnet: Carnet,
    ctx: TenantContext,
    options: ImportOptions,
    /// What the committed batches did.
    report: ImportReport,
    checkpoint: Option<&'a mut Checkpoint>,
    /// Batches being written, oldest first.
    in_flight: VecDeque<InFlight>,
}

/// A batch being written.
struct InFlight {
    rows: u64,
    refused: Vec<RejectedRow>,
    /// Every e-mail and contact id it writes.
    keys: HashSet<Key>,
    write: JoinHandle<ServiceResult<(TenantTx, BatchCounts)>>,
}

impl Pipeline<'_> {
    async fn run(
        mut self,
        mut batches: mpsc::Receiver<Vec<Prepared>>,
        mut progress: impl FnMut(&ImportReport),
    ) -> ServiceResult<ImportReport> {
        let mut owners = HashMap::new();
        while let Some(batch) = batches.recv().await {
            let rows = batch.len() as u64;
            let (keyed, refused) = split_refused(batch);
            let mut tx = self.carnet.db.tenant_write(self.ctx.tenant).await?;
            let wanted: Vec<Key> = keyed.iter().filter_map(|r| r.key.clone()).collect();
            if wanted.iter().any(|k| self.writes(k)) {
                self.drain(&mut progress).await?;
            }
            let mut stored = lookup(&mut tx, wanted.iter().cloned()).await?;
            if stored.values().any(|c| self.writes(&Key::Id(c.id.0))) {
                self.drain(&mut progress).await?;
                stored = lookup(&mut tx, wanted.into_iter()).await?;
            }
            let res = self
                .carnet
                .resolve(
                    &mut tx,
                    &self.ctx,
                    keyed,
                    &stored,
                    self.options,
                    &mut owners,
                )
                .await?;
            let mut keys = HashSet::new();
            for target in &res.targets {
                keys.insert(Key::Id(target.id.0));
                keys.extend(target.input.email_keys().into_iter().map(Key::Email));
            }
            let (carnet, ctx, options) = (self.carnet.clone(), self.ctx.clone(), self.options);
            let write = tokio::spawn(async move {
                let counts = carnet.write_batch(&mut tx, &ctx, res, options).await?;
                Ok((tx, counts))
            });
            self.in_flight.push_back(InFlight {
                rows,
                refused,
                keys,
                write,
            });
            if self.in_flight.len() >= IN_FLIGHT {
                self.finish_oldest(&mut progress).await?;
            }
        }
        self.drain(&mut progress).await?;
        self.report.rejected.sort_by_key(|r| r.row);
        Ok(self.report)
    }

    /// Whether a batch in flight writes this e-mail or contact.
    fn writes(&self, key: &Key) -> bool {
        self.in_flight.iter().any(|f| f.keys.contains(key))
    }

    async fn drain(&mut self, progress: &mut impl FnMut(&ImportReport)) -> ServiceResult<()> {
        while !self.in_flight.is_empty() {
            self.finish_oldest(progress).await?;
        }
        Ok(())
    }

    /// Waits for the oldest batch's writes, then commits them with its checkpoint. On an
    /// error the batches behind it are dropped unfinished: their transactions roll back.
    async fn finish_oldest(
        &mut self,
        progress: &mut impl FnMut(&ImportReport),
    ) -> ServiceResult<()> {
        let Some(batch) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let (mut tx, counts) = batch
            .write
            .await
            .map_err(|e| ServiceError::Internal(format!("import batch task: {e}")))??;
        let first = self.report.rejected.len();
        self.report.add(batch.rows, batch.refused, counts);
        if let Some(cp) = self.checkpoint.as_deref_mut() {
            self.carnet
                .save_checkpoint(&mut tx, cp, &self.report, first)
                .await?;
            self.report.rejected.truncate(first);
        }
        tx.commit().await?;
        progress(&self.report);
        Ok(())
    }
}

impl Carnet {
    /// Imports rows; `progress` is called after every batch. Rows that cannot be read (a broken
    /// CSV line) come as `Err` and are reported like refused rows.
    ///
    /// Rows are read and validated on another thread while the previous batch is written;
    /// each batch is resolved in memory (one lookup of all its keys, in-file duplicates
    /// merged) and written with multi-row statements in one transaction.
    pub async fn import_contacts(
        &self,
        ctx: &TenantContext,
        rows: impl IntoIterator<Item = Result<ImportRow, RejectedRow>, IntoIter: Send + 'static>,
        options: ImportOptions,
        progress: impl FnMut(&ImportReport),
    ) -> ServiceResult<ImportReport> {
        self.import_rows(ctx, rows, options, ImportReport::default(), None, progress)
            .await
    }

    /// [`Carnet::import_contacts`], carrying on from `report` (what earlier runs did) and,
    /// given a checkpoint, committing the job's progress with each batch.
    ///
    /// On PostgreSQL, [`IN_FLIGHT`] batches are written at once, each in its own
    /// transaction, and committed in order (see [`Pipeline`]); SQLite has one writer, and a
    /// dry run one transaction: there, batches are written one after the other.
    pub(crate) async fn import_rows(
        &self,
        ctx: &TenantContext,
        rows: impl IntoIterator<Item = Result<ImportRow, RejectedRow>, IntoIter: Send + 'static>,
        options: ImportOptions,
        report: ImportReport,
        checkpoint: Option<&mut Checkpoint>,
        progress: impl FnMut(&ImportReport),
    ) -> ServiceResult<ImportReport> {
        ctx.require_write()?;
        let backend = self.db.backend();
        let batches = read_ahead(rows.into_iter(), options.match_key, batch_rows(backend));
        if options.dry_run || backend == Backend::Sqlite {
            self.import_in_turn(ctx, batches, options, report, checkpoint, progress)
                .await
        } else {
            let pipeline = Pipeline {
                carnet: self.clone(),
                ctx: ctx.clone(),
                options,
                report,
                checkpoint,
                in_flight: VecDeque::new(),
            };
            pipeline.run(batches, progress).await
        }
    }

    /// Batches one after the other, each committed with its checkpoint (a dry run's single
    /// transaction is rolled back at the end).
    async fn import_in_turn(
        &self,
        ctx: &TenantContext,
        mut batches: mpsc::Receiver<Vec<Prepared>>,
        options: ImportOptions,
        mut report: ImportReport,
        mut checkpoint: Option<&mut Checkpoint>,
        mut progress: impl FnMut(&ImportReport),
    ) -> ServiceResult<ImportReport> {
        let mut owners = HashMap::new();
        let mut tx = self.db.tenant_write(ctx.tenant).await?;
        while let Some(batch) = batches.recv().await {
            let rows = batch.len() as u64;
            let (keyed, refused) = split_refused(batch);
            let stored = lookup(&mut tx, keyed.iter().filter_map(|r| r.key.clone())).await?;
            let res = self
                .resolve(&mut tx, ctx, keyed, &stored, options, &mut owners)
                .await?;
            let counts = self.write_batch(&mut tx, ctx, res, options).await?;
            let first = report.rejected.len();
            report.add(rows, refused, counts);
            if !options.dry_run {
                if let Some(cp) = checkpoint.as_deref_mut() {
                    self.save_checkpoint(&mut tx, cp, &report, first).await?;
                    report.rejected.truncate(first);
                }
                tx.commit().await?;
                tx = self.db.tenant_write(ctx.tenant).await?;
            }
            progress(&report);
        }
        // A dry run's single transaction is dropped here, which rolls it back.
        drop(tx);
        report.rejected.sort_by_key(|r| r.row);
        Ok(report)
    }

    /// Records the refusals from `report.rejected[first..]` and the job's progress; fails
    /// when the job's lease was lost (another worker carries it on: this batch must not land).
    async fn save_checkpoint(
        &self,
        tx: &mut TenantTx,
        cp: &mut Checkpoint,
        report: &ImportReport,
        first: usize,
    ) -> ServiceResult<()> {
        let fresh = crate::imports::as_rows(&report.rejected[first..]);
        jobs::add_rejections(tx, cp.job, cp.next_seq, &fresh).await?;
        cp.next_seq += fresh.len() as i64;
        let now = self.now();
        if jobs::checkpoint(tx, cp.job, &cp.owner, report.progress(), now, now + LEASE).await? {
            Ok(())
        } else {
            Err(ServiceError::LeaseLost)
        }
    }

    /// Resolves a batch in memory against the `stored` contacts its keys designate: which
    /// rows create a contact, which change one (several rows of the file may merge into
    /// one), which are refused. Writes nothing.
    async fn resolve(
        &self,
        tx: &mut TenantTx,
        ctx: &TenantContext,
        keyed: Vec<PreparedRow>,
        stored: &HashMap<Key, Contact>,
        options: ImportOptions,
        owners: &mut HashMap<Uuid, bool>,
    ) -> ServiceResult<Resolution> {
        let mut res = Resolution::default();
        let key_field = key_field(options.match_key);
        for row in keyed {
            let found = row.key.as_ref().and_then(|k| res.find(k, stored));
            match (found, options.mode) {
                (Some(_), ImportMode::Create) => res.reject(
                    row.row,
                    key_field,
                    "a contact with this e-mail or id already exists (mode create)",
                ),
                (None, ImportMode::Update) => {
                    res.reject(row.row, key_field, "matches no contact of this workspace")
                }
                (Some(t), _) => match merge(&res.targets[t].input, row.contact.into_changes()) {
                    Ok(Some(after)) => {
                        res.targets[t].input = after;
                        res.register_emails(t, stored);
                        res.outcomes.push((row.row, RowOutcome::Updated(t)));
                    }
                    Ok(None) => res.outcomes.push((row.row, RowOutcome::Unchanged(t))),
                    Err(errors) => res
                        .outcomes
                        .push((row.row, RowOutcome::Rejected(rejections(row.row, errors)))),
                },
                (None, _) => {
                    let input = match self
                        .new_input(tx, ctx, row.contact.into_new(), owners)
                        .await?
                    {
                        Ok(input) => input,
                        Err(errors) => {
                            res.outcomes
                                .push((row.row, RowOutcome::Rejected(rejections(row.row, errors))));
                            continue;
                        }
                    };
                    let t = res.add(Target {
                        stored: None,
                        id: ContactId::new(),
                        input,
                    });
                    if let Some(k) = row.key {
                        res.by_key.insert(k, t);
                    }
                    res.register_emails(t, stored);
                    res.outcomes.push((row.row, RowOutcome::Created));
                }
            }
        }
        Ok(res)
    }

    /// Writes a resolved batch and tells what became of each row.
    async fn write_batch(
        &self,
        tx: &mut TenantTx,
        ctx: &TenantContext,
        res: Resolution,
        options: ImportOptions,
    ) -> ServiceResult<BatchCounts> {
        let failed = self.write_targets(tx, ctx, &res.targets).await?;
        let mut counts = BatchCounts::default();
        for (row, outcome) in res.outcomes {
            match outcome {
                RowOutcome::Created => counts.created += 1,
                RowOutcome::Updated(t) | RowOutcome::Unchanged(t) if failed.contains(&t) => {
                    counts.rejected.push(RejectedRow {
                        row,
                        field: key_field(options.match_key).into(),
                        message: "the contact changed during the import".into(),
                    });
                }
                RowOutcome::Updated(_) => counts.updated += 1,
                RowOutcome::Unchanged(_) => counts.unchanged += 1,
                RowOutcome::Rejected(rejected) => counts.rejected.extend(rejected),
            }
        }
        Ok(counts)
    }

    /// A new contact from a row: validated, owned by the importing user unless the row says
    /// otherwise, and its owner a member of the workspace (checked once per owner).
    async fn new_input(
        &self,
        tx: &mut TenantTx,
        ctx: &TenantContext,
        parsed: Result<ContactInput, ValidationErrors>,
        owners: &mut HashMap<Uuid, bool>,
    ) -> ServiceResult<Result<ContactInput, ValidationErrors>> {
        let mut input = match parsed {
            Ok(input) => input,
            Err(errors) => return Ok(Err(errors)),
        };
        if input.owner_id.is_none()
            && let crate::Actor::User(user) = ctx.actor
        {
            input.owner_id = Some(user);
        }
        if let Some(owner) = input.owner_id {
            let member = match owners.get(&owner.0) {
                Some(member) => *member,
                None => {
                    let tenant = tx.tenant();
                    let member = users::role_in(tx.control(), tenant, owner).await?.is_some();
                    owners.insert(owner.0, member);
                    member
                }
            };
            if !member {
                let mut e = ValidationErrors::default();
                e.push("owner_id", "is not a member of this workspace");
                return Ok(Err(e));
            }
        }
        Ok(Ok(input))
    }

    /// Writes a batch's new contacts in multi-row statements, its changed ones one by one
    /// (each checked against the version it was read at), and all their audit events.
    /// Returns the targets whose contact changed meanwhile and were not written.
    async fn write_targets(
        &self,
        tx: &mut TenantTx,
        ctx: &TenantContext,
        targets: &[Target],
    ) -> ServiceResult<HashSet<usize>> {
        let now = self.now();
        let news: Vec<NewContact> = targets
            .iter()
            .filter(|t| t.stored.is_none())
            .map(|t| NewContact {
                id: t.id,
                input: &t.input,
            })
            .collect();
        contacts::insert_many(tx, &news, ctx.actor.id(), now).await?;
        let mut events: Vec<_> = news
            .iter()
            .map(|n| {
                let fields = ContactInput::default().changed_fields(n.input);
                audit_event(ctx, "create", n.id, fields, now)
            })
            .collect();
        let mut failed = HashSet::new();
        for (t, target) in targets.iter().enumerate() {
            let Some(current) = &target.stored else {
                continue;
            };
            let fields = current.input().changed_fields(&target.input);
            if fields.is_empty() {
                continue;
            }
            match contacts::update(tx, current, &target.input, now).await? {
                Some(_) => events.push(audit_event(ctx, "update", target.id, fields, now)),
                None => {
                    failed.insert(t);
                }
            }
        }
        audit::append_many(tx, &events).await?;
        Ok(failed)
    }
}

/// The match key of a row, if it has one.
fn row_key(row: &ImportRow, match_key: MatchKey) -> Result<Option<Key>, ValidationErrors> {
    match match_key {
        MatchKey::Email => Ok(first_email(&row.body).map(Key::Email)),
        MatchKey::Id => match &row.id {
            Some(raw) => raw
                .parse::<ContactId>()
                .map(|id| Some(Key::Id(id.0)))
                .map_err(|_| {
                    let mut e = ValidationErrors::default();
                    e.push("id", "is not a contact id (a UUID)");
                    e
                }),
            None => Ok(None),
        },
    }
}

/// The live stored contacts that the keys designate, in one lookup per kind of key.
async fn lookup(
    tx: &mut TenantTx,
    keys: impl Iterator<Item = Key>,
) -> ServiceResult<HashMap<Key, Contact>> {
    let (mut emails, mut ids) = (Vec::new(), Vec::new());
    for key in keys {
        match key {
            Key::Email(e) => emails.push(e),
            Key::Id(id) => ids.push(id),
        }
    }
    emails.sort();
    emails.dedup();
    ids.sort();
    ids.dedup();
    let mut found: HashMap<Key, Contact> = contacts::find_by_emails(tx, &emails)
        .await?
        .into_iter()
        .map(|(email, c)| (Key::Email(email), c))
        .collect();
    for c in contacts::get_many(tx, &ids).await? {
        if c.deleted_at.is_none() {
            found.insert(Key::Id(c.id.0), c);
        }
    }
    Ok(found)
}

/// Merges a row into a contact: given values replace, e-mails, phones and tags are added
/// to the ones already there, custom fields merge; empty cells change nothing.
/// `None` when the row changes nothing.
fn merge(
    before: &ContactInput,
    incoming: Result<ContactInput, ValidationErrors>,
) -> Result<Option<ContactInput>, ValidationErrors> {
    let incoming = incoming?;
    let mut after = before.clone();
    for (field, value) in [
        (&mut after.first_name, incoming.first_name),
        (&mut after.last_name, incoming.last_name),
        (&mut after.job_title, incoming.job_title),
    ] {
        if value.is_some() {
            *field = value;
        }
    }
    after.company_id = incoming.company_id.or(after.company_id);
    add_missing(&mut after.emails, incoming.emails, |v| v.to_lowercase());
    add_missing(
        &mut after.phones,
        incoming.phones,
        carnet_core::text::digits,
    );
    for tag in incoming.tags {
        if !after.tags.iter().any(|t| fold(t) == fold(&tag)) {
            after.tags.push(tag);
        }
    }
    after.custom.extend(incoming.custom);
    let after = ContactInput::from_json(&after.to_json())?;
    Ok((after != *before).then_some(after))
}

/// A row that updates may lack a name: read its members without requiring one.
fn partial(body: &Value) -> Result<ContactInput, ValidationErrors> {
    let mut with_name = body.clone();
    if let Value::Object(m) = &mut with_name {
        m.entry("last_name")
            .or_insert_with(|| Value::String("-".into()));
    }
    let mut input = ContactInput::from_json(&with_name)?;
    if body.get("last_name").is_none() {
        input.last_name = None;
    }
    Ok(input)
}

fn add_missing(
    items: &mut Vec<LabeledValue>,
    incoming: Vec<LabeledValue>,
    key: fn(&str) -> String,
) {
    for item in incoming {
        if !items.iter().any(|i| key(&i.value) == key(&item.value)) {
            items.push(item);
        }
    }
}

fn first_email(body: &Value) -> Option<String> {
    body.get("emails")?
        .get(0)?
        .get("value")?
        .as_str()
        .map(|e| e.trim().to_lowercase())
}

/// How many rows the refusals (sorted by row) are about.
pub(crate) fn distinct_rows(rejected: &[RejectedRow]) -> u64 {
    let mut rows = 0;
    let mut last = None;
    for r in rejected {
        if last != Some(r.row) {
            rows += 1;
            last = Some(r.row);
        }
    }
    rows
}

impl ImportReport {
    /// Adds a batch of `rows`: the rows refused before any lookup, and what became of the
    /// others.
    fn add(&mut self, rows: u64, refused: Vec<RejectedRow>, counts: BatchCounts) {
        self.rows += rows;
        self.created += counts.created;
        self.updated += counts.updated;
        self.unchanged += counts.unchanged;
        let first = self.rejected.len();
        self.rejected.extend(refused);
        self.rejected.extend(counts.rejected);
        let fresh = &mut self.rejected[first..];
        fresh.sort_by_key(|r| r.row);
        self.refused += distinct_rows(fresh);
    }

    /// The report as a job's checkpoint.
    pub(crate) fn progress(&self) -> Progress {
        Progress {
            rows_done: self.rows as i64,
            created: self.created as i64,
            updated: self.updated as i64,
            unchanged: self.unchanged as i64,
            rejected: self.refused as i64,
        }
    }

    /// What earlier runs of a job did, to carry on from.
    pub(crate) fn resumed(p: Progress) -> ImportReport {
        ImportReport {
            rows: p.rows_done as u64,
            created: p.created as u64,
            updated: p.updated as u64,
            unchanged: p.unchanged as u64,
            refused: p.rejected as u64,
            rejected: Vec::new(),
        }
    }
}

fn rejections(row: u64, errors: ValidationErrors) -> Vec<RejectedRow> {
    errors
        .0
        .into_iter()
        .map(|e| RejectedRow {
            row,
            field: e.field,
            message: e.message,
        })
        .collect()
}
