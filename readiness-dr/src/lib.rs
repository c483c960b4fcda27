//! # readiness-dr
//!
//! Faults and recovery for the readiness harness: the fault is injected by the test
//! itself, the recovery is timed and the data loss counted, and every assertion records
//! [`readiness_core::Evidence`] with the raw data behind it.
//!
//! | module | what | criteria |
//! |---|---|---|
//! | [`degrade`] | a dependency down or slow, seen from outside: the service keeps answering, its errors become fast | `dr.degrades_gracefully`, `dr.degraded_p99`, `dr.circuit_opens` |
//! | [`fault`] | container faults: kill (signal), stop, start, restart, pause/unpause, network disconnect/reconnect; undone on drop | |
//! | [`recovery`] | recovery time from a fault to a health check that stays good | `dr.rto` |
//! | [`history`] | a Jepsen-style write history and its final read | `dr.no_ack_write_lost`, `dr.rpo` |
//! | [`plan`] | fault plans: proptest strategies of fault sequences, applied to the test's containers and proxies, shrunk to the smallest plan that breaks an invariant | |
//! | [`postgres`] | PostgreSQL backup, restore into a fresh container, integrity by row counts and checksums | `dr.restore_integrity`, `dr.restore_time` |
//! | [`proxy`] | an in-process TCP fault proxy with Toxiproxy's toxics, per direction, with toxicity; the switchable front for blue/green | |
//! | [`switch`] | blue/green behind the proxy, switched with connection draining under load | `dr.zero_downtime`, `dr.switch_p99` |
//! | [`rollback`] | an automated rollback policy (Argo Rollouts / Flagger vocabulary) on the proxy | `dr.rollback` |
//! | [`redis`] | Redis persistence settings and the durability they give | `dr.redis_durability` |
//!
//! ```no_run
//! # async fn demo() -> readiness_core::Result<()> {
//! use std::time::Duration;
//! use readiness_core::containers;
//! use readiness_dr::fault::Faults;
//! use readiness_dr::recovery::{assert_rto_within, Health, Recovery};
//!
//! let postgres = containers::start(containers::postgres()?).await?;
//! let faults = Faults::new().await?;
//! let killed = faults.kill(&postgres, "SIGKILL").await?;
//! let started = faults.start(&postgres).await?;
//! let recovery = Recovery::of("postgres", Health::exec(&postgres, &["pg_isready", "-U", "postgres"]))
//!     .with_settle(Duration::from_secs(1))
//!     .measure(&killed, &faults.events())
//!     .await?;
//! assert_rto_within(&recovery, Duration::from_secs(120));
//! # let _ = started; Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod degrade;
pub mod fault;
pub mod history;
pub mod plan;
pub mod postgres;
pub mod proxy;
pub mod recovery;
pub mod redis;
pub mod rollback;
pub mod switch;

pub use readiness_core as core;

/// Runs a command in a container (see [`readiness_core::containers::exec`]).
pub use readiness_core::containers::exec;
