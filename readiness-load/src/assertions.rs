//! Assertions on a load [`Report`]; each has a `try_` form returning the evidence or the
//! failure, and records one evidence record either way. The arguments come in one order:
//! the report, what is judged (a percentile, a window), the limit.
//!
//! A criterion judged over nothing (no iteration due, none that succeeded, no window with
//! a request) is verdict `error` saying why, never a pass and never a fail.

use std::time::Duration;

use readiness_core::{
    Category, Check, CheckResultExt, Combine, Evidence, Failure, Percentile, Quantity, Rate, Ratio,
    Threshold, Windows,
};

use crate::metrics::attachments;
use crate::report::Report;

/// A check of `id` on `report`: its scenario, target, shard, recorder, the subject
/// "<name>/<id>", the latency histogram and timeline, and a hint when the run shows a
/// likely cause.
pub(crate) fn check_of(report: &Report, id: &str, title: String, category: Category) -> Check {
    let mut check = Check::new(id, title, category)
        .with_subject(format!("{}/{id}", report.name))
        .with_started_at(report.started_at)
        .with_scenario(&report.scenario)
        .with_summary(report.summary());
    if let Some(t) = &report.target {
        check = check.with_target(t);
    }
    if let Some(shard) = report.shard {
        check = check.with_shard(shard.to_string());
    }
    if let Some(remote) = &report.remote {
        check = check.with_remote(remote);
    }
    if let Some(r) = &report.recorder {
        check = check.with_recorder(r.clone());
    }
    if let Some(h) = report.hint() {
        check = check.with_hint(h);
    }
    let (latency, timeline) = attachments(&report.name, &report.metrics);
    check.with_attachment(latency).with_attachment(timeline)
}

/// `load.p95`: the 95th percentile latency is at most `limit`.
pub fn try_assert_p95_under(report: &Report, limit: Duration) -> Result<Evidence, Failure> {
    try_assert_percentile_under(report, Percentile::P95, limit)
}

/// Panics unless [`try_assert_p95_under`] passes.
#[track_caller]
pub fn assert_p95_under(report: &Report, limit: Duration) -> Evidence {
    try_assert_p95_under(report, limit).or_panic()
}

/// `load.p<q>`: the latency at percentile `p` is at most `limit`. The latency judged is
/// that of every iteration that got the expected answer, and of every one whose latency
/// is a lower bound of it (timed out, body past the timeout, unfinished at its age): a
/// fast failure never makes a slow service look fast (failures are the error rate's
/// business; the summary shows the percentile with them too). With no iteration that
/// succeeded there is nothing to judge.
pub fn try_assert_percentile_under(
    report: &Report,
    p: Percentile,
    limit: Duration,
) -> Result<Evidence, Failure> {
    let title = format!(
        "{p} latency of {} under {}",
        report.name,
        Quantity::duration(limit)
    );
    let check = check_of(report, &format!("load.{p}"), title, Category::PERFORMANCE)
        .with_threshold(Threshold::at_most(limit))
        .with_combine(Combine::LatencyDistribution { percentile: p });
    if let Some(why) = report.nothing_succeeded() {
        return Err(check.nothing_measured(why));
    }
    match report.percentile(p) {
        Some(v) => check.judge(v),
        None => Err(check.nothing_measured("no iteration was timed")),
    }
}

/// Panics unless [`try_assert_percentile_under`] passes.
#[track_caller]
pub fn assert_percentile_under(report: &Report, p: Percentile, limit: Duration) -> Evidence {
    try_assert_percentile_under(report, p, limit).or_panic()
}

/// `load.error_rate`: failed iterations (any class, not started and unfinished included)
/// are at most `max` of the iterations due.
pub fn try_assert_error_rate_under(report: &Report, max: Ratio) -> Result<Evidence, Failure> {
    let title = format!("error rate of {} under {max}", report.name);
    let (failed, attempts) = (report.failed(), report.attempts());
    let check = check_of(report, "load.error_rate", title, Category::RELIABILITY)
        .with_threshold(Threshold::at_most(max))
        .with_combine(Combine::Proportion {
            events: failed,
            trials: attempts,
        });
    if attempts == 0 {
        return Err(check.nothing_measured("no iteration was due"));
    }
    check.judge(Quantity::ratio(failed as f64 / attempts as f64))
}

/// Panics unless [`try_assert_error_rate_under`] passes.
#[track_caller]
pub fn assert_error_rate_under(report: &Report, max: Ratio) -> Evidence {
    try_assert_error_rate_under(report, max).or_panic()
}

/// `load.throughput`: successful iterations that completed within the model's duration,
/// per second of it, are at least `min` (answers that came only in the drain are not
/// throughput the target sustained).
pub fn try_assert_throughput_at_least(report: &Report, min: Rate) -> Result<Evidence, Failure> {
    let title = format!("throughput of {} at least {min}", report.name);
    let seconds = report.duration.as_secs_f64();
    let events = report.succeeded_in_time();
    let check = check_of(report, "load.throughput", title, Category::CAPACITY)
        .with_threshold(Threshold::at_least(min))
        .with_combine(Combine::Rate { events, seconds });
    if report.attempts() == 0 || seconds <= 0.0 {
        return Err(check.nothing_measured("no iteration was due"));
    }
    check.judge(Quantity::per_second(events as f64 / seconds))
}

/// Panics unless [`try_assert_throughput_at_least`] passes.
#[track_caller]
pub fn assert_throughput_at_least(report: &Report, min: Rate) -> Evidence {
    try_assert_throughput_at_least(report, min).or_panic()
}

/// `load.p<q>_window`: the latency at percentile `p` is at most `limit` in every window of
/// `window` (whole seconds, by intended start; the last, shorter window counts too).
/// The observation is the worst window; the summary names it.
pub fn try_assert_percentile_under_in_every_window(
    report: &Report,
    p: Percentile,
    window: Duration,
    limit: Duration,
) -> Result<Evidence, Failure> {
    let w = window.as_secs().max(1) as usize;
    let title = format!(
        "{p} latency of {} under {} in every {} window",
        report.name,
        Quantity::duration(limit),
        Quantity::duration(Duration::from_secs(w as u64))
    );
    let check = check_of(
        report,
        &format!("load.{p}_window"),
        title,
        Category::PERFORMANCE,
    )
    .with_threshold(Threshold::at_most(limit));
    if let Some(why) = report.nothing_succeeded() {
        return Err(check.nothing_measured(why));
    }
    judge_windows(report, check, Windows::latency(w as u64, p))
}

/// The worst window of `report` as [`Windows::worst`] judges it (the judgement
/// `Evidence::verify` makes again from the record's timeline).
fn judge_windows(report: &Report, check: Check, windows: Windows) -> Result<Evidence, Failure> {
    let (_, timeline) = attachments(&report.name, &report.metrics);
    let check = check.with_attachment(windows);
    let worst = match windows.worst(&timeline) {
        Ok(w) => w,
        Err(e) => return Err(check.error(e)),
    };
    let Some(worst) = worst else {
        let why = match windows.percentile {
            Some(_) => "no iteration was timed",
            None => "no iteration was due",
        };
        return Err(check.nothing_measured(why));
    };
    let what = match windows.percentile {
        Some(p) => format!("{p} {}", worst.value),
        None => format!("{} errors", worst.value),
    };
    let summary = format!(
        "worst window seconds {}..{}: {what} (n = {}); whole run: {}",
        worst.from_second,
        worst.from_second + windows.seconds,
        worst.n,
        report.summary()
    );
    check.with_summary(summary).judge(worst.value)
}

/// Panics unless [`try_assert_percentile_under_in_every_window`] passes.
#[track_caller]
pub fn assert_percentile_under_in_every_window(
    report: &Report,
    p: Percentile,
    window: Duration,
    limit: Duration,
) -> Evidence {
    try_assert_percentile_under_in_every_window(report, p, window, limit).or_panic()
}

/// `load.error_rate_window`: the error rate is at most `max` in every window of `window`
/// (whole seconds); the observation is the worst window.
pub fn try_assert_error_rate_under_in_every_window(
    report: &Report,
    window: Duration,
    max: Ratio,
) -> Result<Evidence, Failure> {
    let w = window.as_secs().max(1) as usize;
    let title = format!(
        "error rate of {} under {max} in every {} window",
        report.name,
        Quantity::duration(Duration::from_secs(w as u64))
    );
    let check = check_of(
        report,
        "load.error_rate_window",
        title,
        Category::RELIABILITY,
    )
    .with_threshold(Threshold::at_most(max));
    judge_windows(report, check, Windows::error_rate(w as u64))
}

/// Panics unless [`try_assert_error_rate_under_in_every_window`] passes.
#[track_caller]
pub fn assert_error_rate_under_in_every_window(
    report: &Report,
    window: Duration,
    max: Ratio,
) -> Evidence {
    try_assert_error_rate_under_in_every_window(report, window, max).or_panic()
}
