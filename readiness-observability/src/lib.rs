//! # readiness-observability
//!
//! Monitoring criteria as assertions against a real Prometheus and Alertmanager in
//! containers, with the team's own rule files and Alertmanager config:
//!
//! | criterion | assertion | what it judges |
//! |---|---|---|
//! | `obs.alert_fires` | [`AlertExpectation::assert_fires`] | cause → notification at the receiver, within a bound |
//! | `obs.alert_resolves` | [`AlertExpectation::assert_resolves`] | cause cleared → resolved notification |
//! | `obs.alert_silent` | [`Pair::assert_silent`], [`silence`], [`AlertExpectation::assert_never_fires`] | nothing fires or is notified over a healthy window (pending shown; strict refuses it), for every alert or one alert and its labels |
//! | `obs.rules_load` | [`Pair::load_rules`] → [`assert_rules_load`] | promtool accepts the files, Prometheus reloads |
//! | `obs.rules_lint` | [`Pair::scrape`] → [`assert_rules_lint`] | paging-for, severity-label, runbook, rate-on-counter, absent-selector |
//! | `obs.alert_routes` | [`Pair::load_alertmanager_config`] → [`assert_alert_routes`] | amtool accepts the config, each alert reaches its receiver |
//! | `obs.targets_up` | [`Pair::scrape`] → [`assert_targets_up`] | every scrape target up, the down one named |
//! | `obs.metric_exists` | [`Pair::scrape`] → [`assert_metric_exists`] | some target exports the metric |
//! | `obs.metrics_lint` | [`Exposition::read`] → [`assert_metrics_lint`] | naming, types, buckets, cardinality |
//! | `obs.retention` | [`Pair::retention`] or [`Retention::read`] → [`assert_retention_at_least`] | the running Prometheus's own flags |
//! | `obs.query` | [`Pair::evaluate`] → [`assert_query`] | a PromQL value against a threshold |
//! | `obs.health_accurate` | [`HealthEndpoints::watch`] → [`assert_health_accurate`] | ready follows a dependency down and up, live stays good |
//! | `obs.logs` | [`LogLines::of_container`] → [`assert_logs`] | structured lines, error lines as expected, no secret |
//! | `obs.traces` | [`OtlpReceiver::collect`] → [`assert_traces`] | spans arrive, parent and child linked |
//!
//! Each criterion has the shape of every criterion: a drive (async: it starts, waits,
//! induces) gives a typed measurement; a pure judge turns it into evidence, the judge
//! [`readiness_core::Evidence::verify`] repeats on the record; the assertion on it is
//! synchronous and `#[track_caller]`. The async `assert_fires`, `assert_accurate` and
//! `assert_traces` methods are a drive and its judge in one call.
//!
//! ```no_run
//! # async fn demo() -> readiness_core::Result<()> {
//! use std::time::Duration;
//! use readiness_observability::{Exporter, Induced, Pair, RuleFile, Target};
//!
//! let exporter = Exporter::start().await?;
//! let queue = exporter.gauge("queue_depth", "Jobs waiting")?;
//! queue.set(&[], 0.0);
//! let pair = Pair::builder()
//!     .scrape(Target::new("worker", exporter.target()))
//!     .rule_file(RuleFile::new("worker.yml", "groups:\n- name: w\n  rules:\n  - alert: QueueBacklog\n    expr: queue_depth > 100\n    labels: {severity: warning}\n"))
//!     .alertmanager_config("route: {receiver: chat}\nreceivers: [{name: chat}]\n")
//!     .start()
//!     .await?;
//! let induced = Induced::now("queue depth set to 500");
//! queue.set(&[], 500.0);
//! pair.alert("QueueBacklog").within(Duration::from_secs(15)).routed_to("chat").assert_fires(&induced).await;
//! # Ok(()) }
//! ```
//!
//! Every assertion has a `try_` form returning `Result<Evidence, Failure>` and records a
//! [`readiness_core::Evidence`] through [`readiness_core::Check`].
#![deny(missing_docs)]

mod alerts;
mod config;
mod exporter;
mod health;
mod http;
mod logs;
mod pair;
mod promql;
mod retention;
mod rules;
mod scrape;
pub mod silence;
mod traces;
mod webhook;

/// The recorder of the crate's unit tests: never the user's evidence directory.
#[cfg(test)]
pub(crate) fn self_test_recorder() -> readiness_core::Recorder {
    readiness_core::Recorder::new(
        readiness_core::settings::target_dir().join("readiness-self-test"),
    )
}

pub use readiness_core as core;

pub use alerts::{AlertExpectation, AlertWatch, Induced, Seen, assert_alert};
pub use config::{
    RoutesLoaded, RulesLoaded, assert_alert_routes, assert_rules_lint, assert_rules_load,
    try_assert_alert_routes, try_assert_rules_lint, try_assert_rules_load,
};
pub use exporter::{Counter, Exporter, Gauge, Histogram};
pub use health::{Before, HealthEndpoints, HealthWatch, assert_health_accurate};
pub use logs::{LogLines, LogRules, assert_logs, try_assert_logs};
pub use pair::{Pair, PairBuilder, Target, TargetHealth};
pub use retention::{Retention, assert_retention_at_least};
pub use rules::{AlertRule, RuleFile, parse_duration};
pub use scrape::{
    Exposition, MetricsLint, Queried, Scraped, assert_metric_exists, assert_metrics_lint,
    assert_query, assert_targets_up, try_assert_metric_exists, try_assert_metrics_lint,
    try_assert_query, try_assert_targets_up,
};
pub use silence::{AlertScope, Silence, SilenceWatch, assert_silent};
pub use traces::{OtlpReceiver, ReceivedSpan, Traced, Traces, assert_traces};
pub use webhook::{Notification, NotifiedAlert, Webhook};
