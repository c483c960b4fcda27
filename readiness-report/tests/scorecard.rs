//! The scorecard from real evidence: golden outputs, verdicts, the latest run, categories
//! not assessed, records that disagree with their own numbers, shard merging.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use readiness_core::{Category, Check, Recorder, Threshold, Verdict};
use readiness_load::{Load, Model, Shard};
use readiness_report::{Decision, Format, Options, Run, make, openmetrics, render};

fn normalise(text: &str, dir: &Path) -> String {
    let mut out = text.replace(&dir.display().to_string(), "[dir]");
    // The run id is this test process's (nextest's or cargo's).
    out = out.replace(readiness_core::run_id(), "[run]");
    for source in ["explicit", "ci", "nextest", "cargo", "process"] {
        out = out.replace(
            &format!("\"source\": \"{source}\""),
            "\"source\": \"[source]\"",
        );
    }
    // The commit of this checkout (none outside git): the list is redacted whole.
    if let Some(start) = out.find("\"git_commits\": [")
        && let Some(len) = out[start..].find(']')
    {
        out.replace_range(start..=start + len, "\"git_commits\": \"[redacted]\"");
    }
    // evidence-<pid>.jsonl -> evidence-[pid].jsonl
    let mut from = 0;
    while let Some(start) = out[from..]
        .find("evidence-")
        .map(|i| from + i + "evidence-".len())
    {
        let digits = out[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .count();
        if digits > 0 {
            out.replace_range(start..start + digits, "[pid]");
        }
        from = start;
    }
    // "generated_at": "..." and "made ..." carry the clock.
    let mut lines: Vec<String> = out.lines().map(str::to_owned).collect();
    for l in &mut lines {
        if let Some(i) = l.find("\"generated_at\": \"") {
            l.replace_range(i.., "\"generated_at\": \"[time]\",");
        }
    }
    lines.join("\n")
}

use common::golden_dir;

/// The run id and commit labels (they change with every run) as `[run]` and `[commit]`.
fn without_run(text: &str) -> String {
    let mut out = text.to_owned();
    for (label, stand_in) in [("run=\"", "[run]"), ("commit=\"", "[commit]")] {
        let mut from = 0;
        while let Some(start) = out[from..].find(label).map(|i| from + i + label.len()) {
            let end = start + out[start..].find('"').expect("a closing quote");
            out.replace_range(start..end, stand_in);
            from = start;
        }
    }
    out
}

fn options(evidence: &Path, config: &Path) -> Options {
    let mut o = Options::new(evidence);
    o.config = Some(config.to_path_buf());
    o
}

#[test]
fn golden_markdown_json_and_junit() {
    let (tmp, evidence, config) = golden_dir();
    let card = make(&options(&evidence, &config)).expect("scorecard");
    assert_eq!(card.verdict, Decision::NoGo);
    let dir = tmp.path();
    // Only one run in the directory: `latest` and `all` select all of it; another id none.
    let mut latest = options(&evidence, &config);
    assert_eq!(make(&latest).expect("latest").records, 6);
    latest.run = Run::All;
    assert_eq!(make(&latest).expect("all").records, 6);
    latest.run = Run::Id("no-such-run".into());
    let e = make(&latest).expect_err("no record of that run");
    assert!(
        e.to_string()
            .contains("no evidence records of run no-such-run"),
        "{e}"
    );
    insta::assert_snapshot!("markdown", normalise(&render::markdown(&card), dir));
    // The file is one line; the snapshot shows the same document indented.
    let one_line: serde_json::Value = serde_json::from_str(&render::json(&card)).expect("json");
    let pretty = serde_json::to_string_pretty(&card).expect("pretty");
    assert_eq!(
        one_line,
        serde_json::from_str::<serde_json::Value>(&pretty).expect("json")
    );
    insta::assert_snapshot!("json", normalise(&pretty, dir));
    insta::assert_snapshot!("junit", normalise(&render::junit(&card), dir));
    insta::assert_snapshot!("terminal", normalise(&render::terminal(&card, false), dir));
    insta::assert_snapshot!("openmetrics", without_run(&openmetrics::text(&card)));
    // Colour only when asked (the CLI asks when stdout is a terminal).
    let coloured = render::terminal(&card, true);
    assert!(coloured.contains("\x1b[1;31mNO-GO\x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[31m✗\x1b[0m load.p99"), "{coloured}");
    assert!(!render::terminal(&card, false).contains('\x1b'));
}

#[test]
fn junit_parses_with_a_real_junit_consumer() {
    let (tmp, evidence, config) = golden_dir();
    let card = make(&options(&evidence, &config)).expect("scorecard");
    let out = tmp.path().join("out");
    let written = readiness_report::write_outputs(&card, &[Format::Junit], &out).expect("written");
    let script = r#"
import sys
from junitparser import JUnitXml, Failure, Error
xml = JUnitXml.fromfile(sys.argv[1])
cases = [(s.name, c.classname, c.name, [type(r).__name__ for r in c.result], [r.message for r in c.result]) for s in xml for c in s]
print(len(cases))
for c in cases: print(c)
"#;
    let run = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&written[0])
        .output()
        .expect("python3 runs (install junitparser: pip install junitparser)");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "junitparser could not read the JUnit file (pip install junitparser):\n{}\n{stdout}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("8"), "{stdout}");
    assert!(
        stdout.contains(
            "('observability', 'readiness.observability', 'observability: not assessed', ['Failure']"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "('performance', 'readiness.performance', 'load.p99: p99 latency of search under 1s', ['Failure'], ['required at most 1s, observed 1.92s'])"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("['Error']"), "{stdout}");
    assert!(
        stdout.contains("'obs.alert_fires: expected in readiness.toml, no evidence', ['Failure']"),
        "{stdout}"
    );
}

#[test]
fn a_truncated_last_line_is_reported_and_the_rest_is_judged() {
    let (_tmp, evidence, config) = golden_dir();
    let (file, _) = only_record(&evidence);
    let text = std::fs::read_to_string(&file).expect("read");
    let last = text.lines().last().expect("a line");
    // A test killed mid-write: half a record, no newline.
    std::fs::write(&file, format!("{text}{}", &last[..last.len() / 2])).expect("write");
    let card = make(&options(&evidence, &config)).expect("still a scorecard");
    // The cut record is a criterion that could not be judged, named by what can be read
    // of it: never a dropped line with a note.
    assert_eq!(card.records, 7);
    let f = card
        .findings
        .iter()
        .find(|f| f.kind == readiness_report::FindingKind::CutShort)
        .expect("reported");
    assert_eq!(f.line, Some(7));
    assert!(f.message.contains("killed mid-write"), "{}", f.message);
    let cut = card
        .criteria()
        .find(|c| c.evidence.as_ref().is_some_and(|e| e.line == 7))
        .expect("a line for the cut record");
    assert_eq!(cut.verdict, readiness_report::Status::Error);
    let whole: readiness_core::Evidence = serde_json::from_str(last).expect("a record");
    assert_eq!(cut.id, whole.criterion.id.as_str());
    assert_eq!(card.verdict, Decision::NoGo);
    assert!(
        card.reasons.iter().any(|r| r.contains("killed mid-write")),
        "{:?}",
        card.reasons
    );
}

#[tokio::test(start_paused = true)]
async fn shards_merge_into_the_verdict_of_one_process() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (whole_dir, shard_dir) = (tmp.path().join("whole"), tmp.path().join("shards"));
    std::fs::create_dir_all(&whole_dir).expect("dir");
    std::fs::create_dir_all(&shard_dir).expect("dir");
    let model = Model::constant_rate(150.0, Duration::from_secs(2)).expect("model");
    let limit = Duration::from_millis(12);
    let tx = common::delayed(Duration::from_millis(2), Duration::from_millis(14), 0);
    let whole = Load::new("search", model.clone())
        .with_recorder(common::self_test())
        .run(tx.clone())
        .await
        .expect("run");
    let one = common::keep(readiness_load::try_assert_p95_under(&whole, limit));
    common::record(&whole_dir, &one);
    let mut histograms = Vec::new();
    for i in 1..=3 {
        let part = Load::new("search", model.clone())
            .with_recorder(common::self_test())
            .with_shard(Shard { index: i, count: 3 })
            .run(tx.clone())
            .await
            .expect("shard");
        histograms.push(part.metrics().total().latency().into_owned());
        let e = common::keep(readiness_load::try_assert_p95_under(&part, limit));
        assert_eq!(e.context.shard.as_deref(), Some(format!("{i}/3").as_str()));
        // Each shard in its own sub-folder, as CI artifacts are downloaded.
        let sub = shard_dir.join(format!("shard-{i}"));
        std::fs::create_dir_all(&sub).expect("dir");
        common::record(&sub, &e);
    }
    let merged = make(&common::defaults(&shard_dir)).expect("scorecard");
    let c = merged.criteria().next().expect("one criterion");
    assert_eq!(c.shards, 3);
    assert_eq!(merged.criteria().count(), 1, "one result for three shards");
    let mut sum = histograms[0].clone();
    for h in &histograms[1..] {
        sum.add(h).expect("add");
    }
    let expected =
        readiness_core::Quantity::duration(Duration::from_micros(sum.value_at_quantile(0.95)))
            .to_string();
    assert_eq!(
        c.observed_text().as_deref(),
        Some(expected.as_str()),
        "p95 from the merged histogram"
    );
    let single = make(&common::defaults(&whole_dir)).expect("scorecard");
    let s = single.criteria().next().expect("one");
    assert_eq!(
        c.verdict, s.verdict,
        "shards {:?} vs one process {:?}",
        c.observed, s.observed
    );
    assert!(
        merged
            .findings
            .iter()
            .any(|f| f.kind == readiness_report::FindingKind::MergedShards
                && f.message.contains("3 shards merged (1/3, 2/3, 3/3)")),
        "{:?}",
        merged.findings
    );
}

/// One record of `id` in `category`, `observed` against at most `limit`, into `dir`, from a
/// thread named `test` (the test name in the evidence).
fn judged(
    dir: &Path,
    test: &str,
    (id, category): (&'static str, Category),
    limit: Duration,
    observed: Duration,
) {
    let dir = dir.to_path_buf();
    std::thread::Builder::new()
        .name(test.into())
        .spawn(move || {
            let title = format!("{id} under {}", readiness_core::Quantity::duration(limit));
            let _ = Check::new(id, title, category)
                .with_threshold(Threshold::at_most(limit))
                .with_recorder(Recorder::new(dir))
                .judge(observed);
        })
        .expect("thread")
        .join()
        .expect("fixture thread");
}

/// One record of `id` in `category` passing a 500 ms limit.
fn passing(dir: &Path, test: &str, id: &'static str, category: Category) {
    let ms = Duration::from_millis;
    judged(dir, test, (id, category), ms(500), ms(40));
}

#[test]
fn every_weighted_category_is_on_the_scorecard_and_one_not_assessed_counts_zero() {
    let tmp = tempfile::tempdir().expect("tmp");
    let evidence = tmp.path().join("evidence");
    passing(&evidence, "suite::p95", "load.p95", Category::PERFORMANCE);
    passing(
        &evidence,
        "suite::errors",
        "load.error_rate",
        Category::RELIABILITY,
    );
    let config = tmp.path().join("readiness.toml");
    let weights = "[report.categories]\nperformance = 15\nreliability = 15\nrecovery = 8\n\
                   observability = 12\ncapacity = 10\n";
    std::fs::write(&config, format!("[report]\n{weights}")).expect("config");
    // Before the fix: GO 10.0/10, recovery, observability and capacity gone from the card.
    let card = make(&options(&evidence, &config)).expect("scorecard");
    let names: Vec<(&str, bool)> = card
        .categories
        .iter()
        .map(|c| (c.name.as_str(), c.assessed))
        .collect();
    for name in ["recovery", "observability", "capacity"] {
        assert!(
            names.contains(&(name, false)),
            "{name} shown as not assessed: {names:?}"
        );
    }
    // 30 of 60 weight points assessed, all passing: 10 x 30 / 60 = 5.0.
    assert_eq!(card.score, 5.0);
    assert_eq!(card.verdict, Decision::NoGo);
    assert!(
        card.findings
            .iter()
            .any(|f| f.kind == readiness_report::FindingKind::NotAssessed
                && f.message
                    .contains("category recovery (weight 8) was not assessed")),
        "{:?}",
        card.findings
    );
    for text in [
        render::terminal(&card, false),
        render::markdown(&card),
        render::junit(&card),
        readiness_report::html::page(&card),
        render::json(&card),
    ] {
        assert!(
            text.contains("not assessed"),
            "every format says so:\n{text}"
        );
    }
    // Opting out leaves them out of the score, never off the card.
    std::fs::write(
        &config,
        format!("[report]\nunassessed = \"exclude\"\n{weights}"),
    )
    .expect("config");
    let card = make(&options(&evidence, &config)).expect("scorecard");
    assert_eq!((card.score, card.verdict), (10.0, Decision::Go));
    assert!(
        card.categories
            .iter()
            .any(|c| c.name == "recovery" && !c.assessed)
    );
}

#[test]
fn the_teams_own_categories_take_the_criteria_they_name() {
    let tmp = tempfile::tempdir().expect("tmp");
    let evidence = tmp.path().join("evidence");
    passing(
        &evidence,
        "suite::ready",
        "svc.ready",
        Category::RELIABILITY,
    );
    passing(&evidence, "suite::p95", "load.p95", Category::PERFORMANCE);
    passing(&evidence, "suite::rto", "dr.rto", Category::RECOVERY);
    let ms = Duration::from_millis;
    judged(
        &evidence,
        "suite::health",
        ("obs.health_accurate", Category::OBSERVABILITY),
        ms(500),
        ms(900),
    );
    let config = tmp.path().join("readiness.toml");
    std::fs::write(
        &config,
        "[report]
expected = [\"ops.runbooks\"]
         [report.categories]
availability = 15
performance = 15
continuity = 8
         operations = 10
         [[report.category_of]]
criteria = [\"svc.*\", \"obs.health_accurate\"]
         category = \"availability\"
         [[report.category_of]]
criteria = [\"dr.*\"]
category = \"continuity\"
         [[report.category_of]]
criteria = [\"ops.*\"]
category = \"operations\"
",
    )
    .expect("config");
    let card = make(&options(&evidence, &config)).expect("scorecard");
    let of = |name: &str| {
        card.categories
            .iter()
            .find(|c| c.name == name)
            .map(|c| (c.passed, c.failed, c.missing))
    };
    // The failed health check counts against availability, next to svc.ready.
    assert_eq!(of("availability"), Some((1, 1, 0)));
    assert_eq!(of("continuity"), Some((1, 0, 0)));
    assert_eq!(of("performance"), Some((1, 0, 0)));
    // An expected criterion without evidence is missing in its own category.
    assert_eq!(of("operations"), Some((0, 0, 1)));
    assert!(of("reliability").is_none() && of("recovery").is_none());
    assert_eq!(card.verdict, Decision::NoGo);

    std::fs::write(
        &config,
        "[report]
[[report.category_of]]
criteria = []
category = \"x\"
",
    )
    .expect("config");
    let e = make(&options(&evidence, &config)).expect_err("a rule naming nothing");
    assert!(
        e.to_string()
            .contains("category_of: a rule needs criteria and a category"),
        "{e}"
    );
}

use common::only_record;

#[test]
fn a_record_whose_verdict_contradicts_its_numbers_is_an_error_never_a_pass() {
    let tmp = tempfile::tempdir().expect("tmp");
    let evidence = tmp.path().join("evidence");
    let (p95, ms) = (("load.p95", Category::PERFORMANCE), Duration::from_millis);
    judged(&evidence, "suite::p95", p95, ms(12), ms(5));
    let (file, line) = only_record(&evidence);
    assert!(line.contains("\"value\":0.005"), "{line}");
    // Edited: observed 17.7 ms over the 12 ms limit, verdict still pass; and a negative
    // latency on another criterion.
    let over = line.replace("\"value\":0.005", "\"value\":0.0177");
    let negative = line
        .replace("\"value\":0.005", "\"value\":-0.003")
        .replace("load.p95", "load.p99");
    std::fs::write(&file, format!("{over}\n{negative}\n")).expect("write");
    let card = make(&common::defaults(&evidence)).expect("scorecard");
    assert_eq!(card.verdict, Decision::NoGo, "before the fix: GO");
    let statuses: Vec<_> = card
        .criteria()
        .map(|c| (c.id.as_str(), c.verdict))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("load.p95", readiness_report::Status::Error),
            ("load.p99", readiness_report::Status::Error)
        ]
    );
    let first = card.criteria().next().expect("p95");
    assert!(
        first
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("observed 17.7ms does not meet the threshold \"at most 12ms\""),
        "{:?}",
        first.error
    );
    assert!(
        card.reasons
            .iter()
            .any(|r| r.contains("2 records disagree with their own numbers")),
        "{:?}",
        card.reasons
    );
    let negative = card.criteria().nth(1).expect("p99");
    assert!(
        negative
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("cannot be negative"),
        "{:?}",
        negative.error
    );
}

#[test]
fn a_report_with_no_flags_judges_the_latest_run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let evidence = tmp.path().join("evidence");
    // An earlier run: a failure. The latest: a pass.
    let (p95, ms) = (("load.p95", Category::PERFORMANCE), Duration::from_millis);
    judged(&evidence.join("earlier"), "suite::old", p95, ms(12), ms(50));
    let (file, line) = only_record(&evidence.join("earlier"));
    std::fs::write(
        &file,
        format!(
            "{}\n",
            line.replace(readiness_core::run_id(), "earlier-run")
        ),
    )
    .expect("write");
    passing(&evidence, "suite::new", "load.p95", Category::PERFORMANCE);
    let mut o = common::defaults(&evidence);
    let latest = make(&o).expect("latest");
    assert_eq!(latest.records, 1);
    assert_eq!(
        latest.criteria().next().map(|c| c.verdict),
        Some(readiness_report::Status::Pass)
    );
    assert!(
        latest
            .findings
            .iter()
            .any(|f| f.kind == readiness_report::FindingKind::OtherRuns),
        "{:?}",
        latest.findings
    );
    o.run = Run::All;
    let all = make(&o).expect("all");
    assert_eq!(all.records, 2);
    assert_eq!(all.verdict, Decision::NoGo);
    // One run by its id: only its records, whichever run is the latest.
    o.run = Run::Id("earlier-run".into());
    let earlier = make(&o).expect("by id");
    assert_eq!(earlier.records, 1);
    assert_eq!(earlier.verdict, Decision::NoGo);
    o.run = Run::Id(readiness_core::run_id().into());
    let this = make(&o).expect("by id");
    assert_eq!(this.records, 1);
    let _ = Verdict::Pass;
}

#[test]
fn the_defect_matrix_is_in_every_format_of_a_report_of_one_of_its_runs() {
    use readiness_report::{Matrix, MatrixRow};
    let tmp = tempfile::tempdir().expect("tmp");
    let evidence = tmp.path().join("evidence");
    passing(&evidence, "suite::p95", "load.p95", Category::PERFORMANCE);
    let config = tmp.path().join("readiness.toml");
    std::fs::write(&config, "[report]\nunassessed = \"exclude\"\n").expect("config");
    let o = options(&evidence, &config);
    let healthy = make(&o).expect("the healthy run");
    assert_eq!(healthy.verdict, Decision::Go);
    let run = readiness_core::run_id();
    let mut leak = MatrixRow::of(
        Some("leak"),
        &["load.soak_memory"],
        &healthy,
        "run-leak",
        140.0,
    );
    leak.verdict = Decision::NoGo;
    leak.failed = vec!["load.soak_memory".into()];
    let mut slow = MatrixRow::of(
        Some("slow_search"),
        &["load.p95"],
        &healthy,
        "run-slow",
        120.0,
    );
    slow.verdict = Decision::NoGo;
    slow.failed = vec!["load.p95".into(), "sec.rate_limit".into()];
    let matrix = Matrix {
        rows: vec![MatrixRow::of(None, &[], &healthy, run, 110.0), leak, slow],
    };
    matrix.save(&evidence).expect("saved");

    let card = make(&o).expect("the healthy run with its matrix");
    assert_eq!(card.matrix.as_ref(), Some(&matrix));
    assert_eq!(
        (card.verdict, card.score),
        (healthy.verdict, healthy.score),
        "the matrix is shown apart: the run's verdict and score are its own"
    );
    let says = "2 of 3 rows as expected";
    let terminal = Format::Terminal.render(&card, false);
    assert!(terminal.contains(says), "{terminal}");
    assert!(terminal.contains("no: also sec.rate_limit"), "{terminal}");
    let md = Format::Markdown.render(&card, false);
    assert!(md.contains("## Defect matrix"), "{md}");
    assert!(
        md.contains("| slow_search | load.p95 | load.p95, sec.rate_limit | sec.rate_limit | NO-GO | no: also sec.rate_limit | 120 s |"),
        "{md}"
    );
    let html = Format::Html.render(&card, false);
    assert!(
        html.contains("<h2>Defect matrix</h2>") && html.contains(says),
        "{html}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&Format::Json.render(&card, false)).expect("json");
    assert_eq!(json["matrix"]["rows"][2]["defect"], "slow_search");
    assert_eq!(json["matrix"]["rows"][0]["verdict"], "go");
    let junit = Format::Junit.render(&card, false);
    assert!(
        junit.contains("<testsuite name=\"defect-matrix\" tests=\"3\" failures=\"1\"")
            && junit.contains("message=\"no: also sec.rate_limit\" type=\"not_as_expected\""),
        "{junit}"
    );

    // A matrix of other runs (an earlier invocation's) is not this run's: not shown.
    Matrix {
        rows: matrix.rows[1..].to_vec(),
    }
    .save(&evidence)
    .expect("saved");
    assert_eq!(make(&o).expect("the healthy run").matrix, None);

    // A matrix file that does not read is an error of the report, naming the file.
    std::fs::write(evidence.join(readiness_report::MATRIX_FILE), "[").expect("write");
    let e = make(&o).expect_err("a broken matrix file").to_string();
    assert!(e.contains("defect-matrix.json"), "{e}");
}

#[test]
fn attestations_are_shown_apart_never_scored_and_one_that_expired_is_a_no_go() {
    let tmp = tempfile::tempdir().expect("tmp");
    let evidence = tmp.path().join("evidence");
    passing(&evidence, "suite::p95", "load.p95", Category::PERFORMANCE);
    std::fs::create_dir_all(tmp.path().join("docs")).expect("docs");
    std::fs::write(tmp.path().join("docs/training.md"), "# trained\n").expect("record");
    let config = tmp.path().join("readiness.toml");
    let attested = |expires: &str| {
        format!(
            "[report]\nunassessed = \"exclude\"\n\n\
             [[report.attested]]\nid = \"ops.oncall_trained\"\n\
             title = \"the on-call rota is trained on the runbooks\"\ncategory = \"operations\"\n\
             by = \"J. Doe, SRE lead\"\non = \"2019-11-20\"\nlink = \"docs/training.md\"\n\
             expires = \"{expires}\"\n\n\
             [[report.attested]]\nid = \"release.signed_off\"\ntitle = \"the release is signed off\"\n\
             category = \"operations\"\nby = \"A. Smith\"\non = \"2019-12-01\"\n\
             link = \"https://example.invalid/signoff/42\"\nexpires = \"2099-12-01\"\n"
        )
    };
    std::fs::write(&config, "[report]\nunassessed = \"exclude\"\n").expect("config");
    let bare = make(&options(&evidence, &config)).expect("no attestation");

    std::fs::write(&config, attested("2099-05-20")).expect("config");
    let card = make(&options(&evidence, &config)).expect("both valid");
    assert_eq!(card.verdict, Decision::Go, "{:?}", card.reasons);
    assert_eq!(card.score, bare.score, "an attestation is never scored");
    assert_eq!(card.criteria().count(), bare.criteria().count());
    assert!(
        card.categories.iter().all(|c| c.name != "operations"),
        "never a category of criteria"
    );
    let terminal = Format::Terminal.render(&card, false);
    assert!(
        terminal.contains("attested by people (not measured, not scored)"),
        "{terminal}"
    );
    let md = Format::Markdown.render(&card, false);
    assert!(
        md.contains("| ✅ | `release.signed_off` the release is signed off | operations | A. Smith | 2019-12-01 | https://example.invalid/signoff/42 | valid until 2099-12-01"),
        "{md}"
    );
    let html = Format::Html.render(&card, false);
    assert!(html.contains("<h2>Attested by people</h2>"), "{html}");
    let json: serde_json::Value =
        serde_json::from_str(&Format::Json.render(&card, false)).expect("json");
    assert_eq!(json["attested"][0]["state"], "valid");
    assert_eq!(json["attested"][0]["by"], "J. Doe, SRE lead");

    // Expired: a finding and a no-go that says what to do; the score is still the same.
    std::fs::write(&config, attested("2020-05-20")).expect("config");
    let card = make(&options(&evidence, &config)).expect("one expired");
    assert_eq!(card.verdict, Decision::NoGo);
    assert_eq!(card.score, bare.score);
    assert!(
        card.reasons.iter().any(|r| r.starts_with(
            "attestation ops.oncall_trained (the on-call rota is trained on the runbooks) by J. Doe, SRE lead: expired on 2020-05-20"
        ) && r.ends_with("attest it again")),
        "{:?}",
        card.reasons
    );
    let junit = Format::Junit.render(&card, false);
    assert!(
        junit.contains("<testsuite name=\"attested\" tests=\"2\" failures=\"1\"")
            && junit.contains("type=\"attestation_not_valid\""),
        "{junit}"
    );

    // A record that is not where the link says is an error of the config, naming both.
    std::fs::remove_file(tmp.path().join("docs/training.md")).expect("remove");
    let e = make(&options(&evidence, &config))
        .expect_err("a dangling link")
        .to_string();
    assert!(
        e.contains("readiness.toml")
            && e.contains("\"docs/training.md\": no such file beside the config"),
        "{e}"
    );
}
