//! `readiness`: the scorecard of a test run, baselines, secrets in what a run wrote, and
//! clean-up of left-over containers. It reaches the library (readiness-report) only through its public API.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod criteria;
mod push;
mod sensitivity;
use readiness_report::{
    BaselinePolicy, Change, Decision, Format, Options, Run, make, write_outputs,
};

const EXIT_CODES: &str = "\
Exit codes:
  0  go (report), no regression (baseline compare), done (baseline save, clean)
  1  no-go (report), a regression (baseline compare --strict)
  2  the report could not be made: bad input, bad config, unreadable evidence; nothing was
     written (report --push: also when the push failed, after the files were written)";

const SENSITIVITY_EXIT_CODES: &str = "\
Exit codes:
  0  every run done (and the score at least --min-score)
  1  the score is below --min-score
  2  it could not run: the command, the config, a clean run that is no-go or did not finish;
     or --min-score was given and no mutant ran (nothing to score)";

const SCAN_EXIT_CODES: &str = "\
Exit codes:
  0  no secret in any file
  1  a secret in some file (each listed masked)
  2  the scan could not be made: a path or the config could not be read";

/// Production-readiness scorecards from the evidence of a test run.
#[derive(Debug, Parser)]
#[command(name = "readiness", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Makes the scorecard of an evidence directory and prints the verdict.
    #[command(after_help = EXIT_CODES)]
    Report {
        /// The evidence directory (default: $READINESS_DIR or target/readiness/evidence).
        dir: Option<PathBuf>,
        /// readiness.toml with a [report] table (default: $READINESS_CONFIG, else
        /// readiness.toml at the workspace root, else built-in defaults).
        #[arg(long)]
        config: Option<PathBuf>,
        /// A baseline file to compare with (see --baseline-policy; default:
        /// READINESS_BASELINE, else no comparison).
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// compare: show the comparison; strict: a regression is no-go; save: write this
        /// run as the baseline (the only way `report` writes one).
        #[arg(long, value_enum, default_value_t = Policy::Compare)]
        baseline_policy: Policy,
        /// Comma-separated: terminal, md, html, json, junit, openmetrics (scorecard.prom).
        #[arg(long, default_value = "terminal,md,html,json,junit,openmetrics")]
        format: String,
        /// A Prometheus Pushgateway (`http://host:9091`) the scorecard is pushed to as
        /// OpenMetrics text, replacing the group of --push-job (default:
        /// $READINESS_PUSHGATEWAY, else no push).
        #[arg(long, value_name = "URL")]
        push: Option<String>,
        /// The Pushgateway job the scorecard is pushed as (its grouping key).
        #[arg(long, default_value = "readiness", value_name = "JOB")]
        push_job: String,
        /// Where the files go (default: target/readiness/report).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Which run: `latest` (the run of the newest record: one cargo test, one nextest
        /// run, one CI workflow run or one READINESS_RUN_ID, with the shards of its loads
        /// that processes without a shared run id wrote; the directory keeps earlier runs
        /// too), `all` (every record), or a run id.
        #[arg(long, default_value = "latest")]
        run: String,
    },
    /// Saves or compares baselines.
    #[command(subcommand, after_help = EXIT_CODES)]
    Baseline(BaselineCommand),
    /// Finds secrets in what a run wrote (evidence, reports, JUnit files): every line of
    /// every file under PATHS through gitleaks-format rules. Prints each secret masked, as
    /// `path:line: rule «type fingerprint»`; exit 1 when any is found.
    #[command(after_help = SCAN_EXIT_CODES)]
    ScanSecrets {
        /// Files or directories (walked whole; a path that does not exist is an error).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// A gitleaks configuration (`.gitleaks.toml`; `[extend] useDefault = true` adds
        /// ours); default: readiness's own rules.
        #[arg(long)]
        config: Option<PathBuf>,
        /// A value the run used as a secret (a token), found wherever it appears;
        /// repeatable.
        #[arg(long = "secret", value_name = "VALUE")]
        secrets: Vec<String>,
    },
    /// Lists the criteria the harness defines: id, category, kind of limit, and the failure
    /// each catches. With --census, which of them a test run saw pass, fail and error.
    Criteria {
        /// A census written by tests run with READINESS_VERDICT_CENSUS=FILE: prints each
        /// criterion's verdict counts and exits 1 when one was not seen both to pass and to
        /// fail.
        #[arg(long, value_name = "FILE")]
        census: Option<PathBuf>,
    },
    /// Runs the suite once clean and once per operational mutant (a dependency slow,
    /// flaky, cut, starved, killed, paused, restarted or slow to start; the service with
    /// half its memory or CPUs, killed or stopped under load) and per mutant
    /// `[[sensitivity.mutant]]` declares; says which the suite caught (its run no-go) and,
    /// for each it missed, the criteria that would have caught it. Saves sensitivity.json
    /// in the evidence directory and a log per run in its sensitivity/.
    #[command(after_help = SENSITIVITY_EXIT_CODES)]
    Sensitivity {
        /// The evidence directory every run writes to (default: $READINESS_DIR or
        /// target/readiness).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// readiness.toml with the [report] and [sensitivity] tables.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Comma-separated ids: only these mutants (default: all).
        #[arg(long, value_name = "IDS")]
        mutants: Option<String>,
        /// The bound of one run, in seconds (default: [sensitivity] timeout_secs, else 1800).
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
        /// Exit 1 when fewer than this share of the mutants run were caught (0..=1).
        #[arg(long, value_name = "RATIO")]
        min_score: Option<f64>,
        /// How many mutants' runs at once, each with its own run id and containers (the
        /// clean run goes first, alone). More than 1 only where the machine has room: a
        /// busy machine makes timing criteria fail that would pass, and a mutant look
        /// caught that was not.
        #[arg(long, default_value_t = 1, value_name = "N")]
        jobs: usize,
        /// The suite's command (default: [sensitivity] command, else cargo nextest run
        /// --workspace).
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Removes containers left behind by killed runs: those labelled
    /// org.readiness.harness=readiness whose test process (org.readiness.pid) is gone.
    Clean {
        /// Every container of this run id (org.readiness.run), running or not.
        #[arg(long, conflicts_with = "all")]
        run: Option<String>,
        /// Every readiness container, also of tests still running.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BaselineCommand {
    /// Saves the run in DIR as the baseline FILE.
    Save {
        /// The evidence directory.
        dir: Option<PathBuf>,
        /// The baseline file to write.
        #[arg(long)]
        file: PathBuf,
        /// Replace an existing baseline file.
        #[arg(long)]
        force: bool,
        /// Which run (see `report --run`).
        #[arg(long, default_value = "latest")]
        run: String,
    },
    /// Compares the run in DIR with the baseline FILE.
    Compare {
        /// The evidence directory.
        dir: Option<PathBuf>,
        /// The baseline file.
        #[arg(long)]
        file: PathBuf,
        /// readiness.toml (for [report.baseline] noise).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Exit 1 when anything regressed or was not checked.
        #[arg(long)]
        strict: bool,
        /// Which run (see `report --run`).
        #[arg(long, default_value = "latest")]
        run: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Policy {
    Compare,
    Strict,
    Save,
}

fn evidence_dir(dir: Option<PathBuf>) -> Result<PathBuf, readiness_core::Error> {
    match dir {
        Some(d) => Ok(d),
        None => readiness_core::settings::evidence_dir(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("readiness: {e}");
            ExitCode::from(2)
        }
    }
}

#[expect(clippy::print_stdout, reason = "the CLI prints its results")]
fn run(cli: Cli) -> Result<ExitCode, readiness_core::Error> {
    match cli.command {
        Command::Report {
            dir,
            config,
            baseline,
            baseline_policy,
            format,
            out,
            run,
            push,
            push_job,
        } => {
            let formats = Format::parse_list(&format)?;
            let push = match push {
                Some(p) => Some(p),
                None => readiness_core::settings::get("READINESS_PUSHGATEWAY")?
                    .filter(|p| !p.is_empty()),
            };
            let baseline = match baseline {
                Some(b) => Some(b),
                None => readiness_core::settings::get("READINESS_BASELINE")?
                    .filter(|b| !b.is_empty())
                    .map(PathBuf::from),
            };
            if baseline.is_none() && !matches!(baseline_policy, Policy::Compare) {
                return Err(readiness_core::Error::InvalidInput(
                    "--baseline-policy strict or save needs a baseline file: pass --baseline \
                     FILE or set READINESS_BASELINE"
                        .into(),
                ));
            }
            let policy = match baseline_policy {
                Policy::Compare => BaselinePolicy::Compare,
                Policy::Strict => BaselinePolicy::Strict,
                Policy::Save => BaselinePolicy::Save,
            };
            let options = Options {
                dir: evidence_dir(dir)?,
                config,
                baseline: baseline.clone().map(|b| (b, policy)),
                run: Run::parse(&run),
            };
            let card = make(&options)?;
            let out = out.unwrap_or_else(|| {
                readiness_core::settings::target_dir()
                    .join("readiness")
                    .join("report")
            });
            let written = write_outputs(&card, &formats, &out)?;
            if formats.contains(&Format::Terminal) {
                print!(
                    "{}",
                    Format::Terminal.render(&card, std::io::stdout().is_terminal())
                );
            }
            for path in written {
                println!("wrote {}", path.display());
            }
            if let (Some(b), BaselinePolicy::Save) = (baseline, policy) {
                println!("wrote baseline {}", b.display());
            }
            if let Some(gateway) = push {
                let url = push::to_gateway(&gateway, &push_job, &card)?;
                println!("pushed the scorecard to {url}");
            }
            let code = match card.verdict {
                Decision::Go => ExitCode::SUCCESS,
                Decision::NoGo => ExitCode::from(1),
            };
            // The process ends here: freeing a million-record scorecard piece by piece
            // would only cost time.
            std::mem::forget(card);
            Ok(code)
        }
        Command::Baseline(BaselineCommand::Save {
            dir,
            file,
            force,
            run,
        }) => {
            if file.exists() && !force {
                return Err(readiness_core::Error::InvalidInput(format!(
                    "{} exists; pass --force to replace the baseline",
                    file.display()
                )));
            }
            // The run is judged as a report judges it (records checked against their own
            // numbers) before it becomes the baseline.
            let mut options = Options::new(evidence_dir(dir)?);
            options.baseline = Some((file.clone(), BaselinePolicy::Save));
            options.run = Run::parse(&run);
            let card = make(&options)?;
            println!(
                "wrote baseline {} ({} criteria of run {})",
                file.display(),
                card.criteria().count(),
                run
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Baseline(BaselineCommand::Compare {
            dir,
            file,
            config,
            strict,
            run,
        }) => {
            let mut options = Options::new(evidence_dir(dir)?);
            options.config = config;
            options.baseline = Some((file, BaselinePolicy::Compare));
            options.run = Run::parse(&run);
            let card = make(&options)?;
            let comparisons = card.baseline.unwrap_or_default();
            for c in &comparisons {
                println!(
                    "{:<14} {:<20} {:<40} {}",
                    c.change.to_string(),
                    c.id,
                    c.test,
                    c.detail
                );
            }
            let count = |change: Change| comparisons.iter().filter(|c| c.change == change).count();
            let (regressed, missing) = (count(Change::Regressed), count(Change::Missing));
            println!(
                "{regressed} regressed, {missing} not checked, of {} compared",
                comparisons.len()
            );
            Ok(if strict && regressed + missing > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::ScanSecrets {
            paths,
            config,
            secrets,
        } => {
            let rules = match config {
                Some(c) => readiness_security::Rules::read(&c)?,
                None => readiness_security::Rules::defaults(),
            };
            let scan = readiness_security::scan_files(&rules, &secrets, &paths)?;
            for f in &scan.findings {
                println!("{}:{}: {}: {}", f.path.display(), f.line, f.rule, f.masked);
            }
            println!(
                "{} secrets in {} files ({} lines, {} bytes)",
                scan.findings.len(),
                scan.files,
                scan.lines,
                scan.bytes
            );
            Ok(if scan.findings.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Criteria { census: None } => {
            print!("{}", criteria::table());
            Ok(ExitCode::SUCCESS)
        }
        Command::Criteria { census: Some(file) } => {
            let (table, missing) = criteria::census_table(&criteria::read_census(&file)?);
            print!("{table}");
            if missing.is_empty() {
                println!("every criterion was seen to pass and to fail");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("not seen both to pass and to fail: {}", missing.join(", "));
                Ok(ExitCode::from(1))
            }
        }
        Command::Sensitivity {
            dir,
            config,
            mutants,
            timeout,
            min_score,
            jobs,
            command,
        } => {
            if let Some(m) = min_score {
                readiness_report::Sensitivity::check_min_score(m)?;
            }
            let result = sensitivity::run(&sensitivity::Request {
                dir: evidence_dir(dir)?,
                config,
                command,
                only: mutants,
                timeout: timeout.map(std::time::Duration::from_secs),
                jobs,
            })?;
            print!("{}", result.markdown());
            let Some(min) = min_score else {
                return Ok(ExitCode::SUCCESS);
            };
            let judged = result.judge_score(min)?;
            println!("{}: {}", judged.verdict, judged.message);
            Ok(match judged.verdict {
                readiness_core::Verdict::Pass => ExitCode::SUCCESS,
                readiness_core::Verdict::Fail => ExitCode::from(1),
                readiness_core::Verdict::Error => ExitCode::from(2),
            })
        }
        Command::Clean { run, all } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| readiness_core::Error::Other(format!("no tokio runtime: {e}")))?;
            use readiness_core::containers::{Leftovers, remove_containers};
            let which = match (run, all) {
                (Some(id), _) => Leftovers::OfRun(id),
                (None, true) => Leftovers::All,
                (None, false) => Leftovers::OfDeadProcesses,
            };
            let removed = runtime.block_on(remove_containers(which))?;
            println!("removed {removed} readiness containers");
            Ok(ExitCode::SUCCESS)
        }
    }
}
