//! The `readiness` command as a user runs it: exit codes 0 / 1 / 2, every output written,
//! bad input refused with what to do and nothing overwritten, baselines saved only when
//! told, the latest run judged by default. Fixtures come from the report's tests (written
//! by the real crates, never by hand).

#[path = "../../readiness-report/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use readiness_load::{Load, Model};

use common::golden_dir;

/// The command, run where no workspace's readiness.toml is found: every test says which
/// config it judges with.
fn cli() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_readiness"));
    cmd.env_remove("CARGO_MANIFEST_DIR")
        .env_remove("READINESS_CONFIG")
        .current_dir(std::env::temp_dir());
    cmd
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
        stdout.contains("readiness scorecard: NO-GO  score 6.3/10 (go needs 8.0)"),
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
    assert!(stdout.contains("NO-GO  score 3.1/10"), "{stdout}");
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
    // The defaults weigh six categories; this run assessed two of them. Before the fix
    // the others vanished and the card said GO 10.0/10.
    let run = report_md()
        .env_remove("READINESS_CONFIG")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "no-go with defaults: {stdout}");
    assert!(
        stdout.contains("readiness scorecard: NO-GO  score 3.5/10"),
        "{stdout}"
    );
    assert!(
        stdout.contains("observability        15   not assessed"),
        "{stdout}"
    );
    // A config that weighs only what the run checks: go.
    let weighs = good.path().join("weighs.toml");
    std::fs::write(
        &weighs,
        "[report.categories]\nperformance = 20\nrecovery = 15\n",
    )
    .expect("config");
    let run = report_md()
        .arg("--config")
        .arg(&weighs)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "go: {stdout}");
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
    let (_, first) = common::only_record(&evidence);

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

    // An unknown schema major, newer and older.
    for (schema, name) in [("3.0", "future"), ("1.0", "past")] {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        let line = first.replacen(
            &format!("\"schema\":\"{}\"", readiness_core::SCHEMA_VERSION),
            &format!("\"schema\":\"{schema}\""),
            1,
        );
        std::fs::write(dir.join("evidence-2.jsonl"), format!("{line}\n")).expect("write");
        let (code, err) = report_exit(&dir, &[], &out);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains(&format!(
                "evidence-2.jsonl:1: evidence schema \"{schema}\" is not one this report reads (2.x)"
            )),
            "{err}"
        );
    }

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

/// Records one run of the "service" into `dir`.
async fn record_run(dir: &Path, base: Duration, jitter: Duration) {
    std::fs::create_dir_all(dir).expect("dir");
    let load = Load::new(
        "search",
        Model::constant_rate(200.0, Duration::from_millis(1500)).expect("model"),
    )
    .with_recorder(readiness_core::Recorder::new(dir))
    .run(common::delayed(base, jitter, 0))
    .await
    .expect("run");
    let _ = readiness_load::try_assert_p95_under(&load, Duration::from_millis(500));
}

#[tokio::test(start_paused = true)]
async fn the_cli_saves_only_when_told_and_compare_strict_exits_1_on_a_regression() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (good, slow) = (tmp.path().join("good"), tmp.path().join("slow"));
    let (base, jitter) = (Duration::from_millis(20), Duration::from_millis(10));
    record_run(&good, base, jitter).await;
    record_run(&slow, base.mul_f64(2.0), jitter.mul_f64(2.0)).await;
    let file = tmp.path().join("baseline.json");
    let run = |args: &[&std::ffi::OsStr]| {
        let out = cli()
            .args(args)
            .env_remove("READINESS_CONFIG")
            .output()
            .expect("readiness runs");
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    let (save, compare) = (os("save"), os("compare"));
    let (baseline, flag_file, strict) = (os("baseline"), os("--file"), os("--strict"));
    let (code, text) = run(&[
        &baseline,
        &save,
        good.as_os_str(),
        &flag_file,
        file.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("(1 criteria of run latest)"), "{text}");
    let (code, text) = run(&[
        &baseline,
        &save,
        slow.as_os_str(),
        &flag_file,
        file.as_os_str(),
    ]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("exists; pass --force"), "{text}");
    let (code, text) = run(&[
        &baseline,
        &compare,
        good.as_os_str(),
        &flag_file,
        file.as_os_str(),
        &strict,
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("within noise"), "{text}");
    let (code, text) = run(&[
        &baseline,
        &compare,
        slow.as_os_str(),
        &flag_file,
        file.as_os_str(),
        &strict,
    ]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("regressed") && text.contains("1 regressed, 0 not checked, of 1 compared"),
        "{text}"
    );
    // The report compares with READINESS_BASELINE; strict makes a regression no-go.
    let out = cli()
        .arg("report")
        .arg(&slow)
        .args(["--format", "terminal", "--baseline-policy", "strict"])
        .env("READINESS_BASELINE", &file)
        .env_remove("READINESS_CONFIG")
        .output()
        .expect("readiness report");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("compared with the baseline:"), "{text}");
    assert!(
        text.contains("load.p95 of") && text.contains("regressed: p95"),
        "{text}"
    );
    let (code, text) = run(&[
        &os("report"),
        good.as_os_str(),
        &os("--baseline-policy"),
        &os("save"),
    ]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("needs a baseline file"), "{text}");
    let (code, text) = run(&[&os("--help")]);
    assert_eq!(code, Some(0));
    assert!(
        text.contains("Exit codes:") && text.contains("1  no-go"),
        "{text}"
    );
}

#[test]
fn scan_secrets_lists_each_secret_masked_and_exits_1_clean_exits_0_and_a_missing_path_2() {
    let dir = tempfile::tempdir().expect("tmp");
    // Built at run time, so that this file holds no secret of its own.
    let token = ["ghp_", "Zq8XbT2mVw9LkR4nYc7HsJ1pDf6GaE3uKoWi"].concat();
    std::fs::write(dir.path().join("clean.jsonl"), "{\"verdict\":\"pass\"}\n").expect("write");
    let clean = cli()
        .arg("scan-secrets")
        .arg(dir.path())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&clean.stdout);
    assert_eq!(clean.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 secrets in 1 files (1 lines"), "{stdout}");

    std::fs::write(
        dir.path().join("failure.txt"),
        format!("line one\ngot 200 {{\"token\":\"{token}\"}}\n"),
    )
    .expect("write");
    let found = cli()
        .arg("scan-secrets")
        .arg(dir.path())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&found.stdout);
    assert_eq!(found.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("failure.txt:2: github-token: got 200"),
        "{stdout}"
    );
    assert!(stdout.contains("«github-token "), "{stdout}");
    assert!(
        !stdout.contains(&token),
        "the secret is shown masked only: {stdout}"
    );

    // A token the run used is found wherever it is, and not shown.
    let known = cli()
        .args(["scan-secrets", "--secret", "verdict"])
        .arg(dir.path().join("clean.jsonl"))
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&known.stdout);
    assert_eq!(known.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("clean.jsonl:1: known-secret: {\"«known-secret "),
        "{stdout}"
    );
    assert!(!stdout.contains("verdict\""), "{stdout}");

    let missing = cli()
        .arg("scan-secrets")
        .arg(dir.path().join("not-written"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not-written"), "{stderr}");
}

#[test]
fn criteria_lists_the_harness_criteria_and_a_census_names_each_one_never_seen_failing() {
    use readiness_core::criteria::DEFINED;
    let list = cli().arg("criteria").output().expect("runs");
    assert_eq!(list.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&list.stdout);
    for d in DEFINED {
        assert!(
            stdout.contains(&format!("| {} | {} |", d.id, d.category)),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains(
            "| dr.rto | recovery | at most | a service slow to answer again after a failure |"
        ),
        "{stdout}"
    );

    let dir = tempfile::tempdir().expect("tmp");
    let census = dir.path().join("census.jsonl");
    let line = |id: &str, verdict: &str| {
        format!(
            "{{\"criterion\":\"{}\",\"verdict\":\"{verdict}\"}}\n",
            id.replace("<q>", "95")
        )
    };
    let mut every: String = DEFINED
        .iter()
        .flat_map(|d| [line(d.id, "pass"), line(d.id, "fail")])
        .collect();
    every.push_str(&line("team.own", "pass"));
    std::fs::write(&census, &every).expect("write");
    let all = cli()
        .args(["criteria", "--census"])
        .arg(&census)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&all.stdout);
    assert_eq!(all.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("every criterion was seen to pass and to fail"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| load.p<q> | 1 | 1 | 0 | yes |"),
        "{stdout}"
    );

    // dr.rto only ever passed.
    let without: String = every
        .lines()
        .filter(|l| !l.contains("\"dr.rto\",\"verdict\":\"fail\""))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&census, without).expect("write");
    let gap = cli()
        .args(["criteria", "--census"])
        .arg(&census)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&gap.stdout);
    assert_eq!(gap.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("| dr.rto | 1 | 0 | 0 | NO |"), "{stdout}");
    assert!(
        stdout.contains("not seen both to pass and to fail: dr.rto"),
        "{stdout}"
    );

    let none = cli()
        .args(["criteria", "--census"])
        .arg(dir.path().join("absent.jsonl"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert_eq!(none.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("READINESS_VERDICT_CENSUS"), "{stderr}");
}

/// `readiness sensitivity` refuses what it cannot run with exit 2 and says what to do: a
/// suite that measures nothing (its clean run has no verdict to compare with), a clean run
/// past its bound, an unknown mutant, a score outside 0..=1, a bad `[sensitivity]` table.
#[test]
fn sensitivity_refuses_a_suite_with_nothing_to_measure_and_bad_input_with_exit_2() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = tmp.path().join("readiness.toml");
    std::fs::write(&config, "[report]\nunassessed = \"exclude\"\n").expect("config");
    let sensitivity = |extra: &[&str], config: &Path| {
        let out = cli()
            .arg("sensitivity")
            .arg("--dir")
            .arg(tmp.path().join("evidence"))
            .arg("--config")
            .arg(config)
            .args(extra)
            .env("READINESS_RUN_ID", "refused")
            .output()
            .expect("runs");
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };

    // `true` writes no evidence: nothing measured, so no mutant could be judged.
    let (code, text) = sensitivity(&["--mutants", "dep.latency", "--", "true"], &config);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("the clean run refused-clean measured nothing a report can judge")
            && text.contains("no evidence records"),
        "{text}"
    );
    assert!(
        !text.contains("under dep.latency"),
        "no mutant runs after a clean run without a verdict: {text}"
    );

    let (code, text) = sensitivity(&["--timeout", "1", "--", "sleep", "30"], &config);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("did not finish within 1 s; raise --timeout"),
        "{text}"
    );

    let (code, text) = sensitivity(&["--mutants", "dep.slowish", "--", "true"], &config);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("no mutant \"dep.slowish\"") && text.contains("dep.latency, dep.flaky"),
        "{text}"
    );

    let (code, text) = sensitivity(&["--min-score", "2", "--", "true"], &config);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("give a share of the mutants run, 0 to 1"),
        "{text}"
    );

    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[sensitivity]\ntimeout = 5\n").expect("config");
    let (code, text) = sensitivity(&["--", "true"], &bad);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("[sensitivity]") && text.contains("timeout"),
        "{text}"
    );

    let twice = tmp.path().join("twice.toml");
    std::fs::write(
        &twice,
        "[[sensitivity.mutant]]\nid = \"dep.latency\"\nwhat = \"slow\"\nenv = { SLOW = \"1\" }\n",
    )
    .expect("config");
    let (code, text) = sensitivity(&["--", "true"], &twice);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("is a built-in mutant's id"), "{text}");
}
