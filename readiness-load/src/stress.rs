//! Stress (step the rate up until a break criterion; the capacity ceiling) and spike
//! (baseline, spike, baseline; time until latency is back in the baseline band).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use readiness_core::{
    Attachment, Category, Check, CheckResultExt, Error, Evidence, Failure, Percentile, Quantity,
    Result, Threshold,
};

use crate::engine::{Load, Report};
use crate::metrics::{ErrorClass, percentile};
use crate::schedule::{Model, RateStage};

/// When a stress step counts as broken: errors over `max_error_rate` or p95 over `max_p95`
/// (the seeds' "stop when errors > 1% or p95 > 1000 ms").
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BreakCriterion {
    /// 0.01 = 1%.
    pub max_error_rate: f64,
    /// The p95 limit.
    pub max_p95: Duration,
}

impl Default for BreakCriterion {
    fn default() -> Self {
        BreakCriterion {
            max_error_rate: 0.01,
            max_p95: Duration::from_secs(1),
        }
    }
}

/// A stress test: rates `start`, `start + step`, ... up to `max`, each for `step_duration`.
#[derive(Debug, Clone)]
#[must_use]
pub struct Stress {
    name: String,
    start: f64,
    step: f64,
    max: f64,
    step_duration: Duration,
    criterion: BreakCriterion,
    target: Option<String>,
}

/// One step of a stress run.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The arrival rate asked for.
    pub rate: f64,
    /// Successful iterations per second achieved.
    pub achieved: f64,
    /// p95 of the step (ms).
    pub p95_ms: f64,
    /// Error rate of the step.
    pub error_rate: f64,
    /// Whether the step met the break criterion.
    pub broke: bool,
}

/// What a stress run found.
#[derive(Debug, Clone, Serialize)]
pub struct StressReport {
    /// The transaction.
    pub name: String,
    /// The steps run, in order (the last one broke, unless `max` was reached first).
    pub steps: Vec<Step>,
    /// The criterion.
    pub criterion: BreakCriterion,
    /// Achieved throughput of the last step that held; `None` when the first step broke.
    pub ceiling: Option<f64>,
    /// What was targeted.
    pub target: Option<String>,
    /// "steps of +40/s from 200/s, 2s each, break at errors > 1% or p95 > 1s".
    pub scenario: String,
}

impl Stress {
    /// Steps from `start` by `step` up to `max` (per second), `step_duration` each.
    pub fn new(
        name: impl Into<String>,
        start: f64,
        step: f64,
        max: f64,
        step_duration: Duration,
    ) -> Result<Self> {
        if !(start.is_finite() && step.is_finite() && max.is_finite())
            || start <= 0.0
            || step <= 0.0
            || max < start
        {
            return Err(Error::InvalidInput(format!(
                "a stress test needs 0 < start <= max and step > 0, got start {start}, step {step}, max {max}"
            )));
        }
        if step_duration < Duration::from_secs(1) {
            return Err(Error::InvalidInput(
                "a stress step lasts at least 1s".into(),
            ));
        }
        Ok(Stress {
            name: name.into(),
            start,
            step,
            max,
            step_duration,
            criterion: BreakCriterion::default(),
            target: None,
        })
    }
    /// The break criterion (default: errors > 1% or p95 > 1s).
    pub fn with_break(mut self, criterion: BreakCriterion) -> Self {
        self.criterion = criterion;
        self
    }
    /// What is targeted, for evidence.
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Runs the steps until one breaks or `max` is reached.
    pub async fn run<F, Fut>(&self, transaction: F) -> Result<StressReport>
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), ErrorClass>> + Send + 'static,
    {
        let transaction = Arc::new(transaction);
        let mut steps = Vec::new();
        let mut rate = self.start;
        let max_steps = ((self.max - self.start) / self.step).floor() as usize + 1;
        for _ in 0..max_steps.min(1000) {
            let model = Model::constant_rate(rate, self.step_duration)?;
            let t = transaction.clone();
            let report = Load::new(&self.name, model)
                .with_drain(self.criterion.max_p95 * 2)
                .run(move |i| t(i))
                .await?;
            let p95 = report.percentile(Percentile::P95);
            let error_rate = report.error_rate();
            let broke = error_rate > self.criterion.max_error_rate || p95 > self.criterion.max_p95;
            steps.push(Step {
                rate,
                achieved: report.throughput(self.step_duration),
                p95_ms: p95.as_secs_f64() * 1e3,
                error_rate,
                broke,
            });
            if broke {
                break;
            }
            rate += self.step;
        }
        let ceiling = steps
            .iter()
            .take_while(|s| !s.broke)
            .last()
            .map(|s| s.achieved);
        Ok(StressReport {
            name: self.name.clone(),
            scenario: format!(
                "steps of +{}/s from {}/s to at most {}/s, {} each; a step breaks at errors > {} or p95 > {}",
                self.step,
                self.start,
                self.max,
                Quantity::duration(self.step_duration),
                Quantity::ratio(self.criterion.max_error_rate),
                Quantity::duration(self.criterion.max_p95)
            ),
            steps,
            criterion: self.criterion,
            ceiling,
            target: self.target.clone(),
        })
    }
}

/// `load.capacity`: the stress ceiling is at least `min_per_second`.
pub fn try_assert_capacity_at_least(
    report: &StressReport,
    min_per_second: f64,
) -> Result<Evidence, Failure> {
    let mut check = Check::new(
        "load.capacity",
        format!(
            "capacity of {} at least {}",
            report.name,
            Quantity::per_second(min_per_second)
        ),
        Category::CAPACITY,
    )
    .with_scenario(&report.scenario)
    .with_attachment(Attachment::new(
        "stress_steps",
        "stress_steps/v1",
        serde_json::to_value(report).unwrap_or(serde_json::Value::Null),
    ));
    if let Some(t) = &report.target {
        check = check.with_target(t);
    }
    let broke = report.steps.iter().find(|s| s.broke);
    let summary = match (report.ceiling, broke) {
        (Some(c), Some(b)) => format!(
            "ceiling {} (last step that held); broke at {}/s: p95 {:.1}ms, errors {}",
            Quantity::per_second(c.round()),
            b.rate,
            b.p95_ms,
            Quantity::ratio(b.error_rate)
        ),
        (Some(c), None) => format!(
            "ceiling at least {} (no step broke up to the maximum rate)",
            Quantity::per_second(c.round())
        ),
        (None, Some(b)) => format!(
            "the first step ({}/s) already broke: p95 {:.1}ms, errors {}",
            b.rate,
            b.p95_ms,
            Quantity::ratio(b.error_rate)
        ),
        (None, None) => "no step ran".to_owned(),
    };
    let check = check.with_summary(summary);
    check.judge_with(
        Threshold::at_least(Quantity::per_second(min_per_second)),
        Quantity::per_second(report.ceiling.unwrap_or(0.0)),
    )
}

/// Panics unless [`try_assert_capacity_at_least`] passes.
#[track_caller]
pub fn assert_capacity_at_least(report: &StressReport, min_per_second: f64) -> Evidence {
    try_assert_capacity_at_least(report, min_per_second).or_panic()
}

/// A spike: `baseline` per second for `before`, `factor` times that for `spike`, then the
/// baseline again for `after`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spike {
    /// Baseline rate.
    pub baseline: f64,
    /// The spike's multiple of the baseline (5.0 for "a 5x spike").
    pub factor: f64,
    /// Baseline time before the spike.
    pub before: Duration,
    /// Spike length.
    pub spike: Duration,
    /// Baseline time after the spike (recovery must happen within it).
    pub after: Duration,
}

/// What a spike run measured.
#[derive(Debug, Clone)]
pub struct SpikeReport {
    /// The whole run.
    pub report: Report,
    /// The spike.
    pub spike: Spike,
    /// Upper edge of the baseline band (p95 of the seconds before the spike x 1.5, at
    /// least + 5 ms).
    pub band: Duration,
    /// Whole seconds from the end of the spike until every later second's p95 is in the
    /// band; `None` if it never got back.
    pub recovery: Option<Duration>,
    /// p95 of each second (ms).
    pub p95_per_second: Vec<f64>,
}

impl Spike {
    /// The model: baseline, a step up to the spike, a step back down, baseline.
    pub fn model(&self) -> Result<Model> {
        let edge = Duration::from_millis(1);
        let peak = self.baseline * self.factor;
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(Error::InvalidInput(format!(
                "a spike factor must be 1 or more, got {}",
                self.factor
            )));
        }
        for (what, d) in [
            ("before", self.before),
            ("spike", self.spike),
            ("after", self.after),
        ] {
            if d < Duration::from_secs(1) {
                return Err(Error::InvalidInput(format!(
                    "the spike's {what} phase must last at least 1s"
                )));
            }
        }
        Model::ramping_rate(
            self.baseline,
            &[
                RateStage {
                    duration: self.before - edge,
                    target: self.baseline,
                },
                RateStage {
                    duration: edge,
                    target: peak,
                },
                RateStage {
                    duration: self.spike - edge,
                    target: peak,
                },
                RateStage {
                    duration: edge,
                    target: self.baseline,
                },
                RateStage {
                    duration: self.after - edge,
                    target: self.baseline,
                },
            ],
        )
    }

    /// Runs the spike and finds the recovery time.
    pub async fn run<F, Fut>(&self, name: &str, transaction: F) -> Result<SpikeReport>
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), ErrorClass>> + Send + 'static,
    {
        let report = Load::new(name, self.model()?).run(transaction).await?;
        let seconds = &report.metrics.seconds;
        let p95: Vec<f64> = seconds
            .iter()
            .map(|s| percentile(&s.latency(), Percentile::P95).as_secs_f64() * 1e3)
            .collect();
        let before = self.before.as_secs() as usize;
        let mut base = crate::metrics::histogram();
        // Skip the first second (warm-up) when there is more than one.
        for s in seconds.iter().take(before).skip(usize::from(before > 1)) {
            let _ = base.add(&*s.latency());
        }
        let base_p95 = percentile(&base, Percentile::P95);
        let band = (base_p95.mul_f64(1.5)).max(base_p95 + Duration::from_millis(5));
        let spike_end = (self.before + self.spike).as_secs() as usize;
        let band_ms = band.as_secs_f64() * 1e3;
        let recovered = (spike_end..p95.len()).find(|&s| p95[s..].iter().all(|v| *v <= band_ms));
        Ok(SpikeReport {
            report,
            spike: *self,
            band,
            recovery: recovered.map(|s| Duration::from_secs((s - spike_end) as u64)),
            p95_per_second: p95,
        })
    }
}

/// `load.spike_recovery`: after the spike, p95 is back in the baseline band within `limit`.
pub fn try_assert_spike_recovers_within(
    report: &SpikeReport,
    limit: Duration,
) -> Result<Evidence, Failure> {
    let s = &report.spike;
    let check = Check::new(
        "load.spike_recovery",
        format!(
            "{} recovers from a {}x spike within {}",
            report.report.name,
            s.factor,
            Quantity::duration(limit)
        ),
        Category::RELIABILITY,
    )
    .with_started_at(report.report.started_at)
    .with_scenario(format!(
        "{}/s for {}, {}/s for {}, {}/s for {}",
        s.baseline,
        Quantity::duration(s.before),
        s.baseline * s.factor,
        Quantity::duration(s.spike),
        s.baseline,
        Quantity::duration(s.after)
    ))
    .with_summary(format!(
        "recovery {} (baseline band p95 <= {}; p95 per second: {})",
        report
            .recovery
            .map(|d| Quantity::duration(d).to_string())
            .unwrap_or_else(|| "never".into()),
        Quantity::duration(report.band),
        report
            .p95_per_second
            .iter()
            .map(|v| format!("{v:.0}ms"))
            .collect::<Vec<_>>()
            .join(" ")
    ))
    .with_attachment(Attachment::new(
        "spike",
        "spike/v1",
        serde_json::json!({
            "p95_ms_per_second": report.p95_per_second,
            "band_ms": report.band.as_secs_f64() * 1e3,
            "spike_start_s": s.before.as_secs_f64(),
            "spike_end_s": (s.before + s.spike).as_secs_f64(),
            "recovery_s": report.recovery.map(|d| d.as_secs_f64()),
        }),
    ));
    let observed = report.recovery.unwrap_or(s.after + Duration::from_secs(1));
    check.judge_with(
        Threshold::at_most(Quantity::duration(limit)),
        Quantity::duration(observed),
    )
}

/// Panics unless [`try_assert_spike_recovers_within`] passes.
#[track_caller]
pub fn assert_spike_recovers_within(report: &SpikeReport, limit: Duration) -> Evidence {
    try_assert_spike_recovers_within(report, limit).or_panic()
}
