//! Stress (step the rate up until a break criterion; the capacity ceiling) and spike
//! (baseline, spike, baseline; time until latency is back in the baseline band).

use std::sync::Arc;
use std::time::Duration;

use readiness_core::{
    Category, Check, CheckResultExt, Error, Evidence, Failure, Observation, Percentile, Quantity,
    Rate, Ratio, Recorder, Result, SpikeRecovery, StressStep, StressSteps, Threshold,
};

use crate::load::Load;
use crate::metrics::{Second, percentile};
use crate::report::Report;
use crate::schedule::{Model, RateStage};
use crate::transaction::Transaction;

/// When a stress step counts as broken: errors over `max_error_rate`, p95 over `max_p95`
/// (the seeds' "stop when errors > 1% or p95 > 1000 ms"), or less achieved than
/// `min_held` of the offered rate (a queue that grows: the target no longer keeps up,
/// however long it lets requests wait).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakCriterion {
    /// The highest error rate a step may have.
    pub max_error_rate: Ratio,
    /// The highest p95 a step may have.
    pub max_p95: Duration,
    /// The least share of the offered rate a step must complete inside it.
    pub min_held: Ratio,
}

impl BreakCriterion {
    /// Breaks at errors over `max_error_rate` or p95 over `max_p95`, or below 90% of the
    /// offered rate completed inside the step.
    pub fn new(max_error_rate: Ratio, max_p95: Duration) -> Self {
        BreakCriterion {
            max_error_rate,
            max_p95,
            min_held: Self::HELD,
        }
    }
    /// The least share of the offered rate a step must complete inside it (default 90%).
    pub fn with_min_held(mut self, share: Ratio) -> Self {
        self.min_held = share;
        self
    }

    const HELD: Ratio = match Ratio::new_const(0.9) {
        Some(r) => r,
        None => Ratio::ONE,
    };
}

impl Default for BreakCriterion {
    /// Errors > 1%, p95 > 1 s, or under 90% of the offered rate achieved.
    fn default() -> Self {
        BreakCriterion::new(
            Ratio::new_const(0.01).unwrap_or(Ratio::ZERO),
            Duration::from_secs(1),
        )
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

/// What a stress run found: the steps judged against the break criterion (the same
/// [`StressSteps`] the evidence keeps) and the ceiling.
#[derive(Debug, Clone)]
pub struct StressReport {
    name: String,
    steps: StressSteps,
    target: Option<String>,
    scenario: String,
    recorder: Option<Recorder>,
    /// Where it ran when that was staging ([`Staging::describe`](readiness_core::guard::Staging::describe)).
    remote: Option<String>,
}

impl StressReport {
    /// The transaction.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The steps run, in order (the last one broke, unless `max` was reached first).
    pub fn steps(&self) -> &[StressStep] {
        &self.steps.steps
    }
    /// The steps with the criterion they were judged by.
    pub fn judged(&self) -> &StressSteps {
        &self.steps
    }
    /// The achieved rate of the highest step that held (what completed inside it, per
    /// second); `None` when the first step broke.
    pub fn ceiling(&self) -> Option<Rate> {
        self.steps.ceiling
    }
    /// What was targeted.
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }
    /// "steps of +40/s from 200/s, 2s each, break at errors > 1% or p95 > 1s".
    pub fn scenario(&self) -> &str {
        &self.scenario
    }
}

impl Stress {
    /// Steps from `start` by `step` up to `max`, `step_duration` each (whole seconds: the
    /// achieved rate is what completed inside them).
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
    /// The break criterion (default: errors > 1%, p95 > 1s, or under 90% of the offered
    /// rate achieved).
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

    /// Runs the steps until one breaks or `max` is reached. Each step is a load of its
    /// own: its achieved rate counts the successes that completed inside the step, and
    /// the drain after it lets the backlog clear before the next.
    pub async fn run(&self, transaction: impl Transaction) -> Result<StressReport> {
        transaction.check()?;
        let remote = match transaction.staging() {
            Some(staging) => {
                staging.check_destructive("a stress")?;
                Some(staging.describe())
            }
            None => None,
        };
        let target = self.target.clone().or_else(|| transaction.target());
        let transaction = Arc::new(transaction);
        let c = self.criterion;
        let mut judged = StressSteps::new(Vec::new(), c.max_error_rate, c.max_p95, c.min_held);
        let mut rate = self.start;
        let max_steps = ((self.max - self.start) / self.step).floor() as usize + 1;
        for _ in 0..max_steps.min(1000) {
            let model = Model::constant_rate(rate, self.step_duration)?;
            let t = transaction.clone();
            let report = Load::new(&self.name, model)
                .with_drain(c.max_p95 * 2)
                .run(move |i| {
                    let t = t.clone();
                    async move { t.call(i).await }
                })
                .await?;
            let mut step = StressStep::new(
                Rate::per_second(rate)?,
                report.throughput().unwrap_or(Rate::ZERO),
                report.percentile(Percentile::P95),
                report.error_rate(),
                report.attempts(),
            );
            step.broke = judged.judge_step(&step).is_some();
            let broke = step.broke;
            judged.steps.push(step);
            if broke {
                break;
            }
            rate += self.step;
        }
        judged.ceiling = judged.derive_ceiling();
        Ok(StressReport {
            name: self.name.clone(),
            scenario: format!(
                "steps of +{}/s from {}/s to at most {}/s, {} each; a step breaks at errors > {}, p95 > {} or under {} of the offered rate completed inside it",
                self.step,
                self.start,
                self.max,
                Quantity::duration(self.step_duration),
                c.max_error_rate,
                Quantity::duration(c.max_p95),
                c.min_held
            ),
            steps: judged,
            target,
            recorder: self.recorder.clone(),
            remote,
        })
    }
}

fn step_text(steps: &StressSteps, s: &StressStep) -> String {
    let p95 = s
        .p95
        .map_or_else(|| "-".into(), |d| Quantity::duration(d).to_string());
    let errors = s.error_rate.map_or_else(|| "-".into(), |r| r.to_string());
    let why = steps
        .judge_step(s)
        .map(|w| format!("; {w}"))
        .unwrap_or_default();
    format!(
        "{}: achieved {}, p95 {p95}, errors {errors}{why}",
        s.rate, s.achieved
    )
}

/// `load.capacity`: the stress ceiling is at least `min`. The ceiling is the achieved rate
/// (completed inside the step) of the highest step that held. When no step broke, the
/// capacity is at least that; when the first step broke, at most the first rate: a bound
/// decides only what it can, the rest is verdict `error` (start lower, or go higher).
pub fn try_assert_capacity_at_least(report: &StressReport, min: Rate) -> Result<Evidence, Failure> {
    let steps = &report.steps;
    let mut check = Check::new(
        "load.capacity",
        format!("capacity of {} at least {min}", report.name),
        Category::CAPACITY,
    )
    .with_subject(format!("{}/load.capacity", report.name))
    .with_threshold(Threshold::at_least(min))
    .with_scenario(&report.scenario)
    .with_attachment(steps.clone());
    if let Some(t) = &report.target {
        check = check.with_target(t);
    }
    if let Some(r) = &report.recorder {
        check = check.with_recorder(r.clone());
    }
    if let Some(remote) = &report.remote {
        check = check.with_remote(remote);
    }
    let broke = steps.steps.iter().find(|s| s.broke);
    let observed = match (steps.ceiling, broke, steps.steps.first()) {
        (_, _, None) => return Err(check.nothing_measured("no stress step ran")),
        (Some(c), Some(b), _) => Observation::new(c).with_summary(format!(
            "ceiling {} (achieved by the highest step that held); broke at {}",
            Quantity::per_second(c.value().round()),
            step_text(steps, b)
        )),
        (Some(c), None, _) => Observation::at_least(c).with_summary(format!(
            "no step broke up to the maximum rate: the capacity is at least {}",
            Quantity::per_second(c.value().round())
        )),
        (None, _, Some(first)) => Observation::at_most(first.rate).with_summary(format!(
            "the first step already broke ({}): the capacity is below it",
            step_text(steps, first)
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
    pub baseline: Rate,
    /// The spike's multiple of the baseline (5.0 for "a 5x spike").
    pub factor: f64,
    /// Baseline time before the spike.
    pub before: Duration,
    /// Spike length.
    pub spike: Duration,
    /// Baseline time after the spike (recovery must happen within it).
    pub after: Duration,
}

/// What a spike run measured: the run, and p95 per second against the baseline band (the
/// same [`SpikeRecovery`] the evidence keeps).
#[derive(Debug, Clone)]
pub struct SpikeReport {
    report: Report,
    spike: Spike,
    recovery: Option<SpikeRecovery>,
    /// The band is the service's objective ([`SpikeReport::with_objective`]), not the
    /// baseline's.
    objective: bool,
}

impl SpikeReport {
    /// The whole run.
    pub fn report(&self) -> &Report {
        &self.report
    }
    /// The spike.
    pub fn spike(&self) -> &Spike {
        &self.spike
    }
    /// p95 per second, the band and the recovery; `None` when nothing was timed before the
    /// spike (there is no band to come back to).
    pub fn recovery(&self) -> Option<&SpikeRecovery> {
        self.recovery.as_ref()
    }
    /// Upper edge of the baseline band (p95 of the seconds before the spike x 1.5, at
    /// least + 5 ms); `None` when nothing was timed before the spike.
    pub fn band(&self) -> Option<Duration> {
        self.recovery.as_ref().map(|r| r.band)
    }
    /// The same run judged against the service's latency objective (`band`: p95 of every
    /// second after the spike at most this) instead of the baseline's p95 × 1.5. A relative
    /// band of a few dozen samples a second moves with every noisy second of a busy
    /// machine; "back within the objective" does not, and it is what a person asks of a
    /// spike. The recovery is derived the same way, from the same p95 of each second.
    pub fn with_objective(mut self, band: Duration) -> Self {
        let p95 = p95_per_second(self.report.metrics().seconds());
        let s = self.spike;
        self.recovery = Some(SpikeRecovery::new(
            p95,
            band,
            (s.before, s.before + s.spike),
        ));
        self.objective = true;
        self
    }
    /// Whole seconds from the end of the spike until every later second's p95 is in the
    /// band; `None` if it was not back by the end of the run.
    pub fn recovery_time(&self) -> Option<Duration> {
        self.recovery.as_ref().and_then(|r| r.recovery)
    }
}

impl Spike {
    /// The model: baseline, a step up to the spike, a step back down, baseline.
    pub fn model(&self) -> Result<Model> {
        let edge = Duration::from_millis(1);
        let baseline = self.baseline.value();
        let peak = baseline * self.factor;
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
        let stage = |duration, target| RateStage { duration, target };
        Model::ramping_rate(
            baseline,
            &[
                stage(self.before - edge, baseline),
                stage(edge, peak),
                stage(self.spike - edge, peak),
                stage(edge, baseline),
                stage(self.after - edge, baseline),
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
        if let Some(staging) = transaction.staging() {
            staging.check_destructive("a spike")?;
        }
        let load = load.clone().with_model(self.model()?);
        let report = load.run(transaction).await?;
        let seconds = report.metrics().seconds();
        let p95 = p95_per_second(seconds);
        let before = self.before.as_secs() as usize;
        let mut base = crate::metrics::histogram();
        // Skip the first second (warm-up) when there is more than one.
        for s in seconds.iter().take(before).skip(usize::from(before > 1)) {
            let _ = base.add(&*s.latency());
        }
        let band = percentile(&base, Percentile::P95)
            .map(|p| p.mul_f64(1.5).max(p + Duration::from_millis(5)));
        let recovery =
            band.map(|band| SpikeRecovery::new(p95, band, (self.before, self.before + self.spike)));
        Ok(SpikeReport {
            report,
            spike: *self,
            recovery,
            objective: false,
        })
    }
}

/// The p95 of each second (`None` for a second where nothing was timed).
fn p95_per_second(seconds: &[Second]) -> Vec<Option<Duration>> {
    seconds
        .iter()
        .map(|s| percentile(&s.latency(), Percentile::P95))
        .collect()
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
    let mut check = crate::assertions::check_of(
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
        "{} for {}, {} for {}, {} for {}",
        s.baseline,
        Quantity::duration(s.before),
        Quantity::per_second(s.baseline.value() * s.factor),
        Quantity::duration(s.spike),
        s.baseline,
        Quantity::duration(s.after)
    ));
    let Some(recovery) = &report.recovery else {
        return Err(check.nothing_measured("no iteration was timed before the spike"));
    };
    check = check
        .with_summary(format!(
            "{} p95 <= {}; p95 per second: {}",
            if report.objective {
                "objective"
            } else {
                "baseline band"
            },
            ms(&Some(recovery.band)),
            recovery
                .p95_per_second
                .iter()
                .map(ms)
                .collect::<Vec<_>>()
                .join(" ")
        ))
        .with_attachment(recovery.clone());
    match recovery.recovery {
        Some(d) => check.judge(d),
        None => check.judge(Observation::at_least(s.after)),
    }
}

/// Panics unless [`try_assert_spike_recovers_within`] passes.
#[track_caller]
pub fn assert_spike_recovers_within(report: &SpikeReport, limit: Duration) -> Evidence {
    try_assert_spike_recovers_within(report, limit).or_panic()
}
