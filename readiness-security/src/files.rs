//! Secrets in files: every line of every file under the given paths through the rules, as
//! `readiness scan-secrets` does over what a test run wrote (evidence, reports, JUnit), so
//! that "nothing the harness writes holds a secret" is checked, not hoped.

use std::path::{Path, PathBuf};

use readiness_core::{Error, Result};

use crate::rules::{Found, Rules, mask_line};

/// One secret found in a file: where, of which type, and the line as it may be shown (the
/// secret masked with its type and fingerprint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFinding {
    /// The file.
    pub path: PathBuf,
    /// Its 1-based line.
    pub line: usize,
    /// The rule that found it.
    pub rule: String,
    /// The line with every secret masked, cut to 200 characters.
    pub masked: String,
}

/// What a scan of files read: how much, and what it found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileScan {
    /// Files read.
    pub files: usize,
    /// Lines read.
    pub lines: usize,
    /// Bytes read.
    pub bytes: u64,
    /// Every secret, in path and line order.
    pub findings: Vec<FileFinding>,
}

/// Reads every file under `paths` (a file, or a directory walked whole; symbolic links are
/// not followed) and finds every secret `rules` know and every occurrence of a `known`
/// value (a token the run used: rule `known-secret`). A path that does not exist or cannot
/// be read is an error naming it: a scan of nothing must not read as clean. Bytes that are
/// not UTF-8 are read as U+FFFD, so a secret in a binary's text is still found.
pub fn scan_files(rules: &Rules, known: &[String], paths: &[PathBuf]) -> Result<FileScan> {
    if paths.is_empty() {
        return Err(Error::InvalidInput(
            "no path to scan: name the files or directories a run wrote".into(),
        ));
    }
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files)?;
    }
    files.sort();
    let mut scan = FileScan::default();
    for path in files {
        let bytes = std::fs::read(&path)
            .map_err(|e| Error::InvalidInput(format!("cannot read {}: {e}", path.display())))?;
        scan.files += 1;
        scan.bytes += bytes.len() as u64;
        let text = String::from_utf8_lossy(&bytes);
        for (i, line) in text.lines().enumerate() {
            scan.lines += 1;
            let found: Vec<Found> = rules.find_with_known(line, known);
            if found.is_empty() {
                continue;
            }
            let masked: String = mask_line(line, &found, &[]).chars().take(200).collect();
            for f in found {
                scan.findings.push(FileFinding {
                    path: path.clone(),
                    line: i + 1,
                    rule: f.rule,
                    masked: masked.clone(),
                });
            }
        }
    }
    Ok(scan)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| {
        Error::InvalidInput(format!(
            "cannot scan {}: {e} (name a file or directory the run wrote)",
            path.display()
        ))
    })?;
    if meta.is_dir() {
        let entries = std::fs::read_dir(path)
            .map_err(|e| Error::InvalidInput(format!("cannot list {}: {e}", path.display())))?;
        for entry in entries {
            let entry = entry
                .map_err(|e| Error::InvalidInput(format!("cannot list {}: {e}", path.display())))?;
            collect(&entry.path(), out)?;
        }
    } else if meta.is_file() {
        out.push(path.to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_of_every_file_is_found_masked_and_a_missing_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let key = ["AKIA", "Z7QWERTY5UIOPASD"].concat();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("clean.jsonl"), "{\"a\":1}\n{\"b\":2}\n").unwrap();
        std::fs::write(
            dir.path().join("sub/leak.html"),
            format!("<p>ok</p>\n<p>key {key} here</p>\n"),
        )
        .unwrap();
        std::fs::write(dir.path().join("sub/bin"), [0xff, 0xfe, b'\n', b'x']).unwrap();
        let scan = scan_files(&Rules::defaults(), &[], &[dir.path().to_owned()]).unwrap();
        assert_eq!((scan.files, scan.lines), (3, 6), "{scan:?}");
        assert_eq!(scan.findings.len(), 1, "{scan:?}");
        let known = scan_files(&Rules::none(), &["ok".into()], &[dir.path().to_owned()]).unwrap();
        assert_eq!(known.findings.len(), 1, "{known:?}");
        assert_eq!(known.findings[0].rule, "known-secret");
        assert!(!known.findings[0].masked.contains("ok<"), "{known:?}");
        let f = &scan.findings[0];
        assert!(f.path.ends_with("sub/leak.html") && f.line == 2, "{f:?}");
        assert_eq!(f.rule, "aws-access-key-id");
        assert!(
            !f.masked.contains(&key) && f.masked.contains("«aws-access-key-id "),
            "{f:?}"
        );

        let missing = scan_files(&Rules::defaults(), &[], &[dir.path().join("nope")]).unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
        assert!(scan_files(&Rules::defaults(), &[], &[]).is_err());
    }
}
