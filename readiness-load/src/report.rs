//! What a load run measured, and the numbers the assertions judge: every one of them says
//! when there is nothing to judge instead of answering 0.

use std::time::Duration;

use time::OffsetDateTime;

use readiness_core::{Percentile, Quantity, Rate, Ratio, Recorder};

use crate::metrics::{ErrorClass, Metrics, Second, percentile};
use crate::shard::Shard;

/// What a load run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The transaction's name.
    pub name: String,
    /// The model, in words ("constant arrival rate 200/s for 30s").
    pub scenario: String,
    /// What was targeted.
    pub target: Option<String>,
    /// When the run started.
    pub started_at: OffsetDateTime,
    /// How long it took, drain included.
    pub elapsed: Duration,
    /// The model's duration (what a throughput is per).
    pub duration: Duration,
    /// How long the run waited at the end for iterations still running.
    pub drain: Duration,
    /// The measurements, all transactions together.
    pub metrics: Metrics,
    /// The measurements of each named transaction of a mix ([`crate::Load::run_mix`]);
    /// empty for a single transaction, whose measurements are `metrics`.
    pub by_name: Vec<(String, Metrics)>,
    /// The shard this run was, if the load was split.
    pub shard: Option<Shard>,
    /// Why the run stopped early, if an abort rule was breached.
    pub aborted: Option<String>,
    /// Where assertions on this report record their evidence (`None`: the evidence
    /// directory).
    pub recorder: Option<Recorder>,
}

impl Report {
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

    /// Latency at percentile `p` over the whole run: every finished iteration, and every
    /// unfinished one at its age (a lower bound). `None` when nothing was timed.
    pub fn percentile(&self, p: Percentile) -> Option<Duration> {
        percentile(&self.metrics.total().latency(), p)
    }
    /// failed / attempts; `None` when no iteration was due.
    pub fn error_rate(&self) -> Option<Ratio> {
        Ratio::of(self.failed(), self.attempts())
    }
    /// Successful iterations per second of the model's duration; `None` when no
    /// iteration was due.
    pub fn throughput(&self) -> Option<Rate> {
        if self.attempts() == 0 {
            return None;
        }
        Rate::of(self.succeeded(), self.duration)
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
    let mut classes: Vec<(&ErrorClass, &u64)> = second.errors.iter().collect();
    classes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    classes
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "latency p50 41ms, p95 812.4ms, p99 1.92s, max 2.31s (n = 12,004)", or "no latency
/// recorded".
pub(crate) fn latency_line(second: &Second) -> String {
    let h = second.latency();
    let d = |p: Percentile| {
        percentile(&h, p).map_or_else(|| "-".to_owned(), |v| Quantity::duration(v).to_string())
    };
    if h.is_empty() {
        return "no latency recorded".to_owned();
    }
    format!(
        "latency p50 {}, p95 {}, p99 {}, max {} (n = {})",
        d(Percentile::P50),
        d(Percentile::P95),
        d(Percentile::P99),
        Quantity::duration(Duration::from_micros(h.max())),
        Quantity::count(h.len())
    )
}
