//! Stage 2, group into runs: which records one invocation produced, and so which are
//! judged together.
//!
//! A run is everything with one run id ([`readiness_core::run`]): one `READINESS_RUN_ID`,
//! one CI workflow run (all its jobs and matrix shards), one `cargo nextest run`, one
//! `cargo test` (all its test binaries). The default judges the latest run: the run of
//! the newest record. Shards of one load written by processes that share no run id (three
//! `READINESS_SHARD=i/3 cargo test` on three machines without CI) are joined to it: for
//! each sharded criterion of the run, the newest record of each other shard index that
//! another such process wrote, back to the first index seen twice (an earlier round) or a
//! record of another commit. Nothing is dropped without a finding that says which runs
//! were judged, which were not, and why.

use std::collections::{HashMap, HashSet};

use rustc_hash::FxHashMap;

use readiness_core::run::RunSource;
use readiness_core::{Error, Result};
use serde::Serialize;

use crate::Run;
use crate::chunks::Chunks;
use crate::finding::{Finding, FindingKind};
use crate::read::{Entry, Read};
use crate::text::Text;

/// One run the report judged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    /// The run id.
    pub id: Text,
    /// Where the id came from (absent in records of schema 2.0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<RunSource>,
    /// Records of the run.
    pub records: usize,
    /// Processes that wrote them.
    pub processes: usize,
    /// Joined to the judged run by its shards (it shares no run id with it).
    pub joined: bool,
}

/// What stage 2 kept: the records of the judged runs.
#[derive(Debug)]
pub struct Grouped {
    pub(crate) dir: std::path::PathBuf,
    pub(crate) files: usize,
    pub(crate) entries: Chunks<Entry>,
    pub(crate) runs: Vec<RunInfo>,
    pub(crate) findings: Vec<Finding>,
}

impl Grouped {
    /// The runs judged.
    pub fn runs(&self) -> &[RunInfo] {
        &self.runs
    }
    /// Records judged.
    pub fn records(&self) -> usize {
        self.entries.len()
    }
    /// What reading and grouping noticed.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }
}

#[derive(Default)]
struct Stats {
    source: Option<RunSource>,
    records: usize,
    pids: HashSet<u32>,
    last: Option<i64>,
    order: usize,
}

/// Keeps the records of the runs `which` names, with findings on what was judged.
pub fn group(read: Read, which: &Run) -> Result<Grouped> {
    let Read {
        dir,
        files,
        mut entries,
        findings: read_findings,
    } = read;
    // Runs by the id of their shared text: one lookup per record, no text hashed.
    let mut by_id: FxHashMap<usize, Text> = FxHashMap::default();
    let mut stats_by_id: FxHashMap<usize, Stats> = FxHashMap::default();
    for e in entries.iter() {
        let order = stats_by_id.len();
        let s = stats_by_id.entry(e.run.id()).or_insert_with(|| {
            by_id.insert(e.run.id(), e.run.clone());
            Stats {
                order,
                ..Stats::default()
            }
        });
        s.records += 1;
        s.source = s.source.or(e.run_source);
        if let Some(pid) = e.pid
            && s.pids.len() < 4096
        {
            s.pids.insert(pid);
        }
        s.last = s.last.max(e.finished_at);
    }
    let stats: HashMap<Text, Stats> = stats_by_id
        .into_iter()
        .filter_map(|(id, s)| Some((by_id.remove(&id)?, s)))
        .collect();
    let mut findings = Vec::new();
    let judged: HashMap<Text, bool> = match which {
        Run::All => stats.keys().map(|r| (r.clone(), false)).collect(),
        Run::Id(id) => {
            // The run's own shared text: records are kept by its identity.
            let Some(key) = stats.keys().find(|k| k.as_str() == id.as_str()).cloned() else {
                return Err(Error::InvalidInput(format!(
                    "no evidence records of run {id} in {}; the run ids there are {} (each \
                     record's context.run_id; --run all judges every record)",
                    dir.display(),
                    list(stats.keys().map(|k| k.as_str()))
                )));
            };
            HashMap::from([(key, false)])
        }
        Run::Latest => {
            let (latest, _) = stats
                .iter()
                .max_by_key(|(_, s)| (s.last, std::cmp::Reverse(s.order)))
                .ok_or_else(|| Error::InvalidInput("no evidence records".into()))?;
            let latest = latest.clone();
            let joined = join_shards(&entries, &latest, &stats);
            let mut judged: HashMap<Text, bool> = HashMap::from([(latest.clone(), false)]);
            for j in &joined {
                judged.insert(j.clone(), true);
            }
            findings.extend(latest_findings(&latest, &joined, &stats));
            judged
        }
    };
    // Only the records of the judged runs go on (filtered in place: when every run is
    // judged, nothing moves).
    if judged.len() < stats.len() {
        let ids: FxHashMap<usize, ()> = judged.keys().map(|r| (r.id(), ())).collect();
        entries.retain(|e| ids.contains_key(&e.run.id()));
    }
    // Findings of reading are kept for the records judged.
    let places: HashSet<(&str, u32)> = read_findings
        .iter()
        .filter_map(|f| Some((f.file.as_deref()?, u32::try_from(f.line?).ok()?)))
        .collect();
    let mut kept: HashSet<(String, usize)> = HashSet::new();
    if !places.is_empty() {
        for e in entries.iter() {
            if let Some(at) = &e.result.evidence
                && places.contains(&(at.file.as_str(), at.line))
            {
                kept.insert((at.file.to_string(), at.line as usize));
            }
        }
    }
    let mut all = read_findings
        .into_iter()
        .filter(|f| match (&f.file, f.line) {
            (Some(file), Some(line)) => kept.contains(&(file.clone(), line)),
            _ => true,
        })
        .collect::<Vec<_>>();
    all.extend(findings);
    let mut runs: Vec<(usize, RunInfo)> = judged
        .iter()
        .filter_map(|(id, joined)| {
            let s = stats.get(id)?;
            Some((
                s.order,
                RunInfo {
                    id: id.clone(),
                    source: s.source,
                    records: s.records,
                    processes: s.pids.len().max(1),
                    joined: *joined,
                },
            ))
        })
        .collect();
    runs.sort_by_key(|(order, _)| *order);
    Ok(Grouped {
        dir,
        files,
        entries,
        runs: runs.into_iter().map(|(_, r)| r).collect(),
        findings: all,
    })
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = items.collect();
    v.sort_unstable();
    let more = v.len().saturating_sub(8);
    v.truncate(8);
    let mut text = v.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// A shard set: what was measured, by which test, split how many ways.
type Key<'a> = (&'a str, Option<&'a str>, u32);

fn shard_key(e: &Entry) -> Option<Key<'_>> {
    let s = e.shard?;
    Some((e.result.subject.as_str(), e.result.test.as_deref(), s.count))
}

/// Runs without a shared id that hold the other shards of the latest run's sharded
/// criteria, found by walking back from the newest record of each shard set.
fn join_shards(entries: &Chunks<Entry>, latest: &Text, stats: &HashMap<Text, Stats>) -> Vec<Text> {
    let joinable = |run: &Text| {
        stats
            .get(run)
            .is_none_or(|s| s.source.is_none_or(|src| !src.spans_machines()))
    };
    if !joinable(latest) {
        return Vec::new();
    }
    // The latest run's shard sets: the indices it holds and the commit it tested.
    let mut sets: HashMap<Key<'_>, (HashSet<u32>, Option<&Text>)> = HashMap::new();
    for e in entries.iter().filter(|e| e.run == *latest) {
        if let (Some(k), Some(s)) = (shard_key(e), e.shard) {
            let set = sets.entry(k).or_default();
            set.0.insert(s.index);
            set.1 = set.1.or(e.git_commit.as_ref());
        }
    }
    if sets.is_empty() {
        return Vec::new();
    }
    // Other runs' records of those sets, newest first.
    let mut others: HashMap<Key<'_>, Vec<&Entry>> = HashMap::new();
    for e in entries.iter() {
        if e.run == *latest || !joinable(&e.run) {
            continue;
        }
        if let Some(k) = shard_key(e).filter(|k| sets.contains_key(k)) {
            others.entry(k).or_default().push(e);
        }
    }
    let mut joined: Vec<Text> = Vec::new();
    for (k, (held, commit)) in &sets {
        let Some(list) = others.get_mut(k) else {
            continue;
        };
        list.sort_by_key(|e| std::cmp::Reverse(e.finished_at));
        let mut taken: HashMap<u32, &Text> = held.iter().map(|i| (*i, latest)).collect();
        for e in list.iter() {
            let Some(s) = e.shard else { continue };
            let other_commit = matches!((commit, &e.git_commit), (Some(a), Some(b)) if *a != b);
            if other_commit {
                break;
            }
            match taken.get(&s.index) {
                None => {
                    taken.insert(s.index, &e.run);
                }
                Some(run) if **run == e.run => {}
                // The index again, from another run: an earlier round of the shards.
                Some(_) => break,
            }
        }
        for run in taken.values() {
            if *run != latest && !joined.contains(run) {
                joined.push((*run).clone());
            }
        }
    }
    joined.sort();
    joined
}

/// What the default report says about the runs it judged and those it did not.
fn latest_findings(latest: &Text, joined: &[Text], stats: &HashMap<Text, Stats>) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(s) = stats.get(latest) else {
        return out;
    };
    let scope = match s.source {
        Some(RunSource::Process) => format!(
            "one process ({}): it ran outside cargo, nextest and CI, so nothing tells which \
             other processes belong to the same invocation; give them one READINESS_RUN_ID",
            latest
        ),
        Some(src) => format!("{src}, {} processes", s.pids.len().max(1)),
        None => "a run id of schema 2.0 records".to_owned(),
    };
    if !joined.is_empty() {
        let described: Vec<String> = joined
            .iter()
            .map(|j| {
                let n = stats.get(j).map_or(0, |s| s.records);
                format!("{j} ({n} records)")
            })
            .collect();
        out.push(Finding::new(
            FindingKind::JoinedRuns,
            format!(
                "joined to the latest run {latest}: {} — they share no run id with it but hold \
                 the other shards of its loads (set one READINESS_RUN_ID for every shard, or \
                 run them in one CI workflow, to make them one run)",
                described.join(", ")
            ),
        ));
    }
    let others: Vec<(&Text, &Stats)> = stats
        .iter()
        .filter(|(id, _)| *id != latest && !joined.contains(id))
        .collect();
    if !others.is_empty() {
        let records: usize = others.iter().map(|(_, s)| s.records).sum();
        out.push(Finding::new(
            FindingKind::OtherRuns,
            format!(
                "judged the latest run {latest} ({scope}; {} records); {records} records of {} \
                 other runs in the directory were not judged: {} (--run all judges every \
                 record, --run ID one run)",
                s.records,
                others.len(),
                list(others.iter().map(|(id, _)| id.as_str()))
            ),
        ));
    }
    out
}
