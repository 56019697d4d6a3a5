//! Prometheus metrics: requests by route and status, latency histograms, pool figures.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// One route's figures under one method.
#[derive(Default)]
struct RouteFigures {
    /// Requests by response status.
    statuses: BTreeMap<u16, u64>,
    latency: Histogram,
}

/// Counters and histograms kept in memory; exported as Prometheus text.
#[derive(Default)]
pub struct Metrics {
    /// By method, then route template: a request finds its figures from borrowed text, and
    /// a method's or route's name is copied only the first time it is seen.
    routes: Mutex<BTreeMap<String, BTreeMap<String, RouteFigures>>>,
}

/// The value of `key`, made on its first use (the key copied only then).
fn entry<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> Option<&'m mut V> {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key)
}

impl Metrics {
    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        // A panic while the lock was held left at worst one request half counted.
        let mut methods = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(figures) = entry(&mut methods, method).and_then(|routes| entry(routes, route))
        else {
            return;
        };
        *figures.statuses.entry(status).or_default() += 1;
        let h = &mut figures.latency;
        h.count += 1;
        h.sum += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
    }

    /// The exposition text, with the database pools' figures appended, and how many creates
    /// (and, on PostgreSQL, reads by id) went to the database together (`batched`).
    pub fn render(
        &self,
        pools: &[(&'static str, carnet_store::PoolStats)],
        batched: carnet_store::Batched,
    ) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP carnet_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE carnet_http_requests_total counter\n");
        let methods = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        let by_route = || {
            methods.iter().flat_map(|(method, routes)| {
                routes
                    .iter()
                    .map(move |(route, figures)| (method, escape(route), figures))
            })
        };
        for (method, route, figures) in by_route() {
            for (status, n) in &figures.statuses {
                let _ = writeln!(
                    out,
                    "carnet_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP carnet_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE carnet_http_request_duration_seconds histogram\n");
        for (method, route, figures) in by_route() {
            let h = &figures.latency;
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "carnet_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "carnet_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "carnet_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "carnet_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        drop(methods);
        for (metric, help) in [
            (
                "carnet_db_pool_connections",
                "Open database connections by pool.",
            ),
            ("carnet_db_pool_idle", "Idle database connections by pool."),
            ("carnet_db_pool_max", "Largest size of each database pool."),
        ] {
            let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} gauge");
            for (pool, s) in pools {
                let v = match metric {
                    "carnet_db_pool_connections" => s.size,
                    "carnet_db_pool_idle" => s.idle,
                    _ => s.max,
                };
                let _ = writeln!(out, "{metric}{{pool=\"{pool}\"}} {v}");
            }
        }
        let reads = batched.reads.map(|reads| {
            [
                (
                    "carnet_db_batched_reads_total",
                    "Reads by id sent to PostgreSQL together with others.",
                    reads.members,
                ),
                (
                    "carnet_db_read_batches_total",
                    "Statements the reads by id sent together went in.",
                    reads.statements,
                ),
            ]
        });
        let creates = [
            (
                "carnet_db_batched_creates_total",
                "Contacts' creates sent to the database together with others.",
                batched.creates.members,
            ),
            (
                "carnet_db_create_batches_total",
                "Statements (SQLite: transactions) the creates sent together went in.",
                batched.creates.statements,
            ),
        ];
        for (metric, help, v) in reads.into_iter().flatten().chain(creates) {
            let _ = writeln!(
                out,
                "# HELP {metric} {help}\n# TYPE {metric} counter\n{metric} {v}"
            );
        }
        out
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Times every routed request and counts it under its route template (never the raw path,
/// so ids do not explode the label set).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // Both kept without copying their text (a shared string, a method's name).
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let start = Instant::now();
    let res = next.run(req).await;
    state.metrics.observe(
        method.as_str(),
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        res.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    res
}
