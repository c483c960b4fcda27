//! A record judged again from its own numbers: the threshold, the observed value and the
//! raw data it carries. The report calls this for every record, so a record whose verdict
//! disagrees with its numbers (a bug, a hand-edited file) is found, never believed.

use std::time::Duration;

use crate::attachment::{
    AlertState, AlertTimeline, LatencyHistogram, RateLimitTimeline, RecoveryTimeline,
    SecurityReport, Timeline, VulnerabilityFindings, WriteHistory,
};
use crate::evidence::{Combine, Evidence, Verdict};
use crate::quantity::Quantity;

impl Evidence {
    /// Judges the record again: a `pass` or `fail` needs a valid threshold and a valid
    /// observed value that give the same verdict; the observed value must follow from the
    /// raw data the record declares ([`Combine`]): the percentile of its latency
    /// histogram, the share of its counts (and of its timeline), the rate of its count.
    /// An `error` needs a reason. Returns what disagrees.
    pub fn verify(&self) -> std::result::Result<(), String> {
        let verdict = self.verdict;
        if verdict == Verdict::Error {
            return match &self.error {
                Some(_) => Ok(()),
                None => Err("verdict error without a reason".into()),
            };
        }
        let threshold = self
            .threshold
            .ok_or_else(|| format!("verdict {verdict} without a threshold"))?;
        threshold
            .validate()
            .map_err(|e| format!("its threshold \"{threshold}\" is not valid: {e}"))?;
        let observed = self
            .observed
            .ok_or_else(|| format!("verdict {verdict} without an observed value"))?;
        let judgement = threshold
            .judge(observed)
            .map_err(|e| format!("its observed value cannot be judged: {e}"))?;
        if judgement.met != (verdict == Verdict::Pass) {
            return Err(format!(
                "verdict {verdict}, but observed {observed} {} the threshold \"{threshold}\"",
                if judgement.met {
                    "meets"
                } else {
                    "does not meet"
                }
            ));
        }
        match self.combine {
            Combine::LatencyDistribution { percentile } => {
                let h = self
                    .attachment::<LatencyHistogram>()
                    .ok_or("a latency percentile without its latency histogram")?
                    .histogram
                    .decode()
                    .map_err(|e| e.to_string())?;
                if h.is_empty() {
                    return Err("a latency percentile over an empty histogram".into());
                }
                let derived = Quantity::duration(Duration::from_micros(
                    h.value_at_quantile(percentile.quantile()),
                ));
                if (derived.value() - observed.value()).abs() > 1e-6 {
                    return Err(format!(
                        "observed {percentile} {:.0}µs, but its histogram of {} samples \
                         gives {:.0}µs",
                        observed.value() * 1e6,
                        h.len(),
                        derived.value() * 1e6
                    ));
                }
            }
            Combine::Proportion { events, trials } => {
                if trials == 0 || events > trials {
                    return Err(format!("{events} events among {trials} trials"));
                }
                let derived = events as f64 / trials as f64;
                if !matches!(observed, Quantity::Ratio(r) if (r - derived).abs() <= 1e-12) {
                    return Err(format!(
                        "observed {observed}, but its counts give {events} of {trials} = {}",
                        Quantity::ratio(derived)
                    ));
                }
                if let Some(t) = self.attachment::<Timeline>()
                    && t.counts() != (events, trials)
                {
                    let (f, a) = t.counts();
                    return Err(format!(
                        "its counts say {events} of {trials}, its timeline {f} of {a}"
                    ));
                }
            }
            Combine::Rate { events, seconds } => {
                if !(seconds.is_finite() && seconds > 0.0) {
                    return Err(format!("a rate over {seconds} seconds"));
                }
                let derived = events as f64 / seconds;
                let close = |r: f64| (r - derived).abs() <= 1e-9 * derived.max(1.0);
                if !matches!(observed, Quantity::Rate(r) if close(r)) {
                    return Err(format!(
                        "observed {observed}, but its count gives {events} in {} = {}",
                        Quantity::secs(seconds),
                        Quantity::per_second(derived)
                    ));
                }
            }
            Combine::VerdictOnly => {}
        }
        self.verify_drill(observed)?;
        self.verify_security(observed)
    }

    /// A security record's count must be that of its failed probes (or of its findings
    /// beyond the limits); a rate limit's sustained count must be that of its requests, and
    /// a count over the allowance must show as a failed probe.
    fn verify_security(&self, observed: Quantity) -> std::result::Result<(), String> {
        let Quantity::Count(n) = observed else {
            return Ok(());
        };
        if let Some(r) = self.attachment::<SecurityReport>()
            && r.failed() != n
        {
            return Err(format!(
                "observed {observed} failed, but its report has {} failed of {} probes",
                r.failed(),
                r.items.len()
            ));
        }
        if let Some(v) = self.attachment::<VulnerabilityFindings>()
            && v.excess() != n
        {
            return Err(format!(
                "observed {observed} beyond the limits, but its {} findings give {}",
                v.findings.len(),
                v.excess()
            ));
        }
        if let Some(t) = self.attachment::<RateLimitTimeline>() {
            let derived = t.derive_sustained_accepted();
            if derived != t.sustained_accepted {
                return Err(format!(
                    "{} requests accepted in the sustained phase, but its requests show {derived}",
                    t.sustained_accepted
                ));
            }
            if derived as f64 > t.sustained_allowed() && n == 0 {
                return Err(format!(
                    "{derived} requests accepted in the sustained phase where {:.1} are \
                     allowed, yet no probe failed",
                    t.sustained_allowed()
                ));
            }
        }
        Ok(())
    }

    /// A recovery time must be the one its timeline shows; a count of lost writes and a
    /// data-loss window must be those of the write history.
    fn verify_drill(&self, observed: Quantity) -> std::result::Result<(), String> {
        if let (Some(r), Quantity::Duration(secs)) =
            (self.attachment::<RecoveryTimeline>(), observed)
            && self.bound == crate::evidence::Bound::Exact
        {
            let (derived, _) = RecoveryTimeline::recovered(&r.samples, r.settle);
            match derived {
                Some(ms) if (ms / 1e3 - secs).abs() <= 1e-6 => {}
                Some(ms) => {
                    return Err(format!(
                        "observed recovery {observed}, but its probe samples recover at {}",
                        Quantity::secs(ms / 1e3)
                    ));
                }
                None => {
                    return Err(format!(
                        "observed recovery {observed}, but its probe samples never stay good \
                         for {:?}",
                        r.settle
                    ));
                }
            }
        }
        if let (Some(t), Quantity::Duration(secs)) = (self.attachment::<AlertTimeline>(), observed)
            && self.bound == crate::evidence::Bound::Exact
        {
            let notified = [AlertState::Notified, AlertState::ResolvedNotified]
                .into_iter()
                .filter_map(|s| t.first(s))
                .collect::<Vec<_>>();
            if !notified.iter().any(|ms| (ms / 1e3 - secs).abs() <= 1e-3) {
                return Err(format!(
                    "observed {observed} to the notification of {}, but its timeline has \
                     notifications at {:?} ms",
                    t.alert, notified
                ));
            }
        }
        if let Some(h) = self.attachment::<WriteHistory>() {
            let derived = match observed {
                Quantity::Count(_) => Some(Quantity::count(h.counts().lost)),
                Quantity::Duration(_) => h.loss_window().map(Quantity::duration),
                _ => None,
            };
            if let Some(d) = derived
                && (d.value() - observed.value()).abs() > 1e-6
            {
                return Err(format!(
                    "observed {observed}, but its write history gives {d}"
                ));
            }
        }
        Ok(())
    }
}
