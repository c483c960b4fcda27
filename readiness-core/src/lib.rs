//! # readiness-core
//!
//! The foundation of the readiness harness: the [`Evidence`] every check leaves (with
//! typed [`Attachment`]s and how it [`Combine`]s across shards and with a baseline), typed
//! [`Quantity`]s and [`Threshold`]s, the [`Recorder`] that writes evidence as JSON Lines,
//! the check/assert pattern ([`Check`], [`Failure`]), the [`stats`] behind the verdicts,
//! [`Evidence::verify`] (a record judged again from its own numbers), the loopback
//! [`guard`]; and behind default features, probes and the container catalogue.
//!
//! ## Features
//!
//! | feature | what | pulls in |
//! |---|---|---|
//! | (none) | the evidence schema, thresholds, checks, recorder, statistics, guard | serde, time, hdrhistogram |
//! | `probes` (default) | [`Probe`]: HTTP and TCP probes | tokio, reqwest |
//! | `containers` (default) | `containers`: the catalogue on testcontainers | tokio, testcontainers |
//!
//! A tool that only reads evidence (the report) depends on it with
//! `default-features = false` and compiles no runtime.
//!
//! ## The check/assert pattern
//!
//! Every criterion has two forms: `try_assert_*` returns `Result<Evidence, Failure>`;
//! `assert_*` is `#[track_caller]` and panics with the failure message, so the panic points
//! at the test line ([`CheckResultExt::or_panic`] does it for any `try_`). Both record one
//! [`Evidence`] before they return. A criterion that was measured and missed has verdict
//! `fail`; a check that could not run (no Docker, missing image, refused target) or had
//! nothing to judge (zero samples, no iteration that succeeded, a bound that cannot decide
//! the threshold) has verdict `error` and carries the [`Error`] as [`Failure::cause`] —
//! never a pass, never a fail.
//!
//! ```text
//! readiness criterion failed: load.p95 (p95 latency of get_order under 500ms)
//!   required: at most 500ms
//!   observed: 812.4ms
//!   margin:   1.62x over the limit
//!   summary:  12,004 iterations: 11,908 ok, 96 failed (0.8%: 90 5xx, 6 unfinished); latency p50 41ms, p95 812.4ms, p99 1.92s, max 2.31s (n = 12,004)
//!   scenario: constant arrival rate 200/s for 30s
//!   target:   GET http://127.0.0.1:49213/orders
//!   hint:     6 iterations were still running when the 10s drain ended: ...
//!   evidence: target/readiness/evidence-4121.jsonl
//! ```
//!
//! A check of your own is a measurement run inside a [`Check`]: a setup error on the way is
//! a `?`, and becomes verdict `error`.
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use readiness_core::{containers, Category, Check, Evidence, Failure, Threshold};
//!
//! async fn try_assert_postgres_ready_within(limit: Duration) -> Result<Evidence, Failure> {
//!     Check::new("deps.postgres_ready", "PostgreSQL ready", Category::RELIABILITY)
//!         .with_threshold(Threshold::at_most(limit))
//!         .with_scenario("fresh container from the catalogue")
//!         .run(async {
//!             let started = Instant::now();
//!             let _postgres = containers::start(containers::postgres()?).await?;
//!             Ok(started.elapsed())
//!         })
//!         .await
//! }
//! ```
//!
//! Thresholds built from typed values cannot fail ([`Threshold::at_most`] of a
//! `Duration`, a [`Ratio`], a [`Rate`], a [`Count`], [`Bytes`]); the newtypes are validated
//! once, at the edge (`Ratio::percent(1.0)?`). An [`Observation`] can be a bound of the
//! value ("not ready after 30 s": [`Observation::at_least`]); it decides only what it can.
//!
//! ## Evidence
//!
//! Records are JSON Lines, one file per process (`evidence-<pid>.jsonl`) in the evidence
//! directory, schema [`SCHEMA_VERSION`]. Each names a stable `subject` (what was measured:
//! the load and the criterion), separate from its human title; merges and baselines key
//! records by it. Checks write to [`Recorder::global`] unless given another
//! ([`Check::with_recorder`]); the harness's own self-tests give their own, so their
//! deliberate failures never land where a user's report looks.
//!
//! ## Settings
//!
//! Every switch is an environment variable and a key of the same name in the `[settings]`
//! table of `readiness.toml`; the table is in [`settings`]. `READINESS_DIR`,
//! `READINESS_IMAGE_<NAME>`, `READINESS_RUN_ID`, `READINESS_GIT_COMMIT`,
//! `READINESS_STARTUP_TIMEOUT_SECS`.
//!
//! ## Safety
//!
//! Probes, and the load and fault crates built on them, aim only at loopback targets
//! unless a test opts in explicitly ([`guard`]); an HTTP redirect is a new target, checked
//! the same way.
#![deny(missing_docs)]

mod attachment;
mod check;
#[cfg(feature = "containers")]
pub mod containers;
pub mod criteria;
pub mod docs;
mod error;
mod evidence;
pub mod guard;
pub mod histogram;
#[cfg(any(feature = "probes", feature = "containers"))]
pub mod moment;
pub mod mutant;
#[cfg(feature = "containers")]
mod mutate;
#[cfg(feature = "probes")]
pub mod probe;
mod quantity;
mod recorder;
pub mod run;
mod security_evidence;
pub mod settings;
pub mod stats;
mod verify;
pub use verify::{LimitKind, required_limit};

pub use attachment::{
    AlertEvent, AlertState, AlertTimeline, AttachmentKind, DriftSeries, DrillEvent,
    EncodedHistogram, LatencyHistogram, LimitedRequest, ProbeReport, RateLimitTimeline,
    RecoveryTimeline, Sample, ScalingLevels, SecurityItem, SecurityReport, Severity, SpikeRecovery,
    StreakFrom, StressStep, StressSteps, Timeline, TimelineSecond, VulnerabilityFinding,
    VulnerabilityFindings, Windows, WorstWindow, WriteCounts, WriteHistory, WriteOutcome,
    WriteRecord,
};
pub use check::{
    Check, CheckResultExt, Failure, Observation, Verdicts, current_test_name, git_commit, run_id,
};
pub use error::{Error, Result};
pub use evidence::{
    Attachment, Bound, Category, Combine, Context, Criterion, Evidence, SCHEMA_MAJOR,
    SCHEMA_VERSION, Verdict,
};
#[cfg(any(feature = "probes", feature = "containers"))]
pub use moment::Moment;
#[cfg(feature = "probes")]
pub use probe::Probe;
pub use quantity::{
    Bytes, Count, Judgement, Limit, Percentile, Quantity, Rate, Ratio, Threshold, Unit,
};
pub use recorder::Recorder;

/// testcontainers, as the harness uses it (one copy in the dependency tree).
#[cfg(feature = "containers")]
pub use testcontainers;
/// testcontainers-modules, as the harness uses it.
#[cfg(feature = "containers")]
pub use testcontainers_modules;
