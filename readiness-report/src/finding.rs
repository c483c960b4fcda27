//! What the report noticed on the way, beside the verdicts: some are information
//! (retries, merged shards), some make the release no-go on their own (a record cut short,
//! a record that disagrees with its numbers, shards missing).

use serde::Serialize;

/// What kind of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FindingKind {
    /// A record cut short (a test killed while writing it): its criterion could not be
    /// judged. No-go.
    CutShort,
    /// A record whose verdict disagrees with its own numbers. No-go.
    InconsistentRecord,
    /// A shard set with shards missing: the merged result is of part of the load. No-go.
    ShardsMissing,
    /// Shards of one criterion judged against different limits (or percentiles, or
    /// units), or split in different ways. No-go.
    ShardsDisagree,
    /// An expected criterion without evidence. No-go.
    MissingExpected,
    /// Runs in the directory that were not judged (which run was, and why).
    OtherRuns,
    /// Runs without a shared id joined into the judged run because they hold the other
    /// shards of its loads.
    JoinedRuns,
    /// The same record read more than once (a file copied twice): counted once.
    DuplicateRecords,
    /// A retried test: its last attempt counts.
    Retried,
    /// Shards merged into one result.
    MergedShards,
    /// Shards that declare different ways to combine: the worst verdict counts.
    MergedByVerdict,
    /// A weighted category without evidence.
    NotAssessed,
    /// A category without a weight.
    UnweightedCategory,
    /// Capacity planning configured, no ceiling measured.
    CapacityUnmeasured,
    /// An attestation of the config that has expired or is dated after the report. No-go.
    AttestationNotValid,
    /// Records written under an operational mutant (`READINESS_MUTANT`): a sensitivity
    /// run, whose verdict judges the suite. Not no-go by itself.
    Mutated,
}

impl FindingKind {
    /// Whether a finding of this kind makes the verdict no-go by itself.
    pub fn is_no_go(self) -> bool {
        matches!(
            self,
            FindingKind::CutShort
                | FindingKind::InconsistentRecord
                | FindingKind::ShardsMissing
                | FindingKind::ShardsDisagree
                | FindingKind::MissingExpected
                | FindingKind::AttestationNotValid
        )
    }

    /// The kind as in the JSON form (`cut_short`).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::CutShort => "cut_short",
            FindingKind::InconsistentRecord => "inconsistent_record",
            FindingKind::ShardsMissing => "shards_missing",
            FindingKind::ShardsDisagree => "shards_disagree",
            FindingKind::MissingExpected => "missing_expected",
            FindingKind::OtherRuns => "other_runs",
            FindingKind::JoinedRuns => "joined_runs",
            FindingKind::DuplicateRecords => "duplicate_records",
            FindingKind::Retried => "retried",
            FindingKind::MergedShards => "merged_shards",
            FindingKind::MergedByVerdict => "merged_by_verdict",
            FindingKind::NotAssessed => "not_assessed",
            FindingKind::UnweightedCategory => "unweighted_category",
            FindingKind::CapacityUnmeasured => "capacity_unmeasured",
            FindingKind::AttestationNotValid => "attestation_not_valid",
            FindingKind::Mutated => "mutated",
        }
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something the report noticed: shown with the scorecard; a finding of a no-go kind
/// ([`FindingKind::is_no_go`]) is also a reason for no-go.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// What kind of finding.
    pub kind: FindingKind,
    /// The finding in words.
    pub message: String,
    /// The evidence file it is about, relative to the evidence directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The line in that file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl Finding {
    /// A finding about no one place.
    pub(crate) fn new(kind: FindingKind, message: impl Into<String>) -> Self {
        Finding {
            kind,
            message: message.into(),
            file: None,
            line: None,
        }
    }

    /// A finding about `file:line`.
    pub(crate) fn at(
        kind: FindingKind,
        message: impl Into<String>,
        file: &str,
        line: usize,
    ) -> Self {
        Finding {
            kind,
            message: message.into(),
            file: Some(file.to_owned()),
            line: Some(line),
        }
    }
}
