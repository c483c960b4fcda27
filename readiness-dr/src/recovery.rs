//! Recovery time: from the fault (or the recovery action) to the first moment the health
//! check stays good for a settle window.
//!
//! The health check is probed every `interval`; the true recovery lies after the start of
//! the last failing attempt and no later than the answer of the first attempt of the good
//! streak, so the measured RTO (that answer) is an upper bound, off by at most one
//! interval plus one attempt. It counts from the answer, not from the start of the
//! attempt: a service that holds requests and answers them all once it recovered is not
//! credited with the moment a waiting attempt began. Both ends are in the evidence
//! ([`RecoveryTimeline`]), so a reader sees the bound. The health check is anything that answers good or bad: a [`Probe`] (HTTP or
//! TCP), a command run in the container ([`Health::exec`], e.g. `pg_isready`, which needs
//! no host port and so survives a port change), or a closure.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::Instant;

use readiness_core::testcontainers::{ContainerAsync, Image};
use readiness_core::{
    Category, Check, CheckResultExt, Combine, DrillEvent, Error, Evidence, Failure, Observation,
    Probe, Quantity, Recorder, RecoveryTimeline, Result, Sample, Threshold,
};

use crate::fault::{Fault, ms_between, short};

/// A boxed future of a health answer.
/// (Not `Send`: testcontainers' exec results are not `Sync`.)
pub type HealthFuture<'a> = Pin<Box<dyn Future<Output = (bool, String)> + 'a>>;

/// A health check: good or bad, with what was seen. An error of the check itself (the
/// container is gone, the port is not mapped) is a bad answer: during a fault it is
/// exactly what the drill expects to see for a while.
pub struct Health<'a> {
    target: String,
    check: Box<dyn Fn() -> HealthFuture<'a> + Send + Sync + 'a>,
}

impl std::fmt::Debug for Health<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("target", &self.target)
            .finish()
    }
}

impl<'a> Health<'a> {
    /// Any check: `target` names it in the evidence.
    pub fn from_fn<F, Fut>(target: impl Into<String>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'a,
        Fut: Future<Output = (bool, String)> + 'a,
    {
        Health {
            target: target.into(),
            check: Box::new(move || Box::pin(check())),
        }
    }

    /// A [`Probe`] (HTTP or TCP, loopback unless it opted out).
    pub fn probe(probe: Probe) -> Self {
        let target = probe.target();
        Health::from_fn(target, move || {
            let probe = probe.clone();
            async move {
                match probe.once().await {
                    Ok(answer) => answer,
                    Err(e) => (false, e.to_string()),
                }
            }
        })
    }

    /// A command run inside `container` (exit code 0 is good), e.g.
    /// `["pg_isready", "-U", "postgres"]` or `["redis-cli", "ping"]`. It reaches the
    /// container through Docker, so it needs no host port.
    pub fn exec<I: Image>(container: &'a ContainerAsync<I>, command: &[&str]) -> Self {
        let command: Vec<String> = command.iter().map(|s| (*s).to_owned()).collect();
        let target = format!("`{}` in {}", command.join(" "), short(container.id()));
        Health::from_fn(target, move || {
            let command = command.clone();
            async move {
                let args: Vec<&str> = command.iter().map(String::as_str).collect();
                match crate::exec(container, &args).await {
                    Ok(out) => (true, first_line(&out)),
                    Err(e) => (false, first_line(&e.to_string())),
                }
            }
        })
    }

    /// An HTTP GET of `path` on the host port Docker maps to `internal_port` of
    /// `container`, read again for every attempt: after a stop/start the port changes
    /// (testcontainers-rs #433) and the check follows it. 2xx is good.
    pub fn http_of<I: Image>(
        container: &'a ContainerAsync<I>,
        internal_port: u16,
        path: &str,
    ) -> Self {
        let path = path.to_owned();
        let target = format!(
            "http GET {path} on port {internal_port} of {}",
            short(container.id())
        );
        Health::from_fn(target, move || {
            let path = path.clone();
            async move {
                let port = match container.get_host_port_ipv4(internal_port).await {
                    Ok(p) => p,
                    Err(e) => return (false, first_line(&format!("no host port: {e}"))),
                };
                let probe = Probe::http(format!("http://127.0.0.1:{port}{path}"));
                match probe.once().await {
                    Ok(answer) => answer,
                    Err(e) => (false, first_line(&e.to_string())),
                }
            }
        })
    }

    /// What is checked.
    pub fn target(&self) -> &str {
        &self.target
    }

    async fn check(&self) -> (bool, String) {
        (self.check)().await
    }
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    line.chars().take(120).collect()
}

/// How a recovery is measured: the health check, its interval, the settle window and a
/// deadline.
#[derive(Debug)]
#[must_use]
pub struct Recovery<'a> {
    name: String,
    health: Health<'a>,
    interval: Duration,
    attempt_timeout: Duration,
    settle: Duration,
    deadline: Duration,
    recorder: Option<Recorder>,
}

impl<'a> Recovery<'a> {
    /// Measures the recovery of `name` by `health`: every 250 ms, settle 2 s, deadline
    /// 2 min (each attempt bounded by the interval, at least 1 s).
    pub fn of(name: impl Into<String>, health: Health<'a>) -> Self {
        Recovery {
            name: name.into(),
            health,
            interval: Duration::from_millis(250),
            attempt_timeout: Duration::from_secs(1),
            settle: Duration::from_secs(2),
            deadline: Duration::from_secs(120),
            recorder: None,
        }
    }
    /// Time between the starts of two attempts: the resolution of the RTO.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }
    /// How long one attempt may take before it counts as bad.
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }
    /// How long the check must stay good for the service to count as recovered.
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }
    /// How long to wait for the recovery, from the fault.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }
    /// Where the evidence of the assertions on this recovery goes.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    fn validate(&self) -> Result<()> {
        if self.interval.is_zero() {
            return Err(Error::InvalidInput(
                "a recovery probed every 0s; give an interval such as 250ms".into(),
            ));
        }
        if self.deadline <= self.settle {
            return Err(Error::InvalidInput(format!(
                "a recovery deadline of {:?} leaves no time for a settle window of {:?}; \
                 raise the deadline",
                self.deadline, self.settle
            )));
        }
        Ok(())
    }

    /// Probes from now until the check stayed good for the settle window or the deadline
    /// passed, counting from `fault` (which may be the fault or the recovery action);
    /// `events` (other faults and actions) go into the timeline.
    pub async fn measure(self, fault: &Fault, events: &[Fault]) -> Result<RecoveryReport> {
        self.validate()?;
        let zero = fault.at;
        let mut samples: Vec<Sample> = Vec::new();
        let mut next = Instant::now();
        // Bounded by the deadline: each pass waits for the next tick of the interval.
        while zero.elapsed() < self.deadline {
            tokio::time::sleep_until(next).await;
            next += self.interval;
            let started = Instant::now();
            let (ok, detail) = tokio::time::timeout(self.attempt_timeout, self.health.check())
                .await
                .unwrap_or_else(|_| {
                    (
                        false,
                        format!("no answer within {:?}", self.attempt_timeout),
                    )
                });
            let at_ms = ms_between(zero, started);
            samples.push(Sample {
                at_ms,
                ok,
                latency_ms: started.elapsed().as_secs_f64() * 1e3,
                detail,
            });
            // The one rule of "recovered", the one the report checks again.
            if ok
                && RecoveryTimeline::recovered(&samples, self.settle)
                    .0
                    .is_some()
            {
                break;
            }
            if next < Instant::now() {
                next = Instant::now();
            }
        }
        let mut timeline_events = vec![fault.event_since(zero)];
        timeline_events.extend(
            events
                .iter()
                .filter(|e| *e != fault)
                .map(|e| e.event_since(zero)),
        );
        timeline_events.sort_by(|a: &DrillEvent, b| a.at_ms.total_cmp(&b.at_ms));
        let timeline = RecoveryTimeline::new(
            self.health.target().to_owned(),
            fault.wall,
            timeline_events,
            (self.interval, self.settle),
            samples,
            zero.elapsed(),
        );
        Ok(RecoveryReport {
            name: self.name,
            fault: fault.what.clone(),
            deadline: self.deadline,
            timeline,
            recorder: self.recorder,
        })
    }
}

/// A measured recovery: the timeline and what it was measured for.
#[derive(Debug, Clone)]
pub struct RecoveryReport {
    /// What recovered (`postgres`, `the orders service`).
    pub name: String,
    /// The fault it recovered from.
    pub fault: String,
    /// How long the measurement waited.
    pub deadline: Duration,
    /// Every probe attempt and event.
    pub timeline: RecoveryTimeline,
    recorder: Option<Recorder>,
}

impl RecoveryReport {
    /// The measured recovery time (the answer of the good streak's first attempt), if it
    /// recovered.
    pub fn rto(&self) -> Option<Duration> {
        self.timeline
            .recovered_at_ms
            .map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1e3))
    }

    /// The bound of the measurement: the true recovery lies in
    /// `(start of the last failing attempt, rto]`.
    pub fn bound(&self) -> Option<(Duration, Duration)> {
        let rto = self.rto()?;
        let low = self
            .timeline
            .last_failure_at_ms
            .map_or(Duration::ZERO, |ms| {
                Duration::from_secs_f64(ms.max(0.0) / 1e3)
            });
        Some((low, rto))
    }

    pub(crate) fn check(&self, id: &str, title: String) -> Check {
        let mut check = Check::new(id, title, Category::RECOVERY)
            .with_subject(format!("{}/{id}", self.name))
            .with_combine(Combine::VerdictOnly)
            .with_scenario(format!(
                "{}, then {} probed every {:?} until good for {:?} (deadline {:?})",
                self.fault,
                self.timeline.target,
                self.timeline.interval,
                self.timeline.settle,
                self.deadline
            ))
            .with_target(self.timeline.target.clone())
            .with_attachment(self.timeline.clone());
        if let Some(r) = &self.recorder {
            check = check.with_recorder(r.clone());
        }
        check
    }

    fn samples_summary(&self) -> String {
        let s = &self.timeline.samples;
        let good = s.iter().filter(|s| s.ok).count();
        let last_bad = s.iter().rev().find(|s| !s.ok).map(|s| s.detail.clone());
        format!(
            "{} probes ({good} good){}",
            s.len(),
            last_bad.map_or(String::new(), |d| format!(", last bad answer: {d}"))
        )
    }
}

/// `dr.rto`: after the fault, the health check stays good for the settle window from a
/// moment at most `limit` after the fault. Not recovered by the deadline is a fail when
/// the deadline is past the limit (the RTO is at least the deadline), else an `error`;
/// no probe attempt at all is an `error`.
pub fn try_assert_rto_within(
    report: &RecoveryReport,
    limit: Duration,
) -> Result<Evidence, Failure> {
    let title = format!(
        "{} recovers from {} within {}",
        report.name,
        report.fault,
        Quantity::duration(limit)
    );
    let check = report
        .check("dr.rto", title)
        .with_threshold(Threshold::at_most(limit))
        .with_hint(
            "see the probe samples in the evidence: what did the health check answer, and \
             when did it start to stay good?",
        );
    report.judge(check, "recovered")
}

impl RecoveryReport {
    /// Judges the time from the fault to the settled streak with `check` (its threshold
    /// set); `what` names the good state in the summary ("recovered", "fast").
    pub(crate) fn judge(&self, check: Check, what: &str) -> Result<Evidence, Failure> {
        if self.timeline.samples.is_empty() {
            return Err(check.nothing_measured("the health check was never attempted"));
        }
        match (self.rto(), self.bound()) {
            (Some(rto), Some((low, high))) => {
                check.judge(Observation::new(rto).with_summary(format!(
                    "{what} between {} and {} after the fault (probe every {:?}); {}",
                    Quantity::duration(low),
                    Quantity::duration(high),
                    self.timeline.interval,
                    self.samples_summary()
                )))
            }
            _ => check.judge(
                Observation::at_least(self.timeline.elapsed).with_summary(format!(
                    "not {what}: never good for {:?} within {:?}; {}",
                    self.timeline.settle,
                    self.deadline,
                    self.samples_summary()
                )),
            ),
        }
    }
}

/// Panics unless [`try_assert_rto_within`] passes.
#[track_caller]
pub fn assert_rto_within(report: &RecoveryReport, limit: Duration) -> Evidence {
    try_assert_rto_within(report, limit).or_panic()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frozen service on a paused clock: every check started before 2.5 s after the
    /// fault waits until then and answers good. The RTO is exactly 2.5 s, from the answer
    /// of the attempt that began at 2 s, and the bound holds it.
    #[tokio::test(start_paused = true)]
    async fn on_a_paused_clock_a_frozen_service_recovers_when_it_answers() {
        let fault = Fault::now("freeze");
        let thaw = fault.at + Duration::from_millis(2_500);
        let health = Health::from_fn("frozen", move || async move {
            tokio::time::sleep_until(thaw).await;
            (true, "200".to_owned())
        });
        let report = Recovery::of("frozen", health)
            .with_interval(Duration::from_millis(250))
            .with_attempt_timeout(Duration::from_secs(1))
            .with_settle(Duration::from_secs(1))
            .with_deadline(Duration::from_secs(10))
            .with_recorder(Recorder::new(
                readiness_core::settings::target_dir().join("readiness-self-test"),
            ))
            .measure(&fault, &[])
            .await
            .expect("measured");
        assert_eq!(report.rto(), Some(Duration::from_millis(2_500)));
        assert_eq!(
            report.bound(),
            Some((Duration::from_secs(1), Duration::from_millis(2_500)))
        );
        let starts: Vec<f64> = report.timeline.samples.iter().map(|s| s.at_ms).collect();
        assert_eq!(&starts[..3], [0.0, 1_000.0, 2_000.0], "{starts:?}");
        let failure = try_assert_rto_within(&report, Duration::from_millis(2_200))
            .expect_err("recovered at 2.5 s");
        assert_eq!(failure.verdict(), readiness_core::Verdict::Fail);
    }
}
