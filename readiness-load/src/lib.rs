//! # readiness-load
//!
//! The load engine of the readiness harness.
//!
//! - [`Model`]: open (constant or ramping arrival rate; latency measured from the intended
//!   start, so coordinated omission is corrected) and closed (N virtual users, ramping or
//!   not).
//! - [`Load::run`] runs any [`Transaction`] (an async closure over the iteration id, or
//!   [`http::get`]) and returns a [`Report`]; [`Load::run_mix`] runs several named
//!   transactions with weights (judge each with [`Report::transaction`]); [`Load::run_raw`]
//!   is the lean HTTP/1.1 path ([`raw::Target`]). All three run on one executor (module
//!   `executor`): open and closed model, shards, the abort rule, the drain.
//! - Every iteration counts. One that could not start on time (with
//!   [`Load::with_max_in_flight`] running) is an error ([`ErrorClass::NotStarted`]); one still
//!   running when the drain ends is an error ([`ErrorClass::Unfinished`]) with its age as its
//!   latency (a lower bound); each in the second it was meant to start. Iteration ids are
//!   unique in both models and across shards.
//! - Metrics: an HDR histogram of latency per second (mergeable, packed when old so memory
//!   stays flat), errors by class, scheduling lag.
//! - [`Timer`]: Tokio's timer (start times late by up to ~2 ms) or [`Timer::Fine`] (a
//!   `timerfd`: tens of µs) via [`Load::with_timer`]. The engine keeps time with Tokio's
//!   clock, so a test can run it on the paused clock and get exact numbers.
//! - Assertions, each with a `try_` form, arguments in one order (the report, what is
//!   judged, the limit), recording evidence with the histogram and timeline attached:
//!   [`assert_p95_under`], [`assert_percentile_under`], [`assert_error_rate_under`],
//!   [`assert_throughput_at_least`], and per window. A criterion with nothing to judge
//!   (no iteration due, none that succeeded) is verdict `error` saying why.
//!
//! ```no_run
//! use std::time::Duration;
//! use readiness_load::{Load, Model, Ratio, http, assert_p95_under, assert_error_rate_under};
//!
//! # async fn demo() -> readiness_core::Result<()> {
//! let model = Model::constant_rate(200.0, Duration::from_secs(30))?;
//! let get = http::get("http://127.0.0.1:8080/orders/1").with_timeout(Duration::from_secs(5));
//! let report = Load::new("get_order", model).run(get).await?;
//! assert_p95_under(&report, Duration::from_millis(500));
//! assert_error_rate_under(&report, Ratio::percent(1.0)?);
//! # Ok(()) }
//! ```
//!
//! More: [`try_assert_percentile_under_in_every_window`] ("p95 under 500 ms in every 10 s
//! window"), [`AbortRule`] (stop a run that has already lost), [`Stress`] and
//! [`assert_capacity_at_least`], [`Spike`] and [`assert_spike_recovers_within`], [`soak`] and
//! [`assert_no_drift`], [`assert_scales_linearly`], and [`Shard`] (`READINESS_SHARD=i/n`)
//! to split one load across processes or machines. [`Load::with_recorder`] chooses where
//! the assertions on its report record their evidence.
#![deny(missing_docs)]

mod assertions;
mod executor;
pub mod http;
mod load;
pub mod metrics;
mod pace;
pub mod raw;
mod report;
mod schedule;
mod shard;
mod soak;
mod stress;
mod transaction;
mod watch;

pub use assertions::*;
pub use http::HttpGet;
pub use load::Load;
pub use metrics::{BodyFailure, BoxedIteration, ErrorClass, Outcome};
pub use pace::Timer;
pub use report::Report;
pub use schedule::{MAX_ITERATIONS, Model, RateStage, Schedule};
pub use shard::{Shard, shard_users};
pub use soak::{
    SoakReport, assert_no_drift, assert_no_latency_drift, assert_no_memory_drift,
    assert_scales_linearly, rss_of_pid, soak, try_assert_no_latency_drift,
    try_assert_no_memory_drift, try_assert_scales_linearly,
};
pub use stress::{
    BreakCriterion, Spike, SpikeReport, Stress, StressReport, assert_capacity_at_least,
    assert_spike_recovers_within, try_assert_capacity_at_least, try_assert_spike_recovers_within,
};
pub use transaction::{Mix, Transaction};
pub use watch::AbortRule;

pub use readiness_core as core;
pub use readiness_core::{Percentile, Rate, Ratio};
