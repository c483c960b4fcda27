//! `readiness sensitivity`: the suite run once clean and once per operational mutant (and
//! per defect the config declares), each run bounded in time, each judged as a report
//! judges it; which mutants the suite caught, and the criteria that would have caught the
//! others.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use readiness_core::mutant::{self, Mutant, Spec};
use readiness_core::{Error, Result};
use readiness_report::{Decision, Options, Run, Scorecard, Sensitivity, SensitivityRow, make};
use serde::Deserialize;

/// The `[sensitivity]` table of readiness.toml.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Table {
    /// The suite's command (default `cargo nextest run --workspace`).
    #[serde(default)]
    command: Option<Vec<String>>,
    /// The bound of one run, in seconds (default 1,800).
    #[serde(default)]
    timeout_secs: Option<u64>,
    /// Mutants of the team's own (a defect switched by a setting).
    #[serde(default, rename = "mutant")]
    mutants: Vec<Declared>,
}

/// A mutant the config declares: an id, what it does, the settings that switch it on and
/// the criteria meant to catch it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Declared {
    id: String,
    what: String,
    env: BTreeMap<String, String>,
    #[serde(default)]
    would_catch: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    sensitivity: Option<Table>,
}

/// The `[sensitivity]` table of `config` (none: the defaults).
pub(crate) fn table(config: &Path) -> Result<Table> {
    let text = match std::fs::read_to_string(config) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Table::default()),
        Err(e) => {
            return Err(Error::InvalidInput(format!(
                "cannot read {}: {e}",
                config.display()
            )));
        }
    };
    let file: ConfigFile = toml::from_str(&text).map_err(|e| {
        Error::InvalidInput(format!(
            "{}: [sensitivity]: {}",
            config.display(),
            readiness_core::settings::toml_error(&text, &e)
        ))
    })?;
    Ok(file.sensitivity.unwrap_or_default())
}

/// One mutant to run.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    /// A mutant of the harness's catalogue (whose reach the harness notes), not declared.
    built_in: bool,
    id: String,
    what: String,
    env: BTreeMap<String, String>,
    would_catch: Vec<String>,
}

/// What to run: the built-in mutants chosen (`only`, or all) and the declared ones.
pub(crate) fn plan(table: &Table, only: Option<&str>) -> Result<Vec<Planned>> {
    let mut all: Vec<Planned> = Mutant::ALL
        .into_iter()
        .map(|m| Planned {
            built_in: true,
            id: m.id().to_owned(),
            what: m.describe().to_owned(),
            env: BTreeMap::from([(mutant::SETTING.to_owned(), m.id().to_owned())]),
            would_catch: m.would_catch().iter().map(|s| (*s).to_owned()).collect(),
        })
        .collect();
    for d in &table.mutants {
        if all.iter().any(|p| p.id == d.id) {
            return Err(Error::InvalidInput(format!(
                "[[sensitivity.mutant]] {:?} is declared twice (or is a built-in mutant's id)",
                d.id
            )));
        }
        all.push(Planned {
            built_in: false,
            id: d.id.clone(),
            what: d.what.clone(),
            env: d.env.clone(),
            would_catch: d.would_catch.clone(),
        });
    }
    let Some(only) = only else {
        return Ok(all);
    };
    let mut chosen = Vec::new();
    for id in only.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match all.iter().find(|p| p.id == id) {
            Some(p) => chosen.push(p.clone()),
            None => {
                return Err(Error::InvalidInput(format!(
                    "--mutants: no mutant {id:?}; the mutants are {}",
                    all.iter()
                        .map(|p| p.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    Ok(chosen)
}

impl Planned {
    /// The built-in mutant it applies, as its setting names it; none for a declared one.
    fn spec(&self) -> Option<Spec> {
        if !self.built_in {
            return None;
        }
        Spec::parse(self.env.get(mutant::SETTING)?).ok().flatten()
    }
}

/// Why a built-in mutant of the service cannot be run as things are set: no service named,
/// or no memory budget to halve.
fn unreachable(p: &Planned) -> Result<Option<String>> {
    if !p.built_in {
        return Ok(None);
    }
    let Ok(m) = Mutant::parse(&p.id) else {
        return Ok(None);
    };
    if m.via() == mutant::Via::Service && mutant::service()?.is_none() {
        return Ok(Some(format!(
            "set {} to the catalogue entry of the service under test (its \
             READINESS_IMAGE_<ENTRY>), so that the mutant knows its container",
            mutant::SERVICE
        )));
    }
    if m == Mutant::SvcMemoryHalf && mutant::service_memory()?.is_none() {
        return Ok(Some(format!(
            "set {} to the service's memory budget (512MiB), which the mutant halves",
            mutant::SERVICE_MEMORY
        )));
    }
    Ok(None)
}

/// Where a built-in mutant looks for its target, for a mutant that reached nothing.
fn target_hint(id: &str) -> String {
    match Mutant::parse(id).map(Mutant::via) {
        Ok(mutant::Via::Proxy) => format!(
            "fault proxies named {}, or those `{id}@NAME` names",
            mutant::DEFAULT_DEPENDENCIES.join(" or ")
        ),
        Ok(mutant::Via::Dependency) => format!(
            "catalogue containers {}, or those `{id}@NAME` names",
            mutant::DEFAULT_DEPENDENCIES.join(" or ")
        ),
        Ok(mutant::Via::Service) => format!(
            "the catalogue container {} names, struck during a load of the harness",
            mutant::SERVICE
        ),
        Err(_) => String::new(),
    }
}

/// How one run ended.
enum Ended {
    Finished,
    TimedOut,
}

/// Runs `command` with `env` added (and `READINESS_RUN_ID` = `run`, `READINESS_DIR` =
/// `dir`) in a process group of its own, its output to `log`; past `bound`, the group is
/// told to stop (SIGTERM), then killed (SIGKILL) 10 s later, and the run's containers are
/// removed.
fn run_once(
    command: &[String],
    env: &BTreeMap<String, String>,
    run: &str,
    dir: &Path,
    log: &Path,
    bound: Duration,
) -> Result<Ended> {
    let out = File::create(log)
        .map_err(|e| Error::Other(format!("cannot write {}: {e}", log.display())))?;
    let err = out
        .try_clone()
        .map_err(|e| Error::Other(format!("cannot write {}: {e}", log.display())))?;
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..])
        .env("READINESS_RUN_ID", run)
        .env("READINESS_DIR", dir)
        // The clean run overrides a mutant readiness.toml may name.
        .env(mutant::SETTING, "")
        .env_remove(mutant::SURVEY)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| {
        Error::InvalidInput(format!(
            "cannot start the suite ({}): {e}; give its command after `--` or as \
             [sensitivity] command in readiness.toml",
            command.join(" ")
        ))
    })?;
    let started = Instant::now();
    // Polled every 200 ms, for at most the bound.
    while started.elapsed() < bound {
        if child
            .try_wait()
            .map_err(|e| Error::Other(format!("waiting for the suite: {e}")))?
            .is_some()
        {
            return Ok(Ended::Finished);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop_group(&mut child);
    remove_containers(run);
    Ok(Ended::TimedOut)
}

/// SIGTERM to the child's process group (the group this command made), SIGKILL 10 s later
/// if it is still there.
fn stop_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let signal = |sig: &str| {
        let _ = Command::new("kill")
            .args([sig, "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    };
    signal("-TERM");
    for _ in 0..50 {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    signal("-KILL");
    let _ = child.wait();
}

/// Removes the containers of `run` (a run cut short leaves them).
fn remove_containers(run: &str) {
    use readiness_core::containers::{Leftovers, remove_containers};
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    if let Err(e) = rt.block_on(remove_containers(Leftovers::OfRun(run.to_owned()))) {
        eprintln!("readiness sensitivity: the containers of run {run} were not removed: {e}");
    }
}

/// What `readiness sensitivity` was told.
pub(crate) struct Request {
    pub(crate) dir: PathBuf,
    pub(crate) config: Option<PathBuf>,
    pub(crate) command: Vec<String>,
    pub(crate) only: Option<String>,
    pub(crate) timeout: Option<Duration>,
    /// How many mutants' runs at once (at least 1).
    pub(crate) jobs: usize,
}

/// Runs the suite clean, then under each mutant; saves and returns the result.
#[expect(clippy::print_stdout, reason = "the CLI says where it is")]
pub(crate) fn run(request: &Request) -> Result<Sensitivity> {
    let config_path = request
        .config
        .clone()
        .unwrap_or_else(|| readiness_core::settings::workspace_root().join("readiness.toml"));
    let table = table(&config_path)?;
    let planned = plan(&table, request.only.as_deref())?;
    let command = if request.command.is_empty() {
        table.command.clone().unwrap_or_else(|| {
            ["cargo", "nextest", "run", "--workspace"]
                .map(str::to_owned)
                .to_vec()
        })
    } else {
        request.command.clone()
    };
    if command.is_empty() {
        return Err(Error::InvalidInput(
            "[sensitivity] command is empty: give the suite's command".into(),
        ));
    }
    let bound = request
        .timeout
        .unwrap_or_else(|| Duration::from_secs(table.timeout_secs.unwrap_or(1_800)));
    let base = readiness_core::run_id().to_owned();
    let logs = request.dir.join("sensitivity");
    std::fs::create_dir_all(&logs)
        .map_err(|e| Error::Other(format!("cannot create {}: {e}", logs.display())))?;
    let card_of = |run: &str| -> Result<Scorecard> {
        make(&Options {
            dir: request.dir.clone(),
            config: request.config.clone(),
            baseline: None,
            run: Run::Id(run.to_owned()),
        })
    };

    let clean_run = format!("{base}-clean");
    println!("sensitivity: the clean run ({})", command.join(" "));
    let started = Instant::now();
    // The clean run notes the proxies and catalogue containers the suite starts: a mutant
    // aimed at none of them reaches nothing, and needs no run of its own.
    let ended = run_once(
        &command,
        &BTreeMap::from([(mutant::SURVEY.to_owned(), "1".to_owned())]),
        &clean_run,
        &request.dir,
        &logs.join("clean.log"),
        bound,
    )?;
    if matches!(ended, Ended::TimedOut) {
        return Err(Error::InvalidInput(format!(
            "the clean run did not finish within {} s; raise --timeout",
            bound.as_secs()
        )));
    }
    let clean = card_of(&clean_run).map_err(|e| {
        Error::InvalidInput(format!(
            "the clean run {clean_run} measured nothing a report can judge ({e}): with no \
             verdict to compare with, no mutant can be judged; the suite's command must run \
             readiness tests that write evidence (its log: {})",
            logs.join("clean.log").display()
        ))
    })?;
    if clean.verdict != Decision::Go {
        return Err(Error::InvalidInput(format!(
            "the clean run {clean_run} is no-go ({}): under a mutant every run would look \
             caught; make the suite pass first (its log: {})",
            clean.reasons.join("; "),
            logs.join("clean.log").display()
        )));
    }
    let surveyed = mutant::targets(&request.dir, &clean_run);
    let service = mutant::service()?;
    let mut result = Sensitivity {
        clean_run,
        clean_seconds: started.elapsed().as_secs_f64(),
        rows: Vec::new(),
    };
    // Each mutant's run by one of `jobs` workers; rows kept in the plan's order, the
    // result saved as each row comes.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let rows: std::sync::Mutex<Vec<Option<SensitivityRow>>> =
        std::sync::Mutex::new(vec![None; planned.len()]);
    let save = |rows: &[Option<SensitivityRow>]| -> Result<()> {
        let partial = Sensitivity {
            rows: rows.iter().flatten().cloned().collect(),
            ..result.clone()
        };
        partial.save(&request.dir)
    };
    let one = |p: &Planned| -> Result<SensitivityRow> {
        let run = format!("{base}-{}", p.id);
        if let Some(why) = unreachable(p)? {
            return Ok(SensitivityRow::not_run(&p.id, &p.what, &run, 0.0, &why));
        }
        if let Some(spec) = p.spec()
            && !spec.aims_at_any(&surveyed, service.as_deref())
        {
            return Ok(SensitivityRow::not_run(
                &p.id,
                &p.what,
                &run,
                0.0,
                &format!(
                    "it would reach nothing of the suite: the clean run started no fault proxy \
                     or catalogue container it aims at ({}), so it was not run",
                    target_hint(&p.id)
                ),
            ));
        }
        println!("sensitivity: under {} ({})", p.id, p.what);
        let started = Instant::now();
        let ended = run_once(
            &command,
            &p.env,
            &run,
            &request.dir,
            &logs.join(format!("{}.log", p.id)),
            bound,
        )?;
        let seconds = started.elapsed().as_secs_f64();
        let reached = mutant::applied(&request.dir, &run);
        let mut row = match ended {
            Ended::TimedOut => SensitivityRow::timed_out(&p.id, &p.what, &run, seconds),
            // The run's verdict says nothing of a failure it never faced.
            Ended::Finished if p.built_in && reached.is_empty() => SensitivityRow::not_run(
                &p.id,
                &p.what,
                &run,
                seconds,
                &format!(
                    "it reached nothing of the suite: no fault proxy or catalogue container \
                     the suite started is its target ({})",
                    target_hint(&p.id)
                ),
            ),
            Ended::Finished => match card_of(&run) {
                Ok(card) => {
                    let would: Vec<&str> = p.would_catch.iter().map(String::as_str).collect();
                    SensitivityRow::judge(&p.id, &p.what, &would, &clean, &card, &run, seconds)
                }
                // No report at all: a gate on this run holds the release too.
                Err(e) => SensitivityRow::unjudged(&p.id, &p.what, &run, seconds, &e.to_string()),
            },
        };
        row.reached = reached;
        Ok(row)
    };
    let worker = || -> Result<()> {
        // Each worker takes the next mutant until none is left (at most one pass).
        for _ in 0..planned.len() {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let Some(p) = planned.get(i) else {
                return Ok(());
            };
            let row = one(p)?;
            println!("sensitivity: {}: {}", p.id, row.describe());
            let mut rows = rows
                .lock()
                .map_err(|_| Error::Other("a sensitivity worker panicked".into()))?;
            rows[i] = Some(row);
            save(&rows)?;
        }
        Ok(())
    };
    let jobs = request.jobs.clamp(1, planned.len().max(1));
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = (0..jobs).map(|_| scope.spawn(worker)).collect();
        for w in workers {
            w.join()
                .map_err(|_| Error::Other("a sensitivity worker panicked".into()))??;
        }
        Ok(())
    })?;
    result.rows = rows
        .into_inner()
        .map_err(|_| Error::Other("a sensitivity worker panicked".into()))?
        .into_iter()
        .flatten()
        .collect();
    result.save(&request.dir)?;
    Ok(result)
}
