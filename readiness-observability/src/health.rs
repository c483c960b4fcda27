//! Health endpoints judged by what they do when a dependency goes away: `obs.health_accurate`.
//! [`HealthEndpoints::watch`] drives (stops and starts the dependency, probes) and gives a
//! [`HealthWatch`]; [`HealthWatch::judge`] is the pure judge and
//! [`assert_health_accurate`] the synchronous assertion.
//!
//! Liveness and readiness answer 2xx on a healthy service; when a dependency is stopped,
//! readiness turns bad within a bound (so the load balancer stops sending traffic), and
//! good again within the bound after the dependency is back. Liveness stays good
//! throughout: a liveness check that fails on a dependency restarts healthy processes.

use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

use readiness_core::{
    Category, Check, CheckResultExt, Combine, Error, Evidence, Failure, Observation, Probe,
    ProbeReport, Quantity, Recorder, Result, Sample, Threshold,
};
use time::OffsetDateTime;

/// A service's health endpoints.
#[derive(Debug, Clone)]
#[must_use]
pub struct HealthEndpoints {
    live: String,
    ready: String,
    interval: Duration,
    recorder: Option<Recorder>,
}

impl HealthEndpoints {
    /// `<base>/health/live` and `<base>/health/ready` (base on loopback), probed every
    /// 100 ms.
    pub fn new(base_url: &str) -> Self {
        let base = base_url.trim_end_matches('/');
        HealthEndpoints {
            live: format!("{base}/health/live"),
            ready: format!("{base}/health/ready"),
            interval: Duration::from_millis(100),
            recorder: None,
        }
    }
    /// Other paths than `/health/live` and `/health/ready`.
    pub fn with_paths(mut self, base_url: &str, live: &str, ready: &str) -> Self {
        let base = base_url.trim_end_matches('/');
        self.live = format!("{base}{live}");
        self.ready = format!("{base}{ready}");
        self
    }
    /// Time between two probes of readiness.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }
    /// Records the check with `recorder`.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    fn probe(&self, url: &str) -> Probe {
        Probe::http(url.to_owned()).with_attempt_timeout(Duration::from_secs(1))
    }

    /// Panics unless [`HealthEndpoints::try_assert_accurate`] passes.
    pub async fn assert_accurate<S, R>(
        &self,
        dependency: &str,
        stop: S,
        start: R,
        within: Duration,
    ) -> Evidence
    where
        S: Future<Output = Result<()>>,
        R: Future<Output = Result<()>>,
    {
        self.try_assert_accurate(dependency, stop, start, within)
            .await
            .or_panic()
    }

    /// `obs.health_accurate` in one call: [`HealthEndpoints::watch`], then
    /// [`HealthWatch::judge`].
    pub async fn try_assert_accurate<S, R>(
        &self,
        dependency: &str,
        stop: S,
        start: R,
        within: Duration,
    ) -> Result<Evidence, Failure>
    where
        S: Future<Output = Result<()>>,
        R: Future<Output = Result<()>>,
    {
        self.watch(dependency, stop, start, within).await.judge()
    }

    /// Probes live and ready, runs `stop` (the dependency stopped), probes ready until it
    /// turns bad (live alongside), runs `start`, and probes ready until it is good again;
    /// each wait bounded by `within`. Judged by [`HealthWatch::judge`].
    pub async fn watch<S, R>(
        &self,
        dependency: &str,
        stop: S,
        start: R,
        within: Duration,
    ) -> HealthWatch
    where
        S: Future<Output = Result<()>>,
        R: Future<Output = Result<()>>,
    {
        let mut watch = HealthWatch {
            dependency: dependency.to_owned(),
            live: self.live.clone(),
            ready: self.ready.clone(),
            within,
            interval: self.interval,
            before: Before::Healthy,
            turned_bad: None,
            turned_good: None,
            live_bad: Vec::new(),
            timeline: None,
            failed: None,
            recorder: self.recorder.clone(),
        };
        let (live, ready) = (self.probe(&self.live), self.probe(&self.ready));
        let before = match (live.once().await, ready.once().await) {
            (Ok(l), Ok(r)) => (l, r),
            (Err(e), _) | (_, Err(e)) => {
                watch.failed = Some(e.to_string());
                return watch;
            }
        };
        watch.before = match before {
            ((false, l), (false, r)) if is_unreachable(&l) && is_unreachable(&r) => {
                Before::Unreachable(l)
            }
            ((true, _), (true, _)) => Before::Healthy,
            ((true, _), (_, r)) => Before::Unhealthy(format!("ready answered {r}")),
            ((false, l), _) => Before::Unhealthy(format!("live answered {l}")),
        };
        if watch.before != Before::Healthy {
            return watch;
        }
        let fault_wall = OffsetDateTime::now_utc();
        let zero = Instant::now();
        if let Err(e) = stop.await {
            watch.failed = Some(e.to_string());
            return watch;
        }
        let mut samples = Vec::new();
        watch.turned_bad = self
            .probe_until(
                &ready,
                &live,
                zero,
                within,
                false,
                &mut samples,
                &mut watch.live_bad,
            )
            .await;
        let started_at = zero.elapsed();
        if let Err(e) = start.await {
            watch.failed = Some(e.to_string());
            return watch;
        }
        if watch.turned_bad.is_some() {
            let at = Instant::now();
            watch.turned_good = self
                .probe_until(
                    &ready,
                    &live,
                    zero,
                    within,
                    true,
                    &mut samples,
                    &mut watch.live_bad,
                )
                .await
                .map(|t| t.saturating_sub(at.duration_since(zero)));
        }
        watch.timeline = Some(ProbeReport {
            target: format!(
                "{} ({dependency} stopped at 0 ms, started at {:.0} ms)",
                self.ready,
                ms(started_at)
            ),
            started_at: fault_wall,
            interval: self.interval,
            samples,
            first_ok: None,
            condition_met_at: None,
            elapsed: zero.elapsed(),
        });
        watch
    }

    /// Probes ready (and live) until ready is `want`, or `within` passes; the time from
    /// `zero` when it was.
    #[expect(clippy::too_many_arguments, reason = "one loop for both transitions")]
    async fn probe_until(
        &self,
        ready: &Probe,
        live: &Probe,
        zero: Instant,
        within: Duration,
        want: bool,
        samples: &mut Vec<Sample>,
        live_bad: &mut Vec<String>,
    ) -> Option<Duration> {
        let from = Instant::now();
        // Bounded: stops after `within`, one probe per interval.
        while from.elapsed() <= within {
            let at = zero.elapsed();
            let (ok, detail) = ready
                .once()
                .await
                .unwrap_or_else(|e| (false, e.to_string()));
            samples.push(Sample {
                at_ms: ms(at),
                ok,
                latency_ms: ms(zero.elapsed() - at),
                detail: detail.clone(),
            });
            if ok == want {
                return Some(at);
            }
            if let Ok((false, l)) = live.once().await
                && live_bad.len() < 5
            {
                live_bad.push(format!("+{:.1} s: {l}", at.as_secs_f64()));
            }
            tokio::time::sleep(self.interval).await;
        }
        None
    }
}

/// What the service's health endpoints said before, while and after a dependency was
/// away. Measured by [`HealthEndpoints::watch`], judged by [`HealthWatch::judge`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HealthWatch {
    /// The dependency stopped and started.
    pub dependency: String,
    /// The liveness URL.
    pub live: String,
    /// The readiness URL.
    pub ready: String,
    /// The bound on each transition.
    pub within: Duration,
    /// Time between two probes.
    pub interval: Duration,
    /// What live and ready said before the dependency was stopped.
    pub before: Before,
    /// When ready turned bad, from the stop.
    pub turned_bad: Option<Duration>,
    /// When ready was good again, from the start.
    pub turned_good: Option<Duration>,
    /// Live's bad answers while the dependency was away (the first five).
    pub live_bad: Vec<String>,
    /// Every readiness probe from the stop on.
    pub timeline: Option<ProbeReport>,
    /// Why the watch could not run (a probe that could not be made, a stop or start that
    /// failed), if it could not.
    pub failed: Option<String>,
    recorder: Option<Recorder>,
}

/// What the health endpoints said before the fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Before {
    /// Both answered 2xx.
    Healthy,
    /// One answered, not 2xx: what it said.
    Unhealthy(String),
    /// Neither could be reached: what the connection said.
    Unreachable(String),
}

impl HealthWatch {
    /// `obs.health_accurate`: live and ready answered 2xx; after the stop, ready turned bad
    /// within the bound while live stayed good; after the start, ready was good again within
    /// the bound. The observed value is the slower of the two transitions; the evidence
    /// holds every readiness probe. An `error` when the service did not answer before the
    /// fault.
    pub fn judge(&self) -> Result<Evidence, Failure> {
        let (dependency, within) = (&self.dependency, self.within);
        let mut check = Check::new(
            "obs.health_accurate",
            format!(
                "readiness follows {dependency} within {}",
                Quantity::duration(within)
            ),
            Category::OBSERVABILITY,
        )
        .with_subject(format!("health/{dependency}"))
        .with_target(self.ready.clone())
        .with_threshold(Threshold::at_most(within))
        .with_combine(Combine::VerdictOnly)
        .with_scenario(format!(
            "{dependency} stopped, then started; {} probed every {:?}, {} checked alongside",
            self.ready, self.interval, self.live
        ));
        if let Some(r) = &self.recorder {
            check = check.with_recorder(r.clone());
        }
        if let Some(why) = &self.failed {
            return Err(check.error(Error::Other(why.clone())));
        }
        match &self.before {
            Before::Unreachable(l) => {
                return Err(check.nothing_measured(format!(
                    "the service does not answer ({}: {l}): there is no health to judge",
                    self.live
                )));
            }
            Before::Unhealthy(what) => {
                return check.judge(
                    Observation::at_least(within + Duration::from_millis(1)).with_summary(format!(
                        "not healthy before {dependency} was stopped: {what}"
                    )),
                );
            }
            Before::Healthy => {}
        }
        let Some(timeline) = &self.timeline else {
            return Err(check.nothing_measured("no readiness probe was made"));
        };
        let live_text = if self.live_bad.is_empty() {
            "live stayed good".to_owned()
        } else {
            format!(
                "live went bad too ({}): a liveness check on a dependency restarts healthy processes",
                self.live_bad.join(", ")
            )
        };
        let observation = match (self.turned_bad, self.turned_good) {
            (None, _) => Observation::at_least(within + self.interval).with_summary(format!(
                "ready still answered good {:?} after {dependency} was stopped (last: {}); {live_text}",
                within,
                last_detail(timeline)
            )),
            (Some(bad), None) => Observation::at_least(within + self.interval).with_summary(format!(
                "ready turned bad {} after {dependency} stopped, but was not good again {within:?} after it started (last: {}); {live_text}",
                Quantity::duration(bad),
                last_detail(timeline)
            )),
            (Some(bad), Some(good)) => Observation::new(bad.max(good)).with_summary(format!(
                "ready turned bad {} after {dependency} stopped and good {} after it started \
                 (probe every {:?}); {live_text}",
                Quantity::duration(bad),
                if good < self.interval {
                    "at the first probe".to_owned()
                } else {
                    Quantity::duration(good).to_string()
                },
                self.interval
            )),
        };
        check.judge(observation.with_attachment(timeline.attachment()))
    }
}

/// Panics unless [`HealthWatch::judge`] passes.
#[track_caller]
pub fn assert_health_accurate(watch: &HealthWatch) -> Evidence {
    watch.judge().or_panic()
}

fn is_unreachable(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    d.contains("refused")
        || d.contains("timed out")
        || d.contains("error sending")
        || d.contains("connect")
}

fn last_detail(t: &ProbeReport) -> String {
    t.samples
        .last()
        .map_or("no probe".into(), |s| s.detail.clone())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;
    use readiness_core::Verdict;

    fn watch(
        before: Before,
        bad: Option<u64>,
        good: Option<u64>,
        live_bad: &[&str],
    ) -> HealthWatch {
        HealthWatch {
            dependency: "postgres".into(),
            live: "http://127.0.0.1:8080/health/live".into(),
            ready: "http://127.0.0.1:8080/health/ready".into(),
            within: Duration::from_secs(8),
            interval: Duration::from_millis(100),
            before,
            turned_bad: bad.map(Duration::from_millis),
            turned_good: good.map(Duration::from_millis),
            live_bad: live_bad.iter().map(|s| (*s).to_owned()).collect(),
            timeline: Some(ProbeReport {
                target: "ready".into(),
                started_at: OffsetDateTime::UNIX_EPOCH,
                interval: Duration::from_millis(100),
                samples: vec![Sample {
                    at_ms: 0.0,
                    ok: true,
                    latency_ms: 1.0,
                    detail: "200 OK".into(),
                }],
                first_ok: None,
                condition_met_at: None,
                elapsed: Duration::from_secs(1),
            }),
            failed: None,
            recorder: Some(crate::self_test_recorder()),
        }
    }

    fn message(w: &HealthWatch) -> String {
        w.judge().err().map(|f| f.to_string()).unwrap_or_default()
    }

    #[test]
    fn ready_following_the_dependency_passes_with_the_slower_transition() {
        let e = watch(Before::Healthy, Some(300), Some(1200), &[])
            .judge()
            .map_err(|f| f.to_string());
        let e = e.unwrap_or_else(|m| panic!("{m}"));
        assert_eq!(e.verdict, Verdict::Pass);
        assert!(e.summary.is_some_and(|s| s.contains("live stayed good")));
    }

    #[test]
    fn a_ready_that_never_turns_bad_or_a_live_that_follows_it_fails() {
        let m = message(&watch(Before::Healthy, None, None, &[]));
        assert!(
            m.contains("ready still answered good 8s after postgres was stopped (last: 200 OK)"),
            "{m}"
        );
        let m = message(&watch(Before::Healthy, Some(300), None, &["+0.3 s: 503"]));
        assert!(m.contains("was not good again 8s after it started"), "{m}");
        assert!(m.contains("live went bad too (+0.3 s: 503)"), "{m}");
        let m = message(&watch(
            Before::Unhealthy("ready answered 503".into()),
            None,
            None,
            &[],
        ));
        assert!(
            m.contains("not healthy before postgres was stopped: ready answered 503"),
            "{m}"
        );
    }

    #[test]
    fn a_service_that_does_not_answer_is_an_error() {
        let w = watch(
            Before::Unreachable("connection refused".into()),
            None,
            None,
            &[],
        );
        assert!(w.judge().is_err_and(|f| f.verdict() == Verdict::Error));
        let mut failed = watch(Before::Healthy, None, None, &[]);
        failed.failed = Some("docker pause failed".into());
        assert!(failed.judge().is_err_and(|f| f.verdict() == Verdict::Error));
    }
}
