//! # readiness-report
//!
//! Turns the evidence of a test run into a readiness scorecard a release can be gated on.
//! The report is a pipeline, each stage a function with its own output type, and go /
//! no-go decided in one place:
//!
//! 1. [`read()`]: every `*.jsonl` file under an evidence directory (many processes, many
//!    shards), two at a time; each record judged again from its own numbers as it is read
//!    ([`readiness_core::Evidence::verify`]) and kept in a compact form, so a million
//!    records are never held whole. A record cut short is a criterion that could not be
//!    judged; an unknown schema major is refused.
//! 2. [`group()`]: the runs judged. A run is everything one invocation produced (one
//!    `READINESS_RUN_ID`, one CI workflow run, one `cargo nextest run`, one `cargo test`:
//!    [`readiness_core::run`]); the default is the latest, with the shards of its loads
//!    that processes without a shared run id wrote joined to it. Findings say which runs
//!    were judged, which were not, and why.
//! 3. [`merge()`]: one result per criterion of a test: copies of a record count once, a
//!    retried test's last attempt counts, shards of one load are merged (histograms added
//!    before a percentile is judged again); shards judged against different limits or with
//!    shards missing are verdict `error`.
//! 4. [`score()`]: per category the criteria, pass/fail/error/missing counts, a score, the
//!    weighted total; every weighted category on the card.
//! 5. [`decide()`]: go / no-go with every reason.
//! 6. Render: [`render::terminal`], [`render::markdown`], [`html::page`] (one
//!    self-contained file with a chart for every attachment), [`render::json`] (stable,
//!    versioned by [`SCORECARD_SCHEMA`]), [`render::junit`], [`openmetrics::text`] (for
//!    dashboards and a Pushgateway); [`write_outputs`] streams them to files.
//!
//! Beside it: [`ReportConfig`] (the `[report]` table of `readiness.toml`), [`Baseline`] (a
//! run's verdicts and raw histograms saved; a later run compared on the histograms, each
//! change called improved / regressed / within noise from an interval), [`capacity::plan`]
//! (months of headroom from the measured ceiling).
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
//! let scorecard = make(&Options::new("target/readiness"))?;
//! println!("{} {:.1}/10", scorecard.verdict, scorecard.score);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod attest;
pub mod baseline;
pub mod capacity;
mod chunks;
pub mod config;
mod finding;
pub mod html;
pub mod matrix;
mod merge;
pub mod openmetrics;
mod read;
pub mod render;
mod runs;
mod scorecard;
pub mod sensitivity;
mod text;

use std::path::{Path, PathBuf};

pub use attest::{AttestState, Attestation, Attested};
pub use baseline::{Baseline, Change, Comparison};
pub use config::{CategoryRule, NoGoRule, ReportConfig, Unassessed};
pub use finding::{Finding, FindingKind};
pub use matrix::{MATRIX_FILE, Matrix, MatrixRow};
pub use merge::{Merged, merge};
pub use read::{Entry, Read, ShardOf, read};
pub use readiness_core as core;
use readiness_core::{Error, Result};
pub use runs::{Grouped, RunInfo, group};
pub use scorecard::{
    CategoryScore, Compared, CriterionResult, Decision, Location, SCORECARD_SCHEMA, Scorecard,
    Scored, Status, decide, score,
};
pub use sensitivity::{
    Outcome, SENSITIVITY_FILE, ScoreJudgement, Sensitivity, SensitivityRow, WouldCatch,
    assert_sensitivity_at_least,
};
pub use text::Text;

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
    /// The run of the most recent record, with the shards that processes without a shared
    /// run id wrote for its loads (the default: a directory keeps every earlier run too).
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

/// The pipeline: read → group into runs → merge → score → decide (with the capacity plan
/// and the baseline comparison when configured). Writes nothing, except the baseline
/// under [`BaselinePolicy::Save`].
pub fn make(options: &Options) -> Result<Scorecard> {
    let (config, _) = ReportConfig::locate(options.config.as_deref())?;
    // Read the baseline before anything is judged, so a bad one fails the report early.
    let baseline = match &options.baseline {
        Some((path, BaselinePolicy::Compare | BaselinePolicy::Strict)) => {
            Some(Baseline::load(path)?)
        }
        _ => None,
    };
    let merged = merge(group(read(&options.dir)?, &options.run)?);
    let commits = merged.git_commits.clone();
    let scored = score(merged, &config);
    let capacity = config
        .capacity
        .as_ref()
        .and_then(|cap| capacity_plan(scored.criteria(), cap));
    let compared = baseline.map(|b| Compared {
        comparisons: b.compare(scored.criteria(), config.baseline.noise),
        strict: matches!(options.baseline, Some((_, BaselinePolicy::Strict))),
    });
    if let Some((path, BaselinePolicy::Save)) = &options.baseline {
        Baseline::of(scored.criteria())
            .with_commits(&commits)
            .save(path)?;
    }
    let mut card = decide(scored, &config, capacity, compared);
    // The defect matrix, when the judged run is one of its rows: shown apart, its rows'
    // verdicts are their own runs'.
    card.matrix =
        Matrix::read(&options.dir)?.filter(|m| card.runs.iter().any(|r| m.has_run(r.id.as_ref())));
    // The suite's sensitivity, likewise, when the judged run is one of its runs.
    card.sensitivity = Sensitivity::read(&options.dir)?
        .filter(|m| card.runs.iter().any(|r| m.has_run(r.id.as_ref())));
    Ok(card)
}

fn capacity_plan<'a>(
    results: impl Iterator<Item = &'a CriterionResult>,
    cap: &config::CapacityConfig,
) -> Option<capacity::CapacityPlan> {
    results
        .filter(|r| r.id == cap.criterion.as_str())
        .find_map(|r| {
            // A stress whose every step held measured a lower bound of the ceiling.
            let from_steps = r.attachment::<readiness_core::StressSteps>().and_then(|s| {
                let held_all = s.steps.iter().all(|step| !step.broke);
                let bound = if held_all {
                    readiness_core::Bound::AtLeast
                } else {
                    readiness_core::Bound::Exact
                };
                s.ceiling.map(|c| (c.value(), bound))
            });
            let (ceiling, bound) =
                from_steps.or_else(|| r.observed.map(|o| (o.value(), r.bound)))?;
            (ceiling > 0.0).then(|| {
                let source = format!(
                    "{} of {} ({})",
                    cap.criterion,
                    r.test.as_deref().unwrap_or("(no test name)"),
                    r.evidence
                        .as_ref()
                        .map_or_else(String::new, |e| e.to_string())
                );
                capacity::plan_bounded(ceiling, bound, source, cap)
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
    /// `scorecard.prom`: OpenMetrics text ([`openmetrics`]).
    OpenMetrics,
}

impl Format {
    /// Parses `terminal,md,html,json,junit,openmetrics`.
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
                "openmetrics" | "prom" => Ok(Format::OpenMetrics),
                other => Err(Error::InvalidInput(format!(
                    "--format {other}: use a comma-separated list of terminal, md, html, json, \
                     junit, openmetrics"
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
            Format::OpenMetrics => Some("scorecard.prom"),
        }
    }
    /// Writes `card` in this format to `w` (the terminal form without colours).
    pub fn write(self, card: &Scorecard, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        match self {
            Format::Markdown => render::write_markdown(card, w),
            Format::Json => render::write_json(card, w),
            Format::Junit => render::write_junit(card, w),
            Format::Terminal => w.write_all(render::terminal(card, false).as_bytes()),
            Format::Html => w.write_all(html::page(card).as_bytes()),
            Format::OpenMetrics => openmetrics::write(card, w),
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
            Format::OpenMetrics => openmetrics::text(card),
        }
    }
}

/// Writes every file format into `out` (created when missing) and gives back the paths.
/// Each is written to a temporary file beside its place, straight from the scorecard (a
/// million criteria are never one string); only when all are written are they renamed
/// into place, so a failure leaves the old files whole.
pub fn write_outputs(card: &Scorecard, formats: &[Format], out: &Path) -> Result<Vec<PathBuf>> {
    use rayon::prelude::*;
    let files: Vec<(Format, PathBuf)> = formats
        .iter()
        .filter_map(|f| Some((*f, out.join(f.file_name()?))))
        .collect();
    if files.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(out).map_err(|e| {
        Error::Other(format!(
            "cannot create the report directory {}: {e}",
            out.display()
        ))
    })?;
    let written: Vec<Result<(PathBuf, PathBuf)>> = files
        .par_iter()
        .map(|(format, path)| {
            let tmp = temporary(path);
            let result = std::fs::File::create(&tmp).and_then(|f| {
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                format.write(card, &mut w)?;
                std::io::Write::flush(&mut w)
            });
            match result {
                Ok(()) => Ok((tmp, path.clone())),
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    Err(Error::Other(format!(
                        "cannot write {}: {e}",
                        path.display()
                    )))
                }
            }
        })
        .collect();
    if let Some(Err(e)) = written.iter().find(|w| w.is_err()) {
        let e = Error::Other(e.to_string());
        for (tmp, _) in written.into_iter().flatten() {
            let _ = std::fs::remove_file(tmp);
        }
        return Err(e);
    }
    let mut paths = Vec::new();
    for (tmp, path) in written.into_iter().flatten() {
        std::fs::rename(&tmp, &path)
            .map_err(|e| Error::Other(format!("cannot write {}: {e}", path.display())))?;
        paths.push(path);
    }
    if formats.contains(&Format::Markdown)
        && let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty())
    {
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .and_then(|mut f| render::write_markdown(card, &mut f));
        if let Err(e) = appended {
            return Err(Error::Other(format!(
                "cannot append to GITHUB_STEP_SUMMARY={}: {e}",
                PathBuf::from(summary).display()
            )));
        }
    }
    Ok(paths)
}

fn temporary(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// The JSON file `name` of `dir` read as a `T`, if there is one; a file that does not read
/// is an error naming it and `what` it should be, with `remedy`, never silently left out.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    dir: &Path,
    name: &str,
    what: &str,
    remedy: &str,
) -> Result<Option<T>> {
    let path = dir.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Other(format!("cannot read {}: {e}", path.display()))),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Error::InvalidInput(format!(
            "{} is not {what} ({e}); {remedy} or remove the file",
            path.display()
        ))
    })
}

/// Saves `value` as the JSON file `name` of `dir`, atomically.
pub(crate) fn save_json<T: serde::Serialize>(
    dir: &Path,
    name: &str,
    what: &str,
    value: &T,
) -> Result<()> {
    let json = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Other(format!("cannot serialise {what}: {e}")))?;
    write_atomically(&dir.join(name), &json)
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename,
/// so a reader never sees half a file and a failure leaves the old file whole.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temporary(path);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::Other(format!("cannot write {}: {e}", path.display()))
        })
}
