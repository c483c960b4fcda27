//! Evidence records: one per check, the failure message, many writers at once.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use readiness_core::{Category, Check, Evidence, Quantity, Threshold, Verdict};

fn read_records(dir: &Path) -> Vec<(String, serde_json::Result<Evidence>)> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("evidence dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable evidence file");
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "{} ends mid-line",
            file.display()
        );
        for line in text.lines() {
            out.push((line.to_owned(), serde_json::from_str(line)));
        }
    }
    out
}

fn latency_check(dir: &Path) -> Check {
    Check::new(
        "test.latency",
        "p95 latency under 500ms",
        Category::PERFORMANCE,
    )
    .with_threshold(Threshold::at_most(Quantity::millis(500.0)).expect("valid"))
    .with_scenario("constant arrival rate 200/s for 30s")
    .with_target("GET http://127.0.0.1:49213/orders")
    .with_evidence_dir(dir)
}

#[test]
fn a_passing_and_a_failing_check_each_leave_one_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pass = latency_check(dir.path())
        .judge(Quantity::millis(41.0))
        .expect("41ms passes");
    assert_eq!(pass.verdict, Verdict::Pass);
    let records = read_records(dir.path());
    assert_eq!(records.len(), 1);

    let failure = latency_check(dir.path())
        .judge(Quantity::millis(812.4))
        .expect_err("812ms fails");
    assert_eq!(failure.verdict(), Verdict::Fail);
    assert!(failure.cause().is_none());
    let records = read_records(dir.path());
    assert_eq!(records.len(), 2);
    let written: Vec<Evidence> = records
        .into_iter()
        .map(|(_, r)| r.expect("parses"))
        .collect();
    assert_eq!(written[0], pass);
    assert_eq!(&written[1], failure.evidence());
    assert_eq!(written[1].observed, Some(Quantity::millis(812.4)));
    assert!((written[1].margin.expect("margin") - 1.6248).abs() < 1e-9);
    assert_eq!(written[1].context.pid, Some(std::process::id()));
    assert!(written[1].context.started_at <= written[1].context.finished_at);
    assert_eq!(
        written[1].context.test.as_deref(),
        Some("a_passing_and_a_failing_check_each_leave_one_record")
    );
}

/// The failure block, with the evidence directory and pid redacted.
fn redacted(failure: &readiness_core::Failure, dir: &Path) -> String {
    failure
        .to_string()
        .replace(&dir.display().to_string(), "[dir]")
        .replace(&std::process::id().to_string(), "[pid]")
}

#[test]
fn the_failure_message_tells_the_whole_story() {
    let dir = tempfile::tempdir().expect("tempdir");
    let failure = latency_check(dir.path())
        .with_summary("p95 812.4ms  (p50 41ms, p99 1.92s, max 2.31s; 12,004 requests, 0.8% errors)")
        .with_hint("look at the slowest route in the attached histogram")
        .judge(Quantity::millis(812.4))
        .expect_err("fails");
    insta::assert_snapshot!("missed_latency", redacted(&failure, dir.path()));

    let failure = Check::new(
        "test.throughput",
        "at least 200 requests/s",
        Category::CAPACITY,
    )
    .with_threshold(Threshold::at_least(Quantity::per_second(200.0)).expect("valid"))
    .with_evidence_dir(dir.path())
    .judge(Quantity::per_second(150.0))
    .expect_err("fails");
    insta::assert_snapshot!("missed_throughput", redacted(&failure, dir.path()));
}

#[test]
fn a_check_that_cannot_run_records_verdict_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let failure = latency_check(dir.path()).error(readiness_core::Error::TargetRefused {
        target: "127.0.0.1:1".into(),
        reason: "connection refused".into(),
    });
    assert_eq!(failure.verdict(), Verdict::Error);
    assert!(failure.cause().is_some());
    insta::assert_snapshot!("setup_error", redacted(&failure, dir.path()));
    let records = read_records(dir.path());
    let written = records[0].1.as_ref().expect("parses");
    assert_eq!(written.verdict, Verdict::Error);
    assert_eq!(
        written.error.as_deref(),
        Some("target 127.0.0.1:1 refused: connection refused")
    );
    assert_eq!(written.observed, None);

    let mismatched = latency_check(dir.path())
        .judge(Quantity::count(3))
        .expect_err("wrong unit");
    assert_eq!(mismatched.verdict(), Verdict::Error);
    assert!(
        mismatched
            .to_string()
            .contains("is a count but the threshold \"at most 500ms\" needs a duration")
    );
}

#[test]
#[should_panic(
    expected = "readiness criterion failed: test.latency (p95 latency under 500ms); evidence: "
)]
fn assert_panics_with_the_headline() {
    let dir = tempfile::tempdir().expect("tempdir");
    latency_check(dir.path()).assert(Quantity::millis(900.0));
}

/// How many records each writer process writes, from 4 threads at once.
const RECORDS_PER_WRITER: usize = 100;
const THREADS_PER_WRITER: usize = 4;

/// Writes `RECORDS_PER_WRITER` records from 4 threads into `READINESS_TEST_DIR` (a fresh
/// temporary directory when unset) and checks that each reads back whole. The test below
/// also runs it as 64 processes at once.
#[test]
fn writer_threads_lose_no_record() {
    let own = tempfile::tempdir().expect("tempdir");
    let dir = std::env::var_os("READINESS_TEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| own.path().to_owned());
    let writer = std::env::var("READINESS_TEST_WRITER").unwrap_or_else(|_| "solo".into());
    std::thread::scope(|s| {
        for t in 0..THREADS_PER_WRITER {
            let (dir, writer) = (&dir, &writer);
            s.spawn(move || {
                for i in (t..RECORDS_PER_WRITER).step_by(THREADS_PER_WRITER) {
                    Check::new("test.writers", "many writers", Category::RELIABILITY)
                        .with_threshold(Threshold::at_least(Quantity::count(0)).expect("valid"))
                        .with_scenario(format!("{writer}/{i}"))
                        .with_evidence_dir(dir)
                        .judge(Quantity::count(i as u64))
                        .expect("passes");
                }
            });
        }
    });
    if std::env::var_os("READINESS_TEST_DIR").is_none() {
        let records = read_records(&dir);
        assert_eq!(records.len(), RECORDS_PER_WRITER);
        assert!(records.iter().all(|(_, r)| r.is_ok()));
    }
}

#[test]
fn sixty_four_processes_writing_at_once_lose_no_record_and_corrupt_no_line() {
    const WRITERS: usize = 64;
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..WRITERS)
        .map(|w| {
            Command::new(&exe)
                .args([
                    "writer_threads_lose_no_record",
                    "--exact",
                    "--test-threads=1",
                    "-q",
                ])
                .env("READINESS_TEST_DIR", dir.path())
                .env("READINESS_TEST_WRITER", format!("w{w}"))
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn writer")
        })
        .collect();
    for mut child in children {
        assert!(
            child.wait().expect("writer exits").success(),
            "a writer failed"
        );
    }
    let records = read_records(dir.path());
    assert_eq!(
        records.len(),
        WRITERS * RECORDS_PER_WRITER,
        "records lost or duplicated"
    );
    let mut seen = HashSet::new();
    for (line, parsed) in &records {
        let evidence = parsed
            .as_ref()
            .unwrap_or_else(|e| panic!("corrupt line {line:?}: {e}"));
        assert!(
            seen.insert(evidence.context.scenario.clone().expect("scenario")),
            "duplicate {line}"
        );
    }
    for w in 0..WRITERS {
        for i in 0..RECORDS_PER_WRITER {
            assert!(seen.contains(&format!("w{w}/{i}")), "missing w{w}/{i}");
        }
    }
}
