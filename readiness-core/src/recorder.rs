//! Writes evidence as JSON Lines: one file per process under the evidence directory, one
//! complete line per record, written in one call.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, Result};
use crate::evidence::Evidence;
use crate::settings;

/// Appends [`Evidence`] records to `<dir>/evidence-<pid>.jsonl`.
///
/// cargo-nextest runs each test in its own process, so processes never share a file; the
/// threads of one process (plain `cargo test`) share it behind a lock, and each record is
/// one `write` of one whole line to a file opened for appending.
#[derive(Debug)]
pub struct Recorder {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl Recorder {
    /// A recorder writing into `dir` (created on the first record).
    pub fn new(dir: impl AsRef<Path>) -> Self {
        let path = dir
            .as_ref()
            .join(format!("evidence-{}.jsonl", std::process::id()));
        Recorder {
            path,
            file: Mutex::new(None),
        }
    }

    /// The process-wide recorder for [`settings::evidence_dir`].
    pub fn global() -> Result<&'static Recorder> {
        static GLOBAL: OnceLock<Recorder> = OnceLock::new();
        if let Some(r) = GLOBAL.get() {
            return Ok(r);
        }
        let dir = settings::evidence_dir()?;
        Ok(GLOBAL.get_or_init(|| Recorder::new(dir)))
    }

    /// The file this recorder appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as one line and returns the file's path.
    pub fn record(&self, evidence: &Evidence) -> Result<PathBuf> {
        let err = |source| Error::Evidence {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(evidence).map_err(|e| err(e.into()))?;
        line.push(b'\n');
        let mut guard = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(err)?;
            *guard = Some(file);
        }
        if let Some(file) = guard.as_mut() {
            file.write_all(&line).map_err(err)?;
            file.flush().map_err(err)?;
        }
        Ok(self.path.clone())
    }
}
