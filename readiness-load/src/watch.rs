//! Watching a run second by second: the live progress line and the abort rule.

use std::time::Duration;

use readiness_core::{Percentile, Quantity, Ratio};

use crate::metrics::{Second, percentile};

/// When a run stops early because a threshold is already lost (k6's `abortOnFail`).
/// Judged at the end of every second of the run, on the seconds finished so far.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum AbortRule {
    /// Stop when the error rate of the last `window` (whole seconds) is over `max`, with
    /// at least `min_requests` due in the window.
    ErrorRateOver {
        /// The highest error rate.
        max: Ratio,
        /// How much of the run is judged together (whole seconds, at least one).
        window: Duration,
        /// Fewer requests than this in the window never abort.
        min_requests: u64,
    },
    /// Stop when percentile `q` of the last `window` is over `limit` (the latency judged
    /// as the percentile criteria judge it).
    PercentileOver {
        /// The percentile.
        q: Percentile,
        /// The limit.
        limit: Duration,
        /// How much of the run is judged together (whole seconds, at least one).
        window: Duration,
    },
}

impl AbortRule {
    /// Why the run should stop, judged on the completed `seconds` (none: keep going).
    pub fn breached(&self, seconds: &[Second]) -> Option<String> {
        let last = |w: Duration| {
            let w = (w.as_secs() as usize).max(1);
            let from = seconds.len().saturating_sub(w);
            let mut t = Second::default();
            for s in &seconds[from..] {
                t.absorb(s);
            }
            (from, seconds.len(), t)
        };
        match *self {
            AbortRule::ErrorRateOver {
                max,
                window,
                min_requests,
            } => {
                let (from, n, t) = last(window);
                let rate = Ratio::of(t.error_count(), t.attempts())?;
                (t.attempts() >= min_requests.max(1) && rate > max)
                    .then(|| format!("error rate {rate} over {max} in seconds {from}..{n}"))
            }
            AbortRule::PercentileOver { q, limit, window } => {
                let (from, n, t) = last(window);
                let observed = percentile(&t.latency(), q)?;
                (observed > limit).then(|| {
                    format!(
                        "{q} {} over {} in seconds {from}..{n}",
                        Quantity::duration(observed),
                        Quantity::duration(limit),
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
    let all = last.attempts();
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
            progress_line("get_order", m.seconds()).as_deref(),
            Some("get_order 12s  200/s  p95 40ms  errors 1%")
        );
        assert_eq!(progress_line("get_order", &[]), None);
    }
}
