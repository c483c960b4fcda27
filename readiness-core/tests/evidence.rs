//! Evidence records: one per check, the failure message, many writers at once.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use std::time::Duration;

use readiness_core::{
    Category, Check, Combine, Count, Error, Evidence, LatencyHistogram, Observation, Percentile,
    Quantity, Rate, Recorder, Threshold, Timeline, TimelineSecond, Verdict,
};

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
    .with_threshold(Threshold::at_most(Duration::from_millis(500)))
    .with_scenario("constant arrival rate 200/s for 30s")
    .with_target("GET http://127.0.0.1:49213/orders")
    .with_recorder(Recorder::new(dir))
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
        .with_summary("p50 41ms, p99 1.92s, max 2.31s; 12,004 requests, 0.8% errors")
        .with_hint("look at the slowest route in the attached histogram")
        .judge(Quantity::millis(812.4))
        .expect_err("fails");
    insta::assert_snapshot!("missed_latency", redacted(&failure, dir.path()));

    let failure = Check::new(
        "test.throughput",
        "at least 200 requests/s",
        Category::CAPACITY,
    )
    .with_threshold(Threshold::at_least(
        Rate::per_second(200.0).expect("a valid rate"),
    ))
    .with_recorder(Recorder::new(dir.path()))
    .judge(Quantity::per_second(150.0))
    .expect_err("fails");
    insta::assert_snapshot!("missed_throughput", redacted(&failure, dir.path()));
}

#[test]
fn a_check_that_cannot_run_records_verdict_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let failure = latency_check(dir.path()).error(Error::TargetRefused {
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

#[test]
#[should_panic(expected = "2 of 3 readiness criteria did not pass:\n  \
readiness criterion failed: test.latency (p95 latency under 500ms)\n  \
readiness check could not run: test.latency (p95 latency under 500ms)")]
fn verdicts_record_every_criterion_and_fail_once_with_all_failures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut all = readiness_core::Verdicts::new();
    all.add(latency_check(dir.path()).judge(Quantity::millis(900.0)));
    all.add(latency_check(dir.path()).judge(Quantity::millis(40.0)));
    all.add(Err(
        latency_check(dir.path()).nothing_measured("no request answered")
    ));
    assert_eq!(all.judged(), 3);
    assert_eq!(all.failures().len(), 2);
    // Every criterion left its record, the ones after a failure too.
    assert_eq!(read_records(dir.path()).len(), 3);
    all.assert_all();
}

#[test]
fn verdicts_with_every_criterion_passed_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut all = readiness_core::Verdicts::new();
    all.add(latency_check(dir.path()).judge(Quantity::millis(40.0)));
    all.assert_all();
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
                        .with_threshold(Threshold::at_least(Count(0)))
                        .with_scenario(format!("{writer}/{i}"))
                        .with_recorder(Recorder::new(dir))
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

#[tokio::test]
async fn a_setup_error_inside_run_is_verdict_error_reached_with_a_question_mark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let failure = latency_check(dir.path())
        .run(async {
            let port: u16 = "not a port"
                .parse()
                .map_err(|e| Error::InvalidInput(format!("the service printed no port: {e}")))?;
            Ok(Quantity::millis(f64::from(port)))
        })
        .await
        .expect_err("setup failed");
    assert_eq!(failure.verdict(), Verdict::Error);
    assert!(failure.to_string().contains("the service printed no port"));

    let passed = latency_check(dir.path())
        .run(async {
            Ok(Observation::new(Duration::from_millis(41))
                .with_target("GET http://127.0.0.1:1/known-late")
                .with_summary("one request"))
        })
        .await
        .expect("41ms passes");
    assert_eq!(
        passed.context.target.as_deref(),
        Some("GET http://127.0.0.1:1/known-late")
    );
    assert_eq!(passed.summary.as_deref(), Some("one request"));
    let measured = latency_check(dir.path())
        .measure(|| Ok(Duration::from_millis(900)))
        .expect_err("900ms misses");
    assert_eq!(measured.verdict(), Verdict::Fail);
}

#[test]
fn nothing_measured_is_an_error_never_a_pass_or_a_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let failure = latency_check(dir.path()).nothing_measured("no iteration succeeded: 40 timeouts");
    assert_eq!(failure.verdict(), Verdict::Error);
    insta::assert_snapshot!("nothing_measured", redacted(&failure, dir.path()));
}

#[test]
fn a_bound_decides_only_what_it_can() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Waited 31s and the service was still not ready: it is at least 31s, over 30s.
    let late = Check::new("svc.ready", "ready within 30s", Category::RELIABILITY)
        .with_threshold(Threshold::at_most(Duration::from_secs(30)))
        .with_recorder(Recorder::new(dir.path()))
        .judge(Observation::at_least(Duration::from_secs(31)))
        .expect_err("fails");
    assert_eq!(late.verdict(), Verdict::Fail);
    insta::assert_snapshot!("lower_bound_miss", redacted(&late, dir.path()));
    // Waited 20s only: that cannot show "at most 30s" either way.
    let open = Check::new("svc.ready", "ready within 30s", Category::RELIABILITY)
        .with_threshold(Threshold::at_most(Duration::from_secs(30)))
        .with_recorder(Recorder::new(dir.path()))
        .judge(Observation::at_least(Duration::from_secs(20)))
        .expect_err("undecided");
    assert_eq!(open.verdict(), Verdict::Error);
    assert!(open.to_string().contains("cannot decide"), "{open}");
    // An upper bound under a minimum is a miss; over it, undecided.
    let cap = |q: f64| {
        Check::new("load.capacity", "at least 100/s", Category::CAPACITY)
            .with_threshold(Threshold::at_least(Rate::per_second(100.0).expect("rate")))
            .with_recorder(Recorder::new(dir.path()))
            .judge(Observation::at_most(Quantity::per_second(q)))
    };
    assert_eq!(cap(50.0).err().map(|f| f.verdict()), Some(Verdict::Fail));
    assert_eq!(cap(200.0).err().map(|f| f.verdict()), Some(Verdict::Error));
    for (_, record) in read_records(dir.path()) {
        let record = record.expect("parses");
        assert_eq!(record.verify(), Ok(()), "{:?}", record.criterion);
    }
}

/// A p95 record judged on a histogram of `us`; `observed` replaces the p95 the histogram
/// gives, as a writer with a bug (or a hand edit) would.
fn latency_record(dir: &Path, us: &[u64], observed: Option<Quantity>) -> Evidence {
    let mut h = readiness_core::histogram::new_latency();
    for v in us {
        h.record(*v).expect("in range");
    }
    let p95 = Quantity::duration(Duration::from_micros(h.value_at_quantile(0.95)));
    let failure_or_pass = Check::new("load.p95", "p95 under 12ms", Category::PERFORMANCE)
        .with_subject("get/load.p95")
        .with_threshold(Threshold::at_most(Duration::from_millis(12)))
        .with_combine(Combine::LatencyDistribution {
            percentile: Percentile::P95,
        })
        .with_attachment(LatencyHistogram::new(
            "get",
            readiness_core::EncodedHistogram::encode(&h),
        ))
        .with_recorder(Recorder::new(dir))
        .judge(observed.unwrap_or(p95));
    match failure_or_pass {
        Ok(e) => e,
        Err(f) => f.evidence().clone(),
    }
}

#[test]
fn a_record_is_judged_again_from_its_own_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let honest = latency_record(dir.path(), &[5_000; 100], None);
    assert_eq!(honest.verdict, Verdict::Pass);
    assert_eq!(honest.verify(), Ok(()));

    // Edited after the fact: observed 17.7ms over a 12ms limit, verdict still pass.
    let mut edited = honest.clone();
    edited.observed = Some(Quantity::millis(17.7));
    let why = edited.verify().expect_err("disagrees");
    assert!(
        why.contains("verdict pass, but observed 17.7ms does not meet the threshold"),
        "{why}"
    );
    // A negative latency is not a measurement.
    let mut negative = honest.clone();
    negative.observed = Some(Quantity::millis(-3.0));
    assert!(
        negative
            .verify()
            .expect_err("negative")
            .contains("cannot be negative")
    );
    // The verdict agrees with the limit, but not with the histogram behind it.
    let mut forged = honest.clone();
    forged.observed = Some(Quantity::millis(1.0));
    let why = forged.verify().expect_err("histogram says 5ms");
    assert!(
        why.contains("observed p95 1000µs, but its histogram of 100 samples gives 5003µs"),
        "{why}"
    );
    // A proportion must be its counts, and its timeline's.
    let mut h = readiness_core::histogram::new_latency();
    h.record(1_000).expect("in range");
    let second = TimelineSecond::new(
        0,
        90,
        std::collections::BTreeMap::from([("5xx".to_owned(), 10)]),
        readiness_core::EncodedHistogram::encode(&h),
    );
    let rate = Check::new("load.error_rate", "errors under 20%", Category::RELIABILITY)
        .with_threshold(Threshold::at_most(
            readiness_core::Ratio::new(0.2).expect("ratio"),
        ))
        .with_combine(Combine::Proportion {
            events: 10,
            trials: 100,
        })
        .with_attachment(Timeline::new("get", vec![second]))
        .with_recorder(Recorder::new(dir.path()))
        .judge(Quantity::ratio(0.1))
        .expect("10% is under 20%");
    assert_eq!(rate.verify(), Ok(()));
    let mut lied = rate.clone();
    lied.combine = Combine::Proportion {
        events: 1,
        trials: 100,
    };
    lied.observed = Some(Quantity::ratio(0.01));
    assert!(
        lied.verify()
            .expect_err("timeline says 10")
            .contains("its timeline 10 of 100")
    );
}

#[test]
fn an_alert_latency_is_the_notification_its_timeline_shows() {
    use readiness_core::{AlertEvent, AlertState, AlertTimeline};
    let dir = tempfile::tempdir().expect("tempdir");
    let timeline = AlertTimeline::new(
        "ErrorsHigh",
        (
            "error ratio 50%".to_owned(),
            time::OffsetDateTime::now_utc(),
        ),
        Duration::ZERO,
        (
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_millis(200),
        ),
        Some("pager".to_owned()),
        vec![
            AlertEvent::new(0.0, AlertState::Induced),
            AlertEvent::new(1_100.0, AlertState::Firing),
            AlertEvent::new(900.0, AlertState::Notified).with_receiver("chat"),
            AlertEvent::new(1_350.0, AlertState::Notified).with_receiver("pager"),
        ],
    );
    assert_eq!(timeline.first(AlertState::Notified), Some(1_350.0));
    let honest = Check::new(
        "obs.alert_fires",
        "fires within 15s",
        Category::OBSERVABILITY,
    )
    .with_threshold(Threshold::at_most(Duration::from_secs(15)))
    .with_attachment(timeline)
    .with_recorder(Recorder::new(dir.path()))
    .judge(Duration::from_millis(1_350))
    .expect("1.35 s is within 15 s");
    assert_eq!(honest.verify(), Ok(()));
    let mut edited = honest.clone();
    edited.observed = Some(Quantity::millis(900.0));
    let why = edited
        .verify()
        .expect_err("900 ms was the chat notification");
    assert!(
        why.contains("but its timeline has notifications at [1350.0] ms"),
        "{why}"
    );
}
