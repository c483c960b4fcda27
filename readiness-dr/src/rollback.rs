//! An automated rollback, in the vocabulary of Argo Rollouts and Flagger: after the proxy
//! is switched to the new colour, an analysis checks it every `interval` (`sample`
//! requests of its own: error rate and p95 against their triggers). After
//! `failure_limit` failed checks the harness switches back to the old colour; after
//! `consecutive_successes` passed checks in a row the new colour is promoted.
//!
//! `dr.rollback` ([`assert_rollback_within`]) measures the first breach to the rollback,
//! and states how many of the user's requests (a load through the proxy) failed in
//! between — what neither Argo nor Flagger reports.

use std::time::Duration;
use tokio::time::Instant;

use readiness_core::{
    CheckResultExt, Error, Evidence, Failure, Observation, Probe, Quantity, Ratio, Result,
    Threshold,
};
use readiness_load::Report;

use crate::degrade::load_check;
use crate::fault::Fault;
use crate::proxy::Proxy;

/// When the new colour is rolled back, and when it is promoted.
#[derive(Debug, Clone)]
#[must_use]
pub struct RollbackPolicy {
    interval: Duration,
    failure_limit: u32,
    consecutive_successes: u32,
    max_error_rate: Ratio,
    max_p95: Duration,
    sample: u32,
    max_checks: u32,
}

impl RollbackPolicy {
    /// Checks every `interval` with 10 requests; rolls back after 2 failed checks
    /// (`failureLimit`), promotes after 3 passed in a row; a check fails above 1% errors
    /// (the request-success-rate trigger) or above `max_p95` (the request-duration
    /// trigger); at most 100 checks.
    pub fn new(interval: Duration, max_p95: Duration) -> Self {
        RollbackPolicy {
            interval,
            failure_limit: 2,
            consecutive_successes: 3,
            max_error_rate: Ratio::ZERO,
            max_p95,
            sample: 10,
            max_checks: 100,
        }
    }
    /// Failed checks before the rollback (Argo's `failureLimit`, Flagger's `threshold`).
    pub fn with_failure_limit(mut self, n: u32) -> Self {
        self.failure_limit = n;
        self
    }
    /// Passed checks in a row before the promotion (Argo's `consecutiveSuccessLimit`).
    pub fn with_consecutive_successes(mut self, n: u32) -> Self {
        self.consecutive_successes = n;
        self
    }
    /// The error-rate trigger: a check above it fails.
    pub fn with_max_error_rate(mut self, max: Ratio) -> Self {
        self.max_error_rate = max;
        self
    }
    /// Requests per check.
    pub fn with_sample(mut self, n: u32) -> Self {
        self.sample = n;
        self
    }
    /// The most checks before the analysis gives up (neither promoted nor rolled back).
    pub fn with_max_checks(mut self, n: u32) -> Self {
        self.max_checks = n;
        self
    }

    fn validate(&self) -> Result<()> {
        if self.interval.is_zero()
            || self.max_p95.is_zero()
            || self.sample == 0
            || self.max_checks == 0
        {
            return Err(Error::InvalidInput(
                "a rollback policy needs an interval and a p95 trigger above 0s, at least one \
                 request per check and at least one check"
                    .into(),
            ));
        }
        if self.failure_limit == 0 || self.consecutive_successes == 0 {
            return Err(Error::InvalidInput(
                "a failure limit or a success count of 0 decides before any check; give 1 or more"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Switches `proxy` to `new` (checked with `probe`, the new colour's own URL), then
    /// analyses it until it is promoted or rolled back to the old upstream.
    pub async fn roll_out(&self, proxy: &Proxy, new: &str, probe: Probe) -> Result<Rollout> {
        self.validate()?;
        let old = proxy.upstream();
        // A request three times slower than the p95 trigger has breached it already;
        // waiting longer for a silent colour would only delay the rollback.
        let probe = probe.with_attempt_timeout(self.max_p95 * 3);
        proxy.set_upstream(new).await?;
        let switched = Fault::now(format!("switch {old} -> {new}"));
        let mut checks = Vec::new();
        let (mut failures, mut streak) = (0, 0);
        let mut next = Instant::now();
        for _ in 0..self.max_checks {
            tokio::time::sleep_until(next).await;
            next += self.interval;
            let at = Fault::now("analysis");
            let mut latencies = Vec::with_capacity(self.sample as usize);
            let mut errors = 0u32;
            for _ in 0..self.sample {
                let started = Instant::now();
                let (ok, _) = probe.once().await?;
                latencies.push(started.elapsed());
                errors += u32::from(!ok);
            }
            latencies.sort();
            let p95 = latencies[((latencies.len() * 95).div_ceil(100)).saturating_sub(1)];
            let error_rate = f64::from(errors) / f64::from(self.sample);
            let breached = error_rate > self.max_error_rate.value() || p95 > self.max_p95;
            checks.push(AnalysisCheck {
                at,
                error_rate,
                p95,
                breached,
            });
            if breached {
                failures += 1;
                streak = 0;
                if failures >= self.failure_limit {
                    proxy.set_upstream(&old).await?;
                    let rollback = Fault::now(format!("rollback {new} -> {old}"));
                    return Ok(Rollout {
                        policy: self.clone(),
                        switched,
                        checks,
                        decision: Decision::RolledBack(rollback),
                    });
                }
            } else {
                streak += 1;
                if streak >= self.consecutive_successes {
                    return Ok(Rollout {
                        policy: self.clone(),
                        switched,
                        checks,
                        decision: Decision::Promoted,
                    });
                }
            }
        }
        Ok(Rollout {
            policy: self.clone(),
            switched,
            checks,
            decision: Decision::Undecided,
        })
    }
}

/// One check of the analysis.
#[derive(Debug, Clone)]
pub struct AnalysisCheck {
    /// When it started.
    pub at: Fault,
    /// Its share of failed requests.
    pub error_rate: f64,
    /// Its p95 latency.
    pub p95: Duration,
    /// Whether a trigger was crossed.
    pub breached: bool,
}

/// How the analysis ended.
#[derive(Debug, Clone)]
pub enum Decision {
    /// The new colour stayed.
    Promoted,
    /// The harness switched back, at this moment.
    RolledBack(Fault),
    /// Neither within the most checks.
    Undecided,
}

/// A roll-out and its analysis.
#[derive(Debug, Clone)]
pub struct Rollout {
    /// The policy it followed.
    pub policy: RollbackPolicy,
    /// The switch to the new colour.
    pub switched: Fault,
    /// Every check, in order.
    pub checks: Vec<AnalysisCheck>,
    /// How it ended.
    pub decision: Decision,
}

impl Rollout {
    /// The first check that crossed a trigger.
    pub fn first_breach(&self) -> Option<&AnalysisCheck> {
        self.checks.iter().find(|c| c.breached)
    }
}

/// Requests of `report` that failed in the whole seconds from `from` to `to` (by intended
/// start; a second counts when it overlaps the span).
fn failed_between(report: &Report, from: &Fault, to: &Fault) -> u64 {
    let second = |f: &Fault| ((f.wall - report.started_at()).as_seconds_f64().max(0.0)) as usize;
    let (a, b) = (second(from), second(to));
    report
        .metrics()
        .seconds()
        .iter()
        .enumerate()
        .filter(|(i, _)| (a..=b).contains(i))
        .map(|(_, s)| s.error_count())
        .sum()
}

/// `dr.rollback`: from the first check that crossed a trigger to the switch back to the
/// old colour took at most `limit`. The summary states the requests of `report` (the
/// user's load through the proxy) that failed in between. A promoted roll-out has nothing
/// to roll back (`error`); one that breached and never rolled back within the analysis
/// fails when the analysis ran past the limit.
pub fn try_assert_rollback_within(
    rollout: &Rollout,
    report: &Report,
    limit: Duration,
) -> Result<Evidence, Failure> {
    let p = &rollout.policy;
    let scenario = format!(
        "{} through the proxy; {}; analysis every {:?} with {} requests, triggers: errors above {}, \
         p95 above {}; failure limit {}, {} successes to promote",
        report.name(),
        rollout.switched.what,
        p.interval,
        p.sample,
        p.max_error_rate,
        Quantity::duration(p.max_p95),
        p.failure_limit,
        p.consecutive_successes
    );
    let check = load_check(
        report,
        "dr.rollback",
        format!(
            "a breaching colour is rolled back within {}",
            Quantity::duration(limit)
        ),
        scenario,
    )
    .with_threshold(Threshold::at_most(limit))
    .with_hint("lower the failure limit or the analysis interval to roll back sooner");
    let Some(breach) = rollout.first_breach() else {
        return Err(check.nothing_measured(format!(
            "no check crossed a trigger in {} checks: nothing was rolled back",
            rollout.checks.len()
        )));
    };
    let described = |c: &AnalysisCheck| {
        format!(
            "{:.0}% errors, p95 {}",
            c.error_rate * 100.0,
            Quantity::duration(c.p95)
        )
    };
    match &rollout.decision {
        Decision::RolledBack(back) => {
            let took = back.at.saturating_duration_since(breach.at.at);
            let failed = failed_between(report, &breach.at, back);
            check.judge(Observation::new(took).with_summary(format!(
                "first breach ({}) to rollback {}; {failed} requests of {} failed in between",
                described(breach),
                Quantity::duration(took),
                report.name()
            )))
        }
        _ => check.judge(
            Observation::at_least(breach.at.at.elapsed()).with_summary(format!(
                "breached ({}) but never rolled back in {} checks",
                described(breach),
                rollout.checks.len()
            )),
        ),
    }
}

/// Panics unless [`try_assert_rollback_within`] passes.
#[track_caller]
pub fn assert_rollback_within(rollout: &Rollout, report: &Report, limit: Duration) -> Evidence {
    try_assert_rollback_within(rollout, report, limit).or_panic()
}
