//! Stage 3, merge: one result per criterion of a test (keyed by subject and test, never
//! by the title, which may name the limit). Copies of one record count once; a retried
//! test's last attempt counts; shards of one load are merged as their records declare
//! ([`Combine`]): latency histograms added before the percentile is judged again,
//! proportions by their counts, rates added. Shards that were judged against different
//! limits, split in different ways, or with shards missing are verdict `error`, whatever
//! their order: a merged result must be of the whole load, judged one way.
//!
//! The records are consumed a file at a time: a criterion with one record becomes its
//! result at once; only the records of retried or sharded criteria wait for the rest.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use readiness_core::{Attachment, Combine, EncodedHistogram, LatencyHistogram, Quantity, Timeline};

use crate::chunks::Chunks;
use crate::finding::{Finding, FindingKind};
use crate::read::{Entry, ShardOf};
use crate::runs::{Grouped, RunInfo};
use crate::scorecard::{CriterionResult, Status};
use crate::text::Text;

/// What stage 3 gives: one result per criterion of a test.
#[derive(Debug)]
pub struct Merged {
    pub(crate) dir: std::path::PathBuf,
    pub(crate) files: usize,
    pub(crate) records: usize,
    pub(crate) runs: Vec<RunInfo>,
    /// The results, made in the chunks the records were read into (a criterion with one
    /// record stays where it was; the records of retried and sharded ones are taken out,
    /// and their merged results come after).
    pub(crate) results: Chunks<CriterionResult>,
    pub(crate) findings: Vec<Finding>,
    pub(crate) git_commits: Vec<String>,
}

impl Merged {
    /// The results, one per criterion of a test.
    pub fn results(&self) -> impl Iterator<Item = &CriterionResult> {
        self.results.iter()
    }
    /// What reading, grouping and merging noticed.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }
}

/// A criterion of a test, by the ids of its shared texts (subject, test): one hash of two
/// words per record, no text hashed.
type Key = (usize, usize);

fn key(e: &Entry) -> Key {
    (
        e.result.subject.id(),
        e.result.test.as_ref().map_or(0, Text::id),
    )
}

/// Merges the records of the judged runs into one result per (subject, test).
pub fn merge(grouped: Grouped) -> Merged {
    let Grouped {
        dir,
        files,
        entries,
        runs,
        mut findings,
    } = grouped;
    let records = entries.len();
    let mut counts: FxHashMap<Key, u32> = FxHashMap::default();
    let mut commits: FxHashMap<usize, Text> = FxHashMap::default();
    let mut mutants: BTreeSet<String> = BTreeSet::new();
    for e in entries.iter() {
        if let Some(m) = &e.mutant {
            mutants.insert(m.to_string());
        }
        *counts.entry(key(e)).or_insert(0) += 1;
        if let Some(c) = &e.git_commit {
            commits.entry(c.id()).or_insert_with(|| c.clone());
        }
    }
    // Chunk by chunk: the records of criteria with several are taken out and wait for
    // the rest of their group; the others become results where they are, and a chunk that
    // lost most of its records gives its memory back.
    let mut waiting: FxHashMap<Key, Vec<Entry>> = FxHashMap::default();
    let mut merged = Vec::new();
    let mut results: Vec<Vec<CriterionResult>> = Vec::new();
    for mut chunk in entries.into_chunks() {
        for e in chunk.extract_if(.., |e| counts.get(&key(e)).copied().unwrap_or(1) > 1) {
            let k = key(&e);
            let group = waiting.entry(k).or_default();
            group.push(e);
            if group.len() as u32 == counts.get(&k).copied().unwrap_or(1)
                && let Some(group) = waiting.remove(&k)
            {
                merged.push(several(group, &mut findings));
            }
        }
        // The same memory, no copy: each record becomes its result in place.
        let mut out: Vec<CriterionResult> =
            chunk.into_iter().map(|e| one(e, &mut findings)).collect();
        crate::chunks::tidy(&mut out);
        results.push(out);
    }
    // Every group is complete by now (its count was taken from the same records).
    for (_, group) in waiting.drain() {
        merged.push(several(group, &mut findings));
    }
    results.push(merged);
    let results: Chunks<CriterionResult> = results.into_iter().collect();
    if !mutants.is_empty() {
        findings.push(Finding::new(
            FindingKind::Mutated,
            format!(
                "the run was under the operational mutant {}: a failure injected on purpose \
                 (READINESS_MUTANT), so its verdict judges the suite, not the service \
                 (`readiness sensitivity`)",
                mutants.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    Merged {
        dir,
        files,
        records,
        runs,
        results,
        findings,
        git_commits: commits
            .into_values()
            .map(|c| c.to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    }
}

fn display_test(test: &Option<Text>) -> &str {
    test.as_deref().unwrap_or("(no test name)")
}

/// The result of a criterion with one record: a shard alone is a set with shards missing.
fn one(e: Entry, findings: &mut Vec<Finding>) -> CriterionResult {
    let mut r = e.result;
    if let Some(s) = e.shard.filter(|s| s.count > 1) {
        let missing: Vec<ShardOf> = (1..=s.count)
            .filter(|i| *i != s.index)
            .map(|index| ShardOf {
                index,
                count: s.count,
            })
            .collect();
        shards_missing(&mut r, &[s], &missing, findings);
    }
    r
}

/// Makes `r` an error: shards `missing` of its set were not found.
fn shards_missing(
    r: &mut CriterionResult,
    present: &[ShardOf],
    missing: &[ShardOf],
    findings: &mut Vec<Finding>,
) {
    let names = |s: &[ShardOf]| {
        s.iter()
            .map(ShardOf::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let why = format!(
        "shards {} of {} were not found (present: {}): the result would be of part of the \
         load only",
        names(missing),
        missing.first().map_or(0, |s| s.count),
        names(present)
    );
    not_merged(r, FindingKind::ShardsMissing, why, findings);
    r.shards = present.len() as u32;
}

/// Makes `r` an error that says `why` its shards could not be merged, with a finding of
/// `kind`.
fn not_merged(
    r: &mut CriterionResult,
    kind: FindingKind,
    why: String,
    findings: &mut Vec<Finding>,
) {
    findings.push(Finding::new(
        kind,
        format!(
            "{} of {} ({}): {why}",
            r.id,
            display_test(&r.test),
            r.subject
        ),
    ));
    r.verdict = Status::Error;
    r.error = Some(Text::from(why));
}

/// The identity of one attempt: copies of a record share it.
fn attempt(
    e: &Entry,
) -> (
    Text,
    Option<u32>,
    Option<ShardOf>,
    Option<i64>,
    Status,
    Option<u64>,
) {
    (
        e.run.clone(),
        e.pid,
        e.shard,
        e.finished_at,
        e.result.verdict,
        e.result.observed.map(|o| o.value().to_bits()),
    )
}

fn several(group: Vec<Entry>, findings: &mut Vec<Finding>) -> CriterionResult {
    // Copies of one record (the same file copied twice) count once.
    let mut seen = rustc_hash::FxHashSet::default();
    let mut copies: Vec<String> = Vec::new();
    let mut group: Vec<Entry> = group
        .into_iter()
        .filter(|e| {
            let fresh = seen.insert(attempt(e));
            if !fresh && let Some(at) = &e.result.evidence {
                copies.push(at.to_string());
            }
            fresh
        })
        .collect();
    if !copies.is_empty() {
        let first = &group[0].result;
        findings.push(Finding::new(
            FindingKind::DuplicateRecords,
            format!(
                "{} of {}: {} records are copies of records already read ({}); each counts \
                 once",
                first.id,
                display_test(&first.test),
                copies.len(),
                copies.join(", ")
            ),
        ));
    }
    // Attempts in order: by finish time, then by file order.
    group.sort_by(|a, b| {
        a.finished_at
            .cmp(&b.finished_at)
            .then_with(|| a.result.evidence.cmp(&b.result.evidence))
    });
    let sharded = group.iter().filter(|e| e.shard.is_some()).count();
    let attempts = group.len() as u32;
    if sharded == 0 {
        let mut last = group.pop().map(|e| e.result).unwrap_or_default();
        if attempts > 1 {
            findings.push(Finding::new(
                FindingKind::Retried,
                format!(
                    "{} of {}: {attempts} attempts (a retried test); the last one counts: {}",
                    last.id,
                    display_test(&last.test),
                    last.verdict
                ),
            ));
        }
        last.attempts = attempts;
        return last;
    }
    let mut first = group[0].result.clone();
    first.attempts = attempts;
    let counts: BTreeSet<u32> = group
        .iter()
        .filter_map(|e| e.shard.map(|s| s.count))
        .collect();
    if sharded < group.len() || counts.len() > 1 {
        let splits: Vec<String> = group
            .iter()
            .map(|e| {
                e.shard
                    .map_or_else(|| "unsharded".into(), |s| s.to_string())
            })
            .collect();
        return disagree(
            first,
            format!(
                "its records were split in different ways ({}): they cannot be merged",
                splits.join(", ")
            ),
            findings,
        );
    }
    // The last attempt of each shard.
    let mut last: BTreeMap<u32, Entry> = BTreeMap::new();
    for e in group {
        if let Some(s) = e.shard {
            last.insert(s.index, e);
        }
    }
    let count = counts.into_iter().next().unwrap_or(1);
    let present: Vec<ShardOf> = last.values().filter_map(|e| e.shard).collect();
    let shards: Vec<CriterionResult> = last.into_values().map(|e| e.result).collect();
    let alike = |a: &CriterionResult, b: &CriterionResult| {
        a.threshold == b.threshold
            && std::mem::discriminant(&a.combine) == std::mem::discriminant(&b.combine)
            && match (a.combine, b.combine) {
                (
                    Combine::LatencyDistribution { percentile: p },
                    Combine::LatencyDistribution { percentile: q },
                ) => p == q,
                _ => true,
            }
    };
    if shards.iter().any(|s| !alike(s, &shards[0])) {
        let each: Vec<String> = present
            .iter()
            .zip(&shards)
            .map(|(s, r)| format!("{s}: {}", judged_as(r)))
            .collect();
        return disagree(
            first,
            format!(
                "its shards were judged in different ways ({}): a merged result could be \
                 judged against either",
                each.join("; ")
            ),
            findings,
        );
    }
    let missing: Vec<ShardOf> = (1..=count)
        .filter(|i| !present.iter().any(|s| s.index == *i))
        .map(|index| ShardOf { index, count })
        .collect();
    if !missing.is_empty() {
        let mut r = first;
        shards_missing(&mut r, &present, &missing, findings);
        return r;
    }
    if shards.len() > 1 {
        findings.push(Finding::new(
            FindingKind::MergedShards,
            format!(
                "{} of {}: {} shards merged ({})",
                first.id,
                display_test(&first.test),
                shards.len(),
                present
                    .iter()
                    .map(ShardOf::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    combine_shards(shards, attempts)
}

/// How a shard was judged: its limit, its percentile, how it combines.
fn judged_as(r: &CriterionResult) -> String {
    let limit = r
        .threshold
        .map_or_else(|| "no limit".to_owned(), |t| t.to_string());
    let how = match r.combine {
        Combine::LatencyDistribution { percentile } => format!("{percentile} of latency"),
        Combine::Proportion { .. } => "a proportion".to_owned(),
        Combine::Rate { .. } => "a rate".to_owned(),
        _ => "its verdict".to_owned(),
    };
    let unit = r
        .threshold
        .map(|t| t.unit().to_string())
        .unwrap_or_default();
    format!(
        "{limit} ({how}{})",
        if unit.is_empty() {
            String::new()
        } else {
            format!(", {unit}")
        }
    )
}

fn disagree(mut r: CriterionResult, why: String, findings: &mut Vec<Finding>) -> CriterionResult {
    not_merged(&mut r, FindingKind::ShardsDisagree, why, findings);
    r.observed = None;
    r
}

/// Every shard present and judged one way: merged as the records declare.
fn combine_shards(shards: Vec<CriterionResult>, attempts: u32) -> CriterionResult {
    let n = shards.len();
    let timeline = merged_timeline(&shards);
    let worst = shards
        .iter()
        .max_by_key(|r| severity(r.verdict))
        .unwrap_or(&shards[0]);
    let mut r = worst.clone();
    r.evidence = shards[0].evidence.clone();
    r.attempts = attempts;
    r.shards = n as u32;
    if r.verdict != Status::Error {
        let observed = match r.combine {
            Combine::LatencyDistribution { percentile } => merged_histogram(&shards).map(|h| {
                let transaction = r
                    .attachment::<LatencyHistogram>()
                    .map(|l| l.transaction.clone())
                    .unwrap_or_default();
                let mut attached = LatencyHistogram::new(transaction, EncodedHistogram::encode(&h));
                attached.merged_from = Some(n);
                r.attachments
                    .retain(|a| !matches!(a, Attachment::LatencyHistogram(_)));
                r.attachments.push(attached.into());
                Quantity::duration(std::time::Duration::from_micros(
                    h.value_at_quantile(percentile.quantile()),
                ))
            }),
            Combine::Proportion { .. } => {
                let (events, trials) = shards.iter().fold((0, 0), |(e, t), s| match s.combine {
                    Combine::Proportion { events, trials } => (e + events, t + trials),
                    _ => (e, t),
                });
                r.combine = Combine::Proportion { events, trials };
                (trials > 0).then(|| Quantity::ratio(events as f64 / trials as f64))
            }
            Combine::Rate { seconds, .. } => {
                let (events, rate) = shards.iter().fold((0, 0.0), |(e, r), s| match s.combine {
                    Combine::Rate { events, seconds } if seconds > 0.0 => {
                        (e + events, r + events as f64 / seconds)
                    }
                    _ => (e, r),
                });
                // Side by side over the same time: the rates add up.
                let seconds = if rate > 0.0 {
                    events as f64 / rate
                } else {
                    seconds
                };
                r.combine = Combine::Rate { events, seconds };
                (seconds > 0.0).then(|| Quantity::per_second(events as f64 / seconds))
            }
            _ => None,
        };
        match observed {
            Some(observed) => judge_again(&mut r, observed, n),
            None if !matches!(r.combine, Combine::VerdictOnly) => {
                r.verdict = Status::Error;
                r.observed = None;
                r.error = Some(Text::from(format!(
                    "the {n} shards cannot be merged: a shard lacks the data its record \
                     declares (a latency histogram, or counts)"
                )));
            }
            None => {}
        }
    }
    // The merged timeline, or none: one shard's timeline would not be the whole run's.
    r.attachments
        .retain(|a| !matches!(a, Attachment::Timeline(_)));
    if let Some(t) = timeline {
        r.attachments.push(t.into());
    }
    r
}

fn severity(v: Status) -> u8 {
    match v {
        Status::Pass => 0,
        Status::Fail => 1,
        Status::Missing => 2,
        Status::Error => 3,
    }
}

/// The merged observation judged against the shards' common threshold.
fn judge_again(r: &mut CriterionResult, observed: Quantity, n: usize) {
    let Some(threshold) = r.threshold else {
        return;
    };
    if let Ok(j) = threshold.judge(observed) {
        r.observed = Some(observed);
        r.bound = readiness_core::Bound::Exact;
        r.verdict = if j.met { Status::Pass } else { Status::Fail };
        r.summary = Some(Text::from(format!(
            "{observed} over {n} shards merged ({})",
            threshold.describe_margin(observed)
        )));
    }
}

fn merged_histogram(shards: &[CriterionResult]) -> Option<hdrhistogram::Histogram<u64>> {
    let mut total: Option<hdrhistogram::Histogram<u64>> = None;
    for r in shards {
        let h = r
            .attachment::<LatencyHistogram>()?
            .histogram
            .decode()
            .ok()?;
        match &mut total {
            None => total = Some(h),
            Some(t) => t.add(&h).ok()?,
        }
    }
    total
}

fn merged_timeline(shards: &[CriterionResult]) -> Option<Timeline> {
    let mut timelines = shards.iter().map(|r| r.attachment::<Timeline>());
    let mut total = timelines.next()??.clone();
    for t in timelines {
        total.absorb(t?).ok()?;
    }
    total.merged_from = Some(shards.len());
    Some(total)
}
