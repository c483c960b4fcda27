//! Behaviour switches: every one is an environment variable and a key of the same name in
//! the `[settings]` table of `readiness.toml` at the workspace root; the variable wins.
//!
//! | name | meaning | default |
//! |---|---|---|
//! | `READINESS_DIR` | where evidence is written | `<target dir>/readiness` |
//! | `READINESS_IMAGE_<NAME>` | image (`name:tag`) for a catalogue service, e.g. `READINESS_IMAGE_POSTGRES` | the official image |
//! | `READINESS_RUN_ID` | the run id in evidence and container labels: everything with one id is judged as one run | the CI workflow run, else `NEXTEST_RUN_ID`, else the `cargo test` invocation, else one per process ([`crate::run`]) |
//! | `READINESS_GIT_COMMIT` | the commit recorded in evidence | `GITHUB_SHA`, else `git rev-parse HEAD` |
//! | `READINESS_STARTUP_TIMEOUT_SECS` | how long a container may take to become ready | `60` |
//! | `READINESS_SHARD` | run shard `i/n` of every load (readiness-load) | unset |
//! | `READINESS_CONFIG` | the report's config file (readiness-report) | `readiness.toml` at the workspace root, else defaults |
//! | `READINESS_BASELINE` | the baseline file `readiness report` compares with (readiness-report) | unset: no comparison |
//! | `READINESS_VERDICT_CENSUS` | a file where every verdict a check judges is also counted (criterion and verdict only), whichever directory its record goes to; `readiness criteria --census FILE` reads it | unset: no census |
//! | `READINESS_MUTANT` | the operational mutant the harness's fault proxies and catalogue containers apply (`dep.latency`, `dep.killed@redis`; [`crate::mutant`]) | unset: none |
//! | `READINESS_SERVICE` | the catalogue entry of the service under test (`reference` for `READINESS_IMAGE_REFERENCE`): the target of the `svc.*` mutants | unset |
//! | `READINESS_SERVICE_MEMORY` | the service's memory budget (`512MiB`), which `svc.memory_half` halves | unset |
//! | `READINESS_MALFORMED_SEED` | the seed of `sec.malformed_input`'s random cases (a failure prints it; the classes before them do not depend on it) | derived from the route (method and path) |
//!
//! Paths in `READINESS_DIR` that are relative are taken from the workspace root.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The file read for settings that are not in the environment.
pub const CONFIG_FILE: &str = "readiness.toml";

/// The seed of a random search: the setting `name` (a whole number, the seed a failure
/// printed), else one from the clock.
pub fn seed(name: &str) -> Result<u64> {
    match get(name)? {
        Some(s) => s.trim().parse().map_err(|_| {
            Error::InvalidInput(format!(
                "{name}={s:?} is not a whole number; use the seed a failure printed"
            ))
        }),
        None => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)),
    }
}

/// The value of a setting: the environment variable `name`, else the key `name` in the
/// `[settings]` table of `readiness.toml` at the workspace root.
///
/// Errors when `readiness.toml` exists but cannot be parsed (with line and column).
pub fn get(name: &str) -> Result<Option<String>> {
    if let Some(v) = std::env::var_os(name) {
        return Ok(Some(v.to_string_lossy().into_owned()));
    }
    match file_settings() {
        Ok(table) => Ok(table.as_ref().and_then(|t| t.get(name)).map(|v| match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Float(x) => x.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => format!("{other:?}"),
        })),
        Err(e) => Err(Error::Config {
            path: e.0.clone(),
            reason: e.1.clone(),
        }),
    }
}

type Table = Option<toml::Table>;

fn file_settings() -> std::result::Result<&'static Table, &'static (PathBuf, String)> {
    static SETTINGS: OnceLock<std::result::Result<Table, (PathBuf, String)>> = OnceLock::new();
    SETTINGS
        .get_or_init(|| {
            let path = workspace_root().join(CONFIG_FILE);
            let Ok(text) = std::fs::read_to_string(&path) else {
                return Ok(None);
            };
            parse_settings(&text).map_err(|reason| (path, reason))
        })
        .as_ref()
}

/// Parses the `[settings]` table of a `readiness.toml`.
pub(crate) fn parse_settings(text: &str) -> std::result::Result<Table, String> {
    let doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| toml_error(text, &e))?;
    match doc.get("settings") {
        None => Ok(None),
        Some(toml::Value::Table(t)) => Ok(Some(t.clone())),
        Some(_) => Err("`settings` must be a table: [settings]".to_owned()),
    }
}

/// A TOML parse error of `text` as "line L, column C: message".
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let at = e
        .span()
        .map(|s| line_col(text, s.start))
        .unwrap_or_default();
    format!("{at}{}", e.message().trim_end())
}

fn line_col(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("line {line}, column {col}: ")
}

/// The root of the workspace under test, found the way cargo finds it: from the package
/// directory (`CARGO_MANIFEST_DIR`, else the current directory) up to the nearest
/// `Cargo.toml` with a `[workspace]` table; the package directory when there is none.
pub fn workspace_root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let start = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."));
        find_workspace_root(&start)
    })
    .clone()
}

pub(crate) fn find_workspace_root(start: &Path) -> PathBuf {
    let mut package = None;
    for dir in start.ancestors() {
        let manifest = dir.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        if package.is_none() {
            package = Some(dir.to_path_buf());
        }
        let is_workspace = text
            .parse::<toml::Table>()
            .map(|t| t.contains_key("workspace"))
            .unwrap_or_else(|_| text.lines().any(|l| l.trim() == "[workspace]"));
        if is_workspace {
            return dir.to_path_buf();
        }
    }
    package.unwrap_or_else(|| start.to_path_buf())
}

/// The target directory: `CARGO_TARGET_DIR` (relative to the current directory, as cargo
/// takes it), else `target/` of the workspace root.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                std::env::current_dir()
                    .map(|cwd| cwd.join(&dir))
                    .unwrap_or(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// Where evidence goes: `READINESS_DIR`, else `<target dir>/readiness`.
pub fn evidence_dir() -> Result<PathBuf> {
    Ok(match get("READINESS_DIR")? {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        _ => target_dir().join("readiness"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_workspace_above_a_member() {
        let root = find_workspace_root(Path::new(env!("CARGO_MANIFEST_DIR")));
        assert!(root.join("readiness-core").is_dir(), "{}", root.display());
        assert_ne!(root, Path::new(env!("CARGO_MANIFEST_DIR")));
    }

    #[test]
    fn a_malformed_config_names_line_and_column() {
        let err = parse_settings("[settings]\nREADINESS_DIR = \n")
            .err()
            .unwrap_or_default();
        assert!(err.starts_with("line 2, column 17: "), "{err}");
        let ok = parse_settings("[settings]\nREADINESS_DIR = \"x\"\n")
            .ok()
            .flatten();
        assert_eq!(
            ok.and_then(|t| t.get("READINESS_DIR").cloned()),
            Some("x".into())
        );
    }
}
