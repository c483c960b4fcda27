//! Writes evidence as JSON Lines: one file per process under the evidence directory, one
//! complete line per record, written in one call.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};
use crate::evidence::Evidence;
use crate::settings;

/// Appends [`Evidence`] records to `<dir>/evidence-<pid>.jsonl`.
///
/// cargo-nextest runs each test in its own process, so processes never share a file; the
/// threads of one process (plain `cargo test`) share it behind a lock, and each record is
/// one `write` of one whole line to a file opened for appending.
///
/// A recorder is a handle: clones write to the same file. Checks write to
/// [`Recorder::global`] unless given one (`Check::with_recorder`, and the
/// `with_recorder` of the load engine); the harness's own self-tests give their own, so
/// their deliberate failures never land where a user's report looks.
#[derive(Debug, Clone)]
pub struct Recorder(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl Recorder {
    /// A recorder writing into `dir` (created on the first record).
    pub fn new(dir: impl AsRef<Path>) -> Self {
        let path = dir
            .as_ref()
            .join(format!("evidence-{}.jsonl", std::process::id()));
        Recorder(Arc::new(Inner {
            path,
            file: Mutex::new(None),
        }))
    }

    /// The process-wide recorder for [`settings::evidence_dir`] (`READINESS_DIR`).
    pub fn global() -> Result<Recorder> {
        static GLOBAL: OnceLock<Recorder> = OnceLock::new();
        if let Some(r) = GLOBAL.get() {
            return Ok(r.clone());
        }
        let dir = settings::evidence_dir()?;
        Ok(GLOBAL.get_or_init(|| Recorder::new(dir)).clone())
    }

    /// The file this recorder appends to.
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// Appends one record as one line and returns the file's path.
    pub fn record(&self, evidence: &Evidence) -> Result<PathBuf> {
        let path = &self.0.path;
        let err = |source| Error::Evidence {
            path: path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(evidence).map_err(|e| err(e.into()))?;
        line.push(b'\n');
        let mut guard = self
            .0
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.is_none() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(err)?;
            *guard = Some(file);
        }
        if let Some(file) = guard.as_mut() {
            file.write_all(&line).map_err(err)?;
            file.flush().map_err(err)?;
        }
        Ok(path.clone())
    }
}

/// With `READINESS_VERDICT_CENSUS` set to a file, every verdict a check judges is also
/// counted there as one line (`{"criterion":..,"verdict":..}`), whichever directory its
/// record went to: the harness's CI runs its tests so and checks that each criterion it
/// defines was seen both to pass and to fail. Records written by hand (a test's fixture)
/// are not judged and not counted. Nothing else of the record is written. A census that
/// cannot be written is said on stderr and never fails the check.
pub(crate) fn count_in_census(evidence: &Evidence) {
    let census = match settings::get("READINESS_VERDICT_CENSUS") {
        Ok(Some(c)) if !c.is_empty() => PathBuf::from(c),
        _ => return,
    };
    let line = serde_json::json!({
        "criterion": evidence.criterion.id,
        "verdict": evidence.verdict,
    });
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&census)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = written {
        eprintln!(
            "readiness: READINESS_VERDICT_CENSUS {}: {e}",
            census.display()
        );
    }
}
