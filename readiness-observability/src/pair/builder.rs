//! What a pair is set up with: the targets to scrape (grouped by job, each with its labels)
//! and the builder that starts both containers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use readiness_core::containers::{self, Alertmanager, Prometheus};
use readiness_core::guard::{Reach, check_target};
use readiness_core::testcontainers::ImageExt;
use readiness_core::testcontainers::core::Mount;
use readiness_core::{Error, Recorder, Result};
use tokio::time::Instant;

use super::config::{Files, alertmanager_config, free_port, json};
use super::poll::{History, poll_alerts};
use super::{MOUNT, Pair};
use crate::rules::{RuleFile, prometheus_duration};
use crate::webhook::Webhook;

/// A target for Prometheus to scrape: a job name and a loopback `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    job: String,
    address: String,
    path: String,
    labels: BTreeMap<String, String>,
}

impl Target {
    /// `address` is `host:port` on loopback (`127.0.0.1:8080`). Several targets of one job
    /// are the job's instances: one scrape config lists them all.
    pub fn new(job: impl Into<String>, address: impl Into<String>) -> Self {
        Target {
            job: job.into(),
            address: address.into(),
            path: "/metrics".into(),
            labels: BTreeMap::new(),
        }
    }
    /// A label every series scraped from this target carries, as in a static config's
    /// `labels`: `instance` names it in place of its address.
    #[must_use]
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }
    /// Its labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }
    /// Another metrics path than `/metrics`.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }
    /// The job name.
    pub fn job(&self) -> &str {
        &self.job
    }
    /// Its `host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }
}

/// How the pair is set up; [`PairBuilder::start`] starts it.
#[derive(Debug, Clone)]
#[must_use]
pub struct PairBuilder {
    targets: Vec<Target>,
    rule_files: Vec<RuleFile>,
    alertmanager_config: Option<String>,
    scrape_interval: Duration,
    evaluation_interval: Duration,
    poll_interval: Duration,
    recorder: Option<Recorder>,
    prometheus_flags: Vec<String>,
}

/// Flags the harness sets itself: a team's flag cannot replace them.
const OWN_FLAGS: [&str; 5] = [
    "--config.file",
    "--storage.tsdb.path",
    "--web.enable-lifecycle",
    "--rules.alert.resend-delay",
    "--web.listen-address",
];

impl Default for PairBuilder {
    fn default() -> Self {
        PairBuilder {
            targets: Vec::new(),
            rule_files: Vec::new(),
            alertmanager_config: None,
            scrape_interval: Duration::from_secs(1),
            evaluation_interval: Duration::from_secs(1),
            poll_interval: Duration::from_millis(200),
            recorder: None,
            prometheus_flags: Vec::new(),
        }
    }
}

impl PairBuilder {
    /// Scrapes `target`.
    pub fn scrape(mut self, target: Target) -> Self {
        self.targets.push(target);
        self
    }
    /// Loads a rule file, unchanged.
    pub fn rule_file(mut self, file: RuleFile) -> Self {
        self.rule_files.push(file);
        self
    }
    /// The team's Alertmanager config. Its route tree is kept as it is; every receiver's
    /// integrations are replaced by the harness's webhook (so nothing pages anyone), which
    /// keeps the receiver's `send_resolved`, and `templates` are dropped. Without one, every alert goes to a receiver `default`.
    pub fn alertmanager_config(mut self, yaml: impl Into<String>) -> Self {
        self.alertmanager_config = Some(yaml.into());
        self
    }
    /// Scrape interval (default 1 s).
    pub fn scrape_interval(mut self, d: Duration) -> Self {
        self.scrape_interval = d;
        self
    }
    /// Rule evaluation interval (default 1 s).
    pub fn evaluation_interval(mut self, d: Duration) -> Self {
        self.evaluation_interval = d;
        self
    }
    /// How often the harness reads Prometheus's alerts (default 200 ms).
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.poll_interval = d;
        self
    }
    /// Starts Prometheus with one of the team's own flags too, as production runs it
    /// (`--storage.tsdb.retention.time=30d`); [`Pair::retention`] reads it back.
    pub fn prometheus_flag(mut self, flag: impl Into<String>) -> Self {
        self.prometheus_flags.push(flag.into());
        self
    }
    /// Records every check of the pair with `recorder`.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Starts both, checks and loads the rules and the Alertmanager config, resolves each
    /// alert's route, and waits until Prometheus knows its Alertmanager.
    ///
    /// Invalid rules or config are an [`Error::Config`] with promtool's or amtool's own
    /// message; use [`crate::try_assert_rules_load`] to judge them as a criterion.
    pub async fn start(self) -> Result<Pair> {
        for interval in [
            self.scrape_interval,
            self.evaluation_interval,
            self.poll_interval,
        ] {
            if interval < Duration::from_millis(10) {
                return Err(Error::InvalidInput(format!(
                    "an interval of {interval:?} is too short for Prometheus; use 10 ms or more"
                )));
            }
        }
        for t in &self.targets {
            check_target(&t.address, Reach::Loopback, "a loopback target")?;
            for k in t.labels.keys() {
                let name_ok = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !name_ok || k.starts_with("__") || k == "job" {
                    return Err(Error::InvalidInput(format!(
                        "target {} of job {}: label {k:?} cannot be set; use a Prometheus label \
                         name (letters, digits, _; not starting with __), and give the job in \
                         Target::new",
                        t.address, t.job
                    )));
                }
            }
        }
        for flag in &self.prometheus_flags {
            let name = flag.split('=').next().unwrap_or_default();
            if !flag.starts_with("--") || OWN_FLAGS.contains(&name) {
                return Err(Error::InvalidInput(format!(
                    "Prometheus flag {flag:?} cannot be given: write `--name=value`, and not one \
                     the harness sets itself ({})",
                    OWN_FLAGS.join(", ")
                )));
            }
        }
        let started = Instant::now();
        let webhook = Webhook::start().await?;
        let dir = tempfile::Builder::new()
            .prefix("readiness-pair-")
            .tempdir()?;
        let files = Files::new(dir.path())?;
        let (prom_port, am_port) = (free_port()?, free_port()?);
        files.write("prometheus.yml", &self.prometheus_config(am_port))?;
        // Alertmanager starts on a config that is sure to load; the team's is checked by
        // amtool and loaded after, so a bad one fails with amtool's message.
        let (default_config, sends_resolved) = alertmanager_config(&webhook, None)?;
        files.write("alertmanager.yml", &default_config)?;
        let mount = Mount::bind_mount(dir.path().to_string_lossy(), MOUNT);
        let prometheus = containers::catalogue(Prometheus::default(), "prometheus")?
            .with_network("host")
            .with_mount(mount.clone())
            .with_cmd(
                [
                    format!("--config.file={MOUNT}/prometheus.yml"),
                    "--storage.tsdb.path=/prometheus".into(),
                    "--web.enable-lifecycle".into(),
                    "--rules.alert.resend-delay=1s".into(),
                    format!("--web.listen-address=127.0.0.1:{prom_port}"),
                ]
                .into_iter()
                .chain(self.prometheus_flags.iter().cloned()),
            );
        let alertmanager = containers::catalogue(Alertmanager::default(), "alertmanager")?
            .with_network("host")
            .with_mount(mount)
            .with_cmd([
                format!("--config.file={MOUNT}/alertmanager.yml"),
                "--storage.path=/alertmanager".into(),
                "--cluster.listen-address=".into(),
                format!("--web.listen-address=127.0.0.1:{am_port}"),
            ]);
        let (prometheus, alertmanager) = tokio::try_join!(
            containers::start(prometheus),
            containers::start(alertmanager)
        )?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::Other(format!("http client: {e}")))?;
        let history = Arc::new(Mutex::new(History::default()));
        let prometheus_url = format!("http://127.0.0.1:{prom_port}");
        let poller = tokio::spawn(poll_alerts(
            client.clone(),
            prometheus_url.clone(),
            history.clone(),
            self.poll_interval,
        ));
        let mut pair = Pair {
            prometheus,
            alertmanager,
            files,
            _dir: dir,
            prometheus_url,
            alertmanager_url: format!("http://127.0.0.1:{am_port}"),
            webhook,
            client,
            rules: Vec::new(),
            routes: BTreeMap::new(),
            sends_resolved,
            history,
            poller,
            scrape_interval: self.scrape_interval,
            evaluation_interval: self.evaluation_interval,
            poll_interval: self.poll_interval,
            recorder: self.recorder,
            targets: self.targets,
            start_time: Duration::ZERO,
        };
        pair.replace_rules(&self.rule_files).await?;
        if let Some(yaml) = &self.alertmanager_config {
            pair.replace_alertmanager_config(yaml).await?;
        }
        pair.wait_for_alertmanager(Duration::from_secs(30)).await?;
        pair.start_time = started.elapsed();
        Ok(pair)
    }

    fn prometheus_config(&self, am_port: u16) -> String {
        // One scrape config per job (Prometheus refuses two with one name), a static
        // config per target with its own labels and path.
        let mut by_job: BTreeMap<&str, Vec<&Target>> = BTreeMap::new();
        for t in &self.targets {
            by_job.entry(t.job.as_str()).or_default().push(t);
        }
        let mut jobs = String::new();
        for (job, targets) in by_job {
            jobs.push_str(&format!(
                "  - job_name: {job}\n    static_configs:\n",
                job = json(job)
            ));
            for t in targets {
                let mut labels = t.labels.clone();
                labels.insert("__metrics_path__".into(), t.path.clone());
                let labels: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{}: {}", json(k), json(v)))
                    .collect();
                jobs.push_str(&format!(
                    "      - targets: [{addr}]\n        labels: {{{labels}}}\n",
                    addr = json(&t.address),
                    labels = labels.join(", ")
                ));
            }
        }
        if jobs.is_empty() {
            jobs.push_str("  []\n");
        }
        let scrape = prometheus_duration(self.scrape_interval);
        format!(
            "global:\n  scrape_interval: {scrape}\n  scrape_timeout: {scrape}\n  evaluation_interval: {eval}\n\
             rule_files:\n  - {MOUNT}/rules/*\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"127.0.0.1:{am_port}\"]\n\
             scrape_configs:\n{jobs}",
            eval = prometheus_duration(self.evaluation_interval),
        )
    }
}
