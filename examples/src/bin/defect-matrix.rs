//! The defect matrix: the readiness review (`readiness-run`, the `review_*` tests under
//! nextest, then the report) once on the healthy reference
//! service and once per defect switched on. A defect is caught when the review says no-go,
//! every criterion meant to catch it failed, and every other criterion still passed; the
//! healthy row must be go with nothing failed. Prints the table (defect → criteria failed,
//! expected vs seen), keeps it beside the evidence (`defect-matrix.json`, which every
//! report of one of its runs shows) and writes the healthy run's report, with the matrix
//! in every format, to `<evidence dir>/report/` (the table alone: `defect-matrix.md`).
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

use readiness::report::{Format, Matrix, MatrixRow, Options, Run, Scorecard, make, write_outputs};
use reference_service::defects::{ALL, CAUGHT_BY};

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
    let defects: Vec<Option<&str>> = if asked.is_empty() {
        std::iter::once(None).chain(ALL.map(Some)).collect()
    } else {
        asked.iter().map(|d| Some(d.as_str())).collect()
    };
    // Saved after every row: a matrix cut short still shows the rows it ran, and a matrix
    // of an earlier invocation is never mixed with this one.
    let mut matrix = Matrix { rows: Vec::new() };
    matrix.save(&dir)?;
    let mut shown_run = None;
    for defect in defects {
        let name = defect.unwrap_or("healthy");
        let run_id = format!("{base}-{name}");
        println!("defect-matrix: {name} (run {run_id})");
        let started = Instant::now();
        let log = std::fs::File::create(logs.join(format!("{name}.log")))?;
        let status = Command::new(&review)
            .env("READINESS_RUN_DEFECT", defect.unwrap_or_default())
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
        let card = scorecard(&dir, &run_id)?;
        let expected = CAUGHT_BY
            .iter()
            .find(|(d, _)| Some(*d) == defect)
            .map_or(&[][..], |(_, c)| *c);
        matrix.rows.push(MatrixRow::of(
            defect,
            expected,
            &card,
            &run_id,
            started.elapsed().as_secs_f64(),
        ));
        matrix.save(&dir)?;
        if shown_run.is_none() || defect.is_none() {
            shown_run = Some(run_id);
        }
    }
    let table = matrix.markdown();
    print!("\n{table}");
    let out = dir.join("report").join("defect-matrix.md");
    readiness::report::write_atomically(&out, table.as_bytes())?;
    println!("defect matrix: {}", out.display());
    // The report of the healthy row (or the first), now with the whole matrix in it: every
    // format, where the review writes its report.
    if let Some(run) = shown_run {
        let card = scorecard(&dir, &run)?;
        let formats = [Format::Markdown, Format::Html, Format::Json, Format::Junit];
        for p in write_outputs(&card, &formats, &dir.join("report"))? {
            println!("report of {run} with the matrix: {}", p.display());
        }
    }
    Ok(matrix.as_expected() == matrix.rows.len())
}

/// The scorecard of run `run_id`, judged by the workspace's readiness.toml.
fn scorecard(dir: &Path, run_id: &str) -> readiness::Result<Scorecard> {
    let mut options = Options::new(dir);
    options.config = Some(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../readiness.toml"
    )));
    options.run = Run::Id(run_id.to_owned());
    make(&options)
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
