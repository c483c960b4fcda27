//! The `[report]` table of `readiness.toml`: categories and weights, must-pass criteria,
//! no-go rules, the minimum score, the criteria expected to be present, capacity planning
//! and the baseline's noise band.
//!
//! ```toml
//! [report]
//! min_score = 8.0                       # go needs at least this weighted score (0-10)
//! must_pass = ["load.p95", "dr.*"]      # any failure (or error) of these is no-go
//! expected = ["load.p95", "load.error_rate", "obs.alert_fires"]  # absent = a finding, no-go
//!
//! unassessed = "zero"                   # a weighted category without evidence counts 0
//!                                       # ("exclude": left out of the score, still shown)
//!
//! [report.categories]                   # weights; the score is weighted by them
//! performance = 15
//! reliability = 15
//! security = 15
//!
//! [[report.category_of]]                # optional: the team's own categories
//! criteria = ["svc.*", "obs.health_accurate"]
//! category = "availability"             # first rule that names a criterion wins
//!
//! [[report.no_go]]                      # any rule that holds makes the verdict no-go
//! when = "any_failed"                   # any_failed | any_error | score_below
//! category = "security"                 # optional: only this category
//!
//! [[report.no_go]]
//! when = "score_below"
//! score = 9.0
//!
//! [report.capacity]                     # capacity planning from load.capacity
//! peak_rate = 400.0                     # today's peak, per second
//! growth_per_month = 0.08               # 8% a month
//! utilisation_limit = 0.8               # scale before the peak reaches 80% of the ceiling
//!
//! [report.baseline]
//! noise = 0.10                          # changes under 10% are within noise
//!
//! [[report.attested]]                   # what only people judge: shown apart, never scored
//! id = "ops.oncall_trained"             # (crate::attest); expired = a finding, no-go
//! title = "the on-call rota is trained on the runbooks"
//! category = "operations"
//! by = "J. Doe, SRE lead"
//! on = "2026-11-20"
//! link = "docs/training/2026-11.md"     # beside readiness.toml, or an http(s) URL
//! expires = "2027-05-20"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use readiness_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// The report's configuration (defaults when there is no `[report]` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// Weighted score (0–10) that go needs.
    pub min_score: f64,
    /// Criterion ids (a trailing `*` matches a prefix) whose failure or error is no-go.
    pub must_pass: Vec<String>,
    /// Criterion ids that must have evidence; a missing one is a finding and no-go.
    pub expected: Vec<String>,
    /// Category weights.
    pub categories: BTreeMap<String, f64>,
    /// The team's own categories: each rule puts the criteria it names (ids, a trailing `*`
    /// matches a prefix) in `category`, in place of the category their tests gave them. The
    /// first rule that names a criterion wins.
    pub category_of: Vec<CategoryRule>,
    /// How a weighted category without evidence counts.
    pub unassessed: Unassessed,
    /// Rules that make the verdict no-go.
    pub no_go: Vec<NoGoRule>,
    /// Capacity planning.
    pub capacity: Option<CapacityConfig>,
    /// Baseline comparison.
    pub baseline: BaselineConfig,
    /// What only people judge, attested ([`crate::attest`]).
    pub attested: Vec<crate::attest::Attestation>,
}

/// One `[[report.category_of]]` rule: these criteria count in that category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryRule {
    /// Criterion ids; a trailing `*` matches a prefix (`"dr.*"`).
    pub criteria: Vec<String>,
    /// The category they count in.
    pub category: String,
}

/// How a weighted category with no evidence counts in the score. It is shown as "not
/// assessed" either way: a scorecard never looks better because something was not tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unassessed {
    /// It counts with its weight and a score of 0 (the default).
    #[default]
    Zero,
    /// It is left out of the weighted score (a finding still names it).
    Exclude,
}

/// A rule that makes the verdict no-go when it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "when", rename_all = "snake_case", deny_unknown_fields)]
pub enum NoGoRule {
    /// Any criterion failed (in `category`, when given).
    AnyFailed {
        /// Only this category.
        #[serde(default)]
        category: Option<String>,
    },
    /// Any criterion could not be measured (in `category`, when given).
    AnyError {
        /// Only this category.
        #[serde(default)]
        category: Option<String>,
    },
    /// The weighted score (or the category's score) is below `score`.
    ScoreBelow {
        /// The limit, 0–10.
        score: f64,
        /// Only this category's score.
        #[serde(default)]
        category: Option<String>,
    },
}

/// Inputs of capacity planning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityConfig {
    /// Today's peak rate (per second).
    pub peak_rate: f64,
    /// Growth per month as a ratio (0.08 = 8%).
    pub growth_per_month: f64,
    /// Scale before the peak reaches this share of the measured ceiling (default 0.8).
    #[serde(default = "default_utilisation")]
    pub utilisation_limit: f64,
    /// The criterion that measured the ceiling (default `load.capacity`).
    #[serde(default = "default_capacity_criterion")]
    pub criterion: String,
}

fn default_utilisation() -> f64 {
    0.8
}

fn default_capacity_criterion() -> String {
    "load.capacity".into()
}

/// How a baseline comparison tells a change from noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineConfig {
    /// Relative changes smaller than this are within noise (0.10 = 10%).
    pub noise: f64,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig { noise: 0.10 }
    }
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            min_score: 8.0,
            must_pass: Vec::new(),
            expected: Vec::new(),
            categories: [
                ("performance", 20.0),
                ("reliability", 20.0),
                ("recovery", 15.0),
                ("observability", 15.0),
                ("security", 15.0),
                ("capacity", 15.0),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            category_of: Vec::new(),
            unassessed: Unassessed::Zero,
            no_go: vec![
                NoGoRule::AnyError { category: None },
                NoGoRule::AnyFailed {
                    category: Some("security".into()),
                },
            ],
            capacity: None,
            baseline: BaselineConfig::default(),
            attested: Vec::new(),
        }
    }
}

impl ReportConfig {
    /// Parses the `[report]` table of a `readiness.toml` text (defaults when absent);
    /// `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            report: Option<ReportConfig>,
        }
        let file: File = toml::from_str(text).map_err(|e| Error::Config {
            path: origin.into(),
            reason: format!(
                "{}; see the [report] example in the readiness-report docs",
                readiness_core::settings::toml_error(text, &e)
            ),
        })?;
        let config = file.report.unwrap_or_default();
        config.validate(origin)?;
        Ok(config)
    }

    /// Reads `path`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            reason: format!(
                "cannot read it: {e}; pass an existing file with --config or READINESS_CONFIG"
            ),
        })?;
        let config = Self::parse(&text, &path.display().to_string())?;
        // A link to a file is to one beside the config, and it must be there.
        let dir = path.parent().unwrap_or(Path::new("."));
        if let Some((a, problem)) = config
            .attested
            .iter()
            .find_map(|a| Some((a, a.problem(Some(dir))?)))
        {
            return Err(Error::Config {
                path: path.to_path_buf(),
                reason: format!("[report] attested {:?}: {problem}", a.id),
            });
        }
        Ok(config)
    }

    /// The config for a run: `explicit` (a `--config` flag), else `READINESS_CONFIG`, else
    /// `readiness.toml` at the workspace root when it exists, else the defaults. Gives
    /// back where it came from.
    pub fn locate(explicit: Option<&Path>) -> Result<(Self, Option<PathBuf>)> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => match readiness_core::settings::get("READINESS_CONFIG")? {
                Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
                _ => {
                    let p = readiness_core::settings::workspace_root()
                        .join(readiness_core::settings::CONFIG_FILE);
                    p.is_file().then_some(p)
                }
            },
        };
        match path {
            Some(p) => Ok((Self::from_file(&p)?, Some(p))),
            None => Ok((Self::default(), None)),
        }
    }

    fn validate(&self, origin: &str) -> Result<()> {
        let bad = |what: String| {
            Err(Error::Config {
                path: origin.into(),
                reason: format!("[report] {what}"),
            })
        };
        if !(0.0..=10.0).contains(&self.min_score) {
            return bad(format!(
                "min_score = {} must be between 0 and 10",
                self.min_score
            ));
        }
        for (name, w) in &self.categories {
            if !w.is_finite() || *w < 0.0 {
                return bad(format!(
                    "categories.{name} = {w}: a weight must be 0 or more"
                ));
            }
        }
        for rule in &self.category_of {
            if rule.criteria.is_empty() || rule.category.trim().is_empty() {
                return bad(format!(
                    "category_of: a rule needs criteria and a category (criteria = {:?}, \
                     category = {:?})",
                    rule.criteria, rule.category
                ));
            }
        }
        for rule in &self.no_go {
            if let NoGoRule::ScoreBelow { score, .. } = rule
                && !(0.0..=10.0).contains(score)
            {
                return bad(format!(
                    "no_go score_below score = {score} must be between 0 and 10"
                ));
            }
        }
        if let Some(c) = &self.capacity {
            if !(c.peak_rate.is_finite() && c.peak_rate > 0.0) {
                return bad(format!(
                    "capacity.peak_rate = {} must be above 0",
                    c.peak_rate
                ));
            }
            if !(c.growth_per_month.is_finite() && c.growth_per_month > -1.0) {
                return bad(format!(
                    "capacity.growth_per_month = {} must be a ratio above -1 (0.08 = 8%)",
                    c.growth_per_month
                ));
            }
            if !(c.utilisation_limit > 0.0 && c.utilisation_limit <= 1.0) {
                return bad(format!(
                    "capacity.utilisation_limit = {} must be in (0, 1]",
                    c.utilisation_limit
                ));
            }
        }
        let mut ids = std::collections::BTreeSet::new();
        for a in &self.attested {
            if let Some(problem) = a.problem(None) {
                return bad(format!("attested {:?}: {problem}", a.id));
            }
            if !ids.insert(a.id.as_str()) {
                return bad(format!("attested: id {:?} is there twice", a.id));
            }
        }
        if !(self.baseline.noise.is_finite() && self.baseline.noise >= 0.0) {
            return bad(format!(
                "baseline.noise = {} must be 0 or more (0.10 = 10%)",
                self.baseline.noise
            ));
        }
        Ok(())
    }

    /// The category `id` counts in: the first `category_of` rule naming it, else `given`
    /// (the category its test gave it).
    pub fn category_for<'a>(&'a self, id: &str, given: &'a str) -> &'a str {
        self.category_of
            .iter()
            .find(|rule| rule.criteria.iter().any(|p| matches(p, id)))
            .map_or(given, |rule| rule.category.as_str())
    }

    /// Whether `id` is must-pass.
    pub fn is_must_pass(&self, id: &str) -> bool {
        self.must_pass.iter().any(|p| matches(p, id))
    }
}

/// `pattern` is an id or a prefix ending in `*`.
pub(crate) fn matches(pattern: &str, id: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => id.starts_with(prefix),
        None => pattern == id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_table_gives_defaults_and_settings_are_ignored() {
        let c = ReportConfig::parse("[settings]\nREADINESS_DIR = \"x\"\n", "readiness.toml")
            .expect("parses");
        assert_eq!(c, ReportConfig::default());
    }

    #[test]
    fn a_full_table_parses() {
        let c = ReportConfig::parse(
            r#"
[report]
min_score = 9.0
must_pass = ["load.p95", "dr.*"]
expected = ["load.error_rate"]
[report.categories]
security = 15
performance = 15
[[report.no_go]]
when = "any_failed"
category = "security"
[[report.no_go]]
when = "score_below"
score = 9.5
[report.capacity]
peak_rate = 400.0
growth_per_month = 0.08
"#,
            "readiness.toml",
        )
        .expect("parses");
        assert_eq!(c.min_score, 9.0);
        assert!(c.is_must_pass("dr.rto"));
        assert!(!c.is_must_pass("load.p99"));
        assert_eq!(c.categories.len(), 2);
        assert_eq!(
            c.no_go[1],
            NoGoRule::ScoreBelow {
                score: 9.5,
                category: None
            }
        );
        assert_eq!(c.capacity.expect("capacity").utilisation_limit, 0.8);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = ReportConfig::parse(
            "[report]\nmin_score = 8.0\n[[report.no_go]]\nwhen = \"sometimes\"\n",
            "readiness.toml",
        )
        .expect_err("unknown rule");
        let text = e.to_string();
        assert!(text.contains("readiness.toml: line 4, column 8"), "{text}");
        assert!(text.contains("sometimes"), "{text}");

        let e = ReportConfig::parse("[report]\nmin_scor = 8.0\n", "r.toml").expect_err("typo");
        assert!(e.to_string().contains("r.toml: line 2, column 1"), "{e}");
        assert!(e.to_string().contains("min_scor"), "{e}");

        let e = ReportConfig::parse("[report]\nmin_score = 12\n", "r.toml").expect_err("range");
        assert!(e.to_string().contains("between 0 and 10"), "{e}");
    }
}
