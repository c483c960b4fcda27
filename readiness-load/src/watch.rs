//! Watching a run second by second: the live progress line and the abort rule.

use std::time::Duration;

use readiness_core::{Percentile, Quantity};

use crate::metrics::{Second, percentile};

/// When a run stops early because a threshold is already lost (k6's `abortOnFail`).
/// Judged at the end of every second of the run, on the seconds finished so far.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum AbortRule {
    /// Stop when the error rate of the last `window` seconds is over `max_ratio`
    /// (with at least `min_requests` finished in the window).
    ErrorRateOver {
        /// The ratio, 0.01 = 1%.
        max_ratio: f64,
        /// Seconds judged together.
        window: u32,
        /// Fewer requests than this in the window never abort.
        min_requests: u64,
    },
    /// Stop when the percentile `q` of the last `window` seconds is over `limit`.
    PercentileOver {
        /// The percentile (95.0 = p95).
        q: Percentile,
        /// The limit.
        limit: Duration,
        /// Seconds judged together.
        window: u32,
    },
}

impl AbortRule {
    /// Why the run should stop, judged on the completed `seconds` (none: keep going).
    pub fn breached(&self, seconds: &[Second]) -> Option<String> {
        let last = |w: u32| {
            let w = (w as usize).max(1);
            let from = seconds.len().saturating_sub(w);
            let mut t = Second::default();
            for s in &seconds[from..] {
                t.absorb(s);
            }
            (seconds.len(), t)
        };
        match *self {
            AbortRule::ErrorRateOver {
                max_ratio,
                window,
                min_requests,
            } => {
                let (n, t) = last(window);
                let all = t.ok + t.error_count();
                let rate = if all == 0 {
                    0.0
                } else {
                    t.error_count() as f64 / all as f64
                };
                (all >= min_requests.max(1) && rate > max_ratio).then(|| {
                    format!(
                        "error rate {} over {} in seconds {}..{}",
                        Quantity::ratio(rate),
                        Quantity::ratio(max_ratio),
                        n.saturating_sub(window as usize),
                        n
                    )
                })
            }
            AbortRule::PercentileOver { q, limit, window } => {
                let (n, t) = last(window);
                let observed = percentile(&t.latency(), q)?;
                (observed > limit).then(|| {
                    format!(
                        "{q} {} over {} in seconds {}..{}",
                        Quantity::duration(observed),
                        Quantity::duration(limit),
                        n.saturating_sub(window as usize),
                        n
                    )
                })
            }
        }
    }
}

/// The live progress line: on stderr when it is a terminal, nothing otherwise.
pub(crate) fn progress(name: &str, seconds: &[Second]) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal()
        && let Some(line) = progress_line(name, seconds)
    {
        eprint!("\r\x1b[2K{line}");
    }
}

/// "get_order 12s  200/s  p95 41ms  errors 0%" for the last finished second.
pub(crate) fn progress_line(name: &str, seconds: &[Second]) -> Option<String> {
    let last = seconds.last()?;
    let all = last.ok + last.error_count();
    let errors = if all == 0 {
        0.0
    } else {
        last.error_count() as f64 / all as f64
    };
    let p95 = percentile(&last.latency(), Percentile::P95)
        .map_or_else(|| "-".to_owned(), |d| Quantity::duration(d).to_string());
    Some(format!(
        "{name} {}s  {all}/s  p95 {p95}  errors {}",
        seconds.len(),
        Quantity::ratio(errors)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{ErrorClass, Metrics};

    #[test]
    fn progress_line_shows_rate_p95_and_errors_of_the_last_second() {
        let mut m = Metrics::default();
        for i in 0..200u64 {
            let outcome = if i < 2 {
                Err(ErrorClass::Status5xx)
            } else {
                Ok(())
            };
            m.record(
                Duration::from_millis(11_000 + i),
                Duration::from_millis(40),
                &outcome,
            );
        }
        assert_eq!(
            progress_line("get_order", &m.seconds).as_deref(),
            Some("get_order 12s  200/s  p95 40ms  errors 1%")
        );
        assert_eq!(progress_line("get_order", &[]), None);
    }
}
