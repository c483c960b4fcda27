//! The gate judges the whole run, as a team runs its tests: several test binaries under
//! plain `cargo test`, shard processes of a CI matrix without a shared run id, shards that
//! disagree, records edited to say what their numbers do not. Each test names the setup,
//! what it really produced, and the verdict now.

use std::path::{Path, PathBuf};
use std::process::Command;

use readiness::report::{Decision, FindingKind, Options, Status, make};

/// The target directory this test was built in (`.../target/debug/deps/<test>`), so the
/// fixture builds reuse what is compiled.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("exe");
    exe.ancestors()
        .nth(3)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

/// Variables that tie processes into one run: a test of "no shared run id" has none.
const RUN_VARIABLES: &[&str] = &[
    "READINESS_RUN_ID",
    "NEXTEST_RUN_ID",
    "GITHUB_RUN_ID",
    "CI_PIPELINE_ID",
    "BUILDKITE_BUILD_ID",
    "CIRCLE_WORKFLOW_ID",
    "BUILD_TAG",
    "JOB_COMPLETION_INDEX",
    "READINESS_SHARD",
];

fn without_run_variables(cmd: &mut Command) -> &mut Command {
    for v in RUN_VARIABLES {
        cmd.env_remove(v);
    }
    cmd
}

fn report(dir: &Path) -> readiness::report::Scorecard {
    let config = dir.join("readiness.toml");
    std::fs::write(
        &config,
        "[report.categories]\nperformance = 1\nreliability = 1\n",
    )
    .expect("config");
    let mut options = Options::new(dir.join("evidence"));
    options.config = Some(config);
    make(&options).expect("a scorecard")
}

/// A crate of a user's with two test binaries: `first` fails its p95 (a route answering
/// in 40 ms against a 10 ms limit), `second` passes. Before, each binary had its own run
/// id and the report judged only the one that finished last: GO.
#[test]
fn two_test_binaries_under_plain_cargo_test_are_one_run_and_the_first_fails_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let krate = tmp.path().join("fixture");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/two-binaries");
    std::fs::create_dir_all(&krate).expect("dir");
    for file in ["lib.rs", "first.rs", "second.rs"] {
        std::fs::copy(fixtures.join(file), krate.join(file)).expect("copy");
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository");
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            r#"[package]
name = "fixture"
version = "0.1.0"
edition = "2024"
publish = false

[workspace]

[lib]
path = "lib.rs"

[[test]]
name = "first"
path = "first.rs"

[[test]]
name = "second"
path = "second.rs"

[dependencies]
readiness = {{ path = {repo:?} }}
tokio = {{ version = "1.40", features = ["macros", "rt-multi-thread", "net", "io-util", "time"] }}

[profile.dev]
debug = "line-tables-only"

[profile.dev.package."*"]
debug = false
"#
        ),
    )
    .expect("manifest");
    // The versions this crate was built with: nothing to fetch, little to compile.
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"),
        krate.join("Cargo.lock"),
    )
    .expect("lock");
    let evidence = tmp.path().join("evidence");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = without_run_variables(&mut Command::new(cargo))
        .args(["test", "--offline", "--no-fail-fast", "--manifest-path"])
        .arg(krate.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir())
        .env("READINESS_DIR", &evidence)
        .output()
        .expect("cargo runs");
    // libtest prints a failed test's panic with its stdout.
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "the first binary fails:\n{printed}");
    assert!(
        printed.contains("readiness criterion failed: load.p95"),
        "{printed}"
    );
    // Two processes wrote evidence.
    let files = std::fs::read_dir(&evidence).expect("evidence").count();
    assert_eq!(files, 2, "one file per test binary");

    let card = report(tmp.path());
    assert_eq!(card.verdict, Decision::NoGo, "{:?}", card.reasons);
    assert_eq!(card.runs.len(), 1, "{:?}", card.runs);
    assert_eq!(card.runs[0].processes, 2, "{:?}", card.runs);
    assert_eq!(
        card.runs[0].source,
        Some(readiness::run::RunSource::Cargo),
        "{:?}",
        card.runs
    );
    let verdicts: Vec<(&str, Status)> = card
        .criteria()
        .map(|c| (c.test.as_deref().unwrap_or(""), c.verdict))
        .collect();
    assert!(
        verdicts.contains(&("orders_p95_under_10ms", Status::Fail)),
        "{verdicts:?}"
    );
    assert!(
        verdicts.contains(&("search_p95_under_1s", Status::Pass)),
        "{verdicts:?}"
    );
}

/// Runs shard `index` of 3 as its own process (its parent is this test, not cargo: no
/// shared run id), against a route that answers `how` ("ok" or "5xx").
fn shard(evidence: &Path, index: u32, how: &str, p95_ms: u64) {
    let status = without_run_variables(&mut Command::new(env!("CARGO_BIN_EXE_shard-worker")))
        .args([how, &p95_ms.to_string()])
        .env("READINESS_SHARD", format!("{index}/3"))
        .env("READINESS_DIR", evidence)
        .status()
        .expect("the worker runs");
    assert!(status.success(), "shard {index} ran");
}

/// Three shard processes, shards 1 and 2 answered with 5xx, shard 3 healthy. Before, the
/// default report judged shard 3 alone: GO ("shards 0").
#[test]
fn three_shard_processes_without_a_shared_run_id_are_judged_together() {
    let tmp = tempfile::tempdir().expect("tmp");
    let evidence = tmp.path().join("evidence");
    shard(&evidence, 1, "5xx", 1000);
    shard(&evidence, 2, "5xx", 1000);
    shard(&evidence, 3, "ok", 1000);
    let card = report(tmp.path());
    assert_eq!(card.verdict, Decision::NoGo, "{:?}", card.reasons);
    assert_eq!(
        card.runs.len(),
        3,
        "joined by their shards: {:?}",
        card.runs
    );
    assert_eq!(card.runs.iter().filter(|r| r.joined).count(), 2);
    let errors = card
        .criteria()
        .find(|c| c.id == "load.error_rate")
        .expect("error rate");
    assert_eq!(errors.shards, 3);
    assert_eq!(errors.verdict, Status::Fail);
    // 60 of the 90 requests (shards 1 and 2) failed.
    assert_eq!(
        errors.combine,
        readiness::Combine::Proportion {
            events: 60,
            trials: 90
        }
    );
    assert!(
        card.findings
            .iter()
            .any(|f| f.kind == FindingKind::JoinedRuns),
        "{:?}",
        card.findings
    );
}

/// The same three healthy: joined, merged, GO. (So the join does not fail everything.)
#[test]
fn three_healthy_shard_processes_are_go() {
    let tmp = tempfile::tempdir().expect("tmp");
    let evidence = tmp.path().join("evidence");
    for i in 1..=3 {
        shard(&evidence, i, "ok", 1000);
    }
    let card = report(tmp.path());
    assert_eq!(card.verdict, Decision::Go, "{:?}", card.reasons);
    assert!(card.criteria().all(|c| c.shards == 3 && c.passed()));
}

/// Shards 1/3 and 3/3 ran; 2/3 never did. The merged result would be of two thirds of
/// the load: no-go, with the finding.
#[test]
fn a_shard_set_with_a_shard_missing_is_no_go() {
    let tmp = tempfile::tempdir().expect("tmp");
    let evidence = tmp.path().join("evidence");
    shard(&evidence, 1, "ok", 1000);
    shard(&evidence, 3, "ok", 1000);
    let card = report(tmp.path());
    assert_eq!(card.verdict, Decision::NoGo, "{:?}", card.reasons);
    let missing: Vec<&str> = card
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::ShardsMissing)
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(missing.len(), 2, "p95 and error rate: {missing:?}");
    assert!(
        missing[0].contains("shards 2/3 of 3 were not found (present: 1/3, 3/3)"),
        "{missing:?}"
    );
    assert!(card.criteria().all(|c| c.verdict == Status::Error));
}

/// Shard 1 judged its p95 against 100 ms, shard 2 and 3 against 1 s: whichever came last
/// used to set the limit of the merge. Now an error, whatever the order.
#[test]
fn shards_judged_against_different_limits_are_an_error_in_either_order() {
    for order in [[100u64, 1000, 1000], [1000, 1000, 100]] {
        let tmp = tempfile::tempdir().expect("tmp");
        let evidence = tmp.path().join("evidence");
        for (i, limit) in order.iter().enumerate() {
            shard(&evidence, i as u32 + 1, "ok", *limit);
        }
        let card = report(tmp.path());
        assert_eq!(
            card.verdict,
            Decision::NoGo,
            "{order:?}: {:?}",
            card.reasons
        );
        let p95 = card.criteria().find(|c| c.id == "load.p95").expect("p95");
        assert_eq!(p95.verdict, Status::Error, "{order:?}");
        let why = p95.error.as_deref().unwrap_or_default();
        assert!(
            why.contains("at most 100ms") && why.contains("at most 1s"),
            "{order:?}: {why}"
        );
        assert!(
            card.findings
                .iter()
                .any(|f| f.kind == FindingKind::ShardsDisagree),
            "{:?}",
            card.findings
        );
    }
}

#[path = "../fixtures/two-binaries/lib.rs"]
mod fixture;

/// A p95 of `route` (answering after `delay`) judged against `limit_ms`, recorded in
/// `dir`; the record as JSON.
async fn p95_record(dir: &Path, delay_ms: u64, limit_ms: u64) -> serde_json::Value {
    use readiness::load::{Load, Model, http, try_assert_p95_under};
    use std::time::Duration;
    let url = fixture::server(Duration::from_millis(delay_ms)).await;
    let report = Load::new(
        "orders",
        Model::constant_rate(50.0, Duration::from_secs(1)).expect("model"),
    )
    .with_recorder(readiness::Recorder::new(dir))
    .run(http::get(url))
    .await
    .expect("runs");
    let r = try_assert_p95_under(&report, Duration::from_millis(limit_ms));
    serde_json::to_value(readiness::CheckResultExt::evidence(&r)).expect("json")
}

fn write_record(dir: &Path, record: &serde_json::Value) -> readiness::report::Scorecard {
    let evidence = dir.join("evidence");
    std::fs::create_dir_all(&evidence).expect("dir");
    std::fs::write(evidence.join("evidence-1.jsonl"), format!("{record}\n")).expect("write");
    report(dir)
}

/// A failing p95 (40 ms against 10 ms) whose limit is turned into "at least 10 ms" and
/// its verdict into pass: the numbers agree with each other, so re-judging alone passed
/// it. A latency percentile has a maximum: the record is an error.
#[tokio::test(flavor = "multi_thread")]
async fn a_latency_judged_against_a_minimum_is_not_believed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut record = p95_record(&tmp.path().join("scratch"), 40, 10).await;
    assert_eq!(record["verdict"], "fail");
    record["threshold"]["kind"] = "at_least".into();
    record["verdict"] = "pass".into();
    let card = write_record(tmp.path(), &record);
    assert_eq!(card.verdict, Decision::NoGo);
    let p95 = card.criteria().next().expect("p95");
    assert_eq!(p95.verdict, Status::Error);
    assert!(
        p95.error
            .as_deref()
            .unwrap_or_default()
            .contains("load.p95 is judged against a maximum (at most)"),
        "{:?}",
        p95.error
    );
}

/// A failing p95 whose histogram and observed value are swapped for a fast run's, and its
/// verdict for pass: the histogram agrees with the verdict, but the run's own per-second
/// timeline (400 ms answers) does not. An error, never a pass. The limit (100 ms) is far
/// above what the fast run (1 ms answers) takes even with both cores busy, so the record
/// is refused for its timeline alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_latency_record_contradicted_by_its_timeline_is_not_believed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let scratch = tmp.path().join("scratch");
    let fast = p95_record(&scratch, 1, 1000).await;
    let mut slow = p95_record(&scratch, 400, 100).await;
    use readiness::AttachmentKind as _;
    let histogram = |r: &serde_json::Value| {
        r["attachments"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .position(|x| x["kind"] == readiness::LatencyHistogram::KIND)
            })
            .expect("a latency histogram")
    };
    let (i, j) = (histogram(&slow), histogram(&fast));
    slow["attachments"][i] = fast["attachments"][j].clone();
    slow["observed"] = fast["observed"].clone();
    slow["margin"] = fast["margin"].clone();
    slow["verdict"] = "pass".into();
    let card = write_record(tmp.path(), &slow);
    assert_eq!(card.verdict, Decision::NoGo);
    let p95 = card.criteria().next().expect("p95");
    assert_eq!(p95.verdict, Status::Error);
    assert!(
        p95.error
            .as_deref()
            .unwrap_or_default()
            .contains("timeline's seconds add up to"),
        "{:?}",
        p95.error
    );
}

/// The same file read twice (a CI artifact copied into two folders): one record, counted
/// once, with a finding.
#[tokio::test(flavor = "multi_thread")]
async fn copies_of_one_record_count_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let record = p95_record(&tmp.path().join("scratch"), 1, 1000).await;
    let evidence = tmp.path().join("evidence");
    for copy in ["a", "b", "c"] {
        std::fs::create_dir_all(evidence.join(copy)).expect("dir");
        std::fs::write(
            evidence.join(copy).join("evidence-1.jsonl"),
            format!("{record}\n"),
        )
        .expect("write");
    }
    let card = report(tmp.path());
    assert_eq!(card.criteria().count(), 1);
    let p95 = card.criteria().next().expect("p95");
    assert_eq!((p95.verdict, p95.attempts), (Status::Pass, 1));
    assert!(
        card.findings
            .iter()
            .any(|f| f.kind == FindingKind::DuplicateRecords
                && f.message.contains("2 records are copies")),
        "{:?}",
        card.findings
    );
}
