//! The scorecard from real evidence: golden outputs, verdicts and exit codes, bad input,
//! shard merging.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use readiness_load::{Load, Model, Shard};
use readiness_report::{Decision, Format, Options, make, render};

fn normalise(text: &str, dir: &Path) -> String {
    let mut out = text.replace(&dir.display().to_string(), "[dir]");
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

fn golden_dir() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let evidence = tmp.path().join("evidence");
    std::fs::create_dir_all(&evidence).expect("dir");
    common::golden(&evidence);
    let config = tmp.path().join("readiness.toml");
    std::fs::write(&config, common::GOLDEN_CONFIG).expect("config");
    (tmp, evidence, config)
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
    // Only one run in the directory: `latest` and its id select all of it; another id none.
    let mut latest = options(&evidence, &config);
    latest.run = Some("latest".into());
    assert_eq!(make(&latest).expect("latest").records, 6);
    latest.run = Some("no-such-run".into());
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
    assert_eq!(lines.next(), Some("7"), "{stdout}");
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

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_readiness"))
}

#[test]
fn go_and_no_go_give_exit_codes_0_and_1_and_write_every_output() {
    let (tmp, evidence, config) = golden_dir();
    let out = tmp.path().join("out");
    let run = cli()
        .arg("report")
        .arg(&evidence)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "no-go: {stdout}");
    assert!(
        stdout.contains("readiness scorecard: NO-GO  score 7.5/10 (go needs 8.0)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("must-pass criterion load.p99 (p99 latency of search under 1s) failed"),
        "{stdout}"
    );
    for f in [
        "scorecard.md",
        "scorecard.html",
        "scorecard.json",
        "junit.xml",
    ] {
        assert!(out.join(f).is_file(), "{f} written");
    }

    let good = tempfile::tempdir().expect("tmp");
    common::all_pass(good.path());
    let summary = good.path().join("summary.md");
    let report_md = || {
        let mut cmd = cli();
        cmd.arg("report")
            .arg(good.path())
            .arg("--out")
            .arg(good.path().join("out"))
            .args(["--format", "terminal,md"])
            .env("GITHUB_STEP_SUMMARY", &summary)
            .current_dir(good.path());
        cmd
    };
    // The golden config expects obs.alert_fires, which this run lacks.
    let run = report_md()
        .arg("--config")
        .arg(&config)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "missing expected: {stdout}");
    assert!(stdout.contains("NO-GO  score 10.0/10"), "{stdout}");
    assert!(
        stdout.contains("expected criterion obs.alert_fires has no evidence"),
        "{stdout}"
    );
    let run = report_md()
        .env("READINESS_CONFIG", good.path().join("none.toml"))
        .output()
        .expect("runs");
    assert_eq!(
        run.status.code(),
        Some(2),
        "a missing config file is an error"
    );
    let run = report_md()
        .env_remove("READINESS_CONFIG")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "go with defaults: {stdout}");
    assert!(
        stdout.contains("readiness scorecard: GO  score 10.0/10"),
        "{stdout}"
    );
    let appended = std::fs::read_to_string(&summary).expect("step summary");
    assert!(
        appended.contains("# Readiness scorecard: ✅ GO"),
        "{appended}"
    );
}

fn report_exit(dir: &Path, extra: &[&str], out: &Path) -> (Option<i32>, String) {
    let run = cli()
        .arg("report")
        .arg(dir)
        .args(extra)
        .arg("--out")
        .arg(out)
        .env_remove("READINESS_CONFIG")
        .output()
        .expect("runs");
    (
        run.status.code(),
        String::from_utf8_lossy(&run.stderr).into_owned(),
    )
}

#[test]
fn bad_input_exits_2_with_a_clear_error_and_overwrites_nothing() {
    let (tmp, evidence, config) = golden_dir();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).expect("out");
    let sentinel = "previous scorecard, must survive";
    std::fs::write(out.join("scorecard.md"), sentinel).expect("sentinel");
    let file = std::fs::read_dir(&evidence)
        .expect("list")
        .next()
        .expect("one file")
        .expect("entry")
        .path();
    let good = std::fs::read_to_string(&file).expect("read");
    let first = good.lines().next().expect("a line").to_owned();

    // Empty directory.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    let (code, err) = report_exit(&empty, &[], &out);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no evidence records in"), "{err}");
    assert!(err.contains("run the readiness tests first"), "{err}");

    // A directory that does not exist.
    let (code, err) = report_exit(&tmp.path().join("nope"), &[], &out);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("does not exist"), "{err}");

    // A corrupt line in the middle of a file.
    let corrupt = tmp.path().join("corrupt");
    std::fs::create_dir_all(&corrupt).expect("dir");
    std::fs::write(
        corrupt.join("evidence-1.jsonl"),
        format!("{first}\n{{\"schema\": \"1.0\", oops\n{first}\n"),
    )
    .expect("write");
    let (code, err) = report_exit(&corrupt, &[], &out);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("evidence-1.jsonl:2: not an evidence record"),
        "{err}"
    );
    assert!(
        err.contains("re-run the tests that wrote it, or delete the file"),
        "{err}"
    );

    // An unknown schema major.
    let future = tmp.path().join("future");
    std::fs::create_dir_all(&future).expect("dir");
    std::fs::write(
        future.join("evidence-2.jsonl"),
        format!(
            "{}\n",
            first.replacen("\"schema\":\"1.0\"", "\"schema\":\"2.0\"", 1)
        ),
    )
    .expect("write");
    let (code, err) = report_exit(&future, &[], &out);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(
            "evidence-2.jsonl:1: evidence schema \"2.0\" is not one this report reads (1.x)"
        ),
        "{err}"
    );

    // A bad config: line and column.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[report]\nmin_score = 8.0\nweights = 3\n").expect("write");
    let bad_flag = ["--config", bad.to_str().expect("utf-8")];
    let (code, err) = report_exit(&evidence, &bad_flag, &out);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bad.toml: line 3, column 1"), "{err}");
    assert!(err.contains("weights"), "{err}");

    // A bad format list.
    let (code, err) = report_exit(&evidence, &["--format", "md,pdf"], &out);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--format pdf"), "{err}");

    // A missing baseline is never created by comparing.
    let missing = tmp.path().join("baseline.json");
    let flags = ["--baseline", missing.to_str().expect("utf-8")];
    let (code, err) = report_exit(&evidence, &flags, &out);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("readiness baseline save"), "{err}");
    assert!(!missing.exists(), "no baseline written silently");

    assert_eq!(
        std::fs::read_to_string(out.join("scorecard.md")).expect("sentinel"),
        sentinel,
        "nothing overwritten"
    );
    let _ = config;
}

#[test]
fn a_truncated_last_line_is_reported_and_the_rest_is_judged() {
    let (_tmp, evidence, config) = golden_dir();
    let file = std::fs::read_dir(&evidence)
        .expect("list")
        .next()
        .expect("one file")
        .expect("entry")
        .path();
    let text = std::fs::read_to_string(&file).expect("read");
    let last = text.lines().last().expect("a line");
    // A test killed mid-write: half a record, no newline.
    std::fs::write(&file, format!("{text}{}", &last[..last.len() / 2])).expect("write");
    let card = make(&options(&evidence, &config)).expect("still a scorecard");
    assert_eq!(card.records, 6);
    let f = card
        .findings
        .iter()
        .find(|f| f.kind == "truncated_line")
        .expect("reported");
    assert_eq!(f.line, Some(7));
    assert!(f.message.contains("killed mid-write"), "{}", f.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_merge_into_the_verdict_of_one_process() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (whole_dir, shard_dir) = (tmp.path().join("whole"), tmp.path().join("shards"));
    std::fs::create_dir_all(&whole_dir).expect("dir");
    std::fs::create_dir_all(&shard_dir).expect("dir");
    let model = Model::constant_rate(150.0, Duration::from_secs(2)).expect("model");
    let limit = Duration::from_millis(12);
    let tx = common::delayed(Duration::from_millis(2), Duration::from_millis(14), 0);
    let whole = Load::new("search", model.clone())
        .run(tx.clone())
        .await
        .expect("run");
    let one = common::keep(readiness_load::try_assert_p95_under(&whole, limit));
    common::record(&whole_dir, &one);
    let mut histograms = Vec::new();
    for i in 1..=3 {
        let part = Load::new("search", model.clone())
            .with_shard(Shard { index: i, count: 3 })
            .run(tx.clone())
            .await
            .expect("shard");
        histograms.push(part.metrics.total().latency().into_owned());
        let e = common::keep(readiness_load::try_assert_p95_under(&part, limit));
        assert_eq!(e.context.shard.as_deref(), Some(format!("{i}/3").as_str()));
        // Each shard in its own sub-folder, as CI artifacts are downloaded.
        let sub = shard_dir.join(format!("shard-{i}"));
        std::fs::create_dir_all(&sub).expect("dir");
        common::record(&sub, &e);
    }
    let merged = make(&Options::new(&shard_dir)).expect("scorecard");
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
        c.observed.as_deref(),
        Some(expected.as_str()),
        "p95 from the merged histogram"
    );
    let single = make(&Options::new(&whole_dir)).expect("scorecard");
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
            .any(|f| f.kind == "merged_shards"
                && f.message.contains("3 shards merged (1/3, 2/3, 3/3)")),
        "{:?}",
        merged.findings
    );
}
