//! # readiness-load
//!
//! The load engine of the readiness harness. It will own (see `DESIGN.md`):
//!
//! - closed (virtual users) and open (arrival-rate) load models, with latency measured
//!   from the intended start time in the open model (coordinated omission corrected) and
//!   bounded in-flight work;
//! - transactions as named async closures, with an HTTP convenience;
//! - HDR histograms per second and per transaction, attached to the evidence;
//! - the assertions `assert_p95_under`, `assert_percentile_under`, `assert_error_rate_under`,
//!   `assert_throughput_at_least`, windowed variants, stress, spike and soak checks;
//! - shards whose evidence the report merges before judging.
//!
//! Every assertion records a [`readiness_core::Evidence`] through
//! [`readiness_core::Check`], as described in `readiness-core`.
#![deny(missing_docs)]

pub use readiness_core as core;
