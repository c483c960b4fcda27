//! The evidence every check leaves: one record per assertion, passing or failing.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::quantity::{Quantity, Threshold};

/// Schema version of [`Evidence`] records, `major.minor`. Readers refuse an unknown major.
pub const SCHEMA_VERSION: &str = "1.0";

/// The schema major version this crate reads and writes.
pub const SCHEMA_MAJOR: u32 = 1;

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
    /// The harness run (also the `org.readiness.run` container label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// `i/n` when the load was split into shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The process that wrote the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// Raw data kept with a record so its numbers can be re-derived (histograms, timelines,
/// probe samples, alert timestamps). Keep it small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Attachment {
    /// Name within the record ("probe_samples", "histogram").
    pub name: String,
    /// What the data is, so a report knows how to draw it ("probe_samples/v1",
    /// "hdr_histogram/v2+base64", "timeline/v1").
    pub kind: String,
    /// The data.
    pub data: serde_json::Value,
}

impl Attachment {
    /// An attachment.
    pub fn new(name: impl Into<String>, kind: impl Into<String>, data: serde_json::Value) -> Self {
        Attachment {
            name: name.into(),
            kind: kind.into(),
            data,
        }
    }
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
    /// The limit, when the check has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Threshold>,
    /// The measured value (absent when the check could not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Quantity>,
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

impl Evidence {
    /// The schema major version of this record, if its `schema` field parses.
    pub fn schema_major(&self) -> Option<u32> {
        self.schema.split('.').next()?.parse().ok()
    }
}
