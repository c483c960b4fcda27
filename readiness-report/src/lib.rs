//! # readiness-report
//!
//! Turns the evidence of a test run into a readiness scorecard a release can be gated on.
//!
//! - [`read_dir`]: every `*.jsonl` file under an evidence directory (many processes, many
//!   shards), a truncated last line tolerated and reported, an unknown schema major refused.
//! - [`merge()`]: one result per criterion and test: a retried test's last attempt counts;
//!   shards of one load are merged, histograms added before a percentile is judged again.
//! - [`ReportConfig`]: the `[report]` table of `readiness.toml` (categories and weights,
//!   must-pass criteria, no-go rules, minimum score, expected criteria, capacity planning,
//!   the baseline's noise band); sensible defaults without it.
//! - [`Scorecard`]: per category the criteria, pass/fail/error/missing counts, a score, the
//!   weighted total, go / no-go with the reasons; every line names its test and evidence
//!   file and line.
//! - Outputs from one run: [`render::terminal`], [`render::markdown`], [`html::page`] (one
//!   self-contained file with a chart for every attachment), [`render::json`] (stable,
//!   versioned by [`SCORECARD_SCHEMA`]), [`render::junit`].
//! - [`Baseline`]: a run's verdicts and raw histograms saved; a later run compared on the
//!   histograms, each change called improved / regressed / within noise from an interval.
//! - [`capacity::plan`]: months of headroom from the measured ceiling, today's peak and the
//!   growth rate.
//!
//! The `readiness` binary is the CLI over all of it (`readiness --help`). The report reads
//! evidence files only; it never links the crates that wrote them.
//!
//! Settings (each an environment variable and a key of the same name in `[settings]` of
//! `readiness.toml`, see [`readiness_core::settings`]):
//!
//! | name | meaning | default |
//! |---|---|---|
//! | `READINESS_DIR` | the evidence directory read | `<target dir>/readiness` |
//! | `READINESS_CONFIG` | the file with the `[report]` table | `readiness.toml` at the workspace root, else [`ReportConfig::default`] |
//! | `READINESS_BASELINE` | the baseline `readiness report` compares with | none |
//!
//! `$GITHUB_STEP_SUMMARY`, when set, gets the Markdown scorecard appended. Exit codes of
//! `readiness report`: 0 go, 1 no-go, 2 the report could not be made (nothing written).
//!
//! ```no_run
//! use readiness_report::{Options, make};
//!
//! # fn demo() -> readiness_core::Result<()> {
//! let scorecard = make(&Options::new("target/readiness/evidence"))?;
//! println!("{} {:.1}/10", scorecard.verdict, scorecard.score);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod baseline;
pub mod capacity;
pub mod config;
pub mod html;
mod merge;
mod read;
pub mod render;
mod scorecard;

use std::path::{Path, PathBuf};

pub use baseline::{Baseline, Change, Comparison};
pub use config::{NoGoRule, ReportConfig, Unassessed};
pub use merge::{Merged, merge};
pub use read::{EvidenceSet, Finding, Record, read_dir};
pub use readiness_core as core;
use readiness_core::{Error, Result};
pub use scorecard::{
    CategoryScore, CriterionResult, Decision, SCORECARD_SCHEMA, Scorecard, Status,
};

/// What a baseline does in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BaselinePolicy {
    /// Compare and show; the verdict does not change.
    #[default]
    Compare,
    /// Compare; any regression is a reason for no-go.
    Strict,
    /// Write this run as the new baseline (explicit: a baseline is never written otherwise).
    Save,
}

/// Which run of an evidence directory is judged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Run {
    /// The run of the most recent record (the default: a directory keeps every earlier
    /// run too).
    #[default]
    Latest,
    /// The run with this id (`READINESS_RUN_ID`, the `org.readiness.run` label).
    Id(String),
    /// Every record in the directory, of every run.
    All,
}

impl Run {
    /// `latest`, `all`, or a run id.
    pub fn parse(text: &str) -> Run {
        match text {
            "latest" => Run::Latest,
            "all" => Run::All,
            id => Run::Id(id.to_owned()),
        }
    }
}

/// What to make a scorecard from.
#[derive(Debug, Clone)]
pub struct Options {
    /// The evidence directory.
    pub dir: PathBuf,
    /// The config; `None` = `READINESS_CONFIG`, else `readiness.toml`, else defaults.
    pub config: Option<PathBuf>,
    /// A baseline file and what to do with it.
    pub baseline: Option<(PathBuf, BaselinePolicy)>,
    /// Which run is judged (default: the latest).
    pub run: Run,
}

impl Options {
    /// Defaults for `dir`: its latest run, the config found as [`ReportConfig::locate`]
    /// says, no baseline.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Options {
            dir: dir.into(),
            config: None,
            baseline: None,
            run: Run::Latest,
        }
    }
}

/// Reads, merges and judges: the scorecard (with capacity plan and baseline comparison
/// when configured). Writes nothing, except the baseline under [`BaselinePolicy::Save`].
pub fn make(options: &Options) -> Result<Scorecard> {
    let (config, _) = ReportConfig::locate(options.config.as_deref())?;
    // Read the baseline before anything is judged, so a bad one fails the report early.
    let baseline = match &options.baseline {
        Some((path, BaselinePolicy::Compare | BaselinePolicy::Strict)) => {
            Some(Baseline::load(path)?)
        }
        _ => None,
    };
    let mut set = read_dir(&options.dir)?;
    let run = match &options.run {
        Run::All => None,
        Run::Id(id) => Some(id.clone()),
        Run::Latest => set
            .records
            .iter()
            .max_by_key(|r| r.evidence.context.finished_at)
            .and_then(|r| r.evidence.context.run_id.clone()),
    };
    if let Some(run) = &run {
        let before = set.records.len();
        set.records
            .retain(|r| r.evidence.context.run_id.as_deref() == Some(run.as_str()));
        if set.records.is_empty() {
            return Err(Error::InvalidInput(format!(
                "no evidence records of run {run} in {}; the run ids there are written in each \
                 record's context.run_id (--run all judges every record)",
                options.dir.display()
            )));
        }
        if set.records.len() < before && options.run == Run::Latest {
            set.findings.push(Finding {
                kind: "earlier_runs".into(),
                message: format!(
                    "judged the latest run {run} ({} of {before} records); --run all judges \
                     every run in the directory",
                    set.records.len()
                ),
                file: None,
                line: None,
            });
        }
    }
    let inconsistent = verify(&mut set);
    let (merged, merge_findings) = merge(std::mem::take(&mut set.records));
    let mut findings = std::mem::take(&mut set.findings);
    findings.extend(merge_findings);
    // Everything that needs the merged results is done before the scorecard takes them.
    let capacity = config
        .capacity
        .as_ref()
        .map(|cap| (cap, capacity_plan(&merged, cap)));
    let comparisons = baseline.map(|b| b.compare(&merged, config.baseline.noise));
    if let Some((path, BaselinePolicy::Save)) = &options.baseline {
        Baseline::of(&merged).save(path)?;
    }
    let mut card = scorecard::build(&set, merged, findings, &config);
    if !inconsistent.is_empty() {
        card.add_reason(format!(
            "{} records disagree with their own numbers and count as errors: {}",
            inconsistent.len(),
            inconsistent.join(", ")
        ));
    }
    if let Some((cap, plan)) = capacity {
        card.capacity = plan;
        if card.capacity.is_none() {
            card.findings.push(Finding {
                kind: "capacity_unmeasured".into(),
                message: format!(
                    "[report.capacity] is set but no {} evidence with a ceiling was found: run a \
                     stress test (Stress + assert_capacity_at_least)",
                    cap.criterion
                ),
                file: None,
                line: None,
            });
        }
    }
    if let Some(comparisons) = comparisons {
        if let Some((_, BaselinePolicy::Strict)) = &options.baseline {
            for c in &comparisons {
                match c.change {
                    Change::Regressed => {
                        card.add_reason(format!("{} of {} regressed: {}", c.id, c.test, c.detail))
                    }
                    Change::Missing => card.add_reason(format!(
                        "{} of {} is in the baseline but was not checked",
                        c.id, c.test
                    )),
                    _ => {}
                }
            }
        }
        card.baseline = Some(comparisons);
    }
    Ok(card)
}

/// Judges every record again from its own numbers ([`readiness_core::Evidence::verify`]):
/// one that disagrees becomes verdict `error`, with a finding, never a pass. Gives back the
/// ids of those records.
fn verify(set: &mut EvidenceSet) -> Vec<String> {
    let mut ids = Vec::new();
    for r in &mut set.records {
        let Err(why) = r.evidence.verify() else {
            continue;
        };
        let e = &mut r.evidence;
        let message = format!(
            "{}:{}: the record of {} says {}, but {why}; it counts as an error",
            r.file, r.line, e.criterion.id, e.verdict
        );
        e.error = Some(format!("the record disagrees with its own numbers: {why}"));
        e.verdict = readiness_core::Verdict::Error;
        ids.push(e.criterion.id.clone());
        set.findings.push(Finding {
            kind: "inconsistent_record".into(),
            message,
            file: Some(r.file.clone()),
            line: Some(r.line),
        });
    }
    ids
}

fn capacity_plan(
    merged: &[Merged],
    cap: &config::CapacityConfig,
) -> Option<capacity::CapacityPlan> {
    merged
        .iter()
        .filter(|m| m.evidence.criterion.id == cap.criterion)
        .find_map(|m| {
            let from_steps = m
                .evidence
                .attachment::<readiness_core::StressSteps>()
                .and_then(|s| s.ceiling)
                .map(|c| c.value());
            let ceiling = from_steps.or_else(|| m.evidence.observed.map(|o| o.value()))?;
            (ceiling > 0.0).then(|| {
                let source = format!(
                    "{} of {} ({}:{})",
                    cap.criterion,
                    m.evidence
                        .context
                        .test
                        .as_deref()
                        .unwrap_or("(no test name)"),
                    m.file,
                    m.line
                );
                capacity::plan(ceiling, source, cap)
            })
        })
}

/// An output format of `readiness report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The terminal table (stdout).
    Terminal,
    /// `scorecard.md` (also appended to `$GITHUB_STEP_SUMMARY` when set).
    Markdown,
    /// `scorecard.html`.
    Html,
    /// `scorecard.json`.
    Json,
    /// `junit.xml`.
    Junit,
}

impl Format {
    /// Parses `terminal,md,html,json,junit`.
    pub fn parse_list(text: &str) -> Result<Vec<Format>> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s {
                "terminal" => Ok(Format::Terminal),
                "md" | "markdown" => Ok(Format::Markdown),
                "html" => Ok(Format::Html),
                "json" => Ok(Format::Json),
                "junit" => Ok(Format::Junit),
                other => Err(Error::InvalidInput(format!(
                    "--format {other}: use a comma-separated list of terminal, md, html, json, junit"
                ))),
            })
            .collect()
    }
    /// The file it is written to (none for the terminal).
    pub fn file_name(self) -> Option<&'static str> {
        match self {
            Format::Terminal => None,
            Format::Markdown => Some("scorecard.md"),
            Format::Html => Some("scorecard.html"),
            Format::Json => Some("scorecard.json"),
            Format::Junit => Some("junit.xml"),
        }
    }
    /// Renders `card` in this format.
    pub fn render(self, card: &Scorecard, colour: bool) -> String {
        match self {
            Format::Terminal => render::terminal(card, colour),
            Format::Markdown => render::markdown(card),
            Format::Html => html::page(card),
            Format::Json => render::json(card),
            Format::Junit => render::junit(card),
        }
    }
}

/// Writes every file format into `out` (created when missing) and gives back the paths.
/// Everything is rendered before the first file is written.
pub fn write_outputs(card: &Scorecard, formats: &[Format], out: &Path) -> Result<Vec<PathBuf>> {
    use rayon::prelude::*;
    let rendered: Vec<(PathBuf, String)> = formats
        .par_iter()
        .filter_map(|f| Some((out.join(f.file_name()?), f.render(card, false))))
        .collect();
    if rendered.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(out).map_err(|e| {
        Error::Other(format!(
            "cannot create the report directory {}: {e}",
            out.display()
        ))
    })?;
    let written: Vec<PathBuf> = rendered
        .into_par_iter()
        .map(|(path, text)| write_atomically(&path, text.as_bytes()).map(|()| path))
        .collect::<Result<_>>()?;
    if formats.contains(&Format::Markdown)
        && let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty())
    {
        use std::io::Write as _;
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .and_then(|mut f| f.write_all(render::markdown(card).as_bytes()));
        if let Err(e) = appended {
            return Err(Error::Other(format!(
                "cannot append to GITHUB_STEP_SUMMARY={}: {e}",
                PathBuf::from(summary).display()
            )));
        }
    }
    Ok(written)
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename,
/// so a reader never sees half a file and a failure leaves the old file whole.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::Other(format!("cannot write {}: {e}", path.display()))
        })
}
