//! The status page's SQLite database: its own file, so the page answers when Carnet's
//! database is down.

use crate::config::ComponentConfig;
use crate::model::{
    Component, ComponentStatus, Impact, Incident, IncidentStatus, IncidentUpdate, Maintenance,
    MaintenanceStatus,
};
use crate::sla::{Sample, Window};
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!();

/// An incident to open: its first update's status and text, the components it affects,
/// and whether a probe opened it.
#[derive(Debug, Clone, Copy)]
pub struct NewIncident<'a> {
    pub name: &'a str,
    pub impact: Impact,
    pub status: IncidentStatus,
    pub body: &'a str,
    pub components: &'a [String],
    pub automatic: bool,
}

/// The database handle.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

/// A row that does not read back as what was written.
fn corrupt(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored {what} is not valid").into())
}

impl Store {
    /// Opens (creating it if needed) `status.db` in `dir` and applies the migrations.
    pub async fn open(dir: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(dir)?;
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(dir.join("status.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        MIGRATIONS.run(&pool).await?;
        Ok(Store { pool })
    }

    /// A transaction that will write, holding SQLite's write lock from its start. A deferred
    /// one that reads first takes its snapshot then, and its first write fails at once
    /// ("database is locked", whatever the busy timeout) if another connection (the prober,
    /// the notifier) wrote in between; an immediate one waits for the lock instead.
    async fn write_tx(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// Makes the stored components those of the configuration (new ones operational,
    /// names, groups and order as configured); components no longer configured stay with
    /// their history but are not shown.
    pub async fn sync_components(
        &self,
        components: &[ComponentConfig],
        now: DateTime<Utc>,
    ) -> sqlx::Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE components SET position = -1")
            .execute(&mut *tx)
            .await?;
        for (i, c) in components.iter().enumerate() {
            sqlx::query(
                "INSERT INTO components (id, name, group_name, position, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $5)
                 ON CONFLICT (id) DO UPDATE SET name = $2, group_name = $3, position = $4",
            )
            .bind(&c.id)
            .bind(&c.name)
            .bind(&c.group)
            .bind(i as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// The components shown, in order.
    pub async fn components(&self) -> sqlx::Result<Vec<Component>> {
        let rows = sqlx::query(
            "SELECT id, name, group_name, position, status, created_at, updated_at
             FROM components WHERE position >= 0 ORDER BY position",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Component {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    group: r.try_get("group_name")?,
                    position: r.try_get("position")?,
                    status: ComponentStatus::parse(r.try_get("status")?)
                        .ok_or_else(|| corrupt("component status"))?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect()
    }

    pub async fn set_component_status(
        &self,
        id: &str,
        status: ComponentStatus,
        now: DateTime<Utc>,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE components SET status = $1, updated_at = $2 WHERE id = $3 AND status <> $1",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Opens an incident with its first update.
    pub async fn open_incident(
        &self,
        new: &NewIncident<'_>,
        now: DateTime<Utc>,
    ) -> sqlx::Result<String> {
        let NewIncident {
            name,
            impact,
            status,
            body,
            components,
            automatic,
        } = *new;
        let id = uuid::Uuid::now_v7().to_string();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO incidents (id, name, status, impact, automatic, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&id)
        .bind(name)
        .bind(status.as_str())
        .bind(impact.as_str())
        .bind(automatic)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for c in components {
            sqlx::query(
                "INSERT INTO incident_components (incident_id, component_id) VALUES ($1, $2)",
            )
            .bind(&id)
            .bind(c)
            .execute(&mut *tx)
            .await?;
        }
        insert_update(&mut tx, &id, status, body, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Adds an update; `resolved` closes the incident. `false` if there is no such incident.
    pub async fn add_update(
        &self,
        incident: &str,
        status: IncidentStatus,
        body: &str,
        now: DateTime<Utc>,
    ) -> sqlx::Result<bool> {
        let mut tx = self.write_tx().await?;
        let resolved_at = (status == IncidentStatus::Resolved).then_some(now);
        let changed = sqlx::query(
            "UPDATE incidents SET status = $1, updated_at = $2, resolved_at = $3 WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(resolved_at)
        .bind(incident)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        insert_update(&mut tx, incident, status, body, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The open incident a probe opened on `component`, if any.
    pub async fn open_automatic_incident(&self, component: &str) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT i.id FROM incidents i JOIN incident_components ic ON ic.incident_id = i.id
             WHERE ic.component_id = $1 AND i.automatic = 1 AND i.status <> 'resolved'
             ORDER BY i.created_at DESC LIMIT 1",
        )
        .bind(component)
        .fetch_optional(&self.pool)
        .await
    }

    /// Incidents, newest first: the unresolved ones only, or the `limit` most recent.
    pub async fn incidents(
        &self,
        unresolved_only: bool,
        limit: i64,
    ) -> sqlx::Result<Vec<Incident>> {
        let rows = sqlx::query(
            "SELECT id, name, status, impact, automatic, created_at, updated_at, resolved_at FROM incidents
             WHERE ($1 = 0 OR status <> 'resolved') ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(unresolved_only)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.try_get("id")?;
            let (updates, components) = self.history(Of::Incident, &id).await?;
            out.push(Incident {
                id,
                name: r.try_get("name")?,
                status: IncidentStatus::parse(r.try_get("status")?)
                    .ok_or_else(|| corrupt("incident status"))?,
                impact: Impact::parse(r.try_get("impact")?).ok_or_else(|| corrupt("impact"))?,
                automatic: r.try_get("automatic")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
                resolved_at: r.try_get("resolved_at")?,
                updates,
                components,
            });
        }
        Ok(out)
    }

    pub async fn record_probe(
        &self,
        component: &str,
        at: DateTime<Utc>,
        outcome: &Result<u64, String>,
    ) -> sqlx::Result<()> {
        let (ok, latency, error) = match outcome {
            Ok(ms) => (true, Some(*ms as i64), None),
            Err(e) => (false, None, Some(e.as_str())),
        };
        sqlx::query("INSERT INTO probe_results (component_id, at, ok, latency_ms, error) VALUES ($1, $2, $3, $4, $5)")
            .bind(component)
            .bind(at)
            .bind(ok)
            .bind(latency)
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Which maintenances to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaintenanceFilter {
    All,
    /// Scheduled, not started.
    Upcoming,
    /// In progress or being verified.
    Active,
    /// Not completed.
    Unfinished,
}

impl Store {
    /// Plans a maintenance of `components` with its announcement.
    pub async fn schedule_maintenance(
        &self,
        name: &str,
        body: &str,
        window: (DateTime<Utc>, DateTime<Utc>),
        components: &[String],
        now: DateTime<Utc>,
    ) -> sqlx::Result<String> {
        let id = uuid::Uuid::now_v7().to_string();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO maintenances (id, name, status, scheduled_for, scheduled_until, created_at, updated_at)
             VALUES ($1, $2, 'scheduled', $3, $4, $5, $5)",
        )
        .bind(&id)
        .bind(name)
        .bind(window.0)
        .bind(window.1)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for c in components {
            sqlx::query(
                "INSERT INTO maintenance_components (maintenance_id, component_id) VALUES ($1, $2)",
            )
            .bind(&id)
            .bind(c)
            .execute(&mut *tx)
            .await?;
        }
        insert_maintenance_update(&mut tx, &id, "scheduled", body, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Moves a maintenance on; its components are under maintenance while it is in progress
    /// and operational again when it is completed. `false` if there is no such maintenance.
    pub async fn update_maintenance(
        &self,
        id: &str,
        status: MaintenanceStatus,
        body: &str,
        now: DateTime<Utc>,
    ) -> sqlx::Result<bool> {
        let mut tx = self.write_tx().await?;
        let changed =
            sqlx::query("UPDATE maintenances SET status = $1, updated_at = $2 WHERE id = $3")
                .bind(status.as_str())
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        insert_maintenance_update(&mut tx, id, status.as_str(), body, now).await?;
        let component_status = match status {
            MaintenanceStatus::InProgress => Some(ComponentStatus::UnderMaintenance),
            MaintenanceStatus::Completed => Some(ComponentStatus::Operational),
            MaintenanceStatus::Scheduled | MaintenanceStatus::Verifying => None,
        };
        if let Some(cs) = component_status {
            sqlx::query(
                "UPDATE components SET status = $1, updated_at = $2
                 WHERE id IN (SELECT component_id FROM maintenance_components WHERE maintenance_id = $3)",
            )
            .bind(cs.as_str())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Maintenances by start, soonest first (all of them: latest first).
    pub async fn maintenances(
        &self,
        filter: MaintenanceFilter,
        limit: i64,
    ) -> sqlx::Result<Vec<Maintenance>> {
        let (condition, order) = match filter {
            MaintenanceFilter::All => ("1 = 1", "DESC"),
            MaintenanceFilter::Upcoming => ("status = 'scheduled'", "ASC"),
            MaintenanceFilter::Active => ("status IN ('in_progress', 'verifying')", "ASC"),
            MaintenanceFilter::Unfinished => ("status <> 'completed'", "ASC"),
        };
        let rows = sqlx::query(&format!(
            "SELECT id, name, status, scheduled_for, scheduled_until, created_at, updated_at
             FROM maintenances WHERE {condition} ORDER BY scheduled_for {order}, id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.try_get("id")?;
            let (updates, components) = self.history(Of::Maintenance, &id).await?;
            out.push(Maintenance {
                id,
                name: r.try_get("name")?,
                status: MaintenanceStatus::parse(r.try_get("status")?)
                    .ok_or_else(|| corrupt("maintenance status"))?,
                scheduled_for: r.try_get("scheduled_for")?,
                scheduled_until: r.try_get("scheduled_until")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
                updates,
                components,
            });
        }
        Ok(out)
    }

    /// The maintenance windows of a component overlapping `[from, to)`, with when each was
    /// announced (for the SLA).
    pub async fn maintenance_windows(
        &self,
        component: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> sqlx::Result<Vec<Window>> {
        let rows = sqlx::query(
            "SELECT m.scheduled_for, m.scheduled_until, m.created_at FROM maintenances m
             JOIN maintenance_components mc ON mc.maintenance_id = m.id
             WHERE mc.component_id = $1 AND m.scheduled_until > $2 AND m.scheduled_for < $3",
        )
        .bind(component)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Window {
                    starts: r.try_get("scheduled_for")?,
                    ends: r.try_get("scheduled_until")?,
                    announced: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// A component's probe results in `[from, to)`, in time order.
    pub async fn samples(
        &self,
        component: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> sqlx::Result<Vec<Sample>> {
        let rows = sqlx::query(
            "SELECT at, ok FROM probe_results WHERE component_id = $1 AND at >= $2 AND at < $3 ORDER BY at",
        )
        .bind(component)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Sample {
                    at: r.try_get("at")?,
                    ok: r.try_get("ok")?,
                })
            })
            .collect()
    }
}

impl Store {
    /// A component's share of passing checks per day (`YYYY-MM-DD`, UTC) since `from`.
    pub async fn daily_uptime(
        &self,
        component: &str,
        from: DateTime<Utc>,
    ) -> sqlx::Result<Vec<(String, f64)>> {
        let rows = sqlx::query(
            "SELECT substr(at, 1, 10) AS day, sum(ok) AS up, count(*) AS checks FROM probe_results
             WHERE component_id = $1 AND at >= $2 GROUP BY day ORDER BY day",
        )
        .bind(component)
        .bind(from)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let (up, checks): (i64, i64) = (r.try_get("up")?, r.try_get("checks")?);
                Ok((r.try_get("day")?, 100.0 * up as f64 / checks.max(1) as f64))
            })
            .collect()
    }
}

/// Whose updates and components [`Store::history`] reads.
#[derive(Debug, Clone, Copy)]
enum Of {
    Incident,
    Maintenance,
}

impl Store {
    /// The updates (newest first) and the component ids of an incident or a maintenance.
    async fn history(&self, of: Of, id: &str) -> sqlx::Result<(Vec<IncidentUpdate>, Vec<String>)> {
        let (updates_sql, components_sql) = match of {
            Of::Incident => (
                "SELECT id, status, body, created_at FROM incident_updates
                 WHERE incident_id = $1 ORDER BY created_at DESC, id DESC",
                "SELECT component_id FROM incident_components WHERE incident_id = $1 ORDER BY component_id",
            ),
            Of::Maintenance => (
                "SELECT id, status, body, created_at FROM maintenance_updates
                 WHERE maintenance_id = $1 ORDER BY created_at DESC, id DESC",
                "SELECT component_id FROM maintenance_components WHERE maintenance_id = $1 ORDER BY component_id",
            ),
        };
        let updates = sqlx::query(updates_sql)
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|u| {
                Ok(IncidentUpdate {
                    id: u.try_get("id")?,
                    status: u.try_get("status")?,
                    body: u.try_get("body")?,
                    created_at: u.try_get("created_at")?,
                })
            })
            .collect::<sqlx::Result<Vec<_>>>()?;
        let components = sqlx::query_scalar(components_sql)
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        Ok((updates, components))
    }
}

/// A message waiting for delivery.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: String,
    pub kind: String,
    pub target: String,
    pub secret: String,
    pub event: String,
    pub body: String,
    pub attempts: i64,
}

impl Store {
    /// Registers a webhook (confirmed: an administrator added it) for `components` (empty:
    /// all). Returns its id.
    pub async fn add_webhook(
        &self,
        url: &str,
        secret: &str,
        components: &[String],
        now: DateTime<Utc>,
    ) -> sqlx::Result<String> {
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO subscribers (id, kind, target, secret, components, confirmed_at, created_at)
             VALUES ($1, 'webhook', $2, $3, $4, $5, $5)",
        )
        .bind(&id)
        .bind(url)
        .bind(secret)
        .bind(serde_json::to_string(components).unwrap_or_else(|_| "[]".into()))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Records an e-mail subscription waiting for its confirmation; `token` is in the
    /// confirmation and unsubscribe links. Returns its id.
    pub async fn add_email_subscriber(
        &self,
        email: &str,
        token: &str,
        components: &[String],
        now: DateTime<Utc>,
    ) -> sqlx::Result<String> {
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO subscribers (id, kind, target, secret, components, created_at)
             VALUES ($1, 'email', $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(email)
        .bind(token)
        .bind(serde_json::to_string(components).unwrap_or_else(|_| "[]".into()))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Confirms the subscription of `token` (and ends older ones of the same address, so
    /// nobody gets each message twice). `false` for an unknown or ended token.
    pub async fn confirm_subscriber(&self, token: &str, now: DateTime<Utc>) -> sqlx::Result<bool> {
        let mut tx = self.write_tx().await?;
        let target: Option<String> = sqlx::query_scalar(
            "SELECT target FROM subscribers WHERE kind = 'email' AND secret = $1 AND unsubscribed_at IS NULL",
        )
        .bind(token)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(target) = target else {
            return Ok(false);
        };
        sqlx::query(
            "UPDATE subscribers SET unsubscribed_at = $1
             WHERE kind = 'email' AND target = $2 AND secret <> $3 AND unsubscribed_at IS NULL",
        )
        .bind(now)
        .bind(&target)
        .bind(token)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE subscribers SET confirmed_at = COALESCE(confirmed_at, $1) WHERE secret = $2",
        )
        .bind(now)
        .bind(token)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Ends the e-mail subscription of `token`; `false` if there is none.
    pub async fn unsubscribe(&self, token: &str, now: DateTime<Utc>) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "UPDATE subscribers SET unsubscribed_at = COALESCE(unsubscribed_at, $1)
             WHERE kind = 'email' AND secret = $2",
        )
        .bind(now)
        .bind(token)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// Queues a message for one subscriber (a confirmation request).
    pub async fn enqueue_to(
        &self,
        subscriber: &str,
        event: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO deliveries (id, subscriber_id, event, body, next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(subscriber)
        .bind(event)
        .bind(body)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Queues `body` (an `event`) for every confirmed subscriber following one of
    /// `components` (or all of them).
    pub async fn enqueue(
        &self,
        event: &str,
        body: &str,
        components: &[String],
        now: DateTime<Utc>,
    ) -> sqlx::Result<u64> {
        let rows = sqlx::query(
            "SELECT id, components FROM subscribers WHERE confirmed_at IS NOT NULL AND unsubscribed_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut queued = 0;
        for r in rows {
            let follows: Vec<String> =
                serde_json::from_str(r.try_get::<&str, _>("components")?).unwrap_or_default();
            if !follows.is_empty() && !follows.iter().any(|c| components.contains(c)) {
                continue;
            }
            sqlx::query(
                "INSERT INTO deliveries (id, subscriber_id, event, body, next_attempt_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(r.try_get::<String, _>("id")?)
            .bind(event)
            .bind(body)
            .bind(now)
            .execute(&self.pool)
            .await?;
            queued += 1;
        }
        Ok(queued)
    }

    /// Messages whose time has come, oldest first.
    pub async fn due(&self, now: DateTime<Utc>, limit: i64) -> sqlx::Result<Vec<Due>> {
        let rows = sqlx::query(
            "SELECT d.id, s.kind, s.target, s.secret, d.event, d.body, d.attempts
             FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
             WHERE d.delivered_at IS NULL AND d.next_attempt_at <= $1 AND s.unsubscribed_at IS NULL
             ORDER BY d.created_at, d.id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Due {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    target: r.try_get("target")?,
                    secret: r.try_get("secret")?,
                    event: r.try_get("event")?,
                    body: r.try_get("body")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Records an attempt: delivered, or failed with its error and the next try.
    pub async fn attempted(
        &self,
        id: &str,
        outcome: Result<(), String>,
        now: DateTime<Utc>,
        retry_at: DateTime<Utc>,
    ) -> sqlx::Result<()> {
        let (delivered, error) = match outcome {
            Ok(()) => (Some(now), None),
            Err(e) => (None, Some(e)),
        };
        sqlx::query(
            "UPDATE deliveries SET attempts = attempts + 1, delivered_at = $1, last_error = $2,
                    next_attempt_at = $3 WHERE id = $4",
        )
        .bind(delivered)
        .bind(error)
        .bind(retry_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One incident, if it exists.
    pub async fn incident(&self, id: &str) -> sqlx::Result<Option<Incident>> {
        // Few incidents are open at once; the list query serves this too.
        Ok(self
            .incidents(false, 1000)
            .await?
            .into_iter()
            .find(|i| i.id == id))
    }
}

async fn insert_maintenance_update(
    tx: &mut sqlx::SqliteConnection,
    maintenance: &str,
    status: &str,
    body: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO maintenance_updates (id, maintenance_id, status, body, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(maintenance)
    .bind(status)
    .bind(body)
    .bind(now)
    .execute(tx)
    .await?;
    Ok(())
}

async fn insert_update(
    tx: &mut sqlx::SqliteConnection,
    incident: &str,
    status: IncidentStatus,
    body: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO incident_updates (id, incident_id, status, body, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(incident)
    .bind(status.as_str())
    .bind(body)
    .bind(now)
    .execute(tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transaction that reads and then writes does not fail when another connection wrote
    /// after its read (as the prober does at any moment): it held the write lock from its
    /// start, and the other write waited for its commit. A deferred transaction here failed
    /// its write with "database is locked" (the status page answered 500).
    #[tokio::test]
    async fn a_read_then_write_transaction_survives_a_write_in_between() {
        let dir = std::env::temp_dir().join(format!("carnet-status-{}", uuid::Uuid::now_v7()));
        let store = Store::open(&dir).await.unwrap();
        let now = Utc::now();
        store
            .add_email_subscriber("lea@example.test", "t1", &[], now)
            .await
            .unwrap();
        let mut tx = store.write_tx().await.unwrap();
        let read: i64 = sqlx::query_scalar("SELECT count(*) FROM subscribers")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(read, 1);
        let other = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .add_email_subscriber("zoe@example.test", "t2", &[], now)
                    .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        sqlx::query("UPDATE subscribers SET confirmed_at = $1 WHERE secret = 't1'")
            .bind(now)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        other.await.unwrap().unwrap();
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM subscribers")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(total, 2);
        store.pool.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }
}
