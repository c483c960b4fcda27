//! Assertions on a load [`Report`]; each has a `try_` form returning the evidence or the
//! failure, and records one evidence record either way.

use std::time::Duration;

use readiness_core::{
    Category, Check, CheckResultExt, Evidence, Failure, Percentile, Quantity, Threshold,
};

use crate::engine::Report;
use crate::metrics::attachments;

fn base(report: &Report, id: &str, title: String, category: Category) -> Check {
    let mut check = Check::new(id, title, category)
        .with_started_at(report.started_at)
        .with_scenario(&report.scenario);
    if let Some(t) = &report.target {
        check = check.with_target(t);
    }
    if let Some(shard) = report.shard {
        check = check.with_shard(shard.to_string());
    }
    for a in attachments(&report.name, &report.metrics) {
        check = check.with_attachment(a);
    }
    check
}

/// `load.p95`: the 95th percentile latency is at most `limit`.
pub fn try_assert_p95_under(report: &Report, limit: Duration) -> Result<Evidence, Failure> {
    try_assert_percentile_under(report, 95.0, limit)
}

/// Panics unless [`try_assert_p95_under`] passes.
#[track_caller]
pub fn assert_p95_under(report: &Report, limit: Duration) -> Evidence {
    try_assert_p95_under(report, limit).or_panic()
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
    check.judge_with(
        Threshold::at_most(Quantity::duration(limit)),
        Quantity::duration(report.percentile(p)),
    )
}

/// Panics unless [`try_assert_percentile_under`] passes.
#[track_caller]
pub fn assert_percentile_under(report: &Report, q: f64, limit: Duration) -> Evidence {
    try_assert_percentile_under(report, q, limit).or_panic()
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
    check.judge_with(
        Threshold::at_most(Quantity::ratio(max_ratio)),
        Quantity::ratio(report.error_rate()),
    )
}

/// Panics unless [`try_assert_error_rate_under`] passes.
#[track_caller]
pub fn assert_error_rate_under(report: &Report, max_ratio: f64) -> Evidence {
    try_assert_error_rate_under(report, max_ratio).or_panic()
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
    check.judge_with(
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
    try_assert_throughput_at_least(report, duration, min_per_second).or_panic()
}

/// `load.p<q>_window`: the latency at percentile `q` is at most `limit` in every window of
/// `window` (whole seconds, by intended start; the last, shorter window counts too).
/// The observation is the worst window; the summary names it.
pub fn try_assert_percentile_under_in_every_window(
    report: &Report,
    q: f64,
    window: Duration,
    limit: Duration,
) -> Result<Evidence, Failure> {
    let w = window.as_secs().max(1) as usize;
    let title = |p: &str| {
        format!(
            "{p} latency of {} under {} in every {} window",
            report.name,
            Quantity::duration(limit),
            Quantity::duration(Duration::from_secs(w as u64))
        )
    };
    let p = match Percentile::new(q) {
        Ok(p) => p,
        Err(e) => {
            return Err(base(
                report,
                "load.percentile_window",
                title("percentile"),
                Category::PERFORMANCE,
            )
            .error(e));
        }
    };
    let mut worst: Option<(usize, Duration, u64)> = None;
    for (k, chunk) in report.metrics.seconds.chunks(w).enumerate() {
        let mut h = crate::metrics::histogram();
        for s in chunk {
            let _ = h.add(&*s.latency());
        }
        if h.is_empty() {
            continue;
        }
        let v = crate::metrics::percentile(&h, p);
        if worst.is_none_or(|(_, best, _)| v > best) {
            worst = Some((k, v, h.len()));
        }
    }
    let check = base(
        report,
        &format!("load.{p}_window"),
        title(&p.to_string()),
        Category::PERFORMANCE,
    );
    let Some((k, v, n)) = worst else {
        return Err(check.error(readiness_core::Error::InvalidInput(
            "the run recorded no latency".into(),
        )));
    };
    let summary = format!(
        "worst window seconds {}..{}: {p} {} (n = {n}); whole run: {}",
        k * w,
        (k + 1) * w,
        Quantity::duration(v),
        report.summary(p)
    );
    check.with_summary(summary).judge_with(
        Threshold::at_most(Quantity::duration(limit)),
        Quantity::duration(v),
    )
}

/// Panics unless [`try_assert_percentile_under_in_every_window`] passes.
#[track_caller]
pub fn assert_percentile_under_in_every_window(
    report: &Report,
    q: f64,
    window: Duration,
    limit: Duration,
) -> Evidence {
    try_assert_percentile_under_in_every_window(report, q, window, limit).or_panic()
}

/// `load.error_rate_window`: the error rate is at most `max_ratio` in every window of
/// `window` (whole seconds); the observation is the worst window.
pub fn try_assert_error_rate_under_in_every_window(
    report: &Report,
    window: Duration,
    max_ratio: f64,
) -> Result<Evidence, Failure> {
    let w = window.as_secs().max(1) as usize;
    let title = format!(
        "error rate of {} under {} in every {} window",
        report.name,
        Quantity::ratio(max_ratio),
        Quantity::duration(Duration::from_secs(w as u64))
    );
    let check = base(
        report,
        "load.error_rate_window",
        title,
        Category::RELIABILITY,
    );
    let worst = report
        .metrics
        .seconds
        .chunks(w)
        .enumerate()
        .filter_map(|(k, chunk)| {
            let errors: u64 = chunk.iter().map(|s| s.error_count()).sum();
            let all: u64 = chunk.iter().map(|s| s.ok + s.error_count()).sum();
            (all > 0).then(|| (k, errors as f64 / all as f64, all))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let Some((k, rate, n)) = worst else {
        return Err(check.error(readiness_core::Error::InvalidInput(
            "the run finished no request".into(),
        )));
    };
    let summary = format!(
        "worst window seconds {}..{}: {} errors (n = {n}); whole run: {}",
        k * w,
        (k + 1) * w,
        Quantity::ratio(rate),
        report.summary(Percentile::P95)
    );
    check.with_summary(summary).judge_with(
        Threshold::at_most(Quantity::ratio(max_ratio)),
        Quantity::ratio(rate),
    )
}

/// Panics unless [`try_assert_error_rate_under_in_every_window`] passes.
#[track_caller]
pub fn assert_error_rate_under_in_every_window(
    report: &Report,
    window: Duration,
    max_ratio: f64,
) -> Evidence {
    try_assert_error_rate_under_in_every_window(report, window, max_ratio).or_panic()
}
