//! The evidence every check leaves: one record per assertion, passing or failing.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use crate::attachment::Attachment;
use crate::attachment::AttachmentKind;
use crate::quantity::{Percentile, Quantity, Threshold};

/// Schema version of [`Evidence`] records, `major.minor`. Readers refuse an unknown major.
pub const SCHEMA_VERSION: &str = "2.1";

/// The schema major version this crate reads and writes.
pub const SCHEMA_MAJOR: u32 = 2;

/// What a criterion is about; the scorecard groups and weighs by category.
///
/// The six harness categories are constants; a team may use its own names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Category(Cow<'static, str>);

impl Category {
    /// Latency, throughput.
    pub const PERFORMANCE: Category = Category(Cow::Borrowed("performance"));
    /// Errors, availability, health.
    pub const RELIABILITY: Category = Category(Cow::Borrowed("reliability"));
    /// RTO, RPO, backups, restore drills.
    pub const RECOVERY: Category = Category(Cow::Borrowed("recovery"));
    /// Metrics, alerts, logs, traces.
    pub const OBSERVABILITY: Category = Category(Cow::Borrowed("observability"));
    /// Auth, rate limits, exposure.
    pub const SECURITY: Category = Category(Cow::Borrowed("security"));
    /// Ceilings, scaling, headroom.
    pub const CAPACITY: Category = Category(Cow::Borrowed("capacity"));

    /// A category of the team's own ("documentation", "operations", ...).
    pub fn custom(name: impl Into<String>) -> Self {
        Category(Cow::Owned(name.into()))
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which criterion a record is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Criterion {
    /// Stable id, `area.what` (`load.p95`, `dr.rto`, `obs.alert_fires`).
    pub id: String,
    /// Human title ("p95 latency under 500ms").
    pub title: String,
    /// Category.
    pub category: Category,
}

impl Criterion {
    /// A criterion.
    pub fn new(id: impl Into<String>, title: impl Into<String>, category: Category) -> Self {
        Criterion {
            id: id.into(),
            title: title.into(),
            category,
        }
    }
}

/// The outcome of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Measured and met.
    Pass,
    /// Measured and missed.
    Fail,
    /// Could not be measured (setup error: no Docker, missing image, refused target).
    Error,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        })
    }
}

/// Where and when a check ran.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Context {
    /// What was done ("constant arrival rate 200/s for 30s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// What was judged ("GET http://127.0.0.1:49213/orders").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The test that ran the check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    /// When the measurement started.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub started_at: Option<OffsetDateTime>,
    /// When the check was judged.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub finished_at: Option<OffsetDateTime>,
    /// Git commit of the code under test, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// The harness run (also the `org.readiness.run` container label): everything one
    /// invocation produced ([`crate::run`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Where the run id came from, so the report knows how far it reaches (absent in
    /// records of schema 2.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_source: Option<crate::run::RunSource>,
    /// `i/n` when the load was split into shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The process that wrote the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Beyond loopback, on purpose: the environment the test opted into and its limits
    /// (`staging http://… (opted in; at most 5/s for 1m; no faults, no stress)`), absent
    /// for everything on loopback ([`crate::guard::Staging`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// The operational mutant the run was under (`dep.latency`, `svc.sigkill@api`: a
    /// sensitivity run, [`crate::mutant`]), absent for a run as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutant: Option<String>,
}

/// Whether an observed value is the value itself or only a bound of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// The value itself.
    #[default]
    Exact,
    /// The value is at least this (a probe that gave up waiting, an iteration still
    /// running when the run ended).
    AtLeast,
    /// The value is at most this (the capacity of a stress whose first step broke).
    AtMost,
}

/// How a criterion combines: how the records of several shards merge into one, and how a
/// run is compared with a baseline. Declared by the record, never guessed from its id.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Combine {
    /// A latency percentile judged on the record's
    /// [`LatencyHistogram`](crate::attachment::LatencyHistogram): shards add their
    /// histograms and the percentile is judged again; a baseline compares the percentile
    /// by its interval.
    LatencyDistribution {
        /// The percentile judged.
        percentile: Percentile,
    },
    /// A share of `events` among `trials` (an error rate): shards add both counts; a
    /// baseline compares the two proportions with an interval.
    Proportion {
        /// Events counted (failed iterations).
        events: u64,
        /// Trials they are counted among (iterations due).
        trials: u64,
    },
    /// `events` per second over `seconds` (a throughput): shards running side by side add
    /// their rates; a baseline compares the rates with an interval from the counts.
    Rate {
        /// Events counted.
        events: u64,
        /// Over how long.
        seconds: f64,
    },
    /// Judged on its own: shards take the worst verdict; a baseline compares verdicts.
    #[default]
    VerdictOnly,
}

/// One record of one check: what was required, what was observed, the verdict, where and
/// when, and the raw data behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Evidence {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema: String,
    /// The criterion.
    pub criterion: Criterion,
    /// What was measured, stable across runs and shards ("get_order/load.p95"): merges
    /// and baselines key records by it (with the test), never by the title, which may
    /// name the limit and change with it.
    pub subject: String,
    /// How the record merges across shards and compares with a baseline.
    #[serde(default)]
    pub combine: Combine,
    /// The limit, when the check has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Threshold>,
    /// The measured value (absent when the check could not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Quantity>,
    /// Whether `observed` is the value itself or only a bound of it.
    #[serde(default, skip_serializing_if = "Bound::is_exact")]
    pub bound: Bound,
    /// observed / limit; absent where the limit is zero or nothing was observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why the check could not run (verdict `error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A one-line account of the observation ("p95 812.4ms (p50 41.0ms, ...)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Where and when.
    pub context: Context,
    /// Raw data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

impl Bound {
    fn is_exact(&self) -> bool {
        *self == Bound::Exact
    }
}

impl Evidence {
    /// The attachment of kind `T`, if the record has one.
    pub fn attachment<T: AttachmentKind>(&self) -> Option<&T> {
        self.attachments.iter().find_map(T::of)
    }

    /// The schema major version of this record, if its `schema` field parses.
    pub fn schema_major(&self) -> Option<u32> {
        self.schema.split('.').next()?.parse().ok()
    }
}
