//! # readiness
//!
//! Production readiness criteria as ordinary `cargo test` assertions. Tests start the real
//! dependencies with testcontainers, drive real load and real faults, measure, assert, and
//! leave evidence on disk; the report turns a test run into a scorecard with a go / no-go
//! verdict.
//!
//! This umbrella crate re-exports the harness crates:
//!
//! | module | crate | feature |
//! |---|---|---|
//! | [`core`] (and the root) | `readiness-core`: evidence, thresholds, checks | always |
//! | `probe` | readiness-core's probes (HTTP, TCP) | `probes` |
//! | `containers` | readiness-core's container catalogue | `containers` |
//! | `security` | `readiness-security`: the security criteria (rate limit, auth, CORS, malformed input, ports, secrets, vulnerabilities) | `security` |
//! | `load` | `readiness-load`: the load engine and latency assertions | `load` |
//! | `dr` | `readiness-dr`: faults, recovery, RTO/RPO | `dr` |
//! | `observability` | `readiness-observability`: metrics and alerts | `observability` |
//! | `report` | `readiness-report`: scorecard and go / no-go | `report` |
//!
//! All features are on by default.
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use readiness::{containers, Category, Check, CheckResultExt, Threshold};
//!
//! # async fn demo() {
//! Check::new("deps.postgres_ready", "PostgreSQL accepts connections quickly", Category::RELIABILITY)
//!     .with_threshold(Threshold::at_most(Duration::from_secs(10)))
//!     .with_scenario("fresh container from the catalogue")
//!     .run(async {
//!         let started = Instant::now();
//!         let _postgres = containers::start(containers::postgres()?).await?;
//!         Ok(started.elapsed())
//!     })
//!     .await
//!     .or_panic();
//! # }
//! ```
#![deny(missing_docs)]

/// The README's examples, compiled as doc tests so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;

pub use readiness_core::*;

/// `readiness-core`: evidence, thresholds, checks, probes and the container catalogue.
pub use readiness_core as core;

/// `readiness-load`: the load engine.
#[cfg(feature = "load")]
pub use readiness_load as load;

/// `readiness-dr`: faults and recovery.
#[cfg(feature = "dr")]
pub use readiness_dr as dr;

/// `readiness-security`: the security criteria (rate limit, auth, CORS, malformed input,
/// exposed ports, secrets, vulnerability reports).
#[cfg(feature = "security")]
pub use readiness_security as security;

/// `readiness-observability`: metrics, alerts, logs and traces.
#[cfg(feature = "observability")]
pub use readiness_observability as observability;

/// `readiness-report`: evidence to scorecard.
#[cfg(feature = "report")]
pub use readiness_report as report;
