//! The review, monitoring and operations: the service's own rule file and Alertmanager
//! config (`examples/reference-service/monitoring/`) on a real Prometheus and
//! Alertmanager, its metrics, logs and traces.
//!
//! Part of the readiness review of the reference service (`readiness-run` runs every
//! `review_*` binary under nextest's `review` profile, then the report); excluded from a
//! plain `cargo nextest run`.

mod review;

use std::path::{Path, PathBuf};
use std::time::Duration;

use readiness::Verdicts;
use readiness::dr::fault::{Fault, FaultTarget, Faults};
use readiness::load::{Load, Model, http};
use readiness::observability::{
    Exposition, Induced, LogLines, LogRules, MetricsLint, OtlpReceiver, Pair, RuleFile, Target,
    Traces, assert_traces, try_assert_alert_routes, try_assert_logs, try_assert_metric_exists,
    try_assert_metrics_lint, try_assert_rules_lint, try_assert_rules_load, try_assert_targets_up,
};
use reference_service::stack::Stack;
use review::stack;
use rstest::rstest;

/// Where each alert of the service's rule file must be routed.
const ROUTES: [(&str, &str); 3] = [
    ("ReferenceServiceDown", "pager"),
    ("ReferenceHighErrorRate", "pager"),
    ("ReferenceCacheDegraded", "chat"),
];
/// How long the service's Prometheus must keep its data (the seeds' "metrics retention
/// configured (30 days minimum)").
const RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// The metrics the service's alerts and dashboards read.
const REQUIRED_METRICS: [&str; 3] = [
    "http_requests_total",
    "http_request_duration_seconds_bucket",
    "circuit_breaker_state",
];

/// The service's rule file; with `broken_rule`, the error-rate alert reads a metric that
/// does not exist (a typo), as a broken rule file in a repository does.
fn rule_file(monitoring: &Path) -> RuleFile {
    let mut rules = RuleFile::read(monitoring.join("alerts.yml")).expect("the rule file reads");
    if review::under_review("broken_rule") {
        rules.yaml = rules
            .yaml
            .replace("rate(http_requests_total{", "rate(http_request_total{");
    }
    rules
}

/// The flags the service's Prometheus runs with (`prometheus.flags`); with
/// `short_retention`, a week's retention instead.
fn prometheus_flags(monitoring: &Path) -> Vec<String> {
    if review::under_review("short_retention") {
        return vec!["--storage.tsdb.retention.time=7d".to_owned()];
    }
    std::fs::read_to_string(monitoring.join("prometheus.flags"))
        .expect("the Prometheus flags read")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// A background task stopped when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Under a normal load: the service's Prometheus flags keep 30 days of data (read back from
/// the running Prometheus), the rule file loads (promtool) and passes the lint, the config
/// loads (amtool) and routes each alert to its receiver, every target is up, the metrics
/// the alerts need are exported and the exposition is linted, no alert fires, the logs are
/// structured with no error, and each alert is fired by its cause (Redis, PostgreSQL, the
/// service itself paused), routed and resolved; every rule fired.
#[rstest]
#[tokio::test]
async fn alerts_fire_route_and_resolve(#[future(awt)] stack: Stack) {
    let service = stack
        .service_container()
        .expect("the service is a container");
    let monitoring = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/reference-service/monitoring"
    ));
    // A normal load for the whole test: reads through the cache and from PostgreSQL.
    let mut background = Vec::new();
    for (name, path) in [
        ("cached_reads", "/orders/1"),
        ("db_reads", "/orders?limit=5"),
    ] {
        let model = Model::constant_rate(10.0, Duration::from_secs(150)).expect("a valid model");
        let load = Load::new(name, model);
        let get = http::get(format!("{}{path}", stack.url)).with_timeout(Duration::from_secs(3));
        background.push(AbortOnDrop(tokio::spawn(
            async move { load.run(get).await },
        )));
    }
    let mut builder = Pair::builder().scrape(Target::new(
        "reference-service",
        stack.url.trim_start_matches("http://"),
    ));
    for flag in prometheus_flags(&monitoring) {
        builder = builder.prometheus_flag(flag);
    }
    let mut pair = builder
        .start()
        .await
        .expect("Prometheus and Alertmanager start");
    let mut all = Verdicts::new();
    all.add(pair.retention().await.judge(RETENTION));
    let rules = rule_file(&monitoring);
    all.add(try_assert_rules_load(&pair.load_rules(&[rules]).await));
    let config = std::fs::read_to_string(monitoring.join("alertmanager.yml"))
        .expect("the Alertmanager config reads");
    all.add(try_assert_alert_routes(
        &pair.load_alertmanager_config(&config).await,
        &ROUTES,
    ));
    let scraped = pair.scrape().await;
    all.add(try_assert_targets_up(&scraped));
    for metric in REQUIRED_METRICS {
        all.add(try_assert_metric_exists(&scraped, metric));
    }
    all.add(try_assert_rules_lint(&scraped));
    all.add(try_assert_metrics_lint(
        &Exposition::read(&format!("{}/metrics", stack.url)).await,
        &MetricsLint::default(),
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    all.add(pair.try_assert_silent(Duration::from_secs(5)).await);
    let logs = LogLines::of_container(service)
        .await
        .expect("Docker gives the logs");
    all.add(try_assert_logs(&logs, &LogRules::new().expect_no_errors()));

    let faults = Faults::new().await.expect("Docker answers");
    let redis = stack.redis.as_ref().expect("the stack has Redis");
    let cache = ("ReferenceCacheDegraded", "chat");
    alert_drill(&pair, &faults, cache, redis, &mut all).await;
    let errors = ("ReferenceHighErrorRate", "pager");
    alert_drill(&pair, &faults, errors, &stack.postgres, &mut all).await;
    let down = ("ReferenceServiceDown", "pager");
    alert_drill(&pair, &faults, down, service, &mut all).await;
    all.add(pair.try_assert_all_alerts_fired());
    drop(background);
    all.assert_all();
}

/// Pauses `target` until `alert` fires (judged within 30 s, routed to `receiver`), then
/// unpauses it and judges the resolution (within 40 s).
async fn alert_drill(
    pair: &Pair,
    faults: &Faults,
    (alert, receiver): (&str, &str),
    target: &impl FaultTarget,
    all: &mut Verdicts,
) {
    let induced = |f: &Fault| Induced::at(f.at, f.wall, f.what.clone());
    let expect = pair
        .alert(alert)
        .within(Duration::from_secs(30))
        .routed_to(receiver);
    let paused = faults.pause(target).await.expect("Docker pauses it");
    let fired = expect.try_assert_fires(&induced(&paused)).await;
    let back = faults.unpause(target).await.expect("Docker unpauses it");
    let was_fired = fired.is_ok();
    all.add(fired);
    if was_fired {
        let resolved = expect
            .within(Duration::from_secs(40))
            .try_assert_resolves(&induced(&back))
            .await;
        all.add(resolved);
    }
}

/// An instance that exports to an OTLP receiver on the stack's network: each request is
/// one trace whose spans link up.
#[rstest]
#[tokio::test]
async fn requests_leave_linked_traces(#[future(awt)] stack: Stack) {
    let network = stack.network().expect("the stack has a network");
    let receiver = OtlpReceiver::start_for_network(network)
        .await
        .expect("the receiver starts");
    let (_traced, traced_url) = stack
        .start_another_service_with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ])
        .await
        .expect("the traced instance starts");
    let client = reqwest::Client::new();
    let mut requests = 0;
    for _ in 0..5 {
        let answered = client
            .get(format!("{traced_url}/orders?limit=5"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        requests += u64::from(answered);
    }
    assert_traces(
        &receiver
            .collect(&Traces::of("reference-service", requests))
            .await,
    );
}
