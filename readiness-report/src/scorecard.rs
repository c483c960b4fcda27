//! Stages 4 and 5: score (per category the criteria and their verdicts, a score, the
//! weighted total) and decide (go / no-go with every reason, in one place). Every line
//! points back at its evidence.

use std::collections::BTreeMap;

use readiness_core::{Attachment, AttachmentKind, Bound, Combine, Quantity, Threshold, Verdict};
use serde::ser::SerializeStruct as _;
use serde::{Deserialize, Serialize, Serializer};

use crate::baseline::{Change, Comparison};
use crate::capacity::CapacityPlan;
use crate::config::{NoGoRule, ReportConfig, Unassessed, matches};
use crate::finding::{Finding, FindingKind};
use crate::merge::Merged;
use crate::runs::RunInfo;
use crate::text::Text;

/// Version of the scorecard's JSON form; a consumer refuses an unknown major.
pub const SCORECARD_SCHEMA: &str = "1.3";

/// Go or no-go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Measured and met.
    Pass,
    /// Measured and missed.
    Fail,
    /// Could not be measured.
    Error,
    /// Expected in the config, but no test left evidence.
    #[default]
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

/// Where a record was read: its file (relative to the evidence directory) and line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file, relative to the evidence directory.
    pub file: Text,
    /// 1-based line.
    pub line: u32,
}

impl Location {
    pub(crate) fn new(file: Text, line: usize) -> Self {
        Location {
            file,
            line: u32::try_from(line).unwrap_or(u32::MAX),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

impl Serialize for Location {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One criterion's line on the scorecard: what its evidence (merged over retries and
/// shards, judged again) says. Texts are shared with every other line that has them.
#[derive(Debug, Clone, Default)]
pub struct CriterionResult {
    /// Criterion id (`load.p95`).
    pub id: Text,
    /// Human title.
    pub title: Text,
    /// Category.
    pub category: Text,
    /// What was measured (with the test, the key of merges and baselines).
    pub subject: Text,
    /// `pass`, `fail`, `error`, or `missing` (expected but no evidence).
    pub verdict: Status,
    /// Whether any failure of it is no-go.
    pub must_pass: bool,
    /// The limit.
    pub threshold: Option<Threshold>,
    /// The measured value (or a bound of it, as `bound` says).
    pub observed: Option<Quantity>,
    /// Whether `observed` is the value or a bound of it.
    pub bound: Bound,
    /// How it merges across shards and compares with a baseline.
    pub combine: Combine,
    /// One line of detail.
    pub summary: Option<Text>,
    /// Why it could not be measured.
    pub error: Option<Text>,
    /// The test that checked it.
    pub test: Option<Text>,
    /// Scenario.
    pub scenario: Option<Text>,
    /// Where its record was read (for shards: the first shard's).
    pub evidence: Option<Location>,
    /// Records behind this line (retries and shards).
    pub attempts: u32,
    /// Shards merged (0: one process).
    pub shards: u32,
    /// Raw data, for the HTML charts and baselines (not in the JSON form).
    pub attachments: Vec<Attachment>,
}

impl CriterionResult {
    /// Passed.
    pub fn passed(&self) -> bool {
        self.verdict == Status::Pass
    }
    /// The limit in words ("at most 500ms").
    pub fn required(&self) -> Option<String> {
        self.threshold.map(|t| t.to_string())
    }
    /// The measured value in words ("812.4ms", "at least 30s").
    pub fn observed_text(&self) -> Option<String> {
        self.observed.map(|o| match self.bound {
            Bound::Exact => o.to_string(),
            Bound::AtLeast => format!("at least {o}"),
            Bound::AtMost => format!("at most {o}"),
        })
    }
    /// observed / limit.
    pub fn margin(&self) -> Option<f64> {
        let (t, o) = (self.threshold?, self.observed?);
        t.judge(o).ok()?.margin
    }
    /// The attachment of kind `T`, if the line has one.
    pub fn attachment<T: AttachmentKind>(&self) -> Option<&T> {
        self.attachments.iter().find_map(T::of)
    }
}

impl Serialize for CriterionResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("CriterionResult", 14)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("title", &self.title)?;
        st.serialize_field("subject", &self.subject)?;
        st.serialize_field("verdict", &self.verdict)?;
        st.serialize_field("must_pass", &self.must_pass)?;
        if let Some(r) = self.required() {
            st.serialize_field("required", &r)?;
        }
        if let Some(o) = self.observed_text() {
            st.serialize_field("observed", &o)?;
        }
        if let Some(m) = self.margin() {
            st.serialize_field("margin", &m)?;
        }
        if let Some(v) = &self.summary {
            st.serialize_field("summary", v)?;
        }
        if let Some(v) = &self.error {
            st.serialize_field("error", v)?;
        }
        if let Some(v) = &self.test {
            st.serialize_field("test", v)?;
        }
        if let Some(v) = &self.scenario {
            st.serialize_field("scenario", v)?;
        }
        if let Some(v) = &self.evidence {
            st.serialize_field("evidence", v)?;
        }
        st.serialize_field("attempts", &self.attempts)?;
        st.serialize_field("shards", &self.shards)?;
        st.end()
    }
}

/// One category's part of the scorecard; its criteria are
/// [`Scorecard::criteria_of`] (failures first).
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
    /// Where its criteria are in the scorecard's list.
    #[serde(skip)]
    range: std::ops::Range<usize>,
}

impl CategoryScore {
    /// How many criteria it has.
    pub fn len(&self) -> usize {
        self.range.len()
    }
    /// Whether it has none (a weighted category not assessed).
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }
}

/// The whole scorecard (its JSON form is stable, versioned by [`SCORECARD_SCHEMA`]: each
/// category lists its criteria).
#[derive(Debug, Clone)]
pub struct Scorecard {
    /// [`SCORECARD_SCHEMA`].
    pub schema: String,
    /// When it was made (RFC 3339).
    pub generated_at: String,
    /// The evidence directory.
    pub evidence_dir: String,
    /// Evidence files read.
    pub files: usize,
    /// Records judged.
    pub records: usize,
    /// The runs judged.
    pub runs: Vec<RunInfo>,
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
    /// Runs judged and not, records cut short, copies, retries, merged shards, missing
    /// criteria, unweighted categories.
    pub findings: Vec<Finding>,
    /// Capacity planning, when configured and measured.
    pub capacity: Option<CapacityPlan>,
    /// Comparison with a baseline, when one was given.
    pub baseline: Option<Vec<Comparison>>,
    /// The defect matrix, when the judged run is one of its rows ([`crate::Matrix`]).
    pub matrix: Option<crate::Matrix>,
    /// The suite's sensitivity, when the judged run is its clean run or one of its
    /// mutants' ([`crate::Sensitivity`]).
    pub sensitivity: Option<crate::Sensitivity>,
    /// What people attested (`[[report.attested]]`), judged on the report's day: shown
    /// apart from the criteria, never scored.
    pub attested: Vec<crate::Attested>,
    /// Every criterion, category by category (in the order of `categories`).
    lines: Vec<CriterionResult>,
}

impl Scorecard {
    /// Every criterion, category by category.
    pub fn criteria(&self) -> impl Iterator<Item = &CriterionResult> {
        self.lines.iter()
    }
    /// The criteria of category `c` (one of [`Scorecard::categories`]), failures first.
    pub fn criteria_of(&self, c: &CategoryScore) -> &[CriterionResult] {
        self.lines.get(c.range.clone()).unwrap_or_default()
    }
}

impl Serialize for Scorecard {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// A category with its criteria, as the JSON form lists them.
        struct WithCriteria<'a>(&'a CategoryScore, &'a [CriterionResult]);
        impl Serialize for WithCriteria<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let c = self.0;
                let mut st = s.serialize_struct("CategoryScore", 9)?;
                st.serialize_field("name", &c.name)?;
                st.serialize_field("weight", &c.weight)?;
                st.serialize_field("assessed", &c.assessed)?;
                st.serialize_field("score", &c.score)?;
                st.serialize_field("passed", &c.passed)?;
                st.serialize_field("failed", &c.failed)?;
                st.serialize_field("errors", &c.errors)?;
                st.serialize_field("missing", &c.missing)?;
                st.serialize_field("criteria", self.1)?;
                st.end()
            }
        }
        let categories: Vec<WithCriteria<'_>> = self
            .categories
            .iter()
            .map(|c| WithCriteria(c, self.criteria_of(c)))
            .collect();
        let mut st = s.serialize_struct("Scorecard", 16)?;
        st.serialize_field("schema", &self.schema)?;
        st.serialize_field("generated_at", &self.generated_at)?;
        st.serialize_field("evidence_dir", &self.evidence_dir)?;
        st.serialize_field("files", &self.files)?;
        st.serialize_field("records", &self.records)?;
        st.serialize_field("runs", &self.runs)?;
        st.serialize_field("git_commits", &self.git_commits)?;
        st.serialize_field("verdict", &self.verdict)?;
        st.serialize_field("score", &self.score)?;
        st.serialize_field("min_score", &self.min_score)?;
        st.serialize_field("reasons", &self.reasons)?;
        st.serialize_field("categories", &categories)?;
        st.serialize_field("findings", &self.findings)?;
        if let Some(c) = &self.capacity {
            st.serialize_field("capacity", c)?;
        }
        if let Some(b) = &self.baseline {
            st.serialize_field("baseline", b)?;
        }
        if let Some(m) = &self.matrix {
            st.serialize_field("matrix", m)?;
        }
        if let Some(m) = &self.sensitivity {
            st.serialize_field("sensitivity", m)?;
        }
        if !self.attested.is_empty() {
            st.serialize_field("attested", &self.attested)?;
        }
        st.end()
    }
}

/// What stage 4 gives: the categories scored, not yet decided.
#[derive(Debug)]
pub struct Scored {
    dir: String,
    files: usize,
    records: usize,
    runs: Vec<RunInfo>,
    git_commits: Vec<String>,
    score: f64,
    weighted: bool,
    categories: Vec<CategoryScore>,
    lines: Vec<CriterionResult>,
    findings: Vec<Finding>,
}

impl Scored {
    /// Every criterion, category by category.
    pub fn criteria(&self) -> impl Iterator<Item = &CriterionResult> {
        self.lines.iter()
    }
    /// The weighted score.
    pub fn score(&self) -> f64 {
        self.score
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Puts `lines` in the order `rank` gives (a stable sort that moves each line at most
/// twice, however large it is: the order is found on indices, then applied in place).
fn sort_in_place<K: Ord>(lines: &mut [CriterionResult], rank: impl Fn(&CriterionResult) -> K) {
    let mut order: Vec<u32> = (0..lines.len() as u32).collect();
    order.sort_by_key(|&i| rank(&lines[i as usize]));
    // order[k] is the line that goes to place k: follow each cycle once.
    let mut placed = vec![false; lines.len()];
    for start in 0..lines.len() {
        if placed[start] {
            continue;
        }
        let mut at = start;
        loop {
            placed[at] = true;
            let from = order[at] as usize;
            if from == start {
                break;
            }
            lines.swap(at, from);
            at = from;
        }
    }
}

/// Stage 4: the criteria by category (expected ones without evidence as `missing`),
/// every weighted category on the card, the scores.
pub fn score(merged: Merged, config: &ReportConfig) -> Scored {
    let Merged {
        dir,
        files,
        records,
        runs,
        results,
        mut findings,
        git_commits,
    } = merged;
    // One list, made as the chunks are freed.
    let mut lines = results.flatten();
    // Which expected criteria have evidence (a run of one id is matched once), and which
    // lines are must-pass.
    let mut seen = vec![false; config.expected.len()];
    let mut last: Option<(usize, bool)> = None;
    for r in &mut lines {
        let category = config.category_for(&r.id, &r.category);
        if category != r.category.as_str() {
            r.category = Text::from(category);
        }
        let must = match last {
            Some((id, must)) if id == r.id.id() => must,
            _ => {
                for (i, pattern) in config.expected.iter().enumerate() {
                    seen[i] |= matches(pattern, &r.id);
                }
                config.is_must_pass(&r.id)
            }
        };
        r.must_pass = must;
        last = Some((r.id.id(), must));
    }
    for (id, _) in config
        .expected
        .iter()
        .zip(&seen)
        .filter(|(_, seen)| !**seen)
    {
        findings.push(Finding::new(
            FindingKind::MissingExpected,
            format!(
                "expected criterion {id} has no evidence: the test that checks it did not run \
                 or did not reach its assertion"
            ),
        ));
        lines.push(CriterionResult {
            id: Text::from(id.as_str()),
            title: Text::from("expected in readiness.toml, no evidence"),
            category: Text::from(config.category_for(id, "missing")),
            subject: Text::from(id.as_str()),
            verdict: Status::Missing,
            must_pass: config.is_must_pass(id),
            ..CriterionResult::default()
        });
    }
    // The categories with evidence, then every weighted one without.
    let mut counted: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for r in &lines {
        let slot = match r.verdict {
            Status::Pass => 0,
            Status::Fail => 1,
            Status::Error => 2,
            Status::Missing => 3,
        };
        counted.entry(r.category.as_str()).or_default()[slot] += 1;
    }
    let mut categories: Vec<CategoryScore> = counted
        .into_iter()
        .map(|(name, [passed, failed, errors, missing])| {
            let weight = config.categories.get(name).copied().unwrap_or(0.0);
            let all = (passed + failed + errors + missing).max(1);
            CategoryScore {
                score: round1(10.0 * passed as f64 / all as f64),
                assessed: true,
                weight,
                name: name.to_owned(),
                passed,
                failed,
                errors,
                missing,
                range: 0..0,
            }
        })
        .collect();
    for (name, weight) in &config.categories {
        if *weight > 0.0 && !categories.iter().any(|c| c.name == *name) {
            let counts = match config.unassessed {
                Unassessed::Zero => {
                    "it counts as 0 in the score ([report] unassessed = \"exclude\" leaves it out)"
                }
                Unassessed::Exclude => {
                    "it is left out of the score ([report] unassessed = \"exclude\")"
                }
            };
            findings.push(Finding::new(
                FindingKind::NotAssessed,
                format!(
                    "category {name} (weight {weight}) was not assessed: no criterion of it has \
                     evidence; {counts}"
                ),
            ));
            categories.push(CategoryScore {
                name: name.clone(),
                weight: *weight,
                assessed: false,
                score: 0.0,
                passed: 0,
                failed: 0,
                errors: 0,
                missing: 0,
                range: 0..0,
            });
        }
    }
    categories.sort_by(|a, b| {
        b.weight
            .total_cmp(&a.weight)
            .then_with(|| a.name.cmp(&b.name))
    });
    // The lines in the categories' order; in each, what did not pass first, otherwise in
    // the order the tests recorded them.
    let rank: BTreeMap<String, usize> = categories
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.clone(), i))
        .collect();
    sort_in_place(&mut lines, |r| {
        (
            rank.get(r.category.as_str()).copied().unwrap_or(usize::MAX),
            r.passed(),
        )
    });
    let mut start = 0;
    for c in &mut categories {
        let n = c.passed + c.failed + c.errors + c.missing;
        c.range = start..start + n;
        start += n;
    }
    for c in &categories {
        if c.weight == 0.0 && c.name != "missing" {
            findings.push(Finding::new(
                FindingKind::UnweightedCategory,
                format!(
                    "category {} has no weight in [report.categories]: its {} criteria count for \
                     the verdict rules but not for the score",
                    c.name,
                    c.len()
                ),
            ));
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
    Scored {
        dir: dir.display().to_string(),
        files,
        records,
        runs,
        git_commits,
        score: if weights > 0.0 {
            round1(sum / weights)
        } else {
            0.0
        },
        weighted: weights > 0.0,
        categories,
        lines,
        findings,
    }
}

/// What a baseline comparison adds to the decision.
#[derive(Debug, Clone)]
pub struct Compared {
    /// Every comparison.
    pub comparisons: Vec<Comparison>,
    /// Whether a regression (or a criterion of the baseline not checked) is no-go.
    pub strict: bool,
}

/// Stage 5, decide: go or no-go, with every reason, in this one place. The reasons: no
/// weighted category assessed; a must-pass criterion that did not pass; a finding of a
/// no-go kind (a record cut short, a record that disagrees with its numbers, shards
/// missing or judged differently, an expected criterion without evidence); a no-go rule of
/// the config; the score below the minimum; with a strict baseline, a regression or a
/// criterion of the baseline not checked.
pub fn decide(
    scored: Scored,
    config: &ReportConfig,
    capacity: Option<CapacityPlan>,
    baseline: Option<Compared>,
) -> Scorecard {
    let Scored {
        dir,
        files,
        records,
        runs,
        git_commits,
        score,
        weighted,
        categories,
        lines,
        mut findings,
    } = scored;
    let today = time::OffsetDateTime::now_utc().date();
    let attested: Vec<crate::Attested> = config.attested.iter().map(|a| a.judge(today)).collect();
    // An attestation that does not hold is a no-go finding like any other.
    findings.extend(attested.iter().filter(|a| !a.holds()).map(|a| {
        Finding::new(
            FindingKind::AttestationNotValid,
            format!(
                "attestation {} ({}) by {}: {}",
                a.attestation.id,
                a.attestation.title,
                a.attestation.by,
                a.describe()
            ),
        )
    }));
    let mut reasons = Vec::new();
    if !categories.iter().any(|c| c.assessed && c.weight > 0.0) {
        reasons.push(
            "no weighted category has evidence: nothing the config weighs was checked".into(),
        );
    }
    for c in &lines {
        if c.must_pass && !c.passed() && c.verdict != Status::Missing {
            reasons.push(format!(
                "must-pass criterion {} ({}) {}",
                c.id,
                c.title,
                verb(c.verdict)
            ));
        }
    }
    reasons.extend(no_go_findings(&findings));
    for rule in &config.no_go {
        if let Some(why) = breach(rule, &categories, &lines, score) {
            reasons.push(why);
        }
    }
    if score < config.min_score && weighted {
        reasons.push(format!(
            "score {score:.1} is below the minimum {:.1}",
            config.min_score
        ));
    }
    if let Some(b) = &baseline
        && b.strict
    {
        for c in &b.comparisons {
            match c.change {
                Change::Regressed => {
                    reasons.push(format!("{} of {} regressed: {}", c.id, c.test, c.detail))
                }
                Change::Missing => reasons.push(format!(
                    "{} of {} is in the baseline but was not checked",
                    c.id, c.test
                )),
                _ => {}
            }
        }
    }
    if let (Some(cap), None) = (&config.capacity, &capacity) {
        findings.push(Finding::new(
            FindingKind::CapacityUnmeasured,
            format!(
                "[report.capacity] is set but no {} evidence with a ceiling was found: run a \
                 stress test (Stress + assert_capacity_at_least)",
                cap.criterion
            ),
        ));
    }
    Scorecard {
        schema: SCORECARD_SCHEMA.into(),
        generated_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        evidence_dir: dir,
        files,
        records,
        runs,
        git_commits,
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
        capacity,
        baseline: baseline.map(|b| b.comparisons),
        matrix: None,
        sensitivity: None,
        attested,
        lines,
    }
}

/// One reason per no-go kind of finding: how many, and the first ten of them.
fn no_go_findings(findings: &[Finding]) -> Vec<String> {
    let mut by_kind: BTreeMap<FindingKind, Vec<&Finding>> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.kind.is_no_go()) {
        by_kind.entry(f.kind).or_default().push(f);
    }
    by_kind
        .into_iter()
        .map(|(kind, list)| {
            let (one, many) = match kind {
                FindingKind::CutShort => (
                    "record was cut short (its test was killed while writing it) and could not be judged",
                    "records were cut short (their tests were killed while writing them) and could not be judged",
                ),
                FindingKind::InconsistentRecord => (
                    "record disagrees with its own numbers and counts as an error",
                    "records disagree with their own numbers and count as errors",
                ),
                FindingKind::ShardsMissing => (
                    "shard set has shards missing",
                    "shard sets have shards missing",
                ),
                FindingKind::ShardsDisagree => (
                    "shard set was judged in different ways",
                    "shard sets were judged in different ways",
                ),
                FindingKind::MissingExpected => (
                    "expected criterion has no evidence",
                    "expected criteria have no evidence",
                ),
                FindingKind::AttestationNotValid => (
                    "attestation does not hold",
                    "attestations do not hold",
                ),
                _ => ("finding", "findings"),
            };
            let n = list.len();
            if n == 1 {
                return list[0].message.clone();
            }
            let _ = one;
            let mut text = format!("{n} {many}: ");
            let shown: Vec<&str> = list.iter().take(10).map(|f| f.message.as_str()).collect();
            text.push_str(&shown.join("; "));
            if n > 10 {
                text.push_str(&format!("; and {} more", n - 10));
            }
            text
        })
        .collect()
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

fn breach(
    rule: &NoGoRule,
    categories: &[CategoryScore],
    lines: &[CriterionResult],
    score: f64,
) -> Option<String> {
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
    let ids = |category: &Option<String>, v: Status| -> Vec<String> {
        within(categories, category)
            .flat_map(|c| lines.get(c.range.clone()).unwrap_or_default())
            .filter(|c| c.verdict == v)
            .map(|c| c.id.to_string())
            .collect()
    };
    match rule {
        NoGoRule::AnyFailed { category } => {
            let failed = ids(category, Status::Fail);
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
            let errors = ids(category, Status::Error);
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
