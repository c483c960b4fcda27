//! Baselines compared the way each record declares, keyed by subject: a planted p95
//! regression is "regressed" and a re-run of the same build (another sample of the same
//! distribution) "within noise"; an error rate from 0.1% to 5% is "regressed" even though
//! its threshold changed; a throughput that halved is "regressed". The loads run on Tokio's
//! paused clock, so every verdict here is the same on any machine.

mod common;

use std::path::Path;
use std::time::Duration;

use readiness_core::{Rate, Ratio};
use readiness_load::{ErrorClass, Load, Model};
use readiness_report::{Baseline, BaselinePolicy, Change, Decision, Options, make};

/// Merged results of the evidence in `dir`, as a report sees them.
fn merged(dir: &Path) -> Vec<readiness_report::CriterionResult> {
    let read = readiness_report::read(dir).expect("read");
    let grouped = readiness_report::group(read, &readiness_report::Run::All).expect("group");
    readiness_report::merge(grouped)
        .results()
        .cloned()
        .collect()
}

/// One run of the "service" (delay `base` + up to `jitter`, drawn by `seed`) at 200/s for
/// 1.5 s, its p95 judged and recorded into `dir`.
async fn record_run(dir: &Path, base: Duration, jitter: Duration, seed: u64) {
    std::fs::create_dir_all(dir).expect("dir");
    let report = Load::new(
        "search",
        Model::constant_rate(200.0, Duration::from_millis(1500)).expect("model"),
    )
    .with_recorder(readiness_core::Recorder::new(dir))
    .run(common::delayed_drawn(base, jitter, 0, seed))
    .await
    .expect("run");
    let _ = readiness_load::try_assert_p95_under(&report, Duration::from_millis(500));
}

async fn run(
    base: Duration,
    jitter: Duration,
    seed: u64,
) -> Vec<readiness_report::CriterionResult> {
    let dir = tempfile::tempdir().expect("tmp");
    record_run(dir.path(), base, jitter, seed).await;
    merged(dir.path())
}

#[tokio::test(start_paused = true)]
async fn a_planted_regression_is_called_and_a_rerun_is_within_noise() {
    let (base, jitter) = (Duration::from_millis(40), Duration::from_millis(20));
    let noise = 0.10;
    for seed in 1..=5 {
        let baseline = Baseline::of(&run(base, jitter, seed).await);
        let rerun = &baseline.compare(&run(base, jitter, seed + 100).await, noise)[0];
        assert_eq!(
            rerun.change,
            Change::WithinNoise,
            "re-run: {}",
            rerun.detail
        );
        let slower = &baseline.compare(
            &run(base.mul_f64(1.3), jitter.mul_f64(1.3), seed + 200).await,
            noise,
        )[0];
        assert_eq!(
            slower.change,
            Change::Regressed,
            "30% slower: {}",
            slower.detail
        );
    }
    // And the other way round: the baseline of the slower build sees the fix as improved.
    let slow = Baseline::of(&run(base.mul_f64(1.3), jitter.mul_f64(1.3), 7).await);
    let fixed = &slow.compare(&run(base, jitter, 8).await, noise)[0];
    assert_eq!(fixed.change, Change::Improved, "{}", fixed.detail);
}

/// 1,000 iterations at 500/s for 2 s, one in `fail_every` failing, judged against
/// `limit` and recorded into `dir`.
async fn error_run(dir: &Path, fail_every: u64, limit: f64) {
    let report = Load::new(
        "get",
        Model::constant_rate(500.0, Duration::from_secs(2)).expect("model"),
    )
    .with_recorder(readiness_core::Recorder::new(dir))
    .run(move |i| async move {
        tokio::time::sleep(Duration::from_millis(2)).await;
        if i % fail_every == 0 {
            Err(ErrorClass::Status5xx)
        } else {
            Ok(())
        }
    })
    .await
    .expect("run");
    let _ = readiness_load::try_assert_error_rate_under(&report, Ratio::new(limit).expect("ratio"));
    let _ = readiness_load::try_assert_throughput_at_least(
        &report,
        Rate::per_second(100.0).expect("rate"),
    );
}

#[tokio::test(start_paused = true)]
async fn an_error_rate_regression_is_seen_even_when_its_threshold_changed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (before, after) = (tmp.path().join("before"), tmp.path().join("after"));
    // 0.1% then 5% failed; the limit was raised from 10% to 20% in between (the title
    // changes with it).
    error_run(&before, 1000, 0.10).await;
    error_run(&after, 20, 0.20).await;
    let baseline = Baseline::of(&merged(&before));
    let comparisons = baseline.compare(&merged(&after), 0.10);
    let errors = comparisons
        .iter()
        .find(|c| c.id == "load.error_rate")
        .expect("compared");
    // Before the fix: "new" (keyed by title) and compared as a p95.
    assert_eq!(errors.change, Change::Regressed, "{}", errors.detail);
    assert_eq!(errors.metric, "proportion");
    assert!(
        errors.detail.starts_with("0.1% -> 5% (+4.90 points)"),
        "{}",
        errors.detail
    );
    let throughput = comparisons
        .iter()
        .find(|c| c.id == "load.throughput")
        .expect("compared");
    assert_eq!(throughput.metric, "rate");
    assert_eq!(
        throughput.change,
        Change::WithinNoise,
        "{}",
        throughput.detail
    );
    // The other way round, a fix is an improvement.
    let fixed = Baseline::of(&merged(&after)).compare(&merged(&before), 0.10);
    let errors = fixed
        .iter()
        .find(|c| c.id == "load.error_rate")
        .expect("compared");
    assert_eq!(errors.change, Change::Improved, "{}", errors.detail);
}

#[tokio::test(start_paused = true)]
async fn a_throughput_that_halved_is_a_regression_and_a_criterion_not_checked_is_missing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (before, after) = (tmp.path().join("before"), tmp.path().join("after"));
    for (dir, rate) in [(&before, 200.0), (&after, 100.0)] {
        let report = Load::new(
            "get",
            Model::constant_rate(rate, Duration::from_secs(5)).expect("model"),
        )
        .with_recorder(readiness_core::Recorder::new(dir))
        .run(|_| async { Ok(()) })
        .await
        .expect("run");
        let _ = readiness_load::try_assert_throughput_at_least(
            &report,
            Rate::per_second(50.0).expect("rate"),
        );
        if rate > 150.0 {
            let _ = readiness_load::try_assert_p95_under(&report, Duration::from_millis(5));
        }
    }
    let comparisons = Baseline::of(&merged(&before)).compare(&merged(&after), 0.10);
    let throughput = comparisons
        .iter()
        .find(|c| c.id == "load.throughput")
        .expect("compared");
    assert_eq!(
        throughput.change,
        Change::Regressed,
        "{}",
        throughput.detail
    );
    let p95 = comparisons
        .iter()
        .find(|c| c.id == "load.p95")
        .expect("listed");
    assert_eq!(p95.change, Change::Missing, "{}", p95.detail);
}

#[tokio::test(start_paused = true)]
async fn a_baseline_round_trips_through_its_file_and_strict_policy_makes_no_go() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (base, jitter) = (Duration::from_millis(20), Duration::from_millis(10));
    let good = run(base, jitter, 1).await;
    let file = tmp.path().join("baseline.json");
    Baseline::of(&good).save(&file).expect("save");
    let loaded = Baseline::load(&file).expect("load");
    assert_eq!(loaded, {
        let mut b = Baseline::of(&good);
        b.saved_at = loaded.saved_at.clone();
        b
    });
    // A baseline of the old format is refused with what to do.
    std::fs::write(
        tmp.path().join("old.json"),
        r#"{"schema":"1.0","criteria":[]}"#,
    )
    .expect("write");
    let e = Baseline::load(&tmp.path().join("old.json")).expect_err("old schema");
    assert!(e.to_string().contains("save it again"), "{e}");

    // A slower run recorded into a directory, judged with the strict policy.
    let dir = tmp.path().join("evidence");
    record_run(&dir, base.mul_f64(2.0), jitter.mul_f64(2.0), 2).await;
    let mut options = Options::new(&dir);
    // The run checks performance only: the config weighs only that.
    let config = tmp.path().join("readiness.toml");
    std::fs::write(&config, "[report.categories]\nperformance = 1\n").expect("config");
    options.config = Some(config);
    options.baseline = Some((file.clone(), BaselinePolicy::Compare));
    let shown = make(&options).expect("compare");
    assert_eq!(shown.verdict, Decision::Go, "compare only shows");
    assert_eq!(
        shown.baseline.as_ref().expect("compared")[0].change,
        Change::Regressed
    );
    options.baseline = Some((file.clone(), BaselinePolicy::Strict));
    let strict = make(&options).expect("strict");
    assert_eq!(strict.verdict, Decision::NoGo);
    assert!(
        strict
            .reasons
            .iter()
            .any(|r| r.contains("load.p95") && r.contains("regressed")),
        "{:?}",
        strict.reasons
    );
}
