//! The status page's configuration: a TOML file; unknown keys are errors.

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the page listens (default 127.0.0.1:8090).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Where its SQLite file lives (default ./carnet-status-data).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The page's public address (`https://status.example.com`), for the feeds' links;
    /// taken from the request's `Host` when not set.
    pub public_url: Option<String>,
    /// The page's title.
    #[serde(default = "default_title")]
    pub title: String,
    /// The admin UI's password, as an argon2id PHC string (`carnet-status --hash-password`
    /// prints one); without it, the admin UI is off.
    pub admin_password_hash: Option<String>,
    /// Bearer token of the admin API (also `CARNET_STATUS_ADMIN_TOKEN`); without one, the
    /// admin API is off.
    pub admin_token: Option<String>,
    #[serde(default)]
    pub components: Vec<ComponentConfig>,
    #[serde(default)]
    pub probes: Vec<ProbeConfig>,
    /// Service credits: below `percent` monthly availability, `credit` percent of the fee.
    /// Default: below 99.9 → 10, below 99 → 25, below 95 → 50.
    #[serde(default)]
    pub sla_tiers: Vec<TierConfig>,
    /// The relay e-mail goes out through; without it, e-mail subscriptions are off.
    pub smtp: Option<SmtpConfig>,
    /// When support works, for response times in the SLA report (default: Monday to
    /// Friday, 9:00 to 18:00, UTC+1).
    pub business_hours: Option<BusinessHoursConfig>,
}

/// Working days and hours.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHoursConfig {
    /// `mon` … `sun`.
    pub days: Vec<String>,
    pub start_hour: u32,
    pub end_hour: u32,
    /// Offset of the hours from UTC, in minutes (60 for Paris in winter).
    #[serde(default)]
    pub utc_offset_minutes: i32,
}

impl BusinessHoursConfig {
    pub fn hours(&self) -> anyhow::Result<crate::sla::BusinessHours> {
        let days = self
            .days
            .iter()
            .map(|d| {
                d.parse::<chrono::Weekday>()
                    .map_err(|_| anyhow::anyhow!("business_hours: `{d}` is not a day (mon … sun)"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if self.start_hour >= self.end_hour || self.end_hour > 24 {
            anyhow::bail!("business_hours: start_hour must come before end_hour (at most 24)");
        }
        Ok(crate::sla::BusinessHours {
            days,
            start_hour: self.start_hour,
            end_hour: self.end_hour,
            offset_minutes: self.utc_offset_minutes,
        })
    }
}

/// An SMTP relay (plain SMTP on loopback or a private network).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// The sender address of every message.
    pub from: String,
}

fn default_smtp_port() -> u16 {
    25
}

/// One service-credit tier.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    pub percent: f64,
    pub credit: u32,
}

/// A component shown on the page.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    /// A stable identifier (`api`, `web`, …).
    pub id: String,
    pub name: String,
    pub group: Option<String>,
}

/// An HTTP check of one component.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    pub component: String,
    /// `http://host:port/path`; a 2xx answer within the limits is a success.
    pub url: String,
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// Longest wait for an answer.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Slower than this (but answering) counts as degraded performance.
    pub max_latency_ms: Option<u64>,
    /// Consecutive failures that open an incident.
    #[serde(default = "default_failures")]
    pub failures_to_open: u32,
    /// Consecutive successes that resolve it.
    #[serde(default = "default_successes")]
    pub successes_to_resolve: u32,
}

fn default_listen() -> String {
    "127.0.0.1:8090".into()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("carnet-status-data")
}
fn default_title() -> String {
    "Carnet".into()
}
fn default_interval() -> u64 {
    30
}
fn default_timeout() -> u64 {
    5000
}
fn default_failures() -> u32 {
    3
}
fn default_successes() -> u32 {
    2
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn from_toml(text: &str) -> anyhow::Result<Config> {
        let config: Config = toml::from_str(text)?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        for p in &self.probes {
            if !self.components.iter().any(|c| c.id == p.component) {
                anyhow::bail!("probe of `{}`: no component has this id", p.component);
            }
            crate::probe::Target::parse(&p.url)
                .map_err(|e| anyhow::anyhow!("probe of `{}`: {e}", p.component))?;
            if p.interval_secs == 0 || p.failures_to_open == 0 || p.successes_to_resolve == 0 {
                anyhow::bail!(
                    "probe of `{}`: interval_secs, failures_to_open and successes_to_resolve must be at least 1",
                    p.component
                );
            }
        }
        for t in &self.sla_tiers {
            if !(0.0..=100.0).contains(&t.percent) || t.credit > 100 {
                anyhow::bail!(
                    "an SLA tier needs a percent between 0 and 100 and a credit of at most 100"
                );
            }
        }
        if let Some(b) = &self.business_hours {
            b.hours()?;
        }
        let mut ids: Vec<&str> = self.components.iter().map(|c| c.id.as_str()).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            anyhow::bail!("two components have the same id");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_configuration_is_valid() {
        let config = Config::from_toml(include_str!("../status.example.toml")).unwrap();
        assert_eq!(config.components.len(), 2);
        assert_eq!(config.probes[1].max_latency_ms, Some(500));
    }

    #[test]
    fn mistakes_are_named() {
        let unknown = Config::from_toml("colour = \"blue\"").unwrap_err();
        assert!(format!("{unknown:#}").contains("colour"), "{unknown:#}");
        let orphan =
            Config::from_toml("[[probes]]\ncomponent = \"api\"\nurl = \"http://127.0.0.1/\"")
                .unwrap_err();
        assert!(orphan.to_string().contains("no component"), "{orphan}");
        let https = Config::from_toml(
            "[[components]]\nid = \"api\"\nname = \"API\"\n[[probes]]\ncomponent = \"api\"\nurl = \"https://x/\"",
        )
        .unwrap_err();
        assert!(https.to_string().contains("http://"), "{https}");
    }
}
