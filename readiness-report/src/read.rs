//! Stage 1, read: every `*.jsonl` file under the evidence directory (many processes, many
//! shards, artifacts of several CI jobs copied into sub-folders), two files at a time.
//! Each record is judged again as it is read ([`Evidence::verify`]) and kept only in the
//! compact form the later stages need: a million records are never held whole.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use readiness_core::run::RunSource;
use readiness_core::{Error, Evidence, Result, SCHEMA_MAJOR, Verdict};

use crate::chunks::Chunks;
use crate::finding::{Finding, FindingKind};
use crate::scorecard::{CriterionResult, Location, Status};
use crate::text::{Interner, Local, Text};

/// One shard of a split load, `index` of `count` (1-based), as a record names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardOf {
    /// 1..=count.
    pub index: u32,
    /// How many shards.
    pub count: u32,
}

impl ShardOf {
    /// `i/n` with 1 <= i <= n.
    pub fn parse(text: &str) -> Option<ShardOf> {
        let (i, n) = text.trim().split_once('/')?;
        let (index, count) = (i.trim().parse().ok()?, n.trim().parse().ok()?);
        (index >= 1 && index <= count).then_some(ShardOf { index, count })
    }
}

impl std::fmt::Display for ShardOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// One record as the later stages need it: its result line, and what places it in a run,
/// a shard set and a retry sequence.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The criterion as the record judged it (judged again on reading).
    pub result: CriterionResult,
    /// The run (`context.run_id`; records without one: the file they are in).
    pub run: Text,
    /// Where the run id came from (absent in records of schema 2.0).
    pub run_source: Option<RunSource>,
    /// The shard, when the load was split.
    pub shard: Option<ShardOf>,
    /// When the record was judged (µs since the epoch).
    pub finished_at: Option<i64>,
    /// The process that wrote it.
    pub pid: Option<u32>,
    /// The git commit it names.
    pub git_commit: Option<Text>,
    /// The operational mutant it was written under (`context.mutant`).
    pub mutant: Option<Text>,
}

/// What stage 1 read.
#[derive(Debug)]
pub struct Read {
    pub(crate) dir: PathBuf,
    pub(crate) files: usize,
    /// The entries, in file order, in chunks the next stages filter, merge and free in
    /// place (a million records are never copied whole).
    pub(crate) entries: Chunks<Entry>,
    pub(crate) findings: Vec<Finding>,
}

impl Read {
    /// Records read (cut-short ones included).
    pub fn records(&self) -> usize {
        self.entries.len()
    }
    /// `*.jsonl` files read.
    pub fn files(&self) -> usize {
        self.files
    }
    /// Every entry, in file order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }
    /// What the reading noticed (records cut short, records that disagree with their
    /// numbers).
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }
}

/// Reads every `*.jsonl` file under `dir` (recursively).
///
/// Each record is judged again from its own numbers ([`Evidence::verify`]): one that
/// disagrees becomes verdict `error` with a finding, never a pass. A last line cut short
/// (no newline at the end and not a whole record: the writer was killed mid-write) is a
/// criterion that could not be judged: verdict `error`, named by what can be read of it,
/// and a no-go finding. Any other line that is not a record, a record of an unknown
/// schema major version, a missing or empty directory are errors that say which file and
/// line and what to do.
pub fn read(dir: &Path) -> Result<Read> {
    if !dir.is_dir() {
        return Err(Error::InvalidInput(format!(
            "evidence directory {} does not exist or is not a directory; run the tests first \
             (they write to $READINESS_DIR, by default target/readiness) or pass the \
             directory they wrote",
            dir.display()
        )));
    }
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let interner = Interner::default();
    // Files are read a batch at a time, in parallel, and appended in order.
    let mut entries = Chunks::default();
    let mut findings = Vec::new();
    for batch in files.chunks(64) {
        let parsed: Vec<Result<(Vec<Entry>, Vec<Finding>)>> = batch
            .par_iter()
            .map(|path| read_file(dir, path, &interner))
            .collect();
        for p in parsed {
            let (e, f) = p?;
            entries.append(e);
            findings.extend(f);
        }
    }
    if entries.is_empty() {
        return Err(Error::InvalidInput(format!(
            "no evidence records in {} ({} *.jsonl files); run the readiness tests first, or \
             pass the directory they wrote ($READINESS_DIR)",
            dir.display(),
            files.len()
        )));
    }
    Ok(Read {
        dir: dir.to_path_buf(),
        files: files.len(),
        entries,
        findings,
    })
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::Other(format!("cannot list {}: {e}", dir.display())))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| Error::Other(format!("cannot list {}: {e}", dir.display())))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| Error::Other(format!("cannot stat {}: {e}", path.display())))?;
        if kind.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            out.push(path);
        }
    }
    Ok(())
}

fn read_file(dir: &Path, path: &Path, interner: &Interner) -> Result<(Vec<Entry>, Vec<Finding>)> {
    let name = path
        .strip_prefix(dir)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned();
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Other(format!("cannot read {}: {e}", path.display())))?;
    // Valid UTF-8 as a whole (as the harness writes it): each line is parsed as text,
    // without checking every string again.
    let whole = std::str::from_utf8(&bytes).is_ok();
    let mut texts = Local::new(interner);
    let file = texts.get(&name);
    let ends_whole = bytes.last().is_none_or(|b| *b == b'\n');
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // split gives an empty piece after the final newline.
    let count = if ends_whole {
        lines.len().saturating_sub(1)
    } else {
        lines.len()
    };
    let mut entries = Vec::with_capacity(count);
    let mut findings = Vec::new();
    let mut cut = None;
    for (i, line) in lines[..count].iter().enumerate() {
        let n = i + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = if whole {
            // Lines of a valid UTF-8 file split at b'\n' are valid UTF-8 too.
            serde_json::from_str(std::str::from_utf8(line).unwrap_or_default())
        } else {
            serde_json::from_slice(line)
        };
        let mut evidence: Evidence = match parsed {
            Ok(e) => e,
            // A newer writer may have changed the shape: say so rather than "damaged".
            Err(_) if schema_of(line).is_some_and(|s| major(&s) != Some(SCHEMA_MAJOR)) => {
                return Err(schema_error(path, n, &schema_of(line).unwrap_or_default()));
            }
            Err(_) if n == count && !ends_whole => {
                cut = Some((n, *line));
                continue;
            }
            Err(e) => {
                return Err(Error::InvalidInput(format!(
                    "{}:{n}: not an evidence record ({e}); the file is damaged: re-run the \
                     tests that wrote it, or delete the file",
                    path.display()
                )));
            }
        };
        if evidence.schema_major() != Some(SCHEMA_MAJOR) {
            return Err(schema_error(path, n, &evidence.schema));
        }
        if let Err(why) = evidence.verify() {
            findings.push(Finding::at(
                FindingKind::InconsistentRecord,
                format!(
                    "{name}:{n}: the record of {} says {}, but {why}; it counts as an error",
                    evidence.criterion.id, evidence.verdict
                ),
                &name,
                n,
            ));
            evidence.error = Some(format!("the record disagrees with its own numbers: {why}"));
            evidence.verdict = Verdict::Error;
        }
        entries.push(entry(evidence, Location::new(file.clone(), n), &mut texts));
    }
    if let Some((n, line)) = cut {
        // The process that was killed wrote the file's other records: the same run.
        let run = entries.first().map(|e| (e.run.clone(), e.run_source));
        let e = cut_short(line, Location::new(file.clone(), n), run, &mut texts);
        findings.push(Finding::at(
            FindingKind::CutShort,
            format!(
                "{name}:{n}: the record of {} is cut off ({} bytes, no newline): the test that \
                 wrote it was killed mid-write, so its criterion could not be judged",
                e.result.id,
                line.len()
            ),
            &name,
            n,
        ));
        entries.push(e);
    }
    Ok((entries, findings))
}

fn micros(t: Option<time::OffsetDateTime>) -> Option<i64> {
    t.map(|t| (t.unix_timestamp_nanos() / 1000) as i64)
}

/// The compact entry of a record.
fn entry(e: Evidence, at: Location, texts: &mut Local<'_>) -> Entry {
    let c = e.context;
    let run = match c.run_id {
        Some(r) => texts.get(&r),
        // A record without a run: its file (one process) is its run.
        None => at.file.clone(),
    };
    let result = CriterionResult {
        id: texts.get(&e.criterion.id),
        title: texts.get(&e.criterion.title),
        category: texts.get(e.criterion.category.as_str()),
        subject: texts.get(&e.subject),
        verdict: e.verdict.into(),
        must_pass: false,
        threshold: e.threshold,
        observed: e.observed,
        bound: e.bound,
        combine: e.combine,
        summary: e.summary.map(|s| texts.get(&s)),
        error: e.error.map(|s| texts.get(&s)),
        test: c.test.map(|s| texts.get(&s)),
        scenario: c.scenario.map(|s| texts.get(&s)),
        evidence: Some(at),
        attempts: 1,
        shards: 0,
        attachments: e.attachments,
    };
    Entry {
        result,
        run,
        run_source: c.run_source,
        shard: c.shard.as_deref().and_then(ShardOf::parse),
        finished_at: micros(c.finished_at),
        pid: c.pid,
        git_commit: c.git_commit.map(|s| texts.get(&s)),
        mutant: c.mutant.map(|s| texts.get(&s)),
    }
}

/// The entry of a record cut short: verdict `error`, named by what can be read of it.
fn cut_short(
    line: &[u8],
    at: Location,
    file_run: Option<(Text, Option<RunSource>)>,
    texts: &mut Local<'_>,
) -> Entry {
    let text = String::from_utf8_lossy(line);
    let field = |key: &str| -> Option<String> {
        let start = text.find(&format!("\"{key}\":\""))? + key.len() + 4;
        let rest = &text[start..];
        let end = rest.find('"')?;
        Some(rest[..end].to_owned())
    };
    let id = field("id").unwrap_or_else(|| "(unreadable record)".to_owned());
    let (run, run_source) = match (field("run_id"), file_run) {
        (Some(r), _) => (texts.get(&r), None),
        (None, Some(r)) => r,
        (None, None) => (at.file.clone(), None),
    };
    let result = CriterionResult {
        title: texts.get(&field("title").unwrap_or_else(|| "a record cut short".to_owned())),
        category: texts.get(&field("category").unwrap_or_else(|| "unjudged".to_owned())),
        subject: texts.get(&field("subject").unwrap_or_else(|| format!("{at}"))),
        id: texts.get(&id),
        verdict: Status::Error,
        must_pass: false,
        threshold: None,
        observed: None,
        bound: readiness_core::Bound::Exact,
        combine: readiness_core::Combine::VerdictOnly,
        summary: None,
        error: Some(texts.get(&format!(
            "the record was cut short after {} bytes (its test was killed while writing \
             it): it could not be judged",
            line.len()
        ))),
        test: field("test").map(|t| texts.get(&t)),
        scenario: None,
        evidence: Some(at),
        attempts: 1,
        shards: 0,
        attachments: Vec::new(),
    };
    Entry {
        result,
        run,
        run_source,
        shard: field("shard").as_deref().and_then(ShardOf::parse),
        finished_at: None,
        pid: None,
        git_commit: None,
        mutant: None,
    }
}

fn schema_of(line: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Schema {
        schema: String,
    }
    serde_json::from_slice::<Schema>(line)
        .ok()
        .map(|s| s.schema)
}

fn major(schema: &str) -> Option<u32> {
    schema.split('.').next()?.parse().ok()
}

fn schema_error(path: &Path, line: usize, schema: &str) -> Error {
    Error::InvalidInput(format!(
        "{}:{line}: evidence schema {schema:?} is not one this report reads ({SCHEMA_MAJOR}.x); \
         use the readiness-report version that matches the harness that wrote it",
        path.display()
    ))
}
