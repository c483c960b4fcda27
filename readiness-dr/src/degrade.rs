//! Dependency failure seen from outside: with a dependency down or slow (a container fault,
//! a proxy toxic), the service keeps answering, maybe degraded
//! ([`assert_degrades_gracefully`]), and its errors become fast instead of timing out
//! once its circuit breaker opens ([`assert_circuit_opens_within`]).
//!
//! ```no_run
//! # async fn demo(faults: &readiness_dr::fault::Faults,
//! #   redis: &readiness_core::testcontainers::ContainerAsync<readiness_core::testcontainers::GenericImage>,
//! #   url: &str) -> readiness_core::Result<()> {
//! use std::time::Duration;
//! use readiness_core::Probe;
//! use readiness_dr::degrade::{assert_circuit_opens_within, fast_answers};
//! use readiness_dr::recovery::Recovery;
//!
//! let paused = faults.pause(redis).await?;
//! let opened = Recovery::of("orders service", fast_answers(Probe::http(url), Duration::from_millis(50)))
//!     .with_settle(Duration::from_secs(1))
//!     .measure(&paused, &faults.events())
//!     .await?;
//! assert_circuit_opens_within(&opened, Duration::from_secs(5));
//! # Ok(()) }
//! ```

use std::time::Duration;

use readiness_core::{
    Category, Check, CheckResultExt, Combine, Evidence, Failure, Observation, Percentile, Probe,
    Quantity, Ratio, Result, Threshold,
};
use readiness_load::Report;

use crate::recovery::{Health, RecoveryReport};

/// The check of a load judged under a fault: subject `<load>/<id>`, the load's summary and
/// recorder.
pub(crate) fn load_check(report: &Report, id: &str, title: String, scenario: String) -> Check {
    let mut check = Check::new(id, title, Category::RECOVERY)
        .with_subject(format!("{}/{id}", report.name()))
        .with_scenario(scenario)
        .with_combine(Combine::VerdictOnly)
        .with_summary(report.summary());
    if let Some(r) = report.recorder() {
        check = check.with_recorder(r.clone());
    }
    check
}

/// Judges the p99 of `report` with `check` (`limit` as its threshold) after `first`;
/// both are recorded, the first failure is returned.
pub(crate) fn and_p99(
    first: Result<Evidence, Failure>,
    report: &Report,
    check: Check,
    limit: Duration,
) -> Result<Evidence, Failure> {
    let check = check.with_threshold(Threshold::at_most(limit));
    let p99 = match report.percentile(Percentile::P99) {
        Some(v) => check.judge(v),
        None => Err(check.nothing_measured(format!("no request of {} succeeded", report.name()))),
    };
    match (first, p99) {
        (Ok(e), Ok(_)) => Ok(e),
        (Err(f), _) | (Ok(_), Err(f)) => Err(f),
    }
}

/// `dr.degrades_gracefully`: during `fault` (in place for the whole of `report`, a load
/// against the service), at most `max_errors` of the requests failed; and
/// `dr.degraded_p99`: their p99 latency is at most `p99`. Both are recorded; the first that
/// fails is returned. A load with no request is an `error`.
pub fn try_assert_degrades_gracefully(
    report: &Report,
    fault: &str,
    max_errors: Ratio,
    p99: Duration,
) -> Result<Evidence, Failure> {
    let scenario = format!("{} while {fault}", report.name());
    let (failed, attempts) = (report.failed(), report.attempts());
    let check = load_check(
        report,
        "dr.degrades_gracefully",
        format!("{} keeps answering while {fault}", report.name()),
        scenario.clone(),
    )
    .with_threshold(Threshold::at_most(max_errors))
    .with_combine(Combine::Proportion {
        events: failed,
        trials: attempts,
    })
    .with_hint(
        "a dependency the service can do without must not take it down: time out its calls, \
         open a circuit breaker, serve a degraded answer",
    );
    let errors = if attempts == 0 {
        Err(check.nothing_measured(format!("no request of {} was due", report.name())))
    } else {
        check.judge(
            Observation::new(Quantity::ratio(failed as f64 / attempts as f64)).with_summary(
                format!(
                    "{failed} of {attempts} requests failed; {}",
                    report.summary()
                ),
            ),
        )
    };
    let latency = load_check(
        report,
        "dr.degraded_p99",
        format!(
            "p99 latency of {} under {} while {fault}",
            report.name(),
            Quantity::duration(p99)
        ),
        scenario,
    );
    and_p99(errors, report, latency, p99)
}

/// Panics unless [`try_assert_degrades_gracefully`] passes.
#[track_caller]
pub fn assert_degrades_gracefully(
    report: &Report,
    fault: &str,
    max_errors: Ratio,
    p99: Duration,
) -> Evidence {
    try_assert_degrades_gracefully(report, fault, max_errors, p99).or_panic()
}

/// A health check that is good when `probe` gets an answer (any HTTP status, or a TCP
/// connection) within `fast`: with it, a [`crate::recovery::Recovery`] measures when a
/// failing dependency's errors become fast. Each attempt waits up to 10 s for its answer
/// rather than giving up at `fast`: a client that hangs up early would cancel the very
/// call whose failure opens the service's breaker.
pub fn fast_answers(probe: Probe, fast: Duration) -> Health<'static> {
    let probe = probe
        .with_expected_status(100..=599)
        .with_attempt_timeout(Duration::from_secs(10));
    Health::from_fn(probe.target(), move || {
        let probe = probe.clone();
        async move {
            let started = std::time::Instant::now();
            let (answered, detail) = match probe.once().await {
                Ok(answer) => answer,
                Err(e) => (false, e.to_string()),
            };
            let took = started.elapsed();
            let fast_enough = took <= fast;
            let detail = if fast_enough || !answered {
                format!("{detail} in {}", Quantity::duration(took))
            } else {
                format!(
                    "{detail} in {} (slower than {})",
                    Quantity::duration(took),
                    Quantity::duration(fast)
                )
            };
            (answered && fast_enough, detail)
        }
    })
}

/// `dr.circuit_opens`: after the fault, the service's answers (errors included) stay fast
/// for the settle window from a moment at most `limit` after the fault — its circuit
/// breaker opened instead of letting every call wait for a timeout. `report` is a
/// [`crate::recovery::Recovery`] measured with [`fast_answers`]. Never fast by the deadline
/// is a fail when the deadline is past the limit, else an `error`.
pub fn try_assert_circuit_opens_within(
    report: &RecoveryReport,
    limit: Duration,
) -> Result<Evidence, Failure> {
    let title = format!(
        "{} answers fast within {} of {}",
        report.name,
        Quantity::duration(limit),
        report.fault
    );
    let check = report
        .check("dr.circuit_opens", title)
        .with_threshold(Threshold::at_most(limit))
        .with_hint(
            "calls to a failing dependency must fail fast: a circuit breaker that opens after \
             a few failures, a short timeout",
        );
    report.judge(check, "fast")
}

/// Panics unless [`try_assert_circuit_opens_within`] passes.
#[track_caller]
pub fn assert_circuit_opens_within(report: &RecoveryReport, limit: Duration) -> Evidence {
    try_assert_circuit_opens_within(report, limit).or_panic()
}
