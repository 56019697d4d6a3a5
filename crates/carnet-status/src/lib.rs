//! `carnet-status`: Carnet's public status page. Its own process and SQLite file, so it keeps
//! answering when Carnet or its database is down; HTTP probes open and resolve incidents;
//! the page (French and English, no JavaScript) and a Statuspage-shaped JSON API show them.

pub mod admin_ui;
pub mod config;
pub mod feeds;
pub mod model;
pub mod notify;
pub mod probe;
pub mod sla;
pub mod smtp;
pub mod store;
pub mod web;

use config::Config;
use std::sync::Arc;

/// Opens the database, starts the probes and serves on `listener` until `stop` resolves.
pub async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = store::Store::open(&config.data_dir).await?;
    store
        .sync_components(&config.components, chrono::Utc::now())
        .await?;
    let mut probes = tokio::task::JoinSet::new();
    for p in &config.probes {
        let name = config
            .components
            .iter()
            .find(|c| c.id == p.component)
            .map_or_else(|| p.component.clone(), |c| c.name.clone());
        probes.spawn(probe::run(store.clone(), p.clone(), name));
    }
    let base = config
        .public_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| {
            format!(
                "http://{}",
                listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default()
            )
        });
    let mailer = notify::Mailer {
        relay: config.smtp.as_ref().map(|s| smtp::Relay {
            host: s.host.clone(),
            port: s.port,
            from: s.from.clone(),
        }),
        base,
        title: config.title.clone(),
    };
    probes.spawn(notify::run(store.clone(), mailer));
    let state = web::AppState {
        store,
        title: Arc::from(config.title.as_str()),
        admin_token: config
            .admin_token
            .clone()
            .or_else(|| std::env::var("CARNET_STATUS_ADMIN_TOKEN").ok())
            .filter(|t| !t.is_empty())
            .map(Arc::from),
        public_url: config.public_url.as_deref().map(Arc::from),
        email_subscriptions: config.smtp.is_some(),
        admin_password_hash: config.admin_password_hash.as_deref().map(Arc::from),
        sessions: Arc::default(),
        business_hours: Arc::new(match &config.business_hours {
            Some(b) => b.hours()?,
            None => sla::BusinessHours::default(),
        }),
        tiers: Arc::from(if config.sla_tiers.is_empty() {
            sla::DEFAULT_TIERS.to_vec()
        } else {
            config
                .sla_tiers
                .iter()
                .map(|t| sla::Tier {
                    percent: t.percent,
                    credit: t.credit,
                })
                .collect()
        }),
        probe_intervals: Arc::new(
            config
                .probes
                .iter()
                .map(|p| (p.component.clone(), p.interval_secs))
                .collect(),
        ),
    };
    axum::serve(listener, web::router(state))
        .with_graceful_shutdown(stop)
        .await?;
    probes.abort_all();
    Ok(())
}
