//! What a run measured: HDR histograms of latency per second (mergeable), totals merged from
//! them, errors by class, scheduling lag, iterations that could not start on time and
//! iterations still running when the run ended.
//!
//! Two latency histograms per second: the iterations that got the expected answer, with
//! those whose latency is only a lower bound of it (timed out, unfinished, a body past the
//! timeout: [`ErrorClass::bounds_latency`]); and the failures that finished (a fast 500, a
//! refused connection, a body cut short). Latency criteria judge the first: a slow service
//! never looks fast because some of its answers are fast errors, which are the error
//! rate's business.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

use readiness_core::histogram::micros as us;
pub use readiness_core::histogram::{HIGHEST_US, new_latency as histogram};
use readiness_core::{EncodedHistogram, LatencyHistogram, Percentile, Timeline, TimelineSecond};

/// Why an iteration failed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The connection could not be opened (refused, reset before a response).
    Connect,
    /// No answer in time.
    Timeout,
    /// An HTTP status of class 4xx.
    Status4xx,
    /// An HTTP status of class 5xx.
    Status5xx,
    /// The open model could not start it on time: `max_in_flight` iterations were running.
    NotStarted,
    /// Still running when the run's drain time was over; its latency is recorded as its
    /// age then (a lower bound).
    Unfinished,
    /// A redirect the loopback guard refused, or too many redirects.
    Redirect,
    /// The status line and headers came, the body did not come whole: a success status
    /// with a failed body is a failure, never an answer.
    Body(BodyFailure),
    /// The transaction said so (a failed check, a wrong body...).
    User(String),
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorClass::Connect => f.write_str("connect"),
            ErrorClass::Timeout => f.write_str("timeout"),
            ErrorClass::Status4xx => f.write_str("4xx"),
            ErrorClass::Status5xx => f.write_str("5xx"),
            ErrorClass::NotStarted => f.write_str("not started"),
            ErrorClass::Unfinished => f.write_str("unfinished"),
            ErrorClass::Redirect => f.write_str("redirect refused"),
            ErrorClass::Body(b) => write!(f, "body {b}"),
            ErrorClass::User(s) => write!(f, "user: {s}"),
        }
    }
}

impl ErrorClass {
    /// Whether the iteration's latency is a lower bound of the time to its answer (it timed
    /// out, was still running when the run ended, or its body was still arriving at the
    /// timeout): such iterations are judged with the successes, since the answer they wait
    /// for is slower still. Other failures (a fast 500, a refused connection) are not.
    pub fn bounds_latency(&self) -> bool {
        matches!(
            self,
            ErrorClass::Timeout | ErrorClass::Unfinished | ErrorClass::Body(BodyFailure::Timeout)
        )
    }
}

/// How a response body failed after its status line and headers arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum BodyFailure {
    /// The connection closed before the body was whole (fewer bytes than `content-length`,
    /// a chunked body without its last chunk).
    CutShort,
    /// The connection was reset while the body arrived.
    Reset,
    /// The request's timeout passed while the body arrived.
    Timeout,
}

impl fmt::Display for BodyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BodyFailure::CutShort => "cut short",
            BodyFailure::Reset => "reset",
            BodyFailure::Timeout => "timeout",
        })
    }
}

/// What one iteration gives back.
pub type Outcome = Result<(), ErrorClass>;

/// A boxed iteration, for transactions built at run time (like [`crate::http::get`]).
pub type BoxedIteration = std::pin::Pin<Box<dyn std::future::Future<Output = Outcome> + Send>>;

/// One second of a run (by intended start time).
///
/// A second's latency histograms are live while the second can still get records; once
/// the run is two seconds past it, they are packed into HDR's V2 encoding (about 1 KB
/// instead of 16 KB or more), so memory stays flat over a long run. [`Second::latency`]
/// unpacks on demand.
#[derive(Debug, Clone)]
pub struct Second {
    /// Expected answers, and the failures whose latency bounds the answer's.
    judged: Latency,
    /// The other failures that finished (none yet: `None`).
    failed: Option<Latency>,
    ok: u64,
    errors: BTreeMap<ErrorClass, u64>,
}

/// A latency histogram, live or packed.
#[derive(Debug, Clone)]
enum Latency {
    Live(Box<Histogram<u64>>),
    /// V2-encoded (not compressed: encoding is cheap, and the zero runs are what is big).
    Packed(Box<[u8]>),
}

impl Latency {
    fn new() -> Self {
        Latency::Live(Box::new(histogram()))
    }

    fn get(&self) -> Cow<'_, Histogram<u64>> {
        match self {
            Latency::Live(h) => Cow::Borrowed(h),
            Latency::Packed(bytes) => Cow::Owned(unpack(bytes)),
        }
    }

    /// The live histogram, unpacked first when needed.
    fn live(&mut self) -> &mut Histogram<u64> {
        if let Latency::Packed(bytes) = self {
            *self = Latency::Live(Box::new(unpack(bytes)));
        }
        match self {
            Latency::Live(h) => h,
            Latency::Packed(_) => unreachable!("unpacked just above"),
        }
    }

    /// Packs the histogram (a no-op when packed already).
    fn pack(&mut self) {
        if let Latency::Live(h) = self {
            let buf = readiness_core::histogram::to_v2(h);
            if !buf.is_empty() {
                *self = Latency::Packed(buf.into_boxed_slice());
            }
        }
    }

    fn v2(&self) -> Cow<'_, [u8]> {
        match self {
            Latency::Live(h) => Cow::Owned(readiness_core::histogram::to_v2(h)),
            Latency::Packed(bytes) => Cow::Borrowed(bytes),
        }
    }
}

impl Default for Second {
    fn default() -> Self {
        Second {
            judged: Latency::new(),
            failed: None,
            ok: 0,
            errors: BTreeMap::new(),
        }
    }
}

impl Second {
    /// Iterations that got the expected answer.
    pub fn ok(&self) -> u64 {
        self.ok
    }
    /// Failed iterations by class.
    pub fn errors(&self) -> &BTreeMap<ErrorClass, u64> {
        &self.errors
    }
    /// Failed iterations.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
    /// Iterations due in this second: succeeded, failed, not started, unfinished.
    pub fn attempts(&self) -> u64 {
        self.ok + self.error_count()
    }

    /// The latency a latency criterion judges (µs): every iteration that got the expected
    /// answer, and every one whose latency is a lower bound of it
    /// ([`ErrorClass::bounds_latency`]: timed out, unfinished, body past the timeout).
    pub fn latency(&self) -> Cow<'_, Histogram<u64>> {
        self.judged.get()
    }

    /// The latency of the other failures that finished (µs): fast errors, not judged.
    pub fn failed_latency(&self) -> Cow<'_, Histogram<u64>> {
        match &self.failed {
            Some(l) => l.get(),
            None => Cow::Owned(histogram()),
        }
    }

    /// The latency of every iteration timed, failures included (µs).
    pub fn all_latency(&self) -> Histogram<u64> {
        let mut all = self.judged.get().into_owned();
        if let Some(failed) = &self.failed {
            let _ = all.add(&*failed.get());
        }
        all
    }

    /// Records one finished (or unfinished) iteration.
    fn record(&mut self, latency: Duration, outcome: &Outcome) {
        let into = match outcome {
            Ok(()) => {
                self.ok += 1;
                &mut self.judged
            }
            Err(class) => {
                *self.errors.entry(class.clone()).or_insert(0) += 1;
                if class.bounds_latency() {
                    &mut self.judged
                } else {
                    self.failed.get_or_insert_with(Latency::new)
                }
            }
        };
        let _ = into.live().record(us(latency));
    }

    /// Adds another second's counts and latencies to this one.
    pub fn absorb(&mut self, other: &Second) {
        let _ = self.judged.live().add(&*other.judged.get());
        if let Some(theirs) = &other.failed {
            let _ = self
                .failed
                .get_or_insert_with(Latency::new)
                .live()
                .add(&*theirs.get());
        }
        self.ok += other.ok;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_insert(0) += v;
        }
    }

    /// Packs the histograms (a no-op when packed already).
    fn pack(&mut self) {
        self.judged.pack();
        if let Some(f) = &mut self.failed {
            f.pack();
        }
    }
}

fn unpack(bytes: &[u8]) -> Histogram<u64> {
    readiness_core::histogram::from_v2(bytes).unwrap_or_else(histogram)
}

/// Everything one transaction measured in one run. Iterations that could not start
/// ([`ErrorClass::NotStarted`]) and iterations still running when the run ended
/// ([`ErrorClass::Unfinished`]) are errors of the second they were meant to start in.
#[derive(Debug, Clone)]
pub struct Metrics {
    seconds: Vec<Second>,
    lag: Histogram<u64>,
    /// The end of the model's duration, from the start of the run.
    deadline: Option<Duration>,
    /// Successes that completed by the deadline.
    ok_by_deadline: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            seconds: Vec::new(),
            lag: histogram(),
            deadline: None,
            ok_by_deadline: 0,
        }
    }
}

impl Metrics {
    /// Metrics of a run whose model lasts `duration`: successes that complete by then are
    /// counted apart ([`Metrics::succeeded_in_time`]).
    pub fn with_deadline(duration: Duration) -> Self {
        Metrics {
            deadline: Some(duration),
            ..Metrics::default()
        }
    }

    /// Every second of the run, by intended start.
    pub fn seconds(&self) -> &[Second] {
        &self.seconds
    }

    /// Scheduling lag of the open model: actual minus intended start (µs).
    pub fn lag(&self) -> &Histogram<u64> {
        &self.lag
    }

    fn second(&mut self, at: Duration) -> &mut Second {
        let i = at.as_secs() as usize;
        if self.seconds.len() <= i {
            self.seconds.resize_with(i + 1, Second::default);
            self.pack_old();
        }
        &mut self.seconds[i]
    }

    /// Packs the histograms of every second but the last two (records for them are rare:
    /// an iteration that started more than a second before the newest one and finished
    /// only now; such a record unpacks its second until the next pass).
    fn pack_old(&mut self) {
        let keep = self.seconds.len().saturating_sub(2);
        for s in &mut self.seconds[..keep] {
            s.pack();
        }
    }

    /// Records one finished iteration that was meant to start at `at`.
    pub fn record(&mut self, at: Duration, latency: Duration, outcome: &Outcome) {
        if outcome.is_ok() && self.deadline.is_some_and(|d| at + latency <= d) {
            self.ok_by_deadline += 1;
        }
        self.second(at).record(latency, outcome);
    }

    /// Records an iteration of second `at` that could not start (an error, no latency).
    pub fn record_not_started(&mut self, at: Duration) {
        *self
            .second(at)
            .errors
            .entry(ErrorClass::NotStarted)
            .or_insert(0) += 1;
    }

    /// Records an iteration meant to start at `at` that was still running, `age` after its
    /// intended start, when the run ended: an error, with its age as its latency (a lower
    /// bound: it is slower than that, never faster).
    pub fn record_unfinished(&mut self, at: Duration, age: Duration) {
        self.record(at, age, &Err(ErrorClass::Unfinished));
    }

    /// Records the scheduling lag of one iteration.
    pub fn record_lag(&mut self, lag: Duration) {
        let _ = self.lag.record(us(lag));
    }

    /// Successful iterations over all seconds (no histogram is merged).
    pub fn ok_count(&self) -> u64 {
        self.seconds.iter().map(|s| s.ok).sum()
    }

    /// Successful iterations that completed by the end of the model's duration (all of
    /// them when the metrics have no deadline): answers that came in the drain are not
    /// throughput the target sustained.
    pub fn succeeded_in_time(&self) -> u64 {
        match self.deadline {
            Some(_) => self.ok_by_deadline,
            None => self.ok_count(),
        }
    }

    /// Failed iterations over all seconds, every class (no histogram is merged).
    pub fn error_count(&self) -> u64 {
        self.seconds.iter().map(Second::error_count).sum()
    }

    /// Failed iterations of one class.
    pub fn count_of(&self, class: &ErrorClass) -> u64 {
        self.seconds
            .iter()
            .filter_map(|s| s.errors.get(class))
            .sum()
    }

    /// All seconds merged (histograms added, counts summed).
    pub fn total(&self) -> Second {
        let mut t = Second::default();
        for s in &self.seconds {
            t.absorb(s);
        }
        t
    }

    /// Adds another run's (or shard's) metrics second by second.
    pub fn merge(&mut self, other: &Metrics) {
        for (i, s) in other.seconds.iter().enumerate() {
            self.second(Duration::from_secs(i as u64)).absorb(s);
            // Packed again at once: merging a long run never holds it all unpacked.
            if i + 2 < self.seconds.len() {
                self.seconds[i].pack();
            }
        }
        let _ = self.lag.add(&other.lag);
        self.deadline = self.deadline.or(other.deadline);
        self.ok_by_deadline += other.ok_by_deadline;
    }
}

/// The latency at percentile `p` of a histogram (µs) as a duration; `None` when it is
/// empty (a percentile of nothing is not 0 ms).
pub fn percentile(h: &Histogram<u64>, p: Percentile) -> Option<Duration> {
    readiness_core::histogram::percentile(h, p)
}

/// Evidence for a run of `name`: the latency histogram a percentile is judged on and the
/// per-second timeline with each second's histograms, judged and failed (so a report can
/// merge shards and derive every number again).
pub fn attachments(name: &str, m: &Metrics) -> (LatencyHistogram, Timeline) {
    let total = m.total();
    let seconds = m
        .seconds
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut second = TimelineSecond::new(
                i as u64,
                s.ok,
                s.errors.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                EncodedHistogram::from_v2(&s.judged.v2()),
            );
            second.failed_histogram = s
                .failed
                .as_ref()
                .map(|f| EncodedHistogram::from_v2(&f.v2()));
            second
        })
        .collect();
    let mut timeline = Timeline::new(name, seconds);
    timeline.lag_p99_us = (!m.lag.is_empty()).then(|| m.lag.value_at_quantile(0.99));
    let histogram = EncodedHistogram::from_v2(&total.judged.v2());
    (LatencyHistogram::new(name, histogram), timeline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn old_seconds_are_packed_and_keep_every_count() {
        let mut m = Metrics::default();
        let mut one = histogram();
        for sec in 0..100u64 {
            for i in 0..500u64 {
                let latency = Duration::from_micros(100 + (sec * 37 + i * 13) % 5_000);
                m.record(Duration::from_secs(sec), latency, &Ok(()));
                one.record(us(latency)).expect("in range");
            }
        }
        let packed = m
            .seconds
            .iter()
            .filter(|s| matches!(s.judged, Latency::Packed(_)))
            .count();
        assert_eq!(packed, 98, "all but the last two seconds are packed");
        let packed_bytes: usize = m
            .seconds
            .iter()
            .map(|s| match &s.judged {
                Latency::Packed(b) => b.len(),
                Latency::Live(_) => 0,
            })
            .sum();
        assert!(
            packed_bytes < 98 * 4096,
            "a packed second takes {} bytes on average",
            packed_bytes / 98
        );
        // A late record unpacks its second and lands in it.
        m.record(Duration::from_secs(3), Duration::from_millis(900), &Ok(()));
        one.record(900_000).expect("in range");
        assert_eq!(m.seconds[3].latency().len(), 501);
        assert_eq!(
            m.seconds[3].latency().max(),
            one.highest_equivalent(900_000)
        );
        let total = m.total();
        let total = total.latency();
        assert_eq!(total.len(), one.len());
        for q in [0.5, 0.95, 0.99, 1.0] {
            assert_eq!(total.value_at_quantile(q), one.value_at_quantile(q));
        }
    }

    #[test]
    fn fast_failures_are_kept_apart_and_bounds_are_judged() {
        let mut m = Metrics::with_deadline(Duration::from_secs(1));
        let at = Duration::ZERO;
        for _ in 0..7 {
            m.record(at, Duration::from_millis(401), &Ok(()));
        }
        for _ in 0..3 {
            m.record(at, Duration::from_millis(2), &Err(ErrorClass::Status5xx));
        }
        m.record(
            at,
            Duration::from_millis(3),
            &Err(ErrorClass::Body(BodyFailure::CutShort)),
        );
        m.record(at, Duration::from_secs(1), &Err(ErrorClass::Timeout));
        m.record_unfinished(at, Duration::from_secs(2));
        let t = m.total();
        assert_eq!(
            t.latency().len(),
            9,
            "7 answers, a timeout, an unfinished one"
        );
        assert_eq!(
            t.failed_latency().len(),
            4,
            "three fast 500s and a cut body"
        );
        assert_eq!(t.all_latency().len(), 13);
        assert!(
            percentile(&t.latency(), Percentile::P50).expect("timed") >= Duration::from_millis(400)
        );
        assert_eq!(m.ok_count(), 7);
        assert_eq!(m.succeeded_in_time(), 7);
        m.record(
            Duration::from_millis(900),
            Duration::from_millis(200),
            &Ok(()),
        );
        assert_eq!(m.succeeded_in_time(), 7, "completed after the deadline");
        assert_eq!(m.ok_count(), 8);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Merging the histograms of shards equals one histogram of all samples.
        #[test]
        fn merged_shards_equal_one_histogram(
            samples in proptest::collection::vec((0u64..5, 1u64..10_000_000), 1..2000),
            shards in 1usize..6,
        ) {
            let mut all = Metrics::default();
            let mut parts: Vec<Metrics> = (0..shards).map(|_| Metrics::default()).collect();
            for (i, (sec, lat)) in samples.iter().enumerate() {
                let at = Duration::from_secs(*sec);
                let latency = Duration::from_micros(*lat);
                let outcome = if lat % 7 == 0 { Err(ErrorClass::Status5xx) } else { Ok(()) };
                all.record(at, latency, &outcome);
                parts[i % shards].record(at, latency, &outcome);
            }
            let mut merged = Metrics::default();
            for p in &parts { merged.merge(p); }
            let (ta, tb) = (all.total(), merged.total());
            prop_assert_eq!(ta.ok, tb.ok);
            prop_assert_eq!(&ta.errors, &tb.errors);
            let (a, b) = (ta.latency(), tb.latency());
            prop_assert_eq!(a.len(), b.len());
            for q in [0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
                prop_assert_eq!(a.value_at_quantile(q), b.value_at_quantile(q));
            }
            // Through the evidence encoding too.
            let round = readiness_core::histogram::from_v2(&tb.judged.v2()).expect("decodes");
            prop_assert_eq!(round.value_at_quantile(0.99), a.value_at_quantile(0.99));
        }
    }
}
