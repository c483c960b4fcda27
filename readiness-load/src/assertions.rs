//! Assertions on a load [`Report`]; each has a `try_` form returning the evidence or the
//! failure, and records one evidence record either way.

use std::time::Duration;

use readiness_core::{Category, Check, Evidence, Failure, Percentile, Quantity, Threshold};

use crate::engine::Report;
use crate::metrics::attachments;

fn base(report: &Report, id: &str, title: String, category: Category) -> Check {
    let mut check = Check::new(id, title, category)
        .with_started_at(report.started_at)
        .with_scenario(&report.scenario);
    if let Some(t) = &report.target {
        check = check.with_target(t);
    }
    for a in attachments(&report.name, &report.metrics) {
        check = check.with_attachment(a);
    }
    check
}

fn judged(
    check: Check,
    threshold: readiness_core::Result<Threshold>,
    observed: Quantity,
) -> Result<Evidence, Failure> {
    match threshold {
        Ok(t) => check.with_threshold(t).judge(observed),
        Err(e) => Err(check.error(e)),
    }
}

/// `load.p95`: the 95th percentile latency is at most `limit`.
pub fn try_assert_p95_under(report: &Report, limit: Duration) -> Result<Evidence, Failure> {
    try_assert_percentile_under(report, 95.0, limit)
}

/// Panics unless [`try_assert_p95_under`] passes.
#[track_caller]
pub fn assert_p95_under(report: &Report, limit: Duration) -> Evidence {
    try_assert_p95_under(report, limit).unwrap_or_else(|f| f.panic())
}

/// `load.p<q>`: the latency at percentile `q` (0 < q <= 100) is at most `limit`.
pub fn try_assert_percentile_under(
    report: &Report,
    q: f64,
    limit: Duration,
) -> Result<Evidence, Failure> {
    let id_title = |p: &str| {
        (
            format!("load.{p}"),
            format!(
                "{p} latency of {} under {}",
                report.name,
                Quantity::duration(limit)
            ),
        )
    };
    let p = match Percentile::new(q) {
        Ok(p) => p,
        Err(e) => {
            let (id, title) = id_title("percentile");
            return Err(base(report, &id, title, Category::PERFORMANCE).error(e));
        }
    };
    let (id, title) = id_title(&p.to_string());
    let check = base(report, &id, title, Category::PERFORMANCE).with_summary(report.summary(p));
    judged(
        check,
        Threshold::at_most(Quantity::duration(limit)),
        Quantity::duration(report.percentile(p)),
    )
}

/// Panics unless [`try_assert_percentile_under`] passes.
#[track_caller]
pub fn assert_percentile_under(report: &Report, q: f64, limit: Duration) -> Evidence {
    try_assert_percentile_under(report, q, limit).unwrap_or_else(|f| f.panic())
}

/// `load.error_rate`: failed iterations (any class, not-started and unfinished included)
/// are at most `max_ratio` (0.01 = 1%).
pub fn try_assert_error_rate_under(report: &Report, max_ratio: f64) -> Result<Evidence, Failure> {
    let title = format!(
        "error rate of {} under {}",
        report.name,
        Quantity::ratio(max_ratio)
    );
    let check = base(report, "load.error_rate", title, Category::RELIABILITY)
        .with_summary(report.summary(Percentile::P95));
    judged(
        check,
        Threshold::at_most(Quantity::ratio(max_ratio)),
        Quantity::ratio(report.error_rate()),
    )
}

/// Panics unless [`try_assert_error_rate_under`] passes.
#[track_caller]
pub fn assert_error_rate_under(report: &Report, max_ratio: f64) -> Evidence {
    try_assert_error_rate_under(report, max_ratio).unwrap_or_else(|f| f.panic())
}

/// `load.throughput`: successful iterations per second over the model's duration are at
/// least `min_per_second`.
pub fn try_assert_throughput_at_least(
    report: &Report,
    duration: Duration,
    min_per_second: f64,
) -> Result<Evidence, Failure> {
    let title = format!(
        "throughput of {} at least {}",
        report.name,
        Quantity::per_second(min_per_second)
    );
    let check = base(report, "load.throughput", title, Category::CAPACITY)
        .with_summary(report.summary(Percentile::P95));
    judged(
        check,
        Threshold::at_least(Quantity::per_second(min_per_second)),
        Quantity::per_second(report.throughput(duration)),
    )
}

/// Panics unless [`try_assert_throughput_at_least`] passes.
#[track_caller]
pub fn assert_throughput_at_least(
    report: &Report,
    duration: Duration,
    min_per_second: f64,
) -> Evidence {
    try_assert_throughput_at_least(report, duration, min_per_second).unwrap_or_else(|f| f.panic())
}
