//! `docs/guide.md` as written: its files make a crate outside this workspace, beside a copy
//! of readiness (a link to this repository, where the guide's `../readiness` points), and
//! its CI step runs there. The guide's four readiness tests must pass and the report must
//! say GO. Needs Docker and the images (`images/with-local-images`, or CI's exports).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("user-tests is inside the repository")
        .to_path_buf()
}

/// The blocks of the guide whose info string names a file (```` ```toml file=Cargo.toml ````):
/// each file and its text.
fn files(guide: &str) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in guide.lines() {
        match open.as_mut() {
            Some(_) if line.trim_start().starts_with("```") => {
                files.extend(open.take());
            }
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {
                if let Some(info) = line.strip_prefix("```")
                    && let Some(name) = info
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("file="))
                {
                    open = Some((name.to_owned(), String::new()));
                }
            }
        }
    }
    assert!(open.is_none(), "a file block of the guide is never closed");
    files
}

fn target_dir(repo: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { repo.join(t) })
        .unwrap_or_else(|| repo.join("target"))
}

#[test]
fn the_guide_builds_as_written_and_its_ci_step_says_go() {
    let repo = repository();
    let guide = std::fs::read_to_string(repo.join("docs/guide.md")).expect("docs/guide.md");
    let files = files(&guide);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Cargo.toml",
            "tests/readiness.rs",
            "readiness.toml",
            "ci/readiness.sh"
        ],
        "the guide's files"
    );

    let tmp = tempfile::tempdir().expect("tmp");
    std::os::unix::fs::symlink(&repo, tmp.path().join("readiness")).expect("link");
    let krate = tmp.path().join("orders-readiness");
    for (name, text) in &files {
        let path = krate.join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("dir");
        std::fs::write(&path, text).expect("write");
    }
    // Not the guide's business, only this machine's: the versions this repository's
    // lockfile holds and its debug-info profile, so the build shares what CI built.
    std::fs::copy(repo.join("Cargo.lock"), krate.join("Cargo.lock")).expect("lockfile");
    std::fs::create_dir_all(tmp.path().join(".cargo")).expect("dir");
    std::fs::write(
        tmp.path().join(".cargo/config.toml"),
        "[profile.dev]\ndebug = \"line-tables-only\"\n[profile.dev.package.\"*\"]\ndebug = false\n",
    )
    .expect("cargo config");

    // The `readiness` command the guide installs: this repository's, on PATH.
    let target = target_dir(&repo);
    let built = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "readiness-cli", "--manifest-path"])
        .arg(repo.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("cargo runs");
    assert!(built.success(), "the readiness command builds");
    let path = std::env::join_paths(std::iter::once(target.join("debug")).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH");

    let evidence = tmp.path().join("evidence");
    let run = Command::new("bash")
        .arg("ci/readiness.sh")
        .current_dir(&krate)
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", &target)
        // The guide's evidence stays out of this repository's evidence directory.
        .env("READINESS_DIR", &evidence)
        .env("READINESS_RUN_ID", format!("guide-{}", std::process::id()))
        .env_remove("READINESS_CONFIG")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .expect("bash runs the CI step");
    let out = format!(
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        out.contains("test result: ok. 4 passed; 0 failed"),
        "the guide's four tests pass:\n{out}"
    );
    assert_eq!(run.status.code(), Some(0), "the report says GO:\n{out}");
    assert!(out.contains("readiness scorecard: GO"), "{out}");
    for criterion in [
        "load.p95",
        "load.error_rate",
        "dr.rto",
        "obs.alert_fires",
        "sec.auth_required",
    ] {
        assert!(
            out.contains(criterion),
            "{criterion} on the scorecard:\n{out}"
        );
    }
}

#[test]
fn a_file_block_is_read_whole() {
    let text = "intro\n```toml file=a.toml\nx = 1\n```\n```rust\nnot a file\n```\n```sh file=b.sh\necho\n```\n";
    assert_eq!(
        files(text),
        [
            ("a.toml".to_owned(), "x = 1\n".to_owned()),
            ("b.sh".to_owned(), "echo\n".to_owned())
        ]
    );
}
