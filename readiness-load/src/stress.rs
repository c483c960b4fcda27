//! Stress (step the rate up until a break criterion; the capacity ceiling) and spike
//! (baseline, spike, baseline; time until latency is back in the baseline band).

use std::sync::Arc;
use std::time::Duration;

use readiness_core::{
    Category, Check, CheckResultExt, Error, Evidence, Failure, Observation, Percentile, Quantity,
    Rate, Recorder, Result, SpikeRecovery, StressStep, StressSteps, Threshold,
};

use crate::load::Load;
use crate::metrics::percentile;
use crate::report::Report;
use crate::schedule::{Model, RateStage};
use crate::transaction::Transaction;

/// When a stress step counts as broken: errors over `max_error_rate` or p95 over `max_p95`
/// (the seeds' "stop when errors > 1% or p95 > 1000 ms").
#[derive(Debug, Clone, Copy, PartialEq)]
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
    recorder: Option<Recorder>,
}

/// What a stress run found.
#[derive(Debug, Clone)]
pub struct StressReport {
    /// The transaction.
    pub name: String,
    /// The steps run, in order (the last one broke, unless `max` was reached first).
    pub steps: Vec<StressStep>,
    /// The criterion.
    pub criterion: BreakCriterion,
    /// Achieved throughput of the last step that held; `None` when the first step broke.
    pub ceiling: Option<f64>,
    /// What was targeted.
    pub target: Option<String>,
    /// "steps of +40/s from 200/s, 2s each, break at errors > 1% or p95 > 1s".
    pub scenario: String,
    /// Where assertions on this report record their evidence.
    pub recorder: Option<Recorder>,
}

impl Stress {
    /// Steps from `start` by `step` up to `max`, `step_duration` each.
    pub fn new(
        name: impl Into<String>,
        start: Rate,
        step: Rate,
        max: Rate,
        step_duration: Duration,
    ) -> Result<Self> {
        let (start, step, max) = (start.value(), step.value(), max.value());
        if start <= 0.0 || step <= 0.0 || max < start {
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
            recorder: None,
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
    /// Where assertions on the report record their evidence.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Runs the steps until one breaks or `max` is reached.
    pub async fn run(&self, transaction: impl Transaction) -> Result<StressReport> {
        transaction.check()?;
        let target = self.target.clone().or_else(|| transaction.target());
        let transaction = Arc::new(transaction);
        let mut steps = Vec::new();
        let mut rate = self.start;
        let max_steps = ((self.max - self.start) / self.step).floor() as usize + 1;
        for _ in 0..max_steps.min(1000) {
            let model = Model::constant_rate(rate, self.step_duration)?;
            let t = transaction.clone();
            let report = Load::new(&self.name, model)
                .with_drain(self.criterion.max_p95 * 2)
                .run(move |i| {
                    let t = t.clone();
                    async move { t.call(i).await }
                })
                .await?;
            let p95 = report.percentile(Percentile::P95);
            let error_rate = report.error_rate().map(|r| r.value());
            // A step where nothing was timed, or nothing was due, held nothing.
            let broke = error_rate.is_none_or(|e| e > self.criterion.max_error_rate)
                || p95.is_none_or(|p| p > self.criterion.max_p95);
            steps.push(StressStep::new(
                rate,
                report.throughput().map_or(0.0, |r| r.value()),
                p95.map(|p| p.as_micros() as u64),
                error_rate,
                report.attempts(),
                broke,
            ));
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
            target,
            recorder: self.recorder.clone(),
        })
    }
}

fn step_text(s: &StressStep) -> String {
    let p95 = s.p95_us.map_or_else(
        || "-".into(),
        |us| Quantity::duration(Duration::from_micros(us)).to_string(),
    );
    let errors = s
        .error_rate
        .map_or_else(|| "-".into(), |r| Quantity::ratio(r).to_string());
    format!("{}/s: p95 {p95}, errors {errors}", s.rate)
}

/// `load.capacity`: the stress ceiling is at least `min`. The ceiling is the achieved rate
/// of the last step that held. When no step broke, the capacity is at least that; when
/// the first step broke, at most the first rate: a bound decides only what it can, the
/// rest is verdict `error` (start lower, or go higher).
pub fn try_assert_capacity_at_least(report: &StressReport, min: Rate) -> Result<Evidence, Failure> {
    let mut check = Check::new(
        "load.capacity",
        format!("capacity of {} at least {min}", report.name),
        Category::CAPACITY,
    )
    .with_subject(format!("{}/load.capacity", report.name))
    .with_threshold(Threshold::at_least(min))
    .with_scenario(&report.scenario)
    .with_attachment(StressSteps::new(
        report.steps.clone(),
        report.criterion.max_error_rate,
        report.criterion.max_p95,
        report.ceiling,
    ));
    if let Some(t) = &report.target {
        check = check.with_target(t);
    }
    if let Some(r) = &report.recorder {
        check = check.with_recorder(r.clone());
    }
    let broke = report.steps.iter().find(|s| s.broke);
    let observed = match (report.ceiling, broke, report.steps.first()) {
        (_, _, None) => return Err(check.nothing_measured("no stress step ran")),
        (Some(c), Some(b), _) => Observation::new(Quantity::per_second(c)).with_summary(format!(
            "ceiling {} (last step that held); broke at {}",
            Quantity::per_second(c.round()),
            step_text(b)
        )),
        (Some(c), None, _) => Observation::at_least(Quantity::per_second(c)).with_summary(format!(
            "no step broke up to the maximum rate: the capacity is at least {}",
            Quantity::per_second(c.round())
        )),
        (None, _, Some(first)) => Observation::at_most(Quantity::per_second(first.rate))
            .with_summary(format!(
                "the first step already broke ({}): the capacity is below it",
                step_text(first)
            )),
    };
    check
        .with_hint("a stress that never broke or broke at once says only a bound: widen the steps")
        .judge(observed)
}

/// Panics unless [`try_assert_capacity_at_least`] passes.
#[track_caller]
pub fn assert_capacity_at_least(report: &StressReport, min: Rate) -> Evidence {
    try_assert_capacity_at_least(report, min).or_panic()
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
    /// least + 5 ms); `None` when nothing was timed before the spike.
    pub band: Option<Duration>,
    /// Whole seconds from the end of the spike until every later second's p95 is in the
    /// band; `None` if it was not back by the end of the run.
    pub recovery: Option<Duration>,
    /// p95 of each second; `None` for a second where nothing was timed.
    pub p95_per_second: Vec<Option<Duration>>,
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

    /// A load of the spike's model named `name`, to give [`Spike::run`] its bounds and
    /// recorder.
    pub fn load(&self, name: impl Into<String>) -> Result<Load> {
        Ok(Load::new(name, self.model()?))
    }

    /// Runs the spike with the name, target, bounds and recorder of `load` (made by
    /// [`Spike::load`]; the spike's model is used whatever `load`'s is) and finds the
    /// recovery time.
    pub async fn run(&self, load: &Load, transaction: impl Transaction) -> Result<SpikeReport> {
        let load = load.clone().with_model(self.model()?);
        let report = load.run(transaction).await?;
        let seconds = &report.metrics.seconds;
        let p95: Vec<Option<Duration>> = seconds
            .iter()
            .map(|s| percentile(&s.latency(), Percentile::P95))
            .collect();
        let before = self.before.as_secs() as usize;
        let mut base = crate::metrics::histogram();
        // Skip the first second (warm-up) when there is more than one.
        for s in seconds.iter().take(before).skip(usize::from(before > 1)) {
            let _ = base.add(&*s.latency());
        }
        let band = percentile(&base, Percentile::P95)
            .map(|p| p.mul_f64(1.5).max(p + Duration::from_millis(5)));
        let spike_end = (self.before + self.spike).as_secs() as usize;
        let recovered = band.and_then(|band| {
            (spike_end..p95.len()).find(|&s| p95[s..].iter().all(|v| v.is_some_and(|v| v <= band)))
        });
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
/// Not back by the end of the run is a lower bound: it decides a limit shorter than the
/// time after the spike; a longer one is verdict `error` (run longer after the spike).
pub fn try_assert_spike_recovers_within(
    report: &SpikeReport,
    limit: Duration,
) -> Result<Evidence, Failure> {
    let s = &report.spike;
    let ms = |d: &Option<Duration>| {
        d.map_or_else(|| "-".into(), |d| format!("{:.0}ms", d.as_secs_f64() * 1e3))
    };
    let check = crate::assertions::check_of(
        &report.report,
        "load.spike_recovery",
        format!(
            "{} recovers from a {}x spike within {}",
            report.report.name,
            s.factor,
            Quantity::duration(limit)
        ),
        Category::RELIABILITY,
    )
    .with_threshold(Threshold::at_most(limit))
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
        "baseline band p95 <= {}; p95 per second: {}",
        ms(&report.band),
        report
            .p95_per_second
            .iter()
            .map(ms)
            .collect::<Vec<_>>()
            .join(" ")
    ))
    .with_attachment(SpikeRecovery::new(
        report
            .p95_per_second
            .iter()
            .map(|d| d.map(|d| d.as_micros() as u64))
            .collect(),
        report.band.unwrap_or_default(),
        (s.before, s.before + s.spike),
        report.recovery,
    ));
    if report.band.is_none() {
        return Err(check.nothing_measured("no iteration was timed before the spike"));
    }
    match report.recovery {
        Some(d) => check.judge(d),
        None => check.judge(Observation::at_least(s.after)),
    }
}

/// Panics unless [`try_assert_spike_recovers_within`] passes.
#[track_caller]
pub fn assert_spike_recovers_within(report: &SpikeReport, limit: Duration) -> Evidence {
    try_assert_spike_recovers_within(report, limit).or_panic()
}
