//! # readiness-load
//!
//! The load engine of the readiness harness.
//!
//! - [`Model`]: open (constant or ramping arrival rate; latency measured from the intended
//!   start, so coordinated omission is corrected; iterations that could not start on time
//!   are counted as errors, never skipped; in-flight work bounded by
//!   [`Load::with_max_in_flight`]) and closed (N virtual users).
//! - [`Load::run`] runs any async closure as the transaction and returns a [`Report`]
//!   ([`Load::run_mix`] runs several named transactions with weights; judge each with
//!   [`Report::transaction`]):
//!   an HDR histogram of latency per second (mergeable), totals merged from them, errors by
//!   [`ErrorClass`], scheduling lag. [`http::get`] is the HTTP convenience. Completed
//!   seconds are kept packed (HDR V2), so memory stays flat over a long run.
//! - [`Timer`]: Tokio's timer (start times late by up to ~2 ms) or [`Timer::Fine`] (a
//!   `timerfd`: tens of µs, two system calls per arrival) via [`Load::with_timer`].
//! - Assertions, each with a `try_` form, recording evidence with the serialized histograms
//!   attached: [`assert_p95_under`], [`assert_percentile_under`],
//!   [`assert_error_rate_under`], [`assert_throughput_at_least`].
//!
//! ```no_run
//! use std::time::Duration;
//! use readiness_load::{Load, Model, http, assert_p95_under, assert_error_rate_under};
//!
//! # async fn demo() -> readiness_core::Result<()> {
//! let model = Model::constant_rate(200.0, Duration::from_secs(30))?;
//! let tx = http::get("http://127.0.0.1:8080/orders/1", Duration::from_secs(5), false)?;
//! let report = Load::new("get_order", model).with_target("GET /orders/1").run(tx).await?;
//! assert_p95_under(&report, Duration::from_millis(500));
//! assert_error_rate_under(&report, 0.01);
//! # Ok(()) }
//! ```
//!
//! More: [`try_assert_percentile_under_in_every_window`] ("p95 under 500 ms in every 10 s
//! window"), [`AbortRule`] (stop a run that has already lost), [`Stress`] and
//! [`assert_capacity_at_least`], [`Spike`] and [`assert_spike_recovers_within`], [`soak`] and
//! [`assert_no_drift`], [`assert_scales_linearly`], and [`Shard`] (`READINESS_SHARD=i/n`)
//! to split one load across processes or machines.
#![deny(missing_docs)]

mod assertions;
mod engine;
pub mod http;
pub mod metrics;
mod pace;
pub mod raw;
mod schedule;
mod soak;
mod stress;

pub use assertions::*;
pub use engine::{AbortRule, Load, Mix, MixTransaction, Report, Shard, shard_users};
pub use metrics::{BoxedIteration, ErrorClass, Outcome};
pub use pace::Timer;
pub use schedule::{MAX_ITERATIONS, Model, RateStage, Schedule};
pub use soak::{
    Slope, SoakReport, assert_no_drift, assert_scales_linearly, rss_of_pid, slope, soak,
    try_assert_no_latency_drift, try_assert_no_memory_drift, try_assert_scales_linearly,
};
pub use stress::{
    BreakCriterion, Spike, SpikeReport, Step, Stress, StressReport, assert_capacity_at_least,
    assert_spike_recovers_within, try_assert_capacity_at_least, try_assert_spike_recovers_within,
};

pub use readiness_core as core;
