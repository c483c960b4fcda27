//! Baselines: a run's results and raw data saved to a file, and a later run compared with
//! it the way each record declares ([`Combine`]), keyed by subject and test so a changed
//! threshold still compares.
//!
//! A change is called only when the data says so, from a 95% interval:
//! - a latency percentile: the interval of the quantile from the order statistics of each
//!   histogram (ranks n·q ± 1.96·√(n·q·(1−q))), and of the ratio current / baseline from
//!   them; `regressed` when the whole interval is above 1 + noise, `improved` below
//!   1 / (1 + noise);
//! - a proportion (an error rate): Newcombe's interval of the difference of the two
//!   proportions; `regressed` when it lies wholly above noise × the baseline's proportion
//!   (on the worse side, as the threshold says: "at most" means higher is worse);
//! - a rate (a throughput): the interval of the ratio of two Poisson rates; called like a
//!   percentile, with "at least" meaning lower is worse;
//! - anything else: the verdicts (pass then, fail now is `regressed`).
//!
//! The noise band (`[report.baseline] noise`, 10% by default) absorbs what differs between
//! two runs of the same build on a shared machine, which no single run's sampling
//! interval can see.

use std::path::Path;

use hdrhistogram::Histogram;
use readiness_core::stats::{proportion_difference, quantile_interval, rate_ratio};
use readiness_core::{
    Combine, EncodedHistogram, Error, LatencyHistogram, Quantity, Result, Threshold, Verdict,
};
use serde::{Deserialize, Serialize};

use crate::scorecard::{CriterionResult, Status};

/// Version of the baseline file.
pub const BASELINE_SCHEMA: &str = "2.0";

/// What a run is compared against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// [`BASELINE_SCHEMA`].
    pub schema: String,
    /// When it was saved.
    pub saved_at: String,
    /// Git commits named by the evidence it was made from.
    pub git_commits: Vec<String>,
    /// One entry per criterion of the run.
    pub criteria: Vec<BaselineCriterion>,
}

/// One criterion in a baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineCriterion {
    /// What was measured (the key, with the test).
    pub subject: String,
    /// Criterion id.
    pub id: String,
    /// Title then.
    pub title: String,
    /// The test.
    pub test: String,
    /// Verdict then.
    pub verdict: Verdict,
    /// Threshold then.
    pub threshold: Option<Threshold>,
    /// Observed value then.
    pub observed: Option<Quantity>,
    /// How it combines, with its counts.
    pub combine: Combine,
    /// The latency histogram, for a latency percentile.
    pub histogram: Option<EncodedHistogram>,
}

/// How a criterion moved against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Better beyond noise (or fail then, pass now).
    Improved,
    /// Worse beyond noise (or pass then, fail or error now).
    Regressed,
    /// No change the data can tell from noise.
    WithinNoise,
    /// The same verdict, for a criterion judged by its verdict only.
    Unchanged,
    /// Nothing to compare (too few samples, different kinds of data).
    NotComparable,
    /// Not in the baseline.
    New,
    /// In the baseline, not in this run: it was not checked.
    Missing,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Change::Improved => "improved",
            Change::Regressed => "regressed",
            Change::WithinNoise => "within noise",
            Change::Unchanged => "unchanged",
            Change::NotComparable => "not comparable",
            Change::New => "new",
            Change::Missing => "missing",
        })
    }
}

/// One criterion compared with the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Criterion id.
    pub id: String,
    /// What was measured.
    pub subject: String,
    /// The test.
    pub test: String,
    /// What was compared ("p95", "error rate", "rate", "verdict").
    pub metric: String,
    /// Baseline value in words.
    pub baseline: Option<String>,
    /// Current value in words.
    pub current: Option<String>,
    /// current / baseline (for a proportion: the difference).
    pub ratio: Option<f64>,
    /// 95% interval of the ratio (or the difference).
    pub interval: Option<(f64, f64)>,
    /// The call.
    pub change: Change,
    /// The call in words, with the test behind it.
    pub detail: String,
}

/// Which way is worse: up for "at most" limits (latency, errors), down for "at least"
/// (throughput). A range or no threshold is taken as "at most".
fn higher_is_worse(t: Option<&Threshold>) -> bool {
    !matches!(t, Some(Threshold::AtLeast { .. }))
}

impl Baseline {
    /// A baseline of these results.
    pub fn of<'a>(results: impl IntoIterator<Item = &'a CriterionResult>) -> Baseline {
        let criteria: Vec<BaselineCriterion> =
            results.into_iter().map(BaselineCriterion::of).collect();
        Baseline {
            schema: BASELINE_SCHEMA.into(),
            saved_at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            git_commits: Vec::new(),
            criteria,
        }
    }

    /// The baseline of these results, naming the commits they tested.
    pub fn with_commits(mut self, commits: &[String]) -> Baseline {
        self.git_commits = commits.to_vec();
        self
    }

    /// Reads a baseline file; a missing file says how to make one (it is never made here).
    pub fn load(path: &Path) -> Result<Baseline> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::InvalidInput(format!(
                "cannot read the baseline {}: {e}; save one from a good run with \
                 `readiness baseline save DIR --file {}`",
                path.display(),
                path.display()
            ))
        })?;
        #[derive(Deserialize)]
        struct Version {
            schema: String,
        }
        let version = serde_json::from_str::<Version>(&text).map(|v| v.schema);
        if let Ok(v) = &version
            && v.split('.').next() != BASELINE_SCHEMA.split('.').next()
        {
            return Err(Error::InvalidInput(format!(
                "baseline {} has schema {v:?}; this report reads {BASELINE_SCHEMA}: save it \
                 again with `readiness baseline save`",
                path.display()
            )));
        }
        serde_json::from_str(&text).map_err(|e| {
            Error::InvalidInput(format!(
                "{} is not a readiness baseline ({e}); save a new one with `readiness baseline save`",
                path.display()
            ))
        })
    }

    /// Writes the baseline to `path` (through a temporary file, so a failed write leaves
    /// the old one whole).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Other(format!("cannot encode the baseline: {e}")))?;
        crate::write_atomically(path, text.as_bytes())
    }

    /// Compares `current` with this baseline; `noise` is the relative band (0.10 = 10%).
    /// Every current criterion gets a line, and every baseline criterion this run lacks.
    pub fn compare<'a>(
        &self,
        current: impl IntoIterator<Item = &'a CriterionResult>,
        noise: f64,
    ) -> Vec<Comparison> {
        let index: std::collections::HashMap<(&str, &str), &BaselineCriterion> = self
            .criteria
            .iter()
            .map(|c| ((c.subject.as_str(), c.test.as_str()), c))
            .collect();
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<Comparison> = current
            .into_iter()
            .filter(|r| r.verdict != Status::Missing)
            .map(|r| {
                let test = r.test.as_deref().unwrap_or_default();
                let then = index.get(&(r.subject.as_str(), test)).copied();
                if let Some(t) = then {
                    seen.insert((t.subject.as_str(), t.test.as_str()));
                }
                let now = BaselineCriterion::of(r);
                match then {
                    None => Comparison {
                        change: Change::New,
                        detail: "not in the baseline".into(),
                        ..base(&now, None)
                    },
                    Some(then) => compare_one(then, &now, noise),
                }
            })
            .collect();
        for c in &self.criteria {
            if !seen.contains(&(c.subject.as_str(), c.test.as_str())) {
                out.push(Comparison {
                    change: Change::Missing,
                    current: None,
                    detail: "in the baseline, not in this run: it was not checked".into(),
                    ..base(c, Some(c))
                });
            }
        }
        out
    }
}

impl BaselineCriterion {
    fn of(r: &CriterionResult) -> BaselineCriterion {
        BaselineCriterion {
            subject: r.subject.to_string(),
            id: r.id.to_string(),
            title: r.title.to_string(),
            test: r.test.as_deref().unwrap_or_default().to_owned(),
            verdict: match r.verdict {
                Status::Pass => Verdict::Pass,
                Status::Fail => Verdict::Fail,
                Status::Error | Status::Missing => Verdict::Error,
            },
            threshold: r.threshold,
            observed: r.observed,
            combine: r.combine,
            histogram: match r.combine {
                Combine::LatencyDistribution { .. } => r
                    .attachment::<LatencyHistogram>()
                    .map(|h| h.histogram.clone()),
                _ => None,
            },
        }
    }
}

/// A comparison line of `now`, with what the baseline had.
fn base(now: &BaselineCriterion, then: Option<&BaselineCriterion>) -> Comparison {
    Comparison {
        id: now.id.clone(),
        subject: now.subject.clone(),
        test: now.test.clone(),
        metric: "verdict".into(),
        baseline: then.and_then(|t| t.observed.map(|o| o.to_string())),
        current: now.observed.map(|o| o.to_string()),
        ratio: None,
        interval: None,
        change: Change::NotComparable,
        detail: String::new(),
    }
}

/// The call for an interval that lies wholly above (`up`) or below (`down`) the noise band,
/// when higher is worse (`worse_up`) or better.
fn call(up: bool, down: bool, worse_up: bool) -> Change {
    match (up, down) {
        (true, _) if worse_up => Change::Regressed,
        (true, _) => Change::Improved,
        (_, true) if worse_up => Change::Improved,
        (_, true) => Change::Regressed,
        _ => Change::WithinNoise,
    }
}

fn compare_one(then: &BaselineCriterion, now: &BaselineCriterion, noise: f64) -> Comparison {
    let line = base(now, Some(then));
    let worse_up = higher_is_worse(now.threshold.as_ref());
    match (then.combine, now.combine) {
        (Combine::LatencyDistribution { .. }, Combine::LatencyDistribution { percentile }) => {
            let decoded = |b: &BaselineCriterion| b.histogram.as_ref()?.decode().ok();
            match (decoded(then), decoded(now)) {
                (Some(a), Some(b)) => compare_histograms(
                    Comparison {
                        metric: percentile.to_string(),
                        ..line
                    },
                    &a,
                    &b,
                    percentile.quantile(),
                    noise,
                ),
                _ => Comparison {
                    detail: "a latency histogram is missing".into(),
                    ..line
                },
            }
        }
        (
            Combine::Proportion {
                events: e1,
                trials: t1,
            },
            Combine::Proportion {
                events: e2,
                trials: t2,
            },
        ) => {
            let Some((low, d, high)) = proportion_difference((e1, t1), (e2, t2)) else {
                return Comparison {
                    detail: "no trials to compare".into(),
                    ..line
                };
            };
            let p1 = e1 as f64 / t1 as f64;
            let band = noise * p1;
            let change = call(low > band, high < -band, worse_up);
            let pts = |x: f64| format!("{:+.2}", x * 100.0);
            Comparison {
                metric: "proportion".into(),
                ratio: Some(d),
                interval: Some((low, high)),
                change,
                detail: format!(
                    "{} -> {} ({} points), 95% interval of the difference {} .. {} points \
                     from {e1} of {t1} and {e2} of {t2}; noise band ±{:.0}% of {}",
                    Quantity::ratio(p1),
                    Quantity::ratio(e2 as f64 / t2 as f64),
                    pts(d),
                    pts(low),
                    pts(high),
                    noise * 100.0,
                    Quantity::ratio(p1)
                ),
                ..line
            }
        }
        (
            Combine::Rate {
                events: e1,
                seconds: s1,
            },
            Combine::Rate {
                events: e2,
                seconds: s2,
            },
        ) => {
            let Some((low, ratio, high)) = rate_ratio((e1, s1), (e2, s2)) else {
                return Comparison {
                    detail: "no time to compare over".into(),
                    ..line
                };
            };
            let change = call(low > 1.0 + noise, high < 1.0 / (1.0 + noise), worse_up);
            Comparison {
                metric: "rate".into(),
                ratio: Some(ratio),
                interval: Some((low, high)),
                change,
                detail: format!(
                    "{} -> {} ({:+.1}%), 95% interval of the ratio {low:.3}..{high:.3} from \
                     {e1} and {e2} events; noise band ±{:.0}%",
                    Quantity::per_second(e1 as f64 / s1.max(1e-9)),
                    Quantity::per_second(e2 as f64 / s2.max(1e-9)),
                    (ratio - 1.0) * 100.0,
                    noise * 100.0
                ),
                ..line
            }
        }
        (a, b) if std::mem::discriminant(&a) != std::mem::discriminant(&b) => Comparison {
            detail: "the baseline measured it another way; save the baseline again".into(),
            ..line
        },
        _ => {
            let change = match (then.verdict, now.verdict) {
                (a, b) if a == b => Change::Unchanged,
                (Verdict::Pass, _) => Change::Regressed,
                (_, Verdict::Pass) => Change::Improved,
                _ => Change::Unchanged,
            };
            Comparison {
                change,
                detail: format!("verdict {} then, {} now", then.verdict, now.verdict),
                ..line
            }
        }
    }
}

fn compare_histograms(
    base: Comparison,
    then: &Histogram<u64>,
    now: &Histogram<u64>,
    q: f64,
    noise: f64,
) -> Comparison {
    let (Some((b_lo, b, b_hi)), Some((c_lo, c, c_hi))) =
        (quantile_interval(then, q), quantile_interval(now, q))
    else {
        return Comparison {
            detail: format!(
                "too few samples to compare ({} then, {} now; 20 needed)",
                then.len(),
                now.len()
            ),
            ..base
        };
    };
    let ms = |us: f64| format!("{:.2}ms", us / 1e3);
    let (ratio, lo, hi) = (c / b.max(1.0), c_lo / b_hi.max(1.0), c_hi / b_lo.max(1.0));
    // Latency: higher is worse.
    let change = call(lo > 1.0 + noise, hi < 1.0 / (1.0 + noise), true);
    let detail = format!(
        "{} {} -> {} ({:+.1}%), 95% interval of the ratio {:.3}..{:.3} from {} and {} samples; \
         noise band ±{:.0}%",
        base.metric,
        ms(b),
        ms(c),
        (ratio - 1.0) * 100.0,
        lo,
        hi,
        then.len(),
        now.len(),
        noise * 100.0
    );
    Comparison {
        baseline: Some(ms(b)),
        current: Some(ms(c)),
        ratio: Some(ratio),
        interval: Some((lo, hi)),
        change,
        detail,
        ..base
    }
}
