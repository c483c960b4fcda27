//! Baselines compared on raw histograms: a planted 30% p95 regression is "regressed" and a
//! re-run of the same build "within noise", 10 times out of 10.

mod common;

use std::time::Duration;

use readiness_load::{Load, Model};
use readiness_report::{Baseline, Change, merge, read_dir};

/// One run of the "service" (delay `base` + up to `jitter`) at 200/s for 1.5 s, judged and
/// recorded into a fresh directory; gives back the merged results.
async fn run(base: Duration, jitter: Duration) -> Vec<readiness_report::Merged> {
    let dir = tempfile::tempdir().expect("tmp");
    record_run(dir.path(), base, jitter).await;
    merge(read_dir(dir.path()).expect("read").records).0
}

#[tokio::test(flavor = "multi_thread")]
async fn a_planted_regression_is_called_and_a_rerun_is_within_noise_ten_times_of_ten() {
    let (base, jitter) = (Duration::from_millis(40), Duration::from_millis(20));
    let noise = 0.10;
    let mut calls = Vec::new();
    for _ in 0..10 {
        let baseline = Baseline::of(&run(base, jitter).await);
        let rerun = baseline.compare(&run(base, jitter).await, noise);
        let slower = baseline.compare(&run(base.mul_f64(1.3), jitter.mul_f64(1.3)).await, noise);
        calls.push((rerun[0].clone(), slower[0].clone()));
    }
    for (rerun, slower) in &calls {
        eprintln!("re-run: {}\n30% slower: {}", rerun.detail, slower.detail);
    }
    for (rerun, slower) in &calls {
        assert_eq!(
            rerun.change,
            Change::WithinNoise,
            "re-run: {}",
            rerun.detail
        );
        assert_eq!(
            slower.change,
            Change::Regressed,
            "30% slower: {}",
            slower.detail
        );
    }
    // And the other way round: the baseline of the slower build sees the fix as improved.
    let slow = Baseline::of(&run(base.mul_f64(1.3), jitter.mul_f64(1.3)).await);
    let fixed = slow.compare(&run(base, jitter).await, noise);
    assert_eq!(fixed[0].change, Change::Improved, "{}", fixed[0].detail);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_baseline_round_trips_through_its_file_and_strict_policy_makes_no_go() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (base, jitter) = (Duration::from_millis(20), Duration::from_millis(10));
    let good = run(base, jitter).await;
    let file = tmp.path().join("baseline.json");
    Baseline::of(&good).save(&file).expect("save");
    let loaded = Baseline::load(&file).expect("load");
    assert_eq!(loaded, {
        let mut b = Baseline::of(&good);
        b.saved_at = loaded.saved_at.clone();
        b
    });

    // A slower run recorded into a directory, judged with the strict policy.
    let dir = tmp.path().join("evidence");
    record_run(&dir, base.mul_f64(2.0), jitter.mul_f64(2.0)).await;
    let mut options = readiness_report::Options::new(&dir);
    options.baseline = Some((file.clone(), readiness_report::BaselinePolicy::Compare));
    let shown = readiness_report::make(&options).expect("compare");
    assert_eq!(
        shown.verdict,
        readiness_report::Decision::Go,
        "compare only shows"
    );
    assert_eq!(
        shown.baseline.as_ref().expect("compared")[0].change,
        Change::Regressed
    );
    options.baseline = Some((file.clone(), readiness_report::BaselinePolicy::Strict));
    let strict = readiness_report::make(&options).expect("strict");
    assert_eq!(strict.verdict, readiness_report::Decision::NoGo);
    assert!(
        strict
            .reasons
            .iter()
            .any(|r| r.contains("load.p95") && r.contains("regressed")),
        "{:?}",
        strict.reasons
    );
}

/// Records one run of the "service" into `dir`.
async fn record_run(dir: &std::path::Path, base: Duration, jitter: Duration) {
    std::fs::create_dir_all(dir).expect("dir");
    let load = Load::new(
        "search",
        Model::constant_rate(200.0, Duration::from_millis(1500)).expect("model"),
    )
    .run(common::delayed(base, jitter, 0))
    .await
    .expect("run");
    common::record(
        dir,
        &common::keep(readiness_load::try_assert_p95_under(
            &load,
            Duration::from_millis(500),
        )),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_saves_only_when_told_and_compare_strict_exits_1_on_a_regression() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (good, slow) = (tmp.path().join("good"), tmp.path().join("slow"));
    let (base, jitter) = (Duration::from_millis(20), Duration::from_millis(10));
    record_run(&good, base, jitter).await;
    record_run(&slow, base.mul_f64(2.0), jitter.mul_f64(2.0)).await;
    let file = tmp.path().join("baseline.json");
    let cli = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_readiness"))
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
    let (code, text) = cli(&[
        &baseline,
        &save,
        good.as_os_str(),
        &flag_file,
        file.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("(1 criteria, 1 with latency distributions)"),
        "{text}"
    );
    let (code, text) = cli(&[
        &baseline,
        &save,
        slow.as_os_str(),
        &flag_file,
        file.as_os_str(),
    ]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("exists; pass --force"), "{text}");
    let (code, text) = cli(&[
        &baseline,
        &compare,
        good.as_os_str(),
        &flag_file,
        file.as_os_str(),
        &strict,
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("within noise"), "{text}");
    let (code, text) = cli(&[
        &baseline,
        &compare,
        slow.as_os_str(),
        &flag_file,
        file.as_os_str(),
        &strict,
    ]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("regressed") && text.contains("1 regressed of 1 compared"),
        "{text}"
    );
    // The report compares with READINESS_BASELINE; strict makes a regression no-go.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_readiness"))
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
    let (code, text) = cli(&[
        &os("report"),
        good.as_os_str(),
        &os("--baseline-policy"),
        &os("save"),
    ]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("needs a baseline file"), "{text}");
    let (code, text) = cli(&[&os("--help")]);
    assert_eq!(code, Some(0));
    assert!(
        text.contains("Exit codes:") && text.contains("1  no-go"),
        "{text}"
    );
}
