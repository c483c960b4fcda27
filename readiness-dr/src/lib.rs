//! # readiness-dr
//!
//! Faults and recovery for the readiness harness. It will own (see `DESIGN.md`):
//!
//! - container faults through testcontainers and Docker: kill, stop, pause/unpause, restart;
//! - an in-process TCP fault proxy with Toxiproxy's vocabulary (latency, bandwidth,
//!   slow_close, timeout, reset_peer, slicer, limit_data, down);
//! - RTO measured with the probes of `readiness-core` (first moment the health probe stays
//!   good for a settle window) and RPO from a sequenced writer;
//! - backup and restore drills for PostgreSQL and Redis with integrity checks;
//! - zero-downtime switch and automatic rollback, and fault plans as proptest strategies.
//!
//! Every assertion records a [`readiness_core::Evidence`] through [`readiness_core::Check`].
#![deny(missing_docs)]

pub use readiness_core as core;
