//! Reading an evidence directory: every `*.jsonl` file under it (many processes, many
//! shards, artifacts of several CI jobs copied into sub-folders), in parallel.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use readiness_core::{Error, Evidence, Result, SCHEMA_MAJOR};
use serde::Serialize;

/// One evidence record and where it was read.
#[derive(Debug, Clone)]
pub struct Record {
    /// The record.
    pub evidence: Evidence,
    /// The file, relative to the evidence directory.
    pub file: String,
    /// 1-based line in the file.
    pub line: usize,
}

/// Something the report noticed that is not an error: it is shown with the scorecard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// What kind of finding (`truncated_line`, `missing_expected`, `unweighted_category`,
    /// `retried`, `merged_shards`).
    pub kind: String,
    /// The finding in words.
    pub message: String,
    /// The evidence file it is about, relative to the evidence directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The line in that file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

/// Everything read from one evidence directory.
#[derive(Debug, Clone)]
pub struct EvidenceSet {
    /// The directory.
    pub dir: PathBuf,
    /// How many `*.jsonl` files were read.
    pub files: usize,
    /// Every record, ordered by file name and line.
    pub records: Vec<Record>,
    /// Truncated last lines (a test killed mid-write).
    pub findings: Vec<Finding>,
}

/// Reads every `*.jsonl` file under `dir` (recursively).
///
/// A truncated last line (no newline at the end and not a whole record: the writer was
/// killed mid-write) is skipped and reported as a finding. Any other line that is not a
/// record, a record of an unknown schema major version, a missing or empty directory are
/// errors that say which file and line and what to do.
pub fn read_dir(dir: &Path) -> Result<EvidenceSet> {
    if !dir.is_dir() {
        return Err(Error::InvalidInput(format!(
            "evidence directory {} does not exist or is not a directory; run the tests first \
             (they write to $READINESS_DIR, by default target/readiness/evidence) or pass the \
             directory they wrote",
            dir.display()
        )));
    }
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let parsed: Vec<Result<(Vec<Record>, Option<Finding>)>> =
        files.par_iter().map(|path| read_file(dir, path)).collect();
    let mut records = Vec::new();
    let mut findings = Vec::new();
    for p in parsed {
        let (r, f) = p?;
        records.extend(r);
        findings.extend(f);
    }
    if records.is_empty() {
        return Err(Error::InvalidInput(format!(
            "no evidence records in {} ({} *.jsonl files); run the readiness tests first, or \
             pass the directory they wrote ($READINESS_DIR)",
            dir.display(),
            files.len()
        )));
    }
    Ok(EvidenceSet {
        dir: dir.to_path_buf(),
        files: files.len(),
        records,
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

fn read_file(dir: &Path, path: &Path) -> Result<(Vec<Record>, Option<Finding>)> {
    let name = path
        .strip_prefix(dir)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned();
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Other(format!("cannot read {}: {e}", path.display())))?;
    let ends_whole = bytes.last().is_none_or(|b| *b == b'\n');
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // split gives an empty piece after the final newline.
    let count = if ends_whole {
        lines.len().saturating_sub(1)
    } else {
        lines.len()
    };
    let mut records = Vec::with_capacity(count);
    let mut finding = None;
    for (i, line) in lines[..count].iter().enumerate() {
        let n = i + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let evidence: Evidence = match serde_json::from_slice(line) {
            Ok(e) => e,
            // A newer writer may have changed the shape: say so rather than "damaged".
            Err(_) if schema_of(line).is_some_and(|s| major(&s) != Some(SCHEMA_MAJOR)) => {
                return Err(schema_error(path, n, &schema_of(line).unwrap_or_default()));
            }
            Err(_) if n == count && !ends_whole => {
                finding = Some(Finding {
                    kind: "truncated_line".into(),
                    message: format!(
                        "{name}:{n}: the last line is cut off ({} bytes, no newline): the test \
                         that wrote it was killed mid-write; the record is left out",
                        line.len()
                    ),
                    file: Some(name.clone()),
                    line: Some(n),
                });
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
        records.push(Record {
            evidence,
            file: name.clone(),
            line: n,
        });
    }
    Ok((records, finding))
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
