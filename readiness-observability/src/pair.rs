//! The pair: Prometheus and Alertmanager from the catalogue, wired together, with the
//! team's rule files and Alertmanager config, scraping the targets the test names, every
//! receiver sending to the harness's webhook.
//!
//! Both run on the host's network namespace and listen on loopback ports of their own, so
//! they scrape loopback targets (a service started as a process, a container's mapped
//! port, the [`Exporter`](crate::Exporter)) and reach the webhook without any address
//! outside loopback.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

use readiness_core::containers::{self, Alertmanager, ExecOutput, Prometheus, exec_output};
use readiness_core::guard::{Reach, check_target};
use readiness_core::testcontainers::core::Mount;
use readiness_core::testcontainers::{ContainerAsync, ImageExt};
use readiness_core::{Error, Recorder, Result};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::task::JoinHandle;

use crate::rules::{AlertRule, RuleFile, prometheus_duration};
use crate::webhook::Webhook;

/// Where the pair's files are mounted in both containers.
const MOUNT: &str = "/etc/readiness";

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
}

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
            .with_cmd([
                format!("--config.file={MOUNT}/prometheus.yml"),
                "--storage.tsdb.path=/prometheus".into(),
                "--web.enable-lifecycle".into(),
                "--rules.alert.resend-delay=1s".into(),
                format!("--web.listen-address=127.0.0.1:{prom_port}"),
            ]);
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

fn json(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// The mounted directory: readable by the containers' user (`nobody`).
#[derive(Debug)]
struct Files {
    root: PathBuf,
}

impl Files {
    fn new(root: &Path) -> Result<Self> {
        for d in [root.to_owned(), root.join("rules"), root.join("check")] {
            std::fs::create_dir_all(&d)?;
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(Files {
            root: root.to_owned(),
        })
    }
    fn write(&self, relative: &str, text: &str) -> Result<()> {
        let path = self.root.join(relative);
        std::fs::write(&path, text)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        Ok(())
    }
    fn clear(&self, dir: &str) -> Result<()> {
        for entry in std::fs::read_dir(self.root.join(dir))? {
            std::fs::remove_file(entry?.path())?;
        }
        Ok(())
    }
}

fn safe_file_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "rule file name {name:?}: use letters, digits, '.', '_' and '-' only"
        )))
    }
}

/// Whether an integration of `kind` sends resolves when its config does not say
/// (Alertmanager 0.25's defaults).
fn sends_resolved_by_default(kind: &str) -> bool {
    !matches!(
        kind,
        "email_configs" | "slack_configs" | "wechat_configs" | "telegram_configs"
    )
}

/// The Alertmanager config the pair loads: the team's route tree, every receiver sending
/// to the webhook, and whether each receiver sends resolves. A receiver keeps the team's
/// `send_resolved`: it sends resolves when any of its integrations does (set, or by the
/// integration's default); a receiver with no integration sends them.
fn alertmanager_config(
    webhook: &Webhook,
    team: Option<&str>,
) -> Result<(String, BTreeMap<String, bool>)> {
    use serde_yaml_ng::{Mapping, Value as Y};
    let Some(team) = team else {
        let yaml = format!(
            "route:\n  receiver: default\n  group_wait: 0s\n  group_interval: 1s\nreceivers:\n  - name: default\n    webhook_configs:\n      - url: {}\n        send_resolved: true\n",
            json(&webhook.url_for("default"))
        );
        return Ok((yaml, BTreeMap::from([("default".to_owned(), true)])));
    };
    let mut resolves = BTreeMap::new();
    let mut config: Y = serde_yaml_ng::from_str(team).map_err(|e| Error::Config {
        path: "alertmanager.yml".into(),
        reason: e.to_string(),
    })?;
    let Y::Mapping(top) = &mut config else {
        return Err(Error::Config {
            path: "alertmanager.yml".into(),
            reason: "the config is not a YAML mapping".into(),
        });
    };
    top.remove("templates");
    if let Some(Y::Mapping(global)) = top.get_mut("global") {
        // Secrets read from files that exist only where the team deploys.
        let file_keys: Vec<Y> = global
            .keys()
            .filter(|k| k.as_str().is_some_and(|k| k.ends_with("_file")))
            .cloned()
            .collect();
        for k in file_keys {
            global.remove(&k);
        }
    }
    if let Some(Y::Sequence(receivers)) = top.get_mut("receivers") {
        for receiver in receivers.iter_mut() {
            let Y::Mapping(r) = receiver else { continue };
            let name = r.get("name").and_then(Y::as_str).unwrap_or("").to_owned();
            let mut integrations = 0;
            let mut sends = false;
            for (kind, configs) in r.iter() {
                let (Some(kind), Y::Sequence(configs)) = (kind.as_str(), configs) else {
                    continue;
                };
                if !kind.ends_with("_configs") {
                    continue;
                }
                for c in configs {
                    integrations += 1;
                    sends |= c
                        .get("send_resolved")
                        .and_then(Y::as_bool)
                        .unwrap_or_else(|| sends_resolved_by_default(kind));
                }
            }
            let sends = sends || integrations == 0;
            resolves.insert(name.clone(), sends);
            let mut hook = Mapping::new();
            hook.insert("url".into(), Y::String(webhook.url_for(&name)));
            hook.insert("send_resolved".into(), Y::Bool(sends));
            let mut only = Mapping::new();
            only.insert("name".into(), Y::String(name));
            only.insert(
                "webhook_configs".into(),
                Y::Sequence(vec![Y::Mapping(hook)]),
            );
            *r = only;
        }
    }
    let yaml = serde_yaml_ng::to_string(&config).map_err(|e| Error::Other(e.to_string()))?;
    Ok((yaml, resolves))
}

/// A Prometheus alert state change seen by the poller.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub(crate) at: Instant,
    pub(crate) alert: String,
    pub(crate) labels: BTreeMap<String, String>,
    /// `pending`, `firing` or `inactive`.
    pub(crate) state: String,
    /// Prometheus's `activeAt`: the evaluation at which the condition began to hold.
    pub(crate) active_at: Option<OffsetDateTime>,
}

#[derive(Debug, Default)]
pub(crate) struct History {
    /// Current state by alert identity (its labels).
    current: BTreeMap<BTreeMap<String, String>, String>,
    pub(crate) changes: Vec<Change>,
    pub(crate) polls: u64,
    pub(crate) last_error: Option<String>,
}

fn lock(h: &Mutex<History>) -> MutexGuard<'_, History> {
    h.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Deserialize)]
struct ApiAlert {
    labels: BTreeMap<String, String>,
    state: String,
    #[serde(rename = "activeAt", default)]
    active_at: Option<String>,
}

async fn poll_alerts(
    client: reqwest::Client,
    base: String,
    history: Arc<Mutex<History>>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Ends when the pair is dropped (the task is aborted).
    loop {
        tick.tick().await;
        let got = api_get(&client, &format!("{base}/api/v1/alerts")).await;
        let at = Instant::now();
        let mut h = lock(&history);
        h.polls += 1;
        let alerts: Vec<ApiAlert> = match got.and_then(|v| {
            serde_json::from_value(v["alerts"].clone()).map_err(|e| Error::Other(e.to_string()))
        }) {
            Ok(a) => a,
            Err(e) => {
                h.last_error = Some(e.to_string());
                continue;
            }
        };
        let mut seen = BTreeMap::new();
        for a in alerts {
            let active_at = a.active_at.as_deref().and_then(|t| {
                OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            });
            seen.insert(a.labels, (a.state, active_at));
        }
        let gone: Vec<_> = h
            .current
            .keys()
            .filter(|k| !seen.contains_key(*k))
            .cloned()
            .collect();
        for labels in gone {
            h.current.remove(&labels);
            let alert = labels.get("alertname").cloned().unwrap_or_default();
            h.changes.push(Change {
                at,
                alert,
                labels,
                state: "inactive".into(),
                active_at: None,
            });
        }
        for (labels, (state, active_at)) in seen {
            if h.current.get(&labels) != Some(&state) {
                h.current.insert(labels.clone(), state.clone());
                let alert = labels.get("alertname").cloned().unwrap_or_default();
                h.changes.push(Change {
                    at,
                    alert,
                    labels,
                    state,
                    active_at,
                });
            }
        }
    }
}

/// GETs a Prometheus or Alertmanager API path; `data` of a Prometheus answer, the whole
/// body of an Alertmanager one.
async fn api_get(client: &reqwest::Client, url: &str) -> Result<Value> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| Error::Other(format!("GET {url}: {e}")))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| Error::Other(format!("GET {url}: {status}, not JSON: {e}")))?;
    if body.get("status").and_then(Value::as_str) == Some("error") {
        return Err(Error::Other(format!(
            "GET {url}: {}: {}",
            body["errorType"].as_str().unwrap_or("error"),
            body["error"].as_str().unwrap_or("")
        )));
    }
    Ok(body.get("data").cloned().unwrap_or(body))
}

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
                // promtool names the copy it checked; the user knows their own file.
                let theirs = f
                    .path
                    .as_ref()
                    .map_or_else(|| f.name.clone(), |p| p.display().to_string());
                let out = ExecOutput {
                    code: out.code,
                    stdout: out.stdout.replace(&path, &theirs),
                    stderr: out.stderr.replace(&path, &theirs),
                };
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
