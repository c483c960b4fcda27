//! A zero-downtime switch: blue and green behind the fault proxy ([`Proxy`]), a load
//! running through it (readiness-load), the switch made with connection draining — new
//! connections go to green at once, the old colour keeps its open connections until they
//! close or the drain time is up — and the old colour told to stop (SIGTERM) so it
//! finishes what it holds.
//!
//! `dr.zero_downtime` ([`assert_zero_downtime_switch`]) judges the load across the switch:
//! no failed request, and (a second record, `dr.switch_p99`) the p99 latency within a
//! bound.

use std::time::Duration;

use readiness_core::{
    CheckResultExt, Count, Evidence, Failure, Observation, Quantity, Result, Threshold,
};
use readiness_load::Report;

use crate::degrade::{and_p99, load_check};
use crate::fault::Fault;
use crate::proxy::Proxy;

/// What a switch did.
#[derive(Debug, Clone)]
pub struct Switched {
    /// The colour switched away from (its upstream).
    pub from: String,
    /// The colour switched to.
    pub to: String,
    /// When new connections started going to `to`.
    pub at: Fault,
    /// How long the old colour took to have no open connection through the proxy.
    pub drained_in: Option<Duration>,
    /// Other faults and actions during the switch (the old colour's SIGTERM).
    pub events: Vec<Fault>,
}

/// Switches `proxy` to `to` and waits up to `drain` for the old upstream's connections to
/// close; `retire` runs right after the switch (e.g. SIGTERM to the old colour, which
/// then finishes its in-flight requests) and its faults join the record.
pub async fn switch<F, Fut>(proxy: &Proxy, to: &str, drain: Duration, retire: F) -> Result<Switched>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Fault>>>,
{
    let from = proxy.upstream();
    proxy.set_upstream(to).await?;
    let at = Fault::now(format!("switch {from} -> {to}"));
    let events = retire().await?;
    let drained = proxy.wait_drained(&from, drain).await?;
    Ok(Switched {
        from,
        to: to.to_owned(),
        drained_in: drained.then(|| at.at.elapsed()),
        at,
        events,
    })
}

fn scenario(report: &Report, switched: &Switched) -> String {
    format!(
        "{} across a switch {} -> {}{}; {}",
        report.name(),
        switched.from,
        switched.to,
        match switched.drained_in {
            Some(d) => format!(", old colour drained in {}", Quantity::duration(d)),
            None => ", old colour NOT drained in time".to_owned(),
        },
        std::iter::once(&switched.at)
            .chain(&switched.events)
            .map(|f| f.what.clone())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `dr.zero_downtime`: no request of `report` (a load that ran through the proxy across
/// the switch) failed; and `dr.switch_p99`: its p99 latency is at most `p99`. Both are
/// recorded (with the load's recorder); the first that fails is returned.
pub fn try_assert_zero_downtime_switch(
    report: &Report,
    switched: &Switched,
    p99: Duration,
) -> Result<Evidence, Failure> {
    let failed = report.failed();
    let attempts = report.attempts();
    let zero = load_check(
        report,
        "dr.zero_downtime",
        format!("no failed request of {} across the switch", report.name()),
        scenario(report, switched),
    )
    .with_threshold(Threshold::at_most(Count(0)))
    .with_hint("the old colour must finish its in-flight requests before it exits (graceful drain on SIGTERM)");
    let zero = if attempts == 0 {
        Err(zero.nothing_measured("no request ran across the switch"))
    } else {
        zero.judge(
            Observation::new(Quantity::count(failed)).with_summary(format!(
                "{failed} of {attempts} requests failed; {}",
                report.summary()
            )),
        )
    };
    let latency = load_check(
        report,
        "dr.switch_p99",
        format!(
            "p99 latency of {} across the switch under {}",
            report.name(),
            Quantity::duration(p99)
        ),
        scenario(report, switched),
    );
    and_p99(zero, report, latency, p99)
}

/// Panics unless [`try_assert_zero_downtime_switch`] passes.
#[track_caller]
pub fn assert_zero_downtime_switch(
    report: &Report,
    switched: &Switched,
    p99: Duration,
) -> Evidence {
    try_assert_zero_downtime_switch(report, switched, p99).or_panic()
}
