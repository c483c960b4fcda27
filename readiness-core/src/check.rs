//! The check/assert pattern: measure, judge against a threshold, record evidence, and
//! either return it or fail with the whole story.
//!
//! Every assertion of the harness is built on [`Check`]: a `try_assert_*` function measures
//! and returns `Check::judge(..)`, a `Result<Evidence, Failure>`; the `assert_*` function
//! is `#[track_caller]` and calls [`Failure::panic`] so the panic points at the test line.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::OnceLock;

use time::OffsetDateTime;

use crate::error::Error;
use crate::evidence::{
    Attachment, Bound, Category, Combine, Context, Criterion, Evidence, SCHEMA_VERSION, Verdict,
};
use crate::quantity::{Quantity, Threshold};
use crate::recorder::Recorder;
use crate::settings;

/// A check being prepared: the criterion, its threshold, and where and what it measured.
///
/// ```
/// use std::time::Duration;
/// use readiness_core::{Category, Check, Quantity, Threshold, Verdict};
///
/// let evidence = Check::new("load.p95", "p95 latency under 500ms", Category::PERFORMANCE)
///     .with_threshold(Threshold::at_most(Duration::from_millis(500)))
///     .with_scenario("constant arrival rate 200/s for 30s")
///     .with_target("GET http://127.0.0.1:8080/orders")
///     .with_recorder(readiness_core::Recorder::new(std::env::temp_dir().join("readiness-doc")))
///     .judge(Quantity::millis(41.0))
///     .expect("41ms is under 500ms");
/// assert_eq!(evidence.verdict, Verdict::Pass);
/// ```
///
/// A measurement that needs setup runs inside the check, so a setup error becomes verdict
/// `error` with `?` ([`Check::run`], [`Check::measure`]).
#[derive(Debug, Clone)]
#[must_use = "a check does nothing until it is judged"]
pub struct Check {
    criterion: Criterion,
    subject: Option<String>,
    combine: Combine,
    threshold: Option<Threshold>,
    summary: Option<String>,
    hint: Option<String>,
    context: Context,
    attachments: Vec<Attachment>,
    recorder: Option<Recorder>,
}

/// What a measurement gives a check: the quantity (or a bound of it) and what to record
/// with it. `Ok(quantity)` or `Ok(duration)` in [`Check::run`] is an observation too.
#[derive(Debug, Clone)]
#[must_use]
pub struct Observation {
    quantity: Quantity,
    bound: Bound,
    summary: Option<String>,
    target: Option<String>,
    attachments: Vec<Attachment>,
}

impl Observation {
    /// The value itself.
    pub fn new(quantity: impl Into<Quantity>) -> Self {
        Observation {
            quantity: quantity.into(),
            bound: Bound::Exact,
            summary: None,
            target: None,
            attachments: Vec::new(),
        }
    }
    /// Only that the value is at least `quantity`: it decides "at most" limits below it and
    /// "at least" limits up to it; anything else is verdict `error`, never a guess.
    pub fn at_least(quantity: impl Into<Quantity>) -> Self {
        Observation {
            bound: Bound::AtLeast,
            ..Observation::new(quantity)
        }
    }
    /// Only that the value is at most `quantity`.
    pub fn at_most(quantity: impl Into<Quantity>) -> Self {
        Observation {
            bound: Bound::AtMost,
            ..Observation::new(quantity)
        }
    }
    /// A one-line account of the observation.
    pub fn with_summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = Some(summary.into());
        self
    }
    /// What was judged, when only the measurement knows it (a port mapped at start).
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }
    /// Raw data to keep with the record.
    pub fn with_attachment(mut self, attachment: impl Into<Attachment>) -> Self {
        self.attachments.push(attachment.into());
        self
    }
}

impl From<Quantity> for Observation {
    fn from(q: Quantity) -> Self {
        Observation::new(q)
    }
}

impl From<std::time::Duration> for Observation {
    fn from(d: std::time::Duration) -> Self {
        Observation::new(d)
    }
}

impl Check {
    /// A check of criterion `id` (`area.what`), with a human title and a category.
    /// The measurement is taken to start now (see [`Check::with_started_at`]).
    pub fn new(id: impl Into<String>, title: impl Into<String>, category: Category) -> Self {
        Check {
            criterion: Criterion::new(id, title, category),
            subject: None,
            combine: Combine::VerdictOnly,
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
    /// What was measured, stable across runs (default: the criterion id). Merges and
    /// baselines key records by it, so name the thing measured, not the limit.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
    /// How the record merges across shards and compares with a baseline (default
    /// [`Combine::VerdictOnly`]).
    pub fn with_combine(mut self, combine: Combine) -> Self {
        self.combine = combine;
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
    /// A one-line account of the observation, shown under the observed value.
    pub fn with_summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = Some(summary.into());
        self
    }
    /// What to do next when the check does not pass (shown in the failure message).
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    /// Raw data to keep with the record.
    pub fn with_attachment(mut self, attachment: impl Into<Attachment>) -> Self {
        self.attachments.push(attachment.into());
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
    /// The environment beyond loopback the measurement ran in, on purpose
    /// ([`crate::guard::Staging::describe`]).
    pub fn with_remote(mut self, remote: impl Into<String>) -> Self {
        self.context.remote = Some(remote.into());
        self
    }
    /// Where the record goes (default: [`Recorder::global`], the evidence directory).
    /// The harness's own self-tests give a recorder of their own, so their deliberate
    /// failures never land where a user's report looks.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Judges `observed` against the threshold, records the evidence, and returns it when
    /// the criterion is met or a [`Failure`] when it is not. A check without a threshold,
    /// an observation that does not fit the threshold, or a bound that cannot decide it
    /// records verdict `error`.
    pub fn judge(mut self, observed: impl Into<Observation>) -> Result<Evidence, Failure> {
        let o = observed.into();
        self.summary = o.summary.or(self.summary);
        if let Some(t) = o.target {
            self.context.target = Some(t);
        }
        self.attachments.extend(o.attachments);
        let Some(threshold) = self.threshold else {
            let err = Error::InvalidInput(format!(
                "check {} has no threshold; add .with_threshold(..)",
                self.criterion.id
            ));
            return Err(self.error(err));
        };
        let judgement = match threshold.judge(o.quantity) {
            Ok(j) => j,
            Err(e) => return Err(self.error(e)),
        };
        let decided = match (o.bound, threshold) {
            (Bound::Exact, _) => true,
            // A lower bound shows a miss of an upper limit, or that a minimum is reached.
            (Bound::AtLeast, Threshold::AtLeast { .. }) => judgement.met,
            (Bound::AtLeast, _) => !judgement.met && o.quantity.value() > upper(&threshold),
            // An upper bound shows that an upper limit holds, or a minimum is missed.
            (Bound::AtMost, Threshold::AtMost { .. }) => judgement.met,
            (Bound::AtMost, _) => !judgement.met && o.quantity.value() < lower(&threshold),
        };
        if !decided {
            let what = match o.bound {
                Bound::AtLeast => "at least",
                _ => "at most",
            };
            let err = Error::NothingMeasured(format!(
                "the measurement shows only that the value is {what} {}, which cannot decide \
                 \"{threshold}\"",
                o.quantity
            ));
            return Err(self.error(err));
        }
        let margin_text = match o.bound {
            Bound::Exact => threshold.describe_margin(o.quantity),
            Bound::AtLeast => format!("at least {}", threshold.describe_margin(o.quantity)),
            Bound::AtMost => format!("at most {}", threshold.describe_margin(o.quantity)),
        };
        let verdict = if judgement.met {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        let hint = self.hint.clone();
        let (evidence, path) =
            self.finish(verdict, Some((o.quantity, o.bound)), judgement.margin, None);
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

    /// Records that there was nothing to judge (verdict `error`, [`Error::NothingMeasured`]):
    /// `why` says what the run saw instead ("no iteration succeeded: 40 timeouts").
    pub fn nothing_measured(self, why: impl Into<String>) -> Failure {
        self.error(Error::NothingMeasured(why.into()))
    }

    /// Runs `measurement` and judges what it gives; an error on the way (no Docker, a
    /// refused target, `?` on any harness call) is verdict `error`, never `fail`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), readiness_core::Failure> {
    /// use std::time::{Duration, Instant};
    /// use readiness_core::{containers, Category, Check, Threshold};
    ///
    /// Check::new("deps.postgres_ready", "PostgreSQL ready within 10s", Category::RELIABILITY)
    ///     .with_threshold(Threshold::at_most(Duration::from_secs(10)))
    ///     .run(async {
    ///         let started = Instant::now();
    ///         let _postgres = containers::start(containers::postgres()?).await?;
    ///         Ok(started.elapsed())
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn run<O, F>(self, measurement: F) -> Result<Evidence, Failure>
    where
        F: Future<Output = crate::Result<O>>,
        O: Into<Observation>,
    {
        match measurement.await {
            Ok(observed) => self.judge(observed),
            Err(e) => Err(self.error(e)),
        }
    }

    /// [`Check::run`] for a measurement that needs no `await`.
    pub fn measure<O: Into<Observation>>(
        self,
        measurement: impl FnOnce() -> crate::Result<O>,
    ) -> Result<Evidence, Failure> {
        match measurement() {
            Ok(observed) => self.judge(observed),
            Err(e) => Err(self.error(e)),
        }
    }

    /// [`Check::judge`], panicking with the failure message when the criterion is missed.
    #[track_caller]
    pub fn assert(self, observed: impl Into<Observation>) -> Evidence {
        self.judge(observed).or_panic()
    }

    fn finish(
        self,
        verdict: Verdict,
        observed: Option<(Quantity, Bound)>,
        margin: Option<f64>,
        error: Option<String>,
    ) -> (Evidence, Result<PathBuf, String>) {
        let mut context = self.context;
        context.finished_at = Some(OffsetDateTime::now_utc());
        context.test = context.test.or_else(current_test_name);
        if context.run_id.is_none() {
            let run = crate::run::current();
            context.run_id = Some(run.id.clone());
            context.run_source = Some(run.source);
        }
        context.git_commit = context
            .git_commit
            .or_else(|| git_commit().map(str::to_owned));
        context.pid = Some(std::process::id());
        // A bad setting is reported where the mutant is applied; here it only labels.
        context.mutant = context.mutant.or_else(|| {
            crate::mutant::current()
                .ok()
                .flatten()
                .map(|m| m.to_string())
        });
        let evidence = Evidence {
            schema: SCHEMA_VERSION.to_owned(),
            subject: self.subject.unwrap_or_else(|| self.criterion.id.clone()),
            criterion: self.criterion,
            combine: self.combine,
            threshold: self.threshold,
            observed: observed.map(|o| o.0),
            bound: observed.map(|o| o.1).unwrap_or_default(),
            margin,
            verdict,
            error,
            summary: self.summary,
            context,
            attachments: self.attachments,
        };
        let written = match self.recorder {
            Some(r) => r.record(&evidence),
            None => Recorder::global().and_then(|r| r.record(&evidence)),
        };
        crate::recorder::count_in_census(&evidence);
        let path = written.map_err(|e| e.to_string());
        if let Err(e) = &path {
            tracing::error!("readiness: {e}");
        }
        (evidence, path)
    }
}

/// The highest value a threshold allows (infinite for a minimum).
fn upper(t: &Threshold) -> f64 {
    match t {
        Threshold::AtMost { limit } => limit.value(),
        Threshold::Within { high, .. } => high.value(),
        Threshold::AtLeast { .. } => f64::INFINITY,
    }
}

/// The lowest value a threshold allows (zero for a maximum).
fn lower(t: &Threshold) -> f64 {
    match t {
        Threshold::AtLeast { limit } => limit.value(),
        Threshold::Within { low, .. } => low.value(),
        Threshold::AtMost { .. } => 0.0,
    }
}

/// What the result of a `try_assert_*` offers: `or_panic` (what every `assert_*` calls),
/// and the record whichever way it went, so a test reads a verdict without a `match`.
///
/// ```
/// use readiness_core::{Category, Check, CheckResultExt, Quantity, Threshold, Verdict};
/// use std::time::Duration;
///
/// let result = Check::new("load.p95", "p95 under 500ms", Category::PERFORMANCE)
///     .with_threshold(Threshold::at_most(Duration::from_millis(500)))
///     .with_recorder(readiness_core::Recorder::new(std::env::temp_dir().join("readiness-doc")))
///     .judge(Quantity::millis(812.0));
/// assert_eq!(result.verdict(), Verdict::Fail);
/// assert_eq!(result.observed(), Some(Quantity::millis(812.0)));
/// ```
pub trait CheckResultExt {
    /// The evidence of a passed check, or [`Failure::panic`] at the caller's line. (A
    /// closure such as `unwrap_or_else(|f| f.panic())` would report the closure's line
    /// instead: closures cannot be `#[track_caller]`.)
    #[track_caller]
    fn or_panic(self) -> Evidence;
    /// The recorded evidence, passed or not.
    fn evidence(&self) -> &Evidence;
    /// The verdict: pass, fail or error.
    fn verdict(&self) -> Verdict {
        self.evidence().verdict
    }
    /// The value observed (absent when the check could not run).
    fn observed(&self) -> Option<Quantity> {
        self.evidence().observed
    }
}

impl CheckResultExt for Result<Evidence, Failure> {
    #[track_caller]
    fn or_panic(self) -> Evidence {
        match self {
            Ok(evidence) => evidence,
            Err(failure) => failure.panic(),
        }
    }
    fn evidence(&self) -> &Evidence {
        match self {
            Ok(evidence) => evidence,
            Err(failure) => failure.evidence(),
        }
    }
}

/// Several criteria judged by one drill, each recorded whatever the others did: the test
/// fails once, at the end, with every failure (an `assert_*` per criterion would stop at
/// the first, and the criteria after it would have no evidence).
///
/// ```
/// use readiness_core::{Category, Check, Quantity, Recorder, Threshold, Verdicts};
/// use std::time::Duration;
///
/// let recorder = Recorder::new(std::env::temp_dir().join("readiness-doc"));
/// let check = |id: &str, ms: f64| {
///     Check::new(id, "under 500ms", Category::PERFORMANCE)
///         .with_threshold(Threshold::at_most(Duration::from_millis(500)))
///         .with_recorder(recorder.clone())
///         .judge(Quantity::millis(ms))
/// };
/// let mut all = Verdicts::new();
/// all.add(check("load.p95", 812.0));
/// all.add(check("load.p99", 420.0));
/// assert_eq!(all.failures().len(), 1);
/// assert_eq!(all.judged(), 2);
/// ```
#[derive(Debug, Default)]
#[must_use = "call `assert_all` to fail the test when a criterion failed"]
pub struct Verdicts {
    judged: usize,
    failures: Vec<Failure>,
}

impl Verdicts {
    /// Nothing judged yet.
    pub fn new() -> Self {
        Verdicts::default()
    }

    /// Keeps one criterion's result (its evidence is already recorded).
    pub fn add(&mut self, result: Result<Evidence, Failure>) -> &mut Self {
        self.judged += 1;
        if let Err(failure) = result {
            self.failures.push(failure);
        }
        self
    }

    /// How many criteria were judged.
    pub fn judged(&self) -> usize {
        self.judged
    }

    /// The failures (verdict `fail` or `error`) in the order they were judged.
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }

    /// Passes when every criterion passed; otherwise prints every failure block to stderr
    /// and panics at the caller with one line per failure.
    #[track_caller]
    pub fn assert_all(self) {
        if self.failures.is_empty() {
            return;
        }
        let mut lines = Vec::new();
        for failure in &self.failures {
            eprintln!("{failure}\n");
            lines.push(format!("  {}", failure.headline()));
        }
        panic!(
            "{} of {} readiness criteria did not pass:\n{}",
            self.failures.len(),
            self.judged,
            lines.join("\n")
        );
    }
}

/// A check that did not pass: the criterion was missed (verdict `fail`), or the check could
/// not run or had nothing to judge (verdict `error`, with the [`Error`] as
/// [`Failure::cause`]).
///
/// Its `Display` (and `Debug`, so a test returning `Result<(), Failure>` prints it) is the
/// whole story in a few lines: what was required, what was observed, by how much it
/// missed, under which scenario, what to try, where the evidence is.
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
    /// The failure block as printed, with the evidence directory `evidence_dir` (absolute
    /// or relative to the workspace) shown as `[dir]` and this process's id as `[pid]`:
    /// the text a snapshot test pins, the same on every machine.
    pub fn redacted(&self, evidence_dir: &std::path::Path) -> String {
        let root = settings::workspace_root();
        let relative = evidence_dir
            .strip_prefix(&root)
            .unwrap_or(evidence_dir)
            .display()
            .to_string();
        self.to_string()
            .replace(&evidence_dir.display().to_string(), "[dir]")
            .replace(&relative, "[dir]")
            .replace(
                &format!("evidence-{}", std::process::id()),
                "evidence-[pid]",
            )
    }
    /// The recorded evidence.
    pub fn evidence(&self) -> &Evidence {
        &self.0.evidence
    }
    /// The verdict: [`Verdict::Fail`] or [`Verdict::Error`].
    pub fn verdict(&self) -> Verdict {
        self.0.evidence.verdict
    }
    /// The error, when the check could not run or had nothing to judge.
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
        match (&e.observed, e.bound) {
            (Some(o), Bound::Exact) => writeln!(f, "  observed: {o}")?,
            (Some(o), Bound::AtLeast) => writeln!(f, "  observed: at least {o}")?,
            (Some(o), Bound::AtMost) => writeln!(f, "  observed: at most {o}")?,
            (None, _) => writeln!(f, "  observed: nothing")?,
        }
        if let Some(m) = &self.0.margin {
            writeln!(f, "  margin:   {m}")?;
        }
        if let Some(err) = &e.error {
            writeln!(f, "  error:    {err}")?;
        }
        if let Some(s) = &e.summary {
            writeln!(f, "  summary:  {s}")?;
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

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
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

/// The id of this harness run: everything one invocation produced (`READINESS_RUN_ID`, a
/// CI workflow run, one `cargo nextest run`, one `cargo test`; see [`crate::run`]).
pub fn run_id() -> &'static str {
    &crate::run::current().id
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
