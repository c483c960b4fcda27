//! The check/assert pattern: measure, judge against a threshold, record evidence, and
//! either return it or fail with the whole story.
//!
//! Every assertion of the harness is built on [`Check`]: a `try_assert_*` function measures
//! and returns `Check::judge(..)`, a `Result<Evidence, Failure>`; the `assert_*` function
//! is `#[track_caller]` and calls [`Failure::panic`] so the panic points at the test line.

use std::fmt;
use std::path::PathBuf;
use std::sync::OnceLock;

use time::OffsetDateTime;

use crate::error::Error;
use crate::evidence::{
    Attachment, Category, Context, Criterion, Evidence, SCHEMA_VERSION, Verdict,
};
use crate::quantity::{Quantity, Threshold};
use crate::recorder::Recorder;
use crate::settings;

/// A check being prepared: the criterion, its threshold, and where and what it measured.
///
/// ```
/// use readiness_core::{Category, Check, Quantity, Threshold};
/// # fn main() -> readiness_core::Result<()> {
/// let evidence = Check::new("load.p95", "p95 latency under 500ms", Category::PERFORMANCE)
///     .with_threshold(Threshold::at_most(Quantity::millis(500.0))?)
///     .with_scenario("constant arrival rate 200/s for 30s")
///     .with_target("GET http://127.0.0.1:8080/orders")
///     .judge(Quantity::millis(41.0))
///     .expect("41ms is under 500ms");
/// assert_eq!(evidence.verdict, readiness_core::Verdict::Pass);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a check does nothing until it is judged"]
pub struct Check {
    criterion: Criterion,
    threshold: Option<Threshold>,
    summary: Option<String>,
    hint: Option<String>,
    context: Context,
    attachments: Vec<Attachment>,
    recorder: Option<PathBuf>,
}

impl Check {
    /// A check of criterion `id` (`area.what`), with a human title and a category.
    /// The measurement is taken to start now (see [`Check::with_started_at`]).
    pub fn new(id: impl Into<String>, title: impl Into<String>, category: Category) -> Self {
        Check {
            criterion: Criterion::new(id, title, category),
            threshold: None,
            summary: None,
            hint: None,
            context: Context {
                started_at: Some(OffsetDateTime::now_utc()),
                ..Context::default()
            },
            attachments: Vec::new(),
            recorder: None,
        }
    }

    /// The limit the observation is judged against.
    pub fn with_threshold(mut self, threshold: Threshold) -> Self {
        self.threshold = Some(threshold);
        self
    }
    /// What was done ("constant arrival rate 200/s for 30s").
    pub fn with_scenario(mut self, scenario: impl Into<String>) -> Self {
        self.context.scenario = Some(scenario.into());
        self
    }
    /// What was judged ("GET http://127.0.0.1:49213/orders").
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.context.target = Some(target.into());
        self
    }
    /// A one-line account of the observation, shown instead of the bare value.
    pub fn with_summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = Some(summary.into());
        self
    }
    /// What to do next when the check fails (shown in the failure message, not recorded).
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    /// Raw data to keep with the record.
    pub fn with_attachment(mut self, attachment: Attachment) -> Self {
        self.attachments.push(attachment);
        self
    }
    /// When the measurement started (default: when the check was created).
    pub fn with_started_at(mut self, at: OffsetDateTime) -> Self {
        self.context.started_at = Some(at);
        self
    }
    /// `i/n` when the measurement is one shard of a split load.
    pub fn with_shard(mut self, shard: impl Into<String>) -> Self {
        self.context.shard = Some(shard.into());
        self
    }
    /// Write the record to `<dir>/evidence-<pid>.jsonl` instead of the evidence directory.
    pub fn with_evidence_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.recorder = Some(dir.into());
        self
    }

    /// Judges `observed` against the threshold, records the evidence, and returns it when
    /// the criterion is met or a [`Failure`] when it is not. A check without a threshold,
    /// or one whose threshold does not fit the observation, records verdict `error`.
    pub fn judge(self, observed: Quantity) -> Result<Evidence, Failure> {
        let Some(threshold) = self.threshold else {
            let err = Error::InvalidInput(format!(
                "check {} has no threshold; add .with_threshold(..)",
                self.criterion.id
            ));
            return Err(self.error(err));
        };
        let judgement = match threshold.judge(observed) {
            Ok(j) => j,
            Err(e) => return Err(self.error(e)),
        };
        let margin_text = threshold.describe_margin(observed);
        let verdict = if judgement.met {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        let hint = self.hint.clone();
        let (evidence, path) = self.finish(verdict, Some(observed), judgement.margin, None);
        if judgement.met {
            Ok(evidence)
        } else {
            Err(Failure(Box::new(FailureParts {
                evidence,
                path,
                margin: Some(margin_text),
                hint,
                cause: None,
            })))
        }
    }

    /// [`Check::judge`] against a threshold that may itself be invalid (straight from
    /// `Threshold::at_most(..)`): an invalid one records verdict `error` with its reason.
    pub fn judge_with(
        self,
        threshold: crate::Result<Threshold>,
        observed: Quantity,
    ) -> Result<Evidence, Failure> {
        match threshold {
            Ok(t) => self.with_threshold(t).judge(observed),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Records that the check could not run (verdict `error`) and returns the failure.
    pub fn error(self, cause: Error) -> Failure {
        let hint = self.hint.clone();
        let (evidence, path) = self.finish(Verdict::Error, None, None, Some(cause.to_string()));
        Failure(Box::new(FailureParts {
            evidence,
            path,
            margin: None,
            hint,
            cause: Some(cause),
        }))
    }

    /// [`Check::judge`], panicking with the failure message when the criterion is missed.
    #[track_caller]
    pub fn assert(self, observed: Quantity) -> Evidence {
        self.judge(observed).or_panic()
    }

    fn finish(
        self,
        verdict: Verdict,
        observed: Option<Quantity>,
        margin: Option<f64>,
        error: Option<String>,
    ) -> (Evidence, Result<PathBuf, String>) {
        let mut context = self.context;
        context.finished_at = Some(OffsetDateTime::now_utc());
        context.test = context.test.or_else(current_test_name);
        context.run_id = context.run_id.or_else(|| Some(run_id().to_owned()));
        context.git_commit = context
            .git_commit
            .or_else(|| git_commit().map(str::to_owned));
        context.pid = Some(std::process::id());
        let evidence = Evidence {
            schema: SCHEMA_VERSION.to_owned(),
            criterion: self.criterion,
            threshold: self.threshold,
            observed,
            margin,
            verdict,
            error,
            summary: self.summary,
            context,
            attachments: self.attachments,
        };
        let written = match &self.recorder {
            Some(dir) => Recorder::new(dir).record(&evidence),
            None => Recorder::global().and_then(|r| r.record(&evidence)),
        };
        let path = written.map_err(|e| e.to_string());
        if let Err(e) = &path {
            tracing::error!("readiness: {e}");
        }
        (evidence, path)
    }
}

/// `or_panic` on the result of a `try_assert_*`: what every `assert_*` calls.
pub trait CheckResultExt {
    /// The evidence of a passed check, or [`Failure::panic`] at the caller's line. (A
    /// closure such as `unwrap_or_else(|f| f.panic())` would report the closure's line
    /// instead: closures cannot be `#[track_caller]`.)
    #[track_caller]
    fn or_panic(self) -> Evidence;
}

impl CheckResultExt for Result<Evidence, Failure> {
    #[track_caller]
    fn or_panic(self) -> Evidence {
        match self {
            Ok(evidence) => evidence,
            Err(failure) => failure.panic(),
        }
    }
}

/// A check that did not pass: the criterion was missed (verdict `fail`), or the check could
/// not run (verdict `error`, with the setup [`Error`] as [`Failure::cause`]).
///
/// Its `Display` is the whole story in a few lines: what was required, what was observed,
/// by how much it missed, under which scenario, where the evidence is.
#[derive(Debug)]
pub struct Failure(Box<FailureParts>);

#[derive(Debug)]
struct FailureParts {
    evidence: Evidence,
    path: Result<PathBuf, String>,
    margin: Option<String>,
    hint: Option<String>,
    cause: Option<Error>,
}

impl Failure {
    /// The recorded evidence.
    pub fn evidence(&self) -> &Evidence {
        &self.0.evidence
    }
    /// The verdict: [`Verdict::Fail`] or [`Verdict::Error`].
    pub fn verdict(&self) -> Verdict {
        self.0.evidence.verdict
    }
    /// The setup error, when the check could not run.
    pub fn cause(&self) -> Option<&Error> {
        self.0.cause.as_ref()
    }
    /// The evidence file, or why it could not be written.
    pub fn evidence_path(&self) -> Result<&PathBuf, &str> {
        self.0.path.as_ref().map_err(String::as_str)
    }

    /// The one line the panic carries (the block goes to stderr first).
    pub fn headline(&self) -> String {
        let c = &self.0.evidence.criterion;
        match self.0.evidence.verdict {
            Verdict::Error => format!("readiness check could not run: {} ({})", c.id, c.title),
            _ => format!("readiness criterion failed: {} ({})", c.id, c.title),
        }
    }

    /// Prints the failure block to stderr and panics with its first line, at the caller.
    #[track_caller]
    pub fn panic(self) -> ! {
        eprintln!("{self}");
        let location = match &self.0.path {
            Ok(p) => format!("; evidence: {}", p.display()),
            Err(_) => String::new(),
        };
        panic!("{}{location}", self.headline())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0.evidence;
        writeln!(f, "{}", self.headline())?;
        if let Some(t) = &e.threshold {
            writeln!(f, "  required: {t}")?;
        }
        match (&e.summary, &e.observed) {
            (Some(s), _) => writeln!(f, "  observed: {s}")?,
            (None, Some(o)) => writeln!(f, "  observed: {o}")?,
            (None, None) => {}
        }
        if let Some(m) = &self.0.margin {
            writeln!(f, "  margin:   {m}")?;
        }
        if let Some(err) = &e.error {
            writeln!(f, "  error:    {err}")?;
        }
        if let Some(s) = &e.context.scenario {
            writeln!(f, "  scenario: {s}")?;
        }
        if let Some(t) = &e.context.target {
            writeln!(f, "  target:   {t}")?;
        }
        if let Some(h) = &self.0.hint {
            writeln!(f, "  hint:     {h}")?;
        }
        match &self.0.path {
            Ok(p) => write!(f, "  evidence: {}", display_relative(p)),
            Err(why) => write!(f, "  evidence: not written ({why})"),
        }
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.cause.as_ref().map(|e| e as _)
    }
}

/// A path relative to the workspace root when it lies under it.
fn display_relative(p: &std::path::Path) -> String {
    let root = settings::workspace_root();
    p.strip_prefix(&root).unwrap_or(p).display().to_string()
}

/// The id of this harness run: `READINESS_RUN_ID`, else `NEXTEST_RUN_ID`, else one made
/// for this process.
pub fn run_id() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| {
        settings::get("READINESS_RUN_ID")
            .ok()
            .flatten()
            .or_else(|| std::env::var("NEXTEST_RUN_ID").ok())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| {
                let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
                format!("p{}-{:x}", std::process::id(), nanos)
            })
    })
}

/// The commit under test: `READINESS_GIT_COMMIT`, `GITHUB_SHA`, else `git rev-parse HEAD`
/// in the workspace root.
pub fn git_commit() -> Option<&'static str> {
    static COMMIT: OnceLock<Option<String>> = OnceLock::new();
    COMMIT
        .get_or_init(|| {
            settings::get("READINESS_GIT_COMMIT")
                .ok()
                .flatten()
                .or_else(|| std::env::var("GITHUB_SHA").ok())
                .or_else(|| {
                    let out = std::process::Command::new("git")
                        .args(["rev-parse", "HEAD"])
                        .current_dir(settings::workspace_root())
                        .stderr(std::process::Stdio::null())
                        .output()
                        .ok()?;
                    out.status
                        .success()
                        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
                })
                .filter(|s| !s.is_empty())
        })
        .as_deref()
}

/// The running test's name: libtest names the test's thread after it; under nextest (one
/// test per process) it is also the argument after `--exact`.
pub fn current_test_name() -> Option<String> {
    let thread = std::thread::current();
    if let Some(name) = thread
        .name()
        .filter(|n| *n != "main" && !n.starts_with("tokio-"))
    {
        return Some(name.to_owned());
    }
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--exact")
        .and_then(|i| args.get(i + 1))
        .cloned()
}
