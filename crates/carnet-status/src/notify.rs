//! Telling subscribers: events queued in the database (an outbox) and delivered by a loop
//! that retries with growing delays. Webhooks are signed: `X-Carnet-Signature:
//! t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the subscriber's secret>`.

use crate::model::Incident;
use crate::probe::{Target, request};
use crate::smtp::{Message, Relay, send};
use crate::store::Store;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::time::Duration;

/// How often the loop looks for messages to send: subscribers hear within seconds.
const TICK: Duration = Duration::from_secs(1);
/// Attempts before a message is given up.
const MAX_ATTEMPTS: i64 = 12;

/// The signature header's value for `body` sent at `t`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(format!("{t}.{body}").as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

/// Queues an incident's latest state for its subscribers.
async fn incident(store: &Store, event: &str, incident: &Incident, now: DateTime<Utc>) {
    let latest = incident.updates.first();
    let body = json!({
        "event": event,
        "incident": {
            "id": incident.id, "name": incident.name, "status": incident.status,
            "impact": incident.impact, "created_at": incident.created_at,
            "resolved_at": incident.resolved_at, "components": incident.components,
        },
        "update": latest.map(|u| json!({"status": u.status, "body": u.body, "created_at": u.created_at})),
    })
    .to_string();
    if let Err(e) = store.enqueue(event, &body, &incident.components, now).await {
        tracing::error!(error = %e, "queueing a notification");
    }
}

/// Queues a maintenance's latest state (`maintenance.scheduled`, `maintenance.updated`).
async fn maintenance_by_id(store: &Store, event: &str, id: &str) {
    let found = store
        .maintenances(crate::store::MaintenanceFilter::All, 1000)
        .await
        .map(|all| all.into_iter().find(|m| m.id == id));
    let m = match found {
        Ok(Some(m)) => m,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, "loading a maintenance to notify");
            return;
        }
    };
    let latest = m.updates.first();
    let body = json!({
        "event": event,
        "maintenance": {
            "id": m.id, "name": m.name, "status": m.status,
            "scheduled_for": m.scheduled_for, "scheduled_until": m.scheduled_until,
            "components": m.components,
        },
        "update": latest.map(|u| json!({"status": u.status, "body": u.body, "created_at": u.created_at})),
    })
    .to_string();
    if let Err(e) = store.enqueue(event, &body, &m.components, Utc::now()).await {
        tracing::error!(error = %e, "queueing a notification");
    }
}

/// Queues the incident `id`'s latest state, loading it first.
async fn incident_by_id(store: &Store, event: &str, id: &str) {
    match store.incident(id).await {
        Ok(Some(i)) => incident(store, event, &i, Utc::now()).await,
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "loading an incident to notify"),
    }
}

/// What e-mail deliveries need: the relay, the page's address for links, its title.
#[derive(Debug, Clone)]
pub struct Mailer {
    pub relay: Option<Relay>,
    pub base: String,
    pub title: String,
}

impl Mailer {
    /// The e-mail for one delivery: a confirmation request, or an incident's news with
    /// one-click unsubscribe headers (RFC 8058).
    fn message(&self, to: &str, token: &str, event: &str, body: &str) -> Result<Message, String> {
        let base = &self.base;
        let unsubscribe = format!("{base}/subscriptions/unsubscribe?token={token}");
        let data: serde_json::Value =
            serde_json::from_str(body).map_err(|e| format!("queued message: {e}"))?;
        let (subject, text) = if event == "subscription.confirm" {
            (
                format!(
                    "{} : confirmez votre abonnement / confirm your subscription",
                    self.title
                ),
                format!(
                    "Pour recevoir les incidents de {title} par e-mail, confirmez ici :\n\
                     To receive {title}'s incidents by e-mail, confirm here:\n\n\
                     {base}/subscriptions/confirm?token={token}\n\n\
                     Si vous n'avez rien demandé, ignorez ce message. / If you did not ask, ignore this message.\n",
                    title = self.title
                ),
            )
        } else {
            // An incident's news, or a maintenance's (with its window).
            let (item, anchor, when) = match data.get("maintenance") {
                Some(m) => (
                    m,
                    "maintenance",
                    format!(
                        "\n{} → {}",
                        m["scheduled_for"].as_str().unwrap_or_default(),
                        m["scheduled_until"].as_str().unwrap_or_default()
                    ),
                ),
                None => (&data["incident"], "incident", String::new()),
            };
            let u = &data["update"];
            (
                format!(
                    "[{}] {} — {}",
                    self.title,
                    item["name"].as_str().unwrap_or_default(),
                    u["status"].as_str().unwrap_or_default()
                ),
                format!(
                    "{}{when}\n\n{}\n\n{base}/#{anchor}-{}\n\nSe désabonner / Unsubscribe: {unsubscribe}\n",
                    item["name"].as_str().unwrap_or_default(),
                    u["body"].as_str().unwrap_or_default(),
                    item["id"].as_str().unwrap_or_default(),
                ),
            )
        };
        Ok(Message {
            to: to.to_owned(),
            subject,
            body: text,
            headers: vec![
                ("List-Unsubscribe".into(), format!("<{unsubscribe}>")),
                (
                    "List-Unsubscribe-Post".into(),
                    "List-Unsubscribe=One-Click".into(),
                ),
            ],
        })
    }
}

/// Delivers queued messages forever.
pub async fn run(store: Store, mailer: Mailer) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let now = Utc::now();
        let due = match store.due(now, 50).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "reading the outbox");
                continue;
            }
        };
        for d in due {
            let outcome = match d.kind.as_str() {
                "webhook" => deliver_webhook(&d.target, &d.secret, &d.event, &d.body).await,
                "email" => match &mailer.relay {
                    Some(relay) => match mailer.message(&d.target, &d.secret, &d.event, &d.body) {
                        Ok(m) => send(relay, &m).await,
                        Err(e) => Err(e),
                    },
                    None => Err("no SMTP relay is configured".into()),
                },
                other => Err(format!("no delivery for {other} subscribers")),
            };
            if let Err(e) = &outcome {
                tracing::warn!(delivery = %d.id, error = %e, "delivery failed");
            }
            // 2, 4, 8 … seconds, at most an hour; after the last attempt, never again.
            let delay = if d.attempts + 1 >= MAX_ATTEMPTS {
                chrono::Duration::days(3650)
            } else {
                chrono::Duration::seconds((2i64 << d.attempts.min(11)).min(3600))
            };
            if let Err(e) = store.attempted(&d.id, outcome, now, now + delay).await {
                tracing::error!(error = %e, "recording a delivery");
            }
        }
    }
}

async fn deliver_webhook(url: &str, secret: &str, event: &str, body: &str) -> Result<(), String> {
    let target = Target::parse(url)?;
    let t = Utc::now().timestamp();
    let headers = [
        ("Content-Type", "application/json".to_owned()),
        ("X-Carnet-Event", event.to_owned()),
        ("X-Carnet-Signature", signature(secret, t, body)),
    ];
    request(
        &target,
        "POST",
        &headers,
        body.as_bytes(),
        Duration::from_secs(10),
    )
    .await
}

/// Opens an incident and tells its subscribers: the one way incidents are opened.
pub async fn open_incident(
    store: &Store,
    new: &crate::store::NewIncident<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<String> {
    let id = store.open_incident(new, now).await?;
    incident_by_id(store, "incident.created", &id).await;
    Ok(id)
}

/// Posts an incident's update and tells its subscribers; `false` if there is no such incident.
pub async fn update_incident(
    store: &Store,
    id: &str,
    status: crate::model::IncidentStatus,
    body: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    if !store.add_update(id, status, body, now).await? {
        return Ok(false);
    }
    let event = if status == crate::model::IncidentStatus::Resolved {
        "incident.resolved"
    } else {
        "incident.updated"
    };
    incident_by_id(store, event, id).await;
    Ok(true)
}

/// Plans a maintenance and announces it.
pub async fn schedule_maintenance(
    store: &Store,
    name: &str,
    body: &str,
    window: (DateTime<Utc>, DateTime<Utc>),
    components: &[String],
    now: DateTime<Utc>,
) -> sqlx::Result<String> {
    let id = store
        .schedule_maintenance(name, body, window, components, now)
        .await?;
    maintenance_by_id(store, "maintenance.scheduled", &id).await;
    Ok(id)
}

/// Moves a maintenance on and tells its subscribers; `false` if there is no such maintenance.
pub async fn update_maintenance(
    store: &Store,
    id: &str,
    status: crate::model::MaintenanceStatus,
    body: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    if !store.update_maintenance(id, status, body, now).await? {
        return Ok(false);
    }
    maintenance_by_id(store, "maintenance.updated", id).await;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_time_and_body() {
        // Expected value from Python's hmac module.
        let s = signature("Jefe", 1, "what do ya want for nothing?");
        assert_eq!(
            s,
            "t=1,v1=a9049465ce89cfb8e9aac62333abda66f80e3403f51f57f6bae3c3a4485eca38"
        );
        assert_ne!(s, signature("Jefe", 2, "what do ya want for nothing?"));
        assert_ne!(s, signature("other", 1, "what do ya want for nothing?"));
    }
}
