//! # readiness-report
//!
//! Turns the evidence of a test run into a readiness scorecard. It will own (see
//! `DESIGN.md`):
//!
//! - reading an evidence directory written by many processes and shards (JSON Lines, schema
//!   [`readiness_core::SCHEMA_VERSION`]), tolerating a truncated last line, refusing unknown
//!   schema major versions;
//! - `readiness.toml`: categories and weights, must-pass criteria, no-go rules, expected
//!   criteria;
//! - the scorecard with a go / no-go verdict, in terminal, Markdown, HTML, JSON and JUnit;
//! - baselines compared on raw histograms, capacity planning, and the `readiness` CLI.
//!
//! The report reads evidence files only; it never links the crates that wrote them.
#![deny(missing_docs)]

pub use readiness_core as core;
