//! From records to one result per criterion: retries keep the last attempt, shards of one
//! load are merged as each record declares ([`Combine`]): latency histograms added before
//! the percentile is judged again, proportions by their counts, rates added, anything else
//! by its worst verdict.

use std::collections::BTreeMap;

use readiness_core::{
    Attachment, Bound, Combine, EncodedHistogram, Evidence, LatencyHistogram, Quantity, Timeline,
    Verdict,
};

use crate::read::{Finding, Record};

/// One criterion of one test, after retries and shards.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The record that speaks for the criterion (for shards: a merged copy).
    pub evidence: Evidence,
    /// Where it was read (for shards: the first shard's record).
    pub file: String,
    /// The line in that file.
    pub line: usize,
    /// How many records the test left for this criterion (more than 1: retried or shards).
    pub attempts: usize,
    /// Shards merged into this result (0: not sharded).
    pub shards: usize,
}

/// Groups records by (subject, test) — what was measured, never the title, which may name
/// the limit: the last attempt of each shard counts, and shards are merged. Findings say
/// where retries or merges happened.
pub fn merge(records: Vec<Record>) -> (Vec<Merged>, Vec<Finding>) {
    fn key(r: &Record) -> (&str, &str) {
        let e = &r.evidence;
        (
            e.subject.as_str(),
            e.context.test.as_deref().unwrap_or_default(),
        )
    }
    // Groups numbered in the order of their first record (files by path, lines in order):
    // one hash lookup per record, no key copied; then the record indices sorted by group
    // (stable, so each group keeps file order) and walked run by run.
    let mut group_of: Vec<u32> = Vec::with_capacity(records.len());
    {
        let mut index: rustc_hash::FxHashMap<(&str, &str), u32> = rustc_hash::FxHashMap::default();
        index.reserve(records.len());
        for r in &records {
            let next = index.len() as u32;
            group_of.push(*index.entry(key(r)).or_insert(next));
        }
    }
    let mut order: Vec<u32> = (0..records.len() as u32).collect();
    order.sort_by_key(|&i| group_of[i as usize]);
    let mut slots: Vec<Option<Record>> = records.into_iter().map(Some).collect();
    let mut out = Vec::new();
    let mut findings = Vec::new();
    for run in order.chunk_by(|&a, &b| group_of[a as usize] == group_of[b as usize]) {
        let mut group: Vec<Record> = run
            .iter()
            .filter_map(|&i| slots[i as usize].take())
            .collect();
        let attempts = group.len();
        if attempts == 1 {
            out.extend(group.pop().map(|r| one(r, 1)));
            continue;
        }
        let id = group[0].evidence.criterion.id.clone();
        let test = group[0].evidence.context.test.clone().unwrap_or_default();
        // Last attempt per shard: by finish time, then by file order.
        group.sort_by(|a, b| {
            let t = |r: &Record| r.evidence.context.finished_at;
            t(a).cmp(&t(b))
                .then_with(|| a.file.cmp(&b.file))
                .then(a.line.cmp(&b.line))
        });
        let mut last: BTreeMap<Option<String>, Record> = BTreeMap::new();
        for r in group {
            last.insert(r.evidence.context.shard.clone(), r);
        }
        let latest: Vec<Record> = last.into_values().collect();
        let sharded = latest.iter().any(|r| r.evidence.context.shard.is_some());
        if sharded && latest.len() > 1 {
            findings.push(Finding {
                kind: "merged_shards".into(),
                message: format!(
                    "{id} of {}: {} shards merged ({})",
                    display_test(&test),
                    latest.len(),
                    latest
                        .iter()
                        .filter_map(|r| r.evidence.context.shard.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                file: None,
                line: None,
            });
            let (merged, finding) = merge_shards(latest, attempts);
            findings.extend(finding);
            out.push(merged);
        } else if let Some(r) = latest.into_iter().last() {
            findings.push(Finding {
                kind: "retried".into(),
                message: format!(
                    "{id} of {}: {attempts} attempts (a retried test); the last one counts: {}",
                    display_test(&test),
                    r.evidence.verdict
                ),
                file: Some(r.file.clone()),
                line: Some(r.line),
            });
            out.push(one(r, attempts));
        }
    }
    (out, findings)
}

/// The result of one record (the last of `attempts`), not sharded.
fn one(r: Record, attempts: usize) -> Merged {
    Merged {
        evidence: r.evidence,
        file: r.file,
        line: r.line,
        attempts,
        shards: 0,
    }
}

/// The git commits the results name, sorted, each once.
pub(crate) fn git_commits(merged: &[Merged]) -> Vec<String> {
    let set: std::collections::BTreeSet<&String> = merged
        .iter()
        .filter_map(|m| m.evidence.context.git_commit.as_ref())
        .collect();
    set.into_iter().cloned().collect()
}

fn display_test(test: &str) -> &str {
    if test.is_empty() {
        "(no test name)"
    } else {
        test
    }
}

fn severity(v: Verdict) -> u8 {
    match v {
        Verdict::Pass => 0,
        Verdict::Fail => 1,
        Verdict::Error => 2,
    }
}

/// Merges the shards of one criterion as its records declare; a shard that could not be
/// judged makes the whole an error, and records that disagree on how they combine are
/// merged by their worst verdict (with a finding).
fn merge_shards(shards: Vec<Record>, attempts: usize) -> (Merged, Option<Finding>) {
    let n = shards.len();
    let first = &shards[0];
    let (file, line) = (first.file.clone(), first.line);
    let combine = first.evidence.combine;
    let agree = shards
        .iter()
        .all(|r| same_kind(&r.evidence.combine, &combine));
    // The worst shard speaks for the criterion unless it is judged again below.
    let mut evidence = shards
        .iter()
        .max_by_key(|r| severity(r.evidence.verdict))
        .unwrap_or(first)
        .evidence
        .clone();
    evidence.context.shard = Some(format!("{n} shards merged"));
    let mut finding = None;
    if !agree {
        finding = Some(Finding {
            kind: "merged_by_verdict".into(),
            message: format!(
                "{} of {}: the {n} shards declare different ways to combine; the worst \
                 verdict counts",
                evidence.subject,
                display_test(evidence.context.test.as_deref().unwrap_or_default())
            ),
            file: Some(file.clone()),
            line: Some(line),
        });
    }
    let timeline = merged_timeline(&shards);
    if agree && evidence.verdict != Verdict::Error {
        let observed = match combine {
            Combine::LatencyDistribution { percentile } => merged_histogram(&shards).map(|h| {
                let transaction = evidence
                    .attachment::<LatencyHistogram>()
                    .map(|l| l.transaction.clone())
                    .unwrap_or_default();
                let mut attached = LatencyHistogram::new(transaction, EncodedHistogram::encode(&h));
                attached.merged_from = Some(n);
                evidence
                    .attachments
                    .retain(|a| !matches!(a, Attachment::LatencyHistogram(_)));
                evidence.attachments.push(attached.into());
                Quantity::duration(std::time::Duration::from_micros(
                    h.value_at_quantile(percentile.quantile()),
                ))
            }),
            Combine::Proportion { .. } => {
                let (events, trials) =
                    shards
                        .iter()
                        .fold((0, 0), |(e, t), r| match r.evidence.combine {
                            Combine::Proportion { events, trials } => (e + events, t + trials),
                            _ => (e, t),
                        });
                evidence.combine = Combine::Proportion { events, trials };
                (trials > 0).then(|| Quantity::ratio(events as f64 / trials as f64))
            }
            Combine::Rate { seconds, .. } => {
                let (events, rate) =
                    shards
                        .iter()
                        .fold((0, 0.0), |(e, r), s| match s.evidence.combine {
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
                evidence.combine = Combine::Rate { events, seconds };
                (seconds > 0.0).then(|| Quantity::per_second(events as f64 / seconds))
            }
            _ => None,
        };
        match observed {
            Some(observed) => judge_again(&mut evidence, observed, n),
            None if !matches!(combine, Combine::VerdictOnly) => {
                evidence.verdict = Verdict::Error;
                evidence.observed = None;
                evidence.error = Some(format!(
                    "the {n} shards cannot be merged: a shard lacks the data its record \
                     declares (a latency histogram, or counts)"
                ));
            }
            None => {}
        }
    }
    // The merged timeline, or none: one shard's timeline would not be the whole run's.
    evidence
        .attachments
        .retain(|a| !matches!(a, Attachment::Timeline(_)));
    if let Some(t) = timeline {
        evidence.attachments.push(t.into());
    }
    let merged = Merged {
        evidence,
        file,
        line,
        attempts,
        shards: n,
    };
    (merged, finding)
}

fn same_kind(a: &Combine, b: &Combine) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// The merged observation judged against the record's threshold.
fn judge_again(evidence: &mut Evidence, observed: Quantity, n: usize) {
    let Some(threshold) = evidence.threshold else {
        return;
    };
    if let Ok(j) = threshold.judge(observed) {
        evidence.observed = Some(observed);
        evidence.bound = Bound::Exact;
        evidence.margin = j.margin;
        evidence.verdict = if j.met { Verdict::Pass } else { Verdict::Fail };
        evidence.summary = Some(format!(
            "{observed} over {n} shards merged ({})",
            threshold.describe_margin(observed)
        ));
    }
}

fn merged_histogram(shards: &[Record]) -> Option<hdrhistogram::Histogram<u64>> {
    let mut total: Option<hdrhistogram::Histogram<u64>> = None;
    for r in shards {
        let h = r
            .evidence
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

fn merged_timeline(shards: &[Record]) -> Option<Timeline> {
    let mut timelines = shards.iter().map(|r| r.evidence.attachment::<Timeline>());
    let mut total = timelines.next()??.clone();
    for t in timelines {
        total.absorb(t?).ok()?;
    }
    total.merged_from = Some(shards.len());
    Some(total)
}
