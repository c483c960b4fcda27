//! The scorecard: per category the criteria and their verdicts, a score, the weighted total
//! and the go / no-go verdict with its reasons. Every number points back at its evidence.

use std::collections::BTreeMap;

use readiness_core::{Attachment, Verdict};
use serde::Serialize;

use crate::baseline::Comparison;
use crate::capacity::CapacityPlan;
use crate::config::{NoGoRule, ReportConfig, Unassessed, matches};
use crate::merge::Merged;
use crate::read::{EvidenceSet, Finding};

/// Version of the scorecard's JSON form; a consumer refuses an unknown major.
pub const SCORECARD_SCHEMA: &str = "1.1";

/// Go or no-go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Every rule holds: release.
    Go,
    /// At least one reason not to release.
    NoGo,
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Decision::Go => "GO",
            Decision::NoGo => "NO-GO",
        })
    }
}

/// Where a criterion stands: its evidence's verdict, or no evidence at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Measured and met.
    Pass,
    /// Measured and missed.
    Fail,
    /// Could not be measured.
    Error,
    /// Expected in the config, but no test left evidence.
    Missing,
}

impl From<Verdict> for Status {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Pass => Status::Pass,
            Verdict::Fail => Status::Fail,
            Verdict::Error => Status::Error,
        }
    }
}

impl Status {
    /// "pass", "fail", "error", "missing" (as in the JSON form).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::Missing => "missing",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One criterion's line on the scorecard.
#[derive(Debug, Clone, Serialize)]
pub struct CriterionResult {
    /// Criterion id (`load.p95`).
    pub id: String,
    /// Human title.
    pub title: String,
    /// `pass`, `fail`, `error`, or `missing` (expected but no evidence).
    pub verdict: Status,
    /// Whether any failure of it is no-go.
    pub must_pass: bool,
    /// The limit in words ("at most 500ms").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<String>,
    /// The measured value ("812.4ms").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
    /// observed / limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
    /// One line of detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Why it could not be measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The test that checked it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    /// Scenario.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// Evidence file (relative to the evidence directory) and line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// Records behind this line (retries and shards).
    pub attempts: usize,
    /// Shards merged (0: one process).
    pub shards: usize,
    /// Raw data, for the HTML charts (not in the JSON form).
    #[serde(skip)]
    pub attachments: Vec<Attachment>,
}

impl CriterionResult {
    /// Passed.
    pub fn passed(&self) -> bool {
        self.verdict == Status::Pass
    }
}

/// One category's part of the scorecard.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryScore {
    /// Category name.
    pub name: String,
    /// Weight from the config (0 when the config does not list the category).
    pub weight: f64,
    /// Whether any criterion of it has evidence. A weighted category without is on the
    /// scorecard as "not assessed" and counts as [`crate::config::Unassessed`] says.
    pub assessed: bool,
    /// 10 x passed / all, rounded to 0.1 (0 when not assessed).
    pub score: f64,
    /// Criteria that passed.
    pub passed: usize,
    /// Criteria that failed.
    pub failed: usize,
    /// Criteria that could not be measured.
    pub errors: usize,
    /// Expected criteria with no evidence.
    pub missing: usize,
    /// The criteria, failures first.
    pub criteria: Vec<CriterionResult>,
}

/// The whole scorecard (its JSON form is stable, versioned by [`SCORECARD_SCHEMA`]).
#[derive(Debug, Clone, Serialize)]
pub struct Scorecard {
    /// [`SCORECARD_SCHEMA`].
    pub schema: String,
    /// When it was made (RFC 3339).
    pub generated_at: String,
    /// The evidence directory.
    pub evidence_dir: String,
    /// Evidence files read.
    pub files: usize,
    /// Records read.
    pub records: usize,
    /// Git commits named by the evidence.
    pub git_commits: Vec<String>,
    /// Go or no-go.
    pub verdict: Decision,
    /// Weighted score, 0–10, rounded to 0.1.
    pub score: f64,
    /// The score go needs.
    pub min_score: f64,
    /// Why the verdict is no-go (empty for go).
    pub reasons: Vec<String>,
    /// Per category, in the config's order of weight (heaviest first).
    pub categories: Vec<CategoryScore>,
    /// Truncated lines, retries, merged shards, missing criteria, unweighted categories.
    pub findings: Vec<Finding>,
    /// Capacity planning, when configured and measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityPlan>,
    /// Comparison with a baseline, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Vec<Comparison>>,
}

impl Scorecard {
    /// Adds a reason for no-go (and so makes the verdict no-go).
    pub fn add_reason(&mut self, reason: String) {
        self.reasons.push(reason);
        self.verdict = Decision::NoGo;
    }

    /// Every criterion, category by category.
    pub fn criteria(&self) -> impl Iterator<Item = &CriterionResult> {
        self.categories.iter().flat_map(|c| c.criteria.iter())
    }
}

fn result(m: Merged, config: &ReportConfig) -> CriterionResult {
    let e = m.evidence;
    CriterionResult {
        must_pass: config.is_must_pass(&e.criterion.id),
        id: e.criterion.id,
        title: e.criterion.title,
        verdict: e.verdict.into(),
        required: e.threshold.map(|t| t.to_string()),
        observed: e.observed.map(|o| o.to_string()),
        margin: e.margin,
        summary: e.summary,
        error: e.error,
        test: e.context.test,
        scenario: e.context.scenario,
        evidence: Some(format!("{}:{}", m.file, m.line)),
        attempts: m.attempts,
        shards: m.shards,
        attachments: e.attachments,
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Builds the scorecard from merged results; `findings` are the reader's and merger's.
pub(crate) fn build(
    set: &EvidenceSet,
    merged: Vec<Merged>,
    mut findings: Vec<Finding>,
    config: &ReportConfig,
) -> Scorecard {
    let commits = crate::merge::git_commits(&merged);
    let records = merged.iter().map(|m| m.attempts).sum();
    let missing: Vec<&String> = config
        .expected
        .iter()
        .filter(|id| !merged.iter().any(|m| matches(id, &m.evidence.criterion.id)))
        .collect();
    use rayon::prelude::*;
    let results: Vec<(readiness_core::Category, CriterionResult)> = merged
        .into_par_iter()
        .map(|mut m| {
            let category = std::mem::replace(
                &mut m.evidence.criterion.category,
                readiness_core::Category::PERFORMANCE,
            );
            (category, result(m, config))
        })
        .collect();
    let mut by_category: BTreeMap<String, Vec<CriterionResult>> = BTreeMap::new();
    for (category, r) in results {
        match by_category.get_mut(category.as_str()) {
            Some(list) => list.push(r),
            None => {
                by_category.insert(category.as_str().to_owned(), vec![r]);
            }
        }
    }
    for id in missing {
        findings.push(Finding {
            kind: "missing_expected".into(),
            message: format!(
                "expected criterion {id} has no evidence: the test that checks it did not \
                     run or did not reach its assertion"
            ),
            file: None,
            line: None,
        });
        by_category
            .entry("missing".into())
            .or_default()
            .push(CriterionResult {
                id: id.clone(),
                title: "expected in readiness.toml, no evidence".into(),
                verdict: Status::Missing,
                must_pass: config.is_must_pass(id),
                required: None,
                observed: None,
                margin: None,
                summary: None,
                error: None,
                test: None,
                scenario: None,
                evidence: None,
                attempts: 0,
                shards: 0,
                attachments: Vec::new(),
            });
    }
    let mut categories: Vec<CategoryScore> = by_category
        .into_iter()
        .map(|(name, mut criteria)| {
            // What did not pass first; otherwise in the order the tests recorded them.
            criteria.sort_by_key(CriterionResult::passed);
            let count = |v: Status| criteria.iter().filter(|c| c.verdict == v).count();
            let (passed, failed, errors, missing) = (
                count(Status::Pass),
                count(Status::Fail),
                count(Status::Error),
                count(Status::Missing),
            );
            let weight = config.categories.get(&name).copied().unwrap_or(0.0);
            let all = criteria.len().max(1);
            CategoryScore {
                score: round1(10.0 * passed as f64 / all as f64),
                assessed: true,
                weight,
                name,
                passed,
                failed,
                errors,
                missing,
                criteria,
            }
        })
        .collect();
    // Every weighted category is on the scorecard, with evidence or without.
    for (name, weight) in &config.categories {
        if *weight > 0.0 && !categories.iter().any(|c| c.name == *name) {
            let counts = match config.unassessed {
                Unassessed::Zero => {
                    "it counts as 0 in the score ([report] unassessed = \
                                     \"exclude\" leaves it out)"
                }
                Unassessed::Exclude => {
                    "it is left out of the score ([report] unassessed = \
                                        \"exclude\")"
                }
            };
            findings.push(Finding {
                kind: "not_assessed".into(),
                message: format!(
                    "category {name} (weight {weight}) was not assessed: no criterion of it has \
                     evidence; {counts}"
                ),
                file: None,
                line: None,
            });
            categories.push(CategoryScore {
                name: name.clone(),
                weight: *weight,
                assessed: false,
                score: 0.0,
                passed: 0,
                failed: 0,
                errors: 0,
                missing: 0,
                criteria: Vec::new(),
            });
        }
    }
    categories.sort_by(|a, b| {
        b.weight
            .total_cmp(&a.weight)
            .then_with(|| a.name.cmp(&b.name))
    });
    for c in &categories {
        if c.weight == 0.0 && c.name != "missing" {
            findings.push(Finding {
                kind: "unweighted_category".into(),
                message: format!(
                    "category {} has no weight in [report.categories]: its {} criteria count for \
                     the verdict rules but not for the score",
                    c.name,
                    c.criteria.len()
                ),
                file: None,
                line: None,
            });
        }
    }
    // The weighted score over the weighted categories: one not assessed counts 0 (or is
    // left out, when the config says so); missing expected criteria are not in it (each is
    // a reason for no-go instead).
    let (mut sum, mut weights) = (0.0, 0.0);
    for c in categories.iter().filter(|c| c.name != "missing") {
        if c.assessed || config.unassessed == Unassessed::Zero {
            sum += c.weight * c.score;
            weights += c.weight;
        }
    }
    let score = if weights > 0.0 {
        round1(sum / weights)
    } else {
        0.0
    };
    let mut reasons = Vec::new();
    if !categories.iter().any(|c| c.assessed && c.weight > 0.0) {
        reasons.push(
            "no weighted category has evidence: nothing the config weighs was checked".into(),
        );
    }
    for c in categories.iter().flat_map(|c| c.criteria.iter()) {
        if c.must_pass && !c.passed() {
            reasons.push(format!(
                "must-pass criterion {} ({}) {}",
                c.id,
                c.title,
                verb(c.verdict)
            ));
        } else if c.verdict == Status::Missing {
            reasons.push(format!("expected criterion {} has no evidence", c.id));
        }
    }
    for rule in &config.no_go {
        if let Some(why) = breach(rule, &categories, score) {
            reasons.push(why);
        }
    }
    if score < config.min_score && weights > 0.0 {
        reasons.push(format!(
            "score {score:.1} is below the minimum {:.1}",
            config.min_score
        ));
    }
    Scorecard {
        schema: SCORECARD_SCHEMA.into(),
        generated_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        evidence_dir: set.dir.display().to_string(),
        files: set.files,
        records,
        git_commits: commits,
        verdict: if reasons.is_empty() {
            Decision::Go
        } else {
            Decision::NoGo
        },
        score,
        min_score: config.min_score,
        reasons,
        categories,
        findings,
        capacity: None,
        baseline: None,
    }
}

fn criteria(n: usize) -> String {
    if n == 1 {
        "1 criterion".into()
    } else {
        format!("{n} criteria")
    }
}

fn verb(status: Status) -> &'static str {
    match status {
        Status::Fail => "failed",
        Status::Error => "could not be measured",
        Status::Missing => "has no evidence",
        Status::Pass => "passed",
    }
}

fn breach(rule: &NoGoRule, categories: &[CategoryScore], score: f64) -> Option<String> {
    fn within<'a>(
        categories: &'a [CategoryScore],
        only: &'a Option<String>,
    ) -> impl Iterator<Item = &'a CategoryScore> {
        categories
            .iter()
            .filter(move |c| only.as_ref().is_none_or(|o| *o == c.name))
    }
    let place = |only: &Option<String>| {
        only.as_ref()
            .map(|c| format!(" in category {c}"))
            .unwrap_or_default()
    };
    match rule {
        NoGoRule::AnyFailed { category } => {
            let failed: Vec<&str> = within(categories, category)
                .flat_map(|c| c.criteria.iter())
                .filter(|c| c.verdict == Status::Fail)
                .map(|c| c.id.as_str())
                .collect();
            (!failed.is_empty()).then(|| {
                format!(
                    "{} failed{}: {}",
                    criteria(failed.len()),
                    place(category),
                    failed.join(", ")
                )
            })
        }
        NoGoRule::AnyError { category } => {
            let errors: Vec<&str> = within(categories, category)
                .flat_map(|c| c.criteria.iter())
                .filter(|c| c.verdict == Status::Error)
                .map(|c| c.id.as_str())
                .collect();
            (!errors.is_empty()).then(|| {
                format!(
                    "{} could not be measured{}: {}",
                    criteria(errors.len()),
                    place(category),
                    errors.join(", ")
                )
            })
        }
        NoGoRule::ScoreBelow {
            score: limit,
            category: None,
        } => (score < *limit).then(|| format!("score {score:.1} is below {limit:.1}")),
        NoGoRule::ScoreBelow {
            score: limit,
            category: Some(name),
        } => categories
            .iter()
            .find(|c| c.name == *name && c.score < *limit)
            .map(|c| format!("category {name} scored {:.1}, below {limit:.1}", c.score)),
    }
}
