//! The defect matrix: the readiness review (`readiness-run`, the `review_*` tests under
//! nextest, then the report) once on the healthy reference
//! service and once per defect switched on. A defect is caught when the review says no-go,
//! every criterion meant to catch it failed, and every other criterion still passed; the
//! healthy row must be go with nothing failed. Prints the table (defect → criteria failed,
//! expected vs seen) and writes it to `<evidence dir>/report/defect-matrix.md`.
//!
//! ```sh
//! images/with-local-images cargo run -p readiness-examples --bin defect-matrix [DEFECT ...]
//! ```
//!
//! With no argument, every defect of `reference_service::defects::ALL`. Exit code: 0 every
//! row as expected, 1 some row not, 2 the matrix could not run.
#![expect(
    clippy::print_stdout,
    reason = "a command-line program reports on stdout"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use readiness::report::{Decision, Options, Run, Status, make};
use reference_service::defects::{ALL, CAUGHT_BY};

/// One row: what the review of one service said.
struct Row {
    defect: String,
    expected: Vec<String>,
    verdict: Decision,
    failed: Vec<String>,
    errors: Vec<String>,
    missing: Vec<String>,
    seconds: f64,
}

impl Row {
    /// Expected criteria that did not fail.
    fn not_caught(&self) -> Vec<&str> {
        self.expected
            .iter()
            .filter(|c| !self.failed.contains(c))
            .map(String::as_str)
            .collect()
    }
    /// Failures, errors and missing criteria other than the expected ones.
    fn collateral(&self) -> Vec<String> {
        let failed = self
            .failed
            .iter()
            .filter(|c| !self.expected.contains(c))
            .cloned();
        let errors = self.errors.iter().map(|c| format!("{c} (error)"));
        let missing = self.missing.iter().map(|c| format!("{c} (missing)"));
        failed.chain(errors).chain(missing).collect()
    }
    fn as_expected(&self) -> bool {
        let verdict_ok = if self.expected.is_empty() {
            self.verdict == Decision::Go
        } else {
            self.verdict == Decision::NoGo
        };
        verdict_ok && self.not_caught().is_empty() && self.collateral().is_empty()
    }
}

fn main() -> ExitCode {
    let asked: Vec<String> = std::env::args().skip(1).collect();
    if let Some(unknown) = asked.iter().find(|d| !ALL.contains(&d.as_str())) {
        println!(
            "defect-matrix: unknown defect {unknown:?}; known: {}",
            ALL.join(", ")
        );
        return ExitCode::from(2);
    }
    match run(&asked) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            println!("defect-matrix: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(asked: &[String]) -> readiness::Result<bool> {
    let review = sibling("readiness-run")?;
    let dir = readiness::settings::evidence_dir()?;
    let logs = dir.join("defect-matrix");
    std::fs::create_dir_all(&logs)?;
    let base = readiness::run_id().to_owned();
    let mut rows = Vec::new();
    let defects: Vec<&str> = if asked.is_empty() {
        std::iter::once("").chain(ALL).collect()
    } else {
        asked.iter().map(String::as_str).collect()
    };
    for defect in defects {
        let name = if defect.is_empty() { "healthy" } else { defect };
        let run_id = format!("{base}-{name}");
        println!("defect-matrix: {name} (run {run_id})");
        let started = Instant::now();
        let log = std::fs::File::create(logs.join(format!("{name}.log")))?;
        let status = Command::new(&review)
            .env("READINESS_RUN_DEFECT", defect)
            .env("READINESS_RUN_ID", &run_id)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .status()?;
        if status.code() == Some(2) || status.code().is_none() {
            return Err(readiness::Error::Other(format!(
                "the review of {name} could not make its report ({status}); see {}",
                logs.join(format!("{name}.log")).display()
            )));
        }
        rows.push(row(&dir, defect, &run_id, started.elapsed().as_secs_f64())?);
    }
    let table = table(&rows);
    print!("\n{table}");
    let out = dir.join("report").join("defect-matrix.md");
    readiness::report::write_atomically(&out, table.as_bytes())?;
    println!("defect matrix: {}", out.display());
    Ok(rows.iter().all(Row::as_expected))
}

/// The scorecard of run `run_id`, as a row of the matrix.
fn row(dir: &Path, defect: &str, run_id: &str, seconds: f64) -> readiness::Result<Row> {
    let mut options = Options::new(dir);
    options.config = Some(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../readiness.toml"
    )));
    options.run = Run::Id(run_id.to_owned());
    let card = make(&options)?;
    let ids = |status: Status| {
        // A criterion judged more than once (two drills, two routes) is named once.
        let v: std::collections::BTreeSet<String> = card
            .criteria()
            .filter(|c| c.verdict == status)
            .map(|c| c.id.to_string())
            .collect();
        v.into_iter().collect::<Vec<_>>()
    };
    let expected = CAUGHT_BY
        .iter()
        .find(|(d, _)| *d == defect)
        .map(|(_, c)| c.iter().map(|c| (*c).to_owned()).collect())
        .unwrap_or_default();
    Ok(Row {
        defect: if defect.is_empty() {
            "(healthy)".into()
        } else {
            defect.into()
        },
        expected,
        verdict: card.verdict,
        failed: ids(Status::Fail),
        errors: ids(Status::Error),
        missing: ids(Status::Missing),
        seconds,
    })
}

fn table(rows: &[Row]) -> String {
    let list = |v: &[String]| {
        if v.is_empty() {
            "—".to_owned()
        } else {
            v.join(", ")
        }
    };
    let mut t = String::from(
        "| defect | meant to be caught by | failed | also failed or not measured | verdict | as expected | time |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let verdict = if r.verdict == Decision::Go {
            "go"
        } else {
            "no-go"
        };
        let note = if r.as_expected() {
            "yes".to_owned()
        } else {
            let missed = r.not_caught();
            if missed.is_empty() {
                "no".to_owned()
            } else {
                format!("no: {} did not fail", missed.join(", "))
            }
        };
        t.push_str(&format!(
            "| {} | {} | {} | {} | {verdict} | {note} | {:.0} s |\n",
            r.defect,
            list(&r.expected),
            list(&r.failed),
            list(&r.collateral()),
            r.seconds
        ));
    }
    let caught = rows.iter().filter(|r| r.as_expected()).count();
    t.push_str(&format!("\n{caught} of {} rows as expected.\n", rows.len()));
    t
}

/// A binary built next to this one.
fn sibling(name: &str) -> readiness::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let path = me.with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        Err(readiness::Error::Other(format!(
            "{} is not built; build it first: cargo build -p readiness-examples --bins",
            path.display()
        )))
    }
}
