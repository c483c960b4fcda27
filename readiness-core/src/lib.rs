//! # readiness-core
//!
//! The foundation of the readiness harness: the [`Evidence`] every check leaves, typed
//! [`Quantity`]s and [`Threshold`]s, the [`Recorder`] that writes evidence as JSON Lines,
//! the check/assert pattern ([`Check`], [`Failure`]), [`probe`]s, the loopback [`guard`],
//! and the container catalogue ([`containers`]).
//!
//! ## The check/assert pattern
//!
//! Every criterion has two forms: `try_assert_*` (or `check_*`) returns
//! `Result<Evidence, Failure>`; `assert_*` is `#[track_caller]` and panics with the failure
//! message, so the panic points at the test line. Both record one [`Evidence`] before they
//! return. A criterion that was measured and missed has verdict `fail`; a check that could
//! not run (no Docker, missing image, refused target) has verdict `error` and carries the
//! setup [`Error`] as [`Failure::cause`].
//!
//! ```text
//! readiness criterion failed: load.p95 (p95 latency under 500ms)
//!   required: at most 500ms
//!   observed: p95 812.4ms  (p50 41.0ms, p99 1.92s, max 2.31s; 12,004 requests, 0.8% errors)
//!   margin:   1.62x over the limit
//!   scenario: constant arrival rate 200/s for 30s
//!   target:   GET http://127.0.0.1:49213/orders
//!   evidence: target/readiness/evidence-4121.jsonl
//! ```
//!
//! A check of your own is a measurement and a [`Check`]:
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use readiness_core::{containers, Category, Check, Failure, Quantity, Threshold};
//!
//! async fn try_assert_postgres_ready_within(limit: Duration) -> Result<readiness_core::Evidence, Failure> {
//!     let check = Check::new("deps.postgres_ready", format!("PostgreSQL ready within {limit:?}"), Category::RELIABILITY)
//!         .with_scenario("fresh container from the catalogue");
//!     let check = match Threshold::at_most(Quantity::duration(limit)) {
//!         Ok(t) => check.with_threshold(t),
//!         Err(e) => return Err(check.error(e)),
//!     };
//!     let started = Instant::now();
//!     let request = match containers::postgres() {
//!         Ok(r) => r,
//!         Err(e) => return Err(check.error(e)),
//!     };
//!     match containers::start(request).await {
//!         Ok(_container) => check.judge(Quantity::duration(started.elapsed())),
//!         Err(e) => Err(check.error(e)),
//!     }
//! }
//! ```
//!
//! ## Evidence
//!
//! Records are JSON Lines, one file per process (`evidence-<pid>.jsonl`) in the evidence
//! directory, schema [`SCHEMA_VERSION`]. See [`settings`] for where that directory is.
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
//! unless a test opts in explicitly ([`guard`]).
#![deny(missing_docs)]

mod check;
pub mod containers;
mod error;
mod evidence;
pub mod guard;
pub mod histogram;
pub mod probe;
mod quantity;
mod recorder;
pub mod settings;

pub use check::{Check, CheckResultExt, Failure, current_test_name, git_commit, run_id};
pub use error::{Error, Result};
pub use evidence::{
    Attachment, Category, Context, Criterion, Evidence, SCHEMA_MAJOR, SCHEMA_VERSION, Verdict,
};
pub use probe::{Probe, ProbeReport, Sample};
pub use quantity::{Judgement, Percentile, Quantity, Threshold, Unit};
pub use recorder::Recorder;

/// testcontainers, as the harness uses it (one copy in the dependency tree).
pub use testcontainers;
/// testcontainers-modules, as the harness uses it.
pub use testcontainers_modules;
