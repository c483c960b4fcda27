//! The main job: the readiness review of the reference service. It runs the review's tests
//! (`tests/review_*.rs`: availability, performance, security, monitoring, continuity,
//! documentation; each
//! starts PostgreSQL, Redis and the service in containers of its own) under nextest's
//! `review` profile, as one run, then prints the scorecard of that run and writes the
//! report (Markdown, HTML, JSON, JUnit) with `readiness.toml`'s categories and go / no-go
//! rules.
//!
//! Exit code: 0 go, 1 no-go, 2 the tests could not run or the report could not be made.
//!
//! ```sh
//! images/with-local-images cargo run -p readiness-examples --bin readiness-run
//! images/with-local-images cargo run -p readiness-examples --bin readiness-run -- --quick
//! ```
//!
//! `--quick` runs the subset a person runs while working (the dependencies start, the
//! reads under load, the security criteria, the documentation; under a minute) and judges it with
//! `readiness-quick.toml`. `READINESS_RUN_DEFECT=slow_search` (any defect of the reference
//! service, comma-separated) runs the review against a broken service, to see a no-go.
#![expect(
    clippy::print_stdout,
    reason = "a command-line program reports on stdout"
)]

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use readiness::report::{Decision, Format, Options, Run, make, write_outputs};

/// The tests of the quick subset (a nextest filterset).
const QUICK: &str = "binary(review_availability) & test(/postgres|ready_within/) \
    | binary(review_performance) & test(normal_load) \
    | binary(review_security) & test(security_criteria_hold) \
    | binary(review_documentation)";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn main() -> ExitCode {
    let quick = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--quick") => true,
        Some(other) => {
            println!("readiness-run: unknown argument {other:?}; the only option is --quick");
            return ExitCode::from(2);
        }
    };
    let run = readiness::run_id().to_owned();
    let what = if quick { "quick subset" } else { "review" };
    println!("readiness run {run}: the reference service ({what})");
    if let Err(e) = run_tests(&run, quick) {
        println!("readiness-run: {e}");
        return ExitCode::from(2);
    }
    match scorecard(&run, quick) {
        Ok(Decision::Go) => ExitCode::SUCCESS,
        Ok(Decision::NoGo) => ExitCode::from(1),
        Err(e) => {
            println!("readiness: the report could not be made: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs the review's tests under nextest, every process with `READINESS_RUN_ID=run`: one
/// run for the report. A failed test is the report's to judge; tests that could not be
/// built or run are an error.
fn run_tests(run: &str, quick: bool) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(&cargo);
    command
        .current_dir(workspace_root())
        // The whole workspace, as the tests command builds it: one build serves both.
        .args(["nextest", "run", "--workspace", "--profile", "review"])
        .env("READINESS_RUN_ID", run);
    if quick {
        command.args(["-E", QUICK]);
    }
    let status = command.status().map_err(|e| {
        format!("could not start `{cargo} nextest` ({e}); install it: cargo install --locked cargo-nextest")
    })?;
    // nextest: 0 every test passed, 100 some failed (the report says which and why).
    match status.code() {
        Some(0 | 100) => Ok(()),
        _ => Err(format!(
            "the review's tests could not run (`cargo nextest run --profile review` ended with {status}); \
             see its output above"
        )),
    }
}

/// Makes the scorecard of this run's evidence, prints it and writes the report next to the
/// evidence (target/readiness/report by default).
fn scorecard(run: &str, quick: bool) -> readiness::Result<Decision> {
    let dir = readiness::settings::evidence_dir()?;
    let mut options = Options::new(&dir);
    // The workspace's readiness.toml: the criteria of this run, which `readiness report`
    // reads too.
    let config = if quick {
        "readiness-quick.toml"
    } else {
        "readiness.toml"
    };
    options.config = Some(workspace_root().join(config));
    options.run = Run::Id(run.to_owned());
    let card = make(&options)?;
    println!();
    print!(
        "{}",
        Format::Terminal.render(&card, std::io::stdout().is_terminal())
    );
    let formats = [Format::Markdown, Format::Html, Format::Json, Format::Junit];
    for p in write_outputs(&card, &formats, &dir.join("report"))? {
        println!("report: {}", p.display());
    }
    let verdict = if card.verdict == Decision::Go {
        "go"
    } else {
        "no-go"
    };
    println!("verdict: {verdict}");
    Ok(card.verdict)
}
