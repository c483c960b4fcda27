//! The raw data a record keeps so its numbers can be derived again: one serde type per
//! kind, its kind string defined once (`T::KIND`). Writers attach these types and the
//! report reads the same types back; nobody picks JSON apart by hand.
//!
//! On disk an attachment is `{"kind": "<kind>", "data": {..}}`. A kind this version does
//! not know (a newer writer, a team's own check) is kept as [`Attachment::Other`].

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::histogram;
use crate::quantity::{Rate, Ratio};
pub use crate::security_evidence::{
    LimitedRequest, RateLimitTimeline, SecurityItem, SecurityReport, Severity,
    VulnerabilityFinding, VulnerabilityFindings,
};

/// An attachment type: its serde form is the `data` of `{"kind": KIND, "data": ..}`.
pub trait AttachmentKind: Serialize + for<'de> Deserialize<'de> + Into<Attachment> {
    /// The kind string, with its version (`timeline/v2`).
    const KIND: &'static str;
    /// The data of `a` when it is of this kind.
    fn of(a: &Attachment) -> Option<&Self>;
}

/// An HDR histogram of latencies in microseconds, in HDR's V2 format and base64; decoded
/// on demand ([`EncodedHistogram::decode`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EncodedHistogram(String);

impl EncodedHistogram {
    /// Encodes `h`.
    pub fn encode(h: &Histogram<u64>) -> Self {
        EncodedHistogram(histogram::encode(h))
    }
    /// From HDR's V2 bytes.
    pub fn from_v2(bytes: &[u8]) -> Self {
        EncodedHistogram(histogram::v2_to_base64(bytes))
    }
    /// The histogram, or why it cannot be read.
    pub fn decode(&self) -> Result<Histogram<u64>> {
        histogram::decode(&self.0).ok_or_else(|| {
            Error::InvalidInput("a latency histogram is not HDR V2 in base64".into())
        })
    }
    /// The base64 text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The latency distribution of a whole run (µs): every finished iteration, and every
/// iteration still running when the run ended at its age then (a lower bound of its
/// latency). A [`crate::Combine::LatencyDistribution`] criterion is judged on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LatencyHistogram {
    /// The transaction measured.
    pub transaction: String,
    /// The histogram, in microseconds.
    pub histogram: EncodedHistogram,
    /// How many shards were merged into it (absent: one process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<usize>,
}

impl LatencyHistogram {
    /// The histogram of `transaction`.
    pub fn new(transaction: impl Into<String>, histogram: EncodedHistogram) -> Self {
        LatencyHistogram {
            transaction: transaction.into(),
            histogram,
            merged_from: None,
        }
    }
}

/// One second of a run, by intended start time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TimelineSecond {
    /// Seconds from the start of the run.
    pub second: u64,
    /// Iterations that succeeded.
    pub ok: u64,
    /// Iterations that failed, by class (`timeout`, `5xx`, `not started`, `unfinished`, ..).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, u64>,
    /// The latency a latency criterion judges (µs): the iterations that got the expected
    /// answer, and those whose latency is a lower bound of it (timed out, unfinished).
    pub histogram: EncodedHistogram,
    /// The latency of the other failures that finished (µs): fast errors, which latency
    /// criteria do not judge. Absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_histogram: Option<EncodedHistogram>,
}

impl TimelineSecond {
    /// A second.
    pub fn new(
        second: u64,
        ok: u64,
        errors: BTreeMap<String, u64>,
        histogram: EncodedHistogram,
    ) -> Self {
        TimelineSecond {
            second,
            ok,
            errors,
            histogram,
            failed_histogram: None,
        }
    }
    /// Failed iterations of the second.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// One second added up over shards: successes, errors by class, judged and failed latency.
type Counts = (
    u64,
    BTreeMap<String, u64>,
    Histogram<u64>,
    Option<Histogram<u64>>,
);

/// A run second by second: successes, errors by class and latency; iterations that could
/// not start or never finished are errors of their intended second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Timeline {
    /// The transaction measured.
    pub transaction: String,
    /// Every second of the run, in order.
    pub seconds: Vec<TimelineSecond>,
    /// p99 of the scheduling lag of the open model (µs), when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_p99_us: Option<u64>,
    /// How many shards were merged into it (absent: one process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<usize>,
}

fn add(into: &mut Histogram<u64>, h: &Histogram<u64>) -> Result<()> {
    into.add(h)
        .map_err(|e| Error::InvalidInput(format!("cannot add latency histograms: {e}")))
}

impl Timeline {
    /// A timeline of `transaction`.
    pub fn new(transaction: impl Into<String>, seconds: Vec<TimelineSecond>) -> Self {
        Timeline {
            transaction: transaction.into(),
            seconds,
            lag_p99_us: None,
            merged_from: None,
        }
    }
    /// (failed, all) iterations over the whole run.
    pub fn counts(&self) -> (u64, u64) {
        self.seconds.iter().fold((0, 0), |(f, a), s| {
            let failed = s.failed();
            (f + failed, a + failed + s.ok)
        })
    }
    /// The judged latency of the whole run: every second's histogram added.
    pub fn judged_latency(&self) -> Result<Histogram<u64>> {
        let mut total = histogram::new_latency();
        for s in &self.seconds {
            add(&mut total, &s.histogram.decode()?)?;
        }
        Ok(total)
    }
    /// Adds another timeline (a shard of the same load) second by second.
    pub fn absorb(&mut self, other: &Timeline) -> Result<()> {
        let mut by_second: BTreeMap<u64, Counts> = BTreeMap::new();
        for s in self.seconds.iter().chain(&other.seconds) {
            let h = s.histogram.decode()?;
            let failed = s
                .failed_histogram
                .as_ref()
                .map(|f| f.decode())
                .transpose()?;
            match by_second.get_mut(&s.second) {
                Some((ok, errors, mine, my_failed)) => {
                    *ok += s.ok;
                    for (k, v) in &s.errors {
                        *errors.entry(k.clone()).or_insert(0) += v;
                    }
                    add(mine, &h)?;
                    match (my_failed.as_mut(), failed) {
                        (Some(m), Some(f)) => add(m, &f)?,
                        (None, Some(f)) => *my_failed = Some(f),
                        (_, None) => {}
                    }
                }
                None => {
                    by_second.insert(s.second, (s.ok, s.errors.clone(), h, failed));
                }
            }
        }
        self.seconds = by_second
            .into_iter()
            .map(|(second, (ok, errors, h, failed))| {
                let mut s = TimelineSecond::new(second, ok, errors, EncodedHistogram::encode(&h));
                s.failed_histogram = failed.map(|f| EncodedHistogram::encode(&f));
                s
            })
            .collect();
        self.lag_p99_us = self.lag_p99_us.max(other.lag_p99_us);
        Ok(())
    }
}

/// Durations kept in microseconds on disk (`*_us` fields).
mod micros {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_micros() as u64)
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_micros)
    }

    pub(super) mod option {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        pub(in super::super) fn serialize<S: Serializer>(
            d: &Option<Duration>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.serialize_some(&(d.as_micros() as u64)),
                None => s.serialize_none(),
            }
        }
        pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Duration>, D::Error> {
            Option::<u64>::deserialize(d).map(|v| v.map(Duration::from_micros))
        }
    }
}

/// Durations kept in seconds on disk (`*_s` fields).
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// How a criterion judged in windows was judged: every `seconds` of the run on its own
/// (by intended start), and the worst window observed: the highest `percentile` of the
/// judged latency, or (without a percentile) the highest error rate. The run is the
/// record's [`Timeline`]; [`Windows::worst`] is the judgement, made again by
/// [`crate::Evidence::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Windows {
    /// The window, in whole seconds.
    pub seconds: u64,
    /// The latency percentile judged; absent: the error rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile: Option<crate::Percentile>,
}

/// The worst window of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorstWindow {
    /// Its first second.
    pub from_second: u64,
    /// Its value: the percentile, or the error rate.
    pub value: crate::Quantity,
    /// Iterations it judged.
    pub n: u64,
}

impl Windows {
    /// Latency windows of `seconds` (at least one) judged at `percentile`.
    pub fn latency(seconds: u64, percentile: crate::Percentile) -> Self {
        Windows {
            seconds: seconds.max(1),
            percentile: Some(percentile),
        }
    }
    /// Error-rate windows of `seconds` (at least one).
    pub fn error_rate(seconds: u64) -> Self {
        Windows {
            seconds: seconds.max(1),
            percentile: None,
        }
    }

    /// The worst window of `timeline`; `None` when no window has anything to judge.
    pub fn worst(&self, timeline: &Timeline) -> Result<Option<WorstWindow>> {
        let w = self.seconds.max(1);
        let mut windows: BTreeMap<u64, Vec<&TimelineSecond>> = BTreeMap::new();
        for s in &timeline.seconds {
            windows.entry(s.second / w).or_default().push(s);
        }
        let mut worst: Option<WorstWindow> = None;
        for (k, seconds) in windows {
            let found = match self.percentile {
                Some(p) => {
                    let mut h = histogram::new_latency();
                    for s in &seconds {
                        add(&mut h, &s.histogram.decode()?)?;
                    }
                    histogram::percentile(&h, p).map(|d| (crate::Quantity::duration(d), h.len()))
                }
                None => {
                    let (failed, all) = seconds
                        .iter()
                        .fold((0, 0), |(f, a), s| (f + s.failed(), a + s.failed() + s.ok));
                    (all > 0).then(|| (crate::Quantity::ratio(failed as f64 / all as f64), all))
                }
            };
            if let Some((value, n)) = found
                && worst.is_none_or(|before| value.value() > before.value.value())
            {
                worst = Some(WorstWindow {
                    from_second: k * w,
                    value,
                    n,
                });
            }
        }
        Ok(worst)
    }
}

/// One step of a stress run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StressStep {
    /// The arrival rate offered.
    pub rate: Rate,
    /// Successful iterations that completed inside the step, per second of it (answers
    /// that came in the drain after the step do not count: a queue that grows is not a
    /// rate the target sustained).
    pub achieved: Rate,
    /// p95 of the step; absent when nothing was timed.
    #[serde(rename = "p95_us", with = "micros::option", default)]
    pub p95: Option<Duration>,
    /// Failed share of the step's iterations; absent when none was due.
    pub error_rate: Option<Ratio>,
    /// Iterations due in the step.
    pub iterations: u64,
    /// Whether the step met the break criterion.
    pub broke: bool,
}

impl StressStep {
    /// A step; whether it broke is for [`StressSteps::judge_step`] to say.
    pub fn new(
        rate: Rate,
        achieved: Rate,
        p95: Option<Duration>,
        error_rate: Option<Ratio>,
        iterations: u64,
    ) -> Self {
        StressStep {
            rate,
            achieved,
            p95,
            error_rate,
            iterations,
            broke: false,
        }
    }
}

/// The steps of a stress run, the break criterion and the ceiling found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StressSteps {
    /// The steps, in order (the last one broke, unless the maximum rate came first).
    pub steps: Vec<StressStep>,
    /// A step breaks when its error rate is over this share...
    pub max_error_rate: Ratio,
    /// ...or its p95 is over this...
    #[serde(rename = "max_p95_us", with = "micros")]
    pub max_p95: Duration,
    /// ...or it achieved less than this share of the rate it was offered.
    #[serde(default = "StressSteps::default_min_held")]
    pub min_held: Ratio,
    /// Achieved rate of the highest step that held; absent when the first step broke.
    pub ceiling: Option<Rate>,
}

impl StressSteps {
    fn default_min_held() -> Ratio {
        Ratio::ZERO
    }

    /// Steps judged against a break criterion: each step's `broke` and the ceiling are
    /// derived here, the way [`crate::Evidence::verify`] derives them again.
    pub fn new(
        steps: Vec<StressStep>,
        max_error_rate: Ratio,
        max_p95: Duration,
        min_held: Ratio,
    ) -> Self {
        let mut s = StressSteps {
            steps,
            max_error_rate,
            max_p95,
            min_held,
            ceiling: None,
        };
        for i in 0..s.steps.len() {
            s.steps[i].broke = s.judge_step(&s.steps[i]).is_some();
        }
        s.ceiling = s.derive_ceiling();
        s
    }

    /// Why `step` breaks the criterion, or `None` when it held: errors over the limit,
    /// p95 over the limit, or less achieved than `min_held` of the offered rate. A step
    /// where nothing was due or timed held nothing.
    pub fn judge_step(&self, step: &StressStep) -> Option<String> {
        let Some(errors) = step.error_rate else {
            return Some("no iteration was due".into());
        };
        let Some(p95) = step.p95 else {
            return Some("nothing was timed".into());
        };
        if errors > self.max_error_rate {
            return Some(format!("errors over {}", self.max_error_rate));
        }
        if p95 > self.max_p95 {
            return Some(format!(
                "p95 over {}",
                crate::Quantity::duration(self.max_p95)
            ));
        }
        let held = step.rate.value() * self.min_held.value();
        if step.achieved.value() < held {
            return Some(format!("achieved under {} of it", self.min_held));
        }
        None
    }

    /// The ceiling: the achieved rate of the highest step before the first that broke.
    pub fn derive_ceiling(&self) -> Option<Rate> {
        self.steps
            .iter()
            .take_while(|s| !s.broke)
            .last()
            .map(|s| s.achieved)
    }
}

/// A spike run: p95 per second, the baseline band and when latency was back in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SpikeRecovery {
    /// p95 of each second; absent for a second where nothing was timed.
    #[serde(rename = "p95_us_per_second", with = "micros_vec")]
    pub p95_per_second: Vec<Option<Duration>>,
    /// Upper edge of the baseline band.
    #[serde(rename = "band_us", with = "micros")]
    pub band: Duration,
    /// When the spike started, from the start of the run.
    #[serde(rename = "spike_start_s", with = "seconds")]
    pub spike_start: Duration,
    /// When it ended.
    #[serde(rename = "spike_end_s", with = "seconds")]
    pub spike_end: Duration,
    /// From the end of the spike until p95 stayed in the band; absent: not by the end of
    /// the run.
    #[serde(rename = "recovery_s", with = "seconds_option", default)]
    pub recovery: Option<Duration>,
}

impl SpikeRecovery {
    /// The record of a spike; the recovery is derived ([`SpikeRecovery::derive_recovery`]).
    pub fn new(
        p95_per_second: Vec<Option<Duration>>,
        band: Duration,
        (spike_start, spike_end): (Duration, Duration),
    ) -> Self {
        let mut s = SpikeRecovery {
            p95_per_second,
            band,
            spike_start,
            spike_end,
            recovery: None,
        };
        s.recovery = s.derive_recovery();
        s
    }

    /// Whole seconds from the end of the spike until every later second's p95 is in the
    /// band; `None` when that never happens by the end of the run.
    pub fn derive_recovery(&self) -> Option<Duration> {
        let end = self.spike_end.as_secs() as usize;
        let p95 = &self.p95_per_second;
        (end..p95.len())
            .find(|&s| p95[s..].iter().all(|v| v.is_some_and(|v| v <= self.band)))
            .map(|s| Duration::from_secs((s - end) as u64))
    }
}

/// `Vec<Option<Duration>>` kept as microseconds.
mod micros_vec {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(
        v: &[Option<Duration>],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let us: Vec<Option<u64>> = v.iter().map(|d| d.map(|d| d.as_micros() as u64)).collect();
        us.serialize(s)
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<Option<Duration>>, D::Error> {
        let us = Vec::<Option<u64>>::deserialize(d)?;
        Ok(us
            .into_iter()
            .map(|v| v.map(Duration::from_micros))
            .collect())
    }
}

/// `Option<Duration>` kept as seconds.
mod seconds_option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(d)?
            .map(|secs| Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// A least-squares slope with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Slope {
    /// Units of y per second of x.
    pub per_second: f64,
    /// Lower end of the 95% interval.
    pub low: f64,
    /// Upper end of the 95% interval.
    pub high: f64,
    /// Points.
    pub n: usize,
}

/// A soak: p95 and the target's memory over time, and their slopes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DriftSeries {
    /// (seconds since start, p95 in ms) per second of the run.
    pub p95_ms: Vec<(f64, f64)>,
    /// (seconds since start, bytes) memory samples of the target.
    pub memory_bytes: Vec<(f64, f64)>,
}

impl DriftSeries {
    /// The series of a soak.
    pub fn new(p95_ms: Vec<(f64, f64)>, memory_bytes: Vec<(f64, f64)>) -> Self {
        DriftSeries {
            p95_ms,
            memory_bytes,
        }
    }
}

/// A linear-scaling check: throughput at each level of virtual users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScalingLevels {
    /// (virtual users, successful iterations per second).
    pub levels: Vec<(usize, f64)>,
    /// Per level: (throughput / first throughput) / (users / first users).
    pub efficiency: Vec<f64>,
}

impl ScalingLevels {
    /// The levels of a scaling check.
    pub fn new(levels: Vec<(usize, f64)>, efficiency: Vec<f64>) -> Self {
        ScalingLevels { levels, efficiency }
    }
}

/// One attempt of a probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Milliseconds from the start of the run to the start of the attempt.
    pub at_ms: f64,
    /// Whether the attempt met the probe's condition.
    pub ok: bool,
    /// How long the attempt took, in milliseconds.
    pub latency_ms: f64,
    /// What was seen ("200", "connected", "connection refused").
    pub detail: String,
}

/// The samples of one probe run and what they show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// What was probed.
    pub target: String,
    /// When the run started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Time between the starts of two attempts: the resolution of what the run measures.
    pub interval: Duration,
    /// Every attempt, in order.
    pub samples: Vec<Sample>,
    /// Time to the answer of the first good sample (not its start: an attempt that waited
    /// through the change saw the target good only when it answered).
    pub first_ok: Option<Duration>,
    /// Answer of the first attempt of the good streak that satisfied the condition of the
    /// run (for `until_ok` the first good sample; for `until_stable` the streak that
    /// lasted the settle window).
    pub condition_met_at: Option<Duration>,
    /// How long the run lasted.
    pub elapsed: Duration,
}

impl ProbeReport {
    /// The samples as an evidence attachment.
    pub fn attachment(&self) -> Attachment {
        Attachment::ProbeSamples(self.clone())
    }
}

/// Something that happened during a drill, in milliseconds from the drill's start (the
/// fault): a fault injected, a recovery action, a switch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillEvent {
    /// Milliseconds from the start of the drill.
    pub at_ms: f64,
    /// What happened (`kill SIGKILL postgres-1a2b`, `start postgres-1a2b`).
    pub what: String,
}

impl DrillEvent {
    /// An event `at_ms` after the start.
    pub fn new(at_ms: f64, what: impl Into<String>) -> Self {
        DrillEvent {
            at_ms,
            what: what.into(),
        }
    }
}

/// A recovery, from the fault to the first moment the health probe stayed good for the
/// settle window: every probe attempt, the events, and the bound of the measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RecoveryTimeline {
    /// What was probed (`tcp 127.0.0.1:5432 of postgres-1a2b`, `http://127.0.0.1:8080/health/ready`).
    pub target: String,
    /// When the fault happened: time zero of every `at_ms`.
    #[serde(with = "time::serde::rfc3339")]
    pub fault_at: OffsetDateTime,
    /// The fault, the recovery action and anything else that happened, in order.
    pub events: Vec<DrillEvent>,
    /// Time between the starts of two probe attempts.
    pub interval: Duration,
    /// How long the probe had to stay good.
    pub settle: Duration,
    /// Every probe attempt; `at_ms` counts from the fault.
    pub samples: Vec<Sample>,
    /// When the good streak that lasted the settle window began (ms from the fault): the
    /// answer of its first attempt (see [`StreakFrom`]). The recovery time as measured,
    /// an upper bound of the true one. Absent: not recovered within the deadline.
    pub recovered_at_ms: Option<f64>,
    /// Start of the last failing attempt before the recovery (ms from the fault): the true
    /// recovery lies between it and `recovered_at_ms`.
    pub last_failure_at_ms: Option<f64>,
    /// Which moment of an attempt a good streak counts from. Records written before it
    /// was kept have none and counted from the start of the attempt.
    #[serde(default)]
    pub streak_from: StreakFrom,
    /// How long the probe ran.
    pub elapsed: Duration,
}

impl RecoveryTimeline {
    /// A timeline; [`RecoveryTimeline::recovered`] finds the recovery in `samples`.
    pub fn new(
        target: impl Into<String>,
        fault_at: OffsetDateTime,
        events: Vec<DrillEvent>,
        (interval, settle): (Duration, Duration),
        samples: Vec<Sample>,
        elapsed: Duration,
    ) -> Self {
        let (recovered_at_ms, last_failure_at_ms) = Self::recovered(&samples, settle);
        RecoveryTimeline {
            target: target.into(),
            fault_at,
            events,
            interval,
            settle,
            samples,
            recovered_at_ms,
            last_failure_at_ms,
            streak_from: StreakFrom::Answer,
            elapsed,
        }
    }

    /// When the first good streak of `samples` that lasted `settle` began (the answer of
    /// its first attempt; the streak lasted once an answer came at least `settle` later),
    /// and the start of the last failing attempt before it. The true recovery lies between
    /// the two: the failing attempt saw the service bad after it started, the good one saw
    /// it good by the time it answered. A streak still running at the end counts only once
    /// it lasted `settle`.
    pub fn recovered(samples: &[Sample], settle: Duration) -> (Option<f64>, Option<f64>) {
        Self::recovered_from(samples, settle, StreakFrom::Answer)
    }

    /// [`RecoveryTimeline::recovered`] with the streak counted from `from`.
    pub fn recovered_from(
        samples: &[Sample],
        settle: Duration,
        from: StreakFrom,
    ) -> (Option<f64>, Option<f64>) {
        let settle_ms = settle.as_secs_f64() * 1e3;
        let mut streak: Option<f64> = None;
        let mut last_failure = None;
        for s in samples {
            if !s.ok {
                streak = None;
                last_failure = Some(s.at_ms);
                continue;
            }
            let at = from.of(s);
            let start = *streak.get_or_insert(at);
            if at - start >= settle_ms {
                return (Some(start), last_failure);
            }
        }
        (None, last_failure)
    }
}

/// Which moment of a good probe attempt a recovery is credited from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreakFrom {
    /// When the attempt started: how records were judged before the answer was used. It
    /// credits an attempt that waited through the recovery with the moment it began, an
    /// RTO shorter than the truth; kept only so that old records are re-judged by their
    /// own rule.
    #[default]
    Start,
    /// When the attempt answered: the service was good by then.
    Answer,
}

impl StreakFrom {
    /// The moment of `sample` this counts from, ms from time zero.
    pub fn of(self, sample: &Sample) -> f64 {
        match self {
            StreakFrom::Start => sample.at_ms,
            StreakFrom::Answer => sample.at_ms + sample.latency_ms.max(0.0),
        }
    }
}

/// What became of one write, as the writer saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteOutcome {
    /// Acknowledged: the system said it was written.
    Ok,
    /// Refused: the system said it was not written.
    Failed,
    /// Unknown: a timeout or a dropped connection; it may or may not have been written.
    Indeterminate,
}

/// One sequenced write of a history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteRecord {
    /// Its sequence number (1, 2, ..).
    pub seq: u64,
    /// When it was invoked, ms from the start of the history.
    pub invoked_ms: f64,
    /// When its outcome was known, ms from the start of the history.
    pub completed_ms: f64,
    /// What the writer saw.
    pub outcome: WriteOutcome,
    /// Whether the final read found it (absent before the final read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<bool>,
}

/// A Jepsen-style write history: every write invoked, its outcome, and what a final read
/// after the fault and the recovery found. Acknowledged and absent is *lost*;
/// indeterminate and present is *recovered*; present but never written is *unexpected*.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WriteHistory {
    /// What was written (`orders`, `redis keys`).
    pub name: String,
    /// When the history started: time zero of every `*_ms`.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Faults and recovery actions, ms from the start.
    pub events: Vec<DrillEvent>,
    /// When the fault happened, ms from the start (the end of the RPO window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_at_ms: Option<f64>,
    /// Every write, by sequence number.
    pub writes: Vec<WriteRecord>,
    /// Sequence numbers the final read found that no write produced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unexpected: Vec<u64>,
    /// Whether the final read was done.
    pub read_back: bool,
}

impl WriteHistory {
    /// A history before its final read.
    pub fn new(
        name: impl Into<String>,
        started_at: OffsetDateTime,
        events: Vec<DrillEvent>,
        fault_at_ms: Option<f64>,
        writes: Vec<WriteRecord>,
    ) -> Self {
        WriteHistory {
            name: name.into(),
            started_at,
            events,
            fault_at_ms,
            writes,
            unexpected: Vec::new(),
            read_back: false,
        }
    }
    /// Writes with `outcome`.
    pub fn with_outcome(&self, outcome: WriteOutcome) -> impl Iterator<Item = &WriteRecord> {
        self.writes.iter().filter(move |w| w.outcome == outcome)
    }
    /// Acknowledged writes the final read did not find.
    pub fn lost(&self) -> Vec<&WriteRecord> {
        self.with_outcome(WriteOutcome::Ok)
            .filter(|w| w.found == Some(false))
            .collect()
    }
    /// Indeterminate writes the final read found.
    pub fn recovered(&self) -> Vec<&WriteRecord> {
        self.with_outcome(WriteOutcome::Indeterminate)
            .filter(|w| w.found == Some(true))
            .collect()
    }
    /// The data-loss window: from the acknowledgment of the earliest lost write to the
    /// fault (zero when nothing acknowledged was lost; absent without a fault time).
    pub fn loss_window(&self) -> Option<Duration> {
        let fault = self.fault_at_ms?;
        let earliest = self
            .lost()
            .iter()
            .map(|w| w.completed_ms)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))));
        Some(earliest.map_or(Duration::ZERO, |e| {
            Duration::from_secs_f64(((fault - e) / 1e3).max(0.0))
        }))
    }
    /// Counts by class: (ok, failed, indeterminate, lost, recovered, unexpected).
    pub fn counts(&self) -> WriteCounts {
        WriteCounts {
            ok: self.with_outcome(WriteOutcome::Ok).count() as u64,
            failed: self.with_outcome(WriteOutcome::Failed).count() as u64,
            indeterminate: self.with_outcome(WriteOutcome::Indeterminate).count() as u64,
            lost: self.lost().len() as u64,
            recovered: self.recovered().len() as u64,
            unexpected: self.unexpected.len() as u64,
        }
    }
}

/// How many writes of a history fall in each class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteCounts {
    /// Acknowledged.
    pub ok: u64,
    /// Refused.
    pub failed: u64,
    /// Outcome unknown.
    pub indeterminate: u64,
    /// Acknowledged and absent.
    pub lost: u64,
    /// Indeterminate and present.
    pub recovered: u64,
    /// Present, never written.
    pub unexpected: u64,
}

/// The life of one alert in a test, from the induced cause: Prometheus's states as the
/// harness polled them, and the notifications Alertmanager sent to the harness's webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AlertTimeline {
    /// The alert's name (`alertname`).
    pub alert: String,
    /// What induced the cause (`error rate set to 50%`); time zero of every `at_ms`.
    pub induced: String,
    /// When the cause was induced.
    #[serde(with = "time::serde::rfc3339")]
    pub induced_at: OffsetDateTime,
    /// The rule's `for` (zero when it has none).
    pub rule_for: Duration,
    /// Prometheus's scrape interval.
    pub scrape_interval: Duration,
    /// Prometheus's rule evaluation interval.
    pub evaluation_interval: Duration,
    /// How often the harness read Prometheus's alerts: a state's time is known to this.
    pub poll_interval: Duration,
    /// The receiver the notification must reach, if the test named one.
    pub expected_receiver: Option<String>,
    /// Every state change and notification, in order.
    pub events: Vec<AlertEvent>,
}

/// One step of an [`AlertTimeline`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AlertEvent {
    /// Milliseconds from the induced cause (negative: before it).
    pub at_ms: f64,
    /// What happened.
    pub state: AlertState,
    /// The receiver of a notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    /// The alert's labels as Prometheus or Alertmanager gave them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl AlertEvent {
    /// An event `at_ms` after the cause.
    pub fn new(at_ms: f64, state: AlertState) -> Self {
        AlertEvent {
            at_ms,
            state,
            receiver: None,
            labels: BTreeMap::new(),
        }
    }
    /// The notification's receiver.
    #[must_use]
    pub fn with_receiver(mut self, receiver: impl Into<String>) -> Self {
        self.receiver = Some(receiver.into());
        self
    }
    /// The alert's labels.
    #[must_use]
    pub fn with_labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.labels = labels;
        self
    }
}

/// A state of an alert, or a notification of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The cause was induced (time zero).
    Induced,
    /// The cause was cleared.
    Cleared,
    /// Prometheus: the condition holds, its `for` has not passed.
    Pending,
    /// Prometheus: the alert fires.
    Firing,
    /// Prometheus: the alert is no longer pending or firing.
    Inactive,
    /// A firing notification reached the webhook.
    Notified,
    /// A resolved notification reached the webhook.
    ResolvedNotified,
}

impl AlertState {
    /// Its name in the evidence and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Induced => "induced",
            AlertState::Cleared => "cleared",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Inactive => "inactive",
            AlertState::Notified => "notified",
            AlertState::ResolvedNotified => "resolved_notified",
        }
    }
}

impl AlertTimeline {
    /// A timeline of `alert` from the cause `induced` at `induced_at`.
    pub fn new(
        alert: impl Into<String>,
        (induced, induced_at): (String, OffsetDateTime),
        rule_for: Duration,
        (scrape_interval, evaluation_interval, poll_interval): (Duration, Duration, Duration),
        expected_receiver: Option<String>,
        events: Vec<AlertEvent>,
    ) -> Self {
        AlertTimeline {
            alert: alert.into(),
            induced,
            induced_at,
            rule_for,
            scrape_interval,
            evaluation_interval,
            poll_interval,
            expected_receiver,
            events,
        }
    }

    /// The first event of `state` (at the expected receiver, for notifications, when one
    /// is expected), in ms from the cause.
    pub fn first(&self, state: AlertState) -> Option<f64> {
        self.events
            .iter()
            .filter(|e| e.state == state && e.at_ms >= 0.0)
            .find(|e| {
                let notification =
                    matches!(state, AlertState::Notified | AlertState::ResolvedNotified);
                !notification
                    || self
                        .expected_receiver
                        .as_ref()
                        .is_none_or(|r| e.receiver.as_ref() == Some(r))
            })
            .map(|e| e.at_ms)
    }
}

/// Raw data kept with a record (histograms, timelines, probe samples, ...). Keep it small.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Attachment {
    /// The latency distribution of a run.
    LatencyHistogram(LatencyHistogram),
    /// A run second by second.
    Timeline(Timeline),
    /// The steps of a stress run.
    StressSteps(StressSteps),
    /// A spike and the recovery from it.
    SpikeRecovery(SpikeRecovery),
    /// A soak's series.
    Drift(DriftSeries),
    /// Throughput by level of users.
    Scaling(ScalingLevels),
    /// The samples of a probe.
    ProbeSamples(ProbeReport),
    /// A recovery: fault, probe attempts, recovery, settle.
    Recovery(RecoveryTimeline),
    /// A write history and its final read.
    WriteHistory(WriteHistory),
    /// An alert's states and notifications.
    Alert(AlertTimeline),
    /// The probes of a security check and what each saw.
    Security(SecurityReport),
    /// A rate-limit drive, request by request.
    RateLimit(RateLimitTimeline),
    /// A vulnerability scanner's findings and the limits.
    Vulnerabilities(VulnerabilityFindings),
    /// How a windowed criterion was judged.
    Windows(Windows),
    /// A kind this version does not know, kept as it was read.
    Other {
        /// Its kind string.
        kind: String,
        /// Its data.
        data: serde_json::Value,
    },
}

impl Attachment {
    /// The kind string.
    pub fn kind(&self) -> &str {
        match self {
            Attachment::LatencyHistogram(_) => LatencyHistogram::KIND,
            Attachment::Timeline(_) => Timeline::KIND,
            Attachment::StressSteps(_) => StressSteps::KIND,
            Attachment::SpikeRecovery(_) => SpikeRecovery::KIND,
            Attachment::Drift(_) => DriftSeries::KIND,
            Attachment::Scaling(_) => ScalingLevels::KIND,
            Attachment::ProbeSamples(_) => ProbeReport::KIND,
            Attachment::Recovery(_) => RecoveryTimeline::KIND,
            Attachment::WriteHistory(_) => WriteHistory::KIND,
            Attachment::Alert(_) => AlertTimeline::KIND,
            Attachment::Security(_) => SecurityReport::KIND,
            Attachment::RateLimit(_) => RateLimitTimeline::KIND,
            Attachment::Vulnerabilities(_) => VulnerabilityFindings::KIND,
            Attachment::Windows(_) => Windows::KIND,
            Attachment::Other { kind, .. } => kind,
        }
    }
}

macro_rules! kinds {
    ($($variant:ident($ty:ty) = $kind:literal),* $(,)?) => {
        $(impl AttachmentKind for $ty {
            const KIND: &'static str = $kind;
            fn of(a: &Attachment) -> Option<&Self> {
                match a {
                    Attachment::$variant(d) => Some(d),
                    _ => None,
                }
            }
        }
        impl From<$ty> for Attachment {
            fn from(a: $ty) -> Self {
                Attachment::$variant(a)
            }
        })*
    };
}

kinds!(
    LatencyHistogram(LatencyHistogram) = "latency_histogram/v2",
    Timeline(Timeline) = "timeline/v2",
    StressSteps(StressSteps) = "stress_steps/v2",
    SpikeRecovery(SpikeRecovery) = "spike_recovery/v1",
    Drift(DriftSeries) = "drift/v1",
    Scaling(ScalingLevels) = "scaling/v1",
    ProbeSamples(ProbeReport) = "probe_samples/v2",
    Recovery(RecoveryTimeline) = "recovery/v1",
    WriteHistory(WriteHistory) = "write_history/v1",
    Alert(AlertTimeline) = "alert_timeline/v1",
    Security(SecurityReport) = "security_report/v1",
    RateLimit(RateLimitTimeline) = "rate_limit/v1",
    Vulnerabilities(VulnerabilityFindings) = "vulnerabilities/v1",
    Windows(Windows) = "windows/v1",
);

#[derive(Serialize)]
struct WireOut<'a, T: Serialize> {
    kind: &'a str,
    data: &'a T,
}

#[derive(Deserialize)]
struct WireIn {
    kind: String,
    data: serde_json::Value,
}

impl Serialize for Attachment {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let kind = self.kind();
        match self {
            Attachment::LatencyHistogram(d) => WireOut { kind, data: d }.serialize(s),
            Attachment::Timeline(d) => WireOut { kind, data: d }.serialize(s),
            Attachment::StressSteps(d) => WireOut { kind, data: d }.serialize(s),
            Attachment::SpikeRecovery(d) => WireOut { kind, data: d }.serialize(s),
            Attachment::Drift(d) => WireOut { kind, data: d }.serialize(s),
            Attachment::Scaling(d) => WireOut { kind, data: d }.serialize(s),
            Attachment::ProbeSamples(d) => WireOut { kind, data: d }.serialize(s),
            Attachment::Recovery(d) => WireOut { kind, data: d }.serialize(s),
            Attachment::WriteHistory(d) => WireOut { kind, data: d }.serialize(s),
            Attachment::Alert(d) => WireOut { kind, data: d }.serialize(s),
            Attachment::Security(d) => WireOut { kind, data: d }.serialize(s),
            Attachment::RateLimit(d) => WireOut { kind, data: d }.serialize(s),
            Attachment::Vulnerabilities(d) => WireOut { kind, data: d }.serialize(s),
            Attachment::Windows(d) => WireOut { kind, data: d }.serialize(s),
            Attachment::Other { data, .. } => WireOut { kind, data }.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Attachment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let WireIn { kind, data } = WireIn::deserialize(d)?;
        fn typed<T: AttachmentKind, E: serde::de::Error>(
            data: serde_json::Value,
        ) -> std::result::Result<T, E> {
            serde_json::from_value(data)
                .map_err(|e| E::custom(format!("attachment {}: {e}", T::KIND)))
        }
        Ok(match kind.as_str() {
            LatencyHistogram::KIND => Attachment::LatencyHistogram(typed(data)?),
            Timeline::KIND => Attachment::Timeline(typed(data)?),
            StressSteps::KIND => Attachment::StressSteps(typed(data)?),
            SpikeRecovery::KIND => Attachment::SpikeRecovery(typed(data)?),
            DriftSeries::KIND => Attachment::Drift(typed(data)?),
            ScalingLevels::KIND => Attachment::Scaling(typed(data)?),
            ProbeReport::KIND => Attachment::ProbeSamples(typed(data)?),
            RecoveryTimeline::KIND => Attachment::Recovery(typed(data)?),
            WriteHistory::KIND => Attachment::WriteHistory(typed(data)?),
            AlertTimeline::KIND => Attachment::Alert(typed(data)?),
            SecurityReport::KIND => Attachment::Security(typed(data)?),
            RateLimitTimeline::KIND => Attachment::RateLimit(typed(data)?),
            VulnerabilityFindings::KIND => Attachment::Vulnerabilities(typed(data)?),
            Windows::KIND => Attachment::Windows(typed(data)?),
            _ => Attachment::Other { kind, data },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_and_unknown_kinds_are_kept() -> Result<()> {
        let mut h = crate::histogram::new_latency();
        h.record(1_000).map_err(|e| Error::Other(e.to_string()))?;
        let enc = EncodedHistogram::encode(&h);
        let all: Vec<Attachment> = vec![
            LatencyHistogram::new("get", enc.clone()).into(),
            Timeline::new(
                "get",
                vec![TimelineSecond::new(
                    0,
                    1,
                    BTreeMap::from([("timeout".into(), 2)]),
                    enc,
                )],
            )
            .into(),
            StressSteps::new(
                vec![StressStep::new(
                    Rate::per_second(100.0)?,
                    Rate::per_second(99.0)?,
                    Some(Duration::from_micros(800)),
                    Some(Ratio::ZERO),
                    100,
                )],
                Ratio::percent(1.0)?,
                Duration::from_secs(1),
                Ratio::percent(90.0)?,
            )
            .into(),
            SpikeRecovery::new(
                vec![Some(Duration::from_micros(10)), None],
                Duration::from_millis(5),
                (Duration::from_secs(2), Duration::from_secs(3)),
            )
            .into(),
            DriftSeries::new(vec![(0.5, 1.0)], vec![(0.0, 1e6)]).into(),
            ScalingLevels::new(vec![(2, 10.0)], vec![1.0]).into(),
            SecurityReport::new(vec![SecurityItem::new(
                "POST /orders",
                "no credentials",
                "401",
                "201",
                false,
            )])
            .into(),
            RateLimitTimeline {
                limit: 60,
                window_ms: 60_000,
                burst: 60,
                tolerance: 0.1,
                clients: vec!["a".into()],
                sustained_ms: (0, 1000),
                sustained_accepted: 1,
                requests: vec![LimitedRequest::from((5, 0, 429, Some(1)))],
            }
            .into(),
            VulnerabilityFindings::new(
                vec!["trivy".into()],
                BTreeMap::from([(Severity::Critical, 0)]),
                vec![VulnerabilityFinding::new(
                    "CVE-1",
                    ("openssl", "3.0.2"),
                    Severity::High,
                    "trivy",
                )],
            )
            .into(),
            Attachment::Other {
                kind: "team/v1".into(),
                data: serde_json::json!({"x": 1}),
            },
        ];
        for a in all {
            let json = serde_json::to_string(&a).map_err(|e| Error::Other(e.to_string()))?;
            assert!(
                json.starts_with(&format!("{{\"kind\":\"{}\"", a.kind())),
                "{json}"
            );
            let back: Attachment =
                serde_json::from_str(&json).map_err(|e| Error::Other(e.to_string()))?;
            assert_eq!(back, a);
        }
        let broken = r#"{"kind":"timeline/v2","data":{"transaction":1}}"#;
        let e = serde_json::from_str::<Attachment>(broken)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("attachment timeline/v2"), "{e}");
        Ok(())
    }

    #[test]
    fn timelines_of_shards_add_up_second_by_second() -> Result<()> {
        let second = |n: u64, ok: u64, errs: u64, us: u64| -> Result<TimelineSecond> {
            let mut h = crate::histogram::new_latency();
            for _ in 0..ok + errs {
                h.record(us).map_err(|e| Error::Other(e.to_string()))?;
            }
            let errors = BTreeMap::from([("5xx".to_owned(), errs)]);
            Ok(TimelineSecond::new(
                n,
                ok,
                errors,
                EncodedHistogram::encode(&h),
            ))
        };
        let mut a = Timeline::new("get", vec![second(0, 10, 1, 100)?, second(1, 5, 0, 100)?]);
        let b = Timeline::new("get", vec![second(1, 7, 3, 9_000)?, second(2, 1, 0, 50)?]);
        a.absorb(&b)?;
        assert_eq!(a.seconds.len(), 3);
        assert_eq!(a.seconds[1].ok, 12);
        assert_eq!(a.seconds[1].errors["5xx"], 3);
        assert_eq!(a.seconds[1].histogram.decode()?.len(), 15);
        assert_eq!(a.counts(), (4, 27));
        Ok(())
    }

    fn sample(at_ms: f64, ok: bool, latency_ms: f64) -> Sample {
        Sample {
            at_ms,
            ok,
            latency_ms,
            detail: String::new(),
        }
    }

    /// A frozen service holds every request and answers them all 2.5 s after the fault:
    /// the attempt that started at 2.0 s saw it good only at 2.5 s.
    #[test]
    fn a_recovery_counts_from_the_answer_and_its_bound_holds_the_truth() {
        let samples = [
            sample(0.0, false, 1_000.0),
            sample(1_004.0, false, 1_000.0),
            sample(2_007.0, true, 493.0),
            sample(2_750.0, true, 1.0),
            sample(4_600.0, true, 1.0),
        ];
        let settle = Duration::from_secs(2);
        let (at, low) = RecoveryTimeline::recovered(&samples, settle);
        assert_eq!((at, low), (Some(2_500.0), Some(1_004.0)));
        let truth = 2_500.0;
        assert!(low.is_some_and(|l| l < truth) && at.is_some_and(|a| a >= truth));
        // The settle window runs from answer to answer.
        let short = &samples[..4];
        assert_eq!(RecoveryTimeline::recovered(short, settle).0, None);
        // A record written before the answer was used keeps its own rule.
        let (old, _) = RecoveryTimeline::recovered_from(&samples, settle, StreakFrom::Start);
        assert_eq!(old, Some(2_007.0));
        let json = serde_json::json!({
            "target": "t", "fault_at": "2026-01-01T00:00:00Z", "events": [],
            "interval": {"secs": 0, "nanos": 250_000_000},
            "settle": {"secs": 2, "nanos": 0}, "samples": [],
            "recovered_at_ms": null, "last_failure_at_ms": null,
            "elapsed": {"secs": 1, "nanos": 0}
        });
        let legacy: RecoveryTimeline = serde_json::from_value(json).expect("an old record reads");
        assert_eq!(legacy.streak_from, StreakFrom::Start);
        let new = RecoveryTimeline::new(
            "t",
            OffsetDateTime::UNIX_EPOCH,
            Vec::new(),
            (Duration::from_millis(250), settle),
            samples.to_vec(),
            Duration::from_secs(5),
        );
        assert_eq!(new.streak_from, StreakFrom::Answer);
        assert_eq!(new.recovered_at_ms, Some(2_500.0));
    }
}
