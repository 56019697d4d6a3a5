//! HTTP probes: a GET every few seconds; after K failures in a row an incident is opened
//! and the component's state changes, and both are resolved when the checks pass again.

use crate::config::ProbeConfig;
use crate::model::{ComponentStatus, Impact, IncidentStatus};
use crate::store::{NewIncident, Store};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where a probe connects: `http://host[:port]/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            format!("`{url}`: probes speak plain http:// (loopback or a private network)")
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse()
                    .map_err(|_| format!("`{url}`: the port is not a number"))?,
            ),
            None => (authority, 80),
        };
        if host.is_empty() || path.contains([' ', '\r', '\n']) {
            return Err(format!("`{url}` is not a valid URL"));
        }
        Ok(Target {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }
}

/// One GET: the time it took in milliseconds if the answer is 2xx, else why it failed.
pub async fn check(target: &Target, timeout: Duration) -> Result<u64, String> {
    let started = Instant::now();
    request(target, "GET", &[], b"", timeout)
        .await
        .map(|()| started.elapsed().as_millis() as u64)
}

/// One HTTP/1.1 request; `Ok` if the answer is 2xx, else why it failed.
pub async fn request(
    target: &Target,
    method: &str,
    headers: &[(&str, String)],
    body: &[u8],
    timeout: Duration,
) -> Result<(), String> {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let mut head = format!(
            "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: carnet-status\r\nConnection: close\r\nContent-Length: {}\r\n",
            target.path,
            target.host,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| format!("cannot send: {e}"))?;
        stream
            .write_all(body)
            .await
            .map_err(|e| format!("cannot send: {e}"))?;
        let mut head = vec![0u8; 64];
        let n = stream
            .read(&mut head)
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let line = String::from_utf8_lossy(&head[..n]);
        let code: u16 = line
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| line.strip_prefix("HTTP/1.0 "))
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| "not an HTTP answer".to_owned())?;
        if (200..300).contains(&code) {
            Ok(())
        } else {
            Err(format!("HTTP {code}"))
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    Up,
    Slow,
    Down,
}

/// Checks one component forever, opening and resolving its incidents.
pub async fn run(store: Store, probe: ProbeConfig, component_name: String) {
    let Ok(target) = Target::parse(&probe.url) else {
        // Checked when the configuration was read.
        return;
    };
    let timeout = Duration::from_millis(probe.timeout_ms);
    let mut interval = tokio::time::interval(Duration::from_secs(probe.interval_secs));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut failures, mut successes) = (0u32, 0u32);
    loop {
        interval.tick().await;
        let outcome = check(&target, timeout).await;
        let health = match &outcome {
            Ok(ms) if probe.max_latency_ms.is_some_and(|max| *ms > max) => Health::Slow,
            Ok(_) => Health::Up,
            Err(_) => Health::Down,
        };
        if health == Health::Up {
            successes += 1;
            failures = 0;
        } else {
            failures += 1;
            successes = 0;
        }
        let step = async {
            let now = chrono::Utc::now();
            store.record_probe(&probe.component, now, &outcome).await?;
            let open = store.open_automatic_incident(&probe.component).await?;
            match (health, open) {
                (Health::Up, Some(incident)) if successes >= probe.successes_to_resolve => {
                    store
                        .set_component_status(&probe.component, ComponentStatus::Operational, now)
                        .await?;
                    crate::notify::update_incident(
                        &store,
                        &incident,
                        IncidentStatus::Resolved,
                        "The checks pass again.",
                        now,
                    )
                    .await?;
                }
                (Health::Slow | Health::Down, open) if failures >= probe.failures_to_open => {
                    let (status, impact, what) = if health == Health::Down {
                        (
                            ComponentStatus::MajorOutage,
                            Impact::Major,
                            "is not answering",
                        )
                    } else {
                        (
                            ComponentStatus::DegradedPerformance,
                            Impact::Minor,
                            "is slow",
                        )
                    };
                    store
                        .set_component_status(&probe.component, status, now)
                        .await?;
                    if open.is_none() {
                        let reason = outcome.as_ref().err().cloned().unwrap_or_else(|| {
                            format!(
                                "answers in more than {} ms",
                                probe.max_latency_ms.unwrap_or(0)
                            )
                        });
                        crate::notify::open_incident(
                            &store,
                            &NewIncident {
                                name: &format!("{component_name} {what}"),
                                impact,
                                status: IncidentStatus::Investigating,
                                body: &format!(
                                    "Automatic check failed {failures} times in a row: {reason}."
                                ),
                                components: std::slice::from_ref(&probe.component),
                                automatic: true,
                            },
                            now,
                        )
                        .await?;
                    }
                }
                _ => {}
            }
            Ok::<(), sqlx::Error>(())
        };
        if let Err(e) = step.await {
            tracing::error!(component = %probe.component, error = %e, "recording a probe");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            Target::parse("http://127.0.0.1:8080/readyz").unwrap(),
            Target {
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/readyz".into()
            }
        );
        assert_eq!(Target::parse("http://example.test").unwrap().port, 80);
        assert!(Target::parse("https://example.test/").is_err());
        assert!(Target::parse("http://:80/").is_err());
        assert!(Target::parse("http://h:x/").is_err());
    }
}
