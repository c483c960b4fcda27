//! The pair: Prometheus and Alertmanager from the catalogue, wired together, with the
//! team's rule files and Alertmanager config, scraping the targets the test names, every
//! receiver sending to the harness's webhook.
//!
//! Both run on the host's network namespace and listen on loopback ports of their own, so
//! they scrape loopback targets (a service started as a process, a container's mapped
//! port, the [`Exporter`](crate::Exporter)) and reach the webhook without any address
//! outside loopback.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

use readiness_core::containers::{Alertmanager, ExecOutput, Prometheus, exec_output};
use readiness_core::testcontainers::ContainerAsync;
use readiness_core::{Error, Recorder, Result};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::task::JoinHandle;

use crate::rules::{AlertRule, RuleFile, prometheus_duration};
use crate::webhook::Webhook;

/// Where the pair's files are mounted in both containers.
const MOUNT: &str = "/etc/readiness";

mod builder;
mod config;
mod poll;

pub use builder::{PairBuilder, Target};

use config::{Files, alertmanager_config, json, safe_file_name};
pub(crate) use poll::{Change, History};
use poll::{api_get, lock};

/// A scrape target as Prometheus sees it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TargetHealth {
    /// The job.
    pub job: String,
    /// The URL it scrapes.
    pub url: String,
    /// `up`, `down` or `unknown` (not scraped yet).
    pub health: String,
    /// The last scrape's error.
    pub last_error: String,
}

/// The running pair. Dropping it removes both containers and closes the webhook.
#[derive(Debug)]
pub struct Pair {
    prometheus: ContainerAsync<Prometheus>,
    alertmanager: ContainerAsync<Alertmanager>,
    files: Files,
    _dir: tempfile::TempDir,
    prometheus_url: String,
    alertmanager_url: String,
    webhook: Webhook,
    client: reqwest::Client,
    rules: Vec<AlertRule>,
    routes: BTreeMap<String, Vec<String>>,
    sends_resolved: BTreeMap<String, bool>,
    pub(crate) history: Arc<Mutex<History>>,
    poller: JoinHandle<()>,
    pub(crate) scrape_interval: Duration,
    pub(crate) evaluation_interval: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) recorder: Option<Recorder>,
    targets: Vec<Target>,
    start_time: Duration,
}

impl Drop for Pair {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// A tool's output with the path of the copy it checked in the container told as the
/// user knows the file.
fn naming(out: ExecOutput, container_path: &str, theirs: &str) -> ExecOutput {
    ExecOutput {
        code: out.code,
        stdout: out.stdout.replace(container_path, theirs),
        stderr: out.stderr.replace(container_path, theirs),
    }
}

/// promtool or amtool refused a file: its own message.
fn rejected(tool: &str, file: &str, out: &ExecOutput) -> Error {
    let text = format!("{}\n{}", out.stdout.trim(), out.stderr.trim());
    Error::Config {
        path: file.into(),
        reason: format!("{tool} rejected it:\n{}", text.trim()),
    }
}

impl Pair {
    /// A builder.
    pub fn builder() -> PairBuilder {
        PairBuilder::default()
    }

    /// `http://127.0.0.1:<port>` of Prometheus.
    pub fn prometheus_url(&self) -> &str {
        &self.prometheus_url
    }
    /// `http://127.0.0.1:<port>` of Alertmanager.
    pub fn alertmanager_url(&self) -> &str {
        &self.alertmanager_url
    }
    /// The webhook every receiver sends to.
    pub fn webhook(&self) -> &Webhook {
        &self.webhook
    }
    /// The alerting rules loaded now.
    pub fn alert_rules(&self) -> &[AlertRule] {
        &self.rules
    }
    /// Whether `receiver` gets resolves (its `send_resolved` in the team's config, or its
    /// integrations' defaults); `None` for a receiver the config does not name.
    pub fn sends_resolved(&self, receiver: &str) -> Option<bool> {
        self.sends_resolved.get(receiver).copied()
    }
    /// The receivers amtool resolves each alerting rule's labels to.
    pub fn routes(&self) -> &BTreeMap<String, Vec<String>> {
        &self.routes
    }
    /// From the first container start to ready (rules and config loaded, Alertmanager
    /// known to Prometheus).
    pub fn start_time(&self) -> Duration {
        self.start_time
    }
    /// The scrape targets the pair was given.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// Checks `files` with promtool, then replaces the loaded rule files with them and
    /// reloads Prometheus. Refused files are an [`Error::Config`] with promtool's message
    /// (file, line and column); the rules loaded before stay.
    pub async fn replace_rules(&mut self, files: &[RuleFile]) -> Result<()> {
        let mut rules = Vec::new();
        self.files.clear("check")?;
        for f in files {
            safe_file_name(&f.name)?;
            self.files.write(&format!("check/{}", f.name), &f.yaml)?;
        }
        for f in files {
            let path = format!("{MOUNT}/check/{}", f.name);
            let out = exec_output(&self.prometheus, &["promtool", "check", "rules", &path]).await?;
            if out.code != Some(0) {
                let theirs = f
                    .path
                    .as_ref()
                    .map_or_else(|| f.name.clone(), |p| p.display().to_string());
                let out = naming(out, &path, &theirs);
                return Err(rejected("promtool check rules", &theirs, &out));
            }
            rules.extend(f.alerting_rules()?);
        }
        self.files.clear("rules")?;
        for f in files {
            self.files.write(&format!("rules/{}", f.name), &f.yaml)?;
        }
        self.reload(&self.prometheus_url.clone()).await?;
        self.wait_for_rule_count(rules.len()).await?;
        self.rules = rules;
        self.resolve_routes().await
    }

    /// Checks `yaml` with amtool (after the receivers are pointed at the webhook) and
    /// reloads Alertmanager with it; then resolves every alerting rule's route.
    pub async fn replace_alertmanager_config(&mut self, yaml: &str) -> Result<()> {
        let (config, sends_resolved) = alertmanager_config(&self.webhook, Some(yaml))?;
        self.files.write("check/alertmanager.yml", &config)?;
        let out = exec_output(
            &self.alertmanager,
            &[
                "amtool",
                "check-config",
                &format!("{MOUNT}/check/alertmanager.yml"),
            ],
        )
        .await?;
        if out.code != Some(0) {
            let out = naming(
                out,
                &format!("{MOUNT}/check/alertmanager.yml"),
                "alertmanager.yml (the team's, its receivers pointed at the harness's webhook)",
            );
            return Err(rejected("amtool check-config", "alertmanager.yml", &out));
        }
        self.files.write("alertmanager.yml", &config)?;
        self.reload(&self.alertmanager_url.clone()).await?;
        self.sends_resolved = sends_resolved;
        self.resolve_routes().await
    }

    async fn reload(&self, base: &str) -> Result<()> {
        let url = format!("{base}/-/reload");
        let response = self
            .client
            .post(&url)
            .send()
            .await
            .map_err(|e| Error::Other(format!("POST {url}: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(Error::Other(format!(
            "POST {url}: {status}: {}",
            text.trim()
        )))
    }

    async fn wait_for_rule_count(&self, expected: usize) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let data = self
                .api(&format!("{}/api/v1/rules?type=alert", self.prometheus_url))
                .await?;
            let loaded: usize = data["groups"].as_array().map_or(0, |g| {
                g.iter()
                    .map(|g| g["rules"].as_array().map_or(0, Vec::len))
                    .sum()
            });
            if loaded == expected {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Other(format!(
                    "Prometheus lists {loaded} alerting rules after the reload, {expected} were loaded"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn resolve_routes(&mut self) -> Result<()> {
        let mut routes = BTreeMap::new();
        for rule in &self.rules {
            let mut args = vec![
                "amtool".to_owned(),
                "config".into(),
                "routes".into(),
                "test".into(),
                format!("--config.file={MOUNT}/alertmanager.yml"),
                format!("alertname={}", rule.name),
            ];
            for (k, v) in &rule.labels {
                if !v.contains("{{") {
                    args.push(format!("{k}={v}"));
                }
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = exec_output(&self.alertmanager, &args).await?;
            if out.code != Some(0) {
                return Err(rejected(
                    "amtool config routes test",
                    "alertmanager.yml",
                    &out,
                ));
            }
            let receivers = out
                .stdout
                .trim()
                .split(',')
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect();
            routes.insert(rule.name.clone(), receivers);
        }
        self.routes = routes;
        Ok(())
    }

    async fn wait_for_alertmanager(&self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let data = self
                .api(&format!("{}/api/v1/alertmanagers", self.prometheus_url))
                .await?;
            if data["activeAlertmanagers"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Other(format!(
                    "Prometheus did not discover its Alertmanager ({}) within {within:?}",
                    self.alertmanager_url
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub(crate) async fn api(&self, url: &str) -> Result<Value> {
        api_get(&self.client, url).await
    }

    /// An instant query: each sample's labels and value.
    pub async fn query(&self, expr: &str) -> Result<Vec<(BTreeMap<String, String>, f64)>> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query", self.prometheus_url),
            [("query", expr)],
        )
        .map_err(|e| Error::InvalidInput(e.to_string()))?;
        let data = self.api(url.as_str()).await?;
        let value_of = |v: &Value| v[1].as_str().and_then(|s| s.parse::<f64>().ok());
        match data["resultType"].as_str() {
            Some("vector") => Ok(data["result"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(|s| {
                            let labels = serde_json::from_value(s["metric"].clone()).ok()?;
                            Some((labels, value_of(&s["value"])?))
                        })
                        .collect()
                })
                .unwrap_or_default()),
            Some("scalar") => Ok(value_of(&data["result"])
                .map(|v| vec![(BTreeMap::new(), v)])
                .unwrap_or_default()),
            other => Err(Error::InvalidInput(format!(
                "`{expr}` gives a {}; use an expression that gives an instant vector or a scalar",
                other.unwrap_or("nothing")
            ))),
        }
    }

    /// The scrape targets as Prometheus sees them now.
    pub async fn target_health(&self) -> Result<Vec<TargetHealth>> {
        let data = self
            .api(&format!(
                "{}/api/v1/targets?state=active",
                self.prometheus_url
            ))
            .await?;
        Ok(data["activeTargets"]
            .as_array()
            .map(|ts| {
                ts.iter()
                    .map(|t| TargetHealth {
                        job: t["labels"]["job"].as_str().unwrap_or("").to_owned(),
                        url: t["scrapeUrl"].as_str().unwrap_or("").to_owned(),
                        health: t["health"].as_str().unwrap_or("unknown").to_owned(),
                        last_error: t["lastError"].as_str().unwrap_or("").to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Waits until every target has been scraped at least once (bounded by 10 scrape
    /// intervals, at least 5 s).
    pub async fn wait_for_scrapes(&self) -> Result<Vec<TargetHealth>> {
        let deadline = Instant::now() + (self.scrape_interval * 10).max(Duration::from_secs(5));
        loop {
            let health = self.target_health().await?;
            if (!health.is_empty() && health.iter().all(|t| t.health != "unknown"))
                || Instant::now() > deadline
            {
                return Ok(health);
            }
            tokio::time::sleep(self.scrape_interval / 4).await;
        }
    }

    /// Every metric name Prometheus holds a series of.
    pub async fn metric_names(&self) -> Result<Vec<String>> {
        let data = self
            .api(&format!(
                "{}/api/v1/label/__name__/values",
                self.prometheus_url
            ))
            .await?;
        Ok(serde_json::from_value(data).unwrap_or_default())
    }

    /// Metric types by name, from the targets' `# TYPE` lines.
    pub async fn metric_types(&self) -> Result<BTreeMap<String, String>> {
        let data = self
            .api(&format!("{}/api/v1/metadata", self.prometheus_url))
            .await?;
        let mut types = BTreeMap::new();
        if let Some(m) = data.as_object() {
            for (name, entries) in m {
                if let Some(t) = entries[0]["type"].as_str() {
                    types.insert(name.clone(), t.to_owned());
                }
            }
        }
        Ok(types)
    }

    /// The alerts Alertmanager holds now (`/api/v2/alerts`): each one's labels and state.
    pub async fn alertmanager_alerts(&self) -> Result<Vec<(BTreeMap<String, String>, String)>> {
        let data = self
            .api(&format!("{}/api/v2/alerts", self.alertmanager_url))
            .await?;
        Ok(data
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| {
                        let labels = serde_json::from_value(x["labels"].clone()).ok()?;
                        Some((
                            labels,
                            x["status"]["state"].as_str().unwrap_or("").to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `ALERTS{alertname=...}` over the last `range`: each state with the first and last
    /// time Prometheus recorded it, in its own clock.
    pub async fn alerts_series(
        &self,
        alert: &str,
        range: Duration,
    ) -> Result<BTreeMap<String, (OffsetDateTime, OffsetDateTime)>> {
        let end = OffsetDateTime::now_utc();
        let start = end - range;
        let step = prometheus_duration(self.evaluation_interval.min(Duration::from_secs(1)));
        let query = format!("ALERTS{{alertname={}}}", json(alert));
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query_range", self.prometheus_url),
            [
                ("query", query.as_str()),
                (
                    "start",
                    &format!("{:.3}", start.unix_timestamp_nanos() as f64 / 1e9),
                ),
                (
                    "end",
                    &format!("{:.3}", end.unix_timestamp_nanos() as f64 / 1e9),
                ),
                ("step", &step),
            ],
        )
        .map_err(|e| Error::InvalidInput(e.to_string()))?;
        let data = self.api(url.as_str()).await?;
        let mut states = BTreeMap::new();
        for series in data["result"].as_array().into_iter().flatten() {
            let state = series["metric"]["alertstate"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            let times: Vec<f64> = series["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v[0].as_f64())
                .collect();
            let (Some(first), Some(last)) = (times.first(), times.last()) else {
                continue;
            };
            let at = |t: f64| {
                OffsetDateTime::from_unix_timestamp_nanos((t * 1e9) as i128).unwrap_or(end)
            };
            states.insert(state, (at(*first), at(*last)));
        }
        Ok(states)
    }

    /// The Prometheus alert state changes seen so far.
    pub(crate) fn changes(&self) -> Vec<Change> {
        lock(&self.history).changes.clone()
    }

    /// Polls made and the last polling error.
    pub(crate) fn poll_status(&self) -> (u64, Option<String>) {
        let h = lock(&self.history);
        (h.polls, h.last_error.clone())
    }
}
