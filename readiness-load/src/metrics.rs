//! What a run measured: HDR histograms of latency per second (mergeable), totals merged from
//! them, errors by class, scheduling lag, iterations that could not start on time and
//! iterations still running when the run ended.

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
            ErrorClass::User(s) => write!(f, "user: {s}"),
        }
    }
}

/// What one iteration gives back.
pub type Outcome = Result<(), ErrorClass>;

/// A boxed iteration, for transactions built at run time (like [`crate::http::get`]).
pub type BoxedIteration = std::pin::Pin<Box<dyn std::future::Future<Output = Outcome> + Send>>;

/// One second of a run (by intended start time).
///
/// A second's latency histogram is live while the second can still get records; once the
/// run is two seconds past it, it is packed into HDR's V2 encoding (about 1 KB instead of
/// 16 KB or more), so memory stays flat over a long run. [`Second::latency`] unpacks on
/// demand.
#[derive(Debug, Clone)]
pub struct Second {
    latency: Latency,
    /// Successful iterations.
    pub ok: u64,
    /// Failed iterations by class.
    pub errors: BTreeMap<ErrorClass, u64>,
}

/// A second's latency histogram, live or packed.
#[derive(Debug, Clone)]
enum Latency {
    Live(Box<Histogram<u64>>),
    /// V2-encoded (not compressed: encoding is cheap, and the zero runs are what is big).
    Packed(Box<[u8]>),
}

impl Default for Second {
    fn default() -> Self {
        Second {
            latency: Latency::Live(Box::new(histogram())),
            ok: 0,
            errors: BTreeMap::new(),
        }
    }
}

impl Second {
    /// Failed iterations.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Latency of every finished iteration of this second, successful or not (µs).
    pub fn latency(&self) -> std::borrow::Cow<'_, Histogram<u64>> {
        match &self.latency {
            Latency::Live(h) => std::borrow::Cow::Borrowed(h),
            Latency::Packed(bytes) => std::borrow::Cow::Owned(unpack(bytes)),
        }
    }

    /// The live histogram, unpacked first when needed.
    fn live(&mut self) -> &mut Histogram<u64> {
        if let Latency::Packed(bytes) = &self.latency {
            self.latency = Latency::Live(Box::new(unpack(bytes)));
        }
        match &mut self.latency {
            Latency::Live(h) => h,
            Latency::Packed(_) => unreachable!("unpacked just above"),
        }
    }

    /// Records one latency.
    pub fn record_latency(&mut self, latency: Duration) {
        let _ = self.live().record(us(latency));
    }

    /// Adds another second's counts and latencies to this one.
    pub fn absorb(&mut self, other: &Second) {
        let _ = self.live().add(&*other.latency());
        self.ok += other.ok;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_insert(0) += v;
        }
    }

    /// Packs the histogram (a no-op when packed already).
    fn pack(&mut self) {
        if let Latency::Live(h) = &self.latency {
            let buf = readiness_core::histogram::to_v2(h);
            if !buf.is_empty() {
                self.latency = Latency::Packed(buf.into_boxed_slice());
            }
        }
    }

    /// The histogram in HDR's V2 format (what evidence keeps).
    pub fn v2_latency(&self) -> std::borrow::Cow<'_, [u8]> {
        match &self.latency {
            Latency::Live(h) => std::borrow::Cow::Owned(readiness_core::histogram::to_v2(h)),
            Latency::Packed(bytes) => std::borrow::Cow::Borrowed(bytes),
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
    /// Per second of the run.
    pub seconds: Vec<Second>,
    /// Scheduling lag of the open model: actual minus intended start (µs).
    pub lag: Histogram<u64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            seconds: Vec::new(),
            lag: histogram(),
        }
    }
}

impl Metrics {
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
    pub fn record(&mut self, at: Duration, latency: Duration, outcome: &Result<(), ErrorClass>) {
        let s = self.second(at);
        s.record_latency(latency);
        match outcome {
            Ok(()) => s.ok += 1,
            Err(class) => *s.errors.entry(class.clone()).or_insert(0) += 1,
        }
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
    }
}

/// The latency at percentile `p` of a histogram (µs) as a duration; `None` when it is
/// empty (a percentile of nothing is not 0 ms).
pub fn percentile(h: &Histogram<u64>, p: Percentile) -> Option<Duration> {
    (!h.is_empty()).then(|| Duration::from_micros(h.value_at_quantile(p.quantile())))
}

/// Evidence for a run of `name`: the merged latency histogram and the per-second timeline
/// with each second's histogram (so a report can merge shards and derive every number
/// again).
pub fn attachments(name: &str, m: &Metrics) -> (LatencyHistogram, Timeline) {
    let total = m.total();
    let seconds = m
        .seconds
        .iter()
        .enumerate()
        .map(|(i, s)| {
            TimelineSecond::new(
                i as u64,
                s.ok,
                s.errors.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                EncodedHistogram::from_v2(&s.v2_latency()),
            )
        })
        .collect();
    let mut timeline = Timeline::new(name, seconds);
    timeline.lag_p99_us = (!m.lag.is_empty()).then(|| m.lag.value_at_quantile(0.99));
    let histogram = EncodedHistogram::from_v2(&total.v2_latency());
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
            .filter(|s| matches!(s.latency, Latency::Packed(_)))
            .count();
        assert_eq!(packed, 98, "all but the last two seconds are packed");
        let packed_bytes: usize = m
            .seconds
            .iter()
            .map(|s| match &s.latency {
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
            let round = readiness_core::histogram::from_v2(&tb.v2_latency()).expect("decodes");
            prop_assert_eq!(round.value_at_quantile(0.99), a.value_at_quantile(0.99));
        }
    }
}
