//! Suite sensitivity judged from real scorecards: a no-go run under a mutant is caught by
//! the criteria that failed; a go run missed it, and the criteria that would have caught
//! it are named, apart for those the suite has and those it lacks; the score counts a
//! timed-out run as caught and leaves a run that could not run out.

mod common;

use readiness_report::{
    Decision, Options, Outcome, Run, Sensitivity, SensitivityRow, WouldCatch, make,
};

fn card(dir: &std::path::Path, config: &str) -> readiness_report::Scorecard {
    let path = dir.join("readiness.toml");
    std::fs::write(&path, config).expect("config");
    make(&Options {
        dir: dir.join("evidence"),
        config: Some(path),
        baseline: None,
        run: Run::Latest,
    })
    .expect("a scorecard")
}

/// The golden scorecard: a no-go run with load.p99 failing.
fn golden_card() -> readiness_report::Scorecard {
    let (_golden_dir, evidence, config) = common::golden_dir();
    make(&Options {
        dir: evidence,
        config: Some(config),
        baseline: None,
        run: Run::Latest,
    })
    .expect("the golden scorecard")
}

#[test]
fn a_no_go_run_is_caught_and_a_go_run_names_what_would_have_caught_it() {
    let clean_dir = tempfile::tempdir().expect("tmp");
    common::all_pass(&clean_dir.path().join("evidence"));
    let clean = card(clean_dir.path(), "[report]\nunassessed = \"exclude\"\n");
    assert_eq!(clean.verdict, Decision::Go);
    let broken = golden_card();
    assert_eq!(broken.verdict, Decision::NoGo);

    let caught = SensitivityRow::judge(
        "dep.latency",
        "each answer of a dependency 250 ms ± 50 ms late",
        &["load.p<q>"],
        &clean,
        &broken,
        "run-latency",
        12.0,
    );
    assert_eq!(caught.outcome, Outcome::Caught);
    assert!(caught.failed.contains(&"load.p99".to_owned()), "{caught:?}");
    assert!(caught.would_catch.is_empty());
    assert!(
        caught.describe().starts_with("caught by "),
        "{}",
        caught.describe()
    );
    assert!(
        caught.describe().contains("load.p99"),
        "{}",
        caught.describe()
    );

    let missed = SensitivityRow::judge(
        "dep.flaky",
        "one connection to a dependency in ten reset",
        &["load.p<q>", "dr.switch_p99"],
        &clean,
        &clean,
        "run-flaky",
        11.0,
    );
    assert_eq!(missed.outcome, Outcome::Missed);
    assert_eq!(
        missed.would_catch,
        [
            WouldCatch {
                criterion: "load.p<q>".into(),
                catches: "slow responses under load".into(),
                in_suite: true,
                failed: false,
            },
            WouldCatch {
                criterion: "dr.switch_p99".into(),
                catches: "slow requests during a deploy or switch-over".into(),
                in_suite: false,
                failed: false,
            },
        ]
    );
    assert_eq!(
        missed.describe(),
        "missed: the suite has no dr.switch_p99 (slow requests during a deploy or \
         switch-over); load.p<q> passed under it"
    );

    // The suite saw the failure (load.p99 failed) but the report's rules let the run go:
    // missed, and said so, not "passed under it".
    let lenient_dir = tempfile::tempdir().expect("tmp");
    let evidence = lenient_dir.path().join("evidence");
    common::all_pass(&evidence);
    {
        let evidence = evidence.clone();
        std::thread::Builder::new()
            .name("suite::slow".into())
            .spawn(move || {
                let failed = readiness_core::Check::new(
                    "load.p99",
                    "p99 under 100ms",
                    readiness_core::Category::PERFORMANCE,
                )
                .with_threshold(readiness_core::Threshold::at_most(
                    std::time::Duration::from_millis(100),
                ))
                .with_recorder(readiness_core::Recorder::new(evidence))
                .judge(readiness_core::Quantity::millis(900.0));
                assert!(failed.is_err());
            })
            .expect("thread")
            .join()
            .expect("fixture thread");
    }
    let lenient = card(
        lenient_dir.path(),
        "[report]\nmin_score = 0.0\nunassessed = \"exclude\"\n",
    );
    assert_eq!(lenient.verdict, Decision::Go, "{:?}", lenient.reasons);
    let let_go = SensitivityRow::judge(
        "dep.latency",
        "late answers",
        &["load.p<q>"],
        &clean,
        &lenient,
        "run-lenient",
        10.0,
    );
    assert_eq!(let_go.outcome, Outcome::Missed);
    assert!(let_go.would_catch[0].failed, "{let_go:?}");
    assert!(
        let_go.describe().contains("load.p99")
            && let_go
                .describe()
                .contains("failed, yet the report's rules let the run go")
            && !let_go.describe().contains("passed under it"),
        "{}",
        let_go.describe()
    );

    let timed_out = SensitivityRow::timed_out("dep.down", "a dependency cut", "run-down", 1800.0);
    let mut not_run = SensitivityRow::timed_out("svc.memory_half", "half memory", "run-mem", 0.0);
    not_run.outcome = Outcome::NotRun("set READINESS_SERVICE_MEMORY".into());
    let result = Sensitivity {
        clean_run: "run-clean".into(),
        clean_seconds: 10.0,
        rows: vec![caught, missed, timed_out, not_run],
    };
    assert_eq!(result.score(), (2, 3));
    assert_eq!(result.summary(), "2 of 3 mutants caught");
    assert!(result.has_run("run-clean") && result.has_run("run-flaky"));
    assert!(!result.has_run("run-other"));
    let md = result.markdown();
    assert!(
        md.contains("| dep.down | a dependency cut | caught: the suite did not finish within its bound | 1800 s |"),
        "{md}"
    );
    assert!(
        md.contains(
            "| svc.memory_half | half memory | not run: set READINESS_SERVICE_MEMORY | 0 s |"
        ),
        "{md}"
    );
    assert!(
        md.contains("2 of 3 mutants caught (the clean run run-clean took 10 s)."),
        "{md}"
    );

    let dir = tempfile::tempdir().expect("tmp");
    assert_eq!(Sensitivity::read(dir.path()).expect("none yet"), None);
    result.save(dir.path()).expect("saved");
    assert_eq!(Sensitivity::read(dir.path()).expect("read"), Some(result));
    std::fs::write(dir.path().join("sensitivity.json"), "{").expect("write");
    let e = Sensitivity::read(dir.path())
        .expect_err("broken")
        .to_string();
    assert!(
        e.contains("sensitivity.json") && e.contains("readiness sensitivity"),
        "{e}"
    );
}

/// The report of a run that `readiness sensitivity` made shows the sensitivity in every
/// format; the report of another run does not.
#[test]
fn a_report_of_a_sensitivity_run_shows_it_in_every_format() {
    use readiness_report::Format;
    let tmp = tempfile::tempdir().expect("tmp");
    common::all_pass(&tmp.path().join("evidence"));
    let first = card(tmp.path(), "[report]\nunassessed = \"exclude\"\n");
    assert!(first.sensitivity.is_none());
    let run = first.runs[0].id.to_string();
    let caught = SensitivityRow::judge(
        "dep.latency",
        "each answer of a dependency 250 ms ± 50 ms late",
        &["load.p<q>"],
        &first,
        &golden_card(),
        "run-latency",
        12.0,
    );
    let missed = SensitivityRow::judge(
        "dep.flaky",
        "one connection to a dependency in ten reset",
        &["load.error_rate"],
        &first,
        &first,
        "run-flaky",
        11.0,
    );
    let result = Sensitivity {
        clean_run: run,
        clean_seconds: 10.0,
        rows: vec![caught, missed],
    };
    result.save(&tmp.path().join("evidence")).expect("saved");
    let shown = card(tmp.path(), "[report]\nunassessed = \"exclude\"\n");
    assert_eq!(shown.sensitivity.as_ref(), Some(&result));
    let text = |f: Format| f.render(&shown, false);
    let terminal = text(Format::Terminal);
    assert!(
        terminal.contains("suite sensitivity (1 of 2 mutants caught")
            && terminal.contains("missed: the suite has no load.error_rate"),
        "{terminal}"
    );
    let md = text(Format::Markdown);
    assert!(
        md.contains("## Suite sensitivity") && md.contains("| dep.flaky |"),
        "{md}"
    );
    let html = text(Format::Html);
    assert!(
        html.contains("<h2>Suite sensitivity</h2>") && html.contains("1 of 2 mutants caught"),
        "{html}"
    );
    let json: serde_json::Value = serde_json::from_str(&text(Format::Json)).expect("json");
    assert_eq!(
        json["sensitivity"]["rows"][1]["outcome"], "missed",
        "{json}"
    );
    let junit = text(Format::Junit);
    assert!(
        junit.contains(
            "<testsuite name=\"sensitivity\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\">"
        ) && junit.contains("type=\"missed\""),
        "{junit}"
    );
    let prom = text(Format::OpenMetrics);
    assert!(
        prom.contains("readiness_sensitivity_caught{")
            && prom.contains("mutant=\"dep.flaky\"} 0")
            && prom.contains("mutant=\"dep.latency\"} 1"),
        "{prom}"
    );

    // A directory whose runs are none of the sensitivity's: not shown.
    let other = tempfile::tempdir().expect("tmp");
    common::all_pass(&other.path().join("evidence"));
    result.save(&other.path().join("evidence")).expect("saved");
    let mut elsewhere = result.clone();
    elsewhere.clean_run = "another-run".into();
    elsewhere.rows.clear();
    elsewhere
        .save(&other.path().join("evidence"))
        .expect("saved");
    assert!(card(other.path(), "").sensitivity.is_none());
}

/// Records written under a mutant say so, and the report names the mutant in a finding
/// that is not a no-go by itself.
#[test]
fn a_run_under_a_mutant_is_named_in_a_finding() {
    let tmp = tempfile::tempdir().expect("tmp");
    let evidence = tmp.path().join("evidence");
    common::all_pass(&evidence);
    for file in std::fs::read_dir(&evidence).expect("evidence") {
        let path = file.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<String> = text
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).expect("a record");
                v["context"]["mutant"] = "dep.latency@redis".into();
                v.to_string()
            })
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    }
    let shown = card(tmp.path(), "[report]\nunassessed = \"exclude\"\n");
    assert_eq!(shown.verdict, Decision::Go, "{:?}", shown.reasons);
    let finding = shown
        .findings
        .iter()
        .find(|f| f.kind == readiness_report::FindingKind::Mutated)
        .expect("a finding names the mutant");
    assert!(
        finding.message.contains("dep.latency@redis")
            && finding
                .message
                .contains("judges the suite, not the service"),
        "{}",
        finding.message
    );
}

/// The score gate (`--min-score`, `assert_sensitivity_at_least`): pass at the minimum, fail
/// below it naming each mutant missed and what it lacked, an error when no mutant ran, bad
/// input for a minimum that is not a share.
#[test]
fn the_score_gate_passes_at_its_minimum_fails_below_it_and_errs_with_nothing_run() {
    use readiness_core::Verdict;
    use readiness_report::assert_sensitivity_at_least;

    let caught = SensitivityRow::unjudged("dep.down", "cut", "r-down", 3.0, "no evidence");
    let mut missed = SensitivityRow::timed_out("dep.flaky", "resets", "r-flaky", 3.0);
    missed.outcome = Outcome::Missed;
    missed.would_catch = vec![WouldCatch {
        criterion: "load.error_rate".into(),
        catches: "failed requests under load".into(),
        in_suite: false,
        failed: false,
    }];
    let mut not_run = SensitivityRow::timed_out("svc.memory_half", "half", "r-mem", 0.0);
    not_run.outcome = Outcome::NotRun("set READINESS_SERVICE_MEMORY".into());
    let result = Sensitivity {
        clean_run: "r".into(),
        clean_seconds: 5.0,
        rows: vec![caught, missed, not_run.clone()],
    };

    let at = result.judge_score(0.5).expect("a share");
    assert_eq!(at.verdict, Verdict::Pass, "{}", at.message);
    assert_eq!(
        at.message,
        "1 of 2 mutants caught (50%), at least 50% wanted"
    );
    assert_sensitivity_at_least(&result, 0.5);

    let below = result.judge_score(0.8).expect("a share");
    assert_eq!(below.verdict, Verdict::Fail);
    assert_eq!(
        below.message,
        "1 of 2 mutants caught (50%), at least 80% wanted; dep.flaky missed: the suite has no \
         load.error_rate (failed requests under load)"
    );
    let panicked = std::panic::catch_unwind(|| assert_sensitivity_at_least(&result, 0.8))
        .expect_err("below the minimum");
    let text = panicked.downcast_ref::<String>().expect("a message");
    assert!(
        text.starts_with("suite sensitivity: fail: 1 of 2") && text.contains("dep.flaky missed"),
        "{text}"
    );

    let nothing = Sensitivity {
        rows: vec![not_run],
        ..result.clone()
    };
    let none = nothing.judge_score(0.8).expect("a share");
    assert_eq!(none.verdict, Verdict::Error);
    assert_eq!(
        none.message,
        "no mutant ran, so the suite's sensitivity was not measured (at least 80% wanted): \
         svc.memory_half (not run: set READINESS_SERVICE_MEMORY)"
    );
    let panicked = std::panic::catch_unwind(|| assert_sensitivity_at_least(&nothing, 0.0))
        .expect_err("nothing to score, even at 0");
    let text = panicked.downcast_ref::<String>().expect("a message");
    assert!(
        text.starts_with("suite sensitivity: error: no mutant ran"),
        "{text}"
    );

    let bad = result
        .judge_score(80.0)
        .expect_err("not a share")
        .to_string();
    assert!(
        bad.contains("80") && bad.contains("0 to 1 (0.8 for 8 of 10)"),
        "{bad}"
    );
}
