//! What a load run measured, and the numbers the assertions judge: every one of them says
//! when there is nothing to judge instead of answering 0.

use std::time::Duration;

use time::OffsetDateTime;

use readiness_core::{Percentile, Quantity, Rate, Ratio, Recorder};

use crate::metrics::{ErrorClass, Metrics, Second, percentile};
use crate::shard::Shard;

/// What a load run measured. Its numbers are read through methods: a test cannot rewrite
/// them before it asserts.
#[derive(Debug, Clone)]
pub struct Report {
    pub(crate) name: String,
    pub(crate) scenario: String,
    pub(crate) target: Option<String>,
    pub(crate) started_at: OffsetDateTime,
    pub(crate) elapsed: Duration,
    pub(crate) duration: Duration,
    pub(crate) drain: Duration,
    pub(crate) metrics: Metrics,
    pub(crate) by_name: Vec<(String, Metrics)>,
    pub(crate) shard: Option<Shard>,
    pub(crate) aborted: Option<String>,
    pub(crate) recorder: Option<Recorder>,
    /// Where beyond loopback it ran, on purpose (the staging it was marked for).
    pub(crate) remote: Option<String>,
}

impl Report {
    /// The transaction's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The model, in words ("constant arrival rate 200/s for 30s").
    pub fn scenario(&self) -> &str {
        &self.scenario
    }
    /// What was targeted.
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }
    /// The environment beyond loopback it ran in on purpose, with its limits (none on
    /// loopback).
    pub fn remote(&self) -> Option<&str> {
        self.remote.as_deref()
    }
    /// When the run started.
    pub fn started_at(&self) -> OffsetDateTime {
        self.started_at
    }
    /// How long it took, drain included.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }
    /// The model's duration (what a throughput is per).
    pub fn duration(&self) -> Duration {
        self.duration
    }
    /// How long the run waited at the end for iterations still running.
    pub fn drain(&self) -> Duration {
        self.drain
    }
    /// The measurements, all transactions together.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    /// The names of a mix's transactions ([`crate::Load::run_mix`]); empty for a single
    /// transaction.
    pub fn transaction_names(&self) -> impl Iterator<Item = &str> {
        self.by_name.iter().map(|(n, _)| n.as_str())
    }
    /// The shard this run was, if the load was split.
    pub fn shard(&self) -> Option<Shard> {
        self.shard
    }
    /// Why the run stopped early, if an abort rule was breached.
    pub fn aborted(&self) -> Option<&str> {
        self.aborted.as_deref()
    }
    /// Where assertions on this report record their evidence (`None`: the evidence
    /// directory).
    pub fn recorder(&self) -> Option<&Recorder> {
        self.recorder.as_ref()
    }

    /// The report of one named transaction of a mix, to judge it on its own.
    pub fn transaction(&self, name: &str) -> Option<Report> {
        if self.by_name.is_empty() {
            return (self.name == name).then(|| self.clone());
        }
        let (_, metrics) = self.by_name.iter().find(|(n, _)| n == name)?;
        Some(Report {
            name: name.to_owned(),
            metrics: metrics.clone(),
            by_name: Vec::new(),
            ..self.clone()
        })
    }

    /// Iterations that were due: finished (either way), not started and unfinished.
    pub fn attempts(&self) -> u64 {
        self.metrics.ok_count() + self.metrics.error_count()
    }
    /// Iterations that succeeded.
    pub fn succeeded(&self) -> u64 {
        self.metrics.ok_count()
    }
    /// Iterations that failed, every class (not started and unfinished included).
    pub fn failed(&self) -> u64 {
        self.metrics.error_count()
    }
    /// Iterations still running when the drain ended.
    pub fn unfinished(&self) -> u64 {
        self.metrics.count_of(&ErrorClass::Unfinished)
    }
    /// Iterations the open model could not start (`max_in_flight` were running).
    pub fn not_started(&self) -> u64 {
        self.metrics.count_of(&ErrorClass::NotStarted)
    }

    /// Latency at percentile `p` over the whole run, as latency criteria judge it: every
    /// iteration that got the expected answer, and every one whose latency is a lower
    /// bound of it (timed out, unfinished at its age). Fast failures are not in it (they
    /// are the error rate's). `None` when nothing was timed.
    pub fn percentile(&self, p: Percentile) -> Option<Duration> {
        percentile(&self.metrics.total().latency(), p)
    }
    /// Latency at percentile `p` of every iteration timed, failures included: shown beside
    /// [`Report::percentile`], never judged. `None` when nothing was timed.
    pub fn percentile_of_all(&self, p: Percentile) -> Option<Duration> {
        percentile(&self.metrics.total().all_latency(), p)
    }
    /// failed / attempts; `None` when no iteration was due.
    pub fn error_rate(&self) -> Option<Ratio> {
        Ratio::of(self.failed(), self.attempts())
    }
    /// Successful iterations that completed within the model's duration (answers that
    /// came in the drain are not throughput the target sustained).
    pub fn succeeded_in_time(&self) -> u64 {
        self.metrics.succeeded_in_time()
    }
    /// Successful iterations completed within the model's duration, per second of it;
    /// `None` when no iteration was due.
    pub fn throughput(&self) -> Option<Rate> {
        if self.attempts() == 0 {
            return None;
        }
        Rate::of(self.succeeded_in_time(), self.duration)
    }

    /// Why there is nothing to judge a latency on, if so: "no iteration succeeded: 40
    /// timeouts".
    pub(crate) fn nothing_succeeded(&self) -> Option<String> {
        if self.succeeded() > 0 {
            return None;
        }
        Some(match self.attempts() {
            0 => "no iteration was due".to_owned(),
            _ => format!(
                "no iteration succeeded: {}",
                failures(&self.metrics.total())
            ),
        })
    }

    /// One line of what the run saw: "12,004 iterations: 11,908 ok, 96 failed (0.8%: 90
    /// 5xx, 6 unfinished); latency p50 41ms, p95 812.4ms, p99 1.92s, max 2.31s".
    pub fn summary(&self) -> String {
        let total = self.metrics.total();
        let count = |n: u64| Quantity::count(n).to_string();
        let mut text = format!(
            "{} iterations: {} ok, {} failed",
            count(self.attempts()),
            count(self.succeeded()),
            count(self.failed())
        );
        if let Some(rate) = self.error_rate().filter(|_| self.failed() > 0) {
            text.push_str(&format!(" ({rate}: {})", failures(&total)));
        }
        text.push_str("; ");
        text.push_str(&latency_line(&total));
        if let Some(why) = &self.aborted {
            text.push_str(&format!("; stopped early: {why}"));
        }
        text
    }

    /// What the harness can tell about the likely cause of a miss.
    pub(crate) fn hint(&self) -> Option<String> {
        let count = |class: ErrorClass| self.metrics.count_of(&class);
        let (unfinished, not_started) = (self.unfinished(), self.not_started());
        let (connect, timeout) = (count(ErrorClass::Connect), count(ErrorClass::Timeout));
        let failed = self.failed();
        if unfinished > 0 {
            Some(format!(
                "{unfinished} iterations were still running when the {} drain ended: the \
                 target stalls or answers slower than that; each counts as an error with its \
                 age as its latency (Load::with_drain sets the wait)",
                Quantity::duration(self.drain)
            ))
        } else if connect * 2 > failed && connect > 0 {
            Some(format!(
                "{connect} connections were refused or reset: is the target listening{}?",
                self.target
                    .as_deref()
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default()
            ))
        } else if not_started > 0 {
            Some(format!(
                "{not_started} iterations could not start because the most allowed were in \
                 flight (Load::with_max_in_flight); the target is slower than the arrival rate"
            ))
        } else if timeout > 0 {
            Some(format!(
                "{timeout} requests timed out: the target is slower than the request timeout"
            ))
        } else {
            None
        }
    }
}

/// "38 timeout, 2 unfinished": the failures of `second` by class, largest first.
fn failures(second: &Second) -> String {
    let mut classes: Vec<(&ErrorClass, &u64)> = second.errors().iter().collect();
    classes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    classes
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "latency p50 41ms, p95 812.4ms, p99 1.92s, max 2.31s (n = 12,004)" of what latency
/// criteria judge; when failures finished fast, the same iterations with them beside it:
/// "; with 300 failed answers: p50 2ms, p95 401ms (n = 1,000)". "no latency recorded" when
/// nothing was timed.
pub(crate) fn latency_line(second: &Second) -> String {
    let h = second.latency();
    let d = |h: &hdrhistogram::Histogram<u64>, p: Percentile| {
        percentile(h, p).map_or_else(|| "-".to_owned(), |v| Quantity::duration(v).to_string())
    };
    let failed = second.failed_latency();
    if h.is_empty() && failed.is_empty() {
        return "no latency recorded".to_owned();
    }
    let mut line = if h.is_empty() {
        "latency of expected answers: none timed".to_owned()
    } else {
        format!(
            "latency p50 {}, p95 {}, p99 {}, max {} (n = {})",
            d(&h, Percentile::P50),
            d(&h, Percentile::P95),
            d(&h, Percentile::P99),
            Quantity::duration(Duration::from_micros(h.max())),
            Quantity::count(h.len())
        )
    };
    if !failed.is_empty() {
        let all = second.all_latency();
        line.push_str(&format!(
            "; with {} failed answers (not judged): p50 {}, p95 {} (n = {})",
            Quantity::count(failed.len()),
            d(&all, Percentile::P50),
            d(&all, Percentile::P95),
            Quantity::count(all.len())
        ));
    }
    line
}
