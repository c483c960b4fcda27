//! Operational mutants: failures a production service really has, injected by the
//! harness's own proxies and catalogue containers, so that a suite run under a mutant is
//! the same suite, unchanged, facing that failure.
//!
//! One setting names the mutant: `READINESS_MUTANT` (an environment variable, or the key
//! of that name in `[settings]` of `readiness.toml`), as `dep.latency` or, to aim it at
//! named targets, `dep.latency@redis,postgres`. Unset or empty: no mutant.
//!
//! | mutant | what it does | applied by |
//! |---|---|---|
//! | `dep.latency` | each answer of the dependency 250 ms ± 50 ms late | the fault proxy at its start |
//! | `dep.flaky` | one connection to the dependency in ten reset (seeded) | the fault proxy at its start |
//! | `dep.down` | the dependency cut 5 s after its proxy started, for good | the fault proxy |
//! | `dep.bandwidth` | the dependency's answers at 16 KB/s | the fault proxy at its start |
//! | `dep.killed` | the dependency's container killed (SIGKILL) 5 s after it was ready | the container catalogue |
//! | `dep.paused` | the dependency's container paused 5 s after it was ready, for 10 s | the container catalogue |
//! | `dep.restarted` | the dependency's container restarted 5 s after it was ready | the container catalogue |
//! | `dep.slow_start` | the dependency's container paused for 20 s as soon as it was ready | the container catalogue |
//! | `svc.memory_half` | the service's container with half its memory (`READINESS_SERVICE_MEMORY`) | the container catalogue |
//! | `svc.cpu_half` | the service's container with half the engine's CPUs | the container catalogue |
//! | `svc.sigkill` | the service's container killed (SIGKILL) halfway through the first load | the container catalogue, told by the load |
//! | `svc.sigterm` | the service's container told to stop (SIGTERM) halfway through the first load | the container catalogue, told by the load |
//!
//! The dependencies are, unless named, the catalogue's data stores (`postgres`, `redis`):
//! their containers, and the proxies of those names. The service is the catalogue entry
//! `READINESS_SERVICE` names (`reference` for the reference service). The harness's
//! instruments (Prometheus, Alertmanager, the Pushgateway) are never a target. Every delay
//! counts from the target's own start, and seeds come from the mutant and the target's
//! name, so the same mutant twice does the same thing.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::settings;

/// The setting that names the mutant to apply.
pub const SETTING: &str = "READINESS_MUTANT";
/// The setting that names the service's catalogue entry (the target of `svc.*`).
pub const SERVICE: &str = "READINESS_SERVICE";
/// The setting that gives the service's memory budget (`512MiB`), which `svc.memory_half`
/// halves.
pub const SERVICE_MEMORY: &str = "READINESS_SERVICE_MEMORY";
/// The dependencies a `dep.*` mutant reaches when none is named.
pub const DEFAULT_DEPENDENCIES: &[&str] = &["postgres", "redis"];

/// How long after its target started a mid-run mutant strikes.
pub const MID_RUN: Duration = Duration::from_secs(5);
/// How long `dep.paused` keeps the dependency paused.
pub const HOLD: Duration = Duration::from_secs(10);
/// How long `dep.slow_start` keeps the dependency paused after it was ready.
pub const SLOW_START: Duration = Duration::from_secs(20);
/// The latency of `dep.latency`, and its jitter.
pub const LATENCY: (Duration, Duration) = (Duration::from_millis(250), Duration::from_millis(50));
/// The share of connections `dep.flaky` resets.
pub const FLAKY_SHARE: f64 = 0.1;
/// The bandwidth of `dep.bandwidth`, KB/s.
pub const BANDWIDTH_KB_PER_S: u64 = 16;

/// What receives a mutant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Via {
    /// A fault proxy in front of a dependency.
    Proxy,
    /// A dependency's container.
    Dependency,
    /// The service's container.
    Service,
}

/// An operational failure the harness can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
#[non_exhaustive]
pub enum Mutant {
    /// `dep.latency`.
    DepLatency,
    /// `dep.flaky`.
    DepFlaky,
    /// `dep.down`.
    DepDown,
    /// `dep.bandwidth`.
    DepBandwidth,
    /// `dep.killed`.
    DepKilled,
    /// `dep.paused`.
    DepPaused,
    /// `dep.restarted`.
    DepRestarted,
    /// `dep.slow_start`.
    DepSlowStart,
    /// `svc.memory_half`.
    SvcMemoryHalf,
    /// `svc.cpu_half`.
    SvcCpuHalf,
    /// `svc.sigkill`.
    SvcSigkill,
    /// `svc.sigterm`.
    SvcSigterm,
}

impl Mutant {
    /// Every mutant, in the catalogue's order.
    pub const ALL: [Mutant; 12] = [
        Mutant::DepLatency,
        Mutant::DepFlaky,
        Mutant::DepDown,
        Mutant::DepBandwidth,
        Mutant::DepKilled,
        Mutant::DepPaused,
        Mutant::DepRestarted,
        Mutant::DepSlowStart,
        Mutant::SvcMemoryHalf,
        Mutant::SvcCpuHalf,
        Mutant::SvcSigkill,
        Mutant::SvcSigterm,
    ];

    /// The id (`dep.latency`).
    pub fn id(self) -> &'static str {
        match self {
            Mutant::DepLatency => "dep.latency",
            Mutant::DepFlaky => "dep.flaky",
            Mutant::DepDown => "dep.down",
            Mutant::DepBandwidth => "dep.bandwidth",
            Mutant::DepKilled => "dep.killed",
            Mutant::DepPaused => "dep.paused",
            Mutant::DepRestarted => "dep.restarted",
            Mutant::DepSlowStart => "dep.slow_start",
            Mutant::SvcMemoryHalf => "svc.memory_half",
            Mutant::SvcCpuHalf => "svc.cpu_half",
            Mutant::SvcSigkill => "svc.sigkill",
            Mutant::SvcSigterm => "svc.sigterm",
        }
    }

    /// The mutant of `id`; an unknown id is an error that lists the known ones.
    pub fn parse(id: &str) -> Result<Mutant> {
        let id = id.trim();
        Mutant::ALL
            .into_iter()
            .find(|m| m.id() == id)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{SETTING}: no mutant {id:?}; the mutants are {}",
                    Mutant::ALL.map(Mutant::id).join(", ")
                ))
            })
    }

    /// What it does, in a reviewer's words.
    pub fn describe(self) -> &'static str {
        match self {
            Mutant::DepLatency => "each answer of a dependency 250 ms ± 50 ms late",
            Mutant::DepFlaky => "one connection to a dependency in ten reset",
            Mutant::DepDown => "a dependency cut 5 s in, for good",
            Mutant::DepBandwidth => "a dependency's answers at 16 KB/s",
            Mutant::DepKilled => "a dependency's container killed 5 s after it was ready",
            Mutant::DepPaused => "a dependency's container paused for 10 s, 5 s after it was ready",
            Mutant::DepRestarted => "a dependency's container restarted 5 s after it was ready",
            Mutant::DepSlowStart => "a dependency frozen for 20 s as soon as it was ready",
            Mutant::SvcMemoryHalf => "the service's container with half its memory budget",
            Mutant::SvcCpuHalf => "the service's container with half the CPUs",
            Mutant::SvcSigkill => "the service killed (SIGKILL) halfway through a load",
            Mutant::SvcSigterm => "the service told to stop (SIGTERM) halfway through a load",
        }
    }

    /// What receives it.
    pub fn via(self) -> Via {
        match self {
            Mutant::DepLatency | Mutant::DepFlaky | Mutant::DepDown | Mutant::DepBandwidth => {
                Via::Proxy
            }
            Mutant::DepKilled | Mutant::DepPaused | Mutant::DepRestarted | Mutant::DepSlowStart => {
                Via::Dependency
            }
            Mutant::SvcMemoryHalf
            | Mutant::SvcCpuHalf
            | Mutant::SvcSigkill
            | Mutant::SvcSigterm => Via::Service,
        }
    }

    /// The criteria (ids of [`crate::criteria::DEFINED`]) that catch it, most telling
    /// first: what a suite that missed it would add.
    pub fn would_catch(self) -> &'static [&'static str] {
        match self {
            Mutant::DepLatency => &[
                "load.p<q>",
                "dr.degraded_p99",
                "dr.circuit_opens",
                "load.p<q>_window",
                "obs.alert_fires",
            ],
            Mutant::DepFlaky => &[
                "load.error_rate",
                "dr.degrades_gracefully",
                "load.error_rate_window",
                "obs.alert_fires",
            ],
            Mutant::DepDown => &[
                "obs.health_accurate",
                "dr.degrades_gracefully",
                "load.error_rate",
                "obs.alert_fires",
                "dr.rto",
            ],
            Mutant::DepBandwidth => &["load.p<q>", "load.throughput", "load.capacity"],
            Mutant::DepKilled => &[
                "obs.health_accurate",
                "dr.rto",
                "dr.no_ack_write_lost",
                "load.error_rate",
                "obs.alert_fires",
            ],
            Mutant::DepPaused => &[
                "dr.circuit_opens",
                "dr.degrades_gracefully",
                "load.p<q>_window",
                "load.error_rate_window",
            ],
            Mutant::DepRestarted => &[
                "dr.rto",
                "dr.no_ack_write_lost",
                "dr.redis_durability",
                "load.error_rate_window",
            ],
            Mutant::DepSlowStart => &["svc.ready", "deps.postgres_ready", "obs.health_accurate"],
            Mutant::SvcMemoryHalf => &["load.soak_memory", "load.capacity", "load.error_rate"],
            Mutant::SvcCpuHalf => &["load.capacity", "load.throughput", "load.p<q>"],
            Mutant::SvcSigkill => &[
                "load.error_rate_window",
                "dr.rto",
                "dr.no_ack_write_lost",
                "obs.alert_fires",
            ],
            Mutant::SvcSigterm => &["dr.zero_downtime", "load.error_rate_window", "dr.rto"],
        }
    }
}

impl From<Mutant> for &'static str {
    fn from(m: Mutant) -> &'static str {
        m.id()
    }
}

impl TryFrom<String> for Mutant {
    type Error = Error;
    fn try_from(id: String) -> Result<Mutant> {
        Mutant::parse(&id)
    }
}

impl std::fmt::Display for Mutant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// A mutant and the targets it is aimed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The mutant.
    pub mutant: Mutant,
    /// Named targets (`@redis,postgres`); empty: the defaults of its kind.
    pub targets: Vec<String>,
}

impl Spec {
    /// Reads `dep.latency` or `dep.latency@redis,postgres`; empty text is no mutant.
    pub fn parse(text: &str) -> Result<Option<Spec>> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let (id, targets) = match text.split_once('@') {
            Some((id, targets)) => {
                let targets: Vec<String> = targets
                    .split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .filter(|t| !t.is_empty())
                    .collect();
                if targets.is_empty() {
                    return Err(Error::InvalidInput(format!(
                        "{SETTING}={text:?}: name a target after `@` (a proxy's or a catalogue \
                         service's name: `dep.latency@redis`), or leave `@` out"
                    )));
                }
                (id, targets)
            }
            None => (text, Vec::new()),
        };
        Ok(Some(Spec {
            mutant: Mutant::parse(id)?,
            targets,
        }))
    }

    /// Whether the mutant is aimed at `name` (a proxy's name, or a catalogue service) of
    /// the kind `via`: named targets are taken as given; otherwise the dependencies are
    /// [`DEFAULT_DEPENDENCIES`] and the service is `service` (`READINESS_SERVICE`).
    pub fn aims_at(&self, via: Via, name: &str, service: Option<&str>) -> bool {
        if self.mutant.via() != via {
            return false;
        }
        let name = name.to_ascii_lowercase();
        if !self.targets.is_empty() {
            return self.targets.contains(&name);
        }
        match via {
            Via::Proxy | Via::Dependency => DEFAULT_DEPENDENCIES.contains(&name.as_str()),
            Via::Service => service.is_some_and(|s| s.eq_ignore_ascii_case(&name)),
        }
    }

    /// A seed for `target` under this mutant: the same mutant on the same target replays.
    pub fn seed(&self, target: &str) -> u64 {
        // FNV-1a: stable across runs and Rust versions, unlike the std hasher.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.mutant.id().bytes().chain([b'@']).chain(target.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash
    }
}

impl std::fmt::Display for Spec {
    /// As the setting names it: `dep.latency`, `dep.latency@redis,postgres`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.mutant.id())?;
        if !self.targets.is_empty() {
            write!(f, "@{}", self.targets.join(","))?;
        }
        Ok(())
    }
}

/// Set by `readiness sensitivity` on its clean run: the harness notes each target a mutant
/// could reach ([`note_target`]), so that a mutant aimed at none of them is left out
/// without a run of its own.
pub const SURVEY: &str = "READINESS_SENSITIVITY_SURVEY";

/// The file of the evidence directory `dir` in which the processes of run `run` note each
/// target their mutant reached.
pub fn applied_file(dir: &std::path::Path, run: &str) -> std::path::PathBuf {
    run_file(dir, run, "applied")
}

/// The file of the evidence directory `dir` in which the processes of the clean run `run`
/// note each target a mutant could reach ([`note_target`]).
pub fn targets_file(dir: &std::path::Path, run: &str) -> std::path::PathBuf {
    run_file(dir, run, "targets")
}

fn run_file(dir: &std::path::Path, run: &str, kind: &str) -> std::path::PathBuf {
    let safe: String = run
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join("sensitivity").join(format!("{kind}-{safe}.txt"))
}

/// Notes that this run's mutant reached `target` (`proxy redis`, `container postgres`), so
/// that `readiness sensitivity` tells a mutant the suite missed from one that reached
/// nothing of it. One line, appended: the processes of a run share the file.
pub fn note_applied(spec: &Spec, target: &str) {
    append_line(applied_file, &format!("{spec} reached {target}"));
}

/// In the clean run of `readiness sensitivity` ([`SURVEY`] set), notes a target a mutant
/// could reach: a fault proxy (`Via::Proxy`) or a catalogue container (`Via::Dependency`,
/// the service's own included) named `name`. Elsewhere it does nothing.
pub fn note_target(via: Via, name: &str) {
    if std::env::var_os(SURVEY).is_none_or(|v| v.is_empty()) {
        return;
    }
    let kind = if via == Via::Proxy {
        "proxy"
    } else {
        "container"
    };
    append_line(
        targets_file,
        &format!("{kind} {}", name.to_ascii_lowercase()),
    );
}

/// The targets the clean run `run` noted in `dir`: each a proxy (`Via::Proxy`) or a
/// catalogue container (`Via::Dependency`) and its name.
pub fn targets(dir: &std::path::Path, run: &str) -> Vec<(Via, String)> {
    let mut targets: Vec<(Via, String)> = noted(&targets_file(dir, run))
        .iter()
        .filter_map(|line| match line.split_once(' ')? {
            ("proxy", name) => Some((Via::Proxy, name.to_owned())),
            ("container", name) => Some((Via::Dependency, name.to_owned())),
            _ => None,
        })
        .collect();
    targets.sort();
    targets
}

impl Spec {
    /// Whether it aims at one of `targets` (as [`targets`] reads them; `service` is
    /// `READINESS_SERVICE`).
    pub fn aims_at_any(&self, targets: &[(Via, String)], service: Option<&str>) -> bool {
        targets.iter().any(|(via, name)| match via {
            Via::Proxy => self.aims_at(Via::Proxy, name, None),
            Via::Dependency | Via::Service => {
                self.aims_at(Via::Dependency, name, None)
                    || self.aims_at(Via::Service, name, service)
            }
        })
    }
}

/// Appends `line` to the file `file` names for this process's evidence directory and run
/// (the processes of a run share it).
fn append_line(file: fn(&std::path::Path, &str) -> std::path::PathBuf, line: &str) {
    use std::io::Write as _;
    let Ok(dir) = settings::evidence_dir() else {
        return;
    };
    let path = file(&dir, crate::run_id());
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

/// What the mutant of run `run` reached, as its processes noted it in `dir` (none: the
/// mutant reached nothing the suite started).
pub fn applied(dir: &std::path::Path, run: &str) -> Vec<String> {
    noted(&applied_file(dir, run))
}

/// The lines of the notes file `path`, sorted, each once (none when there is no file).
fn noted(path: &std::path::Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines.dedup();
    lines
}

/// When the process's first load started, and how long it runs for.
static FIRST_LOAD: std::sync::OnceLock<(std::time::Instant, Duration)> = std::sync::OnceLock::new();

/// Called by the load engine as a load starts: the first one arms `svc.sigkill` and
/// `svc.sigterm`, which strike halfway through it.
pub fn load_started(duration: Duration) {
    let _ = FIRST_LOAD.set((std::time::Instant::now(), duration));
}

/// When the process's first load started and how long it runs for, once one has.
pub fn first_load() -> Option<(std::time::Instant, Duration)> {
    FIRST_LOAD.get().copied()
}

/// The mutant the run applies (`READINESS_MUTANT`), if any; a setting that names no
/// mutant is an error that lists them.
pub fn current() -> Result<Option<Spec>> {
    match settings::get(SETTING)? {
        Some(text) => Spec::parse(&text),
        None => Ok(None),
    }
}

/// The service's catalogue entry (`READINESS_SERVICE`), lower-cased.
pub fn service() -> Result<Option<String>> {
    Ok(settings::get(SERVICE)?
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty()))
}

/// The service's memory budget (`READINESS_SERVICE_MEMORY`: `512MiB`, `1GiB`, `268435456`)
/// in bytes; none when unset or set empty (which overrides a `readiness.toml` budget).
pub fn service_memory() -> Result<Option<u64>> {
    let Some(text) = settings::get(SERVICE_MEMORY)?.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    parse_bytes(&text).map(Some).ok_or_else(|| {
        Error::InvalidInput(format!(
            "{SERVICE_MEMORY}={text:?} is not a size: give bytes, or a number with KiB, MiB \
             or GiB (512MiB)"
        ))
    })
}

fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor).filter(|b| *b > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_an_unknown_one_lists_the_catalogue() {
        for m in Mutant::ALL {
            assert_eq!(Mutant::parse(m.id()).expect("known"), m);
            let json = serde_json::to_string(&m).expect("serializes");
            assert_eq!(json, format!("\"{}\"", m.id()));
            assert_eq!(serde_json::from_str::<Mutant>(&json).expect("reads"), m);
        }
        let e = Mutant::parse("dep.slowish")
            .expect_err("unknown")
            .to_string();
        assert!(
            e.contains("\"dep.slowish\"") && e.contains("dep.latency, dep.flaky"),
            "{e}"
        );
    }

    #[test]
    fn a_spec_names_its_targets_or_takes_the_defaults() {
        assert_eq!(Spec::parse("  ").expect("empty"), None);
        let any = Spec::parse("dep.latency").expect("parses").expect("a spec");
        assert!(any.aims_at(Via::Proxy, "Redis", None));
        assert!(any.aims_at(Via::Proxy, "postgres", None));
        assert!(!any.aims_at(Via::Proxy, "front", None));
        assert!(
            !any.aims_at(Via::Dependency, "redis", None),
            "a proxy mutant"
        );
        let named = Spec::parse("dep.killed@db, cache")
            .expect("parses")
            .expect("a spec");
        assert_eq!(named.targets, ["db", "cache"]);
        assert!(named.aims_at(Via::Dependency, "cache", None));
        assert!(!named.aims_at(Via::Dependency, "redis", None));
        let svc = Spec::parse("svc.sigterm").expect("parses").expect("a spec");
        assert!(svc.aims_at(Via::Service, "reference", Some("reference")));
        assert!(
            !svc.aims_at(Via::Service, "reference", None),
            "no service named"
        );
        let e = Spec::parse("dep.latency@")
            .expect_err("no target")
            .to_string();
        assert!(e.contains("name a target after `@`"), "{e}");
    }

    #[test]
    fn seeds_replay_per_mutant_and_target() {
        let a = Spec::parse("dep.flaky").expect("parses").expect("a spec");
        let b = Spec::parse("dep.flaky@redis")
            .expect("parses")
            .expect("a spec");
        assert_eq!(a.seed("redis"), b.seed("redis"));
        assert_ne!(a.seed("redis"), a.seed("postgres"));
        // FNV-1a of "dep.flaky@redis": the same in every run and every build.
        assert_eq!(a.seed("redis"), 0x3167_8ce9_1793_e512);
    }

    #[test]
    fn what_would_catch_a_mutant_is_a_criterion_the_harness_defines() {
        for m in Mutant::ALL {
            assert!(!m.would_catch().is_empty(), "{m}");
            for id in m.would_catch() {
                assert!(
                    crate::criteria::DEFINED.iter().any(|d| d.id == *id),
                    "{m}: {id} is not defined"
                );
            }
        }
    }

    #[test]
    fn a_spec_reads_back_as_written_and_its_notes_are_one_file_per_run() {
        for text in ["dep.latency", "dep.killed@db,cache"] {
            assert_eq!(
                Spec::parse(text)
                    .expect("parses")
                    .expect("a spec")
                    .to_string(),
                text
            );
        }
        let dir = tempfile::tempdir().expect("tmp");
        assert_eq!(
            applied_file(dir.path(), "ci-42.1_x"),
            dir.path().join("sensitivity").join("applied-ci-42.1_x.txt")
        );
        let file = applied_file(dir.path(), "ci/42 run");
        assert_eq!(
            file,
            dir.path().join("sensitivity").join("applied-ci_42_run.txt")
        );
        assert!(applied(dir.path(), "ci/42 run").is_empty(), "no note yet");
        std::fs::create_dir_all(file.parent().expect("parent")).expect("dir");
        std::fs::write(
            &file,
            "dep.killed reached b\ndep.killed reached a\ndep.killed reached b\n",
        )
        .expect("notes");
        assert_eq!(
            applied(dir.path(), "ci/42 run"),
            ["dep.killed reached a", "dep.killed reached b"]
        );
        // The clean run's survey: its own file, read back sorted, each target once.
        let file = targets_file(dir.path(), "ci/42 run");
        assert_eq!(
            file,
            dir.path().join("sensitivity").join("targets-ci_42_run.txt")
        );
        assert!(targets(dir.path(), "ci/42 run").is_empty(), "no note yet");
        std::fs::write(
            &file,
            "container postgres\nproxy front\ncontainer reference\ncontainer postgres\nsome noise\n",
        )
        .expect("notes");
        assert_eq!(
            targets(dir.path(), "ci/42 run"),
            [
                (Via::Proxy, "front".to_owned()),
                (Via::Dependency, "postgres".to_owned()),
                (Via::Dependency, "reference".to_owned()),
            ]
        );
    }

    #[test]
    fn a_clean_runs_targets_tell_which_mutants_would_reach_them() {
        let seen = [
            (Via::Proxy, "front".to_owned()),
            (Via::Dependency, "postgres".to_owned()),
            (Via::Dependency, "reference".to_owned()),
        ];
        let spec = |text: &str| Spec::parse(text).expect("parses").expect("a spec");
        assert!(spec("dep.killed").aims_at_any(&seen, None));
        assert!(!spec("dep.killed@redis").aims_at_any(&seen, None));
        // No proxy named postgres or redis: the proxy mutants would reach nothing.
        assert!(!spec("dep.latency").aims_at_any(&seen, None));
        assert!(spec("dep.latency@front").aims_at_any(&seen, None));
        // The service's container is one of the catalogue's, named by READINESS_SERVICE.
        assert!(spec("svc.sigkill").aims_at_any(&seen, Some("reference")));
        assert!(!spec("svc.sigkill").aims_at_any(&seen, None));
        assert!(!spec("svc.sigkill").aims_at_any(&seen, Some("orders")));
        assert!(!spec("dep.killed").aims_at_any(&[], None));
    }

    #[test]
    fn a_memory_budget_is_a_size() {
        assert_eq!(parse_bytes("512MiB"), Some(512 << 20));
        assert_eq!(parse_bytes("1 GiB"), Some(1 << 30));
        assert_eq!(parse_bytes("4096"), Some(4096));
        assert_eq!(parse_bytes("0"), None);
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_bytes("5 MB"), None);
    }
}
