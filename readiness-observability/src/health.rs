//! Health endpoints judged by what they do when a dependency goes away: `obs.health_accurate`.
//!
//! Liveness and readiness answer 2xx on a healthy service; when a dependency is stopped,
//! readiness turns bad within a bound (so the load balancer stops sending traffic), and
//! good again within the bound after the dependency is back. Liveness stays good
//! throughout: a liveness check that fails on a dependency restarts healthy processes.

use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

use readiness_core::{
    Category, Check, CheckResultExt, Combine, Evidence, Failure, Observation, Probe, ProbeReport,
    Quantity, Recorder, Result, Sample, Threshold,
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

    /// `obs.health_accurate`: live and ready answer 2xx; after `stop` (the dependency
    /// stopped), ready turns bad within `within` while live stays good; after `start`,
    /// ready is good again within `within`. The observed value is the slower of the two
    /// transitions; the evidence holds every readiness probe. An `error` when the service
    /// does not answer before the fault.
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
        let (live, ready) = (self.probe(&self.live), self.probe(&self.ready));
        let before = match (live.once().await, ready.once().await) {
            (Ok(l), Ok(r)) => (l, r),
            (Err(e), _) | (_, Err(e)) => return Err(check.error(e)),
        };
        match before {
            ((false, l), (false, r)) if is_unreachable(&l) && is_unreachable(&r) => {
                return Err(check.nothing_measured(format!(
                    "the service does not answer ({}: {l}): there is no health to judge",
                    self.live
                )));
            }
            ((true, _), (true, _)) => {}
            ((l_ok, l), (_, r)) => {
                let what = if l_ok {
                    format!("ready answered {r}")
                } else {
                    format!("live answered {l}")
                };
                return check.judge(
                    Observation::at_least(within + Duration::from_millis(1)).with_summary(format!(
                        "not healthy before {dependency} was stopped: {what}"
                    )),
                );
            }
        }

        let fault_wall = OffsetDateTime::now_utc();
        let zero = Instant::now();
        if let Err(e) = stop.await {
            return Err(check.error(e));
        }
        let mut samples = Vec::new();
        let mut live_bad = Vec::new();
        let turned_bad = self
            .watch(
                &ready,
                &live,
                zero,
                within,
                false,
                &mut samples,
                &mut live_bad,
            )
            .await;
        let started_at = zero.elapsed();
        if let Err(e) = start.await {
            return Err(check.error(e));
        }
        let turned_good = match turned_bad {
            Some(_) => {
                let at = Instant::now();
                self.watch(
                    &ready,
                    &live,
                    zero,
                    within,
                    true,
                    &mut samples,
                    &mut live_bad,
                )
                .await
                .map(|t| t.saturating_sub(at.duration_since(zero)))
            }
            None => None,
        };
        let timeline = ProbeReport {
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
        };
        let live_text = if live_bad.is_empty() {
            "live stayed good".to_owned()
        } else {
            format!(
                "live went bad too ({}): a liveness check on a dependency restarts healthy processes",
                live_bad.join(", ")
            )
        };
        let observation = match (turned_bad, turned_good) {
            (None, _) => Observation::at_least(within + self.interval).with_summary(format!(
                "ready still answered good {:?} after {dependency} was stopped (last: {}); {live_text}",
                within,
                last_detail(&timeline)
            )),
            (Some(bad), None) => Observation::at_least(within + self.interval).with_summary(format!(
                "ready turned bad {} after {dependency} stopped, but was not good again {within:?} after it started (last: {}); {live_text}",
                Quantity::duration(bad),
                last_detail(&timeline)
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

    /// Probes ready (and live) until ready is `want`, or `within` passes; the time from
    /// `zero` when it was.
    #[expect(clippy::too_many_arguments, reason = "one loop for both transitions")]
    async fn watch(
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
