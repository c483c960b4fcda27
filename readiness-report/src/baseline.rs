//! Baselines: a run's verdicts and raw latency distributions saved to a file, and a later
//! run compared with it on the raw histograms.
//!
//! A change is called only when the data says so: for the criterion's percentile q of n
//! samples, the distribution-free confidence interval of the quantile comes from the order
//! statistics (ranks n·q ± 1.96·√(n·q·(1−q))), read off each histogram; the interval of the
//! ratio current / baseline is [current low / baseline high, current high / baseline low].
//! `regressed` when the whole interval is above 1 + noise, `improved` when it is below
//! 1 / (1 + noise), `within noise` otherwise. The noise band (`[report.baseline] noise`,
//! 10% by default) absorbs what differs between two runs of the same build on a shared
//! machine, which no single run's sampling interval can see.

use std::path::Path;

use hdrhistogram::Histogram;
use readiness_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::histogram;
use crate::merge::{Merged, latency_histogram, percentile_of};

/// Version of the baseline file.
pub const BASELINE_SCHEMA: &str = "1.0";

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
    /// Criterion id.
    pub id: String,
    /// Title.
    pub title: String,
    /// The test.
    pub test: String,
    /// Verdict then.
    pub verdict: String,
    /// Observed value then, in words.
    pub observed: Option<String>,
    /// The latency histogram (HDR V2, base64), when the criterion had one.
    pub histogram: Option<String>,
}

/// How a criterion moved against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Faster beyond noise.
    Improved,
    /// Slower beyond noise.
    Regressed,
    /// No change the data can tell from noise.
    WithinNoise,
    /// No distribution to compare (the verdicts are shown).
    NotComparable,
    /// Not in the baseline.
    New,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Change::Improved => "improved",
            Change::Regressed => "regressed",
            Change::WithinNoise => "within noise",
            Change::NotComparable => "not comparable",
            Change::New => "new",
        })
    }
}

/// One criterion compared with the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Criterion id.
    pub id: String,
    /// The test.
    pub test: String,
    /// What was compared ("p95").
    pub metric: String,
    /// Baseline value in words.
    pub baseline: Option<String>,
    /// Current value in words.
    pub current: Option<String>,
    /// current / baseline.
    pub ratio: Option<f64>,
    /// 95% interval of the ratio.
    pub interval: Option<(f64, f64)>,
    /// The call.
    pub change: Change,
    /// The call in words, with the test behind it.
    pub detail: String,
}

impl Baseline {
    /// A baseline of these results.
    pub fn of(merged: &[Merged]) -> Baseline {
        Baseline {
            schema: BASELINE_SCHEMA.into(),
            saved_at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            git_commits: crate::merge::git_commits(merged),
            criteria: merged
                .iter()
                .map(|m| BaselineCriterion {
                    id: m.evidence.criterion.id.clone(),
                    title: m.evidence.criterion.title.clone(),
                    test: m.evidence.context.test.clone().unwrap_or_default(),
                    verdict: m.evidence.verdict.to_string(),
                    observed: m.evidence.observed.map(|o| o.to_string()),
                    histogram: latency_histogram(&m.evidence).map(str::to_owned),
                })
                .collect(),
        }
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
        let b: Baseline = serde_json::from_str(&text).map_err(|e| {
            Error::InvalidInput(format!(
                "{} is not a readiness baseline ({e}); save a new one with `readiness baseline save`",
                path.display()
            ))
        })?;
        if b.schema.split('.').next() != BASELINE_SCHEMA.split('.').next() {
            return Err(Error::InvalidInput(format!(
                "baseline {} has schema {:?}; this report reads {BASELINE_SCHEMA}: save it again",
                path.display(),
                b.schema
            )));
        }
        Ok(b)
    }

    /// Writes the baseline to `path` (through a temporary file, so a failed write leaves
    /// the old one whole).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Other(format!("cannot encode the baseline: {e}")))?;
        crate::write_atomically(path, text.as_bytes())
    }

    /// Compares `current` with this baseline; `noise` is the relative band (0.10 = 10%).
    pub fn compare(&self, current: &[Merged], noise: f64) -> Vec<Comparison> {
        let index: std::collections::HashMap<(&str, &str, &str), &BaselineCriterion> = self
            .criteria
            .iter()
            .map(|c| ((c.id.as_str(), c.title.as_str(), c.test.as_str()), c))
            .collect();
        current
            .iter()
            .map(|m| {
                let e = &m.evidence;
                let test = e.context.test.as_deref().unwrap_or_default();
                let then = index.get(&(e.criterion.id.as_str(), e.criterion.title.as_str(), test));
                let q = percentile_of(&e.criterion.id)
                    .filter(|q| *q > 0.0 && *q < 100.0)
                    .unwrap_or(95.0);
                let now_h = latency_histogram(e).and_then(histogram::decode);
                let then_h = then
                    .and_then(|t| t.histogram.as_deref())
                    .and_then(histogram::decode);
                let base = Comparison {
                    id: e.criterion.id.clone(),
                    test: test.to_owned(),
                    metric: format!("p{q}"),
                    baseline: then.and_then(|t| t.observed.clone()),
                    current: e.observed.map(|o| o.to_string()),
                    ratio: None,
                    interval: None,
                    change: Change::NotComparable,
                    detail: String::new(),
                };
                match (then, now_h, then_h) {
                    (None, _, _) => Comparison {
                        change: Change::New,
                        detail: "not in the baseline".into(),
                        ..base
                    },
                    (Some(_), Some(now), Some(then)) => {
                        compare_histograms(base, &then, &now, q / 100.0, noise)
                    }
                    (Some(t), _, _) => Comparison {
                        detail: format!(
                            "no latency distribution to compare; verdict {} then, {} now",
                            t.verdict, e.verdict
                        ),
                        ..base
                    },
                }
            })
            .collect()
    }
}

/// The 95% interval of quantile `q` from the order statistics of the histogram's samples.
pub fn quantile_interval(h: &Histogram<u64>, q: f64) -> Option<(f64, f64, f64)> {
    let n = h.len() as f64;
    if n < 20.0 {
        return None;
    }
    let half = 1.96 * (n * q * (1.0 - q)).sqrt();
    let at = |rank: f64| h.value_at_quantile((rank / n).clamp(0.0, 1.0)) as f64;
    Some((
        at((n * q - half).floor()),
        at(n * q),
        at((n * q + half).ceil()),
    ))
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
    let change = if lo > 1.0 + noise {
        Change::Regressed
    } else if hi < 1.0 / (1.0 + noise) {
        Change::Improved
    } else {
        Change::WithinNoise
    };
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
