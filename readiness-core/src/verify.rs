//! A record judged again from its own numbers: the threshold, the observed value and the
//! raw data it carries. The report calls this for every record, so a record whose verdict
//! disagrees with its numbers (a bug, a hand-edited file) is found, never believed.

use std::time::Duration;

use crate::attachment::{
    AlertState, AlertTimeline, LatencyHistogram, RateLimitTimeline, RecoveryTimeline,
    SecurityReport, SpikeRecovery, StressSteps, Timeline, VulnerabilityFindings, Windows,
    WriteHistory,
};
use crate::evidence::{Combine, Evidence, Verdict};
use crate::quantity::{Quantity, Threshold};

/// Which kind of limit a criterion of the harness is judged against: latencies, error
/// rates, recovery times and failed probes have a maximum; throughput, capacity and
/// coverage a minimum. A record of one of these ids with the other kind of limit was not
/// judged the way its id says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// `at most`.
    Maximum,
    /// `at least`.
    Minimum,
}

impl LimitKind {
    /// The kind of `threshold` (`None` for a range).
    pub fn of(self, threshold: &Threshold) -> Option<LimitKind> {
        match threshold {
            Threshold::AtMost { .. } => Some(LimitKind::Maximum),
            Threshold::AtLeast { .. } => Some(LimitKind::Minimum),
            Threshold::Within { .. } => None,
        }
    }
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitKind::Maximum => "a maximum (at most)",
            LimitKind::Minimum => "a minimum (at least)",
        })
    }
}

/// The kind of limit the harness's criterion `id` is judged against; `None` for an id the
/// harness does not define (a team's own check may use either) or one judged either way.
pub fn required_limit(id: &str) -> Option<LimitKind> {
    crate::criteria::defined(id).and_then(|d| d.limit)
}

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
        if let Some(required) = required_limit(&self.criterion.id)
            && required.of(&threshold) != Some(required)
        {
            return Err(format!(
                "{} is judged against {required}, but its threshold is \"{threshold}\"",
                self.criterion.id
            ));
        }
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
                // The timeline is the same run second by second: it must add up to it.
                if let Some(t) = self.attachment::<Timeline>() {
                    let seconds = t.judged_latency().map_err(|e| e.to_string())?;
                    let from_seconds = crate::histogram::percentile(&seconds, percentile);
                    if seconds.len() != h.len()
                        || from_seconds != crate::histogram::percentile(&h, percentile)
                    {
                        return Err(format!(
                            "its histogram has {} samples with {percentile} {}, but its \
                             timeline's seconds add up to {} samples with {percentile} {}",
                            h.len(),
                            derived,
                            seconds.len(),
                            from_seconds.map_or_else(
                                || "none".to_owned(),
                                |d| Quantity::duration(d).to_string()
                            )
                        ));
                    }
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
                if let Some(t) = self.attachment::<Timeline>() {
                    let succeeded: u64 = t.seconds.iter().map(|s| s.ok).sum();
                    if events > succeeded {
                        return Err(format!(
                            "its count says {events} succeeded, its timeline {succeeded}"
                        ));
                    }
                }
            }
            Combine::VerdictOnly => {}
        }
        self.verify_load(observed)?;
        self.verify_drill(observed)?;
        self.verify_security(observed)
    }

    /// A stress ceiling must be the one its steps give under its break criterion, and each
    /// step's `broke` what the criterion says of it; a spike's recovery what its p95 per
    /// second gives.
    fn verify_load(&self, observed: Quantity) -> std::result::Result<(), String> {
        if let (Some(w), Some(t)) = (self.attachment::<Windows>(), self.attachment::<Timeline>()) {
            let worst = w.worst(t).map_err(|e| e.to_string())?;
            match worst {
                Some(worst) if (worst.value.value() - observed.value()).abs() <= 1e-9 => {}
                Some(worst) => {
                    return Err(format!(
                        "observed {observed} in its worst {}s window, but its timeline's worst \
                         window (seconds {}..) has {}",
                        w.seconds, worst.from_second, worst.value
                    ));
                }
                None => {
                    return Err(format!(
                        "observed {observed} in its worst window, but its timeline has no \
                         window to judge"
                    ));
                }
            }
        }
        if let Some(s) = self.attachment::<StressSteps>() {
            if let Some((i, step)) = s
                .steps
                .iter()
                .enumerate()
                .find(|(_, st)| st.broke != s.judge_step(st).is_some())
            {
                return Err(format!(
                    "stress step {} ({}) says broke = {}, but its numbers say {}",
                    i + 1,
                    step.rate,
                    step.broke,
                    s.judge_step(step).unwrap_or_else(|| "it held".into())
                ));
            }
            let ceiling = s.derive_ceiling();
            if ceiling != s.ceiling {
                return Err(format!(
                    "its stress ceiling is {:?}, but its steps give {ceiling:?}",
                    s.ceiling.map(|c| c.value())
                ));
            }
            if let Some(c) = ceiling
                && self.bound != crate::evidence::Bound::AtMost
                && (c.value() - observed.value()).abs() > 1e-9 * c.value().max(1.0)
            {
                return Err(format!(
                    "observed capacity {observed}, but its steps give a ceiling of {c}"
                ));
            }
        }
        if let Some(s) = self.attachment::<SpikeRecovery>() {
            let derived = s.derive_recovery();
            if derived != s.recovery {
                return Err(format!(
                    "its spike recovery is {:?}, but its p95 per second gives {derived:?}",
                    s.recovery
                ));
            }
            if let Some(d) = derived
                && self.bound == crate::evidence::Bound::Exact
                && (d.as_secs_f64() - observed.value()).abs() > 1e-6
            {
                return Err(format!(
                    "observed recovery {observed}, but its p95 per second gives {}",
                    Quantity::duration(d)
                ));
            }
        }
        Ok(())
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
            let (derived, _) =
                RecoveryTimeline::recovered_from(&r.samples, r.settle, r.streak_from);
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
