//! Which run a record belongs to: everything one invocation produced. The report judges a
//! run as a whole, so the id must be the same in every process of one invocation and
//! differ between invocations.
//!
//! In order, the first that applies:
//!
//! | source | id | when |
//! |---|---|---|
//! | `explicit` | `READINESS_RUN_ID` | set by the user (a setting) |
//! | `ci` | `github-<GITHUB_RUN_ID>-<GITHUB_RUN_ATTEMPT>`, `gitlab-<CI_PIPELINE_ID>`, `buildkite-<BUILDKITE_BUILD_ID>`, `circleci-<CIRCLE_WORKFLOW_ID>`, `jenkins-<BUILD_TAG>`, `k8s-job-<job name>` | a CI workflow run: all its jobs and matrix shards; a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX` is set; the job name is the pod's host name without `-<index>`) |
//! | `nextest` | `NEXTEST_RUN_ID` | every test process of one `cargo nextest run` |
//! | `cargo` | `cargo-<pid>-<start>` | every test binary of one `cargo test`: the process whose parent is `cargo` (or `rustdoc` under `cargo`, for doc tests) takes cargo's pid and start time |
//! | `process` | `p<pid>-<time>` | anything else: a binary started by hand, or by `cargo run` (cargo replaces itself with the binary, so the process is the whole invocation); its records cannot be grouped with other processes' |

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::settings;

/// Where a run id came from: how far it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunSource {
    /// `READINESS_RUN_ID`.
    Explicit,
    /// A CI workflow run (all its jobs and shards), or a Kubernetes Indexed Job.
    Ci,
    /// One `cargo nextest run`.
    Nextest,
    /// One `cargo test` invocation.
    Cargo,
    /// One process; nothing tells which invocation it belonged to.
    Process,
}

impl RunSource {
    /// Whether the id is shared by every process of its invocation, however the work was
    /// split (explicit and CI ids are; a nextest or cargo id covers one invocation on one
    /// machine; a process id only itself).
    pub fn spans_machines(self) -> bool {
        matches!(self, RunSource::Explicit | RunSource::Ci)
    }
}

impl std::fmt::Display for RunSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunSource::Explicit => "READINESS_RUN_ID",
            RunSource::Ci => "a CI run",
            RunSource::Nextest => "one cargo nextest run",
            RunSource::Cargo => "one cargo invocation",
            RunSource::Process => "one process",
        })
    }
}

/// The run of this process: its id and where the id came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunIdentity {
    /// The id (also the `org.readiness.run` label of the containers it starts).
    pub id: String,
    /// Where it came from.
    pub source: RunSource,
}

/// The run of this process, worked out once (see the module docs for the order).
pub fn current() -> &'static RunIdentity {
    static RUN: OnceLock<RunIdentity> = OnceLock::new();
    RUN.get_or_init(|| {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(id) = settings::get("READINESS_RUN_ID")
            .ok()
            .flatten()
            .filter(|v| !v.is_empty())
        {
            return RunIdentity {
                id,
                source: RunSource::Explicit,
            };
        }
        if let Some(id) = ci_run(&env, host_name().as_deref()) {
            return RunIdentity {
                id,
                source: RunSource::Ci,
            };
        }
        if let Some(id) = env("NEXTEST_RUN_ID") {
            return RunIdentity {
                id,
                source: RunSource::Nextest,
            };
        }
        if let Some(id) = cargo_invocation() {
            return RunIdentity {
                id,
                source: RunSource::Cargo,
            };
        }
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        RunIdentity {
            id: format!("p{}-{:x}", std::process::id(), nanos),
            source: RunSource::Process,
        }
    })
}

/// The id of the CI workflow run (or Kubernetes Indexed Job) the environment names.
pub fn ci_run(env: &dyn Fn(&str) -> Option<String>, host: Option<&str>) -> Option<String> {
    if let Some(run) = env("GITHUB_RUN_ID") {
        let attempt = env("GITHUB_RUN_ATTEMPT").unwrap_or_else(|| "1".into());
        return Some(format!("github-{run}-{attempt}"));
    }
    let single = [
        ("CI_PIPELINE_ID", "gitlab"),
        ("BUILDKITE_BUILD_ID", "buildkite"),
        ("CIRCLE_WORKFLOW_ID", "circleci"),
        ("BUILD_TAG", "jenkins"),
    ];
    if let Some((name, value)) = single
        .iter()
        .find_map(|(var, name)| env(var).map(|v| (name, v)))
    {
        return Some(format!("{name}-{value}"));
    }
    // An Indexed Job's pods are named <job>-<index>: the job is what they share.
    let index = env("JOB_COMPLETION_INDEX")?;
    let job = host?.strip_suffix(&format!("-{index}"))?;
    (!job.is_empty()).then(|| format!("k8s-job-{job}"))
}

fn host_name() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// `cargo-<pid>-<start>` of the `cargo` that started this process (directly, or through
/// `rustdoc` for a doc test); `None` when no cargo started it or `/proc` cannot tell.
#[cfg(not(unix))]
fn cargo_invocation() -> Option<String> {
    None
}

/// `cargo-<pid>-<start>` of the `cargo` that started this process (directly, or through
/// `rustdoc` for a doc test); `None` when no cargo started it or `/proc` cannot tell.
#[cfg(unix)]
fn cargo_invocation() -> Option<String> {
    let mut pid = std::os::unix::process::parent_id();
    for _ in 0..2 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let s = Stat::parse(&stat)?;
        match s.command.as_str() {
            "cargo" => return Some(format!("cargo-{pid}-{}", s.start_ticks)),
            "rustdoc" => pid = s.parent,
            _ => return None,
        }
    }
    None
}

/// The fields of `/proc/<pid>/stat` the run id needs.
#[derive(Debug, PartialEq, Eq)]
struct Stat {
    command: String,
    parent: u32,
    start_ticks: u64,
}

impl Stat {
    /// `pid (comm) state ppid ... starttime ...`: the command may hold spaces and
    /// parentheses, so the fields are counted from its last `)`.
    fn parse(stat: &str) -> Option<Stat> {
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let command = stat.get(open + 1..close)?.to_owned();
        let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
        // rest[0] is field 3 (state); the parent is field 4, the start time field 22.
        Some(Stat {
            command,
            parent: rest.get(1)?.parse().ok()?,
            start_ticks: rest.get(19)?.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    /// Variables set, the host name, the run id expected.
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, Option<&'a str>);

    #[test]
    fn every_ci_names_its_workflow_run() {
        let cases: &[Case<'_>] = &[
            (
                &[("GITHUB_RUN_ID", "912"), ("GITHUB_RUN_ATTEMPT", "2")],
                None,
                Some("github-912-2"),
            ),
            (&[("CI_PIPELINE_ID", "77")], None, Some("gitlab-77")),
            (
                &[("BUILDKITE_BUILD_ID", "b-1")],
                None,
                Some("buildkite-b-1"),
            ),
            (&[("CIRCLE_WORKFLOW_ID", "w")], None, Some("circleci-w")),
            (
                &[("JOB_COMPLETION_INDEX", "3")],
                Some("load-shards-3"),
                Some("k8s-job-load-shards"),
            ),
            // An index without the pod's name (or with another name) is not a job id.
            (&[("JOB_COMPLETION_INDEX", "3")], Some("laptop"), None),
            (&[("JOB_COMPLETION_INDEX", "3")], None, None),
            (&[], Some("load-shards-3"), None),
        ];
        for (vars, host, want) in cases {
            assert_eq!(
                ci_run(&env_of(vars), *host).as_deref(),
                *want,
                "{vars:?} {host:?}"
            );
        }
    }

    #[test]
    fn proc_stat_is_read_past_a_command_with_spaces_and_parentheses() {
        let line = "4242 (cargo (x) y) S 4100 4242 4100 34816 4242 4194560 1 2 3 4 5 6 7 8 20 0 \
                    1 0 987654 1000 100 18446744073709551615";
        assert_eq!(
            Stat::parse(line),
            Some(Stat {
                command: "cargo (x) y".into(),
                parent: 4100,
                start_ticks: 987654,
            })
        );
        assert_eq!(Stat::parse("garbage"), None);
    }

    #[test]
    fn this_process_has_a_run() {
        // Under nextest the run is nextest's; under cargo test, cargo's.
        let run = current();
        assert!(!run.id.is_empty());
        let set = |name: &str| std::env::var_os(name).is_some();
        let ci = ci_run(&|n| std::env::var(n).ok(), host_name().as_deref()).is_some();
        if set("READINESS_RUN_ID") || ci {
            return;
        }
        if set("NEXTEST_RUN_ID") {
            assert_eq!(run.source, RunSource::Nextest);
        } else if set("CARGO") {
            // `cargo test` starts test binaries itself and sets CARGO for them.
            assert_eq!(run.source, RunSource::Cargo, "{run:?}");
            assert!(run.id.starts_with("cargo-"), "{run:?}");
        }
    }
}
