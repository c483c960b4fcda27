//! A test-driven exporter: an in-process `/metrics` endpoint whose series the test sets and
//! changes, so any rule can be induced on purpose through a real scrape (the counterpart of
//! promtool's input series).
//!
//! ```no_run
//! # async fn demo() -> readiness_core::Result<()> {
//! use readiness_observability::Exporter;
//! let exporter = Exporter::start().await?;
//! let errors = exporter.counter("app_errors_total", "Errors")?;
//! errors.inc_by(&[("route", "/orders")], 5.0)?;
//! let depth = exporter.gauge("queue_depth", "Jobs waiting")?;
//! depth.set(&[], 120.0);
//! // Prometheus scrapes exporter.target() ("127.0.0.1:<port>") at /metrics.
//! # Ok(()) }
//! ```
//!
//! The text is Prometheus's exposition format 0.0.4, written here rather than by
//! `prometheus-client`: a test needs what a client library forbids (a counter reset to
//! zero, a series removed, a scrape that fails on purpose).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};

use hyper::StatusCode;
use readiness_core::{Error, Result};

use crate::http::{Answer, Server};

type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }
}

#[derive(Debug, Clone)]
enum Value {
    Number(f64),
    Histogram {
        /// Cumulative counts per upper bound (the last is +Inf).
        counts: Vec<u64>,
        sum: f64,
    },
}

#[derive(Debug)]
struct Family {
    kind: Kind,
    help: String,
    buckets: Vec<f64>,
    series: BTreeMap<Labels, Value>,
}

#[derive(Debug, Default)]
struct State {
    families: BTreeMap<String, Family>,
    /// Answer every scrape with this status instead of the metrics.
    failing: Option<u16>,
    scrapes: u64,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    // A panic elsewhere while holding the lock leaves plain data behind: keep serving it.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// The exporter. Dropping it closes the endpoint.
#[derive(Debug)]
pub struct Exporter {
    server: Server,
    state: Shared,
}

impl Exporter {
    /// Serves `/metrics` on a free loopback port.
    pub async fn start() -> Result<Exporter> {
        let state = Shared::default();
        let served = state.clone();
        let server = Server::start("exporter", move |call| {
            if call.path != "/metrics" && !call.path.starts_with("/metrics?") {
                return Answer::text(StatusCode::NOT_FOUND, "the exporter serves /metrics only");
            }
            let mut state = lock(&served);
            state.scrapes += 1;
            if let Some(code) = state.failing {
                let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                return Answer::text(status, "failing on purpose (Exporter::fail_scrapes)");
            }
            Answer::new(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                render(&state).into_bytes(),
            )
        })
        .await?;
        Ok(Exporter { server, state })
    }

    /// `127.0.0.1:<port>`, the scrape target.
    pub fn target(&self) -> String {
        self.server.addr().to_string()
    }

    /// `http://127.0.0.1:<port>/metrics`.
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.server.addr())
    }

    /// How many scrapes it has answered.
    pub fn scrapes(&self) -> u64 {
        lock(&self.state).scrapes
    }

    /// From now on every scrape is answered with `status` (a target that is down).
    pub fn fail_scrapes(&self, status: u16) {
        lock(&self.state).failing = Some(status);
    }

    /// Scrapes are answered with the metrics again.
    pub fn serve_scrapes(&self) {
        lock(&self.state).failing = None;
    }

    /// The exposition text a scrape gets now.
    pub fn text(&self) -> String {
        render(&lock(&self.state))
    }

    fn family(&self, name: &str, help: &str, kind: Kind, buckets: Vec<f64>) -> Result<()> {
        check_name(name)?;
        let mut state = lock(&self.state);
        if let Some(f) = state.families.get(name) {
            if f.kind != kind {
                return Err(Error::InvalidInput(format!(
                    "the exporter already has `{name}` as a {}; a family has one type",
                    f.kind.as_str()
                )));
            }
            return Ok(());
        }
        state.families.insert(
            name.to_owned(),
            Family {
                kind,
                help: help.to_owned(),
                buckets,
                series: BTreeMap::new(),
            },
        );
        Ok(())
    }

    /// A gauge family (no series until one is set).
    pub fn gauge(&self, name: &str, help: &str) -> Result<Gauge> {
        self.family(name, help, Kind::Gauge, Vec::new())?;
        Ok(Gauge(Handle::new(name, &self.state)))
    }

    /// A counter family. Prometheus's convention is a name ending in `_total`; the
    /// exporter does not insist, so a test can show a lint catching it.
    pub fn counter(&self, name: &str, help: &str) -> Result<Counter> {
        self.family(name, help, Kind::Counter, Vec::new())?;
        Ok(Counter(Handle::new(name, &self.state)))
    }

    /// A histogram family with these upper bounds (`+Inf` is added).
    pub fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Result<Histogram> {
        let mut sorted: Vec<f64> = buckets.iter().copied().filter(|b| b.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        sorted.dedup();
        if sorted.is_empty() {
            return Err(Error::InvalidInput(format!(
                "histogram `{name}` needs at least one finite bucket bound"
            )));
        }
        self.family(name, help, Kind::Histogram, sorted)?;
        Ok(Histogram(Handle::new(name, &self.state)))
    }
}

fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "`{name}` is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"
        )))
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[derive(Debug, Clone)]
struct Handle {
    name: String,
    state: Shared,
}

impl Handle {
    fn new(name: &str, state: &Shared) -> Self {
        Handle {
            name: name.to_owned(),
            state: state.clone(),
        }
    }
    fn with<T>(&self, f: impl FnOnce(&mut Family) -> T) -> T {
        let mut state = lock(&self.state);
        let family = state
            .families
            .get_mut(&self.name)
            .unwrap_or_else(|| unreachable!("a handle's family is never removed"));
        f(family)
    }
    fn remove(&self, pairs: &[(&str, &str)]) {
        self.with(|f| f.series.remove(&labels(pairs)));
    }
}

/// A gauge: set to any value.
#[derive(Debug, Clone)]
pub struct Gauge(Handle);

impl Gauge {
    /// Sets the series with these labels.
    pub fn set(&self, labels_: &[(&str, &str)], value: f64) {
        self.0.with(|f| {
            f.series.insert(labels(labels_), Value::Number(value));
        });
    }
    /// Removes the series: the next scrape no longer has it.
    pub fn remove(&self, labels_: &[(&str, &str)]) {
        self.0.remove(labels_);
    }
}

/// A counter: only goes up, or resets to zero (a restarted process).
#[derive(Debug, Clone)]
pub struct Counter(Handle);

impl Counter {
    /// Adds `by` (not negative) to the series with these labels.
    pub fn inc_by(&self, labels_: &[(&str, &str)], by: f64) -> Result<()> {
        if !(by >= 0.0 && by.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "counter `{}` can only grow: {by} is not a finite value >= 0 (use reset for a restart)",
                self.0.name
            )));
        }
        self.0.with(|f| {
            let v = f
                .series
                .entry(labels(labels_))
                .or_insert(Value::Number(0.0));
            if let Value::Number(n) = v {
                *n += by;
            }
        });
        Ok(())
    }
    /// The series' value now (0 when it has none).
    pub fn get(&self, labels_: &[(&str, &str)]) -> f64 {
        self.0.with(|f| match f.series.get(&labels(labels_)) {
            Some(Value::Number(n)) => *n,
            _ => 0.0,
        })
    }
    /// Back to zero, as after a restart of the process that counts.
    pub fn reset(&self, labels_: &[(&str, &str)]) {
        self.0.with(|f| {
            f.series.insert(labels(labels_), Value::Number(0.0));
        });
    }
    /// Removes the series.
    pub fn remove(&self, labels_: &[(&str, &str)]) {
        self.0.remove(labels_);
    }
}

/// A histogram with the family's buckets.
#[derive(Debug, Clone)]
pub struct Histogram(Handle);

impl Histogram {
    /// Records `value` `times` times in the series with these labels.
    pub fn observe_n(&self, labels_: &[(&str, &str)], value: f64, times: u64) {
        self.0.with(|f| {
            let n = f.buckets.len() + 1;
            let entry = f.series.entry(labels(labels_)).or_insert(Value::Histogram {
                counts: vec![0; n],
                sum: 0.0,
            });
            if let Value::Histogram { counts, sum } = entry {
                for (i, count) in counts.iter_mut().enumerate() {
                    if f.buckets.get(i).is_none_or(|b| value <= *b) {
                        *count += times;
                    }
                }
                *sum += value * times as f64;
            }
        });
    }
    /// Records `value` once.
    pub fn observe(&self, labels_: &[(&str, &str)], value: f64) {
        self.observe_n(labels_, value, 1);
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn label_text(labels: &Labels, extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

fn render(state: &State) -> String {
    let mut out = String::new();
    for (name, family) in &state.families {
        let help = family.help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {}", family.kind.as_str());
        for (labels, value) in &family.series {
            match value {
                Value::Number(v) => {
                    let _ = writeln!(out, "{name}{} {}", label_text(labels, None), number(*v));
                }
                Value::Histogram { counts, sum } => {
                    for (i, count) in counts.iter().enumerate() {
                        let le = family
                            .buckets
                            .get(i)
                            .map_or("+Inf".to_owned(), |b| number(*b));
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {count}",
                            label_text(labels, Some(("le", le)))
                        );
                    }
                    let total = counts.last().copied().unwrap_or(0);
                    let l = label_text(labels, None);
                    let _ = writeln!(out, "{name}_sum{l} {}", number(*sum));
                    let _ = writeln!(out, "{name}_count{l} {total}");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn renders_every_type_and_serves_it() -> Result<()> {
        let e = Exporter::start().await?;
        e.gauge("queue_depth", "Jobs")?.set(&[("q", "a\"b")], 3.5);
        let c = e.counter("errors_total", "Errors")?;
        c.inc_by(&[("route", "/x")], 2.0)?;
        c.inc_by(&[("route", "/x")], 1.0)?;
        let h = e.histogram("latency_seconds", "Latency", &[0.1, 0.5])?;
        h.observe(&[], 0.05);
        h.observe(&[], 0.3);
        h.observe(&[], 2.0);
        let text = e.text();
        assert!(text.contains("queue_depth{q=\"a\\\"b\"} 3.5"), "{text}");
        assert!(
            text.contains("# TYPE errors_total counter\nerrors_total{route=\"/x\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("latency_seconds_bucket{le=\"0.1\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("latency_seconds_bucket{le=\"0.5\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("latency_seconds_bucket{le=\"+Inf\"} 3"),
            "{text}"
        );
        assert!(text.contains("latency_seconds_count 3"), "{text}");
        c.reset(&[("route", "/x")]);
        assert_eq!(c.get(&[("route", "/x")]), 0.0);

        let body = reqwest::get(e.url())
            .await
            .map_err(|e| Error::Other(e.to_string()))?;
        assert_eq!(body.status(), 200);
        let served = body.text().await.map_err(|e| Error::Other(e.to_string()))?;
        assert!(served.contains("errors_total{route=\"/x\"} 0"), "{served}");
        e.fail_scrapes(503);
        let failing = reqwest::get(e.url())
            .await
            .map_err(|e| Error::Other(e.to_string()))?;
        assert_eq!(failing.status(), 503);
        assert_eq!(e.scrapes(), 2);
        Ok(())
    }

    #[tokio::test]
    async fn bad_input_is_refused_with_what_to_do() -> Result<()> {
        let e = Exporter::start().await?;
        let err = e.gauge("1bad", "x").err().map(|e| e.to_string());
        assert!(err.is_some_and(|m| m.contains("not a Prometheus metric name")));
        let c = e.counter("c_total", "x")?;
        let err = c.inc_by(&[], -1.0).err().map(|e| e.to_string());
        assert!(err.is_some_and(|m| m.contains("can only grow")));
        let err = e.gauge("c_total", "x").err().map(|e| e.to_string());
        assert!(err.is_some_and(|m| m.contains("already has `c_total` as a counter")));
        assert!(e.histogram("h", "x", &[]).is_err());
        Ok(())
    }
}
