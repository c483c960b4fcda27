//! From records to one result per criterion: retries keep the last attempt, shards of one
//! load are merged (histograms added before a percentile is judged again).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use readiness_core::{Attachment, Evidence, Percentile, Quantity, Threshold, Verdict};

use crate::histogram;
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

/// Groups records by (criterion id, title, test): the last attempt of each shard counts,
/// and shards are merged. Findings say where retries or merges happened.
pub fn merge(records: Vec<Record>) -> (Vec<Merged>, Vec<Finding>) {
    fn key(r: &Record) -> (&str, &str, &str) {
        let e = &r.evidence;
        (
            e.criterion.id.as_str(),
            e.criterion.title.as_str(),
            e.context.test.as_deref().unwrap_or_default(),
        )
    }
    // Groups numbered in the order of their first record (files by path, lines in order):
    // one hash lookup per record, no key copied; then the record indices sorted by group
    // (stable, so each group keeps file order) and walked run by run.
    let mut group_of: Vec<u32> = Vec::with_capacity(records.len());
    {
        let mut index: rustc_hash::FxHashMap<(&str, &str, &str), u32> =
            rustc_hash::FxHashMap::default();
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
            out.push(merge_shards(latest, attempts));
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

/// The percentile a criterion id names: `load.p95` -> 95, `load.p99.9` -> 99.9.
pub(crate) fn percentile_of(id: &str) -> Option<f64> {
    id.strip_prefix("load.p")?.parse().ok()
}

/// The latency histogram attached to a record (HDR V2, base64), if any.
pub(crate) fn latency_histogram(e: &Evidence) -> Option<&str> {
    e.attachments
        .iter()
        .find(|a| a.kind == "hdr_histogram/v2+base64")?
        .data
        .get("histogram")?
        .as_str()
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

/// Merges the shards of one criterion: percentiles from the merged histogram, error rates
/// from summed counts, throughput summed; any other criterion takes the worst verdict.
fn merge_shards(shards: Vec<Record>, attempts: usize) -> Merged {
    let n = shards.len();
    let first = &shards[0];
    let (file, line) = (first.file.clone(), first.line);
    // The worst shard speaks for the criterion unless it is judged again below.
    let mut evidence = shards
        .iter()
        .max_by_key(|r| match r.evidence.verdict {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Error => 2,
        })
        .unwrap_or(first)
        .evidence
        .clone();
    evidence.context.shard = Some(format!("{n} shards merged"));
    let hist = merged_histogram(&shards);
    let timeline = merged_timeline(&shards);
    let id = evidence.criterion.id.as_str();
    let observed = if evidence.verdict == Verdict::Error {
        None
    } else if let Some(q) = percentile_of(id) {
        match (&hist, Percentile::new(q)) {
            (Some(h), Ok(p)) => Some(Quantity::duration(std::time::Duration::from_micros(
                h.value_at_quantile(p.quantile()),
            ))),
            _ => None,
        }
    } else if id == "load.error_rate" {
        timeline.as_ref().map(|t| Quantity::ratio(t.error_rate()))
    } else if id == "load.throughput" {
        let rates: Option<Vec<f64>> = shards
            .iter()
            .map(|r| r.evidence.observed.map(|o| o.value()))
            .collect();
        rates.map(|r| Quantity::per_second(r.iter().sum()))
    } else {
        None
    };
    if let (Some(observed), Some(threshold)) = (observed, evidence.threshold) {
        apply(&mut evidence, threshold, observed, n);
    }
    evidence
        .attachments
        .retain(|a| a.kind != "hdr_histogram/v2+base64" && a.kind != "timeline/v1");
    if let Some(h) = &hist {
        evidence.attachments.push(Attachment::new(
            "latency_histogram",
            "hdr_histogram/v2+base64",
            serde_json::json!({ "unit": "us", "histogram": histogram::encode(h), "merged_from": n }),
        ));
    }
    if let Some(t) = timeline {
        evidence.attachments.push(t.attachment(n));
    }
    Merged {
        evidence,
        file,
        line,
        attempts,
        shards: n,
    }
}

fn apply(evidence: &mut Evidence, threshold: Threshold, observed: Quantity, n: usize) {
    if let Ok(j) = threshold.judge(observed) {
        evidence.observed = Some(observed);
        evidence.margin = j.margin;
        evidence.verdict = if j.met { Verdict::Pass } else { Verdict::Fail };
        evidence.summary = Some(format!(
            "{observed} over {n} shards merged ({})",
            threshold.describe_margin(observed)
        ));
    }
}

fn merged_histogram(shards: &[Record]) -> Option<Histogram<u64>> {
    let mut total: Option<Histogram<u64>> = None;
    for r in shards {
        let h = latency_histogram(&r.evidence).and_then(histogram::decode)?;
        match &mut total {
            None => total = Some(h),
            Some(t) => {
                let _ = t.add(&h);
            }
        }
    }
    total
}

/// One second summed over shards: successes, errors by class, latency.
type SecondCounts = (u64, BTreeMap<String, u64>, Option<Histogram<u64>>);

/// Per-second counts (and histograms) summed over shards.
#[derive(Debug, Default)]
struct Timeline {
    seconds: BTreeMap<u64, SecondCounts>,
    not_started: u64,
    unfinished: u64,
}

impl Timeline {
    fn error_rate(&self) -> f64 {
        let (mut ok, mut err) = (0u64, self.unfinished);
        for (o, e, _) in self.seconds.values() {
            ok += o;
            err += e.values().sum::<u64>();
        }
        if ok + err == 0 {
            0.0
        } else {
            err as f64 / (ok + err) as f64
        }
    }

    fn attachment(&self, n: usize) -> Attachment {
        let seconds: Vec<serde_json::Value> = self
            .seconds
            .iter()
            .map(|(s, (ok, errors, h))| {
                let q = |p: f64| h.as_ref().map_or(0, |h| h.value_at_quantile(p));
                serde_json::json!({
                    "second": s, "ok": ok, "errors": errors,
                    "p50_us": q(0.5), "p95_us": q(0.95), "p99_us": q(0.99),
                    "max_us": h.as_ref().map_or(0, Histogram::max),
                    "histogram": h.as_ref().map(histogram::encode),
                })
            })
            .collect();
        Attachment::new(
            "timeline",
            "timeline/v1",
            serde_json::json!({
                "seconds": seconds, "not_started": self.not_started,
                "unfinished": self.unfinished, "merged_from": n,
            }),
        )
    }
}

fn merged_timeline(shards: &[Record]) -> Option<Timeline> {
    let mut t = Timeline::default();
    for r in shards {
        let data = &r
            .evidence
            .attachments
            .iter()
            .find(|a| a.kind == "timeline/v1")?
            .data;
        t.not_started += data
            .get("not_started")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        t.unfinished += data.get("unfinished").and_then(|v| v.as_u64()).unwrap_or(0);
        for s in data.get("seconds")?.as_array()? {
            let at = s.get("second").and_then(|v| v.as_u64()).unwrap_or(0);
            let slot = t.seconds.entry(at).or_default();
            slot.0 += s.get("ok").and_then(|v| v.as_u64()).unwrap_or(0);
            if let Some(errors) = s.get("errors").and_then(|v| v.as_object()) {
                for (k, v) in errors {
                    *slot.1.entry(k.clone()).or_insert(0) += v.as_u64().unwrap_or(0);
                }
            }
            if let Some(h) = s
                .get("histogram")
                .and_then(|v| v.as_str())
                .and_then(histogram::decode)
            {
                match &mut slot.2 {
                    None => slot.2 = Some(h),
                    Some(mine) => {
                        let _ = mine.add(&h);
                    }
                }
            }
        }
    }
    Some(t)
}
